"""Views of a series window for the series scorer parts: its error over more than one time scale.

A window autoencoder's squared residual ``(C, L)`` of the window ending at row ``t`` is read at several scales:
its mean over the whole window (the slow view: is the shape of the last ``L`` rows normal?) and its mean over
the last ``s`` rows for each shorter scale ``s`` (the fast views: are the newest rows normal?). A spike moves a
short view by ``L / s`` times what it moves the whole-window view; a slow drift shows in the long one first.
One forward pass gives every view.
"""
from __future__ import annotations

import numpy as np

from aekit.estimators.detect.ensemble import forward


def window_view_errors(model, windows: np.ndarray, scales: tuple[int, ...], chunk: int = 4096) -> np.ndarray:
    """Squared error per channel of each scaled window ``(n, C, L)`` averaged over its last ``s`` rows for each
    ``s`` in ``scales`` (``s >= L``: the whole window): ``(n, C, len(scales))``, float64."""
    out = []
    for i in range(0, len(windows), chunk):
        xs = np.ascontiguousarray(windows[i:i + chunk])
        recon, _ = forward(model, xs)
        r2 = (recon - xs) ** 2
        out.append(np.stack([r2[:, :, -int(s):].mean(axis=2) for s in scales], axis=2))
    return np.concatenate(out) if out else np.zeros((0, windows.shape[1], len(scales)))
