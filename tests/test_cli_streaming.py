"""The command line streams data larger than memory holds comfortably (aekit/data/sources.py): the threshold
($AEKIT_STREAM_BYTES, lowered here so that tiny files stream), the files it streams, held-out blocks, outputs
written a piece at a time, and train / detect / encode end to end on a streamed file."""
import json

import numpy as np
import pytest

from aekit.cli import main
from aekit.data.sources import STREAM_ENV, open_stream, stream_threshold, write_rows
from aekit.data.streaming import ArrayStream


@pytest.fixture
def images(tmp_path):
    """600 grey 8 x 8 images in [0, 1] (float32, 150 KB), digits-like blobs."""
    rng = np.random.default_rng(0)
    x = np.clip(rng.random((600, 1, 1)) * np.outer(np.hanning(8), np.hanning(8))[None]
                + 0.1 * rng.random((600, 8, 8)), 0, 1).astype(np.float32)
    np.save(tmp_path / "images.npy", x)
    return tmp_path / "images.npy", x


@pytest.mark.parametrize("text, expected", [("0", 0), ("100K", 100 * 1024), ("2G", 2 * 1024**3), ("5000", 5000)])
def test_the_threshold_is_read_from_the_environment(monkeypatch, text, expected):
    monkeypatch.setenv(STREAM_ENV, text)
    assert stream_threshold() == expected


def test_a_bad_threshold_names_the_variable(monkeypatch):
    monkeypatch.setenv(STREAM_ENV, "lots")
    with pytest.raises(ValueError, match=r"\$AEKIT_STREAM_BYTES='lots'"):
        stream_threshold()


def test_only_files_past_the_threshold_stream(monkeypatch, images, tmp_path):
    path, x = images
    monkeypatch.setenv(STREAM_ENV, "1G")
    assert open_stream(str(path)) is None and open_stream("digits") is None
    monkeypatch.setenv(STREAM_ENV, "100K")
    stream = open_stream(str(path))
    assert isinstance(stream, ArrayStream) and len(stream) == 600
    np.testing.assert_array_equal(np.concatenate(list(stream.chunks(rows=77))), x)
    assert open_stream(str(path), limit=10) is None            # 10 rows fit
    assert open_stream("digits") is None                         # named datasets load whole


def test_a_large_csv_streams_its_feature_columns(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    table = rng.normal(size=(300, 3)).round(4)
    lines = ["a,label,b,c"] + [f"{r[0]},{i % 2},{r[1]},{r[2]}" for i, r in enumerate(table)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv(STREAM_ENV, "1K")
    stream = open_stream(str(tmp_path / "t.csv"))
    assert stream.sample_shape == (3,) and len(stream) == 300
    np.testing.assert_allclose(np.concatenate(list(stream.chunks())), table, rtol=1e-6)


def test_held_out_blocks_leave_the_stream_and_take_reads_rows_by_index(images):
    path, x = images
    stream = ArrayStream(path, block_size=50)
    rest, held = stream.hold_out(120, seed=0)
    assert sum(b - a for _, a, b in held) == 150 and len(rest) == 450   # whole blocks, at least 120 rows
    kept = np.concatenate(list(rest.chunks(rows=1000)))
    seen = np.concatenate([kept, rest.read(held)])
    assert len(kept) == 450 and len(np.unique(seen.reshape(600, -1), axis=0)) == 600
    assert not any((s, a) in rest.exclude for s, a, _ in rest.blocks()) and len(rest.blocks()) == 9
    np.testing.assert_array_equal(stream.take([5, 0, 599]), x[[5, 0, 599]])
    assert len(rest.sample(1000)) == 450                      # a sample draws from the kept rows only


def test_outputs_are_written_a_piece_at_a_time(monkeypatch, images, tmp_path):
    path, x = images
    monkeypatch.setattr("aekit.data.sources.CHUNK_BYTES", 256 * 100)   # 100 rows (of 8 x 8 float32) a piece
    pieces = []
    shape = write_rows(tmp_path / "sums.npy", ArrayStream(path), lambda r: pieces.append(len(r)) or r.sum((1, 2)))
    assert shape == (600,) and pieces == [100] * 6
    np.testing.assert_allclose(np.load(tmp_path / "sums.npy"), x.sum((1, 2)), rtol=1e-5)


def test_a_streamed_run_holds_out_bounded_parts_and_fits_the_scaler_in_one_pass(monkeypatch, images):
    from aekit.run import RunOptions, prepare_stream

    path, _ = images
    monkeypatch.setattr("aekit.run.EVAL_ROWS", 50)
    monkeypatch.setenv(STREAM_ENV, "100K")
    passes = []
    stream = open_stream(str(path))
    real = type(stream).chunks
    monkeypatch.setattr(type(stream), "chunks", lambda self, rows=65536: passes.append(1) or real(self, rows))
    ds, (train, val, test), scaler, scaled = prepare_stream(RunOptions(data=str(path), out="unused"), stream)
    assert len(passes) == 1 and scaler.method == "range" and scaler.value_range == (0.0, 1.0)   # as in memory
    assert 50 <= len(test.X) < 60 and 50 <= len(val.X) < 60 and len(scaled) == 600 - len(test.X) - len(val.X)
    assert ds.kind == "image" and train.X.shape == (50, 1, 8, 8) and scaled.sample_shape == (1, 8, 8)
    seen = np.concatenate([test.X, val.X, *(b[0].numpy() for b in scaled)])[:, 0]
    assert len(np.unique(seen.reshape(600, -1), axis=0)) == 600     # every row once, none in two parts


@pytest.mark.e2e
def test_train_and_encode_stream_a_file_past_the_threshold(monkeypatch, images, tmp_path):
    path, _ = images
    monkeypatch.setenv(STREAM_ENV, "100K")
    out = tmp_path / "run"
    assert main(["train", "--data", str(path), "--model", "mlp", "--latent-dim", "4", "--epochs", "1",
                 "--batch-size", "64", "--quiet", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_train"] + metrics["n_val"] + metrics["n_test"] == 600 and metrics["n_test"] >= 120
    assert json.loads((out / "config.json").read_text())["metadata"]["streamed"] is True
    assert (out / "report.html").is_file()
    assert main(["encode", "--model", str(out), "--data", str(path), "--out", str(tmp_path / "codes.npy")]) == 0
    assert np.load(tmp_path / "codes.npy").shape == (600, 4)


@pytest.mark.e2e
def test_detect_scores_every_row_of_a_streamed_table(monkeypatch, tmp_path):
    x = np.random.default_rng(0).normal(size=(400, 5)).astype(np.float32)
    x[:4] += 8  # four outliers
    np.save(tmp_path / "t.npy", x)
    monkeypatch.setenv(STREAM_ENV, "4K")
    out = tmp_path / "det"
    assert main(["detect", "--fit", str(tmp_path / "t.npy"), "--data", str(tmp_path / "t.npy"), "--epochs", "2",
                 "--quiet", "--out", str(out)]) == 0
    lines = (out / "scores.csv").read_text().splitlines()
    assert lines[0] == "index,anomaly_score,prediction,top_features" and len(lines) == 401
    scores = np.array([float(line.split(",")[1]) for line in lines[1:]])
    assert set(np.argsort(-scores)[:4]) == {0, 1, 2, 3}
