"""Anomaly detection: aekit's AnomalyDetector beside its peers, all run in this process.

    AEKIT_DATA_DIR=../shared/data python benchmarks/anomaly.py --mnist        # one-class MNIST
    AEKIT_DATA_DIR=../shared/data python benchmarks/anomaly.py --adbench      # ADBench tables

--mnist: aekit with the library's defaults (``--aekit`` JSON overrides them). For each digit d, train on the MNIST training images of d only and score the 10,000 test images
  (anomaly = any other digit); ROC-AUC x100. Peers: PCA-32 reconstruction error, PyOD's AutoEncoder
  (its defaults), IsolationForest. Deep SVDD's published mean, 94.8 (Ruff et al., "Deep one-class
  classification", ICML 2018, Table 1), is quoted, not run.
--adbench: ADBench's unsupervised protocol (Han et al., "ADBench: anomaly detection benchmark", NeurIPS
  2022) on the 28 tables of $AEKIT_DATA_DIR/adbench: stratified 70/30 split, MinMaxScaler fitted on the
  training part, detectors fitted on the whole (contaminated) training part without labels, ROC-AUC and
  average precision on the test part, seeds 0-2. Peers: IsolationForest, ECOD, PCA, KNN and LOF (PyOD,
  their defaults), PyOD's AutoEncoder. Fit + score seconds are recorded per method and table. Tables above --max-rows (10,000) rows are subsampled (stratified, seeded) before the
  split, the same way for every method; ADBench's own data generator caps every table at 10,000 rows the
  same way (uniform, seeded: Minqi824/ADBench, adbench/datasets/data_generator.py, `generator`).
--max-rows 0 fits every method on the full tables (with --methods to leave out the peers whose cost grows
  faster than the rows: KNN, LOF, PyOD's AutoEncoder). The report gives, per method, mean ROC-AUC and AP, tables
  won / lost against IsolationForest, the worst table gap, total seconds, the time ratio to IsolationForest and the
  slowest table.
Every number comes from fixed epoch counts (no wall-clock budgets); times are for information only.
Writes benchmarks/results/anomaly-mnist.md/.json and anomaly-adbench.md/.json.
"""
from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

RESULTS = Path(__file__).resolve().parent / "results"



def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


# ---------------------------------------------------------------------------------------------- MNIST
def run_mnist(digits: list[int], aekit_params: dict, tag: str) -> None:
    from sklearn.decomposition import PCA
    from sklearn.ensemble import IsolationForest

    from aekit import AnomalyDetector
    from aekit.data import load_dataset

    ds = load_dataset("mnist")
    Xtr, ytr = ds.train.X / 255.0, ds.train.y
    Xte, yte = ds.test.X / 255.0, ds.test.y
    flat_tr, flat_te = Xtr.reshape(len(Xtr), -1), Xte.reshape(len(Xte), -1)
    rows = []
    for d in digits:
        truth = (yte != d).astype(int)
        normal = ytr == d
        row = {"digit": d, "n_train": int(normal.sum())}

        def aekit_scores():
            det = AnomalyDetector(random_state=0, **aekit_params).fit(Xtr[normal])
            return det.anomaly_score(Xte)

        def pca_scores():
            p = PCA(32, random_state=0).fit(flat_tr[normal])
            return ((flat_te - p.inverse_transform(p.transform(flat_te))) ** 2).sum(1)

        def forest_scores():
            return -IsolationForest(random_state=0).fit(flat_tr[normal]).score_samples(flat_te)

        def pyod_ae_scores():
            from pyod.models.auto_encoder import AutoEncoder

            return AutoEncoder(random_state=0, verbose=0).fit(flat_tr[normal]).decision_function(flat_te)

        for name, fn in (("aekit", aekit_scores), ("PCA-32", pca_scores), ("IsolationForest", forest_scores),
                         ("PyOD AutoEncoder", pyod_ae_scores)):
            scores, secs = _timed(fn)
            row[name] = 100 * roc_auc_score(truth, scores)
            row[f"{name} s"] = secs
        rows.append(row)
        print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    methods = ["aekit", "PCA-32", "IsolationForest", "PyOD AutoEncoder"]
    mean = {m: float(np.mean([r[m] for r in rows])) for m in methods}
    lines = [f"# One-class MNIST, ROC-AUC x100 (train on one digit, score the 10,000 test images)", "",
             f"aekit: `AnomalyDetector(**{json.dumps(aekit_params)})` (the library's defaults where not listed)", "",
             "| digit | " + " | ".join(methods) + " | Deep SVDD (published) |",
             "|---" * (len(methods) + 2) + "|"]
    for r in rows:
        lines.append(f"| {r['digit']} | " + " | ".join(f"{r[m]:.1f}" for m in methods) + " | |")
    lines.append("| mean | " + " | ".join(f"**{mean[m]:.1f}**" for m in methods) + " | 94.8 |")
    load = os.getloadavg()
    lines += ["", f"Seconds per digit (fit + score; load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}): " +
              ", ".join(f"{m} {np.mean([r[m + ' s'] for r in rows]):.1f}" for m in methods),
              "", "Deep SVDD: Ruff et al., ICML 2018, Table 1 (one-class Deep SVDD mean over the ten digits); "
              "quoted, not run."]
    _write(tag, "\n".join(lines) + "\n", {"config": aekit_params, "rows": rows, "mean": mean})


# ---------------------------------------------------------------------------------------------- ADBench
def _adbench_files(data_dir: Path, only: list[str] | None) -> list[Path]:
    files = sorted((data_dir / "adbench").glob("*.npz"), key=lambda p: int(p.name.split("_")[0]))
    if only:
        files = [f for f in files if any(o in f.stem for o in only)]
    return files


def run_adbench(only, seeds: list[int], max_rows: int, aekit_params: dict, tag: str, skip_pyod_ae: bool,
                keep: list[str] | None = None) -> None:
    from sklearn.ensemble import IsolationForest
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import MinMaxScaler

    from aekit import AnomalyDetector

    data_dir = Path(os.environ.get("AEKIT_DATA_DIR", "../shared/data"))
    rows = []

    def pyod(cls_name, **kw):
        def fit_score(xtr, xte, seed):
            import pyod.models as pm
            mod = __import__(f"pyod.models.{cls_name[0]}", fromlist=[cls_name[1]])
            det = getattr(mod, cls_name[1])(**kw, **({"random_state": seed} if cls_name[1] in ("PCA", "AutoEncoder")
                                                     else {}))
            det.fit(xtr)
            return det.decision_function(xte)
        return fit_score

    methods = {
        "aekit": lambda xtr, xte, seed: AnomalyDetector(random_state=seed, **aekit_params).fit(xtr).anomaly_score(xte),
        "IsolationForest": lambda xtr, xte, seed: -IsolationForest(random_state=seed).fit(xtr).score_samples(xte),
        "ECOD": pyod(("ecod", "ECOD")),
        "PCA": pyod(("pca", "PCA")),
        "KNN": pyod(("knn", "KNN")),
        "LOF": pyod(("lof", "LOF")),
    }
    if not skip_pyod_ae:
        methods["PyOD AutoEncoder"] = pyod(("auto_encoder", "AutoEncoder"), verbose=0)
    if keep:
        methods = {name: fn for name, fn in methods.items() if name in keep}
    for f in _adbench_files(data_dir, only):
        data = np.load(f)
        X, y = data["X"].astype(np.float64), data["y"].astype(int)
        n_full = len(X)
        for seed in seeds:
            Xs, ys = X, y
            if 0 < max_rows < len(X):  # stratified, seeded subsample; the same rows for every method
                Xs, _, ys, _ = train_test_split(X, y, train_size=max_rows, stratify=y, random_state=seed)
            xtr, xte, ytr, yte = train_test_split(Xs, ys, test_size=0.3, stratify=ys, random_state=seed)
            scaler = MinMaxScaler().fit(xtr)
            xtr, xte = scaler.transform(xtr), np.clip(scaler.transform(xte), -1.0, 2.0)
            row = {"dataset": f.stem, "n": n_full, "n_used": len(Xs), "d": X.shape[1], "seed": seed}
            for name, fn in methods.items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    scores, secs = _timed(lambda: fn(xtr, xte, seed))
                scores = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=0.0, posinf=1e300, neginf=-1e300)
                row[name] = 100 * roc_auc_score(yte, scores)
                row[f"{name} AP"] = 100 * average_precision_score(yte, scores)
                row[f"{name} s"] = secs
            rows.append(row)
            print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()
                              if not k.endswith(" s")}), flush=True)
    adbench_report(rows, list(methods), seeds, max_rows, aekit_params, tag)


def adbench_report(rows: list[dict], names: list[str], seeds, max_rows: int, aekit_params: dict, tag: str) -> None:
    per = {}
    for r in sorted(rows, key=lambda r: (int(r["dataset"].split("_")[0]), r["seed"])):
        per.setdefault(r["dataset"], []).append(r)
    table = {ds: {m: float(np.mean([r[m] for r in rs])) for m in names + [n + " AP" for n in names]}
             for ds, rs in per.items()}
    mean = {m: float(np.mean([t[m] for t in table.values()])) for m in names + [n + " AP" for n in names]}
    lines = [f"# ADBench (unsupervised protocol), ROC-AUC x100, mean of seeds {seeds}", "",
             f"aekit: `AnomalyDetector(**{json.dumps(aekit_params)})` (the library's defaults where not listed), "
             "one configuration for every table. " + (
                 f"Tables above {max_rows:,} rows are subsampled to {max_rows:,} rows (stratified, per seed, the same "
                 "rows for every method) before the 70/30 split, as ADBench's data generator does (it caps tables at "
                 "10,000 rows: Minqi824/ADBench, adbench/datasets/data_generator.py)." if max_rows > 0 else
                 "Full tables (no subsample): every method is fitted on the whole 70% training split and scores "
                 "the whole 30% test split."), "",
             "| dataset | n | d | " + " | ".join(names) + " |", "|---" * (len(names) + 3) + "|"]
    for ds, t in table.items():
        r0 = per[ds][0]
        lines.append(f"| {ds} | {r0['n']} | {r0['d']} | " + " | ".join(f"{t[m]:.1f}" for m in names) + " |")
    lines.append("| **mean ROC-AUC** | | | " + " | ".join(f"**{mean[m]:.1f}**" for m in names) + " |")
    lines.append("| mean AP | | | " + " | ".join(f"{mean[m + ' AP']:.1f}" for m in names) + " |")
    secs = {m: float(np.sum([r[m + ' s'] for r in rows])) for m in names}
    ref = "IsolationForest" if "IsolationForest" in secs else names[0]
    gaps = {m: {ds: t[m] - t[ref] for ds, t in table.items()} for m in names}
    won = {m: sum(g > 0 for g in gaps[m].values()) for m in names}
    lost = {m: sum(g < 0 for g in gaps[m].values()) for m in names}
    worst = {m: min(gaps[m], key=gaps[m].get) for m in names}
    slowest = {m: max(per, key=lambda ds: max(r[m + " s"] for r in per[ds])) for m in names}
    lines.append(f"| tables won / lost vs {ref} | | | " + " | ".join(f"{won[m]} / {lost[m]}" for m in names) + " |")
    lines.append(f"| worst gap vs {ref} (table) | | | " + " | ".join(
        f"{gaps[m][worst[m]]:+.1f} ({worst[m]})" for m in names) + " |")
    lines.append("| total seconds | | | " + " | ".join(f"{secs[m]:.1f}" for m in names) + " |")
    lines.append(f"| time / {ref} | | | " + " | ".join(f"{secs[m] / max(secs[ref], 1e-9):.1f}x" for m in names)
                 + " |")
    lines.append("| slowest fit + score, s (table) | | | " + " | ".join(
        f"{max(r[m + ' s'] for r in per[slowest[m]]):.1f} ({slowest[m]})" for m in names) + " |")
    load = os.getloadavg()
    lines += ["", "Published: IsolationForest averages 76.2 ROC-AUC over ADBench's 47 classical tables (Han et al., "
              "NeurIPS 2022, unsupervised setting); the 28 tables here are those in the shared data.", "",
              "## Fit + score seconds per table (sum over seeds)", "",
              "| dataset | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for ds, rs in per.items():
        lines.append(f"| {ds} | " + " | ".join(f"{sum(r[m + ' s'] for r in rs):.2f}" for m in names) + " |")
    lines += ["", f"Load average when the report was written: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} "
              "(1 / 5 / 15 min)."]
    _write(tag, "\n".join(lines) + "\n", {"config": aekit_params, "seeds": seeds, "max_rows": max_rows,
                                          "rows": rows, "per_dataset": table, "mean": mean, "seconds": secs,
                                          "won": won, "lost": lost, "worst_gap": {m: [worst[m], gaps[m][worst[m]]]
                                                                                  for m in names}})


def _write(tag: str, md: str, payload: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{tag}.md").write_text(md)
    (RESULTS / f"{tag}.json").write_text(json.dumps(payload, indent=1, default=float))
    print(md)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mnist", action="store_true", help="one-class MNIST")
    ap.add_argument("--adbench", action="store_true", help="ADBench tables")
    ap.add_argument("--digits", default="0,1,2,3,4,5,6,7,8,9")
    ap.add_argument("--datasets", help="comma-separated substrings of ADBench file names (default: all)")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--max-rows", type=int, default=10_000, help="subsample larger tables to this many rows "
                    "(0: full tables)")
    ap.add_argument("--methods", help="comma-separated methods to run (default: all; on full tables KNN, LOF and "
                    "PyOD's AutoEncoder take hours)")
    ap.add_argument("--aekit", default=None, help="JSON overriding aekit's AnomalyDetector arguments")
    ap.add_argument("--skip-pyod-ae", action="store_true", help="leave out PyOD's AutoEncoder (slow)")
    ap.add_argument("--merge", help="comma-separated tags of ADBench runs (e.g. parts run side by side) to "
                    "merge into one table under --tag")
    ap.add_argument("--tag", default=None, help="results file name (default anomaly-mnist / anomaly-adbench)")
    args = ap.parse_args()
    if args.merge:
        parts = [json.loads((RESULTS / f"{t}.json").read_text()) for t in args.merge.split(",")]
        rows = [r for p in parts for r in p["rows"]]
        names = [k for k in rows[0] if k not in ("dataset", "n", "n_used", "d", "seed") and not k.endswith((" s", " AP"))]
        adbench_report(rows, names, parts[0]["seeds"], parts[0]["max_rows"], parts[0]["config"],
                       args.tag or "anomaly-adbench")
        return
    if not (args.mnist or args.adbench):
        ap.error("choose --mnist and/or --adbench")
    extra = json.loads(args.aekit) if args.aekit else {}
    if args.mnist:
        run_mnist([int(d) for d in args.digits.split(",")], extra, args.tag or "anomaly-mnist")
    if args.adbench:
        run_adbench(args.datasets.split(",") if args.datasets else None, [int(s) for s in args.seeds.split(",")],
                    args.max_rows, extra, args.tag or "anomaly-adbench", args.skip_pyod_ae,
                    args.methods.split(",") if args.methods else None)


if __name__ == "__main__":
    main()
