"""Many fits on one machine: N identical fits started at once, each one's wall time against its fair share.

    AEKIT_DATA_DIR=../shared/data python benchmarks/concurrency.py                # N = 1, 2, 3, 4, all workloads
    python benchmarks/concurrency.py --checkout ../before --tag concurrency-before  # another checkout's aekit
    python benchmarks/concurrency.py --workloads table --n 1,3,4 --grid-rounds 3        # this issue's figures

Workloads (each a separate process; the time is the fit alone, after imports and data loading):
- table:  ``AnomalyDetector(random_state=0).fit(X)`` on ADBench's 7_Cardiotocography (2,114 x 21), the
  library's defaults;
- mnist:  one-class MNIST, ``AnomalyDetector`` with the anomaly benchmark's MLP on the 5,923 training images
  of digit 0, 3 epochs;
- conv:   ``Reducer(model="conv", latent_dim=32)`` on 10,000 MNIST training images, 2 epochs (80 steps).
- grid: ``GridSearchCV(Reducer(epochs=150), {"latent_dim": [2, 4, 8, 16]}, cv=2)`` on the 8 x 8 digits with
  ``n_jobs=1`` and ``n_jobs=2``, interleaved, each in a fresh process (``--grid-rounds``): 8 fits of about 2 s
  each and the refit (``--grid-epochs`` to change their length; at 15 epochs a fit takes 0.4 s and starting
  joblib's worker processes costs more than the second core gives).
Fair share = (median solo time) x N / cores (cores: this process's CPU affinity). Ratio = time / fair share;
1.0 is a perfect share. Writes benchmarks/results/<tag>.md and .json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
WORKLOADS = ("table", "mnist", "conv")


def worker(name: str) -> float:
    import numpy as np

    data = Path(os.environ.get("AEKIT_DATA_DIR", "../shared/data"))
    if name == "table":
        from aekit import AnomalyDetector

        X = np.load(data / "adbench" / "7_Cardiotocography.npz")["X"]
        est, args = AnomalyDetector(random_state=0), (X,)
    else:
        from aekit.data import load_dataset

        ds = load_dataset("mnist", data_dir=str(data))
        if name == "mnist":
            from aekit import AnomalyDetector

            X = ds.train.X[ds.train.y == 0]
            est = AnomalyDetector(model="mlp", model_params={"hidden": [256, 64]}, latent_dim=16, epochs=3,
                                  batch_size=64, score_type="reconstruction", min_steps=0, random_state=0)
        else:
            from aekit import Reducer

            X = ds.train.X[:10_000]
            est = Reducer(model="conv", latent_dim=32, epochs=2, batch_size=256, validation_fraction=0.0,
                          random_state=0)
        args = (X,)
    t0 = time.perf_counter()
    est.fit(*args)
    return time.perf_counter() - t0


def grid_worker(n_jobs: int, epochs: int) -> float:
    """``GridSearchCV(Reducer(...), 4 latent sizes, cv=2, n_jobs=n_jobs)`` on the 1,797 8 x 8 digits: 8 fits
    of a few seconds each (150 epochs); the time includes starting joblib's worker processes, as a user's script pays it."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import GridSearchCV

    from aekit import Reducer

    X, _ = load_digits(return_X_y=True)
    search = GridSearchCV(Reducer(epochs=epochs, batch_size=64, random_state=0), {"latent_dim": [2, 4, 8, 16]}, cv=2,
                          n_jobs=n_jobs)
    t0 = time.perf_counter()
    search.fit(X)
    return time.perf_counter() - t0


def grid_rows(rounds: int, checkout: str | None, env_extra: dict, epochs: int) -> list[dict]:
    """n_jobs=1 and n_jobs=2, interleaved, each in a fresh process; per round the ratio n_jobs=2 / n_jobs=1."""
    env = {**os.environ, **env_extra}
    if checkout:
        env["PYTHONPATH"] = str(Path(checkout).resolve())
    rows = []
    for r in range(rounds):
        times = {}
        for n_jobs in (1, 2):
            argv = [sys.executable, __file__, "--grid-worker", str(n_jobs), "--grid-epochs", str(epochs)]
            out = subprocess.run(argv, env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=1800, check=True)
            times[n_jobs] = float(out.stdout.strip().splitlines()[-1])
        rows.append({"round": r, "n_jobs_1_s": times[1], "n_jobs_2_s": times[2], "ratio": times[2] / times[1],
                     "load": os.getloadavg()[0]})
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in rows[-1].items()}), flush=True)
    return rows


def run_batch(name: str, n: int, checkout: str | None, env_extra: dict) -> list[float]:
    """Start ``n`` workers at once; their fit times in seconds."""
    env = {**os.environ, **env_extra}
    if checkout:
        env["PYTHONPATH"] = str(Path(checkout).resolve())
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", name], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True) for _ in range(n)]
    times = []
    for p in procs:
        out, _ = p.communicate(timeout=1800)
        if p.returncode != 0:
            raise RuntimeError(f"worker {name} failed with exit code {p.returncode}")
        times.append(float(out.strip().splitlines()[-1]))
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", choices=WORKLOADS, help=argparse.SUPPRESS)
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--n", default="1,2,3,4", help="numbers of concurrent fits")
    ap.add_argument("--solo-repeats", type=int, default=3, help="solo runs; the median is the reference")
    ap.add_argument("--checkout", help="run another checkout's aekit (its folder goes first on PYTHONPATH)")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra environment of the fits")
    ap.add_argument("--tag", default="concurrency")
    ap.add_argument("--grid-worker", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--grid-rounds", type=int, default=3, help="rounds of GridSearchCV n_jobs=1 vs 2 (0: none)")
    ap.add_argument("--grid-epochs", type=int, default=150, help="epochs of each GridSearchCV fit")
    args = ap.parse_args()
    if args.worker:
        print(worker(args.worker), flush=True)
        return
    if args.grid_worker:
        print(grid_worker(args.grid_worker, args.grid_epochs), flush=True)
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    env_extra = dict(e.split("=", 1) for e in args.env)
    rows = []
    for name in filter(None, args.workloads.split(",")):
        solo = statistics.median([run_batch(name, 1, args.checkout, env_extra)[0] for _ in range(args.solo_repeats)])
        for n in (int(v) for v in args.n.split(",")):
            times = [solo] if n == 1 else run_batch(name, n, args.checkout, env_extra)
            fair = solo * max(1.0, n / cores)
            row = {"workload": name, "n": n, "solo_s": solo, "fair_s": fair, "times_s": times,
                   "worst_ratio": max(times) / fair}
            rows.append(row)
            print(json.dumps({k: (round(v, 2) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
    lines = [f"# Concurrent fits on {cores} cores ({args.tag})", "",
             f"Checkout: {args.checkout or 'this one'}; extra environment: {env_extra or 'none'}; load average at "
             f"the end: {os.getloadavg()[0]:.2f}. Fair share = median solo time x max(1, N / cores); ratio = the "
             "slowest of the N fits / its fair share.", "",
             "| workload | N | solo (s) | fair share (s) | each fit (s) | worst ratio |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['workload']} | {r['n']} | {r['solo_s']:.1f} | {r['fair_s']:.1f} | "
                     f"{', '.join(f'{t:.1f}' for t in r['times_s'])} | {r['worst_ratio']:.2f} |")
    grid = grid_rows(args.grid_rounds, args.checkout, env_extra, args.grid_epochs) if args.grid_rounds else []
    if grid:
        lines += ["", f"GridSearchCV(Reducer(epochs={args.grid_epochs}), 4 latent sizes, cv=2) on the digits, each in "
                  "a fresh process, n_jobs=1 and "
                  "n_jobs=2 interleaved:", "", "| round | n_jobs=1 (s) | n_jobs=2 (s) | n_jobs=2 / n_jobs=1 | load |",
                  "|---|---|---|---|---|"]
        lines += [f"| {g['round']} | {g['n_jobs_1_s']:.1f} | {g['n_jobs_2_s']:.1f} | {g['ratio']:.2f} | {g['load']:.2f} |"
                  for g in grid]
        lines.append(f"| median | | | {statistics.median(g['ratio'] for g in grid):.2f} | |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.tag}.md").write_text("\n".join(lines) + "\n")
    (RESULTS / f"{args.tag}.json").write_text(json.dumps({"cores": cores, "env": env_extra, "rows": rows,
                                                           "grid": grid}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
