"""What a user meets at the command line: output folders that are never silently replaced, one line and exit 2
for every expected failure, resume notices, progress and --quiet, fast --help, and files with normal modes."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import aekit.cli as cli
from aekit.cli import main
from aekit.fileio import atomic_write_bytes

QUICK = ["--data", "digits", "--model", "mlp", "--latent-dim", "4", "--epochs", "1", "--batch-size", "128"]


def train(out, *extra) -> int:
    return main(["train", *QUICK, "--out", str(out), "--quiet", *extra])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("boundary") / "run"
    assert train(out) == 0
    return out


def one_error_line(err: str) -> str:
    """The single error line of a refused command (warnings aside), checked to carry no traceback."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1, err
    return lines[0]


# ------------------------------------------------------------------------------ 1. output folders
def test_rerunning_train_into_its_folder_is_refused_and_keeps_the_model(run_dir, capsys):
    before = (run_dir / "model.safetensors").read_bytes()
    assert train(run_dir) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "is not empty" in line and "--resume" in line and "--overwrite" in line
    assert (run_dir / "model.safetensors").read_bytes() == before


@pytest.mark.parametrize("command", [
    ["fit", "reducer", "--data", "digits"],
    ["detect", "--fit", "digits", "--data", "digits"],
    ["restore", "--model", "no-such-model", "no-such-image.png"],
    ["segment", "--model", "no-such-model", "no-such-image.png"],
    ["compress", "--model", "no-such-model", "no-such-image.png"],
    ["decompress", "--model", "no-such-model", "no-such-stream.aek"],
], ids=lambda c: c[0])
def test_every_command_refuses_a_non_empty_output_folder_before_any_work(command, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("an earlier result")
    assert main([*command, "--out", str(out)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "is not empty (holds keep.txt)" in line and "--overwrite" in line  # not the missing inputs
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_overwrite_replaces_a_run_and_a_failed_overwrite_leaves_it_intact(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(out) == 0
    (out / "notes.txt").write_text("mine")
    first = (out / "model.safetensors").read_bytes()
    # a run that fails part-way (diverges) must not touch the old folder, nor leave its build folder behind
    assert train(out, "--overwrite", "--lr", "1e6") == 2
    assert "the loss became" in one_error_line(capsys.readouterr().err)
    assert (out / "model.safetensors").read_bytes() == first and (out / "notes.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    # a successful one replaces the folder as a whole: nothing of the old run is mixed in
    assert train(out, "--overwrite", "--seed", "1") == 0
    assert (out / "model.safetensors").read_bytes() != first and not (out / "notes.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_resume_and_overwrite_exclude_each_other(run_dir, capsys):
    assert train(run_dir, "--resume", "--overwrite") == 2
    assert "exclude each other" in one_error_line(capsys.readouterr().err)


def test_resume_says_what_it_resumes(run_dir, tmp_path, capsys):
    assert main(["train", *QUICK, "--out", str(tmp_path / "new"), "--resume"]) == 0
    assert "nothing to resume" in capsys.readouterr().err
    assert main(["train", *QUICK, "--out", str(run_dir), "--resume"]) == 0
    assert "already finished (epoch 1)" in capsys.readouterr().err


def test_resuming_an_interrupted_run_names_the_epoch(tmp_path, capsys):
    from aekit import create_model
    from aekit.training import TrainConfig, fit
    from tests.helpers import digits_split

    train_x, val_x = digits_split()
    cfg = dict(epochs=3, batch_size=256, checkpoint_dir=str(tmp_path))

    def stop(epoch, logs):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(create_model("mlp", input_shape=(1, 8, 8), latent_dim=4), train_x, val_x,
            config=TrainConfig(**cfg, progress=False), callbacks=[stop])
    capsys.readouterr()
    fit(create_model("mlp", input_shape=(1, 8, 8), latent_dim=4), train_x, val_x, config=TrainConfig(**cfg),
        resume=True)
    assert "resuming from epoch 2 of 3" in capsys.readouterr().err


# ------------------------------------------------------------------------------ 2. one error boundary
@pytest.mark.parametrize("extra, expected", [
    (["--batch-size", "64"], "batch_size: checkpoint 128 vs now 64"),
    (["--latent-dim", "6"], "a changed model size or type"),
], ids=["batch-size", "model-size"])
def test_resume_with_changed_options_is_one_line_before_training(run_dir, extra, expected, capsys):
    before = (run_dir / "model.safetensors").read_bytes()
    assert train(run_dir, "--resume", *extra) == 2
    assert expected in one_error_line(capsys.readouterr().err)
    assert (run_dir / "model.safetensors").read_bytes() == before


@pytest.mark.parametrize("argv, expected", [
    (["train", *QUICK, "--out", "{file}"], "is a file; expected a folder"),
    (["train", *QUICK, "--out", "{file}/sub"], "cannot write there"),
    (["evaluate", "--model", "{run}", "--out", "{run}"], "is a folder; expected a JSON file"),
    (["train", *QUICK, "--out", "{new}", "--model-param", "hidden=[64,"], "--model-param hidden=[64,: not valid JSON"),
    (["train", *QUICK, "--out", "{new}", "--model-param", "nosuch=1"], "got unknown argument(s) ['nosuch']"),
    (["fit", "reducer", "--data", "digits", "--out", "{new}", "--param", "latent_dim=-3"], "latent_dim"),
    (["fit", "reducer", "--data", "digits", "--out", "{new}", "--param", "nosuch=1"], "no such parameter"),
    (["train", *QUICK, "--out", "{new}", "--lr", "1e6"], "the loss became"),
], ids=["out-is-file", "out-under-file", "evaluate-out-folder", "param-json", "model-param", "estimator-value",
        "estimator-param", "diverged"])
def test_expected_failures_print_one_line_and_exit_2(argv, expected, run_dir, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    names = {"file": tmp_path / "afile", "run": run_dir, "new": tmp_path / "new"}
    argv = [a.format(**names) for a in argv]
    assert main(argv + ["--quiet"]) == 2
    assert expected in one_error_line(capsys.readouterr().err)


def test_a_bug_keeps_its_traceback_and_asks_for_a_report(monkeypatch, capsys):
    def broken(args):
        raise KeyError("internal")

    monkeypatch.setattr(cli, "run_command", broken)
    assert main(["list-models"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError" in err and "please report it" in err


def test_interrupt_exits_130_and_offers_resume(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_command", interrupted)
    assert main(["train", "--data", "digits", "--out", "x"]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "--resume" in err


# ------------------------------------------------------------------------------ 4. progress, --quiet, warnings
def test_every_command_takes_quiet():
    parser = cli.make_parser()
    commands = parser._subparsers._group_actions[0].choices
    missing = [name for name, p in commands.items() if "--quiet" not in p._option_string_actions]
    assert not missing


def test_fit_shows_the_training_progress_bar_unless_quiet(tmp_path, capsys):
    args = ["fit", "reducer", "--data", "digits", "--param", "epochs=1", "--param", "model=\"mlp\""]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert "training:" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert "training:" not in capsys.readouterr().err


def test_warnings_print_as_one_readable_line(monkeypatch, capsys):
    import warnings

    from aekit.diagnostics import CollapseWarning

    def warns(args):
        warnings.warn("the model collapsed", CollapseWarning, stacklevel=2)
        return 0

    monkeypatch.setattr(cli, "run_command", warns)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["list-models"]) == 0
    assert capsys.readouterr().err == "aekit: warning: the model collapsed (CollapseWarning)\n"


# ------------------------------------------------------------------------------ 5. start-up and help
def test_help_imports_neither_torch_nor_sklearn():
    code = ("import sys, aekit.cli; aekit.cli.make_parser(); "
            "print(sorted(m for m in ('torch', 'sklearn', 'aekit.estimators') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    from aekit.version import __version__

    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"aekit {__version__}"


def test_every_train_flag_has_help_with_its_default():
    train_parser = cli.make_parser()._subparsers._group_actions[0].choices["train"]
    flags = [a for a in train_parser._actions if a.option_strings and a.dest != "help"]
    vague = [a.option_strings[0] for a in flags if not a.help or
             ("default" not in a.help and a.nargs != 0 and a.dest not in ("param", "config", "out", "data"))]
    assert not vague
    from aekit.training import TrainConfig

    assert f"(default: {TrainConfig().batch_size})" in next(a.help for a in flags if a.dest == "batch_size")


def test_fit_estimator_help_lists_its_parameters(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "anomaly-detector", "--help"])
    out = capsys.readouterr().out
    assert "AnomalyDetector parameters" in out and "n_estimators = " in out and "contamination" in out


# ------------------------------------------------------------------------------ 6. file modes
def test_outputs_respect_the_umask_and_keep_an_existing_files_mode(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a.json", lambda f: f.write(b"{}"))
        assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
        os.chmod(tmp_path / "a.json", 0o600)
        atomic_write_bytes(tmp_path / "a.json", lambda f: f.write(b"[]"))
        assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o600
        out = tmp_path / "run"
        assert train(out) == 0 and train(out, "--overwrite") == 0
        assert out.stat().st_mode & 0o777 == 0o755
        assert {p.stat().st_mode & 0o777 for p in out.iterdir() if p.is_file()} == {0o644}
    finally:
        os.umask(old)
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 1
    assert Path(out / "checkpoints").is_dir()
