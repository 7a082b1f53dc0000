"""One command-line grammar (the README's "Command-line grammar" table): every old spelling still works for
one release and says so on one line naming the new one; every command that fits something takes the same
fitting flags, and the same --seed gives the same model; `aekit list-estimators` lists the registry."""
import json
from pathlib import Path

import numpy as np
import pytest

from aekit.cli import main

TINY = ["--epochs", "1", "--quiet"]
RESTORER = ["--param", "patch_size=16", "--param", "n_patches=16"]
# 2-D codes: the report's map of them needs no UMAP (whose compilation takes a minute)
CLUSTERER = ["--param", "latent_dim=2", "--param", 'embedding="none"', "--param", "min_steps=0", "--param",
             "model=mlp"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """Small inputs: a 32x32 colour picture, six 16x16 images with their class maps, a series, table rows."""
    from PIL import Image

    root = tmp_path_factory.mktemp("grammar")
    rng = np.random.default_rng(0)
    smooth = np.cumsum(np.cumsum(rng.random((32, 32, 3)), 0), 1)
    Image.fromarray((smooth / smooth.max() * 255).astype(np.uint8)).save(root / "photo.png")
    for name in ("images", "masks"):
        (root / name).mkdir()
    for i in range(6):
        x = rng.random((16, 16))
        Image.fromarray((x * 255).astype(np.uint8)).save(root / "images" / f"{i}.png")
        Image.fromarray((x > 0.5).astype(np.uint8)).save(root / "masks" / f"{i}.png")
    t = np.arange("2024-01-01T00:00", 300 * 5, 5, dtype="datetime64[m]")
    values = np.sin(np.arange(300) / 5)
    (root / "series.csv").write_text("timestamp,value\n" + "".join(
        f"{str(a).replace('T', ' ')}:00,{v:.6f}\n" for a, v in zip(t, values)))
    from sklearn.datasets import load_digits

    np.save(root / "rows.npy", load_digits().images[:3].reshape(3, 1, 8, 8))
    return root


def run(argv, capsys) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def deprecation_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "FutureWarning" in line or "deprecated" in line]


# ------------------------------------------------------------------------------ old spellings
# (what is deprecated, old command line, the new spelling its warning must name, a check of what it did)
OLD_SPELLINGS = [
    ("train --param for a model argument",
     ["train", "--data", "digits", "--limit", "200", "--model", "mlp", "--latent-dim", "2", "--param",
      "hidden=[8]", "--out", "{out}"], "--model-param hidden",
     lambda out: json.loads((out / "config.json").read_text())["params"]["hidden"] == [8]),
    ("restore --original",
     ["restore", "--task", "denoise", "--fit", "{files}/photo.png", *RESTORER, "{files}/photo.png",
      "--original", "{files}/photo.png", "--out", "{out}"], "--truth",
     lambda out: "mean_psnr_restored" in json.loads((out / "metrics.json").read_text())),
    ("restore --model as the output of --fit",
     ["restore", "--task", "denoise", "--fit", "{files}/photo.png", *RESTORER, "--model", "{out}-model",
      "{files}/photo.png", "--out", "{out}"], "OUT/model",
     lambda out: (Path(f"{out}-model") / "config.json").is_file() and not (out / "model").exists()),
    ("segment --model as the output of --fit",
     ["segment", "--fit", "{files}/images", "--targets", "{files}/masks", *RESTORER, "--model", "{out}-model",
      "{files}/images/0.png", "--out", "{out}"], "OUT/model",
     lambda out: (Path(f"{out}-model") / "config.json").is_file() and not (out / "model").exists()),
    ("detect --train",
     ["detect", "--train", "digits", "--data", "digits", "--limit", "200", "--param", "min_steps=0",
      "--n-heatmaps", "0", "--out", "{out}"], "--fit",
     lambda out: (out / "model" / "config.json").is_file() and (out / "scores.csv").is_file()),
    ("restore --task colourise",
     ["restore", "--task", "colourise", "--fit", "{files}/photo.png", *RESTORER, "{files}/photo.png",
      "--corrupt", "--out", "{out}"], "--task colorize",
     lambda out: json.loads((out / "metrics.json").read_text())["task"] == "colorize"),
]


@pytest.mark.parametrize("what, argv, new, check", OLD_SPELLINGS, ids=[s[0] for s in OLD_SPELLINGS])
def test_every_old_spelling_works_and_warns_on_one_line_naming_the_new_one(what, argv, new, check, files,
                                                                           tmp_path, capsys):
    out = tmp_path / "out"
    code, err = run([a.format(files=files, out=out) for a in argv] + TINY, capsys)
    assert code == 0, err
    lines = deprecation_lines(err)
    assert len(lines) == 1, err
    assert lines[0].startswith("aekit: warning: ") and "deprecated" in lines[0] and new in lines[0], lines
    assert check(out), what


def test_train_param_sets_run_options_without_a_warning(tmp_path, capsys):
    code, err = run(["train", "--data", "digits", "--model", "mlp", "--model-param", "hidden=[8]", "--latent-dim",
                     "2", "--param", "limit=150", "--param", "lr=0.01", "--param", "epochs=3", "--epochs", "1",
                     "--quiet", "--out", tmp_path / "out"], capsys)
    assert code == 0, err
    assert not deprecation_lines(err), err
    saved = json.loads((tmp_path / "out" / "config.json").read_text())
    assert saved["params"]["hidden"] == [8]
    assert saved["metadata"]["run"]["limit"] == 150
    assert saved["metadata"]["train_config"]["lr"] == 0.01 and saved["metadata"]["train_config"]["epochs"] == 1


# ------------------------------------------------------------------------------ fitting flags, seeds
# every command that fits: its command line (writing to {out}) and where the fitted model goes
FITTING = {
    "train": (["train", "--data", "digits", "--limit", "200", "--model", "mlp", "--latent-dim", "2",
               "--model-param", "hidden=[8]"], ""),
    "fit": (["fit", "reducer", "--data", "digits", "--limit", "200", "--param", "model=mlp", "--model-param",
             "hidden=[8]", "--param", "latent_dim=2"], ""),
    "restore": (["restore", "--task", "denoise", "--fit", "{files}/photo.png", *RESTORER, "--corrupt",
                 "{files}/photo.png"], "model"),
    "segment": (["segment", "--fit", "{files}/images", "--targets", "{files}/masks", *RESTORER,
                 "{files}/images/0.png"], "model"),
    "detect": (["detect", "--fit", "digits", "--data", "digits", "--limit", "200", "--param", "min_steps=0",
                "--n-heatmaps", "0"], "model"),
    "detect-series": (["detect-series", "{files}/series.csv", "--train-fraction", "0.5", "--param", "window=16"],
                      "model"),
    "cluster": (["cluster", "--data", "digits", "--limit", "200", "--n-clusters", "3", *CLUSTERER,
                 "--model-param", "hidden=[8]"], "model"),
    "compress": (["compress", "--fit", "digits", "--limit", "200", "--param", "model=compressive-mlp",
                  "--model-param", "hidden=[8]", "{files}/rows.npy"], "model"),
}


@pytest.mark.parametrize("command", sorted(FITTING))
def test_each_fitting_command_takes_epochs_and_seed_and_the_same_seed_gives_the_same_model(command, files,
                                                                                           tmp_path, capsys):
    argv, model = FITTING[command]
    saved = []
    for name in ("a", "b"):
        out = tmp_path / name
        code, err = run([a.format(files=files) for a in argv] + ["--epochs", "1", "--seed", "3", "--batch-size",
                                                                 "8", "--quiet", "--out", out], capsys)
        assert code == 0, err
        assert not deprecation_lines(err), err
        saved.append(json.loads((out / model / "config.json").read_text()))
    assert saved[0]["weights_sha256"] == saved[1]["weights_sha256"]
    meta = saved[0]["metadata"]
    if command == "train":
        assert meta["train_config"]["random_state"] == 3 and meta["train_config"]["epochs"] == 1
        assert meta["train_config"]["batch_size"] == 8
    else:
        params = meta["estimator"]["params"]
        assert (params["random_state"], params["epochs"], params["batch_size"]) == (3, 1, 8), params


@pytest.mark.parametrize("argv", [
    ["detect", "--model", "saved", "--data", "digits", "--epochs", "3"],
    ["restore", "--model", "saved", "x.png", "--param", "epochs=3"],
    ["segment", "--model", "saved", "x.png", "--seed", "1"],
    ["cluster", "--model", "saved", "--data", "digits", "--model-param", "hidden=[8]"],
    ["compress", "--model", "saved", "x.png", "--max-time", "5"],
    ["detect-video", "--model", "saved", "x.npy", "--seed", "2"],
], ids=lambda a: a[0])
def test_fitting_flags_beside_a_saved_model_are_refused(argv, tmp_path, capsys):
    code, err = run([*argv, "--out", tmp_path / "out"], capsys)
    assert code == 2 and "sets the parameters of a fit" in err and "Traceback" not in err, err


def test_fit_then_apply_needs_a_model_or_data_to_fit(tmp_path, capsys):
    for command in ("restore", "segment"):
        code, err = run([command, "x.png", "--out", tmp_path / command], capsys)
        assert code == 2 and "pass --model DIR" in err and "--fit DATA" in err, err


def test_cluster_applies_a_saved_clusterer(files, tmp_path, capsys):
    fitted = tmp_path / "fitted"
    code, err = run(["cluster", "--data", "digits", "--limit", "200", "--n-clusters", "3", *CLUSTERER, *TINY,
                     "--out", fitted], capsys)
    assert code == 0, err
    code, err = run(["cluster", "--model", fitted / "model", "--data", "digits", "--limit", "200", "--quiet",
                     "--out", tmp_path / "applied"], capsys)
    assert code == 0, err
    def clusters(folder):
        return np.array([int(row.split(",")[1]) for row in (folder / "clusters.csv").read_text().splitlines()[1:]])

    fit_labels, applied = clusters(fitted), clusters(tmp_path / "applied")
    assert len(applied) == len(fit_labels) and (applied == fit_labels).mean() > 0.8   # the same samples: kNN
    assert not (tmp_path / "applied" / "model").exists()                                # nothing new was fitted


# ------------------------------------------------------------------------------ listing
def test_list_estimators_lists_every_registered_estimator(capsys):
    from aekit.estimators import list_estimators

    assert main(["list-estimators"]) == 0
    assert capsys.readouterr().out.split() == list(list_estimators())
