"""The autoencoder families on MNIST, each beside the baseline it must beat.

    AEKIT_DATA_DIR=../shared/data python benchmarks/families.py               # all sections (~30 min)
    python benchmarks/families.py --only denoise,vq --budget 60               # a quick look

Sections (``--only``):
  denoise      conv AE trained with x + 0.5 N(0,1) clipped (Keras tutorial setting) vs median 3x3,
               NL-means, TV and wavelet denoisers (scikit-image), mean PSNR on the 10,000 test images
  sparse       TopK (k=32 of 256 units) vs a dense 32-unit code, same decoder; KL sparsity vs its rho
  contractive  encoder Jacobian norm on test data, contractive vs plain, same architecture and budget
  vae          32-D VAE, Bernoulli decoder on binarised MNIST, importance-weighted test NLL (nats)
  vq           VQ-VAE vs the conv AE with the same number of bits in its code; perplexity; prior samples
Every model trains for ``--budget`` seconds (AdamW, cosine schedule over the budget). Prints a table per
section and writes benchmarks/results/families.md (+ .json, + PNG grids).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from aekit.corruption import make_corruption
from aekit.data import load_dataset
from aekit.metrics import psnr
from aekit.models import create_model
from aekit.training import TrainConfig, fit

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = ("denoise", "sparse", "contractive", "vae", "vq")


def train(model, x_train, budget, *, targets=None, corruption=None, seed=0, **cfg):
    torch.manual_seed(seed)
    config = TrainConfig(**{"epochs": 1000, "max_time": budget, "early_stopping": None, "progress": False,
                            "random_state": seed, "batch_size": 64, "lr": 3e-3, **cfg})
    data = x_train if targets is None else (x_train, targets)
    result = fit(model, data, config=config, corruption=make_corruption(corruption))
    return result


@torch.no_grad()
def predict(model, x, batch=1000):
    model.eval()
    return np.concatenate([model(torch.from_numpy(x[i:i + batch])).recon.numpy() for i in range(0, len(x), batch)])


def section_denoise(xtr, xte, budget, out):
    from scipy.ndimage import median_filter
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, denoise_wavelet

    rng = np.random.default_rng(0)
    noisy = np.clip(xte + 0.5 * rng.standard_normal(xte.shape).astype(np.float32), 0, 1)
    rows = [{"method": "noisy input", "psnr_db": psnr(xte, noisy), "seconds": 0.0}]
    classical = {
        "median 3x3": lambda im: median_filter(im, size=3),
        "NL-means": lambda im: denoise_nl_means(im, h=0.6 * 0.5, sigma=0.5, patch_size=3, patch_distance=5),
        "TV (Chambolle)": lambda im: denoise_tv_chambolle(im, weight=0.3),
        "wavelet (BayesShrink)": lambda im: denoise_wavelet(im, sigma=0.5, rescale_sigma=True),
    }
    for name, fn in classical.items():
        t0 = time.perf_counter()
        den = np.stack([fn(im[0])[None] for im in noisy]).astype(np.float32)
        rows.append({"method": name, "psnr_db": psnr(xte, np.clip(den, 0, 1)), "seconds": time.perf_counter() - t0})
    for name, family, kw in (("aekit conv, latent 64", "conv", dict(latent_dim=64)),
                             ("aekit unet", "unet", dict(latent_dim=64, channels=[32, 64]))):
        model = create_model(family, input_shape=(1, 28, 28), **kw)
        t0 = time.perf_counter()
        train(model, xtr, budget, corruption="gaussian:0.5", lr=2e-3)
        den = np.clip(predict(model, noisy), 0, 1)
        rows.append({"method": name + " (trained on gaussian:0.5)", "psnr_db": psnr(xte, den),
                     "seconds": time.perf_counter() - t0})
        _grid(out / f"denoise_{family}.png",
              {"noisy": noisy[:10], "denoised": den[:10], "clean": xte[:10]})
    return rows


def _grid(path, rows):
    from aekit.report import image_rows

    path.write_bytes(image_rows(rows))


@torch.no_grad()
def code_stats(model, x):
    model.eval()
    codes = torch.cat([model.encode(torch.from_numpy(x[i:i + 2000])) for i in range(0, len(x), 2000)])
    active = codes != 0
    return {"l0": float(active.float().sum(1).mean()), "dead_fraction": float((~active.any(0)).float().mean()),
            "mean_activation": float(codes.mean())}


def section_sparse(xtr, xte, budget, out):
    rows = []
    specs = [("dense code, 32 units", "sparse", dict(latent_dim=32, penalty="l1", sparsity_weight=0.0)),
             ("TopK k=32 of 256 units", "sparse", dict(latent_dim=256, penalty="topk", k=32)),
             ("KL sparsity rho=0.05, 256 units", "sparse", dict(latent_dim=256, penalty="kl", rho=0.05))]
    for name, family, kw in specs:
        model = create_model(family, input_shape=(1, 28, 28), **kw)
        train(model, xtr, budget)
        rec = predict(model, xte)
        rows.append({"method": name, "test_mse": float(np.mean((rec - xte) ** 2)), **code_stats(model, xte),
                     **({"rho": kw["rho"]} if "rho" in kw else {})})
    return rows


def jacobian_norm(model, x):
    from aekit.losses import jacobian_frobenius

    model.eval()
    vals = [jacobian_frobenius(model.encoder, torch.from_numpy(x[i:i + 500])) for i in range(0, len(x), 500)]
    return float(torch.cat([v.detach().reshape(-1) for v in vals]).mean())


def section_contractive(xtr, xte, budget, out):
    rows = []
    for name, lam in (("plain (lam=0)", 0.0), ("contractive (lam=0.1)", 0.1)):
        model = create_model("contractive", input_shape=(1, 28, 28), latent_dim=64, lam=lam)
        train(model, xtr, budget)
        rows.append({"method": name, "test_mse": float(np.mean((predict(model, xte) - xte) ** 2)),
                     "jacobian_frobenius_sq": jacobian_norm(model, xte[:2000])})
    return rows


def section_vae(xtr, xte, budget, out, n_iw=1000, n_test=2000):
    from aekit.models.vae import importance_weighted_nll, negative_elbo

    rng = np.random.default_rng(0)  # one fixed stochastic binarisation (Salakhutdinov & Murray 2008 style)
    btr = (rng.random(xtr.shape) < xtr).astype(np.float32)
    bte = (rng.random(xte.shape) < xte).astype(np.float32)
    model = create_model("vae", input_shape=(1, 28, 28), latent_dim=32, likelihood="bernoulli",
                         kl_warmup_steps=2000)
    t0 = time.perf_counter()
    train(model, btr, budget, loss="bce", batch_size=128, lr=1e-3)
    fit_time = time.perf_counter() - t0
    x = torch.from_numpy(bte[:n_test])
    gen = torch.Generator().manual_seed(0)
    model.eval()
    nll = importance_weighted_nll(model, x, n_samples=n_iw, generator=gen)
    elbo = negative_elbo(model, x, generator=gen)
    model.eval()
    with torch.no_grad():
        _grid(out / "vae_samples.png", {"samples": model.sample(10, generator=gen).numpy(),
                                        "more": model.sample(10, generator=gen).numpy()})
        _grid(out / "vae_interpolation.png",
              {"0 -> 1": model.interpolate(x[0:1], x[1:2], steps=10).numpy(),
               "2 -> 3": model.interpolate(x[2:3], x[3:4], steps=10).numpy()})
    return [{"method": "aekit vae (32-D, Bernoulli)", "test_nll_nats": float(nll.mean()),
             "test_neg_elbo_nats": float(elbo.mean()), "importance_samples": n_iw, "test_images": len(x),
             "fit_time": fit_time}]


def section_vq(xtr, xte, budget, out):
    from aekit.training import fit_prior

    model = create_model("vq-vae", input_shape=(1, 28, 28), prior_epochs=0)  # prior: fit_prior below
    t0 = time.perf_counter()
    train(model, xtr, budget, lr=2e-3)
    fit_time = time.perf_counter() - t0
    idx = torch.cat([model.eval().encode_indices(torch.from_numpy(xte[i:i + 2000])) for i in range(0, len(xte), 2000)])
    counts = torch.bincount(idx.flatten(), minlength=model.config['codebook_size']).float()
    p = counts / counts.sum()
    perplexity = float(torch.exp(-(p[p > 0] * p[p > 0].log()).sum()))
    grid = idx.shape[1:]
    bits = int(np.prod(grid)) * math.ceil(math.log2(model.config['codebook_size']))
    latent = max(1, round(bits / 32))  # float32 code with the same number of bits
    conv = create_model("conv", input_shape=(1, 28, 28), latent_dim=latent)
    train(conv, xtr, budget, lr=5e-3)
    prior_losses = fit_prior(model, xtr[:20000], epochs=5)
    with torch.no_grad():
        samples = model.eval().sample(20, generator=torch.Generator().manual_seed(0)).numpy()
    _grid(out / "vq_samples.png", {"samples": samples[:10], "more": samples[10:]})
    return [{"method": f"aekit vq-vae ({grid[0]}x{grid[1]} codes of {model.config['codebook_size']})", "code_bits": bits,
             "test_mse": float(np.mean((predict(model, xte) - xte) ** 2)), "perplexity": perplexity,
             "perplexity_fraction": perplexity / model.config['codebook_size'], "fit_time": fit_time,
             "prior_nll_last_epoch": prior_losses[-1]},
            {"method": f"aekit conv, latent {latent} (float32)", "code_bits": latent * 32,
             "test_mse": float(np.mean((predict(conv, xte) - xte) ** 2))}]


def markdown(title, rows):
    cols = list(dict.fromkeys(k for r in rows for k in r))
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    return "\n".join([f"### {title}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
                     + ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default=",".join(SECTIONS))
    ap.add_argument("--budget", type=float, default=240.0, help="training seconds per model")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--tag", default="families")
    ap.add_argument("--limit-test", type=int, default=None, help="score only the first N test images (quick looks)")
    args = ap.parse_args(argv)
    ds = load_dataset("mnist", data_dir=args.data_dir)
    xtr, xte = (ds.train.X / 255.0).astype(np.float32), (ds.test.X[:args.limit_test] / 255.0).astype(np.float32)
    RESULTS.mkdir(parents=True, exist_ok=True)
    results, parts = {}, [f"# MNIST model families ({time.strftime('%Y-%m-%d')}), {args.budget:.0f} s per model, "
                          f"{torch.get_num_threads()} threads", ""]
    for name in args.only.split(","):
        if name not in SECTIONS:
            raise SystemExit(f"unknown section {name!r}; expected some of {SECTIONS}")
        t0 = time.perf_counter()
        rows = globals()[f"section_{name}"](xtr, xte, args.budget, RESULTS)
        results[name] = rows
        parts += [markdown(f"{name} ({time.perf_counter() - t0:.0f} s)", rows), ""]
        print(parts[-2], flush=True)
        (RESULTS / f"{args.tag}.md").write_text("\n".join(parts) + "\n")
        (RESULTS / f"{args.tag}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
