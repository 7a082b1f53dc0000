"""Generation quality on MNIST: a classifier-feature Frechet distance for VAE, VQ-VAE and AE + mixture samples.

    AEKIT_DATA_DIR=../shared/data python benchmarks/generation.py            # ~20 min on 2 cores
    python benchmarks/generation.py --epochs 2 --n 2000                       # a quick look

The "FID" of Heusel et al. (NeurIPS 2017) with the Inception network replaced by a small MNIST classifier
trained here (two conv layers + a 128-unit layer, 3 epochs, ~99% test accuracy): the Frechet distance
between Gaussians fitted to the 128-d penultimate features of ``--n`` generated images and of the test set.
The floor in the same table: ``--n`` training images (the data's own distance, the best a model can do at
this sample size); the "same AE decoder on N(0, I) codes" row shows what the fitted mixture is worth.
Every model trains for a fixed number of epochs (``--epochs``), so results do not depend on machine load.
Writes benchmarks/results/generation.md (+ .json, + generation_samples.png).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy import linalg
from torch import nn

from aekit import Generator
from aekit.data import load_dataset
from aekit.report import tile_images

RESULTS = Path(__file__).resolve().parent / "results"


class FeatureNet(nn.Module):
    """A small MNIST classifier; ``features`` is its 128-d penultimate layer."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (B, 32, 14, 14)
                                  nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 64, 7, 7)
                                  nn.Flatten(), nn.Linear(64 * 49, 128), nn.ReLU())            # (B, 128)
        self.out = nn.Linear(128, 10)

    def forward(self, x):
        return self.out(self.body(x))

    @torch.no_grad()
    def features(self, x: np.ndarray) -> np.ndarray:
        self.eval()
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        return torch.cat([self.body(t[i:i + 1000]) for i in range(0, len(t), 1000)]).double().numpy()


def train_feature_net(x, y, xte, yte, epochs=3, seed=0):
    torch.manual_seed(seed)
    net = FeatureNet()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(xt), generator=gen).split(128):
            loss = nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        acc = float((net(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean())
    return net, acc


def frechet_distance(f1: np.ndarray, f2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) between Gaussians fitted to two feature sets."""
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean, _ = linalg.sqrtm(s1 @ s2, disp=False)
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=10, help="training epochs per generative model")
    ap.add_argument("--n", type=int, default=10000, help="samples per model (and test/train images compared)")
    ap.add_argument("--tag", default="generation")
    args = ap.parse_args()

    ds = load_dataset("mnist")
    xtr = ds.train.X.astype(np.float32) / 255.0                      # (60000, 1, 28, 28)
    xte = ds.test.X.astype(np.float32) / 255.0
    net, acc = train_feature_net(xtr, ds.train.y, xte, ds.test.y)
    print(f"feature classifier test accuracy {acc:.4f}")
    f_test = net.features(xte[:args.n])
    rng = np.random.default_rng(0)
    rows = [{"method": f"{args.n} MNIST training images (floor)", "fd": frechet_distance(
        net.features(xtr[rng.choice(len(xtr), args.n, replace=False)]), f_test), "train_s": 0.0}]

    models = {
        "VAE (vae-conv, 16-d, Bernoulli decoder)": Generator(16, model="vae-conv"),
        "VQ-VAE (7x7 codes of 512) + transformer prior": Generator(
            64, model="vq-vae", model_params={"downsample": 2, "prior_epochs": 5}),
        "AE (conv, 16-d) + 10-component Gaussian mixture": Generator(16, model="conv", density="gmm"),
    }
    grids = {}
    for name, gen in models.items():
        gen.set_params(epochs=args.epochs, batch_size=128, validation_fraction=0.05)
        t0 = time.perf_counter()
        gen.fit(xtr)
        seconds = time.perf_counter() - t0
        samples = gen.sample(args.n, random_state=1)
        rows.append({"method": name, "fd": frechet_distance(net.features(samples), f_test), "train_s": seconds})
        grids[name] = samples[:16]
        print(rows[-1], flush=True)
        if gen.density_ == "gmm":  # the same decoder fed N(0, I) codes: what the fitted density is worth
            z = np.random.default_rng(2).standard_normal((args.n, gen.latent_dim)).astype(np.float32)
            raw = gen._to_user_layout(gen._decode(z))
            rows.append({"method": "  same AE decoder on N(0, I) codes (no fitted density)",
                         "fd": frechet_distance(net.features(raw), f_test), "train_s": 0.0})

    RESULTS.mkdir(exist_ok=True)
    from PIL import Image

    Image.fromarray(tile_images(np.concatenate(list(grids.values())), ncols=16)).save(RESULTS / f"{args.tag}_samples.png")
    lines = [f"# Generation on MNIST (`python benchmarks/generation.py --epochs {args.epochs} --n {args.n}`)", "",
             f"Frechet distance between {args.n} samples and the first {args.n} test images, on the 128-d features "
             f"of a small MNIST classifier trained in the same run (test accuracy {acc:.4f}); lower is better. "
             f"Each model: {args.epochs} epochs on the 60,000 training images. Sample rows (top to bottom, "
             f"16 each): {', '.join(grids)} — `{args.tag}_samples.png`.", "",
             "| samples | Frechet distance | training s |", "|---|---:|---:|"]
    lines += [f"| {r['method']} | {r['fd']:.2f} | {r['train_s']:.0f} |" for r in rows]
    (RESULTS / f"{args.tag}.md").write_text("\n".join(lines) + "\n")
    (RESULTS / f"{args.tag}.json").write_text(json.dumps({"classifier_accuracy": acc, "epochs": args.epochs,
                                                          "n": args.n, "rows": rows}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
