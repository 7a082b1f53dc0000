"""Clusterer (issue 15): codes -> UMAP -> mixture beats k-means on the raw data; predict, persistence, K by BIC,
the metrics and the ``aekit cluster`` command."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans

import aekit
from aekit import Clusterer
from aekit.metrics import clustering_scores, contingency
from tests.helpers import digits

FAST = {"epochs": 30, "model_params": {"hidden": [256, 128]}}


def _digit_table():
    X, y = digits()
    return X.reshape(len(X), -1), y


@pytest.mark.quality
def test_codes_umap_mixture_beat_kmeans_on_pixels():
    """N2D on 3,000 real MNIST digits: far above k-means on the pixels (the full-size comparison, with UMAP on
    pixels beside it, is benchmarks/representations.py)."""
    pytest.importorskip("umap", reason="umap-learn is not installed (pip install aekit[cluster])")
    from aekit.data import DataError, load_dataset

    try:
        ds = load_dataset("mnist", download=False, limit=3000)
    except (DataError, OSError) as exc:   # never the network in tests
        pytest.skip(f"real MNIST is not in AEKIT_DATA_DIR ({exc})")
    X, y = ds.test.X, ds.test.y
    # the default training length (min_steps=2400): a shorter one (1000 steps) lands near the floor on some seeds
    # and machines (ACC 0.665-0.753 over three seeds here, against 0.767 with the default)
    clusterer = Clusterer(n_clusters=10, model_params={"hidden": [256, 256, 512]})
    ours = clustering_scores(y, clusterer.fit_predict(X))
    raw = clustering_scores(y, KMeans(10, n_init=10, random_state=0).fit_predict(X.reshape(len(X), -1) / 255.0))
    assert ours["acc"] > raw["acc"] + 0.1 and ours["nmi"] > raw["nmi"] + 0.1, (ours, raw)


def test_predict_follows_the_training_clusters_and_survives_saving(tmp_path):
    X, _ = _digit_table()
    est = Clusterer(n_clusters=10, embedding="none", **FAST).fit(X[:1500])
    assert est.labels_.shape == (1500,) and est.n_clusters_ == 10
    assert np.mean(est.predict(X[:1500]) == est.labels_) > 0.9       # the training samples keep their clusters
    est.save(tmp_path / "c")
    back = aekit.load(tmp_path / "c")
    np.testing.assert_array_equal(back.predict(X[1500:]), est.predict(X[1500:]))
    np.testing.assert_array_equal(back.labels_, est.labels_)


def test_auto_picks_the_number_of_separate_groups():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=8.0, size=(4, 6))
    X = np.concatenate([c + rng.normal(size=(150, 6)) for c in centres])
    est = Clusterer(n_clusters="auto", embedding="none", latent_dim=3, max_clusters=8, epochs=40,
                    model_params={"hidden": [32]}).fit(X)
    assert est.n_clusters_ == 4 and min(est.bic_, key=est.bic_.get) == 4


def test_clustering_scores_match_clusters_to_classes():
    y = np.array([0, 0, 1, 1, 2, 2, 2])
    assert clustering_scores(y, np.array([5, 5, 3, 3, 9, 9, 9])) == pytest.approx({"acc": 1.0, "nmi": 1.0, "ari": 1.0})
    assert clustering_scores(y, np.array([5, 5, 3, 3, 9, 9, 3]))["acc"] == pytest.approx(6 / 7)
    table, classes, clusters = contingency(y, np.array([5, 5, 3, 3, 9, 9, 3]))
    assert table.tolist() == [[0, 2, 0], [2, 0, 0], [1, 0, 2]] and clusters.tolist() == [3, 5, 9]


def test_reducer_maps_codes_to_two_dimensions():
    from aekit import Reducer

    X, _ = _digit_table()
    red = Reducer(latent_dim=6, epochs=3).fit(X[:300])
    flat = red.map_2d(X[:300], embedding="pca")
    assert flat.shape == (300, 2) and np.isfinite(flat).all() and flat.std(axis=0).min() > 0
    np.testing.assert_array_equal(red.map_2d(X[:300], embedding="pca"), flat)
    with pytest.raises(ValueError, match="embedding='spiral'"):
        red.map_2d(X[:10], embedding="spiral")


def test_bad_settings_are_named():
    X, _ = _digit_table()
    with pytest.raises(ValueError, match="n_clusters=5000 is more than the 100 samples"):
        Clusterer(n_clusters=5000, embedding="none").fit(X[:100])
    with pytest.raises(ValueError, match="method='dbscan'"):
        Clusterer(method="dbscan").fit(X[:100])


def test_cli_cluster_writes_clusters_model_and_report(tmp_path):
    from aekit.cli import main

    out = tmp_path / "run"
    assert main(["cluster", "--data", "digits", "--limit", "500", "--n-clusters", "10", "--param", "embedding=\"none\"",
                 "--param", "epochs=10", "--param", 'model_params={"hidden": [128]}', "--quiet",
                 "--out", str(out)]) == 0
    rows = (out / "clusters.csv").read_text().splitlines()
    assert rows[0] == "index,cluster,label" and len(rows) == 1 + 500
    assert len({r.split(",")[1] for r in rows[1:]}) == 10
    html = (out / "report.html").read_text()
    assert "Contingency table" in html and "k-means on the raw data" in html and "coloured by cluster" in html
    assert isinstance(aekit.load(out / "model"), Clusterer)
    assert main(["cluster", "--data", "digits", "--n-clusters", "zero", "--out", str(tmp_path / "bad")]) == 2
