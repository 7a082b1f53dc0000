"""Autoencoder models: pure ``torch.nn.Module`` s behind one registry.

Importing this package registers every family; each file holds one family.
"""
from aekit.models.base import Autoencoder, ModelOutput, create_model, list_models, model_class, register_model
# importing the family modules registers them
from aekit.models import (  # noqa: F401
    block_coding, compressive, contractive, conv, dense, domains, ensemble, prefix, residual_cnn, sequence, sparse,
    transform_coding, unet, vae, video, vq)
from aekit.models.transfer import copy_layers

__all__ = ["Autoencoder", "ModelOutput", "create_model", "list_models", "model_class", "register_model", "copy_layers"]
