"""Checks shared by every loader: float32 conversion, finiteness, emptiness, labels, ``limit``."""
from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np

from aekit.data.errors import DataError


def check_limit(limit: int | None) -> int | None:
    """Validate the ``limit`` argument (None or a positive int)."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, numbers.Integral):
        raise TypeError(f"limit must be None or a positive int, got {type(limit).__name__} {limit!r}")
    if limit < 1:
        raise ValueError(f"limit must be None or a positive int, got {limit}")
    return int(limit)


def head(a: np.ndarray | None, limit: int | None) -> np.ndarray | None:
    """First ``limit`` rows of ``a`` (all of them when ``limit`` is None)."""
    if a is None or limit is None:
        return a
    return a[:limit]


def as_samples_float32(X: np.ndarray, source: str, what: str = "X") -> np.ndarray:
    """Convert ``X`` to float32 and check it is non-empty and finite.

    Raises
    ------
    DataError
        When ``X`` is not numeric, has no samples, or holds NaN / inf (also values that
        overflow float32); the message names ``source`` and the first bad index.
    """
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise DataError(f"{source}: {what} has dtype {X.dtype}, expected a numeric (bool, int or float) array")
    if X.ndim == 0 or X.shape[0] == 0:
        raise DataError(f"{source}: {what} is empty (shape {X.shape}), expected at least one sample")
    if X.size == 0:
        raise DataError(f"{source}: {what} has shape {X.shape} with no features, expected at least one value per "
                        "sample")
    integral = X.dtype.kind in "biu"  # always finite in float32
    with np.errstate(over="ignore", invalid="ignore"):
        X = np.ascontiguousarray(X, dtype=np.float32)
    if integral:
        return X
    bad = ~np.isfinite(X)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"{source}: {what} contains {int(bad.sum())} NaN/inf value(s) (or values too large for float32), "
            f"first at index {first}; expected finite values"
        )
    return X


def encode_labels(
    arrays: Sequence[np.ndarray | None], source: str
) -> tuple[list[np.ndarray | None], tuple[str, ...] | None]:
    """Turn label arrays into int64 codes shared across ``arrays`` (e.g. train and test).

    Integer / bool labels, and floats holding whole numbers, keep their values (so anomaly labels
    0/1 stay 0/1 whatever subset is loaded) and no class names are returned. Other labels (strings,
    fractional numbers) are mapped to codes by their sorted unique values, returned as class names.

    Raises
    ------
    DataError
        When a label array is not 1-D, holds NaN / inf, mixes strings and numbers, or has an
        unsupported dtype.
    """
    present = [np.asarray(a) for a in arrays if a is not None]
    for a in present:
        if a.ndim != 1:
            raise DataError(f"{source}: labels have shape {a.shape}, expected a 1-D array (N,)")
    if not present:
        return list(arrays), None
    kinds = {a.dtype.kind for a in present}
    if kinds <= set("biuf"):
        allv = np.concatenate([a.astype(np.float64) for a in present])
        if not np.isfinite(allv).all():
            raise DataError(f"{source}: labels contain NaN/inf, expected integer or string labels")
        if kinds <= set("biu") or (np.all(allv == np.round(allv)) and np.all(np.abs(allv) < 2**53)):
            return [None if a is None else np.asarray(a).astype(np.int64) for a in arrays], None
        classes = np.unique(allv)
        codes = [None if a is None else np.searchsorted(classes, np.asarray(a, dtype=np.float64)) for a in arrays]
        return [None if c is None else c.astype(np.int64) for c in codes], tuple(repr(float(c)) for c in classes)
    if kinds <= set("US"):
        classes = np.unique(np.concatenate([a.astype(str) for a in present]))
        codes = [None if a is None else np.searchsorted(classes, np.asarray(a).astype(str)) for a in arrays]
        return [None if c is None else c.astype(np.int64) for c in codes], tuple(str(c) for c in classes)
    raise DataError(
        f"{source}: labels have dtype(s) {sorted(str(a.dtype) for a in present)}, "
        "expected integers or strings (not a mix)"
    )
