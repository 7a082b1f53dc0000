"""Autoencoder models: pure ``torch.nn.Module`` s behind one registry.

Importing this package registers every family; each file holds one family.
"""
from aekit.models.base import Autoencoder, ModelOutput, create_model, list_models, model_class, register_model
from aekit.models import contractive, conv, dense, sparse, unet, vae, vq  # noqa: F401  (registers the families)

__all__ = ["Autoencoder", "ModelOutput", "create_model", "list_models", "model_class", "register_model"]
