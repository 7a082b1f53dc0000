"""The machinery of the long photo-model training (benchmarks/train_pretrained.py): the ``residual-cnn``
restorer runs on images of any size, a fit inside ``resumable_fits`` that is killed goes on where it stopped
and ends where an uninterrupted fit ends, and ``aekit compress`` says when JPEG would give a better file."""
import numpy as np
import pytest
import torch
import torch._dynamo  # noqa: F401  (imported by the first optimizer of a process: seconds, once, not a test's cost)

from aekit import Restorer
from aekit.cli import main
from aekit.training import resumable_fits
from aekit.zoo import BEATS_JPEG, jpeg_warning
from tests.helpers import digits

TINY = {"task": "denoise", "corruption": "gaussian:0.2", "model": "residual-cnn", "latent_dim": 6,
        "model_params": {"depth": 3}, "epochs": 3, "batch_size": 64, "n_patches": 40}


def _weights(est) -> list[torch.Tensor]:
    return [v.clone() for v in est.autoencoder_.model.state_dict().values()]


def test_residual_cnn_restorer_restores_images_of_any_size():
    X, _ = digits()
    est = Restorer(**{**TINY, "epochs": 1}).fit(X[:200, 0])
    odd = np.random.default_rng(0).random((13, 17)).astype(np.float32)       # sides not divisible by shuffle=2
    out = est.restore(odd)
    assert out.shape == odd.shape and np.isfinite(out).all()


class _Killed(Exception):
    pass


def test_a_killed_resumable_fit_goes_on_and_ends_as_an_uninterrupted_one(tmp_path):
    X = digits()[0][:300, 0]
    whole = Restorer(**TINY).fit(X)

    def kill_after_first_epoch(epoch, logs):
        if epoch == 1:
            raise _Killed                    # after the epoch's checkpoint, as a session that ends

    with pytest.raises(_Killed), resumable_fits(tmp_path, every_steps=2, callbacks=[kill_after_first_epoch]):
        Restorer(**TINY).fit(X)
    assert (tmp_path / "state.json").exists()
    with resumable_fits(tmp_path, every_steps=2):
        resumed = Restorer(**TINY).fit(X)
    assert [h["epoch"] for h in resumed.history_] == [1, 2, 3]
    assert all(torch.equal(a, b) for a, b in zip(_weights(whole), _weights(resumed)))


def test_a_finished_fit_given_more_epochs_goes_on_from_where_it_ended(tmp_path):
    X = digits()[0][:300, 0]
    with resumable_fits(tmp_path, every_steps=2):
        short = Restorer(**{**TINY, "epochs": 2}).fit(X)
    with resumable_fits(tmp_path, every_steps=2):
        again = Restorer(**{**TINY, "epochs": 2}).fit(X)           # the same budget: nothing to do
    assert [h["epoch"] for h in again.history_] == [1, 2]
    assert all(torch.equal(a, b) for a, b in zip(_weights(short), _weights(again)))
    with resumable_fits(tmp_path, every_steps=2):
        longer = Restorer(**{**TINY, "epochs": 4}).fit(X)          # a larger budget: epochs 3 and 4 are trained
    assert [h["epoch"] for h in longer.history_] == [1, 2, 3, 4]
    assert not all(torch.equal(a, b) for a, b in zip(_weights(short), _weights(longer)))


def test_compress_warns_in_one_line_where_jpeg_gives_a_better_file(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(BEATS_JPEG, "codec-photo", None)                  # a codec that never beats JPEG
    assert "JPEG gives a better image" in jpeg_warning("codec-photo", 0.5)
    monkeypatch.setitem(BEATS_JPEG, "codec-photo", (0.25, 1.0))
    assert jpeg_warning("codec-photo", 0.5) is None
    assert "outside 0.25-1, the range where" in jpeg_warning("codec-photo", 2.0)
    monkeypatch.setitem(BEATS_JPEG, "codec-photo", None)
    from PIL import Image

    img = (np.random.default_rng(0).random((32, 48, 3)) * 255).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "p.png")
    assert main(["compress", str(tmp_path / "p.png"), "--out", str(tmp_path / "s")]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "JPEG" in warnings[0]


@pytest.mark.e2e
def test_train_pretrained_smoke_run_ships_and_a_second_run_resumes(tmp_path):
    """benchmarks/train_pretrained.py end to end on a tiny network: it trains, logs the validation curve, ships
    the model (nothing shipped yet in --out), and a second run finds the finished training and only evaluates."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    cmd = [sys.executable, str(root / "benchmarks" / "train_pretrained.py"), "--only", "super-resolve-x2-photo",
           "--smoke", "--out", str(tmp_path / "w"), "--checkpoint-dir", str(tmp_path / "c")]
    for _ in range(2):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=root)
        assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "c" / "super-resolve-x2-photo" / "progress.jsonl").open()]
    assert [r["epoch"] for r in rows] == [1]                        # the second run trained no further
    assert (tmp_path / "w" / "super-resolve-x2-photo" / "model.safetensors").exists()
    assert "already finished" in done.stderr or '"finished": true' in done.stderr
