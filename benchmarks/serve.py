"""Load test of ``aekit serve`` against a bare FastAPI handler calling the same model (the baseline a user
would write), in one run, with locust (headless, 127.0.0.1 only, bounded in time).

    AEKIT_DATA_DIR=../shared/data python benchmarks/serve.py                 # 20 s per cell
    AEKIT_DATA_DIR=../shared/data python benchmarks/serve.py --duration 5 --users 1,8 --tag serve-quick

Models, fitted once into ``--models`` (reused when present):
- ``table``: ``AnomalyDetector(random_state=0)`` (the library's defaults) on ADBench's 7_Cardiotocography
  (2,114 rows x 21 features);
- ``image``: ``AnomalyDetector(epochs=3, random_state=0)`` on 2,000 MNIST training images of the digit 0
  (28 x 28).
Payloads: one table row, one 28 x 28 image, and 32 table rows, each a KServe V2 JSON request asking for the
``anomaly_score`` output of the ``score`` operation. For every payload and user count (users send their next
request as soon as the answer comes: N users = N requests in flight), each server gets ``--duration``
seconds; the report gives requests/s, rows/s, p50 / p99 latency (ms) and failures, from locust's CSV.
Both servers are one process with single-threaded torch; locust runs in its own process beside them, so run
the benchmark alone. Writes benchmarks/results/<tag>.md and .json.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DATA = Path(os.environ.get("AEKIT_DATA_DIR", HERE.parent.parent / "shared" / "data"))


def fit_models(folder: Path) -> dict[str, Path]:
    """The two detectors, fitted once (a folder that exists is reused)."""
    from aekit import AnomalyDetector
    from aekit.data import load_dataset

    paths = {"table": folder / "table", "image": folder / "image"}
    if not (paths["table"] / "config.json").exists():
        X = np.load(DATA / "adbench" / "7_Cardiotocography.npz")["X"].astype(np.float32)
        AnomalyDetector(random_state=0).fit(X).save(paths["table"])
    if not (paths["image"] / "config.json").exists():
        ds = load_dataset("mnist", data_dir=DATA)
        X = ds.train.X[ds.train.y == 0][:2000]
        AnomalyDetector(epochs=3, random_state=0).fit(X).save(paths["image"])
    return paths


def payloads() -> dict[str, tuple[str, int, dict]]:
    """name -> (model, rows per request, V2 request)."""
    from aekit.data import load_dataset

    table = np.load(DATA / "adbench" / "7_Cardiotocography.npz")["X"].astype(np.float32)
    image = load_dataset("mnist", data_dir=DATA).test.X[:1].astype(np.float32)

    def request(x: np.ndarray) -> dict:
        return {"inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32",
                            "data": x.ravel().tolist()}],
                "parameters": {"operation": "score"}, "outputs": [{"name": "anomaly_score"}]}

    return {"one row": ("table", 1, request(table[:1])), "one 28x28 image": ("image", 1, request(image)),
            "32 rows": ("table", 32, request(table[:32]))}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv: list[str], port: int, env: dict, cwd: Path | None = None) -> subprocess.Popen:
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{argv[:4]} exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{argv[:4]} was not ready after 120 s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def locust(port: int, path: str, body: Path, users: int, duration: int, work: Path) -> dict:
    """One headless locust run; its aggregated stats row."""
    prefix = work / f"locust-{port}-{users}-{body.stem}"
    env = {**os.environ, "AEKIT_BENCH_BODY": str(body), "AEKIT_BENCH_PATH": path}
    subprocess.run([sys.executable, "-m", "locust", "-f", str(HERE / "serve_locustfile.py"), "--headless",
                    "-u", str(users), "-r", str(users), "-t", f"{duration}s", "--host", f"http://127.0.0.1:{port}",
                    "--csv", str(prefix), "--only-summary", "--stop-timeout", "10", "--loglevel", "WARNING"],
                   env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=duration + 60)
    with open(f"{prefix}_stats.csv") as f:
        row = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    return {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
            "rps": float(row["Requests/s"]), "p50_ms": float(row["50%"]), "p99_ms": float(row["99%"]),
            "mean_ms": float(row["Average Response Time"])}   # locust rounds percentiles to whole milliseconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=20, help="seconds per server, payload and user count")
    ap.add_argument("--users", default="1,8,32", help="comma-separated concurrent users")
    ap.add_argument("--models", default=str(Path(tempfile.gettempdir()) / "aekit-serve-bench"),
                    help="folder for the fitted detectors (reused when present)")
    ap.add_argument("--tag", default="serve")
    args = ap.parse_args(argv)
    users = [int(u) for u in args.users.split(",")]
    models = fit_models(Path(args.models))
    work = Path(tempfile.mkdtemp(prefix="aekit-serve-bench-"))
    bodies = {}
    for i, (name, (model, rows, body)) in enumerate(payloads().items()):
        path = work / f"body{i}.json"
        path.write_text(json.dumps(body))
        bodies[name] = (model, rows, path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    aekit_port, base_port = free_port(), free_port()
    servers = {
        "aekit serve": start([sys.executable, "-m", "aekit.cli", "serve", str(models["table"]), str(models["image"]),
                              "--host", "127.0.0.1", "--port", str(aekit_port)], aekit_port, env),
        "bare FastAPI": start([sys.executable, "-m", "uvicorn", "serve_baseline:app", "--host", "127.0.0.1",
                               "--port", str(base_port), "--log-level", "warning"], base_port,
                              {**env, "AEKIT_BASELINE_MODELS": f"table={models['table']},image={models['image']}"},
                              cwd=HERE),
    }
    ports = {"aekit serve": aekit_port, "bare FastAPI": base_port}
    rows = []
    try:
        for payload, (model, n_rows, body) in bodies.items():
            for u in users:
                for server in servers:
                    stats = locust(ports[server], f"/v2/models/{model}/infer", body, u, args.duration, work)
                    rows.append({"payload": payload, "users": u, "server": server, **stats,
                                 "rows_per_s": stats["rps"] * n_rows})
                    print(f"{payload:>16} u={u:<3} {server:<13} {stats['rps']:8.1f} req/s  p50 {stats['p50_ms']:6.1f}"
                          f"  p99 {stats['p99_ms']:6.1f} ms  failures {stats['failures']}", file=sys.stderr)
    finally:
        for proc in servers.values():
            stop(proc)
    load = os.getloadavg()
    lines = [f"# aekit serve vs a bare FastAPI handler ({args.tag})", "",
             f"`python benchmarks/serve.py --duration {args.duration} --users {args.users} --tag {args.tag}`; "
             f"{os.cpu_count()} cores, load average at the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}. "
             "Both servers: one process, torch single-threaded; locust in a third process.", "",
             "| payload | users | server | requests/s | rows/s | p50 (ms) | mean (ms) | p99 (ms) | requests | "
             "failures |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['payload']} | {r['users']} | {r['server']} | {r['rps']:.1f} | {r['rows_per_s']:.1f} | "
              f"{r['p50_ms']:.1f} | {r.get('mean_ms', float('nan')):.2f} | {r['p99_ms']:.1f} | {r['requests']} | "
              f"{r['failures']} |" for r in rows]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.tag}.md").write_text("\n".join(lines) + "\n")
    (RESULTS / f"{args.tag}.json").write_text(json.dumps({"load_average": load, "rows": rows}, indent=2))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
