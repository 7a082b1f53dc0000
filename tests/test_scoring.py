"""Anomaly score types, scorer parts and threshold rules are registered objects: the built-in rules match their
definitions, and a rule, score type or scorer part registered here is used by AnomalyDetector with no other
change (a scorer part's statistics are saved and reloaded with the detector)."""
import numpy as np
import pytest
from sklearn.datasets import load_digits

from aekit import AnomalyDetector
from aekit.estimators.detect import ScorerPart, list_scorers, register_scorer
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


@register_scorer("code-norm")
class CodeNorm(ScorerPart):
    """The norm of each code, standardised by the training codes' (a fitted statistic, defined in this test)."""

    keys = ("norm_mean", "norm_std")

    def fit(self, units):
        self.stats = [{"norm_mean": float(np.linalg.norm(u.codes, axis=1).mean()),
                       "norm_std": float(np.linalg.norm(u.codes, axis=1).std() + 1e-12)} for u in units]
        return self

    def values(self, units):
        return [(np.linalg.norm(u.codes, axis=1) - st["norm_mean"]) / st["norm_std"]
                for u, st in zip(units, self.stats)]


@register_score_type("error+norm")
class ErrorNorm(ScoreType):
    """The standardised error plus the standardised code norm: a score type that needs a new scorer part."""

    needs = ("error", "code-norm")

    def combine(self, values, stats):
        return (values["error"] - stats["err_raw_mean"]) / stats["err_raw_std"] + values["code-norm"]


def test_a_registered_scorer_part_is_fitted_saved_and_reloaded(tmp_path):
    from aekit import load

    assert "code-norm" in list_scorers() and {"error", "density", "neighbours"} <= set(list_scorers())
    X = load_digits().data
    det = AnomalyDetector(latent_dim=4, epochs=2, min_steps=0, score_type="error+norm").fit(X[:300])
    assert set(det.scorer_.parts) == {"error", "code-norm"}
    assert {"norm_mean", "norm_std", "err_raw_mean"} <= set(det.score_stats_[0])
    back = load(det.save(tmp_path / "det"))
    np.testing.assert_array_equal(back.anomaly_score(X[300:400]), det.anomaly_score(X[300:400]))
    assert back.score_stats_ == det.score_stats_


@pytest.mark.parametrize("score_type, parts", [("reconstruction", {"error"}), ("latent", {"error", "density"}),
                                               ("error+knn", {"error", "neighbours"}),
                                               ("parts", {"error", "neighbours", "tails", "isolation"})])
def test_fitted_scorer_parts_save_their_own_statistics(score_type, parts):
    """Each part's to_state() holds only its own statistics, and from_state() rebuilds a part that scores alike."""
    from aekit.estimators.detect import FittedScorer

    X = load_digits().data
    det = AnomalyDetector(latent_dim=3, epochs=2, min_steps=0, n_estimators=2, score_type=score_type).fit(X[:200])
    assert set(det.scorer_.parts) == parts
    for part in det.scorer_.parts.values():
        stats, _ = part.to_state()
        assert all(set(s) <= set(type(part).keys) for s in stats)
    stats, tensors = det.scorer_.to_state()
    again = FittedScorer.from_state(score_type, stats, tensors, det._scorer_context())
    units = det._units(det._scaled(X[200:260]))
    np.testing.assert_array_equal(again.score(units), det.scorer_.score(units))


def test_isolation_part_scores_as_isolation_forest():
    """The ``isolation`` part keeps the forest's trees as arrays and scores exactly as scikit-learn's forest."""
    from sklearn.ensemble import IsolationForest

    from aekit.estimators.detect import ScorerContext
    from aekit.estimators.detect.ensemble import Unit
    from aekit.estimators.detect.tails import IsolationScorer

    X = np.random.default_rng(0).normal(size=(400, 5))
    X[:, 0] = np.round(X[:, 0])                                  # ties, as in integer-coded columns
    unit = Unit(np.zeros((400, 5)), np.zeros((400, 1)), None, X)
    part = IsolationScorer(ScorerContext(per_feature=True, seed=3)).fit([unit])
    forest = IsolationForest(random_state=3).fit(X.astype(np.float32))
    np.testing.assert_allclose(part.values([unit])[0], -forest.score_samples(X), rtol=0, atol=1e-12)


def test_neighbours_part_measures_as_scikit_learn_and_a_row_alone_as_in_a_batch():
    """The ``neighbours`` part gives scikit-learn's k-th neighbour
    distances, and a row scored alone (a served request) gets exactly the value it gets in a batch."""
    from sklearn.neighbors import NearestNeighbors

    from aekit.estimators.detect import ScorerContext
    from aekit.estimators.detect.ensemble import Unit
    from aekit.estimators.detect.scorers import NeighbourScorer

    rng = np.random.default_rng(0)
    units = [Unit(np.zeros((700, 3)), rng.normal(size=(700, 6)), None, None) for _ in range(3)]
    part = NeighbourScorer(ScorerContext(per_feature=True, params={"max_reference": 300, "n_neighbors": 5},
                                         seed=1)).fit(units)
    batch = part.values(units)
    for ref, unit, got in zip(part.reference_codes, units, batch):
        expected = NearestNeighbors(algorithm="brute").fit(ref).kneighbors(unit.codes, n_neighbors=5)[0][:, -1]
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    for i in (0, 333, 699):
        alone = part.values([Unit(u.sq[i:i + 1], u.codes[i:i + 1], None, None) for u in units])
        assert [a[0] for a in alone] == [b[i] for b in batch]


def test_input_parts_see_a_single_extreme_feature():
    """A row whose one feature alone is far out is among the top rows of the ``isolation`` part and of the default
    table score, and scores higher by the ``tails`` part (ECOD) than without that value; ``score_parts``
    switches parts off and weighs them."""
    rng = np.random.default_rng(0)
    t = rng.normal(size=(600, 1))
    X = np.hstack([t, -t, 0.5 * t, rng.normal(size=(600, 3))])
    X[5, 4] = 6.0                                                # one independent feature, alone extreme
    det = AnomalyDetector(n_estimators=2, min_steps=50).fit(X)
    assert det.score_type_ == "parts" and set(det.scorer_.parts) == {"error", "neighbours", "tails", "isolation"}
    units = det._units(det._scaled(X))
    iso = det.scorer_.parts["isolation"].values(units)[0]
    assert (iso > iso[5]).mean() < 0.1                            # among the top 10 % of rows by isolation
    tails = det.scorer_.parts["tails"]
    moved = X[:8].copy()
    moved[5, 4] = 0.0
    assert tails.values(det._units(det._scaled(X[:8])))[0][5] > tails.values(det._units(det._scaled(moved)))[0][5]
    scores = det.anomaly_score(X)
    assert (scores > scores[5]).mean() < 0.01                     # among the top 1 % by the default score
    only = AnomalyDetector(n_estimators=2, min_steps=0, score_parts={"error": 1.0, "tails": 2.0}).fit(X[:200])
    assert set(only.scorer_.parts) == {"error", "tails"} and only.scorer_.weights == {"error": 1.0, "tails": 2.0}
    with pytest.raises(ValueError, match=r"score_parts=\['error', 'nope'\] must be a non-empty list"):
        AnomalyDetector(score_parts=["error", "nope"]).fit(X[:50])


def test_tails_part_follows_ecod_definition():
    """ECOD's skewness-corrected score (Li et al., TKDE 2022): ``-log`` of each feature's tail probability on
    the side of its skewness, summed. Feature 0 (0, 1, 4, ..., 81) is right-skewed, feature 1 its negative
    left-skewed: 200 is beyond every training value on feature 0's right tail (1/11), a value beyond the other
    tail counts nothing, and 16 / -16 have 6 of the 10 training values at least as far out (7/11)."""
    from aekit.estimators.detect import ScorerContext
    from aekit.estimators.detect.ensemble import Unit
    from aekit.estimators.detect.tails import TailScorer

    a = np.arange(10.0) ** 2
    train = np.stack([a, -a], axis=1)
    part = TailScorer(ScorerContext(per_feature=True)).fit([Unit(train, train, None, train)])
    query = np.array([[200.0, 0.0], [-5.0, -200.0], [16.0, -16.0], [-5.0, 5.0]])
    values = part.values([Unit(query, query, None, query)])[0]
    np.testing.assert_allclose(values, [np.log(11), np.log(11), -2 * np.log(7 / 11), 0.0], atol=1e-12)


def test_fit_and_kNN_reference_are_bounded():
    """On a table larger than ``max_samples`` the detector fits on a sample of that size, and the kNN distance
    measures to ``max_reference`` codes, so that cost grows linearly with the rows scored."""
    X = np.random.default_rng(0).normal(size=(1500, 4))
    det = AnomalyDetector(n_estimators=2, min_steps=0, epochs=1, max_samples=600, max_reference=100).fit(X)
    assert len(det.train_scores_) == 600 and det.reference_codes_.shape[:2] == (2, 100)
    assert det.anomaly_score(X).shape == (1500,)
