"""Time-series anomaly detection on the 35 NAB files of the shared data, NAB v1.1's protocol.

    AEKIT_DATA_DIR=../shared/data python benchmarks/timeseries.py                 # 3 seeds, ~5 min on 2 cores
    AEKIT_DATA_DIR=../shared/data python benchmarks/timeseries.py --only aekit --seeds 0   # one seed, quick
    AEKIT_DATA_DIR=../shared/data python benchmarks/timeseries.py --param window=64 --tag w64
    AEKIT_DATA_DIR=../shared/data python benchmarks/timeseries.py --only command --tag command   # the CLI

Every detector runs causally over every file in this process: it may learn from the file's probationary
rows (NAB's first 15 %, at most 750 rows), then scores each later row from the rows up to it. One threshold
per detector and profile is chosen over the whole corpus (:func:`aekit.nab.optimize_threshold`), and the
corpus score is normalised with the null and perfect detectors (:mod:`aekit.nab`).

Detectors run here:
* aekit: :class:`aekit.TimeSeriesAnomalyDetector` with its defaults (``--param`` overrides for a tuned row), once
  per seed (``--seeds``, default 0,1,2: ``random_state``); the row is the median of the seeds' normalised scores,
  per profile, and each seed's figures are listed below the table (``--jobs`` runs the seeds in parallel).
* windowed Gaussian: NAB's baseline re-implemented from its description (the value's two-sided Gaussian tail
  probability under the mean and standard deviation of the previous 6,400 values).
* IsolationForest on windows of 32 rows (scikit-learn defaults), fitted on the probationary windows.
* PCA on windows of 32 rows (the top univariate method of TSB-AD, Liu & Paparrizos, NeurIPS 2024), fitted
  on the probationary windows; the score is the reconstruction error over the largest training error.
* command: what a user gets from the command line: ``aekit detect-series FILE ... --out DIR --quiet`` with its
  defaults, one process for every file (files with the same name, which NAB does not have, would be refused),
  each file's ``anomaly_score`` column read back from ``DIR/<name>/scores.csv``; the time is the command's wall
  time, start-up, models, reports and figures included.
The published detectors' scores on these 35 files come from ``nab/published_results`` (their per-file raw
scores at their corpus-wide thresholds, NAB's own results tables).
Writes benchmarks/results/timeseries.md and .json (``--tag`` adds a suffix).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
WINDOW = 32  # rows per window for the IsolationForest and PCA peers
PUBLISHED = ("ARTime", "numenta", "htmjava", "numentaTM", "contextOSE", "knncad", "relativeEntropy",
             "randomCutForest", "earthgeckoSkyline", "twitterADVec", "skyline", "windowedGaussian", "bayesChangePt",
             "expose", "null")


def load_corpus(nab_dir: Path) -> dict:
    from aekit.data.series import read_series
    from aekit.nab import load_windows

    windows = load_windows(nab_dir / "combined_windows.json")
    return {name: (read_series(nab_dir / name), w) for name, w in sorted(windows.items())
            if (nab_dir / name).is_file()}


# ------------------------------------------------------------------------------------------ detectors
def run_aekit(values: np.ndarray, n_train: int, params: dict) -> np.ndarray:
    from aekit import TimeSeriesAnomalyDetector

    return TimeSeriesAnomalyDetector(**params).fit_stream(values, train_rows=n_train)


def run_detector(name: str, params: dict, corpus: dict) -> tuple[dict, dict, float]:
    """Scores and seconds per file of one detector over the corpus, and the wall time."""
    import torch

    from aekit.nab import probationary_length

    torch.set_num_threads(1)
    detectors = {"aekit": lambda v, p: run_aekit(v, p, params), "windowed-gaussian": run_windowed_gaussian,
                 "iforest": run_iforest, "pca": run_pca}
    t0, scores, times = time.perf_counter(), {}, {}
    for fname, (series, _) in corpus.items():
        t1 = time.perf_counter()
        scores[fname] = np.asarray(detectors[name](series.values, probationary_length(len(series))))
        times[fname] = time.perf_counter() - t1
    return scores, times, time.perf_counter() - t0


def run_command(corpus: dict, nab_dir: Path) -> tuple[dict, float]:
    """``aekit detect-series`` with its defaults on every file in one command: scores per file and wall time."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        files = [str(nab_dir / name) for name in corpus]
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "aekit.cli", "detect-series", *files, "--out", tmp, "--quiet"],
                       check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        scores = {}
        for name in corpus:
            with open(Path(tmp) / Path(name).stem / "scores.csv") as f:
                scores[name] = np.array([float(r["anomaly_score"]) for r in csv.DictReader(f)])
    return scores, wall


def _aekit_seed(job: tuple) -> tuple:
    seed, params, data_dir = job
    corpus = load_corpus(Path(data_dir) / "nab")
    scores, times, wall = run_detector("aekit", {**params, "random_state": seed}, corpus)
    return seed, score_detector(scores, corpus), times, wall


def run_windowed_gaussian(values: np.ndarray, n_train: int, window: int = 6400) -> np.ndarray:
    from scipy.special import ndtr

    x = values[:, 0].astype(np.float64)
    c1, c2 = np.cumsum(np.r_[0.0, x]), np.cumsum(np.r_[0.0, x * x])
    t = np.arange(len(x))
    lo = np.maximum(0, t - window)
    n = np.maximum(t - lo, 1)
    mean = (c1[t] - c1[lo]) / n
    sd = np.sqrt(np.maximum((c2[t] - c2[lo]) / n - mean ** 2, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(x - mean) / sd
    tail = np.where(sd > 0, 1 - ndtr(np.nan_to_num(z, nan=0.0, posinf=40.0)), 0.5)  # one side's tail
    score = 1.0 - tail
    score[t < 2] = 0.0
    return score


def _windows(values: np.ndarray) -> np.ndarray:
    from numpy.lib.stride_tricks import sliding_window_view

    x = values.astype(np.float64)
    return sliding_window_view(x, WINDOW, axis=0).reshape(len(x) - WINDOW + 1, -1)  # window i ends at row i+31


def _standardise(values: np.ndarray, n_train: int) -> np.ndarray:
    mu, sd = values[:n_train].mean(0), values[:n_train].std(0)
    return (values - mu) / np.where(sd > 0, sd, 1.0)


def run_iforest(values: np.ndarray, n_train: int) -> np.ndarray:
    from sklearn.ensemble import IsolationForest

    W = _windows(_standardise(values, n_train))
    model = IsolationForest(random_state=0).fit(W[:n_train - WINDOW + 1])
    return np.r_[np.zeros(WINDOW - 1), -model.score_samples(W)]


def run_pca(values: np.ndarray, n_train: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    W = _windows(_standardise(values, n_train))
    train = W[:n_train - WINDOW + 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # flat training windows: zero explained variance
        pca = PCA(n_components=0.9, svd_solver="full").fit(train) if np.ptp(train) > 0 else None
    if pca is None:
        err = (W - train.mean(0)) ** 2
    else:
        err = (W - pca.inverse_transform(pca.transform(W))) ** 2
    err = err.mean(axis=1)
    ref = err[:len(train)].max()
    return np.r_[np.zeros(WINDOW - 1), err / (ref if ref > 0 else 1.0)]


# ------------------------------------------------------------------------------------------ scoring
def score_detector(scores: dict, corpus: dict) -> dict:
    from aekit import nab

    files = {name: nab.NABFile(series.timestamps, scores[name], w) for name, (series, w) in corpus.items()}
    out = {}
    for prof in PROFILES:
        res = nab.score_corpus(files, profile=prof)
        cats = {}
        for name, fs in res.files.items():
            cats.setdefault(name.split("/")[0], []).append(fs.score)
        out[prof] = {"normalized": res.normalized, "threshold": res.threshold, "raw": res.score,
                     "per_category_raw": {k: float(sum(v)) for k, v in cats.items()},
                     "per_file_raw": {k: fs.score for k, fs in res.files.items()}}
    return out


def published_scores(nab_dir: Path, names: list[str]) -> dict:
    """NAB's published detectors: summed raw scores per profile (and per category) over ``names``."""
    root = nab_dir / "published_results"
    out = {}
    for det in PUBLISHED:
        res = {}
        for prof in PROFILES:
            path = root / det / f"{det}_{prof}_scores.csv"
            if not path.is_file():
                break
            rows = {r["File"]: float(r["Score"]) for r in csv.DictReader(path.open())}
            per = {n: rows[n] for n in names if n in rows}
            cats = {}
            for n, s in per.items():
                cats.setdefault(n.split("/")[0], []).append(s)
            res[prof] = {"raw": sum(per.values()), "per_category_raw": {k: float(sum(v)) for k, v in cats.items()}}
        if res:
            out[det] = res
    return out


def main(argv=None) -> int:
    from aekit import nab
    from aekit.cli.common import parse_param

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=os.environ.get("AEKIT_DATA_DIR"))
    ap.add_argument("--only", action="append", choices=("aekit", "windowed-gaussian", "iforest", "pca", "command"))
    ap.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                    help="TimeSeriesAnomalyDetector argument for the aekit row (a tuned configuration)")
    ap.add_argument("--tag", default="", help="suffix of the results files")
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated random_state values for the aekit row "
                    "(its figure is their median)")
    ap.add_argument("--jobs", type=int, default=1, help="processes running the aekit seeds in parallel")
    args = ap.parse_args(argv)
    if not args.data_dir or not (Path(args.data_dir) / "nab").is_dir():
        ap.error("set AEKIT_DATA_DIR (or --data-dir) to the folder holding nab/")
    nab_dir = Path(args.data_dir) / "nab"
    corpus = load_corpus(nab_dir)
    params = dict(parse_param(p) for p in args.param)
    seeds = [int(v) for v in args.seeds.split(",")]
    chosen = args.only or ["aekit", "windowed-gaussian", "iforest", "pca"]
    n_windows = sum(len(w) for _, w in corpus.values())
    results = {"files": len(corpus), "windows": n_windows, "aekit_params": params, "seeds": seeds, "detectors": {}}
    for name in chosen:
        if name == "aekit":
            results["detectors"][name] = run_seeds(seeds, params, args.data_dir, args.jobs)
        elif name == "command":
            scores, wall = run_command(corpus, nab_dir)
            results["detectors"][name] = {"wall_s": wall, "seconds_per_file": wall / len(corpus),
                                          "slowest_file_s": float("nan"), **score_detector(scores, corpus)}
        else:
            scores, times, wall = run_detector(name, params, corpus)
            results["detectors"][name] = {"wall_s": wall, "seconds_per_file": wall / len(corpus),
                                          "slowest_file_s": max(times.values()), **score_detector(scores, corpus)}
        print(f"{name}: " + ", ".join(f"{p} {results['detectors'][name][p]['normalized']:.1f}" for p in PROFILES)
              + f" ({results['detectors'][name]['wall_s']:.1f} s)", flush=True)
    pub = published_scores(nab_dir, list(corpus))
    for det, res in pub.items():
        for prof in PROFILES:
            res[prof]["normalized"] = nab.normalized_score(res[prof]["raw"], n_windows, profile=prof)
    results["published"] = pub
    results["load_average"] = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    stem = "timeseries" + (f"-{args.tag}" if args.tag else "")
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=1))
    (RESULTS / f"{stem}.md").write_text(render(results))
    print(f"wrote {RESULTS / stem}.md")
    return 0


def run_seeds(seeds: list[int], params: dict, data_dir: str, jobs: int) -> dict:
    """The aekit row: each seed's figures, and per profile the median seed's (normalised score)."""
    jobs_list = [(seed, params, data_dir) for seed in seeds]
    if jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(jobs, len(seeds))) as pool:
            runs = list(pool.map(_aekit_seed, jobs_list))
    else:
        runs = [_aekit_seed(job) for job in jobs_list]
    per_seed = {str(seed): {"wall_s": wall, "seconds_per_file": wall / len(times),
                            "slowest_file_s": max(times.values()), **res} for seed, res, times, wall in runs}
    row = {"per_seed": per_seed, "wall_s": float(np.median([r["wall_s"] for r in per_seed.values()]))}
    row["seconds_per_file"] = float(np.median([r["seconds_per_file"] for r in per_seed.values()]))
    row["slowest_file_s"] = max(r["slowest_file_s"] for r in per_seed.values())
    for prof in PROFILES:
        ranked = sorted(per_seed.values(), key=lambda r: r[prof]["normalized"])
        row[prof] = ranked[len(ranked) // 2][prof]  # the median seed's figures (an odd number of seeds)
    return row


def render(results: dict) -> str:
    cats = ["artificialNoAnomaly", "artificialWithAnomaly", "realAWSCloudwatch", "realKnownCause"]
    lines = [f"# NAB v1.1 on the {results['files']} shared files ({results['windows']} windows)", "",
             "Normalised NAB scores (100 = perfect, 0 = no detections), one corpus-wide threshold per detector and "
             "profile. Per-category columns: summed raw standard-profile scores. Rows marked *published* are "
             "NAB's own results tables restricted to these files; the others ran in this process "
             "(`benchmarks/timeseries.py`).", "",
             "| detector | standard | low FP | low FN | " + " | ".join(cats) + " | s per file |",
             "|---|---|---|---|" + "---|" * len(cats) + "---|"]
    label = {"command": "`aekit detect-series` on every file, its defaults (one command)"}
    rows = [(label.get(n, n), r, f"{r['seconds_per_file']:.2f}") for n, r in results["detectors"].items()]
    rows += [(f"{n} *published*", r, "") for n, r in results["published"].items()]
    rows.sort(key=lambda row: -row[1]["standard"]["normalized"])
    for name, r, wall in rows:
        per = r["standard"]["per_category_raw"]
        lines.append(f"| {name} | " + " | ".join(f"{r[p]['normalized']:.1f}" for p in PROFILES) + " | "
                     + " | ".join(f"{per.get(c, 0.0):.2f}" for c in cats) + f" | {wall} |")
    if "aekit" in results["detectors"]:
        a = results["detectors"]["aekit"]
        lines += ["", f"aekit parameters: {results['aekit_params'] or 'the defaults'}; the row is the median over "
                  f"seeds {results['seeds']} per profile; corpus-wide thresholds (median seed): "
                  + ", ".join(f"{p} {a[p]['threshold']:.6g}" for p in PROFILES)
                  + f"; slowest file {a['slowest_file_s']:.1f} s; {a['wall_s']:.0f} s per run (median).", "",
                  "| aekit seed | standard | low FP | low FN | " + " | ".join(cats) + " | s per file |",
                  "|---|---|---|---|" + "---|" * len(cats) + "---|"]
        for seed, r in a["per_seed"].items():
            per = r["standard"]["per_category_raw"]
            lines.append(f"| {seed} | " + " | ".join(f"{r[p]['normalized']:.1f}" for p in PROFILES) + " | "
                         + " | ".join(f"{per.get(c, 0.0):.2f}" for c in cats) + f" | {r['seconds_per_file']:.2f} |")
    lines += ["", f"Load average at the end (1, 5, 15 min): {', '.join(f'{v:.2f}' for v in results['load_average'])}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
