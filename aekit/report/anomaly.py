"""Figures for anomaly detection reports: score histogram with the threshold, ROC curve, per-class
reconstruction error over training epochs and heat-map overlays. They draw results computed elsewhere
(PNG bytes out, matplotlib imported lazily) and never train or score anything.

ROC curves: Fawcett, "An introduction to ROC analysis", Pattern Recognition Letters 2006.
"""
from __future__ import annotations

import numpy as np

from aekit.report.figures import figure_to_png, new_figure

__all__ = ["score_histogram", "roc_curve_figure", "class_error_curves", "heatmap_overlay", "heatmap_grid",
           "series_figure"]


def score_histogram(scores: np.ndarray, threshold: float, *, is_anomaly: np.ndarray | None = None) -> bytes:
    """Histogram of anomaly scores (split by known labels when given) with the threshold as a line."""
    scores = np.asarray(scores, dtype=np.float64)
    fig = new_figure(figsize=(6.4, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    bins = np.histogram_bin_edges(scores, bins=50)
    if is_anomaly is None:
        ax.hist(scores, bins=bins, color="#4c72b0")
    else:
        lab = np.asarray(is_anomaly, dtype=bool)
        ax.hist(scores[~lab], bins=bins, alpha=0.6, label=f"normal ({int((~lab).sum())})", color="#4c72b0")
        ax.hist(scores[lab], bins=bins, alpha=0.6, label=f"anomaly ({int(lab.sum())})", color="#dd8452")
    ax.axvline(threshold, color="k", linestyle="--", label=f"threshold {threshold:.3g}")
    ax.set_xlabel("anomaly score (higher = more abnormal)")
    ax.set_ylabel("samples")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return figure_to_png(fig)


def roc_curve_figure(is_anomaly: np.ndarray, scores: np.ndarray, *, baselines: dict | None = None) -> bytes:
    """ROC curve of ``scores`` against the known labels (1 = anomaly), with optional baseline scores; the
    legend gives each AUC as a fraction with 4 significant digits, as the report's metrics table does."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig = new_figure(figsize=(4.8, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    for name, s in {"aekit": scores, **(baselines or {})}.items():
        fpr, tpr, _ = roc_curve(is_anomaly, s)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(is_anomaly, s):.4g})")
    ax.plot([0, 1], [0, 1], color="#999", linestyle=":")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return figure_to_png(fig)


def class_error_curves(history: list[dict]) -> bytes:
    """Mean reconstruction error per class after each epoch (``[{"epoch": e, "<class>": err, ...}]``), as
    lines without a marker per epoch (one marker only when there is one epoch)."""
    from matplotlib.ticker import MaxNLocator

    epochs = [h["epoch"] for h in history]
    classes = [k for k in history[0] if k != "epoch"]
    fig = new_figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    for c in classes:
        ax.plot(epochs, [h[c] for h in history], marker="." if len(epochs) == 1 else None, label=str(c))
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean reconstruction error")
    ax.legend(fontsize=7, ncol=2, title="class")
    fig.tight_layout()
    return figure_to_png(fig)


def _overlay_rgb(image: np.ndarray, error: np.ndarray, vmax: float) -> np.ndarray:
    """(H, W, 3) in [0, 1]: the grey image with the error map blended in red."""
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 3:  # (C, H, W) -> grey
        img = img.mean(axis=0)
    lo, hi = img.min(), img.max()
    grey = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    heat = np.clip(np.asarray(error, dtype=np.float64) / max(vmax, 1e-12), 0, 1)
    rgb = np.repeat(grey[..., None], 3, axis=2) * (1 - 0.6 * heat[..., None])
    rgb[..., 0] += 0.6 * heat
    return np.clip(rgb, 0, 1)


def heatmap_overlay(image: np.ndarray, error: np.ndarray, *, vmax: float | None = None, scale: int = 8) -> bytes:
    """One image (``(H, W)`` or ``(C, H, W)``) with its error map in red, as a PNG (upscaled ``scale`` x)."""
    import io

    from PIL import Image

    rgb = _overlay_rgb(image, error, float(np.max(error)) if vmax is None else vmax)
    arr = (rgb * 255).round().astype(np.uint8)
    im = Image.fromarray(arr).resize((arr.shape[1] * scale, arr.shape[0] * scale), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def heatmap_grid(images: np.ndarray, errors: np.ndarray, scores: np.ndarray, *, title: str = "",
                 captions: list[str] | None = None) -> bytes:
    """The given images with their error maps overlaid (red = large error), titled by score (or ``captions``,
    one per image: a video's frame numbers and scores)."""
    n = len(images)
    cols = min(8, n)
    rows = int(np.ceil(n / cols))
    vmax = float(np.percentile(errors, 99.5)) if errors.size else 1.0
    fig = new_figure(figsize=(1.3 * cols, 1.45 * rows + 0.4))
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(_overlay_rgb(images[i], errors[i], vmax), interpolation="nearest")
        ax.set_title(captions[i] if captions is not None else f"{scores[i]:.3g}", fontsize=7)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return figure_to_png(fig)


def series_figure(values: np.ndarray, scores: np.ndarray, threshold: float, ranges: list, *, timestamps=None,
                  labelled: list | None = None, columns: list[str] | None = None) -> bytes:
    """A time series (one panel per channel, at most 4), its anomaly score with the threshold, the flagged
    ranges shaded red and the labelled windows (``[[first_row, last_row], ...]``) shaded green, all on one
    time axis. ``ranges`` are ``[first_row, last_row]`` pairs."""
    values = np.asarray(values, dtype=np.float64)
    values = values[:, None] if values.ndim == 1 else values
    n_ch = min(values.shape[1], 4)
    x = np.asarray(timestamps) if timestamps is not None else np.arange(len(values))
    fig = new_figure(figsize=(10, 1.9 * (n_ch + 1)))
    axes = fig.subplots(n_ch + 1, 1, sharex=True)
    for c in range(n_ch):
        axes[c].plot(x, values[:, c], lw=0.7, color="#4c72b0")
        axes[c].set_ylabel(columns[c] if columns else f"channel {c}", fontsize=8)
    axes[-1].plot(x, scores, lw=0.7, color="#333")
    axes[-1].axhline(threshold, color="#c44e52", ls="--", lw=0.8, label=f"threshold {threshold:.3g}")
    axes[-1].set_ylabel("anomaly score", fontsize=8)
    for ax in axes:
        for a, b in labelled or []:
            ax.axvspan(x[a], x[b], color="#55a868", alpha=0.15, lw=0)
        for a, b in ranges:
            ax.axvspan(x[a], x[b], color="#c44e52", alpha=0.35, lw=0)
    handles = [axes[-1].get_legend_handles_labels()[0][0]]
    from matplotlib.patches import Patch

    handles.append(Patch(color="#c44e52", alpha=0.35, label=f"flagged ({len(ranges)})"))
    if labelled:
        handles.append(Patch(color="#55a868", alpha=0.15, label=f"labelled windows ({len(labelled)})"))
    axes[-1].legend(handles=handles, fontsize=8, loc="upper left")
    fig.tight_layout()
    return figure_to_png(fig)
