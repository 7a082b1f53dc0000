"""Evaluation metrics on numpy arrays (per-element MSE, PSNR)."""
from __future__ import annotations

import numpy as np


def mse(x: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error per element."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape:
        raise ValueError(f"mse: shapes differ, {x.shape} vs {y.shape}")
    return float(np.mean((x - y) ** 2))


def psnr(x: np.ndarray, y: np.ndarray, *, data_range: float = 1.0) -> float:
    """Mean over samples of the per-sample PSNR in dB (inputs scaled to ``[0, data_range]``)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape:
        raise ValueError(f"psnr: shapes differ, {x.shape} vs {y.shape}")
    per = np.mean((x - y).reshape(len(x), -1) ** 2, axis=1)
    return float(np.mean(10 * np.log10(data_range**2 / np.maximum(per, 1e-12))))


def pca_baseline(train: np.ndarray, test: np.ndarray, n_components: int, *, clip: tuple[float, float] | None = None,
                 random_state: int = 0) -> dict:
    """Test MSE of scikit-learn's PCA with ``n_components`` fitted on ``train`` (the anchor to beat)."""
    import time

    from sklearn.decomposition import PCA

    tr = np.asarray(train, np.float32).reshape(len(train), -1)
    te = np.asarray(test, np.float32).reshape(len(test), -1)
    k = min(n_components, tr.shape[0], tr.shape[1])
    t0 = time.perf_counter()
    pca = PCA(n_components=k, random_state=random_state).fit(tr)
    fit_time = time.perf_counter() - t0
    rec = pca.inverse_transform(pca.transform(te))
    out = {"method": "PCA", "code_size": k, "test_mse": mse(te, rec), "fit_time": fit_time}
    if clip is not None:
        out["test_mse_clipped"] = mse(te, np.clip(rec, *clip))
    return out
