"""Tiny model folders of every kind ``aekit serve`` serves, fitted once per test process, and request bodies."""
from __future__ import annotations

import atexit
import functools
import io
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits


@functools.lru_cache(maxsize=None)
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's digits in raw units (0..16): tables (1797, 64), images (1797, 8, 8), labels."""
    d = load_digits()
    return d.data.astype(np.float32), d.images.astype(np.float32), d.target


@functools.lru_cache(maxsize=None)
def model_folders() -> dict[str, Path]:
    """name -> folder: detectors on tables and on 8x8 images (trained on the digit 0), a compressor, a restorer,
    a generator, a time-series detector and an `aekit train` autoencoder. A few seconds on 2 cores."""
    import aekit
    from aekit.cli import main

    X, images, y = digits()
    root = Path(tempfile.mkdtemp(prefix="aekit-serve-tests-"))
    atexit.register(shutil.rmtree, root, True)
    fits = {
        "table": (aekit.AnomalyDetector(epochs=3, min_steps=0, contamination=0.05, random_state=0), X[y == 0]),
        "image": (aekit.AnomalyDetector(epochs=3, min_steps=0, contamination=0.05, random_state=0), images[y == 0]),
        "codec": (aekit.Compressor(latent_dim=8, epochs=2, random_state=0), images[:300]),
        "restorer": (aekit.Restorer(task="denoise", corruption="gaussian:0.2", epochs=1, n_patches=100,
                                    random_state=0), images[:100]),
        "generator": (aekit.Generator(latent_dim=4, epochs=2, random_state=0), X[:300]),
        "series": (aekit.TimeSeriesAnomalyDetector(window=16, epochs=1, suppress=10, random_state=0), sine()[:300]),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (est, data) in fits.items():
            est.fit(data).save(root / name)
    assert main(["train", "--data", "digits", "--model", "mlp", "--latent-dim", "4", "--epochs", "1",
                 "--batch-size", "128", "--out", str(root / "trained"), "--quiet"]) == 0
    return {name: root / name for name in [*fits, "trained"]}


def sine(n: int = 400) -> np.ndarray:
    """A noisy sine (n, 1), 25 rows a period: a series for the time-series detector."""
    t = np.arange(n)
    return (np.sin(2 * np.pi * t / 25) + 0.05 * np.random.default_rng(0).normal(size=n))[:, None]


def npy(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(a), allow_pickle=False)
    return buf.getvalue()


def png(img: np.ndarray, fmt: str = "PNG") -> bytes:
    """An 8-bit image file of ``img`` (uint8, (H, W) or (H, W, 3))."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format=fmt)
    return buf.getvalue()


def v2(x: np.ndarray, **extra) -> dict:
    """A KServe V2 inference request for the samples ``x``."""
    x = np.asarray(x, dtype=np.float32)
    return {"inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}],
            **extra}


def outputs(response) -> dict[str, np.ndarray]:
    """name -> array of a V2 JSON answer."""
    doc = response.json()
    return {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in doc["outputs"]}
