"""Follow-up to benchmarks/pretraining.py: fine-tuning recipes on cached pre-trained encoders (2 labelled draws).

    python benchmarks/pretraining_variants.py pretrain none 5 plain        # -> runs/pt-plain (conv AE, 5 epochs)
    python benchmarks/pretraining_variants.py pretrain mask:0.3 5 mask     # -> runs/pt-mask (denoising: masked pixels)
    python benchmarks/pretraining_variants.py finetune plain '{"A_noES": {"validation_fraction": 0.0, "epochs": 60}}' 0,1

``finetune`` fits EncoderClassifier on 100 labels per digit (draws = seeds, as in pretraining.py) with the
cached encoder, or from scratch for a variant with ``"scratch": true``; prints test accuracy per seed and the mean.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pretraining import labelled_subset  # noqa: E402

from aekit import EncoderClassifier, Reducer, load  # noqa: E402
from aekit.data import load_dataset  # noqa: E402

ARCH = {"channels": [32, 64]}


def pretrain(corruption: str, epochs: int, name: str, xtr: np.ndarray, xte: np.ndarray) -> None:
    t = time.time()
    ae = Reducer(32, model="conv", model_params=ARCH, epochs=epochs, batch_size=128, validation_fraction=0.05,
                 corruption=None if corruption == "none" else corruption).fit(xtr)
    ae.save(f"runs/pt-{name}")
    print(name, corruption, epochs, f"{time.time() - t:.0f} s", "test MSE", -ae.score(xte[:2000]) / 255**2, flush=True)


def finetune(name: str, variants: dict, seeds: list[int], xtr, ytr, xte, yte) -> None:
    enc = load(f"runs/pt-{name}")
    for label, kw in variants.items():
        accs = []
        for seed in seeds:
            idx = labelled_subset(ytr, 100, seed)
            args = {"latent_dim": 32, "model": "conv", "model_params": ARCH, "epochs": 100, "batch_size": 64,
                    "lr": 1e-3, **kw}
            if args.pop("scratch", False):
                args["mode"] = "scratch"
            else:
                args.update(encoder=enc, mode="pretrain")
            clf = EncoderClassifier(**args, random_state=seed).fit(xtr[idx], ytr[idx])
            accs.append(clf.score(xte, yte))
            print(name, label, seed, round(accs[-1], 4), clf.n_iter_, flush=True)
        print("MEAN", name, label, round(float(np.mean(accs)), 4), flush=True)


if __name__ == "__main__":
    ds = load_dataset("mnist")
    if sys.argv[1] == "pretrain":
        pretrain(sys.argv[2], int(sys.argv[3]), sys.argv[4], ds.train.X, ds.test.X)
    else:
        finetune(sys.argv[2], json.loads(sys.argv[3]), [int(s) for s in sys.argv[4].split(",")],
                 ds.train.X, ds.train.y, ds.test.X, ds.test.y)
