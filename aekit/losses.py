"""Reconstruction losses and the named loss breakdown shared by every model and the training loop."""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping, NamedTuple

import torch
import torch.nn.functional as F

RECONSTRUCTION_LOSSES = ("mse", "bce")


class LossBreakdown(NamedTuple):
    """Total loss and its named terms (each already weighted; ``total`` is their sum), and the model's ``stats``
    from the forward pass that gave them (recorded, not optimised: codebook perplexity, L0, ...)."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor]
    stats: Mapping[str, torch.Tensor] = MappingProxyType({})


def check_reconstruction_loss(name: str) -> str:
    if name not in RECONSTRUCTION_LOSSES:
        raise ValueError(f"unknown reconstruction loss {name!r}; expected one of {RECONSTRUCTION_LOSSES}")
    return name


def reconstruction_loss(recon: torch.Tensor, target: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """Mean reconstruction error per element.

    ``mse``: mean squared error. ``bce``: binary cross-entropy of outputs in [0, 1] against targets
    in [0, 1] (use :func:`total_loss` with ``logits`` for the numerically stable form).
    """
    check_reconstruction_loss(kind)
    if kind == "mse":
        return F.mse_loss(recon, target)
    return F.binary_cross_entropy(recon.clamp(1e-6, 1 - 1e-6), target)


def total_loss(recon: torch.Tensor, target: torch.Tensor, regularizers: dict[str, torch.Tensor],
               kind: str = "mse", logits: torch.Tensor | None = None) -> LossBreakdown:
    """Reconstruction loss plus the model's regularisation terms, as a :class:`LossBreakdown`.

    ``logits``: the decoder's pre-sigmoid output, when the model ends in a sigmoid; BCE then uses
    ``binary_cross_entropy_with_logits`` on it, which stays finite where ``recon`` saturates.
    """
    if kind == "bce" and logits is not None:
        rec = F.binary_cross_entropy_with_logits(logits, target)
    else:
        rec = reconstruction_loss(recon, target, kind)
    terms = {"recon": rec, **regularizers}
    total = rec
    for value in regularizers.values():
        total = total + value
    return LossBreakdown(total, terms)


# ------------------------------------------------------------------ sparse (models/sparse.py)
# The sparsity penalties are per-sample quantities divided by ``n_elements`` (the number of input
# elements), so that they sit on the scale of the per-element mean reconstruction loss.

def l1_activity(code: torch.Tensor, n_elements: int) -> torch.Tensor:
    """Mean over the batch of sum_j |h_j|, divided by ``n_elements``: (B, k) -> ()."""
    return code.abs().flatten(1).sum(1).mean() / n_elements


def kl_sparsity(code: torch.Tensor, rho: float, n_elements: int, eps: float = 1e-6) -> torch.Tensor:
    """sum_j KL(rho || rho_hat_j) / ``n_elements``, rho_hat_j = batch-mean activation of unit j in (0, 1).

    Ng, "Sparse autoencoder" (CS294A lecture notes, 2011): (B, k) -> ().
    """
    rho_hat = code.float().mean(0).clamp(eps, 1 - eps)                         # (k,)
    kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
    return kl.sum() / n_elements


def topk_aux_loss(residual: torch.Tensor, aux_recon: torch.Tensor) -> torch.Tensor:
    """AuxK (Gao et al. 2024, arXiv 2406.04093): mean squared error of the dead latents' reconstruction
    ``aux_recon`` of the main model's (detached) ``residual`` = input - reconstruction, both (B, *shape)."""
    return (residual.detach() - aux_recon).pow(2).mean()


def explained_variance(x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """1 - residual variance / data variance over one batch (variance around the batch-mean input): ().

    0 for a batch without variance (a single sample), where the ratio is undefined.
    """
    x, recon = x.detach().flatten(1).float(), recon.detach().flatten(1).float()  # (B, D)
    residual = (x - recon).pow(2).sum()
    total = (x - x.mean(0, keepdim=True)).pow(2).sum()
    return torch.where(total > 0, 1 - residual / total.clamp_min(1e-12), torch.zeros_like(total))


# ------------------------------------------------------------------ contractive (models/contractive.py)
JACOBIAN_METHODS = ("auto", "closed", "autograd")
# element-wise code activations with a closed-form derivative, written in terms of the output h
_DERIVATIVE_FROM_OUTPUT = {
    torch.nn.Sigmoid: lambda h: h * (1 - h),
    torch.nn.Tanh: lambda h: 1 - h * h,
    torch.nn.Identity: torch.ones_like,
}


def _single_layer(module: torch.nn.Module) -> tuple[torch.nn.Linear, torch.nn.Module] | None:
    """(Linear, activation) when ``module`` is [Flatten,] Linear, Sigmoid|Tanh|Identity (nested
    Sequentials allowed), else None."""
    if not isinstance(module, torch.nn.Sequential):
        return None
    layers = [m for m in module.modules() if not isinstance(m, torch.nn.Sequential)]
    if layers and isinstance(layers[0], torch.nn.Flatten):
        layers = layers[1:]
    if len(layers) == 1 and isinstance(layers[0], torch.nn.Linear):
        layers.append(torch.nn.Identity())
    if len(layers) == 2 and isinstance(layers[0], torch.nn.Linear) and type(layers[1]) in _DERIVATIVE_FROM_OUTPUT:
        return layers[0], layers[1]
    return None


def has_closed_form_jacobian(encoder: torch.nn.Module) -> bool:
    """Whether :func:`jacobian_frobenius` can use the closed form for this encoder module."""
    return _single_layer(encoder) is not None


def _encoder_of(obj):
    """(function x -> code, the module that implements it or None when it is not a single module)."""
    if isinstance(obj, torch.nn.Module) and hasattr(obj, "encode") and hasattr(obj, "encoder"):
        # an Autoencoder: its code is ``encode(x)``, which is ``encoder(x)`` unless a subclass overrides it
        plain = getattr(type(obj).encode, "__qualname__", "") == "Autoencoder.encode"
        return obj.encode, (obj.encoder if plain else None)
    if isinstance(obj, torch.nn.Module):
        return obj, obj
    raise TypeError(f"jacobian_frobenius needs an encoder module or an autoencoder, got {type(obj).__name__}")


def jacobian_frobenius(encoder, x: torch.Tensor, method: str = "auto") -> torch.Tensor:
    """Squared Frobenius norm ||dh/dx||_F^2 of the encoder Jacobian for each sample: (B, *shape) -> (B,).

    Contractive auto-encoders (Rifai et al., ICML 2011). ``encoder``: a module mapping x to the code, or
    an autoencoder (its ``encode``). ``method``: "closed" for one Linear layer followed by a sigmoid
    (||J||^2 = sum_j (h_j (1 - h_j))^2 ||W_j||^2), tanh or nothing; "autograd" for the exact Jacobian
    of any encoder (``torch.func.jacrev`` vectorised over the batch with ``vmap``; samples must be
    independent, so no batch norm); "auto" picks "closed" where it applies. Differentiable in the
    parameters, so it can be used as a training penalty.
    """
    if method not in JACOBIAN_METHODS:
        raise ValueError(f"method={method!r}; expected one of {JACOBIAN_METHODS}")
    fn, module = _encoder_of(encoder)
    layer = _single_layer(module) if module is not None else None
    if method == "closed" and layer is None:
        raise ValueError("method='closed' needs an encoder made of one Linear layer followed by a sigmoid, "
                         f"tanh or no activation; got {module if module is not None else type(encoder).__name__}"
                         "; use method='autograd'")
    if layer is not None and method != "autograd":
        linear, act = layer
        h = act(linear(x.flatten(1)))                                         # (B, k)
        slope = _DERIVATIVE_FROM_OUTPUT[type(act)](h)                         # (B, k)
        return slope.pow(2) @ linear.weight.pow(2).sum(1)                     # (B,)

    def one(xi: torch.Tensor) -> torch.Tensor:                                # (*shape) -> (k,)
        return fn(xi.unsqueeze(0)).flatten()

    jac = torch.func.vmap(torch.func.jacrev(one), randomness="different")(x)  # (B, k, *shape)
    return jac.pow(2).flatten(1).sum(1)                                       # (B,)


# ------------------------------------------------------------------ variational (models/vae.py)

LOG_2PI = 1.8378770664093453  # log(2 pi)


def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Analytic KL(N(mu, diag(exp(logvar))) || N(0, I)) per sample, summed over the latent dims.

    (B, k), (B, k) -> (B,), in nats (Kingma & Welling 2014, appendix B).
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)


def log_normal_diag(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))), summed over the last dimension: (..., k) -> (...)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(dim=-1)


# ------------------------------------------------------------------ vector quantisation (models/vq.py)


def vq_losses(z: torch.Tensor, q: torch.Tensor, commitment: float, *, codebook: bool) -> dict[str, torch.Tensor]:
    """VQ-VAE's latent losses (van den Oord et al. 2017, eq. 3), as means per latent element.

    ``commitment`` * ||z - sg[q]||^2 pulls the encoder output z towards its code; with ``codebook=True``
    (no EMA updates) ||sg[z] - q||^2 also moves the codes towards the encoder outputs. Means over every
    latent element, as in the reference implementation (Sonnet's ``VectorQuantizer``), so the terms sit on
    the same per-element scale as the mean reconstruction error.
    """
    terms = {"commitment": commitment * F.mse_loss(z, q.detach())}
    if codebook:
        terms["codebook"] = F.mse_loss(q, z.detach())
    return terms


def codebook_stats(counts: torch.Tensor) -> dict[str, torch.Tensor]:
    """``perplexity`` (exp of the entropy of the code histogram, in [1, K]) and ``usage`` (fraction of the
    K codes used at least once) from per-code counts (K,); both 0-dim, without gradient."""
    counts = counts.detach().float()
    probs = counts / counts.sum().clamp_min(1.0)
    entropy = -(probs * torch.log(probs.clamp_min(1e-12))).sum()
    return {"perplexity": entropy.exp(), "usage": (counts > 0).float().mean()}


# ------------------------------------------------------------------ segmentation (models/unet.py)
SEGMENTATION_LOSSES = ("ce", "dice", "ce+dice")


def class_targets(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Checked integer class map (B, H, W) for logits (B, K, H, W).

    ``target``: (B, H, W) or (B, 1, H, W), integer or float holding whole numbers in 0..K-1 (the training
    loop hands targets over as float32).
    """
    if logits.dim() < 3:
        raise ValueError(f"segmentation logits must be shaped (B, num_classes, H, W), got {tuple(logits.shape)}")
    if target.dim() == logits.dim() and target.shape[1] == 1:
        target = target[:, 0]                                     # (B, 1, H, W) -> (B, H, W)
    expected = (logits.shape[0], *logits.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(f"segmentation targets must be class maps shaped {expected} (or with a channel axis "
                         f"of size 1) for logits {tuple(logits.shape)}, got {tuple(target.shape)}")
    if target.is_floating_point():
        if not torch.equal(target, target.round()):
            raise ValueError("segmentation targets must hold integer class indices, got fractional values")
    target = target.long()
    k = logits.shape[1]
    if target.numel():
        lo, hi = int(target.min()), int(target.max())
        if lo < 0 or hi >= k:
            raise ValueError(f"segmentation targets hold class {lo if lo < 0 else hi}, but the logits have "
                             f"{k} classes (expected 0..{k - 1})")
    return target


def cross_entropy_loss(logits: torch.Tensor, target_classes: torch.Tensor) -> torch.Tensor:
    """Mean per-pixel cross-entropy of (B, K, H, W) logits against (B, H, W) class indices."""
    return F.cross_entropy(logits.float(), class_targets(logits, target_classes))


def dice_loss(logits: torch.Tensor, target_classes: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Soft multi-class Dice loss: 1 - mean over classes of (2|P.T| + eps) / (|P| + |T| + eps).

    P are the softmax probabilities, T the one-hot targets, sums over the batch and all pixels (Milletari
    et al., "V-Net", 2016, with ``eps`` smoothing so a class absent from both counts as perfect). 0 for a
    perfect prediction, at most 1.
    """
    target = class_targets(logits, target_classes)
    probs = logits.float().softmax(1)                                         # (B, K, H, W)
    onehot = F.one_hot(target, logits.shape[1]).movedim(-1, 1).to(probs.dtype)  # (B, K, H, W)
    dims = (0, *range(2, logits.dim()))
    inter = (probs * onehot).sum(dims)                                        # (K,)
    denom = probs.sum(dims) + onehot.sum(dims)                                # (K,)
    return 1 - ((2 * inter + eps) / (denom + eps)).mean()


def segmentation_loss(logits: torch.Tensor, targets: torch.Tensor, kind: str = "ce") -> LossBreakdown:
    """Cross-entropy, Dice, or their sum ("ce+dice") as a :class:`LossBreakdown` with terms "ce"/"dice"."""
    if kind not in SEGMENTATION_LOSSES:
        raise ValueError(f"unknown segmentation loss {kind!r}; expected one of {SEGMENTATION_LOSSES}")
    target = class_targets(logits, targets)
    terms: dict[str, torch.Tensor] = {}
    if "ce" in kind.split("+"):
        terms["ce"] = F.cross_entropy(logits.float(), target)
    if "dice" in kind.split("+"):
        terms["dice"] = dice_loss(logits, target)
    total = terms.get("ce", 0) + terms.get("dice", 0)
    return LossBreakdown(total, terms)
