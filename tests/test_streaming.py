"""Data larger than memory (aekit.data.streaming) and incremental fitting (partial_fit): every row once per
epoch in a seeded global order, resumable mid-epoch, split across processes and workers; the scaler in one
pass; estimators trained on a stream match the in-memory fit; two halves fitted in turn match one fit."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from aekit import AnomalyDetector, Compressor, Reducer
from aekit.data import DataError, Scaler
from aekit.data import streaming
from aekit.data.streaming import ArrayStream, ImageFolderStream, csv_to_shards
from tests.helpers import digits

ADBENCH = Path(os.environ.get("AEKIT_DATA_DIR", "")) / "adbench"


def _shards(tmp_path, lengths=(700, 455, 1000), width=3) -> Path:
    start = 0
    for i, n in enumerate(lengths):
        rows = np.arange(start, start + n, dtype=np.float32)[:, None].repeat(width, 1)
        np.save(tmp_path / f"part-{i:02d}.npy", rows)
        start += n
    return tmp_path


def _epoch(stream: ArrayStream, epoch: int, skip: int = 0) -> np.ndarray:
    stream.set_epoch(epoch)
    if skip:
        stream.skip(skip)
    return np.concatenate([xb.numpy()[:, 0] for xb, _ in stream])


def test_every_row_once_per_epoch_in_a_seeded_global_order_and_resumable(tmp_path):
    stream = ArrayStream(_shards(tmp_path), block_size=50, buffer_size=200).configure(batch_size=64, seed=3)
    assert len(stream) == 2155 and stream.sample_shape == (3,)
    first = _epoch(stream, 1)
    assert sorted(first.tolist()) == list(range(2155))                       # each row exactly once
    assert np.array_equal(first, _epoch(stream, 1))                          # seeded: the same order again
    assert not np.array_equal(first, _epoch(stream, 2))                      # a new order each epoch
    # the order mixes the shards: rows of all three shards among the first 300
    assert {int(v) // 700 for v in first[:300]} >= {0, 1, 2}
    assert np.array_equal(_epoch(stream, 1, skip=1000), first[1000:])       # resuming mid-epoch
    in_order = ArrayStream(tmp_path, shuffle=False).configure(batch_size=500, seed=0)
    assert np.array_equal(_epoch(in_order, 1), np.arange(2155))


def test_processes_and_workers_read_disjoint_blocks_that_cover_the_data(tmp_path, monkeypatch):
    stream = ArrayStream(_shards(tmp_path), block_size=40, buffer_size=100).configure(batch_size=32, seed=0)
    seen = []
    for rank in range(2):  # under DDP: the same number of full batches in each process (DDP steps together)
        monkeypatch.setattr(streaming, "_distributed", lambda rank=rank: (rank, 2))
        seen.append(_epoch(stream, 1))
    assert len(seen[0]) == len(seen[1]) == 32 * int(np.ceil(2155 / 64))
    assert not set(seen[0].tolist()) & set(seen[1].tolist())                # each its own blocks
    assert len(set(np.concatenate(seen).tolist())) > 0.95 * 2155
    monkeypatch.setattr(streaming, "_distributed", lambda: (0, 1))
    import torch

    loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=2)   # two worker processes
    stream.set_epoch(1)
    rows = np.concatenate([xb.numpy()[:, 0] for xb, _ in loader])
    assert sorted(rows.tolist()) == list(range(2155))


def test_bad_sources_are_named(tmp_path):
    with pytest.raises(DataError, match="no .npy shards in this folder"):
        ArrayStream(tmp_path)
    np.save(tmp_path / "a.npy", np.zeros((5, 3), np.float32))
    np.save(tmp_path / "b.npy", np.zeros((5, 4), np.float32))
    with pytest.raises(DataError, match=r"different sample shapes \[\(3,\), \(4,\)\]"):
        ArrayStream(tmp_path)
    with pytest.raises(DataError, match="no such file or folder"):
        ArrayStream(tmp_path / "missing.npy")


@pytest.mark.parametrize("method, per", [("minmax", "feature"), ("standard", "feature"), ("standard", "channel")])
def test_scaler_in_one_pass_equals_the_whole_fit(method, per):
    X = np.random.default_rng(0).normal(3, 2, (1000, 4, 5)).astype(np.float32)
    whole = Scaler(method, per=per).fit(X)
    pieces = Scaler(method, per=per).fit_chunks(X[i:i + 77] for i in range(0, 1000, 77))
    np.testing.assert_allclose(pieces.offset_, whole.offset_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(pieces.scale_, whole.scale_, rtol=1e-9)
    with pytest.raises(DataError, match="a piece has samples of shape"):
        Scaler(method).fit_chunks([X[:5], X[:5, :2]])


def test_reducer_on_a_stream_matches_the_in_memory_fit_and_writes_codes(tmp_path):
    X, _ = digits()
    X = X.reshape(len(X), -1)
    for i in range(3):
        np.save(tmp_path / f"part-{i}.npy", X[i * 600:(i + 1) * 600])
    stream = ArrayStream(tmp_path, block_size=64, buffer_size=512)
    streamed = Reducer(8, epochs=20, random_state=0).fit(stream)
    in_memory = Reducer(8, epochs=20, validation_fraction=0.0, random_state=0).fit(X)
    assert -streamed.score(X) < 1.15 * -in_memory.score(X), (streamed.score(X), in_memory.score(X))
    path = streamed.transform_to(stream, tmp_path / "codes.npy")
    np.testing.assert_allclose(np.load(path), streamed.transform(X), atol=1e-5)
    assert not (tmp_path / "codes.npy.tmp").exists()
    np.testing.assert_allclose(streamed.score(stream), streamed.score(X), rtol=1e-4)
    recon = np.load(streamed.reconstruct_to(stream, tmp_path / "recon.npy"))
    np.testing.assert_allclose(recon, streamed.reconstruct(X), atol=1e-4)
    images = (X.reshape(-1, 1, 8, 8) * 16).astype(np.uint8)                     # 0..16 grey images, as bytes
    np.save(tmp_path / "img.npy", images)
    conv = Reducer(8, model="conv", epochs=2, random_state=0).fit(ArrayStream(tmp_path / "img.npy"))
    assert conv.autoencoder_.scaler.value_range == (0.0, 16.0) and conv.transform(images[:5]).shape == (5, 8)


@pytest.mark.skipif(not (ADBENCH / "7_Cardiotocography.npz").is_file(),
                    reason="the ADBench tables of the shared data are absent (set AEKIT_DATA_DIR)")
def test_a_csv_table_streamed_into_the_anomaly_detector_scores_as_the_in_memory_fit(tmp_path):
    import pandas as pd

    data = np.load(ADBENCH / "7_Cardiotocography.npz")
    X, y = data["X"].astype(np.float32), data["y"].astype(int)
    pd.DataFrame(X, columns=[f"c{j}" for j in range(X.shape[1])]).to_csv(tmp_path / "t.csv", index=False)
    stream = csv_to_shards(tmp_path / "t.csv", tmp_path / "shards", rows_per_shard=500, chunk_rows=300)
    assert len(stream.paths) == 5 and len(stream) == len(X)
    assert (tmp_path / "shards" / "columns.txt").read_text().split()[:2] == ["c0", "c1"]
    streamed = roc_auc_score(y, AnomalyDetector().fit(stream).anomaly_score(X))
    in_memory = roc_auc_score(y, AnomalyDetector().fit(X).anomaly_score(X))
    assert abs(streamed - in_memory) < 0.03, (streamed, in_memory)
    det = AnomalyDetector().fit(stream)
    scores = np.load(det.score_to(stream, tmp_path / "scores.npy"))
    np.testing.assert_allclose(scores, det.anomaly_score(X), rtol=1e-6)
    pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match=r"column\(s\) \['b'\] are not numeric"):
        csv_to_shards(tmp_path / "bad.csv", tmp_path / "bad")


PARTIAL_TABLES = ["45_wine", "14_glass", "20_letter"]


@pytest.mark.skipif(not all((ADBENCH / f"{n}.npz").is_file() for n in PARTIAL_TABLES),
                    reason="the ADBench tables of the shared data are absent (set AEKIT_DATA_DIR)")
@pytest.mark.quality
def test_partial_fit_on_two_halves_scores_within_noise_of_one_fit():
    """Metric: mean ROC-AUC over three real tables (detector), held-out mean squared error (reducer)."""
    whole, halves = [], []
    for name in PARTIAL_TABLES:
        data = np.load(ADBENCH / f"{name}.npz")
        X, y = data["X"].astype(np.float32), data["y"].astype(int)
        order = np.random.default_rng(0).permutation(len(X))
        a, b = order[:len(X) // 2], order[len(X) // 2:]
        whole.append(roc_auc_score(y, AnomalyDetector().fit(X).anomaly_score(X)))
        det = AnomalyDetector().partial_fit(X[a]).partial_fit(X[b])
        assert det.n_batches_ == 2 and len(det.train_scores_) == len(b)     # the threshold follows the latest batch
        halves.append(roc_auc_score(y, det.anomaly_score(X)))
    assert np.mean(halves) > np.mean(whole) - 0.02, (halves, whole)

    D, _ = digits()
    D = D.reshape(len(D), -1)
    train, test = D[:1400], D[1400:]
    one = Reducer(8, epochs=40, random_state=0).fit(train)
    two = Reducer(8, epochs=40, random_state=0).partial_fit(train[:700]).partial_fit(train[700:])
    assert len(two.history_) > len(Reducer(8, epochs=40, random_state=0).fit(train[:700]).history_)
    assert -two.score(test) < 1.2 * -one.score(test), (two.score(test), one.score(test))


def test_compressor_partial_fit_keeps_a_working_codec():
    X, _ = digits()
    X = X.reshape(len(X), -1)
    comp = Compressor(latent_dim=8, epochs=5, random_state=0).partial_fit(X[:800])
    before = comp.entropy_tables_
    comp.partial_fit(X[800:1600])
    assert comp.entropy_tables_ is not before and comp.n_batches_ == 2
    stream = comp.compress(X[1600:1610])
    assert comp.decompress(stream).shape == X[1600:1610].shape


def test_images_decoded_by_worker_processes_train_a_model(tmp_path):
    from PIL import Image

    from aekit.models import create_model
    from aekit.training import TrainConfig, fit

    X, _ = digits()
    for i, img in enumerate(X[:96]):
        Image.fromarray(np.uint8(img[0] * 255)).resize((16, 16)).save(tmp_path / f"{i:03d}.png")
    images = ImageFolderStream(tmp_path, size=(16, 16), channels=1)
    assert len(images) == 96 and images[0][0].shape == (1, 16, 16) and float(images[0][0].max()) <= 1.0
    model = create_model("conv", input_shape=(1, 16, 16), latent_dim=8)
    result = fit(model, images, config=TrainConfig(epochs=4, batch_size=16, num_workers=2, progress=False))
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


@pytest.mark.e2e  # two real processes under torchrun (gloo): an end-to-end run, 8-14 s
def test_two_processes_under_torchrun_each_read_their_own_blocks(tmp_path):
    """DDP on a stream: 2 CPU processes (gloo), each reading its share of the blocks; rank 0 saves."""
    X, _ = digits()
    np.save(tmp_path / "part-0.npy", X.reshape(len(X), -1)[:900])
    np.save(tmp_path / "part-1.npy", X.reshape(len(X), -1)[900:])
    script = tmp_path / "ddp.py"
    script.write_text(
        "import sys, numpy as np, torch.distributed as dist\n"
        "from aekit import Reducer\n"
        "from aekit.data.streaming import ArrayStream\n"
        f"stream = ArrayStream({str(tmp_path)!r}, block_size=64, buffer_size=256)\n"
        "r = Reducer(4, epochs=3, batch_size=64).fit(stream)\n"
        "rank = dist.get_rank() if dist.is_initialized() else -1\n"
        f"np.save({str(tmp_path)!r} + f'/steps-{{rank}}.npy', np.array([r.n_iter_, rank]))\n")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr",
                "127.0.0.1", "--master_port", "29517", str(script)]
    proc = subprocess.run(torchrun, capture_output=True, text=True, timeout=240, cwd=Path(__file__).parent.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "steps-0.npy").is_file() and (tmp_path / "steps-1.npy").is_file()
