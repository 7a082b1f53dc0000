"""Training on data larger than memory: a 30 GB memory-mappable image array and a 5 GB CSV table.

    python benchmarks/streaming.py make-images /big/images.npy --gb 30      # writes the array (not in the repo)
    python benchmarks/streaming.py make-csv /big/table.csv --gb 5
    python benchmarks/streaming.py images /big/images.npy                   # streamed vs in-memory, peak RSS
    python benchmarks/streaming.py table /big/table.csv --shards /big/table-shards
    python benchmarks/streaming.py cli /big/big.npy --gb 4 --delete       # the command line on a big .npy
    python benchmarks/streaming.py cli /big/big.npy --gb 30 --sparse --delete
    python benchmarks/streaming.py cli mnist                               # data that fit: RSS / float32 size

``images``: a conv autoencoder (aekit's default for 28 x 28 images) trained for ``--steps`` steps on the big
array through :class:`aekit.data.streaming.ArrayStream` (blocks in a random order over the whole file, a
shuffle buffer) by aekit's Trainer, in a child process run under ``/usr/bin/time -v`` for its peak resident
memory; then the same number of steps on an in-memory array of ``--in-memory`` images (data that fit), in
another child. ``table``: the CSV converted to ``.npy`` shards in one chunked pass (``csv_to_shards``), then
the default table model of ``AnomalyDetector`` (the batched ensemble) trained ``--steps`` steps on the
shards, against the same steps on an in-memory slice. Reports samples/s of both, their ratio, and peak RSS.
Writes benchmarks/results/streaming.md (+ .json); run it alone.

``cli``: what a user meets, the command line with its defaults. With a path: a float32 ``.npy`` of 28 x 28
images (MNIST's, repeated; ``--sparse``: zeros in a sparse file, written in no time) of ``--gb`` GB is made,
then ``aekit train --model conv --latent-dim 16 --epochs 1 --max-time 60`` and ``aekit detect --train F --data F
--epochs 1 --max-time 60`` run on it under ``/usr/bin/time -v``: peak RSS and wall time (``--delete`` removes
the file after). With a dataset name (``mnist``): ``aekit train`` on it, peak RSS against its float32 size,
and against the RSS of the imports alone. Writes benchmarks/results/streaming-cli.md (+ .json).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"


def make_images(path: Path, gb: float, size: int = 28) -> None:
    """uint8 grey images (N, 1, size, size): MNIST-like strokes (random lines), written 1 GB at a time."""
    n = int(gb * 1e9) // (size * size)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, 1, size, size))
    rng = np.random.default_rng(0)
    chunk = int(1e9) // (size * size)
    base = (rng.random((4096, 1, size, size)) < 0.15).astype(np.uint8) * 255
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        idx = rng.integers(0, len(base), b - a)
        out[a:b] = np.roll(base[idx], rng.integers(-3, 4), axis=3)
        print(f"{b / n:.0%}", end=" ", flush=True)
    out.flush()
    print(f"\n{path}: {n:,} images, {os.path.getsize(path) / 1e9:.1f} GB")


def make_csv(path: Path, gb: float, columns: int = 20) -> None:
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(columns // 2, columns - columns // 2))
    written = 0
    with open(path, "w") as f:
        f.write(",".join(f"x{j}" for j in range(columns)) + "\n")
        while written < gb * 1e9:
            a = rng.normal(size=(200_000, columns // 2))
            rows = np.concatenate([a, a @ mix + 0.1 * rng.normal(size=(len(a), columns - columns // 2))], axis=1)
            text = "\n".join(",".join(f"{v:.5g}" for v in r) for r in rows) + "\n"
            f.write(text)
            written += len(text)
            print(f"{written / 1e9:.1f} GB", end=" ", flush=True)
    print(f"\n{path}: {os.path.getsize(path) / 1e9:.2f} GB")


class _Steps(torch.utils.data.IterableDataset):
    """The first ``steps`` batches of every epoch of a stream (its blocks still drawn over the whole file)."""

    def __init__(self, stream, steps: int, batch: int):
        super().__init__()
        self.stream, self.steps, self.batch, self.sample_shape = stream, steps, batch, stream.sample_shape

    def __len__(self):
        return self.steps * self.batch

    def configure(self, **kw):
        self.stream.configure(**kw)

    def set_epoch(self, epoch):
        self.stream.set_epoch(epoch)

    def __iter__(self):
        for i, b in enumerate(self.stream):
            if i >= self.steps:
                return
            yield b


def estimator_child(source: str, seconds: float) -> dict:
    """Runs in a child process: the whole ``AnomalyDetector().fit`` on the stream (scaler pass, training cut at
    ``seconds`` by ``max_time``, statistics and threshold on 20,000 drawn rows), then scores written to a file."""
    from aekit import AnomalyDetector
    from aekit.data.streaming import ArrayStream

    stream = ArrayStream(source)
    t = time.perf_counter()
    det = AnomalyDetector(max_time=seconds).fit(stream)
    fit_s = time.perf_counter() - t
    sub = Path(source).parent / "first-100k.npy"               # the scoring rate, on the first 100,000 rows
    np.save(sub, next(stream.chunks(rows=100_000)))
    t = time.perf_counter()
    out = det.score_to(ArrayStream(sub), Path(source).parent / "scores-100k.npy")
    score_s = time.perf_counter() - t
    os.remove(out)
    os.remove(sub)
    return {"kind": "table-estimator", "rows": len(stream), "fit_seconds": fit_s, "training_seconds":
            det.history_[-1]["time"], "score_seconds": score_s, "score_rows_per_s": 100_000 / score_s}


def train_child(kind: str, source: str, steps: int, batch: int, in_memory: int, workers: int) -> dict:
    """Runs in a child process: train ``steps`` steps, return samples/s (after one warm-up step's setup)."""
    import torch

    from aekit import create_model
    from aekit.data.streaming import ArrayStream
    from aekit.training import TrainConfig, Trainer

    torch.manual_seed(0)
    if kind.startswith("images"):
        model = create_model("conv", input_shape=(1, 28, 28), latent_dim=32)
        scale = 255.0
    else:
        d = ArrayStream(source).sample_shape[0]
        # AnomalyDetector's default for a table of d features (aekit/estimators/anomaly.py)
        model = create_model("mlp-ensemble", input_shape=(d,), latent_dim=max(2, min(16, round(d ** 0.5))),
                             hidden=[max(16, min(64, d))], n_members=8)
        scale = 1.0
    config = TrainConfig(epochs=1, batch_size=batch, progress=False, early_stopping=None, num_workers=workers,
                         device="cpu")
    if kind.endswith("memory"):
        stream = ArrayStream(source)
        x = stream.sample(in_memory, seed=0) / scale            # data that fit: an in-memory float32 array
        reps = -(-steps * batch // len(x))
        data = np.concatenate([x] * reps)[:steps * batch] if reps > 1 else x[:steps * batch]
    else:
        stream = ArrayStream(source, block_size=1024, buffer_size=16384,
                             transform=(lambda r: r / np.float32(scale)) if scale != 1.0 else None)
        data = _Steps(stream, steps, batch)
    objective = "member-mse" if kind.startswith("table") else None
    t = time.perf_counter()
    result = Trainer(model, config, objective=objective).fit(data)
    seconds = time.perf_counter() - t
    return {"kind": kind, "steps": result.steps, "batch": batch, "seconds": seconds,
            "samples_per_s": result.steps * batch / seconds, "threads": torch.get_num_threads()}


def run_child(args: list[str], mode: str = "child") -> dict:
    cmd = ["/usr/bin/time", "-v", sys.executable, __file__, mode, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    row["peak_rss_gb"] = rss_kb / 1e6
    print(json.dumps(row), flush=True)
    return row


def report(res: dict) -> str:
    load = os.getloadavg()
    lines = ["# Training on data larger than memory (`python benchmarks/streaming.py`)", "",
             "| data | path | steps x batch | samples/s | peak RSS GB | streamed / in-memory |",
             "|---|---|---:|---:|---:|---:|"]
    for part in res.values():
        s, m = part["stream"], part["memory"]
        lines.append(f"| {part['data']} | streamed (ArrayStream) | {s['steps']} x {s['batch']} | "
                     f"{s['samples_per_s']:.0f} | {s['peak_rss_gb']:.2f} | {s['samples_per_s'] / m['samples_per_s']:.0%} |")
        lines.append(f"| {part['data']} | in memory ({part['in_memory']:,} rows) | {m['steps']} x {m['batch']} | "
                     f"{m['samples_per_s']:.0f} | {m['peak_rss_gb']:.2f} | |")
        if "convert_seconds" in part:
            lines.append(f"| {part['data']} | CSV -> shards, one pass | | {part['convert_rows_per_s']:.0f} rows/s | | |")
        if "estimator" in part:
            e = part["estimator"]
            lines.append(f"| {part['data']} | `AnomalyDetector(max_time=60).fit(stream)`: {e['fit_seconds']:.0f} s in all "
                         f"({e['training_seconds']:.0f} s training), then `score_to` | | "
                         f"{e['score_rows_per_s']:.0f} rows/s scored | {e['peak_rss_gb']:.2f} | |")
    lines += ["", f"Load average when written: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}; {os.cpu_count()} CPU "
              f"cores; RAM {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB."]
    return "\n".join(lines) + "\n"


def make_float_images(path: Path, gb: float, sparse: bool) -> int:
    """A float32 (N, 28, 28) ``.npy`` of ``gb`` GB: MNIST's images in [0, 1], repeated, or zeros (``sparse``: the
    file is sized, not written). Returns N."""
    n = int(gb * 2**30) // (28 * 28 * 4)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, 28, 28))
    if not sparse:
        from aekit.data import load_dataset

        ds = load_dataset("mnist")
        src = (np.concatenate([ds.train.X, ds.test.X])[:, 0] / 255.0).astype(np.float32)
        for a in range(0, n, len(src)):
            out[a:a + len(src)] = src[:n - a]
    out.flush()
    del out
    return n


def timed(cmd: list[str]) -> dict:
    """Run ``cmd`` under ``/usr/bin/time -v``: its peak RSS (GB) and wall time (s)."""
    t = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(" ".join(cmd) + "\n" + proc.stderr[-3000:])
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    row = {"command": " ".join(cmd[2:]), "peak_rss_gb": rss_kb / 2**20, "wall_s": wall, "load": os.getloadavg()[0]}
    print(json.dumps(row), flush=True)
    return row


def cli(source: str, gb: float, sparse: bool, delete: bool) -> dict:
    import shutil
    import tempfile

    aekit = [sys.executable, "-m", "aekit.cli"]
    work = Path(tempfile.mkdtemp(prefix="aekit-cli-bench-"))
    try:
        if not Path(source).suffix:   # a dataset name: data that fit
            from aekit.data import load_dataset

            ds = load_dataset(source)
            size = (ds.train.X.nbytes + (ds.test.X.nbytes if ds.test is not None else 0)) / 2**30
            del ds
            imports = "import torch, aekit.run, aekit.training, aekit.report, sklearn.decomposition"
            base = timed([sys.executable, "-c", imports])
            run = timed([*aekit, "train", "--data", source, "--model", "conv", "--epochs", "1", "--max-time", "20",
                         "--quiet", "--out", str(work / "train")])
            return {"data": f"{source}: {size:.3f} GiB as float32", "float32_gb": size, "imports": base, "train": run,
                    "rss_over_float32": run["peak_rss_gb"] / size,
                    "rss_above_imports_over_float32": (run["peak_rss_gb"] - base["peak_rss_gb"]) / size}
        path = Path(source)
        t = time.perf_counter()
        n = make_float_images(path, gb, sparse)
        made = time.perf_counter() - t
        try:
            fit = ["--epochs", "1", "--max-time", "60", "--quiet"]
            train = timed([*aekit, "train", "--data", str(path), "--model", "conv", "--latent-dim", "16", *fit,
                           "--out", str(work / "train")])
            detect = timed([*aekit, "detect", "--fit", str(path), "--data", str(path), *fit, "--n-heatmaps", "4",
                            "--out", str(work / "detect")])
        finally:
            if delete:
                path.unlink()
        return {"data": f"{path.stat().st_size / 2**30 if path.exists() else gb:.1f} GiB float32 .npy, {n:,} "
                        f"28x28 images{' (sparse: zeros)' if sparse else ''}", "make_s": made, "train": train,
                "detect": detect}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def cli_report(res: dict) -> str:
    lines = ["# The command line on big data (`python benchmarks/streaming.py cli ...`)", "",
             "| data | command | peak RSS GiB | wall s | load average |", "|---|---|---:|---:|---:|"]
    for part in res.values():
        for key in ("imports", "train", "detect"):
            if key in part:
                r = part[key]
                lines.append(f"| {part['data']} | `{r['command'][:110]}` | {r['peak_rss_gb']:.2f} | {r['wall_s']:.0f} | "
                             f"{r['load']:.1f} |")
        if "rss_over_float32" in part:
            lines.append(f"| {part['data']} | peak RSS / float32 size: {part['rss_over_float32']:.2f}x; above the imports: "
                         f"{part['rss_above_imports_over_float32']:.2f}x | | | |")
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    lines += ["", (f"{os.cpu_count()} CPU cores; RAM {ram:.0f} GiB. The streaming threshold was the default "
                   "($AEKIT_STREAM_BYTES unset).")]
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "cli":
        ap = argparse.ArgumentParser()
        ap.add_argument("what")
        ap.add_argument("source")
        ap.add_argument("--gb", type=float, default=4.0)
        ap.add_argument("--sparse", action="store_true")
        ap.add_argument("--delete", action="store_true")
        args = ap.parse_args()
        path = RESULTS / "streaming-cli.json"
        res = json.loads(path.read_text()) if path.exists() else {}
        key = args.source if not Path(args.source).suffix else f"{args.gb:g}GB{'-sparse' if args.sparse else ''}"
        res[key] = cli(args.source, args.gb, args.sparse, args.delete)
        RESULTS.mkdir(exist_ok=True)
        path.write_text(json.dumps(res, indent=1))
        (RESULTS / "streaming-cli.md").write_text(cli_report(res))
        print(cli_report(res))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "estimator-child":
        print(json.dumps(estimator_child(sys.argv[2], float(sys.argv[3]))))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        kind, source, steps, batch, in_memory, workers = sys.argv[2:8]
        print(json.dumps(train_child(kind, source, int(steps), int(batch), int(in_memory), int(workers))))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["make-images", "make-csv", "images", "table"])
    ap.add_argument("path", type=Path)
    ap.add_argument("--gb", type=float, default=30.0)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--in-memory", type=int, default=60_000, help="rows of the in-memory comparison")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers for the stream")
    ap.add_argument("--shards", type=Path, help="table: where the CSV's shards go")
    args = ap.parse_args()
    if args.what == "make-images":
        return make_images(args.path, args.gb)
    if args.what == "make-csv":
        return make_csv(args.path, args.gb)
    path = RESULTS / "streaming.json"
    res = json.loads(path.read_text()) if path.exists() else {}
    common = [str(args.steps), str(args.batch), str(args.in_memory), str(args.workers)]
    if args.what == "images":
        size = os.path.getsize(args.path) / 1e9
        res["images"] = {"data": f"{size:.2f} GB uint8 image array, conv autoencoder", "in_memory": args.in_memory,
                         "stream": run_child(["images-stream", str(args.path), *common]),
                         "memory": run_child(["images-memory", str(args.path), *common])}
    else:
        from aekit.data.streaming import csv_to_shards

        size = os.path.getsize(args.path) / 1e9
        t = time.perf_counter()
        stream = csv_to_shards(args.path, args.shards, rows_per_shard=1_000_000, chunk_rows=200_000)
        convert = time.perf_counter() - t
        print(f"converted {len(stream):,} rows in {convert:.0f} s", flush=True)
        res["table"] = {"data": f"{size:.2f} GB CSV, {len(stream):,} rows, AnomalyDetector's table model",
                        "in_memory": args.in_memory, "convert_seconds": convert,
                        "convert_rows_per_s": len(stream) / convert,
                        "stream": run_child(["table-stream", str(args.shards), *common]),
                        "memory": run_child(["table-memory", str(args.shards), *common]),
                        "estimator": run_child([str(args.shards), "60"], mode="estimator-child")}
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(res, indent=1))
    (RESULTS / "streaming.md").write_text(report(res))
    print(report(res))


if __name__ == "__main__":
    main()
