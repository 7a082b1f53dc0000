"""Fully connected autoencoders: ``linear`` and ``mlp``.

Linear: Baldi & Hornik, "Neural networks and principal component analysis" (1989) -- without a
non-linearity the optimum spans the PCA subspace. MLP: Hinton & Salakhutdinov, "Reducing the
dimensionality of data with neural networks", Science 2006.
"""
from __future__ import annotations

import math

from torch import nn

from aekit.layers import get_activation
from aekit.models.base import Autoencoder, register_model


def _mlp(widths: list[int], activation: str | None, dropout: float, last_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2 or last_activation:
            layers.append(get_activation(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def _check_positive(name: str, **values) -> None:
    for key, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"model {name!r}: {key} must be a positive integer, got {value!r}")


@register_model("linear")
class LinearAutoencoder(Autoencoder):
    """One linear layer each side (D -> k -> D), with an optional code activation."""

    input_kinds = ("table", "image", "sequence")  # flattens any sample
    example_input_shape = (20,)

    def __init__(self, *, input_shape, latent_dim: int = 32, activation: str | None = None,
                 output_activation: str | None = None):
        _check_positive("linear", latent_dim=latent_dim)
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, output_activation=output_activation)
        d = math.prod(self.input_shape)
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(d, latent_dim), get_activation(activation))  # (B, k)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, d), nn.Unflatten(1, self.input_shape))  # (B, *shape)


@register_model("mlp")
class MLPAutoencoder(Autoencoder):
    """Deep undercomplete autoencoder: D -> hidden... -> k -> reversed(hidden)... -> D."""

    input_kinds = ("table", "image", "sequence")  # flattens any sample
    example_input_shape = (20,)

    def __init__(self, *, input_shape, latent_dim: int = 32, hidden: tuple[int, ...] | list[int] = (512, 256),
                 activation: str = "gelu", output_activation: str | None = "clamp", dropout: float = 0.0):
        hidden = [int(h) for h in hidden]
        _check_positive("mlp", latent_dim=latent_dim, **{f"hidden[{i}]": h for i, h in enumerate(hidden)})
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"model 'mlp': dropout must be in [0, 1), got {dropout!r}")
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, output_activation=output_activation)
        d = math.prod(self.input_shape)
        get_activation(activation)  # validate the name early
        self.encoder = nn.Sequential(nn.Flatten(), _mlp([d, *hidden, latent_dim], activation, dropout, False))
        self.decoder = nn.Sequential(_mlp([latent_dim, *hidden[::-1], d], activation, dropout, False),
                                     nn.Unflatten(1, self.input_shape))
