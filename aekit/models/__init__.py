"""Autoencoder models: pure ``torch.nn.Module`` s behind one registry.

Importing this package registers every family; each file holds one family.
"""
from aekit.models.base import Autoencoder, ModelOutput, create_model, list_models, model_class, register_model
from aekit.models import compressive, contractive, conv, dense, ensemble, residual_cnn, sequence, sparse, transform_coding, unet, vae, vq  # noqa: F401  (registers the families)
from aekit.models.transfer import copy_layers

__all__ = ["Autoencoder", "ModelOutput", "create_model", "list_models", "model_class", "register_model", "copy_layers"]
