"""Reducer, Generator and EncoderClassifier on real data (scikit-learn's digits), transfer between models,
and the `aekit fit` / `aekit sample` commands. scikit-learn's own checks are in test_conformance.py."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

import aekit
from aekit import EncoderClassifier, Generator, Reducer, create_model
from aekit.cli import main
from aekit import transfer_weights
from aekit.persistence import ModelFileError
from tests.helpers import digits


@pytest.fixture(scope="module")
def reducer():
    X, _ = digits()
    return Reducer(8, epochs=15, batch_size=32).fit(X[:1400])


def test_reducer_beats_pca_on_held_out_digits(reducer):
    X, _ = digits()
    flat = X.reshape(len(X), -1)
    pca = PCA(8).fit(flat[:1400])
    pca_mse = np.mean((pca.inverse_transform(pca.transform(flat[1400:])) - flat[1400:]) ** 2)
    ae_mse = -reducer.score(X[1400:])
    assert ae_mse < 0.8 * pca_mse, (ae_mse, pca_mse)
    assert reducer.transform(X[1400:]).shape == (397, 8)
    assert reducer.reconstruct(X[:3]).shape == (3, 1, 8, 8)
    assert reducer.inverse_transform(reducer.transform(X[:3])).shape == (3, 1, 8, 8)


def test_reducer_save_load_identical(reducer, tmp_path):
    X, _ = digits()
    reducer.save(tmp_path / "red")
    again = aekit.load(tmp_path / "red")
    assert isinstance(again, Reducer) and again.get_params() == reducer.get_params()
    np.testing.assert_array_equal(again.transform(X), reducer.transform(X))
    with pytest.raises(ModelFileError, match="holds a Reducer, not a Generator"):
        Generator.load(tmp_path / "red")


def test_reducer_in_pipeline_and_grid_search():
    X, y = digits()
    flat = X.reshape(len(X), -1)[:600]
    pipe = Pipeline([("ae", Reducer(epochs=5, batch_size=64)), ("clf", LogisticRegression(max_iter=500))])
    search = GridSearchCV(pipe, {"ae__latent_dim": [2, 16]}, cv=2).fit(flat, y[:600])
    assert search.best_params_ == {"ae__latent_dim": 16}
    assert search.score(flat, y[:600]) > 0.5


def test_reducer_channels_last_images_round_trip():
    X, _ = digits()
    rgb = np.repeat(X[:200].transpose(0, 2, 3, 1), 3, axis=3) * 255   # (200, 8, 8, 3), 0..255
    red = Reducer(4, epochs=2).fit(rgb)
    assert red.autoencoder_.model.input_shape == (3, 8, 8)
    assert red.reconstruct(rgb[:5]).shape == (5, 8, 8, 3)
    assert red.inverse_transform(red.transform(rgb[:5])).shape == (5, 8, 8, 3)


def test_reducer_clear_errors(reducer):
    X, _ = digits()
    with pytest.raises(ValueError, match="latent_dim=0 must be a positive integer"):
        Reducer(0, epochs=1).fit(X[:50])
    with pytest.raises(ValueError, match=r"sample shape \(1, 4, 4\).*fitted on samples of shape \(1, 8, 8\)"):
        reducer.transform(X[:5, :, :4, :4])
    with pytest.raises(ValueError, match=r"expects codes of shape \(n_samples, 8\)"):
        reducer.inverse_transform(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        Reducer(2, epochs=1).fit(np.full((10, 4), np.nan))


def test_cluster_agreement_reports_three_spaces(reducer):
    X, y = digits()
    scores = reducer.cluster_agreement(X[1400:], y[1400:])
    assert set(scores) == {f"{s}_{m}" for s in ("aekit", "raw", "pca") for m in ("ari", "nmi")}
    assert scores["aekit_nmi"] > 0.4  # codes cluster by digit far above chance (0)


def _pixel_fd(a: np.ndarray, b: np.ndarray, pca: PCA) -> float:
    fa, fb = pca.transform(a.reshape(len(a), -1)), pca.transform(b.reshape(len(b), -1))
    return float(((fa.mean(0) - fb.mean(0)) ** 2).sum() + np.abs(np.cov(fa.T) - np.cov(fb.T)).sum())


@pytest.mark.quality
def test_generator_gmm_samples_match_the_data_better_than_unfitted_codes():
    X, _ = digits()
    gen = Generator(8, model="conv", density="gmm", epochs=20, batch_size=64).fit(X)
    samples = gen.sample(500)
    assert samples.shape == (500, 1, 8, 8) and samples.min() >= 0 and samples.max() <= 1
    z = np.random.default_rng(0).standard_normal((500, 8)).astype(np.float32) * gen.gmm_.means_.std()
    unfitted = gen._decode(z)
    pca = PCA(10).fit(X.reshape(len(X), -1))
    assert _pixel_fd(samples, X, pca) < 0.5 * _pixel_fd(unfitted, X, pca)
    assert gen.interpolate(X[0], X[1], steps=5).shape == (5, 1, 8, 8)
    np.testing.assert_array_equal(gen.sample(3, random_state=7), gen.sample(3, random_state=7))


def test_generator_vae_prior_save_load(tmp_path):
    X, _ = digits()
    gen = Generator(4, epochs=3, batch_size=64).fit(X[:300])
    assert gen.density_ == "prior" and gen.autoencoder_.model.name == "vae-conv"
    gen.save(tmp_path / "g")
    np.testing.assert_allclose(aekit.load(tmp_path / "g").sample(4), gen.sample(4), atol=1e-5)
    with pytest.raises(ValueError, match="density='prior' needs a model with a prior"):
        Generator(4, model="conv", density="prior", epochs=1).fit(X[:50])
    with pytest.raises(ValueError, match="density='bogus'"):
        Generator(4, density="bogus").fit(X[:50])


@pytest.mark.quality
def test_encoder_classifier_pretraining_beats_scratch_with_few_labels():
    X, y = digits()
    labelled = np.concatenate([np.flatnonzero(y == c)[:10] for c in range(10)])
    rest = np.setdiff1d(np.arange(len(X)), labelled)
    kw = dict(latent_dim=16, epochs=30, batch_size=16, random_state=0)
    pre = EncoderClassifier(mode="pretrain", pretrain_epochs=15, **kw).fit(X[labelled], y[labelled], X_unlabeled=X[rest])
    scratch = EncoderClassifier(mode="scratch", **kw).fit(X[labelled], y[labelled])
    acc_pre, acc_scratch = pre.score(X[rest], y[rest]), scratch.score(X[rest], y[rest])
    assert acc_pre > acc_scratch + 0.05, (acc_pre, acc_scratch)
    proba = pre.predict_proba(X[:5])
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)


@pytest.mark.quality
def test_encoder_classifier_joint_training_beats_scratch_and_pretraining(tmp_path):
    """Mode 'joint' (head + reconstruction + consistency on the unlabelled digits, in one network) against
    the same network from scratch and the pre-train-then-fine-tune route, 5 labels per digit."""
    X, y = digits()
    labelled = np.concatenate([np.flatnonzero(y == c)[:5] for c in range(10)])
    rest = np.setdiff1d(np.arange(len(X)), labelled)
    net = dict(latent_dim=16, model="mlp", model_params={"hidden": [256, 128]}, random_state=0)
    joint = EncoderClassifier(**net, epochs=40).fit(X[labelled], y[labelled], X_unlabeled=X[rest])
    scratch = EncoderClassifier(**net, mode="scratch", validation_fraction=0.0).fit(X[labelled], y[labelled])
    pre = EncoderClassifier(**net, mode="pretrain", pretrain_epochs=15, validation_fraction=0.0).fit(
        X[labelled], y[labelled], X_unlabeled=X[rest])
    acc = {name: m.score(X[rest], y[rest]) for name, m in [("joint", joint), ("scratch", scratch), ("pre", pre)]}
    assert acc["joint"] > acc["scratch"] + 0.05 and acc["joint"] > acc["pre"], acc
    assert {"train_ce", "train_consistency", "train_mse"} <= set(joint.history_[-1])
    joint.save(tmp_path / "joint")
    np.testing.assert_array_equal(aekit.load(tmp_path / "joint").predict_proba(X), joint.predict_proba(X))
    with pytest.raises(ValueError, match="freeze_encoder=True .* needs mode='pretrain'"):
        EncoderClassifier(freeze_encoder=True).fit(X[labelled], y[labelled])
    with pytest.raises(ValueError, match="mode"):
        EncoderClassifier(mode="semi").fit(X[labelled], y[labelled])


def test_encoder_classifier_from_a_trained_encoder_frozen_and_saved(reducer, tmp_path):
    X, y = digits()
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])[y]
    before = {k: v.clone() for k, v in reducer.autoencoder_.model.encoder.state_dict().items()}
    clf = EncoderClassifier(encoder=reducer, mode="pretrain", freeze_encoder=True, epochs=20,
                            batch_size=32).fit(X[:300], names[:300])
    assert set(clf.predict(X[:20])) <= set(names)
    after = clf.autoencoder_.model.encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # frozen: the encoder did not move
    assert all(torch.equal(before[k], v) for k, v in reducer.autoencoder_.model.encoder.state_dict().items())
    clf.save(tmp_path / "clf")
    again = aekit.load(tmp_path / "clf")
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(again.classes_, clf.classes_)
    with pytest.raises(ValueError, match="at least 2 classes"):
        EncoderClassifier(epochs=1).fit(X[:10], np.zeros(10))
    with pytest.raises(ValueError, match=r"encoder takes inputs of shape \(1, 8, 8\)"):
        EncoderClassifier(encoder=reducer, epochs=1).fit(np.zeros((10, 5)), y[:10])


def test_transfer_weights_into_a_new_autoencoder(reducer):
    src = reducer.autoencoder_.model
    new = create_model("conv", input_shape=(1, 8, 8), latent_dim=8)
    copied = transfer_weights(reducer, new, freeze=True)
    assert copied and all(k.startswith("encoder.") for k in copied)
    for k in copied:
        assert torch.equal(new.state_dict()[k], src.state_dict()[k])
    frozen = {k for k, p in new.named_parameters() if not p.requires_grad}
    assert frozen == {k for k in copied if k in dict(new.named_parameters())}
    with pytest.raises(ValueError, match="no encoder layer of the source matches"):
        transfer_weights(reducer, create_model("mlp", input_shape=(5,), latent_dim=2))
    with pytest.raises(ValueError, match="parts="):
        transfer_weights(reducer, new, parts=("head",))


def test_cli_fit_generator_then_sample(tmp_path):
    out = tmp_path / "gen"
    assert main(["fit", "generator", "--data", "digits", "--param", "epochs=2", "--param", "latent_dim=4",
                 "--out", str(out)]) == 0
    assert main(["sample", "--model", str(out), "--n", "12", "--cols", "4", "--out", str(tmp_path / "s.png"),
                 "--npy", str(tmp_path / "s.npy")]) == 0
    from PIL import Image

    assert Image.open(tmp_path / "s.png").size == (4 * 9 + 1, 3 * 9 + 1)
    assert np.load(tmp_path / "s.npy").shape == (12, 1, 8, 8)
    assert main(["fit", "reducer", "--data", "digits", "--param", "epochs=1", "--out", str(tmp_path / "r")]) == 0
    assert main(["sample", "--model", str(tmp_path / "r"), "--out", str(tmp_path / "x.png")]) == 2
    assert main(["fit", "nonsense", "--data", "digits", "--out", str(tmp_path / "n")]) == 2
