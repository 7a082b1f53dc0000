"""How an anomaly detector turns a member's errors into a score, and its scores into a threshold: small
registered objects (no string branches in :class:`~aekit.AnomalyDetector`), so a new score or a new
threshold rule is one class with a decorator (``@register_score_type``, ``@register_threshold_rule``).

Score types get, per sample, the reconstruction error ``err`` and the negative log-likelihood ``nll`` of the
code under the member's Gaussian mixture, and that member's training statistics ``stats``
(``err_mean``/``err_std`` of the log-error, ``nll_mean``/``nll_std``). Threshold rules map anomaly scores
(higher = more abnormal) to the cut above which a sample is flagged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from aekit.registry import Registry
from aekit.validation import Constraint, Real, check_params

_SCORES: Registry[type["ScoreType"]] = Registry("score type")
_RULES: Registry[type["ThresholdRule"]] = Registry("threshold rule")


def register_score_type(name: str):
    return _SCORES.register(name)


def register_threshold_rule(name: str):
    return _RULES.register(name)


def list_score_types() -> list[str]:
    return _SCORES.names()


def list_threshold_rules() -> list[str]:
    return _RULES.names()


def score_type(name: str) -> "ScoreType":
    return _SCORES.get(name)()


def threshold_rule(name: str) -> "ThresholdRule":
    return _RULES.get(name)()


# ------------------------------------------------------------------------------------------ score types
class ScoreType:
    name: ClassVar[str] = ""
    uses_density: ClassVar[bool] = True     # needs the mixture of the codes (nll)

    def __call__(self, err: np.ndarray, nll: np.ndarray | None, stats: dict) -> np.ndarray:
        raise NotImplementedError


@register_score_type("reconstruction")
class ReconstructionScore(ScoreType):
    """The mean squared reconstruction error."""

    uses_density = False

    def __call__(self, err, nll, stats):
        return err


@register_score_type("latent")
class LatentScore(ScoreType):
    """The negative log-likelihood of the code under the Gaussian mixture fitted to the training codes."""

    def __call__(self, err, nll, stats):
        return nll


@register_score_type("combined")
class CombinedScore(ScoreType):
    """The sum of the standardised log-error and the standardised latent NLL (training statistics)."""

    def __call__(self, err, nll, stats):
        return (np.log(err + 1e-12) - stats["err_mean"]) / stats["err_std"] + (nll - stats["nll_mean"]) / stats["nll_std"]


# ------------------------------------------------------------------------------------------ thresholds
@dataclass
class ThresholdRule:
    """``threshold(scores, value, labels)``: the cut above which scores are flagged. ``param`` names the
    AnomalyDetector parameter that holds the rule's value (None: the rule takes none); ``needs_labels``
    rules are only used by ``set_threshold(X, y, method=...)``."""

    name: ClassVar[str] = ""
    param: ClassVar[str | None] = None
    constraint: ClassVar[Constraint | None] = None
    needs_labels: ClassVar[bool] = False

    def check(self, value) -> None:
        if self.param is not None:
            check_params(self.name, {self.param: value}, {self.param: self.constraint})

    def threshold(self, scores: np.ndarray, value=None, labels: np.ndarray | None = None) -> float:
        raise NotImplementedError


@register_threshold_rule("contamination")
class ContaminationRule(ThresholdRule):
    """Flag the top ``contamination`` fraction of the scores (scikit-learn's ``offset_`` rule)."""

    param, constraint = "contamination", Real(0, 0.5, closed="right")

    def check(self, value) -> None:
        if isinstance(value, str) and value == "auto":   # the estimator's default, which names no fraction
            raise ValueError(f"method='contamination' needs a contamination in (0, 0.5], got {value!r}")
        super().check(value)

    def threshold(self, scores, value=None, labels=None):
        return float(-np.percentile(-scores, 100.0 * float(value)))


@register_threshold_rule("percentile")
class PercentileRule(ThresholdRule):
    """The ``percentile`` of the scores."""

    param, constraint = "percentile", Real(0, 100, closed="right")

    def threshold(self, scores, value=None, labels=None):
        return float(np.percentile(scores, float(value)))


@register_threshold_rule("sigma")
class SigmaRule(ThresholdRule):
    """Mean + ``n_sigma`` standard deviations of the scores."""

    param, constraint = "n_sigma", Real(0)

    def threshold(self, scores, value=None, labels=None):
        return float(scores.mean() + float(value) * scores.std())


@register_threshold_rule("max")
class MaxRule(ThresholdRule):
    """The largest score: nothing like the training data is flagged."""

    def threshold(self, scores, value=None, labels=None):
        return float(scores.max())


@register_threshold_rule("f1")
class BestF1Rule(ThresholdRule):
    """The cut with the best F1 score on labelled data (1 = anomaly), half-way to the next lower score."""

    needs_labels = True

    def threshold(self, scores, value=None, labels=None):
        from sklearn.metrics import precision_recall_curve

        if labels is None or labels.min() == labels.max():
            raise ValueError("set_threshold(method='f1') needs labelled data with both normal samples and "
                             "anomalies: set_threshold(X_val, y_val)")
        prec, rec, cuts = precision_recall_curve(labels, scores)
        f1 = 2 * prec[:-1] * rec[:-1] / np.maximum(prec[:-1] + rec[:-1], 1e-12)
        best = float(cuts[int(np.argmax(f1))])   # flags s >= best
        below = scores[scores < best]
        return float((best + below.max()) / 2) if below.size else float(best - 1e-12 * max(1, abs(best)))
