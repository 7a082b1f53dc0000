"""Sequence autoencoders for (C, T) windows: ``conv1d-seq``, ``lstm-seq`` and ``vae-seq``.

``conv1d-seq``: strided 1-D convolutions over time, a fully connected code, transposed 1-D convolutions
back -- the 2-D design of Masci et al., "Stacked Convolutional Auto-Encoders for Hierarchical Feature
Extraction" (ICANN 2011), with time as the only spatial axis.

``lstm-seq``: an LSTM encoder-decoder after Malhotra et al., "LSTM-based Encoder-Decoder for Multi-sensor
Anomaly Detection" (ICML Anomaly Detection Workshop 2016, arXiv 1607.00148), whose code is the encoder's
last hidden state. Simpler variant than the paper's: the code sets the decoder LSTM's initial hidden state
and is its input at every step; it emits the window in forward order without feeding back its own outputs
(the paper reconstructs in reverse order from the previous value, teacher-forced in training).

``vae-seq``: a Gaussian (or Bernoulli) VAE -- Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014
(arXiv 1312.6114) -- on the ``conv1d-seq`` encoder and decoder; Fabius & van Amersfoort, "Variational
Recurrent Auto-Encoders" (ICLR 2015 workshop, arXiv 1412.6581) apply the same objective to sequences
with recurrent networks. KL weighting, warm-up, ``sample`` and ``interpolate`` as in :mod:`aekit.models.vae`.

Windows of any length T work: the convolutional models pad T on the right to a multiple of
2 ** len(channels) and crop the reconstruction back to T.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aekit.layers import get_activation, init_weights
from aekit.models.base import Autoencoder, register_model
from aekit.models.vae import VARIATIONAL_CONSTRAINTS, VariationalAutoencoder
from aekit.validation import Integer, ListOf


def _check_sequence_shape(name: str, input_shape) -> tuple[int, int]:
    if len(input_shape) != 2:
        raise ValueError(f"model {name!r} needs sequences shaped (C, T), got input_shape={tuple(input_shape)}")
    c, t = (int(s) for s in input_shape)
    return c, t


class _PadTime(nn.Module):
    """(B, C, T) -> (B, C, length): zeros appended on the right."""

    def __init__(self, extra: int):
        super().__init__()
        self.extra = extra

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (0, self.extra)) if self.extra else x


class _CropTime(nn.Module):
    """(B, C, T') -> (B, C, length): the first ``length`` steps."""

    def __init__(self, length: int):
        super().__init__()
        self.length = length

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., :self.length]


@register_model("conv1d-seq")
class Conv1dSequenceAutoencoder(Autoencoder):
    """(C, T) windows: per stage a stride-2 Conv1d (kernel 5) halving T, a linear code; a linear layer and
    per stage a stride-2 ConvTranspose1d (kernel 4) doubling T back, then a Conv1d to C channels."""

    input_kinds = ("sequence",)
    example_input_shape = (2, 16)
    _constraints = {**Autoencoder._constraints, "channels": ListOf(Integer(1), min_len=1)}

    def __init__(self, *, input_shape, latent_dim: int = 16, channels: tuple[int, ...] | list[int] = (16, 32),
                 activation: str = "gelu", output_activation: str | None = "clamp"):
        name = type(self).name  # "conv1d-seq", or a family built on it ("vae-seq")
        c_in, t = _check_sequence_shape(name, input_shape)
        self._check_args(latent_dim=latent_dim, channels=channels)
        channels = [int(c) for c in channels]
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, output_activation=output_activation)
        get_activation(activation)
        factor = 2 ** len(channels)
        t_pad = -(-t // factor) * factor  # T rounded up to a multiple of the down-sampling factor
        tb = t_pad // factor

        enc: list[nn.Module] = [_PadTime(t_pad - t)]  # (B, C, T_pad)
        prev = c_in
        for c in channels:  # each stage: (B, prev, t) -> (B, c, t/2)
            enc += [nn.Conv1d(prev, c, 5, stride=2, padding=2), get_activation(activation)]
            prev = c
        flat = prev * tb
        self.encoder = nn.Sequential(*enc, nn.Flatten(), nn.Linear(flat, latent_dim))  # (B, k)

        dec: list[nn.Module] = [nn.Linear(latent_dim, flat), get_activation(activation),
                                nn.Unflatten(1, (prev, tb))]  # (B, c_last, T_pad / factor)
        rev = channels[::-1]
        for i, c in enumerate(rev):  # each stage: (B, c, t) -> (B, next, 2t)
            nxt = rev[i + 1] if i + 1 < len(rev) else rev[-1]
            dec += [nn.ConvTranspose1d(c, nxt, 4, stride=2, padding=1), get_activation(activation)]
        dec += [nn.Conv1d(rev[-1], c_in, 5, padding=2), _CropTime(t)]  # (B, C, T_pad) -> (B, C, T)
        self.decoder = nn.Sequential(*dec)
        init_weights(self)


class _RecurrentEncoder(nn.Module):
    """(B, C, T) -> (B, k): the last layer's final hidden state, through a linear layer."""

    def __init__(self, channels: int, hidden: int, num_layers: int, latent_dim: int):
        super().__init__()
        self.lstm = nn.LSTM(channels, hidden, num_layers, batch_first=True)
        self.proj = nn.Linear(hidden, latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(x.transpose(1, 2))  # x as (B, T, C); h: (layers, B, hidden)
        return self.proj(h[-1])                   # (B, k)


class _RecurrentDecoder(nn.Module):
    """(B, k) -> (B, C, T): the code sets the initial hidden state and is fed at every one of T steps,
    then a linear layer to C channels."""

    def __init__(self, latent_dim: int, hidden: int, num_layers: int, channels: int, length: int):
        super().__init__()
        self.length = length
        self.num_layers, self.hidden = num_layers, hidden
        self.init = nn.Linear(latent_dim, num_layers * hidden)  # the code also sets the initial hidden state
        self.lstm = nn.LSTM(latent_dim, hidden, num_layers, batch_first=True)
        self.out = nn.Linear(hidden, channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h0 = torch.tanh(self.init(z)).view(-1, self.num_layers, self.hidden)
        h0 = h0.transpose(0, 1).contiguous()  # (layers, B, hidden)
        steps = z.unsqueeze(1).expand(-1, self.length, -1)  # (B, T, k)
        h, _ = self.lstm(steps, (h0, torch.zeros_like(h0)))  # (B, T, hidden)
        return self.out(h).transpose(1, 2)                   # (B, C, T)


@register_model("lstm-seq")
class LSTMSequenceAutoencoder(Autoencoder):
    """(C, T) windows: an LSTM encoder's last hidden state -> linear code -> an LSTM decoder started from
    and reading the code at every step -> linear to C channels (``hidden`` units, ``num_layers`` layers
    each side). Train with a learning rate near 1e-2 and ``grad_clip=1.0``: slower rates leave it near
    the mean window for many epochs."""

    input_kinds = ("sequence",)
    example_input_shape = (2, 16)
    _constraints = {**Autoencoder._constraints, "hidden": Integer(1), "num_layers": Integer(1)}

    def __init__(self, *, input_shape, latent_dim: int = 16, hidden: int = 64, num_layers: int = 1,
                 output_activation: str | None = "clamp"):
        c, t = _check_sequence_shape(type(self).name, input_shape)
        self._check_args(latent_dim=latent_dim, hidden=hidden, num_layers=num_layers)
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, output_activation=output_activation)
        self.encoder = _RecurrentEncoder(c, int(hidden), int(num_layers), self.latent_dim)
        self.decoder = _RecurrentDecoder(self.latent_dim, int(hidden), int(num_layers), c, t)


@register_model("vae-seq")
class SequenceVAE(VariationalAutoencoder):
    """Sequence VAE: the ``conv1d-seq`` encoder and decoder, the encoder's last linear layer widened to 2k
    outputs (mu and log sigma^2). Arguments as for ``conv1d-seq`` and ``vae``."""

    input_kinds = ("sequence",)
    example_input_shape = (2, 16)
    _constraints = {**Conv1dSequenceAutoencoder._constraints, **VARIATIONAL_CONSTRAINTS}

    def __init__(self, *, input_shape, latent_dim: int = 16, channels: tuple[int, ...] | list[int] = (16, 32),
                 activation: str = "gelu", likelihood: str = "gaussian", beta: float = 1.0,
                 kl_warmup_steps: int = 0):
        self._check_args(likelihood=likelihood, beta=beta, kl_warmup_steps=kl_warmup_steps)
        try:
            conv = Conv1dSequenceAutoencoder(input_shape=input_shape, latent_dim=latent_dim, channels=channels,
                                             activation=activation)
        except ValueError as exc:
            raise type(exc)(str(exc).replace("model 'conv1d-seq'", "model 'vae-seq'")) from None
        super().__init__(input_shape=input_shape, latent_dim=latent_dim,  # as aekit.models.vae's families
                         output_activation="sigmoid" if likelihood == "bernoulli" else "clamp")
        self._init_variational(likelihood, beta, kl_warmup_steps)
        last = conv.encoder[-1]  # Linear(flat, k) after the convolutions and Flatten
        head = nn.Linear(last.in_features, 2 * latent_dim)
        init_weights(head)
        self.encoder = nn.Sequential(*list(conv.encoder)[:-1], head)  # (B, C, T) -> (B, 2k)
        self.decoder = conv.decoder                                     # (B, k) -> (B, C, T)
        self._init_decoder_input()
