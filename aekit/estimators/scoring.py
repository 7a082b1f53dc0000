"""How an anomaly detector turns a member's errors into a score, and its scores into a threshold: small
registered objects (no string branches in the detectors), so a new score or a new threshold rule is one
class with a decorator (``@register_score_type``, ``@register_threshold_rule``; a new fitted statistic is a
scorer part, ``aekit.estimators.detect.scorers.register_scorer``).

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


class ThresholdWarning(UserWarning):
    """A threshold flags none, or all, of the scores it was set on."""


# ------------------------------------------------------------------------------------------ score types
class ScoreType:
    """``__call__(err, nll, stats)``; a type with ``uses_neighbours`` also gets ``knn=`` (the distance of each
    code to its ``n_neighbors``-th nearest training code) and ``stats`` then holds ``knn_mean``/``knn_std``.

    ``needs`` names the fitted scorer parts (:mod:`aekit.estimators.detect.scorers`) the detector fits for this
    type, by default from the two flags; a type that needs a newly registered part names it there and
    overrides :meth:`combine`, which gets each part's values (per sample) and the unit's statistics."""

    name: ClassVar[str] = ""
    uses_density: ClassVar[bool] = True     # needs the mixture of the codes (nll)
    uses_neighbours: ClassVar[bool] = False  # needs the training codes (knn)
    needs_parts: ClassVar[bool] = False      # combines the parts the detector names (``score_parts``)

    @property
    def needs(self) -> tuple[str, ...]:
        return ("error", *(("density",) if self.uses_density else ()),
                *(("neighbours",) if self.uses_neighbours else ()))

    def combine(self, values: dict[str, np.ndarray], stats: dict) -> np.ndarray:
        """The score of one unit from its parts' ``values`` (``{"error": ..., "density": ..., ...}``)."""
        knn = {"knn": values["neighbours"]} if "neighbours" in values else {}
        return self(values["error"], values.get("density"), stats, **knn)

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
        return ((np.log(err + 1e-12) - stats["err_mean"]) / stats["err_std"]
                + (nll - stats["nll_mean"]) / stats["nll_std"])


@register_score_type("error+knn")
class ErrorKnnScore(ScoreType):
    """The standardised error plus the standardised kNN distance of the code (training statistics): the error
    catches what the decoder cannot rebuild, the distance what it rebuilds but lies where codes are sparse."""

    uses_density, uses_neighbours = False, True

    def __call__(self, err, nll, stats, knn=None):
        return (err - stats["err_raw_mean"]) / stats["err_raw_std"] + (knn - stats["knn_mean"]) / stats["knn_std"]


@register_score_type("parts")
class PartsScore(ScoreType):
    """The weighted sum of the detector's ``score_parts`` (any registered scorer parts), each standardised by the
    mean and standard deviation of its values on the training data, so that parts that see different
    anomalies (the error what the decoder cannot rebuild, the code distance what lies where codes are sparse,
    the input tails and the isolation depth a single extreme feature) count on one scale; leaving a part out
    of ``score_parts`` switches it off."""

    uses_density, needs_parts = False, True

    def __init__(self):
        # set by the fitted scorer (aekit.estimators.detect.scorers): the weight of each part (default 1), and the
        # statistics keys of each part's training mean and standard deviation
        self.weights: dict[str, float] = {}
        self.standardisation: dict[str, tuple[str, str]] = {}

    def combine(self, values, stats):
        total = 0.0
        for name, v in values.items():
            mean_key, std_key = self.standardisation[name]
            total = total + self.weights.get(name, 1.0) * (v - stats[mean_key]) / stats[std_key]
        return total


# ------------------------------------------------------------------------------------------ thresholds
@dataclass
class ThresholdRule:
    """``threshold(scores, value, labels)``: the cut above which scores are flagged. ``param`` names the
    AnomalyDetector parameter that holds the rule's value (None: the rule takes none); ``needs_labels``
    rules are only used by ``set_threshold(X, y, method=...)``; ``flags_nothing`` rules flag none of the scores
    they are set on by design (no ThresholdWarning for that)."""

    name: ClassVar[str] = ""
    param: ClassVar[str | None] = None
    constraint: ClassVar[Constraint | None] = None
    needs_labels: ClassVar[bool] = False
    flags_nothing: ClassVar[bool] = False

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


@register_threshold_rule("robust")
class RobustRule(ThresholdRule):
    """For training data that may hold anomalies (the default). When the scores have a separate high mode, it
    is taken as the anomalies and the cut is where it becomes the likelier one (see :func:`high_mode_cut`);
    otherwise median + ``n_sigma`` robust standard deviations (1.4826 x the median absolute deviation), which
    anomalies in the training data do not inflate as they inflate the "sigma" rule's standard deviation."""

    param, constraint = "n_sigma", Real(0)

    def threshold(self, scores, value=None, labels=None):
        cut = high_mode_cut(scores)
        if cut is not None:
            return cut
        med = np.median(scores)
        return float(med + float(value) * 1.4826 * np.median(np.abs(scores - med)))


def high_mode_cut(scores: np.ndarray, *, min_bic_gain: float = 10.0, min_separation: float = 2.5) -> float | None:
    """The score above which a separate high mode is likelier, or None when there is none.

    A mode counts when a two-component Gaussian mixture fits the scores better than one Gaussian (BIC lower
    by more than ``min_bic_gain``), its components are well apart (Ashman's D = sqrt(2) |mu1 - mu2| /
    sqrt(s1^2 + s2^2) above ``min_separation``) and the higher one holds at most half of the scores: with 35 %
    anomalies (ADBench's breastw) they form such a mode instead of a tail above the normal scores.
    """
    from sklearn.mixture import GaussianMixture

    x = np.asarray(scores, dtype=np.float64).reshape(-1, 1)
    if len(x) < 20 or np.ptp(x) == 0:
        return None
    one = GaussianMixture(1).fit(x)
    two = GaussianMixture(2, n_init=3, random_state=0).fit(x)
    mu, sd, weight = two.means_.ravel(), np.sqrt(two.covariances_.ravel()), two.weights_
    lo, hi = np.argsort(mu)
    separation = np.sqrt(2) * (mu[hi] - mu[lo]) / np.hypot(sd[lo], sd[hi])
    if one.bic(x) - two.bic(x) <= min_bic_gain or separation <= min_separation or weight[hi] > 0.5:
        return None
    grid = np.linspace(mu[lo], mu[hi], 1001)
    high = two.predict_proba(grid[:, None])[:, hi] > 0.5
    return float(grid[np.argmax(high)]) if high.any() else None


@register_threshold_rule("max")
class MaxRule(ThresholdRule):
    """The largest score: nothing like the training data is flagged."""

    flags_nothing = True

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
        return cut_below(scores, float(cuts[int(np.argmax(f1))]))   # the curve flags s >= its cut


def cut_below(scores: np.ndarray, best: float) -> float:
    """A threshold that flags exactly the scores ``>= best`` under the estimators' rule (flag ``> threshold``):
    half-way from ``best`` down to the next lower score."""
    below = scores[scores < best]
    return float((best + below.max()) / 2) if below.size else float(best - 1e-12 * max(1.0, abs(best)))


# The standard-profile threshold that NAB's corpus-wide optimisation picks for TimeSeriesAnomalyDetector's
# default configuration on the 35 NAB files of the shared data (benchmarks/timeseries.py, results/timeseries.md).
NAB_THRESHOLD = 0.004856916592979224


@register_threshold_rule("nab")
class NABRule(ThresholdRule):
    """NAB's optimised threshold (Lavin & Ahmad 2015, v1.1 rules in :mod:`aekit.nab`), standard profile.

    With labels (rows of an anomaly window = 1, in time order): the threshold that maximises the NAB score of
    these scores, each run of labelled rows being one window (the first 15 % of rows are NAB's probationary
    period and count for nothing). Without labels: :data:`NAB_THRESHOLD`, the one optimised on the NAB corpus.
    """

    def threshold(self, scores, value=None, labels=None):
        if labels is None:
            return float(NAB_THRESHOLD)
        from aekit.nab import NABFile, optimize_threshold

        labels = np.asarray(labels, dtype=bool)
        if not labels.any():
            raise ValueError("set_threshold(method='nab') needs labelled anomaly windows (rows labelled 1); "
                             "the labels hold none")
        edges = np.flatnonzero(np.diff(np.r_[0, labels.astype(np.int8), 0]))
        rows = edges.reshape(-1, 2) - [0, 1]  # [first, last] row of each run of labelled rows
        t = np.arange(len(scores)).astype("datetime64[s]")
        scores = np.asarray(scores, np.float64)
        best, _ = optimize_threshold([NABFile(t, scores, t[rows])])   # NAB detects scores >= best
        return cut_below(scores, best) if np.isfinite(best) else float(scores.max())
