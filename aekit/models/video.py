"""Video models for clips ``(T, C, H, W)`` (the ``video`` data kind): ``conv3d-video`` and ``next-frame``.

``conv3d-video``: a spatio-temporal autoencoder, 3-D convolutions over (time, height, width) that halve the
frame size per stage and keep the time axis, a fully connected code, and transposed 3-D convolutions back
(the 3-D design of Hasan et al., "Learning Temporal Regularity in Video Sequences", CVPR 2016, with the
stride-2 stages of :mod:`aekit.models.conv`).

``next-frame``: a next-frame predictor, a 2-D encoder-decoder that reads the ``context`` frames before
frame ``t`` stacked as channels and predicts frame ``t`` (future prediction as in Srivastava et al.,
"Unsupervised Learning of Video Representations using LSTMs", ICML 2015; the anomaly score of a frame is
its prediction error, as in Liu et al., "Future Frame Prediction for Anomaly Detection", CVPR 2018). It
keeps the autoencoder contract: its output has the input's shape, each frame ``t >= context`` predicted from
the frames before it alone, the first ``context`` frames given back as they are, so the reconstruction
error trains it and scores frames. Its bottleneck is a map of ``latent_dim`` channels at a quarter of the
frame size (motion is a matter of place); the code is that map averaged over places and predicted frames.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from aekit.layers import conv_block, get_activation, init_weights
from aekit.models.base import Autoencoder, ModelOutput, register_model
from aekit.validation import Integer, ListOf, NoneOr


def _check_clip_shape(name: str, input_shape, factor: int) -> tuple[int, int, int, int]:
    if len(input_shape) != 4:
        raise ValueError(f"model {name!r} needs clips shaped (T, C, H, W), got input_shape={tuple(input_shape)}")
    t, c, h, w = (int(s) for s in input_shape)
    if h % factor or w % factor:
        raise ValueError(f"model {name!r}: frame size {h}x{w} is not divisible by the down-sampling factor "
                         f"{factor}; resize the frames or use fewer stages")
    return t, c, h, w


class _Permute(nn.Module):
    """(B, A, B', ...) axes reordered: (B, T, C, H, W) <-> (B, C, T, H, W)."""

    def __init__(self, *order: int):
        super().__init__()
        self.order = order

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(*self.order)


@register_model("conv3d-video")
class Conv3dVideoAutoencoder(Autoencoder):
    """(T, C, H, W) clips: per stage a Conv3d of stride (1, 2, 2) halving H and W, then a Conv3d; a linear
    code; a linear layer and per stage a ConvTranspose3d of stride (1, 2, 2), then a Conv3d to C channels.
    H and W must be divisible by 2 ** len(channels)."""

    input_kinds = ("video",)
    example_input_shape = (4, 1, 16, 16)
    _constraints = {**Autoencoder._constraints, "channels": ListOf(Integer(1), min_len=1)}

    def __init__(self, *, input_shape, latent_dim: int = 64, channels: tuple[int, ...] | list[int] = (16, 32),
                 activation: str = "gelu", output_activation: str | None = "clamp"):
        self._check_args(latent_dim=latent_dim, channels=channels)
        channels = [int(c) for c in channels]
        t, c_in, h, w = _check_clip_shape(type(self).name, input_shape, 2 ** len(channels))
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, output_activation=output_activation)
        get_activation(activation)
        hb, wb = h // 2 ** len(channels), w // 2 ** len(channels)
        enc: list[nn.Module] = [_Permute(0, 2, 1, 3, 4)]                        # (B, C, T, H, W)
        prev = c_in
        for c in channels:
            enc += [nn.Conv3d(prev, c, 3, stride=(1, 2, 2), padding=1), get_activation(activation),
                    nn.Conv3d(c, c, 3, padding=1), get_activation(activation)]
            prev = c
        flat = prev * t * hb * wb
        self.encoder = nn.Sequential(*enc, nn.Flatten(), nn.Linear(flat, latent_dim))
        dec: list[nn.Module] = [nn.Linear(latent_dim, flat), get_activation(activation),
                                nn.Unflatten(1, (prev, t, hb, wb))]
        rev = channels[::-1]
        for i, c in enumerate(rev):
            nxt = rev[i + 1] if i + 1 < len(rev) else rev[-1]
            dec += [nn.ConvTranspose3d(c, nxt, (3, 4, 4), stride=(1, 2, 2), padding=1), get_activation(activation)]
        dec += [nn.Conv3d(rev[-1], c_in, 3, padding=1), _Permute(0, 2, 1, 3, 4)]  # (B, T, C, H, W)
        self.decoder = nn.Sequential(*dec)
        init_weights(self)


@register_model("next-frame")
class NextFramePredictor(Autoencoder):
    """(T, C, H, W) clips: each frame ``t >= context`` predicted from the ``context`` frames before it (stacked as
    channels) by two stride-2 stages down to a ``latent_dim``-channel map and two transposed stages back; the
    first ``context`` frames are given back unchanged. ``context`` None: ``T - 1`` (the last frame predicted)."""

    input_kinds = ("video",)
    example_input_shape = (4, 1, 16, 16)
    can_decode = False   # a prediction needs the context frames' map, not their averaged code
    overcomplete_ok = True   # a predictor: the frame it outputs is not among its inputs, so it cannot copy them
    _constraints = {**Autoencoder._constraints, "channels": ListOf(Integer(1), min_len=2),
                    "context": NoneOr(Integer(1))}

    def __init__(self, *, input_shape, latent_dim: int = 32, channels: tuple[int, ...] | list[int] = (16, 32),
                 context: int | None = None, activation: str = "gelu", output_activation: str | None = "clamp"):
        self._check_args(latent_dim=latent_dim, channels=channels, context=context)
        t, c_in, _, _ = _check_clip_shape(type(self).name, input_shape, 4)
        context = t - 1 if context is None else int(context)
        if not 1 <= context < t:
            raise ValueError(f"model 'next-frame': context={context} must lie in [1, T) for clips of T={t} frames")
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, output_activation=output_activation)
        self.context = context
        if len(channels) != 2:
            raise ValueError(f"model 'next-frame': channels={list(channels)} must name the widths of its two stages")
        c1, c2 = (int(c) for c in channels)
        block: dict[str, Any] = {"activation": activation, "norm": False}
        self.encoder = nn.Sequential(
            conv_block(context * c_in, c1, stride=2, **block), conv_block(c1, c1, stride=1, **block),
            conv_block(c1, c2, stride=2, **block), conv_block(c2, c2, stride=1, **block),
            nn.Conv2d(c2, latent_dim, 1))                                          # (B', latent_dim, H/4, W/4)
        self.decoder = nn.Sequential(
            conv_block(latent_dim, c2, stride=1, **block),
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), get_activation(activation),
            conv_block(c1, c1, stride=1, **block),
            nn.ConvTranspose2d(c1, c1, 4, stride=2, padding=1), get_activation(activation),
            nn.Conv2d(c1, c_in, 3, padding=1))                                     # (B', C, H, W)
        init_weights(self)

    def _contexts(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) -> (B * (T - context), context * C, H, W): the frames before each predicted frame."""
        k, t = self.context, x.shape[1]
        # (B, T - k, k, C, H, W): frames t-k .. t-1 before each predicted frame t (slices of a fixed T, no
        # batch-sized constant: the ONNX export keeps its batch axis dynamic)
        windows = torch.stack([x[:, j:t - k + j] for j in range(k)], dim=2)
        return windows.reshape(-1, k * x.shape[2], *x.shape[3:])

    def _maps(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self._contexts(x))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) -> (B, latent_dim): the bottleneck maps averaged over places and predicted frames."""
        maps = self._maps(x)
        return maps.mean(dim=(2, 3)).reshape(-1, x.shape[1] - self.context, self.latent_dim).mean(dim=1)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("model 'next-frame' predicts from its context frames' maps; its averaged code "
                                  "cannot be decoded (call the model on clips)")

    def forward(self, x: torch.Tensor) -> ModelOutput:
        maps = self._maps(x)
        n_pred = x.shape[1] - self.context
        pred = self.decoder(maps).reshape(-1, n_pred, *x.shape[2:])              # (B, T - k, C, H, W)
        pre = torch.cat([x[:, :self.context], pred], dim=1)
        code = maps.mean(dim=(2, 3)).reshape(-1, n_pred, self.latent_dim).mean(dim=1)
        return ModelOutput(self.out_act(pre), code, pre, {}, {})
