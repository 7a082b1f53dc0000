"""Every command in the README runs as written and does what the README says it does.

Nothing here compares the README's wording or another file's text: the commands are read from the
README's code blocks and run (pip installs are CI's job: .ci/run runs them), and the checks are on what
the commands produce.
"""
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README, re.S)


def split_commands(text):
    """The commands of a shell snippet, in order: each non-comment line, split at ``&&``."""
    return [cmd.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
            for cmd in line.split(" && ")]


def is_install(cmd):
    return shlex.split(cmd)[:2] == ["pip", "install"]


def is_test_command(cmd):
    return shlex.split(cmd)[:3] == ["python", "-m", "pytest"]


def option(cmd, name):
    """The value of ``--name VALUE`` (or ``--name=VALUE``) in a command, or None."""
    argv = shlex.split(cmd)
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def env():
    """The environment of a new user: this Python's scripts first, this checkout importable, no shared data; one
    compute thread per command, since :func:`run_in_order` runs two at once (on CI's 2 cores, two commands of
    two threads each took 226 s for the README, two of one thread 162 s)."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    fresh = {k: v for k, v in os.environ.items() if k != "AEKIT_DATA_DIR"}
    return {**fresh, "PATH": path, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", "AEKIT_NO_SHARED_DATA": "1",
            "AEKIT_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def run(cmd, cwd):
    proc = subprocess.run(cmd, shell=True, cwd=cwd, env=env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"README command failed: {cmd}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.mark.e2e
def test_ci_runs_the_readme_test_command_and_then_the_tier_with_these_tests():
    # .ci/run picks the README's test command with a small Python snippet; run that snippet on the README
    ci = (ROOT / ".ci" / "run").read_text()
    snippet = re.search(r"<<'PY'\n(.*?)\nPY\n", ci, re.S)
    assert snippet, ".ci/run no longer picks the README's test command with a Python here-document"
    picked = run(f"{shlex.quote(sys.executable)} -c {shlex.quote(snippet.group(1))}", ROOT).stdout.strip()
    commands = split_commands(picked)
    assert commands and all(is_install(c) or is_test_command(c) for c in commands), picked
    assert is_test_command(commands[-1]), picked          # installs first, then the tests
    # the test command collects the default tier: this file's quick tests, not the README runner (collect only:
    # nothing runs twice) ...
    collected = run(f"{commands[-1]} --collect-only -q -p no:cacheprovider", ROOT).stdout
    assert "tests/test_readme.py::test_readme_commands_need_no_shared_data" in collected, collected[-2000:]
    assert "test_every_readme_command_runs" not in collected, collected[-2000:]
    # ... and .ci/run runs the e2e tier after it, which holds the README runner (its marker read here: a second
    # collection of the whole suite cost 12 s)
    assert re.search(r"for tier in [\w ]*\be2e\b", ci), ".ci/run no longer runs the e2e tier"
    assert "e2e" in {m.name for m in getattr(test_every_readme_command_runs, "pytestmark", [])}


def runnable_commands():
    """The README's shell commands that the README runner runs: all but installs and the test command."""
    return [cmd for block in blocks("bash") for cmd in split_commands(block)
            if not (is_install(cmd) or is_test_command(cmd))]


def test_readme_commands_need_no_shared_data():
    """Every example runs for a new user: on generated data, scikit-learn's digits or what a package ships,
    never on the shared data folder (AEKIT_DATA_DIR) or a dataset that would be downloaded."""
    for cmd in runnable_commands():
        assert "AEKIT_DATA_DIR" not in cmd, cmd
        data = option(cmd, "--data")
        assert data not in ("mnist", "fashion-mnist", "cifar10"), cmd


def prerequisites(commands):
    """For each command, the earlier commands it needs: those whose ``--out`` holds a path it names, and those
    whose text names the same file (they may write it; waiting on a mere reader costs only time)."""
    def writes(earlier, path):
        out = option(earlier, "--out")
        return (out is not None and (path == out or path.startswith(out + "/"))) or \
            re.search(rf"(?<![\w/.-]){re.escape(path)}(?![\w/.-])", earlier) is not None

    needs = []
    for i, cmd in enumerate(commands):
        paths = [t for t in shlex.split(cmd) if "/" in t or re.search(r"\.[A-Za-z]\w*$", t)]
        needs.append([j for j in range(i) if any(writes(commands[j], p) for p in paths)])
    return needs


def run_in_order(commands, cwd, workers=2):
    """Run the commands, each as soon as the ones it needs have finished, ``workers`` at a time (the README's
    examples are independent chains: the quick start's model, the families, the task commands)."""
    from concurrent.futures import ThreadPoolExecutor

    def after(deps, cmd):
        for d in deps:
            d.result()  # submitted earlier, so running or done: first-in first-out never waits on a queued one
        return run(cmd, cwd)

    futures = []
    with ThreadPoolExecutor(workers) as pool:
        for cmd, needs in zip(commands, prerequisites(commands)):
            futures.append(pool.submit(after, [futures[j] for j in needs], cmd))
    for f in futures:
        f.result()


def test_readme_commands_wait_for_what_they_read():
    commands = ["aekit train --out runs/a", "aekit train --out runs/a-b", "aekit evaluate --model runs/a",
                "aekit compress --model runs/a-b x.png --out runs/s", "python -c \"save('x.png')\"",
                "aekit decompress runs/s/x.aek --out runs/d", "aekit compress --model runs/a-b x.png --out runs/t"]
    assert prerequisites(commands) == [[], [], [0], [1], [], [3], [1, 3, 4]]  # 3 names x.png too: it may write it


@pytest.mark.e2e
def test_every_readme_command_runs(tmp_path):
    # installs: run by .ci/run; the test command: the one that runs the default tier (see above)
    ran = runnable_commands()
    run_in_order(ran, tmp_path)
    # then, two at a time, the TOML example (written to the file its comment names, run with the command in that
    # comment) and the Python blocks (which may read what the commands wrote; `python` is this one: env() puts its
    # folder first on PATH)
    toml_text = blocks("toml")[0]
    toml_name, toml_cmd = re.search(r"#\s*(\S+\.toml):\s*(.*)", toml_text).groups()
    (tmp_path / toml_name).write_text(toml_text)
    run_in_order([toml_cmd] + [f"python -c {shlex.quote(python)}" for python in blocks("python")], tmp_path)
    ran.append(toml_cmd)

    # every command that names an output wrote it
    for cmd in ran:
        out = option(cmd, "--out")
        assert out is None or (tmp_path / out).exists(), f"{cmd!r} did not write {out}"
    # the quick start's model folder holds what the README lists, and its model beats PCA at the same code size
    main_job = next(c for c in split_commands(blocks("bash")[0]) if not is_install(c))
    folder = tmp_path / option(main_job, "--out")
    for name in ("config.json", "model.safetensors", "history.json", "metrics.json", "report.html"):
        assert (folder / name).exists(), name
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["test_mse"] < metrics["pca_test_mse"], metrics
    # running the quick start again does not replace its model: it is refused, with the way to go on
    weights = (folder / "model.safetensors").read_bytes()
    again = subprocess.run(main_job, shell=True, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 2 and "--overwrite" in again.stderr, again.stderr[-2000:]
    assert (folder / "model.safetensors").read_bytes() == weights
    # flags win over the TOML file
    config = tomllib.loads(toml_text)
    toml_metrics = json.loads((tmp_path / config["out"] / "metrics.json").read_text())
    if option(toml_cmd, "--epochs") is not None:
        assert toml_metrics["epochs"] <= int(option(toml_cmd, "--epochs")), (toml_metrics["epochs"], config["epochs"])


NAB = Path(os.environ.get("AEKIT_DATA_DIR", "")) / "nab"   # set by conftest.py when ../shared/data exists


@pytest.mark.e2e
@pytest.mark.skipif(not (NAB / "combined_windows.json").is_file() or not os.environ.get("AEKIT_DATA_DIR"),
                    reason="NAB data not found: set AEKIT_DATA_DIR to the shared data folder holding nab/")
def test_detect_series_on_the_nab_file_the_readme_names(tmp_path):
    """The README's time-series example on the NAB file it names instead of its generated series."""
    series = NAB / "artificialWithAnomaly" / "art_daily_jumpsup.csv"
    proc = run(f"aekit detect-series {shlex.quote(str(series))} --labels "
               f"{shlex.quote(str(NAB / 'combined_windows.json'))} --quiet --out runs/jumpsup", tmp_path)
    out = tmp_path / "runs" / "jumpsup"
    rows = (out / "scores.csv").read_text().splitlines()
    assert rows[0] == "timestamp,value,anomaly_score,label" and len(rows) == 1 + 4032, rows[:2]
    summary = json.loads(proc.stdout)
    assert summary["rows"] == 4032 and summary["ranges"] >= 1 and "NAB normalised (standard)" in summary, summary
    assert json.loads((out / "ranges.json").read_text()) and (out / "report.html").is_file()
    assert (out / "model").is_dir()
