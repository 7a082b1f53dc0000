"""Block transform coding of photographs: a learned block transform, a uniform quantiser per quality level, an
entropy model that adapts to each image, and a learned post-filter, for images of any size.

The classical transform coder (Goyal, "Theoretical foundations of transform coding", IEEE Signal Processing
Magazine 2001; JPEG is one with the DCT) with its parts learned:

- **Transform.** The analysis cuts the image into ``block`` x ``block`` blocks of C channels and maps each to C *
  block^2 coefficients (a stride-``block`` convolution: a latent (M, H/block, W/block)); the synthesis maps them
  back (a transposed convolution). :meth:`BlockTransformCoding.initialise` starts both from the Karhunen-Loeve
  transform of the training blocks: the principal components, which are the optimal linear autoencoder of the
  blocks (for colour blocks it finds the luma / chroma split and the frequencies on its own). Rate-distortion
  training then goes on from there.
- **Quantiser.** Level ``q`` divides the coefficients by its step ``exp(log_step[q])`` and rounds them with a dead
  zone (``deadzone``: values within ``1/2 + deadzone`` of zero become zero, the rule of JPEG encoders that
  optimise rate and distortion). The initial steps follow the high-rate rule for an orthonormal transform and an
  entropy-coded uniform quantiser: ``step^2 = 6 C / (lambda * 255^2 * ln 2)`` minimises ``lambda * 255^2 * MSE
  + bits per pixel`` (each step's distortion is ``step^2 / 12``; halving it costs one bit per coefficient).
- **Entropy model.** Each coefficient is coded with a discretised Laplacian whose scale the encoder picks per
  image and channel, moved by the activity of the coefficient's block in the channels coded before it
  (:func:`aekit.estimators._entropy.pick_context_rows`; the picks travel in the stream): a forward-adaptive
  prior, a cheap form of Ballé et al.'s scale hyperprior ("Variational image compression with a scale
  hyperprior", ICLR 2018, arxiv 1802.01436). In training the rate is that of a Laplacian whose scale is the
  mean magnitude of each image's channel.
- **Post-filter.** The synthesis ends in a small residual network at full resolution (its last layer starts at
  zero, so the coder starts as the plain transform), trained to remove what the quantiser left: block edges and
  ringing.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from aekit.models.base import Autoencoder, register_model
from aekit.models.transform_coding import DEFAULT_LAMBDAS, CodingOutput, QualityLevels, check_lambdas, \
    pad_to_multiple
from aekit.validation import Integer, Real


def initial_steps(lambdas, channels: int) -> torch.Tensor:
    """(L,) quantisation steps of the high-rate rule (see the module docstring) for the multipliers ``lambdas``."""
    lam = torch.tensor(lambdas, dtype=torch.float64)
    return torch.sqrt(6 * channels / (lam * 255.0 ** 2 * math.log(2))).float()


def dct_basis(channels: int, block: int) -> torch.Tensor:
    """(C * b * b, C, b, b) orthonormal basis: the 2-D DCT-II of each block of a colour transform's channels (for 3
    channels an orthonormal luma / chroma pair of differences; else the channels themselves), ordered by
    frequency ``u + v``, then channel, so that the first vectors are the smooth ones. The data-free start of the
    transform (JPEG's), before :meth:`BlockTransformCoding.initialise` replaces it by the blocks' KLT."""
    n = torch.arange(block, dtype=torch.float64)
    dct = torch.cos(math.pi * (2 * n[None, :] + 1) * n[:, None] / (2 * block))              # (b, b): [k, x]
    dct = dct / dct.norm(dim=1, keepdim=True)
    if channels == 3:
        colour = torch.tensor([[1, 1, 1], [1, -1, 0], [1, 1, -2]], dtype=torch.float64)
        colour = colour / colour.norm(dim=1, keepdim=True)
    else:
        colour = torch.eye(channels, dtype=torch.float64)
    keys, vectors = [], []
    for c in range(channels):
        for u in range(block):
            for v in range(block):
                keys.append((u + v, c, u))
                vectors.append(colour[c][:, None, None] * torch.outer(dct[u], dct[v])[None])   # (C, b, b)
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return torch.stack([vectors[i] for i in order])


def laplace_bits(y: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """-log2 of a zero-mean Laplacian's mass on the unit bins around ``y``, elementwise (``scale`` broadcasts)."""
    def cdf(v):
        return 0.5 + 0.5 * torch.sign(v) * (1 - torch.exp(-v.abs() / scale))

    mass = cdf(y + 0.5) - cdf(y - 0.5)
    return -torch.log2(mass.clamp(min=1e-9))


class PostFilter(nn.Module):
    """``x + net(x, log step)``: ``depth`` 3x3 convolutions of ``width`` channels (ReLU between, edge-replicated
    borders) over the image and a constant map of the quantisation step's log (one filter for every level, told
    how coarse the level is: FFDNet's noise-level map); the last starts at zero, so the filter starts as the
    identity. (B, C, H, W), step -> (B, C, H, W)."""

    def __init__(self, channels: int, width: int, depth: int):
        super().__init__()
        sizes = [channels + 1] + [width] * (depth - 1) + [channels]
        self.layers = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1, padding_mode="replicate")
                                    for a, b in zip(sizes, sizes[1:]))
        nn.init.zeros_(self.layers[-1].weight)
        nn.init.zeros_(self.layers[-1].bias)

    def forward(self, x: torch.Tensor, log_step: torch.Tensor) -> torch.Tensor:
        h = torch.cat([x, log_step.expand(x.shape[0], 1, *x.shape[2:])], 1)                 # (B, C+1, H, W)
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = F.relu(h)
        return x + h


@register_model("block-transform-coding")
class BlockTransformCoding(QualityLevels, Autoencoder):
    """A learned block transform coder with quality levels (see the module docstring).

    Parameters
    ----------
    input_shape : (C, H, W) of the training patches; any size runs (padded to a multiple of ``block`` by edge
        replication, the output cropped back).
    latent_dim : int
        Coefficients kept per block, at most C * block^2 (all of them: a complete transform).
    block : int, default 8
        Side of the blocks (the latent grid is H/block x W/block).
    lambdas : sequence of float
        One rate-distortion multiplier per quality level, increasing (level 0: smallest streams).
    deadzone : float, default 0.2
        Added to 1/2 in the rounding threshold of :meth:`quantise` (0: plain rounding).
    filters, depth : int, default 32, 3
        Width and convolutions of the post-filter (depth 0: none).
    learn_transform : bool, default False
        Whether rate-distortion training changes the transform and the steps too, through the additive-noise
        proxy of rounding (Ballé et al.). False: they stay as initialised (the KLT, the high-rate steps), so
        training sees the true dead-zone quantisation and teaches the post-filter to undo it: measured on
        train400 and the package photographs, the noise proxy moved the steps and the transform away from
        what suits the real quantiser (the validation loss rose from the first epoch on).
    output_activation : default "clamp" (identity in training, clamped to [0, 1] in eval mode)
    """

    input_kinds = ("image",)
    example_input_shape = (3, 32, 32)
    overcomplete_ok = True  # the rate term, not the width, limits the code
    loss = "rate-distortion"
    _constraints = {"latent_dim": Integer(1), "block": Integer(2), "deadzone": Real(0, 0.5, closed="left"),
                    "filters": Integer(1), "depth": Integer(0)}

    def __init__(self, *, input_shape, latent_dim: int = 192, block: int = 8,
                 lambdas: tuple[float, ...] | list[float] = DEFAULT_LAMBDAS, deadzone: float = 0.2,
                 filters: int = 32, depth: int = 3, learn_transform: bool = False,
                 output_activation: str | None = "clamp"):
        self._check_args(latent_dim=latent_dim, block=block, deadzone=deadzone, filters=filters, depth=depth)
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, output_activation=output_activation)
        c, b = self.input_shape[0], int(block)
        if self.latent_dim > c * b * b:
            raise ValueError(f"latent_dim={self.latent_dim}: a {b}x{b} block of {c} channel(s) has {c * b * b} "
                             f"coefficients; expected at most that many")
        self.block, self.deadzone = b, float(deadzone)
        self.lambdas = check_lambdas(lambdas)
        self.encoder = nn.Conv2d(c, self.latent_dim, b, stride=b)                        # (B, M, H/b, W/b)
        self.decoder = nn.ConvTranspose2d(self.latent_dim, c, b, stride=b)               # (B, C, H, W)
        with torch.no_grad():   # start as the DCT (JPEG's transform); initialise(x) makes it the data's KLT
            kernels = dct_basis(c, b)[:self.latent_dim].float()
            self.encoder.weight.copy_(kernels)
            self.decoder.weight.copy_(kernels)
            self.encoder.bias.zero_()
            self.decoder.bias.zero_()
        self.post = PostFilter(c, int(filters), int(depth)) if depth else None
        self.log_step = nn.Parameter(torch.log(initial_steps(self.lambdas, c)))          # (L,)
        self.learn_transform = bool(learn_transform)
        if not self.learn_transform:   # the KLT and the steps stay; training teaches the post-filter alone
            for p in (*self.encoder.parameters(), *self.decoder.parameters(), self.log_step):
                p.requires_grad_(False)
        self.register_buffer("mean_block", torch.zeros(c, b, b))                         # (C, b, b)

    # ------------------------------------------------------------------------------------ levels
    @property
    def downsampling(self) -> int:
        """Image sides are padded to a multiple of this (the block side)."""
        return self.block

    def step(self, level: int) -> torch.Tensor:
        """The quantisation step of ``level`` (a 0-d tensor)."""
        return torch.exp(self.log_step[level])

    # ------------------------------------------------------------------------------------ initialisation
    @torch.no_grad()
    def initialise(self, x: torch.Tensor) -> None:
        """Start the transform as the Karhunen-Loeve transform of the blocks of ``x`` (B, C, H, W): the
        principal components, strongest first, the first ``latent_dim`` of them kept; the synthesis is its
        transpose and adds the mean block back."""
        c, b = self.input_shape[0], self.block
        blocks = F.unfold(pad_to_multiple(x.double(), b), b, stride=b)                     # (B, C*b*b, n)
        rows = blocks.transpose(1, 2).reshape(-1, c * b * b)                               # (N, C*b*b)
        mean = rows.mean(0)
        cov = torch.cov((rows - mean).T)
        _, vectors = torch.linalg.eigh(cov)                                                # ascending
        basis = vectors.flip(1)[:, :self.latent_dim]                                       # (C*b*b, M)
        # unfold orders a block's values as (C, b, b): the kernels are the basis vectors in that shape
        kernels = basis.T.reshape(self.latent_dim, c, b, b)
        self.encoder.weight.copy_(kernels.float())
        self.encoder.bias.copy_(-(mean @ basis).float())
        self.decoder.weight.copy_(kernels.float())
        self.decoder.bias.zero_()
        self.mean_block.copy_(mean.reshape(c, b, b).float())        # added back to every block by the synthesis

    # ------------------------------------------------------------------------------------ transforms
    @property
    def code_shape(self) -> tuple[int, ...]:
        h, w = self.input_shape[1:]
        return (self.latent_dim, math.ceil(h / self.block), math.ceil(w / self.block))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> the coefficients before any step (B, M, ceil(H/block), ceil(W/block))."""
        return self.encoder(pad_to_multiple(x, self.block))

    def decode_logits(self, z: torch.Tensor, size: tuple[int, int] | None = None,
                      level: int | None = None) -> torch.Tensor:
        """Coefficients (B, M, h, w) -> (B, C, block h, block w) cropped to ``size``, before the output
        activation; the post-filter is told ``level``'s step (default: the default level's)."""
        out = self.decoder(z) + self.mean_block.repeat(1, z.shape[-2], z.shape[-1])     # (B, C, H, W)
        if self.post is not None:
            out = self.post(out, self.log_step[self.default_level if level is None else level])
        if size is None and tuple(z.shape[-2:]) == self.code_shape[1:]:
            size = (self.input_shape[1], self.input_shape[2])
        return out if size is None else out[..., :size[0], :size[1]]

    def decode(self, z: torch.Tensor, size: tuple[int, int] | None = None, level: int | None = None) -> torch.Tensor:
        return self.out_act(self.decode_logits(z, size, level))

    def analysis(self, x: torch.Tensor, level: int) -> torch.Tensor:
        """(B, C, H, W) -> the coefficients of ``level`` in steps (B, M, h, w), to be quantised to symbols."""
        return self.encode(x) / self.step(level)

    def quantise(self, y: torch.Tensor) -> torch.Tensor:
        """Round with the dead zone: ``sign(y) * floor(|y| + 1/2 - deadzone)``, never below zero."""
        return torch.sign(y) * torch.clamp(torch.floor(y.abs() + 0.5 - self.deadzone), min=0)

    def synthesis(self, y_hat: torch.Tensor, level: int, size: tuple[int, int] | None = None) -> torch.Tensor:
        """Quantised coefficients (B, M, h, w) of ``level`` -> image (B, C, H, W) cropped to ``size``."""
        return self.decode(y_hat * self.step(level), size, level)

    def forward(self, x: torch.Tensor) -> CodingOutput:  # type: ignore[override]  # ModelOutput's fields + multiplier
        level = int(torch.randint(self.n_levels, ())) if self.training else self.default_level
        y = self.analysis(x, level)                                                       # (B, M, h, w)
        noisy = self.training and self.learn_transform   # else the true quantiser: nothing before it learns
        y_hat = y + torch.empty_like(y).uniform_(-0.5, 0.5) if noisy else self.quantise(y)
        size = tuple(x.shape[-2:])
        pre = self.decode_logits(y_hat * self.step(level), size, level)                   # (B, C, H, W)
        scale = y.detach().abs().mean((2, 3), keepdim=True).clamp(min=0.05)              # (B, M, 1, 1)
        bpp = laplace_bits(y_hat, scale).sum((1, 2, 3)).mean() / (size[0] * size[1])
        lam = torch.tensor(self.lambdas[level], device=x.device)
        return CodingOutput(self.out_act(pre), y, pre, {"rate": bpp}, {"lambda": lam}, lam)
