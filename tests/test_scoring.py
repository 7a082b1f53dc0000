"""Anomaly score types and threshold rules are registered objects: the built-in rules match their
definitions, and a rule or score type registered here is used by AnomalyDetector with no other change."""
import numpy as np
import pytest
from sklearn.datasets import load_digits

from aekit import AnomalyDetector
from aekit.estimators.scoring import (ScoreType, ThresholdRule, list_score_types, list_threshold_rules,
                                      register_score_type, register_threshold_rule, threshold_rule)
from aekit.validation import Real

SCORES = np.arange(100, dtype=np.float64)


@pytest.mark.parametrize("name, value, expected", [
    ("contamination", 0.1, 89.1),          # flags the top 10 %
    ("percentile", 50, 49.5),
    ("sigma", 1.0, SCORES.mean() + SCORES.std()),
    ("max", None, 99.0),
])
def test_builtin_rules(name, value, expected):
    assert threshold_rule(name).threshold(SCORES, value) == pytest.approx(expected)


def test_f1_rule_separates_labelled_scores():
    labels = (SCORES >= 90).astype(int)
    cut = threshold_rule("f1").threshold(SCORES, labels=labels)
    assert 89 < cut < 90


@register_threshold_rule("median-plus")
class MedianPlus(ThresholdRule):
    """Median + ``n_sigma`` median absolute deviations (a robust sigma rule), defined in this test."""

    param, constraint = "n_sigma", Real(0)

    def threshold(self, scores, value=None, labels=None):
        med = np.median(scores)
        return float(med + value * np.median(np.abs(scores - med)))


@register_score_type("error-rank")
class ErrorRank(ScoreType):
    """Reconstruction error rank-normalised against the training errors' statistics, defined in this test."""

    uses_density = False

    def __call__(self, err, nll, stats):
        return (np.log(err + 1e-12) - stats["err_mean"]) / stats["err_std"]


def test_a_registered_rule_and_score_type_are_used_by_the_detector():
    assert "median-plus" in list_threshold_rules() and "error-rank" in list_score_types()
    X = load_digits().data
    det = AnomalyDetector(latent_dim=4, epochs=2, min_steps=0, score_type="error-rank", threshold="median-plus",
                          n_sigma=3.0).fit(X[:300])
    scores = det.anomaly_score(X[:300])
    med = np.median(scores)
    assert det.threshold_rule_ == "median-plus"
    assert det.threshold_ == pytest.approx(med + 3.0 * np.median(np.abs(scores - med)))
    assert det.set_threshold(method="max").threshold_ == pytest.approx(scores.max())


def test_unknown_rule_is_named():
    with pytest.raises(ValueError, match=r"threshold='nope'; expected one of \('auto', "):
        AnomalyDetector(threshold="nope").fit(load_digits().data[:50])
