"""Every command in the README runs as written (pip installs are CI's job: .ci/run runs them)."""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README, re.S)


def env():
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}


def run(cmd, cwd):
    proc = subprocess.run(cmd, shell=True, cwd=cwd, env=env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"README command failed: {cmd}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_readme_starts_with_install_and_main_job_then_tests():
    first, second = blocks("bash")[:2]
    assert first.startswith("pip install -c constraints.txt -e . && aekit train --data digits --model conv")
    assert second.strip() == 'pip install -c constraints.txt -e ".[test]" && python -m pytest'
    assert (ROOT / "constraints.txt").read_text().strip() == "torch==2.13.0"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "blocks[1]" in ci and "eval \"$test_command\"" in ci


def test_every_readme_command_runs(tmp_path):
    import json

    for block in blocks("bash"):
        for line in block.strip().splitlines():
            for cmd in line.split(" && "):
                if cmd.startswith("pip install") or cmd.startswith("python -m pytest"):
                    continue  # installs: run by .ci/run; the test command: this is it
                run(cmd, tmp_path)
    toml_cmd = re.search(r"#\s*run.toml:\s*(.*)", blocks("toml")[0]).group(1)  # the command in its comment
    (tmp_path / "run.toml").write_text(blocks("toml")[0])
    run(toml_cmd, tmp_path)
    metrics = json.loads((tmp_path / "runs/digits/metrics.json").read_text())
    # the main job's model beats PCA at the same code size on held-out digits
    assert metrics["test_mse"] < metrics["pca_test_mse"]
    for name in ("config.json", "model.safetensors", "history.json", "report.html"):
        assert (tmp_path / "runs/digits" / name).exists()
    assert (tmp_path / "runs/digits-mlp/config.json").exists()
    assert json.loads((tmp_path / "runs/digits-mlp/metrics.json").read_text())["epochs"] <= 5  # flag beat TOML
    assert (tmp_path / "runs/digits.onnx").exists() and (tmp_path / "runs/ddp/model.safetensors").exists()
    for python in blocks("python"):
        run(f"{shlex.quote(sys.executable)} -c {shlex.quote(python)}", tmp_path)
