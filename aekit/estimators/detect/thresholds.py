"""The threshold part both detectors share: ``threshold_`` from anomaly scores by a registered rule
(:mod:`aekit.estimators.scoring`), and the scikit-learn outlier API built on it.

A detector that mixes :class:`Thresholded` in provides ``anomaly_score(X)`` (higher = more abnormal),
``train_scores_``, the parameters ``threshold`` and ``contamination`` (and each rule's own, e.g.
``percentile``, ``n_sigma``; see :data:`THRESHOLD_CONSTRAINTS`) and a ``_default_rule`` for
``threshold="auto"`` without a float ``contamination``; it gets ``set_threshold``, ``score_samples``,
``decision_function``, ``predict`` and the saved threshold state (:data:`THRESHOLD_STATE`).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from aekit.estimators._state import FLOAT, JSON, Codec, saved_as
from aekit.estimators.scoring import ThresholdWarning, list_threshold_rules, threshold_rule
from aekit.validation import Either, Instance, Options, Real, check_params

THRESHOLD_CONSTRAINTS = {
    "contamination": Either(Options("auto"), Real(0, 0.5, closed="right")),
    "threshold": Instance(str, what="'auto' or a registered threshold rule (list_threshold_rules())"),
    "percentile": Real(0, 100, closed="right"),
    "n_sigma": Real(0),
}

# the fitted state of the part, declared once (aekit.estimators._state): a detector adds it to its ``_fitted``;
# the training scores are a float64 tensor saved as "train_scores" (the name folders have always used)
TRAIN_SCORES = saved_as(Codec(lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64)), lambda t: t.numpy(),
                              tensor=True), "train_scores")
THRESHOLD_STATE = {"threshold_": FLOAT, "offset_": FLOAT, "threshold_rule_": JSON, "train_scores_": TRAIN_SCORES}


class Thresholded:
    """Mixin: the threshold part (module docstring)."""

    _default_rule = "robust"  # threshold="auto" without a float contamination

    def _check_threshold_params(self) -> None:
        """The rule is a registered one that needs no labels; "contamination" needs a float contamination."""
        rules = [r for r in list_threshold_rules() if not threshold_rule(r).needs_labels]
        check_params(type(self).__name__, {"threshold": self.threshold}, {"threshold": Options("auto", *rules)})
        if self.threshold == "contamination" and self.contamination == "auto":
            raise ValueError(f"{type(self).__name__}: threshold='contamination' needs a float contamination, "
                             f"got 'auto'")

    def _rule(self) -> str:
        if self.threshold != "auto":
            return self.threshold
        return "contamination" if self.contamination != "auto" else self._default_rule

    def _set_threshold_from(self, scores: np.ndarray, method: str, *, labels=None, **values) -> None:
        """``threshold_`` from ``scores`` by the registered rule ``method``; the rule's value comes from
        ``values`` when given, else from the estimator's parameter of the same name."""
        rule = threshold_rule(method)
        value = None
        if rule.param is not None:
            value = values.get(rule.param)
            value = getattr(self, rule.param) if value is None else value
            rule.check(value)
        scores = np.asarray(scores, dtype=np.float64)
        self.threshold_ = rule.threshold(scores, value, labels)
        self.offset_ = -self.threshold_
        self.threshold_rule_ = method
        n_flagged = int((scores > self.threshold_).sum())
        if (n_flagged == 0 and not rule.flags_nothing) or n_flagged == len(scores):
            warnings.warn(f"{type(self).__name__}: the {method!r} threshold {self.threshold_:.4g} flags "
                          f"{'none' if n_flagged == 0 else 'all'} of the {len(scores)} samples it was set on; pass "
                          "contamination=<expected fraction of anomalies>, or set_threshold(X_val, y_val) with "
                          "labelled data", ThresholdWarning, stacklevel=3)

    def set_threshold(self, X=None, y=None, *, method: str = "f1", contamination=None, percentile=None,
                      n_sigma=None):
        """Set ``threshold_`` after fitting; returns ``self``.

        ``method``: a registered threshold rule (``aekit.estimators.list_threshold_rules()``). "f1" picks the
        threshold with the best F1 score on labelled data ``X, y`` (``y``: 1 or True for anomalies, 0 for
        normal samples; or scikit-learn's -1 anomaly / +1 normal); "contamination", "percentile", "sigma" and
        "max" apply the rule of the same name (with the given value, else the estimator's parameter) to the
        scores of ``X``, or of the training data when ``X`` is None.
        """
        self._check_fitted()
        check_params("set_threshold", {"method": method}, {"method": Options(*list_threshold_rules())})
        labels = None
        if threshold_rule(method).needs_labels and (X is None or y is None):
            raise ValueError(f"set_threshold(method={method!r}) needs labelled data: set_threshold(X_val, y_val)")
        if X is not None and y is not None:
            labels = anomaly_labels(y, len(X))
        scores = self.train_scores_ if X is None else self.anomaly_score(X)
        self._set_threshold_from(scores, method, labels=labels, contamination=contamination, percentile=percentile,
                                 n_sigma=n_sigma)
        return self

    def score_samples(self, X) -> np.ndarray:
        """Opposite of :meth:`anomaly_score` (scikit-learn convention: higher means more normal)."""
        return -self.anomaly_score(X)

    def decision_function(self, X) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for anomalies."""
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """+1 for normal samples, -1 for anomalies (scores above ``threshold_``)."""
        return np.where(self.decision_function(X) < 0, -1, 1)


def anomaly_labels(y, n: int) -> np.ndarray:
    """``y`` as 0/1 labels (1 = anomaly) from 0/1, True/False or scikit-learn's -1 anomaly / +1 normal."""
    y = np.asarray(y).ravel()
    if len(y) != n:
        raise ValueError(f"y has {len(y)} labels for {n} samples")
    values = set(np.unique(y).tolist())
    if values <= {-1, 1} and -1 in values:
        return (y == -1).astype(int)                  # scikit-learn's predict convention
    if not values <= {0, 1}:  # True and False are 1 and 0
        raise ValueError(f"y must hold 0/1 (1 = anomaly) or -1/+1 (-1 = anomaly) labels, got {sorted(values)[:5]}")
    return y.astype(int)


def anomaly_ranges(flags, window: int = 1, timestamps=None) -> list[list]:
    """``[[start, end], ...]`` of the rows covered by the windows of ``window`` rows ending at each flagged row
    (merged when they overlap or touch), as row numbers or, with ``timestamps``, ISO timestamp strings."""
    flags = np.asarray(flags, dtype=bool).ravel()
    rows = np.flatnonzero(flags)
    out: list[list] = []
    for r in rows:
        start = max(0, int(r) - int(window) + 1)
        if out and start <= out[-1][1] + 1:
            out[-1][1] = int(r)
        else:
            out.append([start, int(r)])
    if timestamps is not None:
        t = np.asarray(timestamps)
        if len(t) != len(flags):
            raise ValueError(f"timestamps has {len(t)} entries for {len(flags)} scores")
        out = [[str(np.datetime64(t[a], "s")).replace("T", " "), str(np.datetime64(t[b], "s")).replace("T", " ")]
               for a, b in out]
    return out
