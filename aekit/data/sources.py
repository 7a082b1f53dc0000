"""Data the command line reads whole when they fit comfortably in memory, and streams when they do not.

Every command that takes data (``aekit train``, ``fit``, ``detect``, ``encode``, ``reconstruct``, ``cluster``)
asks :func:`open_stream` first: a ``.npy`` file, a folder of ``.npy`` shards or a CSV table whose float32 size
passes :func:`stream_threshold` comes back as an :class:`~aekit.data.streaming.ArrayStream` (a CSV table
converted to shards in one chunked pass, :func:`~aekit.data.streaming.csv_to_shards`); anything else, named
datasets and ``.npz`` archives included, is ``None``: load it whole with :func:`~aekit.data.load_dataset`.

The threshold is ``$AEKIT_STREAM_BYTES`` (bytes, with an optional K, M or G suffix: ``AEKIT_STREAM_BYTES=0``
streams every file), else 1 GiB or an eighth of the memory available, whichever is smaller: a run holds about
two copies of the data it loads whole, beside what PyTorch itself takes.
"""
from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from aekit.data._images import (
    check_image_size,
    convert_channels,
    resize,
    to_channels_first,
)
from aekit.data.errors import DataError
from aekit.data.scalers import Scaler
from aekit.data.streaming import ArrayStream, csv_to_shards

__all__ = [
    "STREAM_ENV",
    "chunk_rows",
    "fit_scaler",
    "model_layout",
    "open_stream",
    "stream_threshold",
    "write_rows",
]

STREAM_ENV = "AEKIT_STREAM_BYTES"
DEFAULT_MAX_BYTES = 1 << 30
CHUNK_BYTES = 32 << 20   # what one piece of a pass over a stream holds (statistics, scoring, outputs)


def stream_threshold() -> int:
    """Data whose float32 size is larger than this many bytes are streamed (see the module's docstring)."""
    text = os.environ.get(STREAM_ENV, "").strip()
    if text:
        m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kKmMgG]?)[bB]?", text)
        if m is None:
            raise ValueError(f"${STREAM_ENV}={text!r}: expected a number of bytes such as 0, 500M or 2G")
        return int(float(m.group(1)) * 1024 ** " KMG".index(m.group(2).upper() or " "))
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # no sysconf (Windows): the fixed bound alone
        return DEFAULT_MAX_BYTES
    return min(DEFAULT_MAX_BYTES, available // 8)


def chunk_rows(stream: ArrayStream) -> int:
    """Rows per piece of a pass over ``stream``: about :data:`CHUNK_BYTES` of float32 rows."""
    return max(1, CHUNK_BYTES // stream.row_bytes)


def _path(source, data_dir) -> Path | None:
    """The file or folder ``source`` names (as :func:`aekit.data.load_dataset` finds it), None for a name."""
    from aekit.data import list_datasets
    from aekit.data.download import data_dir as default_dir

    name = os.fspath(source)
    if name.lower() in list_datasets():
        return None
    path = Path(name).expanduser()
    if not path.exists() and not path.is_absolute():
        root = default_dir(data_dir)
        if root is not None and (root / path).exists():
            path = root / path
    return path if path.exists() else None


def open_stream(source, *, data_dir=None, limit: int | None = None) -> ArrayStream | None:
    """An :class:`ArrayStream` over ``source`` when it is a ``.npy`` file, a folder of ``.npy`` shards or a CSV
    table larger than :func:`stream_threshold` as float32, else None (load it whole). ``limit``: only the
    first rows, rounded up to whole blocks of the stream (and None when that many fit)."""
    path = _path(source, data_dir)
    if path is None:
        return None
    threshold = stream_threshold()
    if path.suffix.lower() == ".csv" and path.is_file():
        if path.stat().st_size <= threshold:   # the text is at least as large as its float32 values
            return None
        return _csv_stream(path, limit)
    if not (path.suffix == ".npy" and path.is_file()) and not (path.is_dir() and any(path.glob("*.npy"))):
        return None
    stream = ArrayStream(path)
    rows = len(stream) if limit is None else min(len(stream), int(limit))
    if rows * stream.row_bytes <= threshold:
        return None
    if len(stream) < 64 * stream.block_size:   # blocks fine enough to hold some out for validation and testing
        stream = ArrayStream(path, block_size=max(1, len(stream) // 64))
    if rows < len(stream):
        stream = _head(stream, rows)
    return stream


def _head(stream: ArrayStream, rows: int) -> ArrayStream:
    """``stream`` less its blocks after the first ``rows`` rows (in file order)."""
    at, drop = 0, []
    for s, a, b in stream._kept:
        if at >= rows:
            drop.append((s, a))
        at += b - a
    return ArrayStream(stream.paths, block_size=stream.block_size, buffer_size=stream.buffer_size,
                       shuffle=stream.shuffle, transform=stream.transform, exclude=stream.exclude | set(drop))


def _csv_stream(path: Path, limit: int | None) -> ArrayStream:
    """A large CSV table as float32 ``.npy`` shards in a temporary folder (removed with the process), its
    feature columns only (a label column, named as :data:`aekit.data.files.LABEL_COLUMNS` says, is left out)."""
    import csv

    from aekit.data.files import LABEL_COLUMNS

    with open(path, newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f), None)
    if not header:
        raise DataError(f"{path}: CSV file is empty, expected a header row with column names and data rows")
    columns = [h for h in header if h.strip().lower() not in LABEL_COLUMNS]
    folder = tempfile.TemporaryDirectory(prefix="aekit-csv-shards-")
    stream = csv_to_shards(path, folder.name, columns=columns, nrows=limit)
    stream._folder = folder   # the shards live as long as the stream
    return stream


def model_layout(stream: ArrayStream, source: str, *, image_size=None,
                 grayscale: bool | None = None) -> tuple[Callable[[np.ndarray], np.ndarray], str, tuple[int, ...]]:
    """(rows in the file's layout -> float32 rows in the model's, the data kind, the model's sample shape), as
    :func:`aekit.data.load_dataset` lays out a whole file: ``(N, H, W)`` gains a channel axis, ``(N, H, W, C)``
    becomes channels first; images are resized / converted as ``image_size`` / ``grayscale`` ask."""
    size = check_image_size(image_size)
    first, kind = to_channels_first(stream.take([0]), source)
    if kind != "image" and (size is not None or grayscale is not None):
        raise ValueError(f"{source}: image_size and grayscale apply to image data, got rows of shape "
                         f"{tuple(stream.sample_shape)}")

    def layout(rows: np.ndarray) -> np.ndarray:
        x = to_channels_first(rows, source)[0]
        if kind == "image":
            x = resize(convert_channels(x, grayscale), size)
        return np.ascontiguousarray(x, dtype=np.float32)

    return layout, kind, tuple(layout(first).shape[1:])


def fit_scaler(stream: ArrayStream, layout: Callable[[np.ndarray], np.ndarray], kind: str,
               method: str | None = None) -> tuple[Scaler, tuple[float, float] | None]:
    """The scaler a whole-file run would fit (``method``, else the kind's default given the raw range), fitted
    in at most one pass over ``stream``; returns it and the raw value range (images: (0, 255) for 8-bit
    files, (0, 1) when every value is in [0, 1], else None; tables: None)."""
    from aekit.data.kinds import get_kind

    example = layout(stream.take([0]))
    dtypes = {d for d, _, _ in stream._layout}
    if kind == "image" and dtypes == {np.dtype(np.uint8)} and method in (None, "range", "none"):
        scaler = Scaler(method or "range")   # an 8-bit file needs no pass: its range is known, its values finite
        return scaler.fit(example, value_range=(0.0, 255.0)), (0.0, 255.0)
    if method == "standard":   # means and deviations, merged piece by piece
        return Scaler("standard", per=get_kind(kind).default_scaler().per).fit_chunks(
            layout(rows) for rows in stream.chunks(rows=chunk_rows(stream))), None
    lo: np.ndarray | None = None   # per value: what "minmax" needs, and the raw range, in one cheap pass
    hi: np.ndarray | None = None
    for rows in stream.chunks(rows=chunk_rows(stream)):
        x = layout(rows)
        p_lo, p_hi = x.min(axis=0), x.max(axis=0)
        lo, hi = (p_lo, p_hi) if lo is None or hi is None else (np.minimum(lo, p_lo), np.maximum(hi, p_hi))
    if lo is None or hi is None:
        raise DataError(f"{stream.paths[0]}: no rows to scale; expected at least one")
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):   # NaN and inf reach the minimum or maximum
        raise DataError(f"{stream.paths[0]}: the data hold NaN or infinite values; expected finite numbers")
    low, high = float(lo.min()), float(hi.max())
    value_range = (0.0, 1.0) if kind == "image" and low >= 0.0 and high <= 1.0 else None
    scaler = Scaler(method) if method else get_kind(kind).default_scaler(value_range=value_range)
    if scaler.method == "minmax":   # the two rows' minimum and maximum are the data's, per value and per channel
        return scaler.fit(np.stack([lo, hi])), value_range
    return scaler.fit(example, value_range=value_range or (low, high + 1e-12)), value_range


def write_rows(path, stream: ArrayStream, fn: Callable[[np.ndarray], np.ndarray]) -> tuple[int, ...]:
    """Apply ``fn`` (raw rows -> an array of one result per row) to the rows of ``stream`` in file order, a piece
    at a time, writing the results into the ``.npy`` file ``path`` as they come (memory-mapped, under a
    temporary name renamed at the end, so an interrupted run leaves no partial file). Returns the shape."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    out, at = None, 0
    try:
        for rows in stream.chunks(rows=chunk_rows(stream)):
            res = np.asarray(fn(rows))
            if out is None:
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=res.dtype, shape=(len(stream), *res.shape[1:]))
            out[at:at + len(res)] = res
            at += len(res)
        if out is None:
            raise DataError(f"{stream.paths[0]}: no rows to write; expected at least one")
        out.flush()
        shape = out.shape
        del out
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return shape
