"""Convolutional autoencoder with a fully connected code.

Encoder: per stage, a stride-2 3x3 convolution (or a 3x3 convolution + 2x2 max-pooling).
Decoder: per stage, a stride-2 transposed convolution, or nearest-neighbour upsampling + 3x3
convolution, which avoids checkerboard artefacts (Odena, Dumoulin & Olah, "Deconvolution and
Checkerboard Artifacts", Distill 2016). Masci et al., "Stacked Convolutional Auto-Encoders" (2011).
"""
from __future__ import annotations

from torch import nn

from aekit.layers import conv_block, get_activation, init_weights
from aekit.models.base import Autoencoder, register_model
from aekit.validation import Integer, ListOf, Options

DOWNSAMPLE = ("stride", "pool")
UPSAMPLE = ("transpose", "nearest")


@register_model("conv")
class ConvAutoencoder(Autoencoder):
    """(C, H, W) images; H and W must be divisible by 2 ** len(channels).

    ``depth`` convolutions per stage (the first one strided); the defaults, 16-32 channels with two
    convolutions per stage, train fastest to a low MNIST error on CPU (benchmarks/reduction.py).
    """

    input_kinds = ("image",)
    example_input_shape = (1, 16, 16)
    _constraints = {**Autoencoder._constraints, "channels": ListOf(Integer(1), min_len=1),
                              "depth": Integer(1), "downsample": Options(*DOWNSAMPLE), "upsample": Options(*UPSAMPLE)}

    def __init__(self, *, input_shape, latent_dim: int = 32, channels: tuple[int, ...] | list[int] = (16, 32),
                 depth: int = 2, activation: str = "gelu", output_activation: str | None = "clamp",
                 downsample: str = "stride", upsample: str = "transpose", batch_norm: bool = False):
        name = type(self).name  # "conv", or a family built on it ("sparse-conv", "vae-conv")
        if len(input_shape) != 3:
            raise ValueError(f"model {name!r} needs images shaped (C, H, W), got input_shape={tuple(input_shape)}")
        self._check_args(latent_dim=latent_dim, channels=channels, depth=depth, downsample=downsample,
                         upsample=upsample)
        channels = [int(c) for c in channels]
        c_in, h, w = (int(s) for s in input_shape)
        factor = 2 ** len(channels)
        if h % factor or w % factor:
            raise ValueError(
                f"model {name!r}: image size {h}x{w} is not divisible by the down-sampling factor {factor} "
                f"(2 ** len(channels={channels})); resize the images or use fewer stages"
            )
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, output_activation=output_activation)
        get_activation(activation)
        hb, wb = h // factor, w // factor

        enc: list[nn.Module] = []
        prev = c_in
        for c in channels:  # each stage: (B, prev, h, w) -> (B, c, h/2, w/2)
            if downsample == "stride":
                enc.append(conv_block(prev, c, stride=2, activation=activation, norm=batch_norm))
            else:
                enc += [conv_block(prev, c, stride=1, activation=activation, norm=batch_norm), nn.MaxPool2d(2)]
            enc += [conv_block(c, c, stride=1, activation=activation, norm=batch_norm) for _ in range(depth - 1)]
            prev = c
        flat = prev * hb * wb
        self.encoder = nn.Sequential(*enc, nn.Flatten(), nn.Linear(flat, latent_dim))  # (B, k)

        dec: list[nn.Module] = [nn.Linear(latent_dim, flat), get_activation(activation),
                                nn.Unflatten(1, (prev, hb, wb))]  # (B, c_last, hb, wb)
        rev = channels[::-1]
        for i, c in enumerate(rev):  # each stage: (B, c, h, w) -> (B, next, 2h, 2w)
            nxt = rev[i + 1] if i + 1 < len(rev) else rev[-1]
            dec += [conv_block(c, c, stride=1, activation=activation, norm=batch_norm) for _ in range(depth - 1)]
            if upsample == "transpose":
                dec.append(nn.ConvTranspose2d(c, nxt, 4, stride=2, padding=1))
            else:
                dec += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, nxt, 3, padding=1)]
            if batch_norm:
                dec.append(nn.BatchNorm2d(nxt))
            dec.append(get_activation(activation))
        dec.append(nn.Conv2d(rev[-1], c_in, 3, padding=1))  # (B, C, H, W)
        self.decoder = nn.Sequential(*dec)
        init_weights(self)
