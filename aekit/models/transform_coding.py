"""Learned transform coding of photographs: GDN analysis / synthesis transforms, a factorized entropy
model and per-quality gain vectors, for images of any size.

Ballé, Laparra & Simoncelli, "End-to-end optimized image compression", ICLR 2017 (arxiv 1611.01704), in
the four-layer form of Ballé, Minnen, Singh, Hwang & Johnston, "Variational image compression with a scale
hyperprior", ICLR 2018 (arxiv 1802.01436, its "factorized prior" model): the analysis transform ``g_a`` is
four 5x5 stride-2 convolutions with GDN between them (an image (C, H, W) becomes a latent (M, H/16, W/16)),
the synthesis transform ``g_s`` mirrors it with transposed convolutions and inverse GDN. Each latent
channel has its own learned density (:class:`~aekit.models.compressive.LogisticMixtureDensity`, shared
by every position of that channel: a factorized prior); in training the latent is quantised by additive
uniform noise and the rate is ``-log2`` of the density's mass on the quantisation bin.

Several quality levels from one model: level ``q`` multiplies the latent by a gain vector before
quantisation and by an inverse gain after it (Cui, Wang, Gao, Bai, Yang, Yang & Wu, "Asymmetric Gained
Deep Image Compression with Continuous Rate Adaptation", CVPR 2021, arxiv 2003.02012), and trains with its
own Lagrange multiplier ``lambdas[q]``; each training batch draws one level. The loss (objective
``"rate-distortion"``, aekit/objectives.py) is ``lambdas[q] * 255^2 * MSE + bits per pixel``, the MSE on
[0, 1] pixel values (so ``255^2 * MSE`` is the MSE on 0..255) and bits per pixel counting the whole
latent of an image over its H x W pixels (all channels together): Ballé's convention, in which
lambda = 0.0018 .. 0.0483 spans about 0.1 .. 1 bits per pixel.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from aekit.layers import GDN
from aekit.models.base import Autoencoder, register_model
from aekit.models.compressive import LogisticMixtureDensity
from aekit.validation import Integer

DOWNSAMPLING = 16  # 4 stride-2 layers: image sides are padded to a multiple of this
DEFAULT_LAMBDAS = (0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.0483)  # Ballé et al. 2018's MSE points, low to high


class CodingOutput(NamedTuple):
    """What a transform-coding model's ``forward`` returns: :class:`~aekit.models.ModelOutput`'s fields, in its
    order, and ``multiplier``: the Lagrange multiplier ``lambdas[q]`` of the quality level ``q`` the batch was
    coded at (drawn per training batch; the default level in eval mode), which the ``"rate-distortion"``
    objective weighs the distortion by."""

    recon: torch.Tensor
    code: torch.Tensor
    pre_output: torch.Tensor
    regularizers: dict[str, torch.Tensor]
    stats: dict[str, torch.Tensor]
    multiplier: torch.Tensor


def pad_to_multiple(x: torch.Tensor, factor: int = DOWNSAMPLING) -> torch.Tensor:
    """Pad (B, C, H, W) at the bottom and right by edge replication to sides that divide by ``factor``."""
    ph, pw = -x.shape[-2] % factor, -x.shape[-1] % factor
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


def latent_size(height: int, width: int) -> tuple[int, int]:
    """The latent grid (h, w) of an image of ``height`` x ``width`` pixels."""
    return math.ceil(height / DOWNSAMPLING), math.ceil(width / DOWNSAMPLING)


def check_lambdas(lambdas) -> tuple[float, ...]:
    """``lambdas`` as a tuple of positive, strictly increasing floats (level 0 = the lowest quality)."""
    try:
        values = tuple(float(v) for v in lambdas)
    except (TypeError, ValueError):
        raise TypeError(f"lambdas={lambdas!r}; expected a list of positive numbers, one per quality level") from None
    if not values or any(not (v > 0 and math.isfinite(v)) for v in values):
        raise ValueError(f"lambdas={list(values)}; expected at least one positive, finite number")
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError(f"lambdas={list(values)} must increase strictly (level 0 is the lowest quality)")
    return values


def _analysis(c_in: int, n: int, m: int) -> nn.Sequential:
    """(B, C, H, W) -> (B, M, H/16, W/16)"""
    return nn.Sequential(
        nn.Conv2d(c_in, n, 5, stride=2, padding=2), GDN(n),                               # (B, N, H/2, W/2)
        nn.Conv2d(n, n, 5, stride=2, padding=2), GDN(n),                                  # (B, N, H/4, W/4)
        nn.Conv2d(n, n, 5, stride=2, padding=2), GDN(n),                                  # (B, N, H/8, W/8)
        nn.Conv2d(n, m, 5, stride=2, padding=2))                                          # (B, M, H/16, W/16)


def _synthesis(m: int, n: int, c_out: int) -> nn.Sequential:
    """(B, M, h, w) -> (B, C, 16h, 16w)"""
    def up(a, b):
        return nn.ConvTranspose2d(a, b, 5, stride=2, padding=2, output_padding=1)

    return nn.Sequential(up(m, n), GDN(n, inverse=True),                                 # (B, N, 2h, 2w)
                         up(n, n), GDN(n, inverse=True),                                 # (B, N, 4h, 4w)
                         up(n, n), GDN(n, inverse=True),                                 # (B, N, 8h, 8w)
                         up(n, c_out))                                                    # (B, C, 16h, 16w)


class QualityLevels:
    """The quality levels of a codec model with one rate-distortion multiplier per level (``self.lambdas``,
    increasing): their count, the default (middle) one, and the check of a level given by a caller."""

    lambdas: tuple[float, ...]

    @property
    def n_levels(self) -> int:
        return len(self.lambdas)

    @property
    def default_level(self) -> int:
        """The middle quality level (used in eval mode and by default)."""
        return (len(self.lambdas) - 1) // 2

    def check_level(self, level) -> int:
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level < self.n_levels:
            raise ValueError(f"quality level {level!r} is not one of this model's levels 0..{self.n_levels - 1}")
        return level


@register_model("transform-coding")
class TransformCodingAutoencoder(QualityLevels, Autoencoder):
    """Ballé et al.'s factorized-prior image codec with per-level gains (see the module docstring).

    Parameters
    ----------
    input_shape : (C, H, W) of the training patches; the transforms are fully convolutional, so any size
        runs (padded to a multiple of 16 by edge replication, the output cropped back).
    latent_dim : int
        Latent channels M.
    filters : int, default 64
        Channels N of the hidden layers.
    lambdas : sequence of float
        One rate-distortion multiplier per quality level, increasing (level 0: smallest streams).
    components : int, default 3
        Logistics per latent channel in the entropy model.
    output_activation : default "clamp" (identity in training, clamped to [0, 1] in eval mode)

    Training (``forward`` in train mode) draws one level per batch from torch's random state; eval mode
    uses :attr:`default_level` (the middle one) and rounds. The output (:class:`CodingOutput`) has ``code``
    the gained latent (B, M, h, w), ``regularizers["rate"]`` the bits per pixel and ``multiplier`` the level's
    lambda (weighed in by the ``"rate-distortion"`` objective; also recorded as ``stats["lambda"]``).
    :meth:`analysis` / :meth:`synthesis` take the level explicitly.
    """

    input_kinds = ("image",)
    example_input_shape = (3, 32, 32)
    overcomplete_ok = True  # the rate term, not the width, limits the code
    loss = "rate-distortion"
    _constraints = {"latent_dim": Integer(1), "filters": Integer(1), "components": Integer(1)}

    def __init__(self, *, input_shape, latent_dim: int = 96, filters: int = 64,
                 lambdas: tuple[float, ...] | list[float] = DEFAULT_LAMBDAS, components: int = 3,
                 output_activation: str | None = "clamp"):
        self._check_args(latent_dim=latent_dim, filters=filters, components=components)
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, output_activation=output_activation)
        self.lambdas = check_lambdas(lambdas)
        c = self.input_shape[0]
        m, n = self.latent_dim, int(filters)
        self.encoder = _analysis(c, n, m)
        self.decoder = _synthesis(m, n, c)
        self.density = LogisticMixtureDensity(m, components)
        # gain ~ sqrt(lambda): at high rates the best quantisation step shrinks as 1 / sqrt(lambda)
        start = 0.5 * torch.log(torch.tensor(self.lambdas) / self.lambdas[self.default_level])     # (L,)
        self.log_gain = nn.Parameter(start[:, None].repeat(1, m))                              # (L, M)
        self.log_inverse_gain = nn.Parameter(-start[:, None].repeat(1, m))                     # (L, M)

    @property
    def downsampling(self) -> int:
        """Image sides are padded to a multiple of this; the latent grid is ``1 / downsampling`` of them."""
        return DOWNSAMPLING

    # ------------------------------------------------------------------------------------ levels
    def gain(self, level: int) -> torch.Tensor:
        """(M,) positive gain of ``level``."""
        return torch.exp(self.log_gain[level])

    def inverse_gain(self, level: int) -> torch.Tensor:
        """(M,) positive inverse gain of ``level``."""
        return torch.exp(self.log_inverse_gain[level])

    # ------------------------------------------------------------------------------------ transforms
    @property
    def code_shape(self) -> tuple[int, ...]:
        return (self.latent_dim, *latent_size(*self.input_shape[1:]))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> the latent before any gain (B, M, ceil(H/16), ceil(W/16))."""
        return self.encoder(pad_to_multiple(x))

    def decode_logits(self, z: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """(B, M, h, w) -> (B, C, 16h, 16w) cropped to ``size`` (default: ``input_shape`` when ``z`` is its
        latent grid), before the output activation."""
        out = self.decoder(z)
        if size is None and tuple(z.shape[-2:]) == self.code_shape[1:]:
            size = self.input_shape[1:]
        return out if size is None else out[..., :size[0], :size[1]]

    def decode(self, z: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        return self.out_act(self.decode_logits(z, size))

    def analysis(self, x: torch.Tensor, level: int) -> torch.Tensor:
        """(B, C, H, W) -> the gained latent of ``level`` (B, M, h, w), to be rounded to symbols."""
        return self.encode(x) * self.gain(level)[:, None, None]

    def synthesis(self, y_hat: torch.Tensor, level: int, size: tuple[int, int] | None = None) -> torch.Tensor:
        """Quantised gained latent (B, M, h, w) of ``level`` -> image (B, C, H, W) cropped to ``size``."""
        return self.decode(y_hat * self.inverse_gain(level)[:, None, None], size)

    def bits(self, y_hat: torch.Tensor) -> torch.Tensor:
        """-log2 of the factorized density's bin mass, per image: (B, M, h, w) -> (B,)"""
        b, m = y_hat.shape[:2]
        flat = y_hat.permute(0, 2, 3, 1).reshape(-1, m)                                  # (B*h*w, M)
        return -torch.log2(self.density.bin_probability(flat)).reshape(b, -1).sum(1)

    def forward(self, x: torch.Tensor) -> CodingOutput:
        level = int(torch.randint(self.n_levels, ())) if self.training else self.default_level
        y = self.analysis(x, level)                                                       # (B, M, h, w)
        if self.training:  # additive uniform noise stands in for rounding
            y_hat = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        else:
            y_hat = torch.round(y)
        size = tuple(x.shape[-2:])
        pre = self.decode_logits(y_hat * self.inverse_gain(level)[:, None, None], size)  # (B, C, H, W)
        bpp = self.bits(y_hat).mean() / (size[0] * size[1])
        lam = torch.tensor(self.lambdas[level], device=x.device)
        return CodingOutput(self.out_act(pre), y, pre, {"rate": bpp}, {"lambda": lam}, lam)
