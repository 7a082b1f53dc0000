"""Sparse autoencoders: ``sparse`` (fully connected) and ``sparse-conv`` (convolutional, fully connected code).

The code is usually over-complete (``latent_dim`` is the dictionary size) and kept sparse by ``penalty``:

- ``"l1"``: ReLU code + L1 activity penalty (Ng, "Sparse autoencoder", CS294A lecture notes 2011; as
  used for dictionary learning by Bricken et al., "Towards Monosemanticity", 2023). The decoder's
  columns are kept unit-norm, so the penalty cannot be dodged by shrinking the code and growing the
  decoder.
- ``"kl"``: sigmoid code + KL(rho || rho_hat_j) between a target firing rate rho and each unit's
  batch-mean activation (Ng 2011).
- ``"topk"``: only the k largest pre-activations survive, then a ReLU (Makhzani & Frey, "k-Sparse
  Autoencoders", ICLR 2014; Gao et al., "Scaling and evaluating sparse autoencoders", arXiv 2406.04093).
  Decoder columns are unit-norm; latents that have not fired for ``dead_steps`` training steps are
  "dead" and trained back by the AuxK loss: the top ``k_aux`` dead latents reconstruct the main
  model's residual (Gao et al., section A.2).

Training aids: the L1 / KL weight warms up linearly over the first ``warmup`` fraction of the training
steps; the encoder's last layer starts as the (normalised) transpose of the dictionary (Gao et al., A.1);
``sparse`` feeds its encoder x - b_dec, the input minus the decoder's output bias (Gao et al.; Bricken
et al.). Each of these kept most units alive at lr=3e-3 where, without it, many died in the first epoch.

Statistics in ``ModelOutput.stats``: ``l0`` (active units per sample; "active" means > 0, or > 0.5 for
the sigmoid code of ``"kl"``, which is never exactly 0), ``dead_fraction`` (units active for no sample
of the batch; for ``"topk"``, units that have not fired for ``dead_steps`` training steps),
``mean_activation`` and ``explained_variance`` (1 - residual / data variance over the batch).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize

from aekit.layers import get_activation, init_weights, mlp
from aekit.losses import explained_variance, kl_sparsity, l1_activity, topk_aux_loss
from aekit.models.base import Autoencoder, ModelOutput, register_model
from aekit.models.conv import ConvAutoencoder
from aekit.models.dense import HIDDEN
from aekit.validation import Integer, Options, Real

PENALTIES = ("l1", "kl", "topk")
# the sparsity arguments of both families (k and k_aux, whose range depends on latent_dim, are checked apart)
SPARSITY_CONSTRAINTS = {"dead_steps": Integer(1), "penalty": Options(*PENALTIES), "sparsity_weight": Real(0),
                        "beta": Real(0), "aux_weight": Real(0), "warmup": Real(0, 1),
                        "rho": Real(0, 1, closed="neither")}


class UnitNormColumns(nn.Module):
    """Parametrisation of a decoder weight (out, k): every column, one dictionary atom per code unit,
    divided by its L2 norm, so the used weight has unit-norm columns at every step."""

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight / weight.norm(dim=0, keepdim=True).clamp_min(1e-12)


def _check_sparsity(model: type[Autoencoder], latent_dim: int, n_in: int, penalty: str, sparsity_weight: float,
                    rho: float, beta: float, warmup: float, k: int | None, aux_weight: float, k_aux: int | None,
                    dead_steps: int) -> tuple[int, int]:
    """Validate the sparsity arguments of a ``model`` class; return (k, k_aux) with their defaults resolved."""
    model._check_args(latent_dim=latent_dim, dead_steps=dead_steps, penalty=penalty, sparsity_weight=sparsity_weight,
                      beta=beta, aux_weight=aux_weight, warmup=warmup, rho=rho)
    name = model.name
    k = max(1, min(32, latent_dim // 4)) if k is None else k
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= latent_dim:
        raise ValueError(f"model {name!r}: k={k!r} active units must be an integer between 1 and "
                         f"latent_dim={latent_dim}")
    k_aux = min(latent_dim, max(1, n_in // 2)) if k_aux is None else k_aux
    if not isinstance(k_aux, int) or isinstance(k_aux, bool) or not 1 <= k_aux <= latent_dim:
        raise ValueError(f"model {name!r}: k_aux={k_aux!r} must be an integer between 1 and "
                         f"latent_dim={latent_dim}")
    return k, k_aux


class _SparseCode:
    """The sparse code shared by both models: its activation, penalties, dead-unit buffer and statistics.

    A subclass builds ``encoder`` (input -> pre-activations (B, latent_dim)) and ``decoder`` (code ->
    output logits), then calls :meth:`_init_sparsity`. Mixed in before :class:`Autoencoder`.
    """

    sparse_code = True  # inactive units are the point: dead units are tracked in the stats instead
    overcomplete_ok = True  # the sparsity penalty, not the width, limits the code

    def _init_sparsity(self, penalty: str, sparsity_weight: float, rho: float, beta: float, warmup: float,
                       k: int, aux_weight: float, k_aux: int, dead_steps: int) -> None:
        self.penalty = penalty
        self.sparsity_weight, self.rho, self.beta = float(sparsity_weight), float(rho), float(beta)
        self.k, self.aux_weight, self.k_aux, self.dead_steps = k, float(aux_weight), k_aux, dead_steps
        self.n_in = math.prod(self.input_shape)
        self.warmup = float(warmup)
        self._penalty_scale = 1.0  # set by set_training_progress during training
        # training steps since each unit last fired (used by "topk": dead units, AuxK); saved with the weights
        self.register_buffer("steps_since_fired", torch.zeros(self.latent_dim, dtype=torch.long))
        if penalty in ("l1", "topk"):
            parametrize.register_parametrization(self.dictionary_layer(), "weight", UnitNormColumns())
        # tied initialisation (Gao et al., A.1): the encoder's last layer starts as the dictionary's
        # transpose, so unit j first responds to its own atom; with independent random layers over half
        # the ReLU units die in the first epoch at lr=3e-3
        last = [m for m in self.encoder.modules() if isinstance(m, nn.Linear)][-1]
        with torch.no_grad():
            last.weight.copy_(UnitNormColumns()(self.dictionary_layer().weight).T)  # (latent_dim, fan_in)

    def set_training_progress(self, step: int, total_steps: int) -> None:
        """Warm-up: the L1 / KL weight grows linearly from 0 over the first ``warmup`` of the training
        steps, so the code can learn something before the penalty pushes it to zero."""
        ramp = self.warmup * total_steps
        self._penalty_scale = 1.0 if ramp <= 0 else min(1.0, step / ramp)

    def dictionary_layer(self) -> nn.Linear:
        """The decoder's first linear layer: its weight's column j is the dictionary atom of unit j."""
        return next(m for m in self.decoder.modules() if isinstance(m, nn.Linear))

    def _sparsify(self, pre_code: torch.Tensor) -> torch.Tensor:
        """(B, latent_dim) pre-activations -> (B, latent_dim) sparse code."""
        if self.penalty == "l1":
            return torch.relu(pre_code)
        if self.penalty == "kl":
            return torch.sigmoid(pre_code)
        values, index = pre_code.topk(self.k, dim=1)                          # (B, k)
        return torch.zeros_like(pre_code).scatter(1, index, torch.relu(values))

    def _centre(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's input; subclasses may subtract a learned offset (the tied pre-bias)."""
        return x

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, *input_shape) -> (B, latent_dim) sparse code"""
        return self._sparsify(self.encoder(self._centre(x)))

    def dead_units(self) -> torch.Tensor:
        """(latent_dim,) bool: units that have not fired for ``dead_steps`` training steps."""
        return self.steps_since_fired >= self.dead_steps

    def _aux_k(self, x: torch.Tensor, pre_code: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
        """AuxK: the top ``k_aux`` dead latents reconstruct the residual x - reconstruction.

        Unlike Gao et al., the dead latents' pre-activations are used without the ReLU: a latent dies
        because its pre-activation went negative for every input, and a ReLU would then pass it no
        gradient (MNIST, 256 latents, k=32, 10 epochs: 30% dead with the ReLU, 3% without).
        """
        dead = self.dead_units()                                              # (latent_dim,)
        if not self.training or self.aux_weight == 0 or not bool(dead.any()):
            return pre.new_zeros(())
        masked = pre_code.masked_fill(~dead, float("-inf"))                   # (B, latent_dim), dead only
        values, index = masked.topk(self.k_aux, dim=1)                        # (B, k_aux)
        values = values.masked_fill(~dead[index], 0.0)                        # fewer dead than k_aux: 0
        z_aux = torch.zeros_like(pre_code).scatter(1, index, values)          # (B, latent_dim)
        # the decoder's response to z_aux alone: W_dec z_aux for a linear decoder (the biases cancel)
        aux_recon = self.decode_logits(z_aux) - self.decode_logits(torch.zeros_like(z_aux))  # (B, *shape)
        return self.aux_weight * topk_aux_loss(x - pre, aux_recon)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        pre_code = self.encoder(self._centre(x))                              # (B, latent_dim)
        code = self._sparsify(pre_code)                                       # (B, latent_dim), sparse
        pre = self.decode_logits(code)                                        # (B, *input_shape)
        recon = self.out_act(pre)
        if self.penalty == "l1":
            regularizers = {"l1": self._penalty_scale * self.sparsity_weight * l1_activity(code, self.n_in)}
        elif self.penalty == "kl":
            regularizers = {"kl_sparsity": self._penalty_scale * self.beta * kl_sparsity(code, self.rho, self.n_in)}
        else:
            regularizers = {"aux_k": self._aux_k(x, pre_code, pre)}

        c = code.detach()
        active = c > (0.5 if self.penalty == "kl" else 0.0)                   # (B, latent_dim)
        if self.penalty == "topk":
            if self.training:
                with torch.no_grad():
                    self.steps_since_fired.add_(1).masked_fill_(active.any(0), 0)
            dead = self.dead_units()
        else:
            dead = ~active.any(0)
        stats = {
            "l0": active.float().sum(1).mean(),
            "dead_fraction": dead.float().mean(),
            "mean_activation": c.float().mean(),
            "explained_variance": explained_variance(x, recon),
        }
        return ModelOutput(recon, code, pre, regularizers, stats)


@register_model("sparse")
class SparseAutoencoder(_SparseCode, Autoencoder):
    """D -> hidden... -> latent_dim (sparse code) -> reversed(hidden)... -> D.

    Without ``hidden`` layers (the default) the decoder is a linear dictionary: x_hat = W_dec h + b.
    ``sparsity_weight``: L1 weight ("l1"); ``rho``, ``beta``: target rate and weight of the KL penalty
    ("kl"); ``warmup``: fraction of the training steps over which those weights grow from 0; ``k``,
    ``aux_weight``, ``k_aux``, ``dead_steps``: "topk" (k defaults to min(32, latent_dim // 4), at least 1;
    k_aux to min(latent_dim, D // 2)). The penalties (L1: per-sample sum over units; KL: sum over units)
    are divided by the input size D, the scale of the per-element reconstruction loss.

    Defaults measured on 10,000 MNIST images, 10 epochs, latent_dim=256: "l1" L0 ~76, explained
    variance 0.82; "topk" (k=32) 0.82, 3% dead; "kl" mean activation 0.058 for rho=0.05.
    """

    input_kinds = ("table", "image", "sequence")  # flattens any sample
    example_input_shape = (20,)
    _constraints = {**Autoencoder._constraints, "hidden": HIDDEN, **SPARSITY_CONSTRAINTS}

    def __init__(self, *, input_shape, latent_dim: int = 256, hidden: tuple[int, ...] | list[int] = (),
                 activation: str = "gelu", output_activation: str | None = "clamp", penalty: str = "l1",
                 sparsity_weight: float = 0.3, rho: float = 0.05, beta: float = 3.0, warmup: float = 0.3,
                 k: int | None = None, aux_weight: float = 1 / 32, k_aux: int | None = None, dead_steps: int = 200):
        self._check_args(hidden=hidden)
        hidden = [int(h) for h in hidden]
        d = math.prod(int(s) for s in input_shape)
        k, k_aux = _check_sparsity(type(self), latent_dim, d, penalty, sparsity_weight, rho, beta, warmup,
                                   k, aux_weight, k_aux, dead_steps)
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, output_activation=output_activation)
        get_activation(activation)  # validate the name early
        self.encoder = nn.Sequential(nn.Flatten(), mlp([d, *hidden, latent_dim], activation))
        self.decoder = nn.Sequential(mlp([latent_dim, *hidden[::-1], d], activation),
                                     nn.Unflatten(1, self.input_shape))     # (B, *input_shape)
        init_weights(self)
        self._init_sparsity(penalty, sparsity_weight, rho, beta, warmup, k, aux_weight, k_aux, dead_steps)

    def _centre(self, x: torch.Tensor) -> torch.Tensor:
        """x - b_dec: the encoder sees the input minus the decoder's output bias (the "pre-bias" of Gao et
        al. and Bricken et al.), which centres it; otherwise, on non-negative data such as images, many
        ReLU units start negative for every input and never fire."""
        bias = [m for m in self.decoder.modules() if isinstance(m, nn.Linear)][-1].bias  # (D,)
        return x - bias.view(self.input_shape)


@register_model("sparse-conv")
class SparseConvAutoencoder(_SparseCode, ConvAutoencoder):
    """The ``conv`` model (same arguments and defaults) with a sparse fully connected code.

    The sparsity arguments are those of ``sparse``; ``sparsity_weight`` defaults to 0.1 here, because the
    deeper decoder lets L1 push the whole code to zero (every unit dead) at 0.3 in short runs.
    """

    _constraints = {**ConvAutoencoder._constraints, **SPARSITY_CONSTRAINTS}

    def __init__(self, *, input_shape, latent_dim: int = 256, channels: tuple[int, ...] | list[int] = (16, 32),
                 depth: int = 2, activation: str = "gelu", output_activation: str | None = "clamp",
                 downsample: str = "stride", upsample: str = "transpose", batch_norm: bool = False,
                 penalty: str = "l1", sparsity_weight: float = 0.1, rho: float = 0.05, beta: float = 3.0,
                 warmup: float = 0.3, k: int | None = None, aux_weight: float = 1 / 32, k_aux: int | None = None,
                 dead_steps: int = 200):
        d = math.prod(int(s) for s in input_shape)
        k, k_aux = _check_sparsity(type(self), latent_dim, d, penalty, sparsity_weight, rho, beta, warmup,
                                   k, aux_weight, k_aux, dead_steps)
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, channels=channels, depth=depth,
                         activation=activation, output_activation=output_activation, downsample=downsample,
                         upsample=upsample, batch_norm=batch_norm)  # encoder ends in Linear: pre-activations
        self._init_sparsity(penalty, sparsity_weight, rho, beta, warmup, k, aux_weight, k_aux, dead_steps)
