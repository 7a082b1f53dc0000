"""Small shared helpers for the tests (real data, scaled to [0, 1])."""
from __future__ import annotations

import functools

import numpy as np
from sklearn.datasets import load_digits


@functools.lru_cache(maxsize=None)
def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as (1797, 1, 8, 8) float32 in [0, 1], and labels."""
    d = load_digits()
    return (d.images[:, None] / 16.0).astype(np.float32), d.target.astype(np.int64)


def digits_split():
    X, _ = digits()
    return X[:1400], X[1400:]
