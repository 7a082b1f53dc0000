"""Shared building blocks and the activation factory used by every model family."""
from __future__ import annotations

import torch
from torch import nn


class ClampInEval(nn.Module):
    """Identity while training (gradients flow everywhere), clamp to [lo, hi] in eval mode.

    A linear output trained with MSE and clamped at evaluation avoids the all-black collapse that a
    sigmoid output trained with MSE can fall into (see README, "collapsed model").
    """

    def __init__(self, lo: float = 0.0, hi: float = 1.0):
        super().__init__()
        self.lo, self.hi = lo, hi

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.training else x.clamp(self.lo, self.hi)


_ACTIVATIONS = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "identity": nn.Identity,
    "clamp": ClampInEval,
}


def list_activations() -> list[str]:
    """Names accepted by :func:`get_activation` (``None`` means identity)."""
    return sorted(_ACTIVATIONS)


def get_activation(name: str | None) -> nn.Module:
    """Return a fresh activation module for ``name`` (``None``/"none"/"linear" -> identity)."""
    if name is None or name in ("none", "linear"):
        return nn.Identity()
    if not isinstance(name, str) or name.lower() not in _ACTIVATIONS:
        raise ValueError(
            f"unknown activation {name!r}; expected one of {list_activations()} or None"
        )
    return _ACTIVATIONS[name.lower()]()


def conv_block(c_in: int, c_out: int, *, stride: int, activation: str | None, norm: bool) -> nn.Sequential:
    """3x3 convolution (+ optional BatchNorm) + activation; ``stride=2`` halves H and W."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(get_activation(activation))
    return nn.Sequential(*layers)


def mlp(widths: list[int], activation: str | None, dropout: float = 0.0, last_activation: bool = False
        ) -> nn.Sequential:
    """Linear layers ``widths[0] -> widths[1] -> ... -> widths[-1]``: (B, widths[0]) -> (B, widths[-1]).

    Each layer but the last is followed by ``activation`` (and ``nn.Dropout(dropout)`` when
    ``dropout > 0``); ``last_activation`` adds them after the last layer too. The body of the dense
    families (``mlp``, ``vae``, ``sparse``, ``contractive``); ``widths`` of length 1 gives an empty stack.
    """
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2 or last_activation:
            layers.append(get_activation(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def init_weights(module: nn.Module) -> None:
    """Kaiming-normal weights (He et al., 2015, ReLU gain) and zero biases for every conv / linear layer.

    PyTorch's default (uniform, a=sqrt(5)) shrinks the signal layer after layer, so a fresh
    autoencoder's output hardly depends on its input and training first sits on the mean image;
    with this initialisation the conv model on digits reaches in 3 epochs what took 15 before.
    Transposed convolutions are scaled by their input channels (their fan-out in PyTorch's terms).
    Used by the convolutional families. The dense models keep PyTorch's default, which trains them
    faster (MNIST MLP 784-256-32: test MSE 0.0119 after one epoch vs 0.0164 with this initialisation).
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        elif isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        else:
            continue
        if m.bias is not None:
            nn.init.zeros_(m.bias)
