"""How close aekit's training and inference come to what this machine can compute.

    python benchmarks/speed.py                  # ~5 min on 2 cores; run it alone
    python benchmarks/speed.py --quick          # fewer repeats
    python benchmarks/speed.py --bare-only      # the ceiling and aekit's Trainer step against a bare loop

1. The ceiling: this machine's peak float32 FLOP/s for a matrix product (``torch.mm``, square sizes
   512-4096) and for a convolution (``torch.nn.functional.conv2d``, 3x3, several channel counts), the best of
   several timed runs.
2. Training: the MNIST ``mlp`` and ``conv`` autoencoders (aekit's default architectures for 28 x 28 images),
   at batch 128 (Reducer's default) also with bfloat16 autocast and with ``torch.compile``, trained by aekit's
   training loop (``aekit.training.Trainer``: corruption-free reconstruction, AdamW) on
   MNIST-shaped data at several batch sizes; the FLOPs of one step (forward + backward) are counted by
   ``torch.utils.flop_counter.FlopCounterMode``; achieved FLOP/s = FLOPs per step x steps / seconds, and its
   fraction of the matching ceiling (matmul for ``mlp``, convolution for ``conv``).
3. The Trainer step against a bare PyTorch loop (same model, AdamW, batch 128, data in memory; see
   ``bare_loop_seconds``), interleaved in one process so that the machine's load hits both alike.
4. Inference: reconstruction samples/s and FLOP/s at several batch sizes for PyTorch eager (``no_grad``),
   ``torch.compile`` and ONNX Runtime (``aekit.export_onnx``), side by side.

The training data is random (the speed of a step does not depend on the values). Writes
benchmarks/results/speed.md and speed.json, with the thread count and the load average.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"


def best_seconds(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def matmul_ceiling(repeats: int) -> dict:
    rows = []
    for n in (512, 1024, 2048, 4096):
        a, b = torch.randn(n, n), torch.randn(n, n)
        s = best_seconds(lambda: torch.mm(a, b), repeats)
        rows.append({"n": n, "gflops": 2 * n ** 3 / s / 1e9})
    return {"rows": rows, "gflops": max(r["gflops"] for r in rows)}


def conv_ceiling(repeats: int) -> dict:
    rows = []
    for batch, c, hw in ((64, 32, 28), (64, 64, 28), (32, 128, 28), (32, 256, 14)):
        x, w = torch.randn(batch, c, hw, hw), torch.randn(c, c, 3, 3)
        for fmt in ("contiguous", "channels_last"):
            xf = x.contiguous(memory_format=torch.channels_last) if fmt == "channels_last" else x
            wf = w.contiguous(memory_format=torch.channels_last) if fmt == "channels_last" else w
            s = best_seconds(lambda: torch.nn.functional.conv2d(xf, wf, padding=1), repeats)
            rows.append({"batch": batch, "channels": c, "size": hw, "format": fmt,
                         "gflops": 2 * batch * c * c * 9 * hw * hw / s / 1e9})
    return {"rows": rows, "gflops": max(r["gflops"] for r in rows)}


def step_flops(model, batch: int) -> int:
    """FLOPs of one training step's forward and backward (FlopCounterMode counts matmuls and convolutions)."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(batch, *model.input_shape)
    with FlopCounterMode(display=False) as counter:
        out = model(x)
        torch.nn.functional.mse_loss(out.recon, x).backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def forward_flops(model, batch: int) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.rand(batch, *model.input_shape))
    return int(counter.get_total_flops())


def training_speed(name: str, batch: int, n: int, ceiling: float, variant: str = "default") -> dict:
    """``variant``: "default" (float32, eager), "bf16" (bfloat16 autocast) or "compile" (torch.compile)."""
    from aekit import create_model
    from aekit.training import TrainConfig, Trainer

    model = create_model(name, input_shape=(1, 28, 28), latent_dim=32)
    flops = step_flops(model, batch)
    x = np.random.default_rng(0).random((n, 1, 28, 28), dtype=np.float32)
    config = TrainConfig(epochs=1, batch_size=batch, progress=False, early_stopping=None, device="cpu",
                         precision="bf16" if variant == "bf16" else "32", compile=variant == "compile")
    Trainer(model, config).fit(x[:batch * 3])                 # warm-up: allocations, oneDNN kernels
    t = time.perf_counter()
    result = Trainer(model, config).fit(x)
    seconds = time.perf_counter() - t
    steps = result.steps
    achieved = flops * steps / seconds / 1e9
    return {"model": name, "variant": variant, "batch": batch, "samples_per_s": n / seconds, "gflops_per_step": flops / 1e9,
            "achieved_gflops": achieved, "fraction_of_ceiling": achieved / ceiling, "threads": torch.get_num_threads()}


def bare_loop_seconds(model, x: np.ndarray, batch: int) -> tuple[float, int]:
    """The reference a user would write: the same model, ``torch.optim.AdamW(lr=3e-3)`` as constructed by default,
    shuffled batches sliced from the data in memory, MSE, ``zero_grad`` / ``backward`` / ``step``; no hooks,
    metrics, schedule, checks or thread decisions. Returns (seconds, CPU seconds, steps)."""
    t, c = time.perf_counter(), time.process_time()
    data = torch.from_numpy(x)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    order = torch.randperm(len(data))
    steps = 0
    for start in range(0, len(data), batch):
        xb = data.index_select(0, order[start:start + batch])
        loss = torch.nn.functional.mse_loss(model(xb).recon, xb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        steps += 1
    return time.perf_counter() - t, time.process_time() - c, steps


def trainer_seconds(model, x: np.ndarray, config) -> tuple[float, int]:
    """aekit's Trainer over the same data: the whole ``fit`` (setup, steps, the end-of-fit checks)."""
    from aekit.training import Trainer

    t, c = time.perf_counter(), time.process_time()
    steps = Trainer(model, config).fit(x).steps
    return time.perf_counter() - t, time.process_time() - c, steps


def step_against_bare(name: str, batch: int, n: int, rounds: int, ceiling: float) -> dict:
    """aekit's Trainer step against the bare loop, interleaved (bare, Trainer, bare, ...) in this process so a
    change in the machine's load hits both alike; medians over ``rounds`` of the per-step times and of their
    ratio."""
    from aekit import create_model
    from aekit.training import TrainConfig

    model = create_model(name, input_shape=(1, 28, 28), latent_dim=32)
    flops = step_flops(model, batch)
    x = np.random.default_rng(0).random((n, 1, 28, 28), dtype=np.float32)
    config = TrainConfig(epochs=1, batch_size=batch, progress=False, early_stopping=None, device="cpu")
    trainer_seconds(model, x[:batch * 3], config)              # warm-up of both: allocations, oneDNN kernels
    bare_loop_seconds(model, x[:batch * 3], batch)
    bare, ours, bare_cpu, ours_cpu = [], [], [], []
    for _ in range(rounds):
        s, c, k = bare_loop_seconds(model, x, batch)
        bare.append(s / k)
        bare_cpu.append(c / k)
        s, c, k = trainer_seconds(model, x, config)
        ours.append(s / k)
        ours_cpu.append(c / k)
    med = statistics.median
    ratios = [o / b for o, b in zip(ours, bare)]
    return {"model": name, "batch": batch, "rounds": rounds, "bare_ms": 1e3 * med(bare), "trainer_ms": 1e3 * med(ours),
            "ratio": med(ratios), "ratios": ratios,
            "cpu_ratio": med([o / b for o, b in zip(ours_cpu, bare_cpu)]),   # CPU seconds: steadier under load
            "trainer_fraction_of_ceiling": flops / med(ours) / 1e9 / ceiling,
            "bare_fraction_of_ceiling": flops / med(bare) / 1e9 / ceiling, "threads": torch.get_num_threads(),
            "load": os.getloadavg()[0]}


def inference_speed(name: str, batches: list[int], repeats: int, ceiling: float) -> list[dict]:
    from aekit import create_model, export_onnx

    model = create_model(name, input_shape=(1, 28, 28), latent_dim=32).eval()
    rows = []
    runners = {"torch eager": lambda x: model(x).recon}
    try:
        compiled = torch.compile(model)
        runners["torch.compile"] = lambda x: compiled(x).recon
    except Exception as exc:  # noqa: BLE001 - reported, not fatal
        print(f"torch.compile unavailable: {exc}")
    try:
        import onnxruntime as ort

        path = Path(tempfile.mkdtemp()) / f"{name}.onnx"
        export_onnx(model, path)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        runners["ONNX Runtime"] = lambda x: session.run(None, {input_name: x.numpy()})[0]
    except Exception as exc:  # noqa: BLE001
        print(f"ONNX Runtime unavailable: {exc}")
    for batch in batches:
        flops = forward_flops(model, batch)
        x = torch.rand(batch, 1, 28, 28)
        for runtime, run in runners.items():
            with torch.no_grad():
                try:
                    s = best_seconds(lambda: run(x), repeats, warmup=3)
                except Exception as exc:  # noqa: BLE001 - e.g. a compile failure at a new shape
                    print(f"{runtime} failed at batch {batch}: {exc}")
                    continue
            rows.append({"model": name, "runtime": runtime, "batch": batch, "samples_per_s": batch / s,
                         "achieved_gflops": flops / s / 1e9, "fraction_of_ceiling": flops / s / 1e9 / ceiling})
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in rows[-1].items()}), flush=True)
    return rows


def report(res: dict) -> str:
    load = os.getloadavg()
    mm, cv = res["ceiling"]["matmul"]["gflops"], res["ceiling"]["conv"]["gflops"]
    lines = ["# Speed against the machine's ceiling (`python benchmarks/speed.py`)", "",
             f"{os.cpu_count()} CPU cores, torch {torch.__version__}, {torch.get_num_threads()} threads.", "",
             f"Ceiling: float32 matmul **{mm:.1f} GFLOP/s** (best of n = 512..4096), 3x3 convolution "
             f"**{cv:.1f} GFLOP/s** (best of four layer shapes, contiguous or channels-last).", "",
             "## Training (aekit's Trainer, one epoch of random MNIST-shaped data)", "",
             "| model | variant | batch | samples/s | GFLOP per step | achieved GFLOP/s | fraction of ceiling |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in res.get("training", []):
        lines.append(f"| {r['model']} | {r['variant']} | {r['batch']} | {r['samples_per_s']:.0f} | {r['gflops_per_step']:.3f} | "
                     f"{r['achieved_gflops']:.1f} | {100 * r['fraction_of_ceiling']:.0f} % |")
    lines += ["", "Ceiling for `mlp`: the matmul ceiling; for `conv`: the convolution ceiling (both float32, so a "
              "bf16 row's fraction can pass 100 %). Variants: `default` (float32, eager: what aekit does), `bf16` "
              "(`TrainConfig(precision='bf16')`: bfloat16 autocast), `compile` (`TrainConfig(compile=True)`). "
              "Reducer's default batch is 128.", "",
              "## Inference (reconstruction)", "",
              "| model | runtime | batch | samples/s | achieved GFLOP/s | fraction of ceiling |",
              "|---|---|---:|---:|---:|---:|"]
    for r in res.get("inference", []):
        lines.append(f"| {r['model']} | {r['runtime']} | {r['batch']} | {r['samples_per_s']:.0f} | "
                     f"{r['achieved_gflops']:.1f} | {100 * r['fraction_of_ceiling']:.0f} % |")
    if res.get("bare"):
        lines += ["", "## Trainer step against a bare PyTorch loop (`--bare-only` runs just this)", "",
                  "Interleaved in one process (bare, Trainer, bare, ...), medians over the rounds; the bare loop: "
                  "the same model, `torch.optim.AdamW(lr=3e-3)` as constructed by default, batches sliced from the "
                  "data in memory, MSE; the Trainer's time is its whole `fit` (setup and end-of-fit checks included).",
                  "", "| model | batch | bare loop (ms/step) | Trainer (ms/step) | Trainer / bare (median) | CPU-time ratio | "
                  "Trainer fraction of ceiling | bare fraction | threads | load |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in res["bare"]:
            lines.append(f"| {r['model']} | {r['batch']} | {r['bare_ms']:.2f} | {r['trainer_ms']:.2f} | "
                         f"{r['ratio']:.3f} | {r['cpu_ratio']:.3f} | {100 * r['trainer_fraction_of_ceiling']:.0f} % | "
                         f"{100 * r['bare_fraction_of_ceiling']:.0f} % | {r['threads']} | {r['load']:.2f} |")
    lines += ["", f"Load average when written: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    import warnings

    from aekit.diagnostics import CollapseWarning

    warnings.simplefilter("ignore", CollapseWarning)  # random training data: the model learns its mean
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repeats and samples")
    ap.add_argument("--batches", default="64,128,256,512", help="training batch sizes")
    ap.add_argument("--tag", default="speed")
    ap.add_argument("--bare-only", action="store_true", help="only the ceiling and the Trainer-vs-bare-loop rows")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the Trainer-vs-bare comparison")
    args = ap.parse_args()
    repeats, n = (3, 4096) if args.quick else (10, 16384)
    ceiling = {"matmul": matmul_ceiling(repeats), "conv": conv_ceiling(repeats)}
    print(json.dumps({k: round(v["gflops"], 1) for k, v in ceiling.items()}), flush=True)
    bare = []
    for name, ref in (("mlp", "matmul"), ("conv", "conv")):
        bare.append(step_against_bare(name, 128, n, args.rounds, ceiling[ref]["gflops"]))
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in bare[-1].items()}), flush=True)
    if args.bare_only:
        res = {"ceiling": ceiling, "bare": bare}
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{args.tag}.json").write_text(json.dumps(res, indent=1))
        md = report(res)
        (RESULTS / f"{args.tag}.md").write_text(md)
        print(md)
        return
    training = []
    for name, ref, default_batch in (("mlp", "matmul", 128), ("conv", "conv", 128)):
        for batch in [int(b) for b in args.batches.split(",")]:
            variants = ["default"] + (["bf16", "compile"] if batch == default_batch else [])
            for variant in variants:
                training.append(training_speed(name, batch, n, ceiling[ref]["gflops"], variant))
                print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in training[-1].items()}),
                      flush=True)
    inference = []
    for name, ref in (("mlp", "matmul"), ("conv", "conv")):
        inference += inference_speed(name, [1, 64, 1024], repeats, ceiling[ref]["gflops"])
    res = {"ceiling": ceiling, "bare": bare, "training": training, "inference": inference}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.tag}.json").write_text(json.dumps(res, indent=1))
    md = report(res)
    (RESULTS / f"{args.tag}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
