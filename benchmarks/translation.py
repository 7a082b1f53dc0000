"""Domain translation on MNIST where the truth is known: thin (as drawn) <-> thick strokes.

    AEKIT_DATA_DIR=../shared/data python benchmarks/translation.py                    # the issue's check
    python benchmarks/translation.py --n-train 10000 --n-test 2000 --epochs 5          # a quick look

Domain "a" is MNIST as it is; domain "b" is MNIST with strokes thickened by a grey dilation (3 x 3,
``scipy.ndimage.grey_dilation``). The two training sets are unpaired: "a" is the first half of the training
images, "b" the second half thickened, so no digit is ever seen in both forms. On the test images:

- PSNR of ``DomainTranslator(...).translate(x, to="b")`` against the true thickened digits, beside the identity
  (the input unchanged) and a model that does not share its encoder (two Reducers of the same family, code
  size and budget, one per domain: encoded by "a"'s, decoded by "b"'s); the same the other way, b -> a;
- the share of translated digits that a digit classifier (PCA-50 + 3-nearest neighbours, trained on the
  thickened training images) reads as their class; the same classifier on the true thickened test digits
  is the ceiling.
The check of issue 30: PSNR above the identity and above the unshared model, and >= 95 % read correctly.
Writes benchmarks/results/translation.md (and .json).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from scipy.ndimage import grey_dilation

from aekit import DomainTranslator, Reducer
from aekit.data import load_dataset
from aekit.metrics import psnr

RESULTS = Path(__file__).resolve().parent / "results"


def thicken(x: np.ndarray) -> np.ndarray:
    """Digits (n, ..., 28, 28) with their strokes thickened: a 3 x 3 grey dilation of each image."""
    return grey_dilation(x, size=(1,) * (x.ndim - 2) + (3, 3))


def domains(data_dir: str | None, n_train: int | None, n_test: int | None):
    """(x_a, x_b, test images, their thickened truth, test labels, thickened training images and labels)."""
    ds = load_dataset("mnist", data_dir=data_dir)
    x, y = (ds.train.X / 255.0).astype(np.float32), ds.train.y
    x, y = (x[:n_train], y[:n_train]) if n_train else (x, y)
    half = len(x) // 2
    xt, yt = (ds.test.X / 255.0).astype(np.float32), ds.test.y
    xt, yt = (xt[:n_test], yt[:n_test]) if n_test else (xt, yt)
    return x[:half], thicken(x[half:]), xt, thicken(xt), yt, thicken(x), y


def digit_classifier(x: np.ndarray, y: np.ndarray):
    """PCA-50 + 3-nearest-neighbour classifier of digits (n, ...)."""
    from sklearn.decomposition import PCA
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline

    return make_pipeline(PCA(50, random_state=0), KNeighborsClassifier(3)).fit(x.reshape(len(x), -1), y)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=os.environ.get("AEKIT_DATA_DIR"))
    ap.add_argument("--n-train", type=int, default=None, help="first N training images (default: all 60,000)")
    ap.add_argument("--n-test", type=int, default=None, help="first N test images (default: all 10,000)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--latent-dim", type=int, default=32)
    ap.add_argument("--model", default="auto", help="the family of every model (default: the estimators' own)")
    ap.add_argument("--out", default=str(RESULTS / "translation"))
    args = ap.parse_args()
    x_a, x_b, test, truth, labels, thick_train, thick_labels = domains(args.data_dir, args.n_train, args.n_test)
    budget = {"latent_dim": args.latent_dim, "epochs": args.epochs, "model": args.model}

    t0 = time.perf_counter()
    shared = DomainTranslator(**budget).fit(x_a, x_b)
    fit_s = time.perf_counter() - t0
    unshared = {"a": Reducer(**budget).fit(x_a), "b": Reducer(**budget).fit(x_b)}
    classifier = digit_classifier(thick_train, thick_labels)

    def read(images) -> float:
        return float(np.mean(classifier.predict(np.clip(images, 0, 1).reshape(len(images), -1)) == labels))

    to_b, to_a = shared.translate(test, to="b"), shared.translate(truth, to="a")
    apart_b = unshared["b"].inverse_transform(unshared["a"].transform(test))
    apart_a = unshared["a"].inverse_transform(unshared["b"].transform(truth))
    res = {"a_to_b": {"shared_psnr": psnr(truth, np.clip(to_b, 0, 1)), "identity_psnr": psnr(truth, test),
                      "unshared_psnr": psnr(truth, np.clip(apart_b, 0, 1)), "shared_read": read(to_b),
                      "identity_read": read(test), "unshared_read": read(apart_b), "truth_read": read(truth)},
           "b_to_a": {"shared_psnr": psnr(test, np.clip(to_a, 0, 1)), "identity_psnr": psnr(test, truth),
                      "unshared_psnr": psnr(test, np.clip(apart_a, 0, 1))}}
    ok = res["a_to_b"]
    res["pass"] = bool(ok["shared_psnr"] > max(ok["identity_psnr"], ok["unshared_psnr"]) and ok["shared_read"] >= 0.95)
    meta = {"n_a": len(x_a), "n_b": len(x_b), "n_test": len(test), **budget, "fit_s": fit_s,
            "machine": platform.platform(), "load_average": os.getloadavg()}
    Path(args.out).with_suffix(".json").write_text(json.dumps({"meta": meta, **res}, indent=2))
    r, s = res["a_to_b"], res["b_to_a"]
    lines = ["# Domain translation on MNIST, thin <-> thick strokes (benchmarks/translation.py)", "",
             f"{len(x_a)} digits as drawn and {len(x_b)} other digits thickened (unpaired), {len(test)} test digits; "
             f"DomainTranslator(latent_dim={args.latent_dim}, epochs={args.epochs}, model={args.model!r}) and two "
             f"Reducers of that size and budget for the unshared model.", "",
             "| | PSNR a -> b (dB) | read as their class (a -> b) | PSNR b -> a (dB) |", "|---|---|---|---|",
             f"| shared encoder (DomainTranslator) | {r['shared_psnr']:.2f} | {r['shared_read']:.3f} | "
             f"{s['shared_psnr']:.2f} |",
             f"| identity (input unchanged) | {r['identity_psnr']:.2f} | {r['identity_read']:.3f} | "
             f"{s['identity_psnr']:.2f} |",
             f"| separate encoders (two Reducers) | {r['unshared_psnr']:.2f} | {r['unshared_read']:.3f} | "
             f"{s['unshared_psnr']:.2f} |",
             f"| true thickened digits (classifier's ceiling) | - | {r['truth_read']:.3f} | - |", "",
             f"check (PSNR above both, >= 95 % read): {'pass' if res['pass'] else 'FAIL'}; "
             f"DomainTranslator fit {fit_s:.0f} s at load average {meta['load_average']}"]
    Path(args.out).with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
