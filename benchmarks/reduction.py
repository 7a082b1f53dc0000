"""Dimensionality reduction on MNIST: aekit vs scikit-learn's PCA, and vs the tutorial training loop.

    AEKIT_DATA_DIR=../shared/data python benchmarks/reduction.py            # full run (about 35 min)
    python benchmarks/reduction.py --sizes 32 --budget 60 --skip-tutorial  # a quick look
    python benchmarks/reduction.py --sizes 32 --epochs 2 --race-aekit-only --repeats 1  # load-independent check

Part 1, for each code size: PCA (test MSE per pixel, raw and clipped to [0, 1], fit time) beside aekit's
convolutional autoencoder trained for a wall-clock budget (AdamW, cosine schedule over the budget); at
code size 32 also aekit's ``linear`` model without activation, which should land on PCA's MSE.
Part 2: wall time to reach test MSE 0.0130 at code size 32 -- the Keras/PyTorch tutorial loop
(784-32-784, ReLU code, sigmoid output, MSE, Adam 1e-3, batch 20, DataLoader) against aekit's MLP.
Both are timed the same way: training wall time, without the test evaluations that watch for the target
(after every epoch for the tutorial, every 50 steps for aekit).
Prints a table and writes it to benchmarks/results/reduction.md (and .json).
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import numpy as np
import torch

from aekit.data import load_dataset
from aekit.metrics import pca_baseline
from aekit.models import create_model
from aekit.training import TrainConfig, fit

RESULTS = Path(__file__).resolve().parent / "results"
TARGET = 0.0130

# aekit's configuration for the budgeted runs (one for every code size)
CONV = dict(channels=[16, 32], depth=2, activation="gelu", output_activation="clamp")
CONV_TRAIN = dict(batch_size=64, lr=5e-3, optimizer="adamw", weight_decay=0.0, schedule="cosine")
LINEAR_TRAIN = dict(batch_size=256, lr=3e-3, schedule="cosine")
# aekit's configuration for the time-to-0.0130 race
MLP = dict(hidden=[256], activation="gelu", output_activation="clamp")
MLP_TRAIN = dict(batch_size=128, lr=3e-3, schedule="constant")
EVAL_EVERY = 50  # steps between test evaluations in aekit's race (the tutorial scores once per epoch)


def load_mnist(data_dir: str | None):
    ds = load_dataset("mnist", data_dir=data_dir)
    x_train = ds.train.X / 255.0
    x_test = ds.test.X / 255.0
    return x_train.astype(np.float32), x_test.astype(np.float32)


@torch.no_grad()
def test_mse(model, x_test: np.ndarray) -> float:
    model.eval()
    x = torch.from_numpy(x_test)
    total = sum(float(((model(x[i:i + 2000]).recon - x[i:i + 2000]) ** 2).sum()) for i in range(0, len(x), 2000))
    return total / x.numel()


def aekit_budgeted(x_train, x_test, k: int, budget: float, seed: int, epochs: int | None = None) -> dict:
    """``epochs``: train exactly that many epochs (cosine over them) instead of for ``budget`` seconds."""
    torch.manual_seed(seed)
    model = create_model("conv", input_shape=(1, 28, 28), latent_dim=k, **CONV)
    cfg = TrainConfig(epochs=epochs or 1000, max_time=None if epochs else budget, early_stopping=None,
                      random_state=seed, progress=False, **CONV_TRAIN)
    t0 = time.perf_counter()
    result = fit(model, x_train, config=cfg)
    fit_time = time.perf_counter() - t0
    return {"method": "aekit conv", "code_size": k, "test_mse": test_mse(model, x_test), "fit_time": fit_time,
            "epochs": len(result.history)}


def aekit_linear(x_train, x_test, k: int, budget: float, seed: int, epochs: int | None = None) -> dict:
    """``linear`` without any activation: its optimum spans the PCA subspace (Baldi & Hornik 1989)."""
    torch.manual_seed(seed)
    model = create_model("linear", input_shape=(1, 28, 28), latent_dim=k, activation=None, output_activation=None)
    cfg = TrainConfig(epochs=epochs or 1000, max_time=None if epochs else budget, early_stopping=None,
                      random_state=seed, progress=False, **LINEAR_TRAIN)
    t0 = time.perf_counter()
    result = fit(model, x_train, config=cfg)
    return {"method": "aekit linear (no activation)", "code_size": k, "test_mse": test_mse(model, x_test),
            "fit_time": time.perf_counter() - t0, "epochs": len(result.history)}


class TutorialMNIST(torch.utils.data.Dataset):
    """What ``torchvision.datasets.MNIST(transform=ToTensor())`` does for every sample, without torchvision:
    a uint8 array -> PIL image -> float tensor in [0, 1], plus the label."""

    def __init__(self, images_uint8: np.ndarray):
        self.images = images_uint8

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        from PIL import Image

        img = Image.fromarray(self.images[i], mode="L")
        x = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).view(1, 28, 28).float().div(255)
        return x, 0


def tutorial_time_to_target(x_train, x_test, max_epochs: int, seed: int, *, per_sample: bool = True) -> dict:
    """The loop most tutorials show: DataLoader with batch 20, Adam 1e-3, test MSE every epoch.

    ``per_sample=True``: the dataset converts each image on access, as torchvision's MNIST does;
    ``False``: the images are one pre-converted tensor (``TensorDataset``), a faster variant.
    """
    torch.manual_seed(seed)
    enc = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 32), torch.nn.ReLU())
    dec = torch.nn.Sequential(torch.nn.Linear(32, 784), torch.nn.Sigmoid())
    net = torch.nn.Sequential(enc, dec)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    if per_sample:
        dataset = TutorialMNIST(np.round(x_train[:, 0] * 255).astype(np.uint8))
    else:
        dataset = torch.utils.data.TensorDataset(torch.from_numpy(x_train))
    loader = torch.utils.data.DataLoader(dataset, batch_size=20, shuffle=True)
    xt = torch.from_numpy(x_test).reshape(len(x_test), -1)
    t0 = time.perf_counter()
    eval_time = 0.0
    curve = []
    for epoch in range(1, max_epochs + 1):
        net.train()
        for xb, *_ in loader:
            xb = xb.reshape(len(xb), -1)
            loss = torch.nn.functional.mse_loss(net(xb), xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        t_eval = time.perf_counter()
        with torch.no_grad():
            mse = float(torch.nn.functional.mse_loss(net(xt), xt))
        eval_time += time.perf_counter() - t_eval
        curve.append((epoch, time.perf_counter() - t0 - eval_time, mse))
        if mse <= TARGET:
            break
    reached = curve[-1][2] <= TARGET
    variant = "per-sample PIL -> tensor, as torchvision" if per_sample else "pre-converted TensorDataset"
    return {"method": f"tutorial loop (784-32-784, batch 20, {variant})", "epochs": curve[-1][0],
            "seconds_to_target": curve[-1][1] if reached else None, "final_test_mse": curve[-1][2],
            "reached": reached}


def aekit_time_to_target(x_train, x_test, max_epochs: int, seed: int) -> dict:
    torch.manual_seed(seed)
    model = create_model("mlp", input_shape=(1, 28, 28), latent_dim=32, **MLP)
    cfg = TrainConfig(epochs=max_epochs, early_stopping=None, restore_best=False, random_state=seed,
                      progress=False, eval_batch_size=2000, val_every_steps=EVAL_EVERY, **MLP_TRAIN)
    # the test set is the validation data here only to time the race: it is scored every EVAL_EVERY steps
    # (not counted in the time, as in the tutorial's timing) and the callback stops once it reaches the target
    result = fit(model, x_train, x_test, config=cfg, callbacks=[lambda epoch, logs: logs["val_recon"] <= TARGET])
    last = (result.evaluations or result.history)[-1]
    reached = last["val_recon"] <= TARGET
    return {"method": f"aekit mlp (784-256-32-256-784, batch 128, test scored every {EVAL_EVERY} steps)",
            "epochs": round(last.get("step", 0) / math.ceil(len(x_train) / MLP_TRAIN["batch_size"]), 2)
            if "step" in last else last["epoch"],
            "seconds_to_target": last["time"] - last["eval_time"] if reached else None,
            "final_test_mse": last["val_recon"], "reached": reached}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="2,8,16,32,64", help="code sizes, comma separated")
    ap.add_argument("--budget", type=float, default=300.0, help="training seconds per aekit run")
    ap.add_argument("--data-dir", default=None, help="folder with mnist/ (default: $AEKIT_DATA_DIR)")
    ap.add_argument("--linear-budget", type=float, default=60.0, help="training seconds for linear-32")
    ap.add_argument("--epochs", type=int, default=None,
                    help="train each aekit conv / linear run exactly this many epochs instead of for --budget / "
                    "--linear-budget seconds (results independent of the machine's load)")
    ap.add_argument("--skip-tutorial", action="store_true")
    ap.add_argument("--race-aekit-only", action="store_true",
                    help="run only aekit's racer in the time-to-target race (not the two tutorial loops)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3, help="runs of each racer; the median time is reported")
    ap.add_argument("--tag", default="reduction", help="name of the results files")
    args = ap.parse_args(argv)
    x_train, x_test = load_mnist(args.data_dir)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(f"MNIST train {x_train.shape}, test {x_test.shape}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")

    rows = []
    for k in sizes:
        pca = pca_baseline(x_train, x_test, k, clip=(0.0, 1.0))
        rows.append(pca)
        print(f"PCA-{k}: test MSE {pca['test_mse']:.5f} (clipped {pca['test_mse_clipped']:.5f}), "
              f"fit {pca['fit_time']:.1f} s", flush=True)
        ae = aekit_budgeted(x_train, x_test, k, args.budget, args.seed, args.epochs)
        rows.append(ae)
        print(f"aekit conv-{k}: test MSE {ae['test_mse']:.5f}, fit {ae['fit_time']:.1f} s "
              f"({ae['epochs']} epochs)", flush=True)
        if k == 32:
            lin = aekit_linear(x_train, x_test, k, args.linear_budget, args.seed, args.epochs)
            rows.append(lin)
            print(f"aekit linear-{k}: test MSE {lin['test_mse']:.5f} ({lin['test_mse'] / pca['test_mse']:.3f} x PCA), "
                  f"fit {lin['fit_time']:.1f} s", flush=True)

    race = []
    if not args.skip_tutorial:
        runs = (aekit_time_to_target, tutorial_time_to_target,
                lambda *a: tutorial_time_to_target(*a, per_sample=False))
        if args.race_aekit_only:
            runs = runs[:1]
        for run in runs:
            tries = [run(x_train, x_test, 40, args.seed) for _ in range(args.repeats)]
            r = dict(tries[0])
            times = [t["seconds_to_target"] for t in tries]
            r["reached"] = all(t["reached"] for t in tries)
            r["all_seconds"] = times
            r["seconds_to_target"] = float(np.median(times)) if r["reached"] else None
            race.append(r)
            print(f"{r['method']}: median {r['seconds_to_target']} s to test MSE {TARGET} over {args.repeats} runs "
                  f"{times} ({r['epochs']} epochs, final {r['final_test_mse']:.5f})", flush=True)

    lines = [f"# MNIST reduction benchmark ({time.strftime('%Y-%m-%d')})", "",
             f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads; " +
             (f"aekit {args.epochs} epochs per run" if args.epochs else
              f"aekit budget {args.budget:.0f} s per code size") + f"; seed {args.seed}.", "",
             "| code size | method | test MSE / pixel | clipped to [0,1] | fit time (s) |",
             "|---:|---|---:|---:|---:|"]
    for r in rows:
        clipped = f"{r['test_mse_clipped']:.5f}" if "test_mse_clipped" in r else "(clamped)"
        lines.append(f"| {r['code_size']} | {r['method']} | {r['test_mse']:.5f} | {clipped} | {r['fit_time']:.1f} |")
    if race:
        lines += ["", f"Training time to reach test MSE {TARGET} at code size 32 (test evaluations not counted):", "",
                  f"| method | epochs | median seconds ({args.repeats} runs) | all runs | final test MSE |",
                  "|---|---:|---:|---|---:|"]
        for r in race:
            secs = f"{r['seconds_to_target']:.1f}" if r["reached"] else "not reached"
            runs_txt = ", ".join(f"{t:.1f}" if t is not None else "-" for t in r["all_seconds"])
            lines.append(f"| {r['method']} | {r['epochs']} | {secs} | {runs_txt} | {r['final_test_mse']:.5f} |")
        if all(r["reached"] for r in race):
            lines += [""] + [f"Speed-up of aekit over the {r['method']}: "
                             f"{r['seconds_to_target'] / race[0]['seconds_to_target']:.1f}x" for r in race[1:]]
    table = "\n".join(lines)
    print("\n" + table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.tag}.md").write_text(table + "\n")
    (RESULTS / f"{args.tag}.json").write_text(json.dumps({"rows": rows, "race": race, "args": vars(args)}, indent=2))


if __name__ == "__main__":
    main()
