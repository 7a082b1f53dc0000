"""``aekit detect-series``: anomalies in a time series, scored causally; NAB's results layout and a report.

    aekit detect-series nab/realKnownCause/nyc_taxi.csv --out runs/taxi
    aekit detect-series sensors.csv --train-fraction 0.3 --param window=64 --epochs 10 --seed 1 --out runs/sensors
    aekit detect-series nyc_taxi.csv --labels nab/combined_windows.json --out runs/taxi   # labelled windows
    aekit detect-series nab/realKnownCause/*.csv --out runs/known     # each file into runs/known/<name>/

Fits a :class:`aekit.TimeSeriesAnomalyDetector` on the first rows (by default NAB's probationary period: 15 %
of the rows, at most 750; ``--train-fraction`` for another share), then scores every later row using only the
rows up to it (the training rows score 0): the protocol and figures of ``benchmarks/timeseries.py``. Writes
``scores.csv`` in NAB's
results layout (``timestamp,value,anomaly_score,label``: label 1 for flagged rows; one value column per
channel for multivariate series), ``ranges.json`` (merged flagged ranges), ``model/`` and ``report.html``
(the series, the score, the threshold, the flagged ranges shaded, the labelled windows when given, and their
NAB scores). It always fits: its model learns the series' own first rows (the fitting flags, ``--epochs``,
``--seed``, ..., apply).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from aekit.cli.common import add_output_folder, make_estimator, output_folder
from aekit.cli.grammar import add_fit_flags


def add_parser(sub) -> None:
    p = sub.add_parser("detect-series", help="anomalies in a time series (CSV or .npy): scores.csv in NAB's "
                       "layout, ranges.json, model/, report.html")
    p.add_argument("data", metavar="DATA", nargs="+", help="a CSV with a timestamp column and numeric value "
                   "columns (NAB's timestamp,value files as they are), or a .npy array (T,) / (T, C); several "
                   "files are each scored by their own detector in one process (no start-up per file), into "
                   "OUT/<file name without suffix>/")
    p.add_argument("--train-fraction", type=float, default=None, help="fraction of the first rows to train on "
                   "(default: NAB's probationary period, 15 %% of the rows and at most 750); later rows are scored "
                   "causally")
    p.add_argument("--timestamp-column", default="auto", help="the timestamp column (default: 'timestamp' or "
                   "the first column of dates)")
    p.add_argument("--value-columns", help="comma-separated value columns (default: all but the timestamp)")
    p.add_argument("--gaps", choices=("keep", "error", "fill", "drop"), default="keep",
                   help="missing rows (differences over 1.5 steps): keep as they are, refuse, fill by "
                   "interpolation, or drop windows across them (default keep)")
    p.add_argument("--duplicates", choices=("keep", "error", "drop"), default="keep",
                   help="repeated timestamps: keep clock changes, refuse, or drop the repeats (default keep)")
    p.add_argument("--labels", metavar="JSON", help="labelled anomaly windows: NAB's combined_windows.json "
                   "(the entry whose name ends with the file name) or a JSON list of [start, end] timestamps")
    add_fit_flags(p, "series anomaly detector", registered="series-anomaly-detector")
    add_output_folder(p, "output folder: scores.csv, ranges.json, model/, report.html")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from aekit.data.series import read_series
    from aekit.estimators import TimeSeriesAnomalyDetector

    if args.train_fraction is not None and not 0 < args.train_fraction < 1:
        raise ValueError(f"--train-fraction={args.train_fraction} must lie in (0, 1)")
    columns = [c.strip() for c in args.value_columns.split(",")] if args.value_columns else None
    tcol = None if args.timestamp_column.lower() == "none" else args.timestamp_column
    stems = [Path(d).stem for d in args.data]
    if len(set(stems)) < len(stems):
        raise ValueError(f"DATA: files with the same name {sorted(s for s in stems if stems.count(s) > 1)}; "
                         "expected distinct names (each is written to OUT/<name>/)")
    with output_folder(args.out, overwrite=args.overwrite) as out:
        for data, stem in zip(args.data, stems):
            series = read_series(data, timestamp_column=tcol, value_columns=columns, gaps=args.gaps,
                                 duplicates=args.duplicates)
            windows = _read_labels(args.labels, data) if args.labels else None
            folder = out if len(args.data) == 1 else out / stem
            folder.mkdir(exist_ok=True)
            _detect(args, folder, data, make_estimator(TimeSeriesAnomalyDetector, args), series, windows)
    return 0


def _read_labels(path: str, data: str) -> np.ndarray:
    """(k, 2) datetime64 [start, end] windows for ``data`` from a NAB windows file or a plain list."""
    from aekit.nab import to_datetimes

    try:
        raw = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"--labels {path}: not valid JSON ({exc})") from None
    if isinstance(raw, dict):
        name = Path(data).name
        hits = [k for k in raw if k == data or k.endswith("/" + name) or k == name]
        if not hits:
            raise ValueError(f"--labels {path}: no entry for {name}; it has {len(raw)} entries such as "
                             f"{sorted(raw)[:2]}")
        raw = raw[hits[0]]
    if not isinstance(raw, list) or any(not isinstance(w, list) or len(w) != 2 for w in raw):
        raise ValueError(f"--labels {path}: expected a list of [start, end] timestamp pairs")
    return to_datetimes(raw, name=f"--labels {path}").reshape(-1, 2)


def _detect(args, out: Path, data: str, det, series, windows) -> None:
    from aekit import nab
    from aekit.fileio import atomic_write_bytes
    from aekit.report import anomaly as figs
    from aekit.report.html import write_report

    scores = det.fit_stream(series, train_fraction=args.train_fraction)
    n_train = len(det.train_scores_)
    det.autoencoder_.metadata["fitted_on"] = {"dataset": args.data, "train_fraction": args.train_fraction}
    det.save(out / "model")
    flagged = scores > det.threshold_
    t = series.timestamps
    stamp = (lambda i: str(t[i]).replace("T", " ")) if t is not None else str
    names = series.columns if series.values.shape[1] > 1 else ["value"]
    lines = [",".join(["timestamp", *names, "anomaly_score", "label"])]
    for i in range(len(scores)):
        vals = ",".join(f"{v:.10g}" for v in series.values[i])
        lines.append(f"{stamp(i)},{vals},{scores[i]:.8g},{int(flagged[i])}")
    atomic_write_bytes(out / "scores.csv", lambda f: f.write(("\n".join(lines) + "\n").encode()))
    rows = det.ranges(scores)
    ranges = [{"start": stamp(a), "end": stamp(b), "first_row": a, "last_row": b,
               "max_score": float(scores[a:b + 1].max())} for a, b in rows]
    atomic_write_bytes(out / "ranges.json", lambda f: f.write(json.dumps(ranges, indent=2).encode()))

    metrics = {"rows": len(scores), "training_rows": n_train, "channels": series.values.shape[1],
               "threshold": det.threshold_, "threshold_rule": det.threshold_rule_,
               "flagged_rows": int(flagged.sum()), "ranges": len(ranges)}
    labelled = None
    if windows is not None and t is not None:
        labelled = nab.window_rows(t, windows).tolist() if len(windows) else []
        for prof in nab.NAB_PROFILES:
            fs = nab.score_file(t, scores, windows, threshold=det.threshold_, profile=prof)
            metrics[f"NAB raw score ({prof})"] = fs.score
            if len(windows):
                metrics[f"NAB normalised ({prof})"] = nab.normalized_score(fs.score, len(windows), profile=prof)
    extra = {"Series, anomaly score and flagged ranges": figs.series_figure(
        series.values, scores, det.threshold_, rows, timestamps=t, labelled=labelled, columns=series.columns)}
    summary = {"data": str(data), "model": det.model, "window": det.window, "latent_dim": det.latent_dim,
               "epochs": det.n_iter_, "training_rows": n_train}
    write_report(out / "report.html", title="aekit time-series anomaly detection", summary=summary,
                 metrics=metrics, baselines=[], history=det.history_, extra_figures=extra)
    print(json.dumps({k: v for k, v in metrics.items() if isinstance(v, (int, float))}, indent=2))
    print(f"wrote {out}/scores.csv, {out}/ranges.json and {out}/report.html", file=sys.stderr)
