"""Ordered codes: the ``"ordered-mse"`` objective, ``Reducer(ordered=True)`` read by its first k units, the error
curve beside PCA's in ``aekit train``'s report and ``aekit evaluate``, and the comparison on MNIST (quality tier;
the full one is benchmarks/ordered_codes.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from aekit import Reducer, create_model
from aekit.objectives import make_objective, prefix_sizes, truncate
from aekit.training.batch import Batch
from helpers import digits

EPOCHS = 6   # the quality test's budget, for every model alike


@pytest.fixture(scope="module")
def ordered():
    X, _ = digits()
    X = X.reshape(len(X), -1)   # tables: the small mlp family
    return Reducer(latent_dim=8, ordered=True, epochs=1, model_params={"hidden": [32]}).fit(X[:200]), X[300:340]


def test_prefix_sizes_double_up_to_the_code_size():
    assert prefix_sizes(1) == [1]
    assert prefix_sizes(8) == [1, 2, 4, 8]
    assert prefix_sizes(12) == [1, 2, 4, 8, 12]


def test_the_objective_scores_every_prefix_and_refuses_a_grid_code():
    model = create_model("mlp", input_shape=(6,), latent_dim=4)
    x = torch.randn(5, 6)
    lb = make_objective("ordered-mse").loss(model, Batch(input=x, target=x))
    with torch.no_grad():
        z = model.encode(x)
        errors = np.array([float(((model.decode(truncate(z, k)) - x) ** 2).mean()) for k in (1, 2, 4)])
        want = np.sum(errors ** -1) / np.sum(errors ** -2)   # weights 1 / MSE^2, normalised
    assert float(lb.total.detach()) == pytest.approx(want, rel=1e-5)
    assert set(lb.terms) == {"mse", "prefix_mse"}
    with pytest.raises(ValueError, match="flat code"):
        make_objective("ordered-mse").check(create_model("vq-vae", input_shape=(1, 8, 8), latent_dim=4))


def test_prefix_code_decodes_each_size_with_its_own_decoder():
    model = create_model("prefix-code", input_shape=(6,), latent_dim=6, base_params={"hidden": [8]})
    assert len(model.decoders) == len(prefix_sizes(6)) == 4   # sizes 1, 2, 4, 6
    z = torch.randn(3, 6)
    with torch.no_grad():
        assert torch.equal(model.decode(z[:, :2]), model.out_act(model.decoders[1](z[:, :2])))
        assert torch.equal(model.decode(z[:, :3]), model.decode(z[:, :2]))   # 3 values: read as their first 2
        x = torch.ones(3, 6)
        assert torch.equal(model(x).recon, model.decode(model.encode(x)))   # the whole code: the last decoder
    with pytest.raises(ValueError, match="a code of 7 values; expected from 1 to latent_dim=6"):
        model.decode(torch.zeros(1, 7))


def test_an_ordered_reducer_is_read_by_its_first_k_units(ordered):
    est, x = ordered
    assert est.transform(x).shape == (len(x), 8)
    z2 = est.transform(x, n_components=2)
    np.testing.assert_array_equal(z2, est.transform(x)[:, :2])
    assert est.autoencoder_.model.name == "prefix-code"   # its decoder for the first 2 values reads them
    np.testing.assert_allclose(est.inverse_transform(est.transform(x)), est.reconstruct(x), atol=1e-6)
    np.testing.assert_allclose(est.reconstruct(x, n_components=2), est.inverse_transform(z2))
    curve = est.reconstruction_curve(x)
    assert curve["k"] == [1, 2, 4, 8] and len(curve["mse"]) == len(curve["explained_variance"]) == 4


def test_n_components_is_checked(ordered):
    est, x = ordered
    with pytest.raises(ValueError, match="n_components=9; expected a whole number from 1 to latent_dim=8"):
        est.transform(x, n_components=9)
    with pytest.raises(ValueError, match=r"shape \(n_samples, from 1 to 8\)"):
        est.inverse_transform(np.zeros((2, 9)))
    plain = Reducer(latent_dim=2, epochs=1).fit(x)
    with pytest.raises(ValueError, match="needs an ordered code"):
        plain.transform(x, n_components=1)


@pytest.mark.e2e
def test_aekit_train_reports_the_curve_and_evaluate_gives_it(tmp_path, capsys):
    """``aekit train --loss ordered-mse``: the curve beside PCA's in metrics.json, two figures in the report;
    ``aekit evaluate``: the curve on the test split (about 3 s)."""
    from aekit.cli import main

    out = tmp_path / "run"
    assert main(["train", "--data", "digits", "--model", "mlp", "--latent-dim", "4", "--loss", "ordered-mse",
                 "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_ordered_curve"]["k"] == [1, 2, 4]
    assert len(metrics["test_ordered_curve"]["pca_explained_variance"]) == 3
    assert "Ordered code: what each leading unit adds" in (out / "report.html").read_text()
    capsys.readouterr()
    assert main(["evaluate", "--model", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["ordered_curve"]["k"] == [1, 2, 4]


@pytest.fixture(scope="module")
def mnist_ordered():
    """6,000 MNIST training digits, 2,000 test digits, and one ordered Reducer (mlp, latent_dim=32) fitted on the
    training digits (shared by the quality tests: about 20 s at load 8)."""
    from aekit.data import DataError, load_dataset

    try:
        ds = load_dataset("mnist", download=False)
    except (DataError, OSError) as exc:   # never the network in tests
        pytest.skip(f"real MNIST is not in AEKIT_DATA_DIR ({exc})")
    x_train, x_test = ds.train.X[:6000] / 255.0, ds.test.X[:2000] / 255.0
    return Reducer(latent_dim=32, ordered=True, epochs=EPOCHS, model="mlp").fit(x_train), x_train, x_test


def _mnist_runs(mnist_ordered, sizes, *, alone: bool = True):
    """The test MSE of the one ordered Reducer from its first k units, of a Reducer trained for k alone with the
    same family and budget (when ``alone``), and of PCA-k, by k."""
    from aekit.metrics import pca_baseline

    one, x_train, x_test = mnist_ordered
    budget = {"epochs": EPOCHS, "model": "mlp"}
    rows = {}
    for k in sizes:
        own = Reducer(latent_dim=k, **budget).fit(x_train) if alone else None
        rows[k] = (float(np.mean((one.reconstruct(x_test, n_components=k) - x_test) ** 2)),
                   None if own is None else float(np.mean((own.reconstruct(x_test) - x_test) ** 2)),
                   pca_baseline(x_train, x_test, k)["test_mse"])
    return rows


@pytest.mark.quality
def test_an_ordered_model_beats_pca_at_small_sizes_on_mnist(mnist_ordered):
    """The first 2 and 8 units of one ordered model reconstruct MNIST better than PCA-2 and PCA-8."""
    for k, (ordered, _, pca) in _mnist_runs(mnist_ordered, [2, 8], alone=False).items():
        assert ordered < pca, (k, ordered, pca)


@pytest.mark.quality
@pytest.mark.xfail(reason="issue 30's check, not met at the budgets run so far: at 5 epochs on 10,000 digits the "
                          "ordered model's MSE was 1.085x, 1.091x and 1.092x a model trained for k alone at k = 2, 8 "
                          "and 32, but 1.6 % above PCA-32 (benchmarks/results/ordered-codes.md)", strict=False)
def test_one_ordered_model_is_within_10_percent_of_a_model_per_size_on_mnist(mnist_ordered):
    for k, (ordered, alone, pca) in _mnist_runs(mnist_ordered, [2, 8, 32]).items():
        assert ordered <= 1.1 * alone and ordered < pca, (k, ordered, alone, pca)
