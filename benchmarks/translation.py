"""Domain translation on MNIST where the truth is known: thin (as drawn) <-> thick strokes.

    AEKIT_DATA_DIR=../shared/data python benchmarks/translation.py                    # the issue's check
    python benchmarks/translation.py --n-train 10000 --n-test 2000 --epochs 5          # a quick look

Domain "a" is MNIST as it is; domain "b" is MNIST with strokes thickened by a grey dilation (3 x 3,
``scipy.ndimage.grey_dilation``). The two training sets are unpaired: "a" is the first half of the training
images, "b" the second half thickened, so no digit is ever seen in both forms. On the test images:

- PSNR of ``DomainTranslator(...).translate(x, to="b")`` against the true thickened digits, beside the identity
  (the input unchanged) and a model that does not share its encoder (two Reducers of the same family, code
  size and budget, one per domain: encoded by "a"'s, decoded by "b"'s); the same the other way, b -> a;
- the share of translated digits that a digit classifier reads as their class. The judge is a small CNN
  (two 3 x 3 convolution stages of 16 and 32 channels, one hidden layer of 128, 2 epochs of Adam) trained on
  all 60,000 training images in both forms, as drawn and thickened, so it reads true digits of either domain
  alike; its accuracy on the true thickened test digits (and on the test digits as drawn) is the ceiling.
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
    """(x_a, x_b, test images, their thickened truth, test labels, all 60,000 training images in both forms (as
    drawn, then thickened) and their labels for the judge, whatever ``n_train``)."""
    ds = load_dataset("mnist", data_dir=data_dir)
    every, y_every = (ds.train.X / 255.0).astype(np.float32), ds.train.y
    x = every[:n_train] if n_train else every
    half = len(x) // 2
    xt, yt = (ds.test.X / 255.0).astype(np.float32), ds.test.y
    xt, yt = (xt[:n_test], yt[:n_test]) if n_test else (xt, yt)
    judge_x, judge_y = np.concatenate([every, thicken(every)]), np.concatenate([y_every, y_every])
    return x[:half], thicken(x[half:]), xt, thicken(xt), yt, judge_x, judge_y


def digit_classifier(x: np.ndarray, y: np.ndarray, *, epochs: int = 2, seed: int = 0):
    """A small CNN trained on digits ``x`` (n, 28, 28) in [0, 1] with labels ``y``; returns ``predict(images)``
    giving the class of each image (n, 28, 28)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),          # (B, 16, 14, 14)
                        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),         # (B, 32, 7, 7)
                        nn.Flatten(), nn.Linear(32 * 49, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    xt = torch.from_numpy(np.asarray(x, np.float32).reshape(-1, 1, 28, 28))
    yt = torch.from_numpy(np.asarray(y, np.int64))
    for _ in range(epochs):
        order = torch.randperm(len(xt))
        for i in range(0, len(xt), 128):
            rows = order[i:i + 128]
            loss = nn.functional.cross_entropy(net(xt[rows]), yt[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()

    def predict(images: np.ndarray) -> np.ndarray:
        z = torch.from_numpy(np.asarray(images, np.float32).reshape(-1, 1, 28, 28))
        with torch.no_grad():
            return torch.cat([net(z[i:i + 1000]).argmax(1) for i in range(0, len(z), 1000)]).numpy()

    return predict


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
    x_a, x_b, test, truth, labels, judge_x, judge_y = domains(args.data_dir, args.n_train, args.n_test)
    budget = {"latent_dim": args.latent_dim, "epochs": args.epochs, "model": args.model}

    t0 = time.perf_counter()
    shared = DomainTranslator(**budget).fit(x_a, x_b)
    fit_s = time.perf_counter() - t0
    unshared = {"a": Reducer(**budget).fit(x_a), "b": Reducer(**budget).fit(x_b)}
    classifier = digit_classifier(judge_x, judge_y)

    def read(images) -> float:
        return float(np.mean(classifier(np.clip(images, 0, 1)) == labels))

    to_b, to_a = shared.translate(test, to="b"), shared.translate(truth, to="a")
    apart_b = unshared["b"].inverse_transform(unshared["a"].transform(test))
    apart_a = unshared["a"].inverse_transform(unshared["b"].transform(truth))
    res = {"a_to_b": {"shared_psnr": psnr(truth, np.clip(to_b, 0, 1)), "identity_psnr": psnr(truth, test),
                      "unshared_psnr": psnr(truth, np.clip(apart_b, 0, 1)), "shared_read": read(to_b),
                      "identity_read": read(test), "unshared_read": read(apart_b), "truth_read": read(truth)},
           "b_to_a": {"shared_psnr": psnr(test, np.clip(to_a, 0, 1)), "identity_psnr": psnr(test, truth),
                      "unshared_psnr": psnr(test, np.clip(apart_a, 0, 1)), "shared_read": read(to_a),
                      "truth_read": read(test)}}
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
             f"| true thickened digits (the judge's ceiling) | - | {r['truth_read']:.3f} | - |", "",
             f"The judge (a small CNN trained on all 60,000 training digits as drawn and thickened) reads "
             f"{s['truth_read']:.3f} of the test digits as drawn and {s['shared_read']:.3f} of the b -> a "
             f"translations.", "",
             f"check (PSNR above both, >= 95 % read): {'pass' if res['pass'] else 'FAIL'}; "
             f"DomainTranslator fit {fit_s:.0f} s at load average {meta['load_average']}"]
    Path(args.out).with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
