"""The series family: estimators fitted on one long series ``(T, C)`` whose model sees windows of it.

A series is an array ``(T,)`` or ``(T, C)`` (rows are timestamps, columns channels) or an
:class:`aekit.data.series.Series`; rows are the samples scikit-learn counts. The model sees windows
``(C, window)`` cut from the rows (the ``sequence`` data kind, channels x time), scaled per channel like any
sequence (:mod:`aekit.data.kinds`). A subclass has a ``window`` parameter (rows per window) and declares the
rest of its fitted state on top of :attr:`SeriesEstimator._fitted`.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from aekit.data import DataError, Scaler, get_kind, infer_layout
from aekit.estimators._core import Estimator
from aekit.estimators._state import INT, LAYOUT, TUPLE


class SeriesEstimator(Estimator):
    """Base of the estimators of one long series read as windows (see the module docstring)."""

    _family_base = True
    _fitted = {"layout_": LAYOUT, "sample_shape_": TUPLE, "n_channels_": INT, "n_features_in_": INT,
               **Estimator._fitted}

    def _read_series(self, X, *, reset: bool) -> np.ndarray:
        """``X`` as float64 ``(T, C)``, checked: numeric, finite, 1-D or 2-D, the fitted channel count, and
        (``reset``) at least one window and a row more."""
        values = getattr(X, "values", X)  # a Series
        source = getattr(X, "source", "") or "X"
        try:
            x = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{source}: the series is not numeric; expected an array (T,) or (T, C) of numbers "
                            "(read CSV files with aekit.data.read_series)") from None
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2:
            raise DataError(f"{source}: a series of shape {x.shape}; expected (T,) or (T, C) (rows are timestamps)")
        bad = ~np.isfinite(x)
        if bad.any():
            r, c = (int(i) for i in np.argwhere(bad)[0])
            raise DataError(f"{source}: {int(bad.sum())} NaN/inf value(s), the first at row {r}, channel {c}; "
                            "expected finite values (fill or drop them first)")
        if reset and len(x) < int(self.window) + 1:
            raise DataError(f"{source}: {len(x)} rows, too few to train on windows of {self.window} rows; "
                            f"expected at least {int(self.window) + 1} rows (or a smaller window)")
        if not reset and x.shape[1] != self.n_channels_:
            raise DataError(f"{source}: {x.shape[1]} channel(s), but {type(self).__name__} was fitted on "
                            f"{self.n_channels_}")
        return x

    def _window_view(self, x: np.ndarray, stride: int = 1) -> np.ndarray:
        """Windows ``(n, C, window)`` of the rows ``x`` ``(T, C)``, every ``stride`` rows: a view of ``x``."""
        return sliding_window_view(x, int(self.window), axis=0)[::stride]

    def _raw_windows(self, x: np.ndarray, stride: int = 1) -> np.ndarray:
        """Float32 windows ``(n, C, window)`` of the rows ``x`` ``(T, C)``, every ``stride`` rows, raw units."""
        return np.ascontiguousarray(self._window_view(x, stride), dtype=np.float32)

    def _learn_windows(self, x: np.ndarray, windows: np.ndarray) -> None:
        """Fix the fitted shape from the training rows ``x`` and their windows: ``layout_`` (sequences of
        ``window`` steps), ``sample_shape_`` and the channel count (``n_channels_``, ``n_features_in_``)."""
        _, self.layout_ = infer_layout(windows[:2], "sequence")
        self.sample_shape_ = tuple(self.layout_.sample_shape)
        self.n_features_in_ = self.n_channels_ = int(x.shape[1])

    def _make_scaler(self, X: np.ndarray):
        """Windows are scaled like any sequence: per channel over all windows and steps by default."""
        if self.scaler == "auto":
            return get_kind("sequence").default_scaler().fit(X)
        if self.scaler == "range":
            return Scaler("range").fit(X, value_range=(float(X.min()), float(X.max()) + 1e-12))
        return Scaler(self.scaler).fit(X)

    def _scaled_windows(self, x: np.ndarray, stride: int = 1) -> np.ndarray:
        """Float32 windows of the rows ``x`` in the model's units: the fitted scaler applied to the rows' own
        precision (float64 from :meth:`_read_series`), then rounded once."""
        return self.autoencoder_.scaler.transform(self._window_view(x, stride)).astype(np.float32)
