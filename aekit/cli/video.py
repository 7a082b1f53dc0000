"""``aekit detect-video``: per-frame anomaly scores of a video clip, flagged frame ranges, heat maps and a report.

    aekit detect-video clip.mp4 --out runs/clip                       # fits on the clip's own frames
    aekit detect-video clip.mp4 --fit normal.npy --epochs 20 --out runs/clip
    aekit detect-video clip.gif --model runs/clip/model --truth labels.npy --out runs/clip2

``CLIP`` is a video file (mp4, avi, mov, mkv, webm, gif; the optional extra ``aekit[video]``) or a ``.npy``
array of clips ``(N, T, C, H, W)`` (or one clip, :func:`aekit.data.video.load_clips`). Without ``--model``
a :class:`aekit.VideoAnomalyDetector` is fitted first, on ``--fit DATA`` (normal clips) or else on the clip
itself (anomalies are taken to be rare), and written to ``OUT/model``. Writes ``scores.csv``
(``clip,frame,anomaly_score,flagged``, and ``is_anomaly`` with ``--truth``), ``ranges.json`` (flagged frame
ranges per clip), ``error_maps.npy`` (``(N, T, H, W)``: each frame's squared error per pixel),
``heatmaps/`` (one overlay PNG per frame: red = large error) and ``report.html`` (scores over the frames
with the threshold and flagged ranges, a strip of frames with their error maps, the ROC-AUC with ``--truth``).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from aekit.cli.common import add_output_folder, make_estimator, output_folder
from aekit.cli.grammar import add_fit_flags, add_model_source, refuse_fit_flags

STRIP = 16   # frames in the report's strip


def add_parser(sub) -> None:
    p = sub.add_parser("detect-video", help="per-frame anomaly scores of a video clip: scores.csv, ranges.json, "
                       "error maps, heatmaps/, report.html")
    p.add_argument("clip", metavar="CLIP", help="a video file (.mp4, .avi, .mov, .mkv, .webm, .gif) or a .npy "
                   "array of clips (N, T, C, H, W), one clip (T, C, H, W) / (T, H, W, C), or one grey clip (T, H, W)")
    src = p.add_mutually_exclusive_group()
    add_model_source(p, "video anomaly detector", registered="video-anomaly-detector", group=src,
                     model_help="folder of a saved video anomaly detector to apply (OUT/model of an earlier "
                     "detect-video, or VideoAnomalyDetector.save)",
                     fit_help="fit a new detector on the normal clips in DATA (a video file or .npy) and write it to "
                     "OUT/model (default: fit on CLIP itself)")
    p.add_argument("--channels", default="auto", choices=("auto", "1", "3"), help="frames as grey (1), colour "
                   "(3), or auto: grey when the colour channels agree (default auto)")
    p.add_argument("--max-frames", type=int, help="read at most this many frames of each video")
    p.add_argument("--truth", metavar="NPY", help="frame labels (1 = anomalous) of CLIP, (T,) or (N, T): scored by "
                   "ROC-AUC in the report")
    add_fit_flags(p, "video anomaly detector", registered="video-anomaly-detector", when="without --model")
    add_output_folder(p, "output folder: scores.csv, ranges.json, error_maps.npy, heatmaps/, model/, report.html")
    p.set_defaults(handler=run)


def _read(path: str, args) -> np.ndarray:
    from aekit.data.video import load_clips

    channels = args.channels if args.channels == "auto" else int(args.channels)
    return load_clips(path, channels=channels, max_frames=args.max_frames)


def _truth(path: str, shape: tuple[int, int]) -> np.ndarray:
    y = np.load(path, allow_pickle=False)
    y = y[None] if y.ndim == 1 else y
    if y.shape != shape or not set(np.unique(y).tolist()) <= {0, 1}:
        raise ValueError(f"--truth {path}: labels of shape {y.shape} with values {np.unique(y)[:5].tolist()}; "
                         f"expected 0/1 labels of shape {shape} (N clips, T frames) or ({shape[1]},)")
    return y.astype(int)


def run(args: argparse.Namespace) -> int:
    from aekit.estimators import VideoAnomalyDetector

    if args.max_frames is not None and args.max_frames < 1:
        raise ValueError(f"--max-frames={args.max_frames} must be >= 1")
    if args.model is not None:
        refuse_fit_flags(args, why=f"--model {args.model} is applied, not fitted")
    det = make_estimator(VideoAnomalyDetector, args) if args.model is None else None
    clips = _read(args.clip, args)
    truth = _truth(args.truth, clips.shape[:2]) if args.truth else None
    with output_folder(args.out, overwrite=args.overwrite) as out:
        return _detect(args, out, det, clips, truth)


def _detect(args, out: Path, det, clips: np.ndarray, truth) -> int:
    from aekit.artifacts import load
    from aekit.estimators import VideoAnomalyDetector

    if det is None:
        det = load(args.model)
        if not isinstance(det, VideoAnomalyDetector):
            raise ValueError(f"{args.model} holds a {type(det).__name__}, not a video anomaly detector")
        source = str(args.model)
    else:
        train = _read(args.fit, args) if args.fit else clips
        det.fit(train)
        det.save(out / "model")
        source = f"fitted on {args.fit or args.clip} ({train.shape[0]} clip(s), {train.shape[1]} frames)"
    scores, maps = det.anomaly_score(clips), det.error_maps(clips)
    _write_tables(out, det, scores, maps, truth)
    _write_heatmaps(out, clips, maps)
    metrics = _report(args, out, det, clips, scores, maps, truth, source)
    print(json.dumps({k: v for k, v in metrics.items() if isinstance(v, (int, float))}, indent=2))
    print(f"wrote {out}/scores.csv, {out}/ranges.json, {out}/heatmaps/ and {out}/report.html", file=sys.stderr)
    return 0


def _write_tables(out: Path, det, scores, maps, truth) -> None:
    from aekit.fileio import atomic_write_bytes

    flagged = scores > det.threshold_
    lines = ["clip,frame,anomaly_score,flagged" + (",is_anomaly" if truth is not None else "")]
    for (i, t), s in np.ndenumerate(scores):
        lines.append(f"{i},{t},{s:.8g},{int(flagged[i, t])}" + (f",{truth[i, t]}" if truth is not None else ""))
    atomic_write_bytes(out / "scores.csv", lambda f: f.write(("\n".join(lines) + "\n").encode()))
    ranges = [{"clip": i, "first_frame": a, "last_frame": b, "max_score": float(scores[i, a:b + 1].max())}
              for i in range(len(scores)) for a, b in det.ranges(scores[i])]
    atomic_write_bytes(out / "ranges.json", lambda f: f.write(json.dumps(ranges, indent=2).encode()))
    atomic_write_bytes(out / "error_maps.npy", lambda f: np.save(f, maps.astype(np.float32), allow_pickle=False))


def _write_heatmaps(out: Path, clips, maps) -> None:
    from aekit.report.anomaly import heatmap_overlay

    folder = out / "heatmaps"
    folder.mkdir()
    vmax = float(np.percentile(maps, 99.9)) or 1.0          # one colour scale for every frame
    scale = max(1, 256 // max(clips.shape[3:]))
    for (i, t) in np.ndindex(*clips.shape[:2]):
        (folder / f"clip{i:03d}_frame{t:05d}.png").write_bytes(
            heatmap_overlay(clips[i, t], maps[i, t], vmax=vmax, scale=scale))


def _strip(scores: np.ndarray, n: int = STRIP) -> np.ndarray:
    """Frames of one clip for the report's strip: the highest scored half, the rest evenly spaced, in order."""
    top = np.argsort(scores)[::-1][:n // 2]
    spread = np.linspace(0, len(scores) - 1, n - len(top)).round().astype(int)
    return np.unique(np.r_[top, spread])[:n]


def _report(args, out: Path, det, clips, scores, maps, truth, source: str) -> dict:
    from aekit.estimators.detect.thresholds import anomaly_ranges
    from aekit.report import anomaly as figs
    from aekit.report.html import write_report

    flagged = scores > det.threshold_
    metrics = {"clips": len(clips), "frames": int(scores.size), "threshold": det.threshold_,
               "threshold_rule": det.threshold_rule_, "flagged_frames": int(flagged.sum()),
               "ranges": sum(len(det.ranges(s)) for s in scores)}
    if truth is not None and 0 < truth.sum() < truth.size:
        from sklearn.metrics import average_precision_score, roc_auc_score

        metrics.update(frame_roc_auc=float(roc_auc_score(truth.ravel(), scores.ravel())),
                       frame_average_precision=float(average_precision_score(truth.ravel(), scores.ravel())))
    extra = {}
    for i in range(min(len(clips), 4)):           # the first clips: scores over frames, and a strip of frames
        labelled = anomaly_ranges(truth[i] > 0) if truth is not None else None
        extra[f"Clip {i}: frame brightness, anomaly score and flagged ranges"] = figs.series_figure(
            clips[i].mean(axis=(1, 2, 3)), scores[i], det.threshold_, det.ranges(scores[i]), labelled=labelled,
            columns=["mean brightness"])
        pick = _strip(scores[i])
        extra[f"Clip {i}: frames with their error maps"] = figs.heatmap_grid(
            clips[i, pick], maps[i, pick], scores[i, pick],
            captions=[f"frame {t}: {scores[i, t]:.3g}" + (" !" if flagged[i, t] else "") for t in pick])
    if truth is not None and "frame_roc_auc" in metrics:
        extra["ROC curve (frames)"] = figs.roc_curve_figure(truth.ravel(), scores.ravel())
    summary = {"clip": str(args.clip), "model": source, "frames per clip": clips.shape[1],
               "frame shape (C, H, W)": list(clips.shape[2:]), "window": det.window, "autoencoder": det.model}
    write_report(out / "report.html", title="aekit video anomaly detection", summary=summary, metrics=metrics,
                 baselines=[], history=det.history_, extra_figures=extra)
    return metrics

