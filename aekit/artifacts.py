"""Whatever the library saved, opened by one call: :func:`load` (Hugging Face's ``from_pretrained`` idea).

This module sits above the estimators: it knows every kind of model folder (see :mod:`aekit.persistence`)
and every object that carries a trained autoencoder, so that nothing below it has to.
"""
from __future__ import annotations

import os

import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from aekit.estimators import Estimator, rebuild_estimator
from aekit.models.transfer import copy_layers
from aekit.persistence import TrainedAutoencoder, read_kind, read_model
from aekit.zoo import resolve_model


def load(directory: str | os.PathLike, *, device: str | torch.device = "cpu"):
    """Open any model folder the library writes: the fitted estimator for a folder from ``est.save`` or a
    task command (``aekit fit``, ``detect``, ``restore``, ...), else the :class:`TrainedAutoencoder` (``aekit
    train``, ``save_model``). Folders of aekit 0.1.0 open too. No pickle is read; a damaged, tampered or
    mismatched folder raises :class:`aekit.persistence.ModelFileError`. ``"pretrained:NAME"`` opens the
    pretrained model shipped as NAME (:mod:`aekit.zoo`)."""
    directory = resolve_model(directory)
    if read_kind(directory) == "estimator":
        est = rebuild_estimator(read_model(directory), directory)
        est.autoencoder_.model.to(device)
        return est
    return read_model(directory, device=device)


def as_module(source) -> nn.Module:
    """The trained network of a model, a :class:`TrainedAutoencoder`, a fitted estimator or a model folder."""
    if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__"):
        source = load(source)
    if isinstance(source, Estimator):
        check_is_fitted(source, "autoencoder_")
        source = source.autoencoder_
    if isinstance(source, TrainedAutoencoder):
        source = source.model
    if not isinstance(source, nn.Module):
        raise TypeError(f"cannot take layers from a {type(source).__name__}; pass a model, a model folder path, "
                        "an aekit.load() result or a fitted estimator")
    return source


def transfer_weights(source, target: nn.Module, *, parts: tuple[str, ...] = ("encoder",),
                     freeze: bool = False) -> list[str]:
    """Copy the ``parts`` ("encoder", "decoder") of ``source`` (anything :func:`as_module` takes) into
    ``target`` where names and shapes agree; ``freeze=True`` stops the copied parameters training.
    Returns the copied names (see :func:`aekit.models.transfer.copy_layers`)."""
    return copy_layers(as_module(source), target, parts=parts, freeze=freeze)
