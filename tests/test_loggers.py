"""Experiment tracking (aekit/training/loggers.py): ``aekit train --log tensorboard:DIR`` writes an event file that
holds the loss curves, estimators log inside ``aekit.log_to``, MLflow runs hold the same history, bad
destinations are refused before training."""
import json

import numpy as np
import pytest

import aekit
from aekit.cli import main
from aekit.training.loggers import log_to, parse_destination, scalar_tag

# a short run without its HTML report (whose 2-D map compiles numba's code: about 40 s of CPU the first time)
FAST = ["--epochs", "3", "--batch-size", "128", "--limit", "400", "--param", "report=false", "--quiet"]


def read_scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the TensorBoard event files under ``folder``: {tag: [(step, value), ...]}, read back by
    TensorBoard's own reader."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.mark.e2e  # a real aekit train run
def test_aekit_train_log_tensorboard_writes_the_loss_curves(tmp_path):
    pytest.importorskip("tensorboard")
    out, logdir = tmp_path / "run", tmp_path / "tb"
    assert main(["train", "--data", "digits", "--model", "mlp", "--latent-dim", "4", "--out", str(out),
                 "--log", f"tensorboard:{logdir}", *FAST]) == 0
    runs = [p for p in logdir.iterdir() if p.is_dir()]
    assert [p.name for p in runs] == ["mlp"], runs                  # one run folder per fit, named by the model
    assert list(runs[0].glob("events.out.tfevents.*"))
    scalars = read_scalars(runs[0])
    history = json.loads((out / "history.json").read_text())
    for key, tag in (("train_loss", "loss/train"), ("val_loss", "loss/val"), ("lr", "lr")):
        assert [step for step, _ in scalars[tag]] == [1, 2, 3]
        np.testing.assert_allclose([v for _, v in scalars[tag]], [h[key] for h in history], rtol=1e-6)
    assert scalars["loss/train"][-1][1] < scalars["loss/train"][0][1]  # the curve of a model that learns


def test_trainer_callback_writes_every_epoch_and_validation(tmp_path):
    pytest.importorskip("tensorboard")
    from aekit.training import TensorBoardLogger, TrainConfig, Trainer

    x = np.random.default_rng(0).normal(size=(64, 5)).astype(np.float32)
    model = aekit.create_model("linear", input_shape=(5,), latent_dim=2)
    config = TrainConfig(epochs=3, batch_size=16, progress=False, val_every_steps=2)
    with TensorBoardLogger(tmp_path) as logger:
        result = Trainer(model, config, callbacks=[logger]).fit(x[:48], x[48:])
    scalars = read_scalars(tmp_path)
    assert [s for s, _ in scalars["loss/val"]] == [1, 2, 3]
    np.testing.assert_allclose([v for _, v in scalars["loss/val"]], [h["val_loss"] for h in result.history],
                               rtol=1e-6)
    assert [s for s, _ in scalars["step/loss/val"]] == [e["step"] for e in result.evaluations] == [2, 4, 6, 8]


def test_estimators_log_inside_log_to(tmp_path):
    pytest.importorskip("tensorboard")
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(120, 2)) @ rng.normal(size=(2, 6))).astype(np.float32)  # rows on a plane
    with aekit.log_to(f"tensorboard:{tmp_path}"):
        first = aekit.Reducer(2, epochs=2, batch_size=64).fit(X)
        aekit.Reducer(2, epochs=1, batch_size=64).fit(X)
    aekit.Reducer(2, epochs=1, batch_size=64).fit(X)                  # outside the block: logs nothing
    runs = sorted(p.name for p in tmp_path.iterdir())
    assert len(runs) == 2 and runs[1] == runs[0] + "-2", runs          # a run folder per fit
    scalars = read_scalars(tmp_path / runs[0])
    np.testing.assert_allclose([v for _, v in scalars["loss/train"]], [h["train_loss"] for h in first.history_],
                               rtol=1e-6)


def test_destinations_are_checked_before_training(capsys, tmp_path):
    assert parse_destination("tensorboard:runs/a:b") == ("tensorboard", "runs/a:b")
    for bad in ("tensorboard", "wandb:x", "tensorboard:"):
        with pytest.raises(ValueError, match="expected KIND:TARGET with KIND one of"):
            parse_destination(bad)
    with pytest.raises(ValueError, match="'nope:x'"):
        with log_to("nope:x"):
            pass
    with pytest.raises(SystemExit):
        main(["train", "--data", "digits", "--out", str(tmp_path / "o"), "--log", "wandb:x"])
    assert "KIND one of" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_scalar_tags_pair_train_and_validation():
    assert scalar_tag("train_loss") == "loss/train" and scalar_tag("val_kl") == "kl/val"
    assert scalar_tag("lr") == "lr" and scalar_tag("val_loss", mid_epoch=True) == "step/loss/val"


@pytest.mark.e2e
def test_mlflow_run_holds_the_history(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    import mlflow

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")   # a local folder store (MLflow 3 asks for the opt-in)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "aekit-test")
    uri = (tmp_path / "mlruns").as_uri()
    out = tmp_path / "run"
    assert main(["train", "--data", "digits", "--model", "mlp", "--latent-dim", "4", "--out", str(out),
                 "--log", f"mlflow:{uri}", *FAST]) == 0
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("aekit-test")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "mlp" and run.info.status == "FINISHED"
    assert run.data.params["model"] == "mlp" and run.data.params["epochs"] == "3"
    history = json.loads((out / "history.json").read_text())
    losses = client.get_metric_history(run.info.run_id, "val_loss")
    assert [m.step for m in losses] == [1, 2, 3]
    np.testing.assert_allclose([m.value for m in losses], [h["val_loss"] for h in history], rtol=1e-6)
