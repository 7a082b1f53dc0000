"""Ordered codes on MNIST: one ``Reducer(ordered=True)`` against a Reducer trained for each code size alone, and PCA.

    AEKIT_DATA_DIR=../shared/data python benchmarks/ordered_codes.py                  # the issue's check
    python benchmarks/ordered_codes.py --n-train 10000 --epochs 3 --sizes 2 8 32     # a quick look

For each k in ``--sizes``: the test MSE (pixels in [0, 1]) of the one ordered model (latent_dim = the largest
k) decoded from its first k code values; of a Reducer with latent_dim=k trained alone with the same family and
budget (epochs, batch size, learning rate, training samples); and of PCA-k. The check of issue 30: the ordered
model within 10 % of the model trained for k alone, and below PCA-k, at every k. Also the share of the test
variance each explains (1 - MSE / variance, PCA's explained variance). Writes
benchmarks/results/ordered-codes.md (and .json).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from aekit import Reducer
from aekit.data import load_dataset
from aekit.metrics import pca_baseline

RESULTS = Path(__file__).resolve().parent / "results"
TOLERANCE = 0.10   # the ordered model's MSE may exceed the model trained for k alone by this share


def load_mnist(data_dir: str | None, n_train: int | None):
    ds = load_dataset("mnist", data_dir=data_dir)
    x_train, x_test = ds.train.X / 255.0, ds.test.X / 255.0
    x_train = x_train[:n_train] if n_train else x_train
    return x_train.astype(np.float32), x_test.astype(np.float32)


def test_mse(est: Reducer, x: np.ndarray, k: int | None = None) -> float:
    return float(np.mean((est.reconstruct(x, n_components=k) - x) ** 2))


def compare(x_train: np.ndarray, x_test: np.ndarray, sizes: list[int], **budget) -> list[dict]:
    """One row per code size: the ordered model, the model trained for that size alone, PCA (test MSEs)."""
    variance = float(np.mean((x_test - x_test.mean(axis=0)) ** 2))
    t0 = time.perf_counter()
    ordered = Reducer(latent_dim=max(sizes), ordered=True, **budget).fit(x_train)
    ordered_time = time.perf_counter() - t0
    rows = []
    for k in sizes:
        t0 = time.perf_counter()
        alone = Reducer(latent_dim=k, **budget).fit(x_train)
        row = {"k": k, "ordered_mse": test_mse(ordered, x_test, k), "alone_mse": test_mse(alone, x_test),
               "pca_mse": pca_baseline(x_train, x_test, k)["test_mse"], "alone_fit_s": time.perf_counter() - t0,
               "ordered_fit_s": ordered_time}
        row["ratio"] = row["ordered_mse"] / row["alone_mse"]
        row["ordered_explained"] = 1 - row["ordered_mse"] / variance
        row["pca_explained"] = 1 - row["pca_mse"] / variance
        row["pass"] = bool(row["ratio"] <= 1 + TOLERANCE and row["ordered_mse"] < row["pca_mse"])
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=os.environ.get("AEKIT_DATA_DIR"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[2, 4, 8, 16, 32])
    ap.add_argument("--n-train", type=int, default=None, help="first N training images (default: all 60,000)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--model", default="auto")
    ap.add_argument("--out", default=str(RESULTS / "ordered-codes"))
    args = ap.parse_args()
    x_train, x_test = load_mnist(args.data_dir, args.n_train)
    budget = {"epochs": args.epochs, "model": args.model}
    rows = compare(x_train, x_test, sorted(args.sizes), **budget)
    meta = {"n_train": len(x_train), "n_test": len(x_test), **budget, "defaults": "Reducer's otherwise",
            "machine": platform.platform(), "load_average": os.getloadavg()}
    Path(args.out).with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = ["# Ordered codes on MNIST (benchmarks/ordered_codes.py)", "",
             f"{meta['n_train']} training / {meta['n_test']} test images; every model: Reducer(model={args.model!r}, "
             f"epochs={args.epochs}); the ordered one has latent_dim={max(args.sizes)}.", "",
             "| k | ordered MSE | trained for k alone | ratio | PCA-k MSE | explained (ordered / PCA) | pass |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['k']} | {r['ordered_mse']:.5f} | {r['alone_mse']:.5f} | {r['ratio']:.3f} | "
              f"{r['pca_mse']:.5f} | {r['ordered_explained']:.3f} / {r['pca_explained']:.3f} | {'yes' if r['pass'] else 'NO'} |" for r in rows]
    lines += ["", f"load average during the run: {meta['load_average']}"]
    Path(args.out).with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
