"""Fully connected autoencoders: ``linear`` and ``mlp``.

Linear: Baldi & Hornik, "Neural networks and principal component analysis" (1989) -- without a
non-linearity the optimum spans the PCA subspace. MLP: Hinton & Salakhutdinov, "Reducing the
dimensionality of data with neural networks", Science 2006.
"""
from __future__ import annotations

import math

from torch import nn

from aekit.layers import get_activation, mlp
from aekit.models.base import Autoencoder, register_model
from aekit.validation import Integer, ListOf, Real

HIDDEN = ListOf(Integer(1))  # hidden layer widths of the dense families


@register_model("linear")
class LinearAutoencoder(Autoencoder):
    """One linear layer each side (D -> k -> D), with an optional code activation."""

    input_kinds = ("table", "image", "sequence")  # flattens any sample
    example_input_shape = (20,)

    def __init__(self, *, input_shape, latent_dim: int = 32, activation: str | None = None,
                 output_activation: str | None = None):
        self._check_args(latent_dim=latent_dim)
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, output_activation=output_activation)
        d = math.prod(self.input_shape)
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(d, latent_dim), get_activation(activation))  # (B, k)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, d), nn.Unflatten(1, self.input_shape))  # (B, *shape)


@register_model("mlp")
class MLPAutoencoder(Autoencoder):
    """Deep undercomplete autoencoder: D -> hidden... -> k -> reversed(hidden)... -> D."""

    input_kinds = ("table", "image", "sequence")  # flattens any sample
    example_input_shape = (20,)
    _constraints = {**Autoencoder._constraints, "hidden": HIDDEN,
                              "dropout": Real(0, 1, closed="left")}

    def __init__(self, *, input_shape, latent_dim: int = 32, hidden: tuple[int, ...] | list[int] = (512, 256),
                 activation: str = "gelu", output_activation: str | None = "clamp", dropout: float = 0.0):
        self._check_args(latent_dim=latent_dim, hidden=hidden, dropout=dropout)
        hidden = [int(h) for h in hidden]
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, output_activation=output_activation)
        d = math.prod(self.input_shape)
        get_activation(activation)  # validate the name early
        self.encoder = nn.Sequential(nn.Flatten(), mlp([d, *hidden, latent_dim], activation, dropout))
        self.decoder = nn.Sequential(mlp([latent_dim, *hidden[::-1], d], activation, dropout),
                                     nn.Unflatten(1, self.input_shape))
