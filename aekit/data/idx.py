"""Reader for the IDX format of MNIST / Fashion-MNIST (plain or gzip-compressed).

An IDX file is a 4-byte magic number ``0x00 0x00 <type code> <ndim>``, then ``ndim`` big-endian
uint32 dimensions, then the values in C order.
"""
from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from aekit.data.errors import DataError

__all__ = ["read_idx", "parse_idx", "maybe_gunzip", "images_and_labels"]

GZIP_MAGIC = b"\x1f\x8b"

_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def maybe_gunzip(blob: bytes, source: str | os.PathLike) -> bytes:
    """Return ``blob`` decompressed when it starts with the gzip magic, else unchanged.

    Raises
    ------
    DataError
        When the gzip stream is truncated or corrupted; the message names ``source``.
    """
    if blob[:2] != GZIP_MAGIC:
        return blob
    try:
        return gzip.decompress(blob)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{source}: truncated or corrupted gzip data ({exc}), expected a complete gzip file") from exc


def parse_idx(data: bytes, source: str | os.PathLike = "<bytes>") -> np.ndarray:
    """Decode the (already decompressed) bytes of an IDX file.

    Parameters
    ----------
    data : bytes
        The whole file content.
    source : str or path-like
        Used in error messages.

    Returns
    -------
    np.ndarray
        A writable array in native byte order with the file's dtype and dimensions.

    Raises
    ------
    DataError
        Bad magic number, unsupported type code, truncated header or data, or trailing bytes.
    """
    if len(data) < 4:
        raise DataError(f"{source}: not an IDX file: {len(data)} bytes, expected at least a 4-byte header")
    if data[0] != 0 or data[1] != 0 or data[3] == 0:
        raise DataError(
            f"{source}: not an IDX file: bad magic number 0x{data[:4].hex()}, expected "
            "0x0000 followed by a type code and a non-zero number of dimensions"
        )
    code, ndim = data[2], data[3]
    if code not in _DTYPES:
        known = ", ".join(f"0x{c:02x}" for c in _DTYPES)
        raise DataError(f"{source}: unsupported IDX type code 0x{code:02x}, expected one of {known}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            f"{source}: truncated IDX header: {ndim} dimensions need {header} header bytes, got {len(data)}"
        )
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _DTYPES[code]
    count = math.prod(dims)  # exact: a corrupted header cannot overflow
    expected, actual = count * dtype.itemsize, len(data) - header
    if actual < expected:
        raise DataError(
            f"{source}: truncated IDX file: dimensions {dims} need {expected} data bytes, got {actual}"
        )
    if actual > expected:
        raise DataError(
            f"{source}: IDX file has {actual - expected} trailing bytes: dimensions {dims} need "
            f"{expected} data bytes, got {actual}"
        )
    try:
        arr = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)
    except ValueError as exc:  # an empty array whose other dimensions overflow NumPy's sizes
        raise DataError(f"{source}: IDX dimensions {dims} do not fit a NumPy array ({exc})") from None
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, plain or gzip-compressed (detected from its content).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    np.ndarray
        The stored array, e.g. uint8 ``(60000, 28, 28)`` for MNIST training images.

    Raises
    ------
    DataError
        The file cannot be read, is not IDX, or is truncated (naming expected and actual byte counts).
    """
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read IDX file ({exc})") from exc
    return parse_idx(maybe_gunzip(blob, path), path)


def images_and_labels(
    images: np.ndarray, labels: np.ndarray, images_source: str | os.PathLike, labels_source: str | os.PathLike
) -> tuple[np.ndarray, np.ndarray]:
    """Check an IDX image / label pair and return ``(X, y)``: uint8 ``(N, 1, H, W)`` and int64 ``(N,)``.

    Raises
    ------
    DataError
        Images are not 3-D, labels not 1-D, or their counts differ (naming both files).
    """
    if images.ndim != 3:
        raise DataError(f"{images_source}: IDX images have shape {images.shape}, expected (N, H, W)")
    if labels.ndim != 1:
        raise DataError(f"{labels_source}: IDX labels have shape {labels.shape}, expected (N,)")
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{images_source} holds {images.shape[0]} images but {labels_source} holds "
            f"{labels.shape[0]} labels, expected the same count"
        )
    return images[:, None, :, :], labels.astype(np.int64)
