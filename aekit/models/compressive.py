"""Autoencoders trained for compression: a quantised code and a learned entropy model (rate) per code unit.

Ballé, Laparra & Simoncelli, "End-to-end optimized image compression", ICLR 2017 (arxiv 1611.01704):
during training the code is quantised by additive uniform noise ``y + u``, ``u ~ U(-1/2, 1/2)``, and the
loss adds the rate ``-log2 p(y + u)`` under a learned density ``p`` convolved with the unit box (the
probability of the quantisation bin). Here ``p`` is, per code unit, a mixture of logistics (the discretised
logistic mixture of Salimans et al., "PixelCNN++", ICLR 2017, arxiv 1701.05517). The decoder also sees the
noisy code in training: that noise is what pushes the encoder to spread its code over many quantisation
bins (a straight-through rounding gives no such push and left the code too coarse here). In eval mode the
code is rounded and the rate is that of the rounded code. Quantising and entropy coding real streams is
aekit.codec's job.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from aekit.models.base import ModelOutput, register_model
from aekit.models.conv import ConvAutoencoder
from aekit.models.dense import MLPAutoencoder
from aekit.validation import Integer, Real

RATE_CONSTRAINTS = {"rate_weight": Real(0), "components": Integer(1)}  # the compressive families' own arguments


class LogisticMixtureDensity(nn.Module):
    """Per code unit, a mixture of ``components`` logistics; ``bin_probability(y)`` is the mass of
    ``[y - 1/2, y + 1/2]`` (B, k) -> (B, k)."""

    def __init__(self, latent_dim: int, components: int = 3):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(latent_dim, components))
        spread = torch.linspace(-1.0, 1.0, components) if components > 1 else torch.zeros(1)
        self.means = nn.Parameter(spread.repeat(latent_dim, 1))
        self.log_scales = nn.Parameter(torch.zeros(latent_dim, components))

    def cdf(self, y: torch.Tensor) -> torch.Tensor:
        """P(Y <= y) per unit: (B, k) -> (B, k)."""
        inv_s = torch.exp(-self.log_scales.clamp(min=-7.0))
        weights = torch.softmax(self.logits, dim=-1)
        return (torch.sigmoid((y.unsqueeze(-1) - self.means) * inv_s) * weights).sum(-1)

    def bin_probability(self, y: torch.Tensor) -> torch.Tensor:
        y = y.unsqueeze(-1)                                              # (B, k, 1)
        inv_s = torch.exp(-self.log_scales.clamp(min=-7.0))              # (k, M)
        upper = torch.sigmoid((y + 0.5 - self.means) * inv_s)
        lower = torch.sigmoid((y - 0.5 - self.means) * inv_s)
        weights = torch.softmax(self.logits, dim=-1)
        return ((upper - lower) * weights).sum(-1).clamp(min=1e-9)      # (B, k)


class Compressive:
    """Mixin of the compressive models: a model is compressive (has an entropy model that
    ``aekit.Compressor`` can code with) when it subclasses this. Shared forward: noise / rounding, rate in
    bits per sample (stats) and weighted bits per input value (regulariser ``rate``)."""

    overcomplete_ok = True  # the rate term, not the width, limits the code

    def _init_rate(self, rate_weight: float, components: int) -> None:
        self._check_args(rate_weight=rate_weight, components=components)
        self.rate_weight = float(rate_weight)
        self.density = LogisticMixtureDensity(self.latent_dim, components)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        y = self.encode(x)                                               # (B, k) continuous code
        if self.training:  # uniform noise stands in for rounding, for the rate and for the decoder
            y_hat = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        else:
            y_hat = torch.round(y)
        bits = -torch.log2(self.density.bin_probability(y_hat)).sum(1)  # (B,)
        pre = self.decode_logits(y_hat)
        bpv = bits.mean() / math.prod(self.input_shape)                  # bits per input value (pixel)
        return ModelOutput(self.out_act(pre), y, pre, {"rate": self.rate_weight * bpv},
                           {"bits": bits.mean().detach()})


@register_model("compressive-conv")
class CompressiveConvAutoencoder(Compressive, ConvAutoencoder):
    """The ``conv`` model with a quantised code and a learned entropy model (Ballé et al. 2017).

    ``rate_weight`` trades rate for distortion: the loss is ``mse + rate_weight * bits per pixel``.
    ``components`` logistics per code unit model the code's density.
    """

    _constraints = {**ConvAutoencoder._constraints, **RATE_CONSTRAINTS}

    def __init__(self, *, input_shape, latent_dim: int = 32, channels: tuple[int, ...] | list[int] = (32, 64),
                 depth: int = 2, activation: str = "gelu", output_activation: str | None = "clamp",
                 downsample: str = "stride", upsample: str = "transpose", batch_norm: bool = False,
                 rate_weight: float = 0.01, components: int = 3):
        ConvAutoencoder.__init__(self, input_shape=input_shape, latent_dim=latent_dim, channels=channels,
                                 depth=depth, activation=activation, output_activation=output_activation,
                                 downsample=downsample, upsample=upsample, batch_norm=batch_norm)
        self._init_rate(rate_weight, components)


@register_model("compressive-mlp")
class CompressiveMLPAutoencoder(Compressive, MLPAutoencoder):
    """The ``mlp`` model with a quantised code and a learned entropy model (Ballé et al. 2017), for tables
    and images of any size; ``rate_weight`` and ``components`` as for ``compressive-conv``."""

    _constraints = {**MLPAutoencoder._constraints, **RATE_CONSTRAINTS}

    def __init__(self, *, input_shape, latent_dim: int = 32, hidden: tuple[int, ...] | list[int] = (512, 256),
                 activation: str = "gelu", output_activation: str | None = "clamp", dropout: float = 0.0,
                 rate_weight: float = 0.01, components: int = 3):
        MLPAutoencoder.__init__(self, input_shape=input_shape, latent_dim=latent_dim, hidden=hidden,
                                activation=activation, output_activation=output_activation, dropout=dropout)
        self._init_rate(rate_weight, components)
