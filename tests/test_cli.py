"""The command line: train writes every artefact, config files and flags merge, sub-commands, errors."""
import json

import numpy as np
import pytest

from aekit.cli import main

FAST = ["--epochs", "2", "--batch-size", "64", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "digits"
    assert main(["train", "--data", "digits", "--model", "mlp", "--latent-dim", "4", "--out", str(out), *FAST]) == 0
    return out


def test_train_writes_model_history_metrics_report(trained):
    names = {p.name for p in trained.iterdir()}
    assert {"config.json", "model.safetensors", "history.json", "metrics.json", "report.html"} <= names
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["test_mse"] > 0 and metrics["pca_test_mse"] > 0 and metrics["n_test"] == 360
    assert len(json.loads((trained / "history.json").read_text())) == 2
    html = (trained / "report.html").read_text()
    assert "PCA" in html and html.count("data:image/png;base64,") >= 3


def test_evaluate_prints_metrics(trained, capsys, tmp_path):
    assert main(["evaluate", "--model", str(trained), "--out", str(tmp_path / "m.json")]) == 0
    printed = json.loads(capsys.readouterr().out)
    stored = json.loads((trained / "metrics.json").read_text())
    assert printed["n"] == 360 and printed["mse"] == pytest.approx(stored["test_mse"], rel=1e-5)
    assert json.loads((tmp_path / "m.json").read_text()) == printed


def test_encode_and_reconstruct_write_npy(trained, tmp_path):
    assert main(["encode", "--model", str(trained), "--data", "digits", "--out", str(tmp_path / "c.npy")]) == 0
    assert np.load(tmp_path / "c.npy").shape == (1797, 4)
    assert main(["reconstruct", "--model", str(trained), "--split", "test", "--out", str(tmp_path / "r.npy")]) == 0
    recon = np.load(tmp_path / "r.npy")
    assert recon.shape == (360, 1, 8, 8) and 0 <= recon.min() and recon.max() <= 16.0 + 1e-4  # raw units


def test_export_onnx(trained, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    assert main(["export-onnx", "--model", str(trained), "--out", str(tmp_path / "m.onnx")]) == 0
    diff = float(capsys.readouterr().err.rsplit("=", 1)[1])
    assert diff <= 1e-5


def test_list_models(capsys):
    assert main(["list-models"]) == 0
    assert {"conv", "linear", "mlp"} <= set(capsys.readouterr().out.split())


def test_config_file_with_flags_overriding(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('data = "digits"\nmodel = "linear"\nlatent_dim = 3\nepochs = 9\n'
                   f'out = "{tmp_path / "from-toml"}"\n[train]\nbatch_size = 128\n')
    assert main(["train", "--config", str(cfg), "--epochs", "1", "--quiet"]) == 0
    saved = json.loads((tmp_path / "from-toml" / "config.json").read_text())
    assert saved["model"] == "linear" and saved["params"]["latent_dim"] == 3
    assert saved["metadata"]["train_config"]["epochs"] == 1            # the flag won
    assert saved["metadata"]["train_config"]["batch_size"] == 128      # the file's value stayed


def test_train_on_csv_and_resume_is_a_no_op_when_finished(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6))
    lines = ["a,b,c,d,e,f"] + [",".join(f"{v:.5f}" for v in row) for row in X]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    args = ["train", "--data", str(tmp_path / "t.csv"), "--model", "mlp", "--latent-dim", "2",
            "--model-param", "hidden=[16]", "--out", str(tmp_path / "out"), *FAST]
    assert main(args) == 0
    before = (tmp_path / "out" / "model.safetensors").read_bytes()
    assert main(args + ["--resume"]) == 0
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == before


@pytest.mark.parametrize("argv, match", [
    (["train", "--data", "no-such-data", "--out", "x"], r"no-such-data"),
    (["train", "--data", "digits"], r"train needs --out"),
    (["train", "--data", "digits", "--out", "x", "--model", "nope"], r"unknown model 'nope'"),
    (["train", "--data", "digits", "--out", "x", "--param", "channels"], r"expected KEY=VALUE"),
    (["train", "--data", "digits", "--out", "x", "--model-param", "channels"], r"--model-param 'channels': expected"),
    (["train", "--config", "missing.toml"], r"config file missing.toml does not exist"),
    (["evaluate", "--model", "no-such-folder"], r"no such directory"),
])
def test_bad_input_gives_one_clear_line(argv, match, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err
    import re
    assert re.search(match, err), err


def test_bad_toml_is_named(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("data = \n")
    assert main(["train", "--config", str(cfg)]) == 2
    assert "is not valid TOML" in capsys.readouterr().err
    cfg.write_text('data = "digits"\nout = "x"\nepoch = 3\n')
    assert main(["train", "--config", str(cfg)]) == 2
    assert "unknown key(s) ['epoch']" in capsys.readouterr().err


def test_same_seed_same_model(tmp_path):
    blobs = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert main(["train", "--data", "digits", "--model", "conv", "--latent-dim", "4", "--seed", "5",
                     "--out", str(out), "--epochs", "1", "--quiet", "--model-param", "channels=[4,8]"]) == 0
        blobs.append((out / "model.safetensors").read_bytes())
    assert blobs[0] == blobs[1]


def test_train_with_corruption_records_it(tmp_path, capsys):
    out = tmp_path / "dae"
    assert main(["train", "--data", "digits", "--model", "mlp", "--latent-dim", "8", "--out", str(out),
                 "--corruption", "gaussian:0.3", *FAST]) == 0
    assert json.loads((out / "config.json").read_text())["metadata"]["corruption"].startswith("gaussian")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_corrupted_psnr"] > 0 and metrics["test_restored_psnr"] > 0
    assert "Denoising: corrupted input, restoration, clean" in (out / "report.html").read_text()
    assert main(["train", "--data", "digits", "--out", str(tmp_path / "other"), "--corruption", "blur:2", *FAST]) == 2
    assert "blur" in capsys.readouterr().err
