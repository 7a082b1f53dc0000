"""``aekit detect``: score data with an anomaly detector; write scores, labels, heat maps and a report.

    aekit fit anomaly-detector --data digits --epochs 30 --out runs/det
    aekit detect --model runs/det --data digits --normal-class 0 --out runs/det-scores
    aekit detect --fit digits --normal-class 0 --data digits --epochs 30 --out runs/digits-detect

Writes ``scores.csv`` (index, anomaly_score, prediction: 1 normal / -1 anomaly, the true
``is_anomaly`` when labels are known, and for tables ``top_features``: the three features with the largest
shares of the row's reconstruction error, e.g. ``TSH 61%; T3 22%; age 5%``), ``heatmaps/`` (images: error-map
overlays of the most abnormal samples), ``model/`` (with ``--fit``) and ``report.html`` (score histogram with the
threshold, ROC curve when labels are known, per-class reconstruction error over the training epochs).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from aekit.cli.common import (
    add_output_folder,
    is_stream,
    load_all,
    make_estimator,
    output_folder,
    pieces,
    take,
)
from aekit.cli.grammar import Renamed, add_fit_flags, add_model_source, refuse_fit_flags


def add_parser(sub) -> None:
    p = sub.add_parser("detect", help="score data with an anomaly detector; writes scores.csv, heat maps, "
                       "report.html")
    src = p.add_mutually_exclusive_group(required=True)
    add_model_source(p, "anomaly detector", registered="anomaly-detector", group=src)
    src.add_argument("--train", action=Renamed, new="--fit", dest="fit", metavar="DATA")
    p.add_argument("--data", required=True, help="data to score: dataset name (digits, mnist, ...) or a path "
                   "(.npy, .npz, .csv, image folder); all its samples (train and test parts) are scored")
    p.add_argument("--data-dir", help="folder with datasets (default: $AEKIT_DATA_DIR)")
    p.add_argument("--normal-class", metavar="LABELS", help="comma-separated labels that are normal (the rest "
                   "are anomalies); with --fit, only these samples train the detector. Without it, 0/1 labels "
                   "are read as 1 = anomaly")
    p.add_argument("--limit", type=int, help="use only the first N samples of each data set")
    add_fit_flags(p, "anomaly detector", registered="anomaly-detector", when="with --fit")
    p.add_argument("--n-heatmaps", type=int, default=16, help="heat-map overlays of the N most abnormal images")
    add_output_folder(p, "output folder: scores.csv, heatmaps/, model/ (with --fit), report.html")
    p.set_defaults(handler=run)


def _parse_classes(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"--normal-class {text!r}: expected integer labels such as 0 or 1,7") from None


def _anomaly_truth(y, normal: list[int] | None):
    """1 = anomaly, 0 = normal, or None when unknown."""
    if y is None:
        return None
    if normal is not None:
        return (~np.isin(y, normal)).astype(int)
    if set(np.unique(y).tolist()) <= {0, 1}:
        return y.astype(int)
    return None


def run(args: argparse.Namespace) -> int:
    """Check the options, then detect into the output folder (see :func:`output_folder`)."""
    from aekit.estimators import AnomalyDetector

    normal = _parse_classes(args.normal_class)
    if args.n_heatmaps < 0:
        raise ValueError(f"--n-heatmaps={args.n_heatmaps} must be >= 0")
    if args.model is not None:
        refuse_fit_flags(args, why=f"--model {args.model} is applied, not fitted (fit with --fit DATA)")
    det = make_estimator(AnomalyDetector, args) if args.fit is not None else None
    with output_folder(args.out, overwrite=args.overwrite) as out:
        return _detect(args, out, normal, det)


def _detect(args: argparse.Namespace, out: Path, normal: list[int] | None, det) -> int:
    from aekit.artifacts import load
    from aekit.estimators import AnomalyDetector
    from aekit.fileio import atomic_write_bytes
    from aekit.report import anomaly as figs
    from aekit.report.html import write_report

    ds, X, y = load_all(args.data, args.data_dir, args.limit, stream=True)   # a stream when larger than memory
    truth = _anomaly_truth(y, normal)
    if args.fit is not None:
        tds, Xt, yt = load_all(args.fit, args.data_dir, args.limit, stream=True)
        if normal is not None:
            if yt is None:
                raise ValueError(f"--normal-class needs labels, but {args.fit} has none"
                                 + (" (it is streamed: only .npz files and datasets hold labels)" if is_stream(Xt)
                                    else ""))
            Xt = Xt[np.isin(yt, normal)]
            if len(Xt) < 2:
                raise ValueError(f"--normal-class {args.normal_class}: fewer than 2 training samples have these labels")
        monitor = None
        if y is not None:  # per-class error over the epochs, on (at most) 2,000 labelled samples
            pick = np.random.default_rng(0).permutation(len(X))[:2000]
            monitor = (X[pick], y[pick])
        det.fit(Xt, monitor=monitor)
        det.autoencoder_.metadata["fitted_on"] = {"dataset": args.fit, "data_dir": args.data_dir, "limit": args.limit}
        det.save(out / "model")
        source = f"trained on {tds.name} ({len(Xt)} samples)"
    else:
        det = load(args.model)
        if not isinstance(det, AnomalyDetector):
            raise ValueError(f"{args.model} holds a {type(det).__name__}, not an anomaly detector")
        source = str(args.model)

    scores = np.concatenate([det.anomaly_score(part) for part in pieces(X)])
    pred = np.where(scores > det.threshold_, -1, 1)
    is_image = det.layout_.kind == "image"
    atomic_write_bytes(out / "scores.csv", lambda f: _write_scores(f, det, X, scores, pred, truth, ds.feature_names))

    metrics = {"n_samples": len(X), "threshold": det.threshold_, "threshold_rule": det.threshold_rule_,
               "flagged": int((pred == -1).sum()), "flagged_fraction": float((pred == -1).mean())}
    extra = {"Anomaly scores and threshold": figs.score_histogram(scores, det.threshold_, is_anomaly=truth)}
    if truth is not None and 0 < truth.sum() < len(truth):
        from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

        metrics.update(roc_auc=float(roc_auc_score(truth, scores)),
                       average_precision=float(average_precision_score(truth, scores)),
                       f1=float(f1_score(truth, pred == -1)))
        extra["ROC curve"] = figs.roc_curve_figure(truth, scores)
    if det.class_error_history_:
        extra["Reconstruction error per class over training epochs"] = figs.class_error_curves(
            det.class_error_history_)
    if is_image and args.n_heatmaps > 0:
        top = np.argsort(-scores, kind="stable")[:args.n_heatmaps]
        rows = take(X, top)
        maps = det.error_map(rows)                                # (k, H, W)
        images = det.layout_.to_model(np.asarray(rows, dtype=np.float32))     # (k, C, H, W)
        heat = out / "heatmaps"
        heat.mkdir(exist_ok=True)
        vmax = float(np.percentile(maps, 99.5))
        for rank, (i, img, m) in enumerate(zip(top, images, maps)):
            png = figs.heatmap_overlay(img, m, vmax=vmax)
            atomic_write_bytes(heat / f"rank{rank:03d}_index{i}.png", lambda f, b=png: f.write(b))
        extra["Most abnormal samples (red: reconstruction error)"] = figs.heatmap_grid(images, maps, scores[top])
    flagged_rows = []
    flagged = [int(i) for i in np.argsort(-scores, kind="stable")[:20] if pred[i] == -1]
    if not is_image and flagged:  # the most abnormal flagged rows and what drives each
        tops = top_features(det.error_map(take(X, flagged)), ds.feature_names)
        for i, features in zip(flagged, tops):
            flagged_rows.append({"row": i, "anomaly_score": float(scores[i]), "top_features": features,
                                 **({"is_anomaly": int(truth[i])} if truth is not None else {})})
    summary = {"detector": source, "data": ds.name, "score_type": det.score_type_,
               "n_estimators": len(det.members_), "mode": det.mode, "epochs": det.n_iter_}
    write_report(out / "report.html", title="aekit anomaly detection", summary=summary, metrics=metrics,
                 baselines=flagged_rows, history=det.history_, extra_figures=extra,
                 baselines_title="Most abnormal flagged rows: the features behind each score (share of its "
                                 "reconstruction error)")
    print(json.dumps({k: v for k, v in metrics.items() if isinstance(v, (int, float))}, indent=2))
    print(f"wrote {out}/scores.csv and {out}/report.html", file=sys.stderr)
    return 0


def _write_scores(f, det, X, scores, pred, truth, names) -> None:
    """scores.csv, a piece of ``X`` at a time (a stream's rows are read again for the top features of tables,
    named by ``names``, else f0, f1, ...)."""
    tabular = det.layout_.kind != "image"
    f.write(("index,anomaly_score,prediction" + (",is_anomaly" if truth is not None else "")
             + (",top_features" if tabular else "") + "\n").encode())
    at = 0
    for part in pieces(X):
        tops = top_features(det.error_map(part), names) if tabular else None
        lines = [f"{i},{scores[i]:.8g},{pred[i]}" + (f",{truth[i]}" if truth is not None else "")
                 + (f",{_csv_field(tops[i - at])}" if tops is not None else "") for i in range(at, at + len(part))]
        f.write(("\n".join(lines) + "\n").encode())
        at += len(part)


def top_features(contributions: np.ndarray, names=None, k: int = 3) -> list[str]:
    """Per row of ``contributions`` (n, D), its ``k`` largest features as ``"name share%; ..."`` (shares of the
    row's total); features are named ``f0, f1, ...`` without ``names``."""
    names = list(names) if names is not None else [f"f{j}" for j in range(contributions.shape[1])]
    share = contributions / np.maximum(contributions.sum(axis=1, keepdims=True), 1e-300)
    order = np.argsort(-share, axis=1, kind="stable")[:, :k]
    return ["; ".join(f"{names[j]} {100 * share[i, j]:.0f}%" for j in row) for i, row in enumerate(order)]


def _csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text
