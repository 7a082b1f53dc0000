"""Crash safety: real processes killed with SIGKILL while they write checkpoints, model folders and codec
streams. After every kill, each file written before is intact, the folder reads back as the old state or the
new one (never a mix), and ``aekit train --resume`` finishes the run exactly as an uninterrupted one.

The writers of checkpoints and model folders run in forked children (started in milliseconds, so that each
test can kill several); the ``aekit`` commands run as subprocesses. Every kill comes after a random delay
from a seeded generator, and every wait is bounded.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import aekit
from aekit import Compressor
from aekit.cli import main
from aekit.models import create_model
from aekit.persistence import CONFIG_NAME, PENDING_NAME, WEIGHTS_NAME, save_model
from aekit.training.checkpoint import STATE_NAME, load_checkpoint, save_checkpoint
from tests.helpers import digits

pytestmark = pytest.mark.e2e   # real processes killed mid-write: the e2e tier (pytest -m e2e)

ROOT = Path(__file__).resolve().parents[1]
KILLS = 8
FORK = multiprocessing.get_context("fork")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def wait_for(condition, timeout: float = 60.0, what: str = "the condition"):
    """Poll ``condition()`` until it returns something truthy (returned); fail after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.002)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


def kill_after(process, delay: float) -> None:
    """SIGKILL a running process (multiprocessing or subprocess) after ``delay`` seconds, and reap it."""
    time.sleep(delay)
    os.kill(process.pid, signal.SIGKILL)
    if isinstance(process, subprocess.Popen):
        process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL, "the process ended before it was killed"
    else:
        process.join(timeout=30)
        assert process.exitcode == -signal.SIGKILL, "the process ended before it was killed"


def visible(folder: Path) -> list[str]:
    """Names a reader of the folder sees: the hidden temporary files of killed writes left aside."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


# ---------------------------------------------------------------------------------------- checkpoints
def training_states(n: int) -> list[dict]:
    """``n`` different resume states of a small model: weights, AdamW moments, progress, history."""
    torch.manual_seed(0)
    model = create_model("mlp", input_shape=(64,), latent_dim=4, hidden=[32])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x = torch.rand(16, 64)
    states = []
    for step in range(n):
        opt.zero_grad()
        model(x).recon.sub(x).pow(2).mean().backward()
        opt.step()
        states.append({"model": {k: v.clone() for k, v in model.state_dict().items()},
                       "optimizer": opt.state_dict(), "history": [{"epoch": e} for e in range(step + 1)]})
    return states


def test_a_checkpoint_killed_while_written_loads_as_the_previous_or_the_new_one(tmp_path):
    folder = tmp_path / "checkpoints"
    states = training_states(4)        # made before forking: the children only serialise and write
    saved = FORK.RawValue("q", -1)     # the last epoch whose save_checkpoint returned

    def save_forever(first: int) -> None:
        epoch, end = first, time.monotonic() + 30
        while time.monotonic() < end:
            save_checkpoint(folder, {"epoch": epoch, **states[epoch % len(states)]})
            saved.value = epoch
            epoch += 1

    rng, last = random.Random(0), -1
    for _ in range(KILLS):
        child = FORK.Process(target=save_forever, args=(last + 1,))
        child.start()
        wait_for(lambda: saved.value > last, what="the child's first checkpoint")
        kill_after(child, rng.uniform(0, 0.05))

        state = load_checkpoint(folder)            # previous or new: never a torn mix, never an error
        assert state["epoch"] in (saved.value, saved.value + 1)
        want = states[state["epoch"] % len(states)]
        assert all(torch.equal(v, want["model"][k]) for k, v in state["model"].items())
        assert state["history"] == want["history"]
        moments = state["optimizer"]["state"][0]["exp_avg"]
        assert torch.equal(moments, want["optimizer"]["state"][0]["exp_avg"])
        names = visible(folder)   # state.json and the tensors it names (and, killed before cleanup, one older)
        assert STATE_NAME in names and 2 <= len(names) <= 3, names
        assert all(n == STATE_NAME or (n.startswith("state-") and n.endswith(".safetensors")) for n in names)
        last = state["epoch"]            # the next child goes on from what was saved, as --resume does

    save_checkpoint(folder, {"epoch": last + 1, **states[0]})   # the next save leaves one pair, nothing else
    assert len(list(folder.iterdir())) == 2 and load_checkpoint(folder)["epoch"] == last + 1


# ------------------------------------------------------------------------------------- model folders
def test_a_model_folder_loads_when_a_save_was_killed_between_weights_and_config(tmp_path):
    """The state a kill can leave (new weights, old config.json, the new config pending), made by hand."""
    old = create_model("mlp", input_shape=(64,), latent_dim=4, hidden=[32])
    new = create_model("mlp", input_shape=(64,), latent_dim=4, hidden=[32])
    save_model(tmp_path / "old", old, metadata={"which": "old"})
    save_model(tmp_path / "new", new, metadata={"which": "new"})
    folder = tmp_path / "old"
    (folder / WEIGHTS_NAME).write_bytes((tmp_path / "new" / WEIGHTS_NAME).read_bytes())
    (folder / PENDING_NAME).write_bytes((tmp_path / "new" / CONFIG_NAME).read_bytes())
    loaded = aekit.load(folder)
    assert loaded.metadata["which"] == "new"
    assert all(torch.equal(v, new.state_dict()[k]) for k, v in loaded.model.state_dict().items())

    save_model(folder, old, metadata={"which": "old again"})   # the next save first finishes the killed one
    assert not (folder / PENDING_NAME).exists() and aekit.load(folder).metadata["which"] == "old again"


@pytest.fixture(scope="module")
def codec_folder(tmp_path_factory) -> Path:
    """A tiny fitted codec (8x8 grey images, 4 code units), saved."""
    X, _ = digits()
    folder = tmp_path_factory.mktemp("codec") / "model"
    Compressor(latent_dim=4, epochs=2, batch_size=64, random_state=0).fit(X[:200, 0] * 255.0).save(folder)
    return folder


def test_an_estimator_saved_over_a_good_folder_and_killed_loads_as_old_or_new(codec_folder, tmp_path):
    X = digits()[0][:50, 0] * 255.0
    models = [aekit.load(codec_folder), aekit.load(codec_folder)]
    with torch.no_grad():                       # a second, different model with the same coding tables
        for p in models[1].autoencoder_.model.parameters():
            p.add_(0.05)
    outputs = [m.autoencoder_.reconstruct(X[:, None]) for m in models]
    assert not np.array_equal(*outputs)
    folder = tmp_path / "model"
    models[0].save(folder)
    saves = FORK.RawValue("q", 0)

    def save_forever() -> None:
        end = time.monotonic() + 30
        while time.monotonic() < end:
            models[(saves.value + 1) % 2].save(folder)
            saves.value += 1

    rng = random.Random(1)
    for _ in range(KILLS):
        child = FORK.Process(target=save_forever)
        child.start()
        before = saves.value
        wait_for(lambda: saves.value > before, what="the child's first save")
        kill_after(child, rng.uniform(0, 0.02))
        loaded = aekit.load(folder)
        assert isinstance(loaded, Compressor)
        got = loaded.autoencoder_.reconstruct(X[:, None])
        which = [i for i, out in enumerate(outputs) if np.array_equal(got, out)]
        assert len(which) == 1, "the folder loads to neither the old model nor the new one"
        assert loaded.model_id == models[which[0]].model_id     # config, tables and weights of one model
        assert visible(folder) == [CONFIG_NAME, WEIGHTS_NAME]


# ------------------------------------------------------------------------------------------ aekit train
TRAIN = ["train", "--data", "digits", "--model", "mlp", "--model-param", "hidden=[16]", "--latent-dim", "4",
         "--epochs", "40", "--limit", "300", "--batch-size", "32", "--seed", "0", "--quiet"]


def aekit_command(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "aekit.cli", *args], cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finished(process: subprocess.Popen, timeout: float = 300) -> None:
    _, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err.decode()


def checkpoint_epoch(folder: Path) -> int:
    """The epoch of the checkpoint in ``folder`` (0 while there is none; read while it is being rewritten)."""
    try:
        state = load_checkpoint(folder)
    except ValueError:     # state.json read just before its tensors file was replaced: read again
        return 0
    return 0 if state is None else state["epoch"]


def test_train_killed_mid_run_resumes_to_the_uninterrupted_weights(tmp_path, capsys):
    ref, run = tmp_path / "ref", tmp_path / "run"
    uninterrupted = aekit_command(*TRAIN, "--out", str(ref))
    victim = aekit_command(*TRAIN, "--out", str(run))
    wait_for(lambda: checkpoint_epoch(run / "checkpoints") >= 3, timeout=240, what="epoch 3 of the run")
    kill_after(victim, random.Random(2).uniform(0, 0.1))
    epoch = checkpoint_epoch(run / "checkpoints")
    assert 3 <= epoch < 40 and not (run / WEIGHTS_NAME).exists()

    assert main([*TRAIN, "--out", str(run)]) == 2       # the folder is not replaced by a fresh start...
    assert "--resume" in capsys.readouterr().err and checkpoint_epoch(run / "checkpoints") == epoch
    finished(aekit_command(*TRAIN, "--out", str(run), "--resume"))   # ...but continued
    finished(uninterrupted)
    assert (run / WEIGHTS_NAME).read_bytes() == (ref / WEIGHTS_NAME).read_bytes()
    history = [json.loads((d / "history.json").read_text()) for d in (ref, run)]
    assert [h["epoch"] for h in history[1]] == list(range(1, 41))
    assert [h["train_loss"] for h in history[1]] == [h["train_loss"] for h in history[0]]


# --------------------------------------------------------------------------------------- aekit compress
def test_compress_killed_while_writing_streams_leaves_every_written_stream_intact(codec_folder, tmp_path):
    X = digits()[0][:, 0] * 255.0
    np.save(tmp_path / "batch.npy", X[:1500])
    np.save(tmp_path / "other.npy", X[-1500:])
    done = tmp_path / "done"
    finished(aekit_command("compress", "--model", str(codec_folder), str(tmp_path / "batch.npy"), "--out", str(done)))
    reference = {p.name: p.read_bytes() for p in done.iterdir()}
    assert len(reference) == 1500

    fresh, rng = tmp_path / "fresh", random.Random(3)
    into_new = aekit_command("compress", "--model", str(codec_folder), str(tmp_path / "batch.npy"), "--out",
                             str(fresh))
    over_old = aekit_command("compress", "--model", str(codec_folder), str(tmp_path / "other.npy"), "--out",
                             str(done), "--overwrite")
    writing = {into_new: lambda: fresh.is_dir() and visible(fresh),     # each killed once it has written
               over_old: lambda: any(p.name.startswith(".done.new-") and visible(p) for p in tmp_path.iterdir())}
    while writing:
        ready = wait_for(lambda: [proc for proc, started in writing.items() if started()], timeout=240,
                         what="the first stream of each command")
        for proc in ready:
            kill_after(proc, rng.uniform(0, 0.01))
            del writing[proc]

    written = {name: (fresh / name).read_bytes() for name in visible(fresh)}
    assert 0 < len(written) < 1500, "the kill came after the last stream"
    assert all(blob == reference[name] for name, blob in written.items())   # every written stream is whole
    codec = aekit.load(codec_folder)
    decoded = codec.decompress(list(written.values()))
    assert decoded.shape == (len(written), 8, 8) and np.isfinite(decoded).all()
    assert {p.name: p.read_bytes() for p in done.iterdir()} == reference      # the old results, untouched
