"""The clip family: estimators fitted on video clips ``(N, T, C, H, W)`` whose model sees windows of frames.

A clip is ``T`` frames ``(C, H, W)`` (the ``video`` data kind, :mod:`aekit.data.kinds`; read files with
:func:`aekit.data.video.load_clips`); clips of any length ``T`` are cut into windows of ``window`` frames, the
model's samples ``(window, C, H, W)``. Frame ``t`` is judged in the window that ends at it, so its score uses
frames up to ``t`` only (the first ``window - 1`` frames, in the clip's first window). Values are scaled as images
are: one raw range for every value (:func:`aekit.estimators._image.range_rule`). A subclass has a ``window``
parameter and declares the rest of its fitted state on top of :attr:`ClipEstimator._fitted`.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from aekit.data import DataError, Scaler, infer_layout
from aekit.estimators._core import Estimator
from aekit.estimators._image import is_8bit_candidate, range_rule
from aekit.estimators._state import INT, LAYOUT, TUPLE
from aekit.validation import Options


class ClipEstimator(Estimator):
    """Base of the estimators of video clips read as windows of frames (see the module docstring)."""

    _family_base = True
    # one offset and scale for every value ("minmax" / "standard" per feature would scale a frame by its place
    # in the window)
    SCALERS = Options("auto", "range", "none")
    _fitted = {"layout_": LAYOUT, "sample_shape_": TUPLE, "frame_shape_": TUPLE, "n_features_in_": INT,
               **Estimator._fitted}

    def _read_clips(self, X, *, reset: bool) -> np.ndarray:
        """``X`` as float32 clips ``(N, T, C, H, W)``, checked: numeric, finite, 5-D, the fitted frame shape, and
        (``reset``) at least ``window`` frames."""
        try:
            x = np.asarray(X, dtype=np.float32)
        except (TypeError, ValueError):
            raise DataError("X: the clips are not numeric; expected an array (N, T, C, H, W) of numbers") from None
        if x.ndim == 4:
            raise DataError(f"X has shape {x.shape}: one clip (T, C, H, W)? expected clips (N, T, C, H, W); add the "
                            "batch axis (X[None])")
        if x.ndim != 5 or 0 in x.shape:
            raise DataError(f"X has shape {x.shape}; expected clips (N, T, C, H, W) with positive sizes")
        if not np.isfinite(x).all():
            raise DataError(f"X holds {int(x.size - np.isfinite(x).sum())} NaN or infinite value(s); expected "
                            "finite values")
        if reset and x.shape[1] < int(self.window):
            raise DataError(f"X: clips of {x.shape[1]} frames, too few to train on windows of {self.window} frames; "
                            f"expected at least {self.window} frames (or a smaller window)")
        if not reset and tuple(x.shape[2:]) != self.frame_shape_:
            raise DataError(f"X has frames of shape {tuple(x.shape[2:])}, but {type(self).__name__} was fitted on "
                            f"frames of shape {self.frame_shape_} (C, H, W)")
        return x

    def _learn_windows(self, clips: np.ndarray) -> None:
        """Fix the fitted shape from the training clips: ``layout_`` (clips of ``window`` frames),
        ``sample_shape_`` ``(window, C, H, W)`` and ``frame_shape_`` ``(C, H, W)``."""
        _, self.layout_ = infer_layout(clips[:1, :int(self.window)], "video")
        self.sample_shape_ = tuple(self.layout_.sample_shape)
        self.frame_shape_ = tuple(int(s) for s in clips.shape[2:])
        self.n_features_in_ = int(np.prod(self.frame_shape_))

    def _train_windows(self, clips: np.ndarray, stride: int = 1) -> np.ndarray:
        """Windows ``(n, window, C, H, W)`` of every clip, every ``stride`` frames, raw units (a copy)."""
        w = sliding_window_view(clips, int(self.window), axis=1)[:, ::stride]     # (N, k, C, H, W, window)
        return np.ascontiguousarray(np.moveaxis(w, -1, 2).reshape(-1, int(self.window), *clips.shape[2:]))

    def _frame_windows(self, clip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each frame of one clip ``(T, C, H, W)``: the window that judges it ``(T, window, C, H, W)`` and the
        frame's place in it ``(T,)``. Frame ``t`` is the last frame of the window ending at it; the first
        ``window - 1`` frames, which have no such window, are judged in the clip's first window (a clip shorter
        than the window is lengthened by repeating its last frame)."""
        L, T = int(self.window), len(clip)
        if T < L:
            clip = np.concatenate([clip, np.repeat(clip[-1:], L - T, axis=0)])
        starts = np.clip(np.arange(T) - L + 1, 0, None)
        w = sliding_window_view(clip, L, axis=0)[starts]                        # (T, C, H, W, window)
        return np.moveaxis(w, -1, 1), np.arange(T) - starts

    def _to_raw(self, y: np.ndarray) -> np.ndarray:
        """Model units -> raw units for arrays of any shape (the scaler has one offset and scale)."""
        s = self.autoencoder_.scaler
        return (y * s.scale_ + s.offset_).astype(np.float32) if s is not None and s.method != "none" else y

    def _make_scaler(self, X: np.ndarray):
        """One raw range for every value, by the images' rule under ``scaler="auto"`` (0..255 for 8-bit video)."""
        lo, hi = float(X.min()), float(X.max())
        if self.scaler == "auto":
            whole = is_8bit_candidate(lo, hi) and np.array_equal(X, np.round(X))
            return Scaler("range").fit(X, value_range=range_rule(lo, hi, whole))
        if self.scaler == "range":
            return Scaler("range").fit(X, value_range=(lo, hi + 1e-12))
        return Scaler("none").fit(X)
