"""What a model is trained to minimise: small objects the training loop calls, so the loop never names a task.

An objective takes the model's output (:class:`~aekit.models.ModelOutput`) and the batch targets and returns a
:class:`~aekit.losses.LossBreakdown`. Strings (``"mse"``, ``"bce"``, ``"ce"``, ``"dice"``, ``"ce+dice"``,
``"classification"``, ``"rate-distortion"``) map to objectives through one registry (:func:`make_objective`); any
callable ``(output, target) -> LossBreakdown`` works too.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from aekit.losses import (RECONSTRUCTION_LOSSES, SEGMENTATION_LOSSES, LossBreakdown, segmentation_loss,
                          total_loss)
from aekit.registry import Registry

_OBJECTIVES: Registry[Callable[[str], "Objective"]] = Registry("objective")


class Objective:
    """Base class. ``target_is_data``: the targets are data in the inputs' units (scaled with them)."""

    name: str = ""
    target_is_data: bool = True

    def check(self, model) -> None:
        """Raise ``ValueError`` when ``model`` cannot be trained with this objective (before any work)."""

    def __call__(self, out, target: torch.Tensor) -> LossBreakdown:
        raise NotImplementedError

    def diagnose(self, model, x: torch.Tensor) -> dict:
        """Checks on the trained model (e.g. collapse), recorded in ``TrainResult.diagnostics``."""
        return {}


class Reconstruction(Objective):
    """Reconstruction error (``"mse"``, or ``"bce"`` on a sigmoid output's logits) plus the model's own
    regularisers (KL, sparsity, commitment, contractive, ... from ``ModelOutput.regularizers``)."""

    def __init__(self, kind: str = "mse"):
        if kind not in RECONSTRUCTION_LOSSES:
            raise ValueError(f"loss={kind!r}; expected one of {RECONSTRUCTION_LOSSES}")
        self.name = self.kind = kind
        self._logits = False  # a sigmoid output's pre-activation is used for BCE (set by check)

    def check(self, model) -> None:
        if self.kind == "bce" and model.output_activation != "sigmoid":
            raise ValueError(f"loss='bce' needs a model with output_activation='sigmoid' (outputs in [0, 1]); "
                             f"this {model.name!r} model has output_activation={model.output_activation!r}")
        self._logits = model.output_activation == "sigmoid"

    def __call__(self, out, target):
        return total_loss(out.recon, target, out.regularizers, self.kind,
                          logits=out.pre_output if self._logits else None)

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

    def __call__(self, out, target):
        members = out.pre_output
        per_sample = (members - target.unsqueeze(0)).pow(2).flatten(2).mean(-1)       # (n_members, B)
        weights = torch.poisson(torch.ones_like(per_sample))
        mse = (weights * per_sample).mean(1).sum()
        return LossBreakdown(sum(out.regularizers.values(), mse), {"mse": mse / len(members), **out.regularizers})


class Segmentation(Objective):
    """Per-pixel class loss on (B, K, H, W) logits (``ModelOutput.pre_output``) against (B, H, W) class maps."""

    target_is_data = False

    def __init__(self, kind: str = "ce"):
        if kind not in SEGMENTATION_LOSSES:
            raise ValueError(f"loss={kind!r}; expected one of {SEGMENTATION_LOSSES}")
        self.name = self.kind = kind

    def check(self, model) -> None:
        if getattr(model, "num_classes", 0) < 2:
            raise ValueError(f"loss={self.kind!r} needs a segmentation model with num_classes >= 2, e.g. "
                             f"create_model('unet', ..., num_classes=K); got a {model.name!r} model")

    def __call__(self, out, target):
        seg = segmentation_loss(out.pre_output, target, self.kind)
        return LossBreakdown(sum(out.regularizers.values(), seg.total), {**seg.terms, **out.regularizers})


class Classification(Objective):
    """Cross-entropy of (B, K) class logits (``ModelOutput.pre_output``) against (B,) class indices."""

    name = "classification"
    target_is_data = False

    def __call__(self, out, target):
        ce = F.cross_entropy(out.pre_output.float(), target.reshape(-1).long())
        return LossBreakdown(ce, {"ce": ce})


class JointClassification(Objective):
    """Few-label classification trained jointly with reconstruction on all the data, labelled or not.

    The network (``EncoderClassifier``'s joint network) gives class logits in ``pre_output`` for the inputs
    as the training loop corrupted them (the *weak* view: a small random distortion), and ``full(x)`` gives
    reconstruction and logits together. The targets are rows ``[class index or -1 for unlabelled, clean
    scaled sample flattened...]``. The loss is the sum of

    - the cross-entropy of the labelled rows' weak views;
    - ``consistency_weight`` x the cross-entropy of the unlabelled rows' *strong* views (``strong``: a
      corruption of the clean samples drawn here) against the class the network gives their weak views,
      counted where that class has a probability of at least ``threshold`` (pseudo-labels with consistency,
      Sohn et al., "FixMatch", NeurIPS 2020), its weight ramped up linearly over the first ``rampup``
      fraction of training;
    - ``reconstruction_weight`` x the squared error of the strong views' reconstructions against the clean
      samples (the multi-task route: Ranzato & Szummer, ICML 2008; Rasmus et al., "Ladder networks", 2015).

    Each term is a mean over its own rows (labelled or unlabelled), so the share of labelled rows in a batch
    does not change the balance of the terms.
    """

    name = "joint-classification"
    target_is_data = False

    def __init__(self, *, strong, reconstruction_weight: float = 1.0, consistency_weight: float = 1.0,
                 threshold: float = 0.95, rampup: float = 0.1):
        self.strong = strong
        self.reconstruction_weight, self.consistency_weight = float(reconstruction_weight), float(consistency_weight)
        self.threshold, self.rampup = float(threshold), float(rampup)
        self._model = None

    def check(self, model) -> None:
        if not callable(getattr(model, "full", None)):
            raise ValueError(f"objective 'joint-classification' needs a network with a classification head "
                             f"(EncoderClassifier's joint network); got a {model.name!r} model")
        self._model = model

    def __call__(self, out, target):
        model, logits = self._model, out.pre_output.float()
        labels = target[:, 0].long()
        known = labels >= 0
        terms = {"ce": F.cross_entropy(logits[known], labels[known]) if known.any() else logits.sum() * 0.0}
        unknown = ~known
        if unknown.any() and (self.consistency_weight > 0 or self.reconstruction_weight > 0):
            clean = target[unknown, 1:].reshape(int(unknown.sum()), *model.input_shape)
            seed = int(torch.randint(0, 2 ** 62, (1,)))  # from the training loop's seeded random state
            strong = clean if self.strong is None else self.strong(clean, torch.Generator().manual_seed(seed))
            recon, strong_logits = model.full(strong)
            if self.consistency_weight > 0:
                conf, pseudo = torch.softmax(logits[unknown].detach(), 1).max(1)
                cons = (F.cross_entropy(strong_logits.float(), pseudo, reduction="none")
                        * (conf >= self.threshold)).mean()
                ramp = min(1.0, model.progress / self.rampup) if self.rampup > 0 else 1.0
                terms["consistency"] = self.consistency_weight * ramp * cons
            if self.reconstruction_weight > 0:
                terms["mse"] = self.reconstruction_weight * F.mse_loss(recon, clean)
        return LossBreakdown(sum(out.regularizers.values(), sum(terms.values())), {**terms, **out.regularizers})


class RateDistortion(Objective):
    """``"rate-distortion"``: ``lambda * 255^2 * MSE + rate`` for learned transform coding (Ballé et al., "End-to-end
    optimized image compression", ICLR 2017, arxiv 1611.01704, with their 2018 paper's MSE convention).

    The MSE is on [0, 1] targets (``255^2 * MSE``: the MSE on 0..255); the rate (bits per pixel) is the model's
    ``regularizers`` (unweighted: a bit costs 1) and ``lambda`` its ``stats["lambda"]``, the multiplier of the
    quality level the model drew for the batch (``transform-coding``, aekit/models/transform_coding.py)."""

    name = "rate-distortion"

    def check(self, model) -> None:
        if not getattr(model, "lambdas", None):
            raise ValueError(f"objective 'rate-distortion' needs a model with rate-distortion multipliers (lambdas) "
                             f"such as 'transform-coding'; got a {model.name!r} model")

    def __call__(self, out, target):
        mse = F.mse_loss(out.recon.float(), target.float())
        distortion = out.stats["lambda"] * 255.0 ** 2 * mse
        return LossBreakdown(sum(out.regularizers.values(), distortion),
                             {"mse": mse.detach(), "distortion": distortion, **out.regularizers})


for _kind in RECONSTRUCTION_LOSSES:
    _OBJECTIVES.register(_kind)(lambda kind=_kind: Reconstruction(kind))
for _kind in SEGMENTATION_LOSSES:
    _OBJECTIVES.register(_kind)(lambda kind=_kind: Segmentation(kind))
_OBJECTIVES.register("classification")(Classification)
_OBJECTIVES.register("member-mse")(MemberReconstruction)
_OBJECTIVES.register("rate-distortion")(RateDistortion)


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
    def __init__(self, fn):
        self.fn, self.name = fn, getattr(fn, "__name__", "custom")

    def __call__(self, out, target):
        return self.fn(out, target)
