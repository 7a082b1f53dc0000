"""Figures of an ordered code (:mod:`aekit.ordered`): the reconstruction error against the code size beside PCA's,
and one traversal row per leading unit. They draw results computed elsewhere."""
from __future__ import annotations

import numpy as np

from aekit.report.figures import figure_to_png, image_rows, new_figure


def prefix_curve_figure(curve: dict) -> bytes:
    """The MSE (left) and the share of variance explained (right) of an ordered code's first ``k`` values
    against ``k``, beside PCA-``k``'s (``curve``: :func:`aekit.ordered.prefix_curve`)."""
    fig = new_figure(figsize=(8.0, 3.2))
    left, right = fig.subplots(1, 2)
    for ax, key, label in ((left, "mse", "test MSE"), (right, "explained_variance", "variance explained")):
        ax.plot(curve["k"], curve[key], "o-", color="#4477aa", label="ordered autoencoder, first k units")
        ax.plot(curve["k"], curve[f"pca_{key}"], "s--", color="#aa3377", label="PCA, first k components")
        ax.set_xscale("log", base=2)
        ax.set_xticks(curve["k"], [str(k) for k in curve["k"]])
        ax.set_xlabel("code size k")
        ax.set_ylabel(label)
    left.legend(fontsize=8)
    fig.tight_layout()
    return figure_to_png(fig)


def traversal_figure(rows: np.ndarray) -> bytes | None:
    """One row per leading unit (``rows``: :func:`aekit.ordered.traversals`, images (C, H, W) in [0, 1]);
    None for samples that are not images."""
    if rows.ndim != 5 or rows.shape[2] not in (1, 3):
        return None
    return image_rows({f"unit {j + 1}": np.clip(r, 0, 1) for j, r in enumerate(rows)}, n=rows.shape[1],
                      title="each unit from its 5th to its 95th percentile, the units before it at the median code")
