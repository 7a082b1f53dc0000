"""Few-label MNIST: an encoder pre-trained as an autoencoder on all 60,000 training images, then fine-tuned
with 100 labels per digit, against the same network trained from scratch on those labels.

    AEKIT_DATA_DIR=../shared/data python benchmarks/pretraining.py           # ~15 min on 2 cores
    python benchmarks/pretraining.py --seeds 1 --pretrain-epochs 2           # a quick look

One autoencoder is pre-trained (``--pretrain-epochs`` epochs, no labels); for each seed a labelled set of
``--per-class`` images per digit is drawn from the training set and three classifiers are fitted on it with
the same budget (``--epochs`` epochs of fine-tuning, early stopping on 10% of the labelled set):
the pre-trained encoder fine-tuned (aekit EncoderClassifier), the pre-trained encoder frozen (a probe), and
the same architecture from random weights; plus logistic regression on the pixels. Test accuracy on the
10,000 test images, mean over seeds. Also k-means on the pre-trained codes vs pixels vs PCA codes
(``Reducer.cluster_agreement``). Writes benchmarks/results/pretraining.md (+ .json).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from aekit import EncoderClassifier, Reducer
from aekit.data import load_dataset

RESULTS = Path(__file__).resolve().parent / "results"


def labelled_subset(y: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in np.unique(y)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--pretrain-epochs", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=100, help="fine-tuning epochs (early stopping on)")
    ap.add_argument("--latent-dim", type=int, default=32)
    ap.add_argument("--channels", default="32,64", help="conv channels of the encoder")
    ap.add_argument("--tag", default="pretraining")
    args = ap.parse_args()

    ds = load_dataset("mnist")
    xtr, ytr, xte, yte = ds.train.X, ds.train.y, ds.test.X, ds.test.y  # raw 0..255, (N, 1, 28, 28)
    arch = {"channels": [int(c) for c in args.channels.split(",")]}
    t0 = time.perf_counter()
    ae = Reducer(args.latent_dim, model="conv", model_params=arch, epochs=args.pretrain_epochs, batch_size=128,
                 validation_fraction=0.05).fit(xtr)
    pretrain_s = time.perf_counter() - t0
    print(f"pre-trained in {pretrain_s:.0f} s, {ae.n_iter_} epochs; test MSE {-ae.score(xte[:2000]) / 255**2:.5f}")

    clusters = ae.cluster_agreement(xte, yte)  # k-means (k=10) on codes vs pixels vs PCA codes of the same size
    print("clustering", clusters, flush=True)

    common = dict(latent_dim=args.latent_dim, model="conv", model_params=arch, epochs=args.epochs, batch_size=64,
                  lr=1e-3)
    arms = {"aekit: pre-trained encoder, fine-tuned": dict(encoder=ae, mode="pretrain"),
            "aekit: pre-trained encoder, frozen (probe)": dict(encoder=ae, mode="pretrain", freeze_encoder=True),
            "same network from scratch": dict(mode="scratch")}
    results: dict[str, list[float]] = {name: [] for name in [*arms, "logistic regression on pixels"]}
    for seed in range(args.seeds):
        idx = labelled_subset(ytr, args.per_class, seed)
        for name, kw in arms.items():
            clf = EncoderClassifier(**common, **kw, random_state=seed).fit(xtr[idx], ytr[idx])
            results[name].append(float(clf.score(xte, yte)))
            print(seed, name, results[name][-1], f"{clf.n_iter_} epochs", flush=True)
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(max_iter=2000, C=0.1).fit(xtr[idx].reshape(len(idx), -1) / 255.0, ytr[idx])
        results["logistic regression on pixels"].append(float(lr.score(xte.reshape(len(xte), -1) / 255.0, yte)))

    rows = [{"method": k, "accuracy_mean": float(np.mean(v)), "accuracy_std": float(np.std(v)), "per_seed": v}
            for k, v in results.items()]
    gain = 100 * (rows[0]["accuracy_mean"] - rows[2]["accuracy_mean"])
    RESULTS.mkdir(exist_ok=True)
    lines = [f"# Pre-training with {args.per_class} labels per digit (`python benchmarks/pretraining.py`)", "",
             f"Conv autoencoder (channels {arch['channels']}, code {args.latent_dim}) pre-trained without labels "
             f"on the 60,000 MNIST training images for {args.pretrain_epochs} epochs ({pretrain_s:.0f} s); "
             f"classifiers fitted on {10 * args.per_class} labelled images (fine-tuning up to {args.epochs} "
             f"epochs, batch 64, early stopping on 10% of them); test accuracy on the 10,000 test images, "
             f"mean (std) over {args.seeds} labelled draws.", "",
             "| classifier | test accuracy % |", "|---|---:|"]
    lines += [f"| {r['method']} | {100 * r['accuracy_mean']:.2f} ({100 * r['accuracy_std']:.2f}) |" for r in rows]
    lines += ["", f"Gain of pre-training over the same network from scratch: **{gain:+.2f} points**.", "",
              f"## Latent-space clustering (`Reducer.cluster_agreement`)", "",
              f"k-means with k=10 (10 restarts) on the 10,000 test images: on the pre-trained autoencoder's "
              f"{args.latent_dim}-d codes, on the raw pixels, and on PCA codes of the same size (PCA fitted on the "
              f"test images); agreement with the digit labels.", "",
              "| space | adjusted Rand index | normalised mutual information |", "|---|---:|---:|"]
    lines += [f"| {label} | {clusters[key + '_ari']:.3f} | {clusters[key + '_nmi']:.3f} |"
              for key, label in (("aekit", f"aekit codes ({args.latent_dim}-d)"), ("raw", "raw pixels (784-d)"),
                                 ("pca", f"PCA codes ({args.latent_dim}-d)"))]
    (RESULTS / f"{args.tag}.md").write_text("\n".join(lines) + "\n")
    (RESULTS / f"{args.tag}.json").write_text(json.dumps({"args": vars(args), "pretrain_s": pretrain_s,
                                                          "rows": rows, "gain_points": gain, "clustering": clusters}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
