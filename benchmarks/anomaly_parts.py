"""Screen ways of combining the table detector's scorer parts on ADBench, fitting each table once.

    AEKIT_DATA_DIR=../shared/data python benchmarks/anomaly_parts.py cache --seeds 0    # fit, keep the parts
    AEKIT_DATA_DIR=../shared/data python benchmarks/anomaly_parts.py screen --seeds 0   # every variant

``cache``: for each table and seed (the split, scaling and subsample of ``anomaly.py --adbench``), fits the
default ``AnomalyDetector`` once with every candidate part and keeps each part's values per scoring unit on the
training and the test rows, and IsolationForest's and ECOD's test scores (``results/parts-cache/``).
``screen``: turns the cached values into the score of each variant (a standardisation of the parts and a way
of combining them) and reports mean ROC-AUC and AP, tables won / lost against IsolationForest and the worst gap
(``results/anomaly-adbench-variants.md``). A variant that wins here is then measured end to end with
``anomaly.py --adbench --aekit ...``.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anomaly import RESULTS, _adbench_files  # noqa: E402

CACHE = RESULTS / "parts-cache"
PARTS = ["error", "neighbours", "tails", "isolation"]


def split(f: Path, seed: int, max_rows: int = 10_000):
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import MinMaxScaler

    data = np.load(f)
    X, y = data["X"].astype(np.float64), data["y"].astype(int)
    if 0 < max_rows < len(X):
        X, _, y, _ = train_test_split(X, y, train_size=max_rows, stratify=y, random_state=seed)
    xtr, xte, _, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
    scaler = MinMaxScaler().fit(xtr)
    return scaler.transform(xtr), np.clip(scaler.transform(xte), -1.0, 2.0), yte


def cache(seeds: list[int], only, params: dict, tag: str) -> None:
    from pyod.models.ecod import ECOD
    from sklearn.ensemble import IsolationForest

    from aekit import AnomalyDetector

    out = CACHE / tag
    out.mkdir(parents=True, exist_ok=True)
    for f in _adbench_files(Path(os.environ.get("AEKIT_DATA_DIR", "../shared/data")), only):
        for seed in seeds:
            path = out / f"{f.stem}_{seed}.npz"
            if path.exists():
                continue
            xtr, xte, yte = split(f, seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                det = AnomalyDetector(random_state=seed, **{"score_parts": PARTS, **params}).fit(xtr)
                units = {"train": det._units(det._scaled(xtr)), "test": det._units(det._scaled(xte))}
                saved = {f"{side}_{name}": np.stack(part.values(u)) for side, u in units.items()
                         for name, part in det.scorer_.parts.items()}
                for side, u in units.items():
                    for name, v in residual_parts(units["train"], u).items():
                        saved[f"{side}_{name}"] = v
                saved.update(extra_parts(det, xtr, xte, seed))
                saved["IsolationForest"] = -IsolationForest(random_state=seed).fit(xtr).score_samples(xte)
                saved["ECOD"] = ECOD().fit(xtr).decision_function(xte)
            np.savez(path, y=yte, **saved)
            print(f.stem, seed, flush=True)


def extra_parts(det, xtr, xte, seed) -> dict[str, np.ndarray]:
    """Candidate parts beside the registered ones: an isolation forest on the inputs joined with the members'
    mean absolute residual per feature, one on the codes, and the inputs' kNN distance (1024 references)."""
    from sklearn.ensemble import IsolationForest
    from sklearn.neighbors import NearestNeighbors

    err = det.scorer_.parts["error"]
    sides = {"train": det._scaled(xtr), "test": det._scaled(xte)}
    units = {k: det._units(v) for k, v in sides.items()}
    res = {k: np.sqrt(err.feature_map(u).reshape(len(sides[k]), -1)) for k, u in units.items()}
    joined = {k: np.hstack([sides[k], res[k]]) for k in sides}
    out = {}
    forest = IsolationForest(random_state=seed).fit(joined["train"])
    forest_r = IsolationForest(random_state=seed).fit(res["train"])
    codes = {k: np.hstack([u.codes for u in units[k]]) for k in sides}
    forest_c = IsolationForest(random_state=seed).fit(codes["train"])
    ref = sides["train"][np.random.default_rng(seed).choice(len(xtr), min(1024, len(xtr)), replace=False)]
    nn = NearestNeighbors().fit(ref)
    for k in sides:
        out[f"{k}_iso_joined"] = -forest.score_samples(joined[k])[None]
        out[f"{k}_iso_resid"] = -forest_r.score_samples(res[k])[None]
        out[f"{k}_iso_codes"] = -forest_c.score_samples(codes[k])[None]
        out[f"{k}_knn_inputs"] = nn.kneighbors(sides[k], n_neighbors=5)[0][:, -1][None]
    return out


def residual_parts(train, units) -> dict[str, np.ndarray]:
    """Candidate parts on each unit's per-feature squared residuals: the ECOD-style sum of -log right-tail
    probabilities (under the training residuals of that feature), and the largest feature's standardised one."""
    tail, top = [], []
    for tu, u in zip(train, units):
        cols = np.flatnonzero(tu.mask) if tu.mask is not None else np.arange(tu.sq.shape[1])
        ref, sq = tu.sq[:, cols], u.sq[:, cols]
        s = np.sort(ref, axis=0)
        p = np.stack([len(s) - np.searchsorted(s[:, j], sq[:, j], side="left") for j in range(len(cols))], 1)
        tail.append(-np.log((p + 1) / (len(s) + 1)).sum(1))
        top.append((sq / (ref.mean(0) + 1e-12)).max(1))
    return {"rtail": np.stack(tail), "rmax": np.stack(top)}


# ------------------------------------------------------------------------------------------ variants
def standardise(train: np.ndarray, test: np.ndarray, how: str) -> np.ndarray:
    """Per unit (rows), the test values on the scale of the training values."""
    if how == "z":
        return (test - train.mean(1, keepdims=True)) / (train.std(1, keepdims=True) + 1e-12)
    if how == "robust":
        med = np.median(train, 1, keepdims=True)
        mad = 1.4826 * np.median(np.abs(train - med), 1, keepdims=True)
        return (test - med) / (mad + 1e-12 + 1e-6 * train.std(1, keepdims=True))
    if how in ("rank", "logtail"):
        out = np.empty_like(test)
        for j in range(len(train)):
            s = np.sort(train[j])
            out[j] = np.searchsorted(s, test[j], side="right") / (len(s) + 1)   # empirical CDF
        return out if how == "rank" else -np.log1p(-np.minimum(out, len(train[0]) / (len(train[0]) + 1)))
    if how == "log-z":
        lo = np.log(np.maximum(train, 1e-12))
        return (np.log(np.maximum(test, 1e-12)) - lo.mean(1, keepdims=True)) / (lo.std(1, keepdims=True) + 1e-12)
    if how == "zclip":
        z = (test - train.mean(1, keepdims=True)) / (train.std(1, keepdims=True) + 1e-12)
        return np.clip(z, -5, 5)
    raise ValueError(how)


def variant_score(d, weights: dict[str, float], how: str, combine: str = "sum") -> np.ndarray:
    per = {name: standardise(d[f"train_{name}"], d[f"test_{name}"], how).mean(0) for name in weights}
    if combine == "sum":
        return sum(w * per[n] for n, w in weights.items())
    if combine == "max":
        return np.max([w * per[n] for n, w in weights.items()], axis=0)
    raise ValueError(combine)


def screen(seeds: list[int], tag: str, variants: dict) -> None:
    files = sorted((CACHE / tag).glob("*.npz"))
    by = {}
    for p in files:
        stem, seed = p.stem.rsplit("_", 1)
        if int(seed) in seeds:
            by.setdefault(stem, []).append(dict(np.load(p)))
    rows = []
    for name, (weights, how, combine) in variants.items():
        auc, ap, ref_auc, ref_ap = {}, {}, {}, {}
        for stem, ds in by.items():
            auc[stem] = np.mean([100 * roc_auc_score(d["y"], variant_score(d, weights, how, combine)) for d in ds])
            ap[stem] = np.mean([100 * average_precision_score(d["y"], variant_score(d, weights, how, combine))
                                for d in ds])
            ref_auc[stem] = np.mean([100 * roc_auc_score(d["y"], d["IsolationForest"]) for d in ds])
            ref_ap[stem] = np.mean([100 * average_precision_score(d["y"], d["IsolationForest"]) for d in ds])
        gaps = {s: auc[s] - ref_auc[s] for s in auc}
        worst = min(gaps, key=gaps.get)
        rows.append((name, np.mean(list(auc.values())), np.mean(list(ap.values())),
                     sum(g > 0 for g in gaps.values()), sum(g < 0 for g in gaps.values()), gaps[worst], worst))
    ref = (np.mean(list(ref_auc.values())), np.mean(list(ref_ap.values())))
    lines = [f"IsolationForest: ROC-AUC {ref[0]:.2f}, AP {ref[1]:.2f} ({len(by)} tables, seeds {seeds})", "",
             "| variant | ROC-AUC | AP | won / lost | worst gap (table) |", "|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: -r[1]):
        lines.append(f"| {r[0]} | {r[1]:.2f} | {r[2]:.2f} | {r[3]} / {r[4]} | {r[5]:+.1f} ({r[6]}) |")
    print("\n".join(lines))


VARIANTS = {}


def _variants() -> dict:
    w0 = {"error": 1.0, "neighbours": 1.0, "tails": 0.5, "isolation": 1.5}
    eq = dict.fromkeys(PARTS, 1.0)
    out = {}
    for how in ("z", "robust", "rank", "logtail", "log-z", "zclip"):
        out[f"{how} sum, 1/1/0.5/1.5"] = (w0, how, "sum")
        out[f"{how} sum, equal"] = (eq, how, "sum")
        out[f"{how} max, equal"] = (eq, how, "max")
    for p in PARTS:
        out[f"{p} alone"] = ({p: 1.0}, "z", "sum")
    return out


def main() -> None:
    import json

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["cache", "screen"])
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--datasets")
    ap.add_argument("--aekit", default="{}")
    ap.add_argument("--tag", default="default")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.what == "cache":
        cache(seeds, args.datasets.split(",") if args.datasets else None, json.loads(args.aekit), args.tag)
    else:
        screen(seeds, args.tag, _variants())


if __name__ == "__main__":
    main()
