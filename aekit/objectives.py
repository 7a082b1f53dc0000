"""What a model is trained to minimise: small objects the training loop calls, so the loop never names a task.

An objective is ``loss(model, batch) -> LossBreakdown``: it runs the model once over what it needs of the batch
record (:class:`aekit.training.batch.Batch`: ``input``, ``target`` and named fields such as ``label``, ``strong``
or ``codes``) and scores the output. Objectives hold no state: one object may train any number of models.
Strings (``"mse"``, ``"bce"``, ``"ce"``, ``"dice"``, ``"ce+dice"``, ``"classification"``, ``"rate-distortion"``,
``"prior-nll"``, ...) map to objectives through one registry (:func:`make_objective`); any callable
``(output, target) -> LossBreakdown`` works too (scored on one forward pass over the input).
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from aekit.losses import (RECONSTRUCTION_LOSSES, SEGMENTATION_LOSSES, LossBreakdown, segmentation_loss,
                          total_loss)
from aekit.registry import Registry

_OBJECTIVES: Registry[Any] = Registry("objective")  # Objective classes and factories of no argument


class Objective:
    """Base class. ``target_is_data``: the targets are data in the inputs' units (scaled with them).

    Subclasses that score one forward pass over ``batch["input"]`` implement :meth:`score`; others override
    :meth:`loss`. ``model`` may be wrapped for the step (DDP, ``torch.compile``): call it, and read its
    attributes through :func:`unwrap`.
    """

    name: str = ""
    target_is_data: bool = True

    def check(self, model) -> None:
        """Raise ``ValueError`` when ``model`` cannot be trained with this objective (before any work); it keeps
        nothing."""

    def loss(self, model, batch) -> LossBreakdown:
        """The loss of ``model`` on the record ``batch``: one forward pass over its input, scored by :meth:`score`."""
        out = model(batch["input"])
        lb = self.score(out, batch, unwrap(model))
        return LossBreakdown(lb.total, lb.terms, out.stats)

    def score(self, out, batch, model) -> LossBreakdown:
        raise NotImplementedError(f"objective {self.name!r} implements neither loss(model, batch) nor score")

    def diagnose(self, model, x: torch.Tensor) -> dict:
        """Checks on the trained model (e.g. collapse), recorded in ``TrainResult.diagnostics``."""
        return {}


def unwrap(model):
    """The model inside a training wrapper (DistributedDataParallel's ``module``; ``torch.compile`` forwards
    attributes itself), for reading its attributes."""
    return getattr(model, "module", model)


class Reconstruction(Objective):
    """Reconstruction error (``"mse"``, or ``"bce"`` on a sigmoid output's logits) of ``batch["target"]`` plus the
    model's own regularisers (KL, sparsity, commitment, contractive, ... from ``ModelOutput.regularizers``)."""

    def __init__(self, kind: str = "mse"):
        if kind not in RECONSTRUCTION_LOSSES:
            raise ValueError(f"loss={kind!r}; expected one of {RECONSTRUCTION_LOSSES}")
        self.name = self.kind = kind

    def check(self, model) -> None:
        if self.kind == "bce" and model.output_activation != "sigmoid":
            raise ValueError(f"loss='bce' needs a model with output_activation='sigmoid' (outputs in [0, 1]); "
                             f"this {model.name!r} model has output_activation={model.output_activation!r}")

    def score(self, out, batch, model):
        logits = getattr(model, "output_activation", None) == "sigmoid"  # a sigmoid's pre-activation for BCE
        return total_loss(out.recon, batch["target"], out.regularizers, self.kind,
                          logits=out.pre_output if logits else None)

    def diagnose(self, model, x):
        from aekit.diagnostics import check_collapse
        return check_collapse(model, x)


class MemberReconstruction(Objective):
    """``"member-mse"``: each member of an ensemble model (``mlp-ensemble``) learns its own reconstruction.

    ``ModelOutput.pre_output`` holds the members' reconstructions, (n_members, B, *sample); each member's
    squared error per sample is weighted by a Poisson(1) draw from torch's random state (seeded by the
    training loop), so every member sees its own bootstrap resample of the data (online bagging, Oza &
    Russell, AISTATS 2001), and the losses are summed over members, so each member's gradient is its own.
    """

    name = "member-mse"

    def check(self, model) -> None:
        if getattr(model, "n_members", None) is None:
            raise ValueError(f"objective 'member-mse' needs an ensemble model such as 'mlp-ensemble'; got a "
                             f"{model.name!r} model")

    def score(self, out, batch, model):
        members, target = out.pre_output, batch["target"]
        per_sample = (members - target.unsqueeze(0)).pow(2).flatten(2).mean(-1)       # (n_members, B)
        weights = torch.poisson(torch.ones_like(per_sample))
        mse = (weights * per_sample).mean(1).sum()
        return LossBreakdown(sum(out.regularizers.values(), mse), {"mse": mse / len(members), **out.regularizers})


def prefix_sizes(latent_dim: int) -> list[int]:
    """The code sizes an ordered code is trained for: 1, 2, 4, ... below ``latent_dim``, then ``latent_dim``."""
    sizes, k = [], 1
    while k < int(latent_dim):
        sizes.append(k)
        k *= 2
    return sizes + [int(latent_dim)]


def truncate(z: torch.Tensor, k: int) -> torch.Tensor:
    """The code ``z`` (B, d) with its units from ``k`` on set to zero: what its first ``k`` values alone say."""
    return torch.cat([z[:, :k], z.new_zeros(len(z), z.shape[1] - k)], 1) if k < z.shape[1] else z


def decode_prefix(model, z: torch.Tensor, k: int) -> torch.Tensor:
    """``model``'s output from the first ``k`` values of the codes ``z`` (B, d): a model that decodes prefixes
    (``prefix-code``, aekit/models/prefix.py) reads them alone; any other, the code with the rest zero."""
    return model.decode(z[:, :k] if getattr(model, "decodes_prefixes", False) else truncate(z, k))


class OrderedReconstruction(Objective):
    """``"ordered-mse"``: an ordered code, whose first ``k`` values give the best reconstruction the model can
    for every ``k``.

    A weighted mean, over the code sizes ``k`` of :func:`prefix_sizes` (1, 2, 4, ..., latent_dim), of the
    squared error of the decoder's output from the code's first ``k`` units, plus the model's own regularisers:
    the Matryoshka objective (Kusupati et al., "Matryoshka representation learning", NeurIPS 2022), a
    deterministic sum over a geometric set of prefixes in place of nested dropout's one random prefix per step
    (Rippel et al., "Learning ordered representations with nested dropout", ICML 2014). One encoder pass, one
    decoder pass per size. A ``prefix-code`` model (aekit/models/prefix.py, what ``Reducer(ordered=True)``
    trains) decodes each size with its own decoder; any other reads the absent units as zero.

    The weights: each size's ``1 / MSE^2`` in the batch (not differentiated), normalised to sum to 1. The small
    codes' errors are several times the large ones', so equal weights let them steer the shared encoder and
    leave the whole code far from a model trained for it alone; ``1 / MSE`` makes every size's relative error
    count alike, and the square leans on the large sizes. On MNIST (prefix-code around mlp, 10,000 digits, 5
    epochs) the worst ratio to a model trained for one size alone was 1.24 with equal weights, 1.15 with
    ``1 / MSE``, 1.09 with ``1 / MSE^2``, 1.11 with ``1 / MSE^3`` (benchmarks/results/ordered-codes.md, with
    the other variants tried). Recorded: ``mse`` (the whole code) and ``prefix_mse`` (the sizes' plain mean).
    """

    name = "ordered-mse"

    def check(self, model) -> None:
        if len(getattr(model, "code_shape", ())) != 1 or not getattr(model, "can_decode", False) \
                or getattr(model, "n_members", None) is not None:
            raise ValueError(f"objective 'ordered-mse' needs a model with a flat code it can decode alone (such as "
                             f"'mlp' or 'conv'); the {getattr(model, 'name', model)!r} model has code shape "
                             f"{getattr(model, 'code_shape', None)}")

    def score(self, out, batch, model):
        target = batch["target"]
        full = F.mse_loss(out.recon, target)
        sizes = prefix_sizes(out.code.shape[1])
        errors = torch.stack([F.mse_loss(decode_prefix(model, out.code, k), target) for k in sizes[:-1]] + [full])
        weights = errors.detach().clamp_min(1e-12) ** -2.0
        loss = (weights / weights.sum() * errors).sum()
        return LossBreakdown(sum(out.regularizers.values(), loss),
                             {"mse": full.detach(), "prefix_mse": errors.detach().mean(), **out.regularizers})


class DomainReconstruction(Objective):
    """``"domain-mse"``: each row reconstructed through the decoder of its domain (the batch's ``domain`` field,
    int64 domain indices) by a model with one decoder per domain (``shared-encoder``,
    aekit/models/domains.py), plus ``align_weight`` x the squared maximum mean discrepancy between the codes of
    domain 0 and domain 1 in the batch (Gaussian kernels at 1/4, 1 and 4 times the batch's median squared
    distance; Gretton et al., "A kernel two-sample test", JMLR 2012), so one code carries no sign of its
    domain and another domain's decoder reads it: the shared latent space translation needs (Liu et al.,
    "Unsupervised image-to-image translation networks", NeurIPS 2017, align the codes with a VAE prior;
    a kernel test statistic is the lighter choice). Recorded: ``mse`` and ``mmd``."""

    name = "domain-mse"

    def __init__(self, *, align_weight: float = 0.05):
        self.align_weight = float(align_weight)

    def check(self, model) -> None:
        if getattr(model, "n_domains", None) is None:
            raise ValueError(f"objective 'domain-mse' needs a model with one decoder per domain ('shared-encoder'); "
                             f"got a {getattr(model, 'name', model)!r} model")

    def loss(self, model, batch):
        domain = batch["domain"]
        out = model(batch["input"], domain)
        mse = F.mse_loss(out.recon, batch["target"])
        a, b = out.code[domain == 0], out.code[domain == 1]
        mmd = _mmd(a.flatten(1), b.flatten(1)) if len(a) > 1 and len(b) > 1 else mse.detach() * 0.0
        return LossBreakdown(sum(out.regularizers.values(), mse + self.align_weight * mmd),
                             {"mse": mse, "mmd": mmd.detach(), **out.regularizers}, out.stats)


def _mmd(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The biased squared maximum mean discrepancy of two samples (n, d), (m, d) under a sum of Gaussian kernels
    whose widths follow the samples' median squared distance (not differentiated)."""
    x = torch.cat([a, b]).float()
    sq = x.pow(2).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2 * x @ x.T).clamp_min(0)                 # (n + m, n + m)
    scale = d2.detach().median().clamp_min(1e-8)
    k = sum(torch.exp(-d2 / (scale * f)) for f in (0.25, 1.0, 4.0))
    n = len(a)
    return k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean()


class Segmentation(Objective):
    """Per-pixel class loss on (B, K, H, W) logits (``ModelOutput.pre_output``) against (B, H, W) class maps
    (``batch["target"]``)."""

    target_is_data = False

    def __init__(self, kind: str = "ce"):
        if kind not in SEGMENTATION_LOSSES:
            raise ValueError(f"loss={kind!r}; expected one of {SEGMENTATION_LOSSES}")
        self.name = self.kind = kind

    def check(self, model) -> None:
        if getattr(model, "num_classes", 0) < 2:
            raise ValueError(f"loss={self.kind!r} needs a segmentation model with num_classes >= 2, e.g. "
                             f"create_model('unet', ..., num_classes=K); got a {model.name!r} model")

    def score(self, out, batch, model):
        seg = segmentation_loss(out.pre_output, batch["target"], self.kind)
        return LossBreakdown(sum(out.regularizers.values(), seg.total), {**seg.terms, **out.regularizers})


class Classification(Objective):
    """Cross-entropy of a classifier network's (B, K) class logits (its output's ``logits``) against the batch's
    ``label`` field, (B,) int64 class indices."""

    name = "classification"
    target_is_data = False

    def score(self, out, batch, model):
        ce = F.cross_entropy(out.logits.float(), batch["label"])
        return LossBreakdown(ce, {"ce": ce})


class JointClassification(Objective):
    """Few-label classification trained jointly with reconstruction on all the data, labelled or not.

    The batch holds ``input`` (every row's *weak* view: the augmentation's small random distortion, or the sample
    itself), ``target`` (the clean samples), ``label`` (int64 class index, -1 for unlabelled rows) and ``strong``
    (a strong corruption of the clean samples, drawn by the augmentation; without it, as in evaluation, the clean
    samples). The network (``EncoderClassifier``'s
    joint network) gives ``logits`` and ``recon`` for every row it is given; one forward pass runs over the weak
    views and the unlabelled rows' strong views together. The loss is the sum of

    - the cross-entropy of the labelled rows' weak views;
    - ``consistency_weight`` x the cross-entropy of the unlabelled rows' strong views against the class the
      network gives their weak views, counted where that class has a probability of at least ``threshold``
      (pseudo-labels with consistency, Sohn et al., "FixMatch", NeurIPS 2020), its weight ramped up linearly
      over the first ``rampup`` fraction of training (the network's ``progress``);
    - ``reconstruction_weight`` x the squared error of the strong views' reconstructions against the clean
      samples (the multi-task route: Ranzato & Szummer, ICML 2008; Rasmus et al., "Ladder networks", 2015);

    and the network's own regularisers. Each term is a mean over its own rows (labelled or unlabelled), so the
    share of labelled rows in a batch does not change the balance of the terms.
    """

    name = "joint-classification"
    target_is_data = False

    def __init__(self, *, reconstruction_weight: float = 1.0, consistency_weight: float = 1.0,
                 threshold: float = 0.95, rampup: float = 0.1):
        self.reconstruction_weight, self.consistency_weight = float(reconstruction_weight), float(consistency_weight)
        self.threshold, self.rampup = float(threshold), float(rampup)

    def check(self, model) -> None:
        if not isinstance(getattr(model, "head", None), torch.nn.Module) or not hasattr(model, "progress"):
            raise ValueError(f"objective 'joint-classification' needs a network with a classification head and a "
                             f"decoder (EncoderClassifier's joint network); got a {getattr(model, 'name', model)!r} "
                             f"model")

    def loss(self, model, batch):
        labels = batch["label"]
        known, unknown = labels >= 0, labels < 0
        n, n_u = len(labels), int(unknown.sum())
        views = batch["input"]
        strong_needed = n_u > 0 and (self.consistency_weight > 0 or self.reconstruction_weight > 0)
        if strong_needed:  # without a strong view (evaluation, no augmentation): the clean samples
            views = torch.cat([views, batch.get("strong", batch["target"])[unknown]])
        out = model(views)                                               # one pass: weak views, then strong ones
        logits = out.logits.float()
        weak = logits[:n]
        terms = {"ce": F.cross_entropy(weak[known], labels[known]) if known.any() else weak.sum() * 0.0}
        if strong_needed:
            if self.consistency_weight > 0:
                conf, pseudo = torch.softmax(weak[unknown].detach(), 1).max(1)
                cons = (F.cross_entropy(logits[n:], pseudo, reduction="none") * (conf >= self.threshold)).mean()
                progress = unwrap(model).progress
                ramp = min(1.0, progress / self.rampup) if self.rampup > 0 else 1.0
                terms["consistency"] = self.consistency_weight * ramp * cons
            if self.reconstruction_weight > 0:
                terms["mse"] = self.reconstruction_weight * F.mse_loss(out.recon[n:], batch["target"][unknown])
        return LossBreakdown(sum(out.regularizers.values(), sum(terms.values())), {**terms, **out.regularizers},
                             out.stats)


class RateDistortion(Objective):
    """``"rate-distortion"``: ``lambda * 255^2 * MSE + rate`` for learned transform coding (Ballé et al., "End-to-end
    optimized image compression", ICLR 2017, arxiv 1611.01704, with their 2018 paper's MSE convention).

    The MSE is on [0, 1] targets (``255^2 * MSE``: the MSE on 0..255); the rate (bits per pixel) is the model's
    ``regularizers`` (unweighted: a bit costs 1) and ``lambda`` its output's ``multiplier``: the Lagrange
    multiplier of the quality level the model drew for the batch (``transform-coding``,
    aekit/models/transform_coding.py)."""

    name = "rate-distortion"

    def check(self, model) -> None:
        if not getattr(model, "lambdas", None):
            raise ValueError(f"objective 'rate-distortion' needs a model with rate-distortion multipliers (lambdas) "
                             f"such as 'transform-coding'; got a {model.name!r} model")

    def score(self, out, batch, model):
        mse = F.mse_loss(out.recon.float(), batch["target"].float())
        distortion = out.multiplier * 255.0 ** 2 * mse
        return LossBreakdown(sum(out.regularizers.values(), distortion),
                             {"mse": mse.detach(), "distortion": distortion, **out.regularizers})


class PriorNLL(Objective):
    """``"prior-nll"``: the negative log-likelihood, in nats per code, of the batch's ``codes`` (int64 code
    indices (B, h, w)) under an autoregressive prior whose forward pass gives their (B, K, h, w) logits (VQ-VAE's
    :class:`~aekit.models.vq.CodePrior`)."""

    name = "prior-nll"
    target_is_data = False

    def check(self, model) -> None:
        if not callable(getattr(model, "nll", None)):
            raise ValueError(f"objective 'prior-nll' needs a prior over code indices with an nll(codes) method "
                             f"(a VQ-VAE's CodePrior); got a {type(model).__name__}")

    def loss(self, model, batch):
        codes = batch["codes"]
        nll = F.cross_entropy(model(codes), codes)   # what CodePrior.nll computes, through the step's wrapper
        return LossBreakdown(nll, {"nll": nll})


for _kind in RECONSTRUCTION_LOSSES:
    _OBJECTIVES.register(_kind)(lambda kind=_kind: Reconstruction(kind))
for _kind in SEGMENTATION_LOSSES:
    _OBJECTIVES.register(_kind)(lambda kind=_kind: Segmentation(kind))
_OBJECTIVES.register("classification")(Classification)
_OBJECTIVES.register("member-mse")(MemberReconstruction)
_OBJECTIVES.register("ordered-mse")(OrderedReconstruction)
_OBJECTIVES.register("domain-mse")(DomainReconstruction)
_OBJECTIVES.register("rate-distortion")(RateDistortion)
_OBJECTIVES.register("prior-nll")(PriorNLL)


def list_objectives() -> list[str]:
    return _OBJECTIVES.names()


def make_objective(spec: "str | Objective | Callable | None") -> Objective:
    """An objective from its name (see :func:`list_objectives`), an object, or a callable ``(out, target)``."""
    if spec is None:
        return Reconstruction("mse")
    if isinstance(spec, Objective):
        return spec
    if isinstance(spec, str):
        return _OBJECTIVES.get(spec)()
    if callable(spec):
        return _Callable(spec)
    raise TypeError(f"objective={spec!r}; expected a name {list_objectives()}, an Objective or a callable")


class _Callable(Objective):
    """A function ``(output, target) -> LossBreakdown`` scored on one forward pass over the input."""

    def __init__(self, fn):
        self.fn, self.name = fn, getattr(fn, "__name__", "custom")

    def score(self, out, batch, model):
        return self.fn(out, batch["target"])
