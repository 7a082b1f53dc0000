"""Video anomalies on Moving MNIST: `aekit detect-video`'s defaults against per-frame image baselines.

    AEKIT_DATA_DIR=../shared/data python benchmarks/video.py                 # seeds 0 1 2
    AEKIT_DATA_DIR=../shared/data python benchmarks/video.py --seeds 0 --train-clips 60   # a quick look

Moving MNIST is made in code (:func:`aekit.data.video.moving_digits`, the generator of Srivastava et al., ICML
2015: two MNIST digits bouncing in 64x64 frames): normal training clips from the MNIST training digits, and
test clips from the test digits, ``--normal-clips`` normal ones and ``--clips-per-kind`` with one event of
each kind in known frames: a digit that jumps, stops, or reverses against its momentum, or an object no
digit looks like passing through. Score: frame-level ROC-AUC over every test frame (x100), overall and per
kind (that kind's clips and the normal clips).

Methods, all fitted on the same normal training frames:

- ``aekit``: :class:`aekit.VideoAnomalyDetector` with its defaults (what ``aekit detect-video`` fits);
- ``frame-AE``: a per-frame image autoencoder, :class:`aekit.AnomalyDetector` with its defaults on single frames;
- ``PCA-32``: PCA with 32 components on frames, the reconstruction error.

Each baseline scores a frame both by its mean error and by the detector's own region rule (the largest mean
error over 16x16 squares); the table gives both, and the comparison takes the better of the two. Writes
benchmarks/results/video.md and video.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

RESULTS = Path(__file__).resolve().parent / "results"
KINDS = ("jump", "stop", "reverse", "object")


def region_max(maps: np.ndarray, k: int = 16) -> np.ndarray:
    """(n, H, W) error maps -> (n,) the largest mean over k x k squares (half-overlapping), as the detector."""
    m = torch.as_tensor(np.asarray(maps, dtype=np.float32))[:, None]
    return F.avg_pool2d(m, k, stride=k // 2).amax(dim=(1, 2, 3)).double().numpy()


def make_data(digits_train, digits_test, seed: int, args):
    from aekit.data.video import moving_digits

    common = {"n_frames": args.frames, "seed": seed}
    train, _ = moving_digits(digits_train, args.train_clips, **common)
    parts = [moving_digits(digits_test, args.normal_clips, **{**common, "seed": 1000 + seed})]
    for i, kind in enumerate(KINDS):
        parts.append(moving_digits(digits_test, args.clips_per_kind, anomaly_fraction=1.0, anomaly_kinds=(kind,),
                                   **{**common, "seed": 2000 + 10 * seed + i}))
    test = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    group = np.repeat(np.arange(len(parts)), [len(p[0]) for p in parts])   # 0: normal clips, 1..4: KINDS
    return train, test, labels, group


def aucs(scores: np.ndarray, labels: np.ndarray, group: np.ndarray) -> dict:
    """Frame-level ROC-AUC x100 overall and per anomaly kind (that kind's clips + the normal clips)."""
    out = {"all": 100 * roc_auc_score(labels.ravel(), scores.ravel())}
    for i, kind in enumerate(KINDS, start=1):
        pick = (group == 0) | (group == i)
        out[kind] = 100 * roc_auc_score(labels[pick].ravel(), scores[pick].ravel())
    return out


def run_seed(seed: int, digits_train, digits_test, args) -> dict:
    from sklearn.decomposition import PCA

    from aekit import AnomalyDetector, VideoAnomalyDetector

    train, test, labels, group = make_data(digits_train, digits_test, seed, args)
    n, t = test.shape[:2]
    frames_tr = train.reshape(-1, *train.shape[2:])[:, 0] / 255.0            # (N*T, 64, 64)
    frames_te = test.reshape(-1, *test.shape[2:])[:, 0] / 255.0
    rows = {}

    t0 = time.perf_counter()
    det = VideoAnomalyDetector(random_state=seed).fit(train)
    s = det.anomaly_score(test)
    rows["aekit VideoAnomalyDetector (defaults)"] = {**aucs(s, labels, group), "seconds": time.perf_counter() - t0}

    t0 = time.perf_counter()
    ae = AnomalyDetector(random_state=seed).fit(frames_tr)
    maps = ae.error_map(frames_te)
    maps = maps.reshape(len(frames_te), *frames_te.shape[1:])
    sec = time.perf_counter() - t0
    rows["frame-AE mean error"] = {**aucs(maps.mean(axis=(1, 2)).reshape(n, t), labels, group), "seconds": sec}
    rows["frame-AE region max"] = {**aucs(region_max(maps).reshape(n, t), labels, group), "seconds": sec}

    t0 = time.perf_counter()
    flat_tr, flat_te = frames_tr.reshape(len(frames_tr), -1), frames_te.reshape(len(frames_te), -1)
    pca = PCA(32, random_state=seed).fit(flat_tr)
    maps = ((pca.inverse_transform(pca.transform(flat_te)) - flat_te) ** 2).reshape(frames_te.shape)
    sec = time.perf_counter() - t0
    rows["PCA-32 mean error"] = {**aucs(maps.mean(axis=(1, 2)).reshape(n, t), labels, group), "seconds": sec}
    rows["PCA-32 region max"] = {**aucs(region_max(maps).reshape(n, t), labels, group), "seconds": sec}
    print(f"seed {seed}: " + "; ".join(f"{k} {v['all']:.1f}" for k, v in rows.items()), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--train-clips", type=int, default=60)
    ap.add_argument("--normal-clips", type=int, default=20)
    ap.add_argument("--clips-per-kind", type=int, default=8)
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--tag", default="video")
    args = ap.parse_args()

    from aekit.data import load_dataset

    ds = load_dataset("mnist")
    digits_train, digits_test = ds.train.X[:, 0], ds.test.X[:, 0]
    per_seed = []
    for seed in args.seeds:                # the results are written after every seed (a long run shows its way)
        per_seed.append(run_seed(seed, digits_train, digits_test, args))
        write(per_seed, args.seeds[:len(per_seed)], args)


def write(per_seed: list, seeds: list, args) -> None:
    methods = list(per_seed[0])
    cols = ["all", *KINDS]
    mean = {m: {c: float(np.mean([r[m][c] for r in per_seed])) for c in [*cols, "seconds"]} for m in methods}
    ours = mean[methods[0]]["all"]
    best_frame_ae = max(mean["frame-AE mean error"]["all"], mean["frame-AE region max"]["all"])
    best_pca = max(mean["PCA-32 mean error"]["all"], mean["PCA-32 region max"]["all"])
    verdict = {"aekit_all": ours, "best_frame_ae_all": best_frame_ae, "best_pca_all": best_pca,
               "aekit_beats_both": bool(ours > best_frame_ae and ours > best_pca)}
    settings = {**vars(args), "frame_size": 64, "digits_per_clip": 2, "speed_px_per_frame": 3.6,
                "anomaly_frames": 4, "torch_threads": torch.get_num_threads(), "load_average_at_end": os.getloadavg(),
                "machine": platform.platform()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.tag}.json").write_text(json.dumps({"settings": settings, "seeds": seeds, "mean": mean,
                                                          "per_seed": per_seed,
                                                          "verdict": verdict}, indent=2))
    lines = [f"# Video anomalies on Moving MNIST (`benchmarks/video.py`, seeds {seeds})", "",
             (f"{args.train_clips} normal training clips of {args.frames} frames (64x64, 2 digits, MNIST training "
              f"digits); test: {args.normal_clips} normal clips and {args.clips_per_kind} clips per anomaly kind "
              "(MNIST test digits). Frame-level ROC-AUC x100, mean over seeds; a kind's column scores that kind's "
              "clips with the normal clips. Seconds: fit + score (load average at the end "
              f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}, shared machine: for information only)."), "",
             "| method | " + " | ".join(cols) + " | seconds |", "|---|" + "---:|" * (len(cols) + 1)]
    for m in methods:
        lines.append(f"| {m} | " + " | ".join(f"{mean[m][c]:.1f}" for c in cols) + f" | {mean[m]['seconds']:.0f} |")
    lines += ["", (f"aekit {ours:.1f} against the better scoring of each baseline: frame-AE {best_frame_ae:.1f}, "
                   f"PCA-32 {best_pca:.1f}: {'above both' if verdict['aekit_beats_both'] else 'NOT above both'}."), ""]
    (RESULTS / f"{args.tag}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
