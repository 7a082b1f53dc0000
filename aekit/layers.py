"""Shared building blocks and the activation factory used by every model family."""
from __future__ import annotations

import torch
import torch.nn.functional as F
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


# ------------------------------------------------------------------------------------------ GDN
class _LowerBound(torch.autograd.Function):
    """``max(x, bound)`` whose gradient also passes below the bound when it points upwards (towards the
    allowed region), so a parameter held at its bound can leave it again (Ballé et al., "Variational image
    compression with a scale hyperprior", ICLR 2018, arxiv 1802.01436, its ``LowerBound`` operation)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, bound: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.bound = bound
        return x.clamp(min=bound)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        passes = (x >= ctx.bound) | (grad < 0)   # gradient descent moves x by -grad: up when grad < 0
        return grad * passes.to(grad.dtype), None


def lower_bound(x: torch.Tensor, bound: float) -> torch.Tensor:
    """``max(x, bound)``; in training, with the gradient of :class:`_LowerBound` (plain clamp otherwise,
    which exports to ONNX)."""
    if torch.is_grad_enabled() and x.requires_grad:
        return _LowerBound.apply(x, bound)
    return x.clamp(min=bound)


class GDN(nn.Module):
    """Generalized divisive normalization, and its inverse (IGDN) for the synthesis transform.

    ``y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)`` (``inverse=True``: ``x_i * sqrt(...)``), over the
    channels at each position: (B, C, H, W) -> (B, C, H, W). Ballé, Laparra & Simoncelli, "Density
    modeling of images using a generalized normalization transformation", ICLR 2016 (arxiv 1511.06281),
    and "End-to-end optimized image compression", ICLR 2017 (arxiv 1611.01704), which uses it between the
    convolutions of its analysis and synthesis transforms.

    ``beta`` and ``gamma`` stay non-negative through the reparametrisation of the 2017 paper: the stored
    parameter ``p`` gives ``max(p, sqrt(bound + eps))^2 - eps`` (``eps`` = 2^-36, a pedestal keeping the
    gradient finite at zero), with ``beta >= beta_min`` (the denominator never vanishes) and
    ``gamma >= 0``. At initialisation ``beta = 1`` and ``gamma = gamma_init * I``: GDN and IGDN are then
    inverse to first order for small inputs.
    """

    _PEDESTAL = 2.0 ** -36

    def __init__(self, channels: int, *, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1):
        super().__init__()
        self.channels, self.inverse, self.beta_min = int(channels), bool(inverse), float(beta_min)
        eps = self._PEDESTAL
        self.beta = nn.Parameter(torch.sqrt(torch.ones(channels) + eps))                     # (C,)
        self.gamma = nn.Parameter(torch.sqrt(gamma_init * torch.eye(channels) + eps))         # (C, C)

    def effective_beta(self) -> torch.Tensor:
        """beta (C,), at least ``beta_min``."""
        eps = self._PEDESTAL
        return lower_bound(self.beta, (self.beta_min + eps) ** 0.5) ** 2 - eps

    def effective_gamma(self) -> torch.Tensor:
        """gamma (C, C), non-negative."""
        eps = self._PEDESTAL
        return lower_bound(self.gamma, eps ** 0.5) ** 2 - eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gamma = self.effective_gamma()[:, :, None, None]                                      # (C, C, 1, 1)
        norm = torch.sqrt(F.conv2d(x * x, gamma, self.effective_beta()))                      # (B, C, H, W)
        return x * norm if self.inverse else x / norm

    def extra_repr(self) -> str:
        return f"{self.channels}, inverse={self.inverse}"
