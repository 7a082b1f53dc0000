"""Scaling raw values to the model's range and back, saved as JSON (never pickle)."""
from __future__ import annotations

import math
import numbers
from typing import Any, Iterable, Mapping

import numpy as np

from aekit.data.errors import DataError, NotFittedError

__all__ = ["Scaler", "SCALER_METHODS", "SCALER_PER"]

SCALER_METHODS = ("none", "range", "minmax", "standard")
SCALER_PER = ("feature", "channel")  # what "minmax" / "standard" fit one offset and scale for
_GLOBAL = ("none", "range")  # one offset / scale for every value
_FORMAT, _VERSION = "aekit.Scaler", 1
_CHUNK = 8192  # rows per chunk when computing statistics


def _check_method(method: Any) -> str:
    if not isinstance(method, str) or method not in SCALER_METHODS:
        raise ValueError(f"Scaler method must be one of {SCALER_METHODS}, got {method!r}")
    return method


def _check_per(per: Any, what: str = "Scaler per") -> str:
    if not isinstance(per, str) or per not in SCALER_PER:
        raise ValueError(f"{what} must be one of {SCALER_PER}, got {per!r}")
    return per


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))


def _check_value_range(value_range: Any, what: str = "value_range") -> tuple[float, float]:
    if (
        not isinstance(value_range, (tuple, list, np.ndarray))
        or len(value_range) != 2
        or not all(_is_number(v) for v in value_range)
        or not float(value_range[0]) < float(value_range[1])
    ):
        raise ValueError(f"{what} must be a pair of finite numbers (low, high) with low < high, got {value_range!r}")
    return (float(value_range[0]), float(value_range[1]))


class Scaler:
    """Maps raw values to the model's range and back; saved with the model as JSON (no pickle).

    Parameters
    ----------
    method : {"none", "range", "minmax", "standard"}, default "minmax"
        ``"none"``: identity. ``"range"``: a fixed raw range ``(low, high)`` -> [0, 1].
        ``"minmax"``: per-feature min / max fitted on the training data -> [0, 1].
        ``"standard"``: per-feature mean / standard deviation -> zero mean, unit variance.
        Constant features get a scale of 1 (no division by zero).
    value_range : (low, high), optional
        Default raw range for ``"range"`` when :meth:`fit` gets none (set by :meth:`default_for`).
    per : {"feature", "channel"}, default "feature"
        What ``"minmax"`` and ``"standard"`` fit one offset and scale for: every value of a sample
        (``"feature"``), or every channel, axis 1 of ``(N, C, ...)``, with statistics over all samples and
        all other axes (``"channel"``: the default for sequences ``(N, C, T)``, see
        :mod:`aekit.data.kinds`). Ignored by ``"none"`` and ``"range"``.

    Attributes
    ----------
    feature_shape_ : tuple of int
        Shape of one sample seen by :meth:`fit`.
    offset_, scale_ : np.ndarray (float64)
        ``transform(X) = (X - offset_) / scale_``; shape ``()`` for "none" / "range", ``feature_shape_``
        per feature, ``(C, 1, ...)`` (broadcasting over ``feature_shape_``) per channel.

    Examples
    --------
    >>> s = Scaler("range").fit(X_train, value_range=(0, 255))
    >>> Z = s.transform(X_train); X_back = s.inverse_transform(Z)
    >>> json.dumps(s.to_dict())
    >>> Scaler("minmax", per="channel").fit(X_seq)   # (N, C, T): one min / max per channel
    """

    def __init__(self, method: str = "minmax", *, value_range: tuple[float, float] | None = None,
                 per: str = "feature") -> None:
        self.method = _check_method(method)
        self.value_range = None if value_range is None else _check_value_range(value_range)
        self.per = _check_per(per)
        self.feature_shape_: tuple[int, ...] | None = None
        self.offset_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    # ------------------------------------------------------------------------------------ fitting
    @property
    def is_fitted(self) -> bool:
        return self.offset_ is not None

    @classmethod
    def default_for(cls, dataset) -> "Scaler":
        """An unfitted scaler suited to ``dataset`` (an :class:`aekit.data.Dataset`), the default of its kind
        (:mod:`aekit.data.kinds`): "range" (with the dataset's ``value_range``) for images whose raw range is
        known, per-channel "minmax" for sequences, else "minmax". The dataset picks it
        (:meth:`aekit.data.Dataset.default_scaler`): scalers sit below datasets and kinds."""
        if not callable(getattr(dataset, "default_scaler", None)):
            raise TypeError(f"dataset must be an aekit.data.Dataset, got {type(dataset).__name__}")
        return dataset.default_scaler()

    def fit(self, X: Any, value_range: tuple[float, float] | None = None) -> "Scaler":
        """Learn the offset and scale from training samples ``X`` of shape ``(N, *feature_shape)``.

        Parameters
        ----------
        X : array-like
            Raw training samples.
        value_range : (low, high), optional
            The raw range for "range" (required for it unless given to the constructor);
            ignored by the other methods.

        Returns
        -------
        Scaler
            ``self``.
        """
        X = self._as_array(X, "fit")
        if X.shape[0] == 0:
            raise DataError(f"Scaler.fit: X has shape {X.shape} with no samples, expected at least one")
        if self.method == "range":
            vr = value_range if value_range is not None else self.value_range
            if vr is None:
                raise ValueError("Scaler method 'range' needs value_range=(low, high), e.g. (0, 255), got None")
            self.value_range = _check_value_range(vr)
            offset, scale = np.float64(self.value_range[0]), np.float64(self.value_range[1] - self.value_range[0])
            self._check_finite(X)
        elif self.method == "none":
            offset, scale = np.float64(0.0), np.float64(1.0)
            self._check_finite(X)
        else:
            offset, scale = self._statistics(X)
        self.feature_shape_ = tuple(int(s) for s in X.shape[1:])
        self.offset_, self.scale_ = np.asarray(offset, dtype=np.float64), np.asarray(scale, dtype=np.float64)
        return self

    def fit_chunks(self, chunks: Iterable[Any], value_range: tuple[float, float] | None = None) -> "Scaler":
        """:meth:`fit` in one pass over pieces of the training data (``(n_i, *feature_shape)`` each), for data
        larger than memory: running minimum and maximum ("minmax"), or counts, means and squared deviations
        merged piece by piece (Chan, Golub & LeVeque, "Algorithms for computing the sample variance", 1983)
        for "standard"; the result equals :meth:`fit` on the whole up to rounding. Returns ``self``."""
        count, lo, hi, mean, m2, shape = 0, None, None, None, None, None
        for piece in chunks:
            X = self._as_array(piece, "fit_chunks")
            if shape is not None and tuple(X.shape[1:]) != shape:
                raise DataError(f"Scaler.fit_chunks: a piece has samples of shape {tuple(X.shape[1:])}, earlier "
                                f"pieces {shape}; expected one sample shape")
            shape = tuple(int(d) for d in X.shape[1:])
            if len(X) == 0:
                continue
            if self.method in ("range", "none"):
                self._check_finite(X)
                count += len(X)
                continue
            axes = (0,) if self.per == "feature" else (0, *range(2, X.ndim))
            p_lo = X.min(axis=axes, keepdims=True)[0].astype(np.float64)
            p_hi = X.max(axis=axes, keepdims=True)[0].astype(np.float64)
            if not (np.isfinite(p_lo).all() and np.isfinite(p_hi).all()):
                self._check_finite(X)
            n = X.size // p_lo.size
            p_mean = X.sum(axis=axes, dtype=np.float64, keepdims=True)[0] / n
            p_m2 = np.square(X - p_mean).sum(axis=axes, keepdims=True)[0]
            if count == 0:
                lo, hi, mean, m2 = p_lo, p_hi, p_mean, p_m2
            else:
                lo, hi = np.minimum(lo, p_lo), np.maximum(hi, p_hi)
                delta, total = p_mean - mean, count + n
                mean = mean + delta * (n / total)
                m2 = m2 + p_m2 + np.square(delta) * (count * n / total)
            count += n
        if count == 0:
            raise DataError("Scaler.fit_chunks: the pieces hold no samples, expected at least one")
        if self.method in ("range", "none"):
            return self.fit(np.zeros((1, *shape), dtype=np.float32), value_range=value_range)
        offset, scale = self._offset_scale(lo, hi, mean, np.sqrt(m2 / count))
        self.feature_shape_ = shape
        self.offset_, self.scale_ = np.asarray(offset, dtype=np.float64), np.asarray(scale, dtype=np.float64)
        return self

    def _statistics(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Offset and scale, shaped ``feature_shape`` (per feature) or ``(C, 1, ...)`` (per channel)."""
        axes = (0,) if self.per == "feature" else (0, *range(2, X.ndim))  # the axes one statistic spans
        lo = X.min(axis=axes, keepdims=True)[0].astype(np.float64)
        hi = X.max(axis=axes, keepdims=True)[0].astype(np.float64)
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
            self._check_finite(X)
        if self.method == "minmax":
            return self._offset_scale(lo, hi, None, None)
        n = X.size // lo.size  # values per statistic
        mean = np.zeros(lo.shape, dtype=np.float64)
        for i in range(0, X.shape[0], _CHUNK):
            mean += X[i:i + _CHUNK].sum(axis=axes, dtype=np.float64, keepdims=True)[0]
        mean /= n
        var = np.zeros_like(mean)
        for i in range(0, X.shape[0], _CHUNK):
            var += np.square(X[i:i + _CHUNK] - mean).sum(axis=axes, keepdims=True)[0]
        return self._offset_scale(lo, hi, mean, np.sqrt(var / n))

    def _offset_scale(self, lo, hi, mean, std) -> tuple[np.ndarray, np.ndarray]:
        """(offset, scale) of "minmax" (from lo / hi) or "standard" (mean / std); constant features scale by 1."""
        constant = hi == lo
        if self.method == "minmax":
            return lo, np.where(constant, 1.0, hi - lo)
        return mean, np.where(constant | (std == 0), 1.0, std)

    @staticmethod
    def _check_finite(X: np.ndarray) -> None:
        bad = ~np.isfinite(X)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise DataError(f"Scaler.fit: X contains {int(bad.sum())} NaN/inf value(s), first at index {first}; "
                            "expected finite values")

    def fit_transform(self, X: Any, value_range: tuple[float, float] | None = None) -> np.ndarray:
        return self.fit(X, value_range).transform(X)

    # ------------------------------------------------------------------------------- transforming
    def _as_array(self, X: Any, caller: str) -> np.ndarray:
        X = np.asarray(X)
        if X.dtype.kind not in "biuf":
            raise TypeError(f"Scaler.{caller}: X has dtype {X.dtype}, expected a numeric array")
        if X.ndim < 2 and caller == "fit":
            raise DataError(f"Scaler.fit: X has shape {X.shape}, expected (n_samples, *feature_shape) with rank >= 2")
        return X

    def _checked(self, X: Any, caller: str) -> np.ndarray:
        if not self.is_fitted:
            raise NotFittedError(f"this Scaler({self.method!r}) is not fitted yet; call fit(X_train) before {caller}")
        X = self._as_array(X, caller)
        if tuple(X.shape[1:]) != self.feature_shape_ or X.ndim != len(self.feature_shape_) + 1:
            raise DataError(
                f"Scaler.{caller}: got X of shape {X.shape} with samples of shape {tuple(X.shape[1:])}, "
                f"expected samples of shape {self.feature_shape_} as seen by fit"
            )
        return X

    def transform(self, X: Any, *, copy: bool = True) -> np.ndarray:
        """Raw values -> model range. Returns float32 of the same shape as ``X``; ``copy=False`` scales a
        writable float32 array in place (and returns it), so that large data is not held twice."""
        X = self._checked(X, "transform")
        in_place = not copy and isinstance(X, np.ndarray) and X.dtype == np.float32 and X.flags.writeable
        out = X if in_place else np.array(X, dtype=np.float32, copy=True)
        if self.method != "none":
            out -= self.offset_.astype(np.float32)
            out /= self.scale_.astype(np.float32)
        return out

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Model range -> raw values. Returns float32 of the same shape as ``X``."""
        X = self._checked(X, "inverse_transform")
        out = np.array(X, dtype=np.float32, copy=True)
        if self.method != "none":
            out *= self.scale_.astype(np.float32)
            out += self.offset_.astype(np.float32)
        return out

    # ----------------------------------------------------------------------------- serialisation
    def to_dict(self) -> dict:
        """A JSON-serialisable description (plain lists of floats) that :meth:`from_dict` restores."""
        d: dict[str, Any] = {
            "format": _FORMAT,
            "version": _VERSION,
            "method": self.method,
            "value_range": None if self.value_range is None else [float(v) for v in self.value_range],
            "per": self.per,
            "feature_shape": None,
            "offset": None,
            "scale": None,
        }
        if self.is_fitted:
            d["feature_shape"] = list(self.feature_shape_)
            d["offset"] = [float(v) for v in np.ravel(self.offset_)]
            d["scale"] = [float(v) for v in np.ravel(self.scale_)]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Scaler":
        """Rebuild a scaler from :meth:`to_dict` output.

        Raises
        ------
        DataError
            Wrong type, unknown method or version, or offset / scale / shape that do not fit together.
        """
        if not isinstance(d, Mapping):
            raise DataError(f"Scaler.from_dict: expected a dict, got {type(d).__name__}")
        if d.get("format", _FORMAT) != _FORMAT:
            raise DataError(f"Scaler.from_dict: format is {d.get('format')!r}, expected {_FORMAT!r}")
        if d.get("version", _VERSION) != _VERSION:
            raise DataError(f"Scaler.from_dict: version is {d.get('version')!r}, expected {_VERSION}")
        method = d.get("method")
        if not isinstance(method, str) or method not in SCALER_METHODS:
            raise DataError(f"Scaler.from_dict: method is {method!r}, expected one of {SCALER_METHODS}")
        value_range = d.get("value_range")
        if value_range is not None:
            try:
                value_range = _check_value_range(value_range, "Scaler.from_dict: value_range")
            except ValueError as exc:
                raise DataError(str(exc)) from None
        try:
            per = _check_per(d.get("per", "feature"), "Scaler.from_dict: per")  # absent in older files
        except ValueError as exc:
            raise DataError(str(exc)) from None
        scaler = cls(method, value_range=value_range, per=per)
        shape, offset, scale = d.get("feature_shape"), d.get("offset"), d.get("scale")
        if shape is None and offset is None and scale is None:
            return scaler  # unfitted
        if not isinstance(shape, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                                                  for s in shape):
            raise DataError(f"Scaler.from_dict: feature_shape is {shape!r}, expected a list of positive ints")
        size = 1 if method in _GLOBAL else shape[0] if per == "channel" else math.prod(shape)
        for key, values in (("offset", offset), ("scale", scale)):
            if not isinstance(values, list) or len(values) != size or not all(_is_number(v) for v in values):
                got = f"{len(values)} values" if isinstance(values, list) else repr(values)
                raise DataError(
                    f"Scaler.from_dict: {key} is {got}, expected a list of {size} finite numbers "
                    f"for method {method!r}, per {per!r} and feature_shape {shape}"
                )
        if not all(v > 0 for v in scale):
            raise DataError("Scaler.from_dict: scale has values <= 0, expected positive values")
        if method == "range" and value_range is None:
            raise DataError("Scaler.from_dict: method 'range' needs value_range, got None")
        if method in _GLOBAL:
            target: tuple[int, ...] = ()
        elif per == "channel":
            target = (shape[0], *(1 for _ in shape[1:]))  # broadcasts over (C, ...)
        else:
            target = tuple(shape)
        scaler.feature_shape_ = tuple(shape)
        scaler.offset_ = np.asarray(offset, dtype=np.float64).reshape(target)
        scaler.scale_ = np.asarray(scale, dtype=np.float64).reshape(target)
        return scaler

    def __repr__(self) -> str:
        extra = f", value_range={self.value_range}" if self.method == "range" else ""
        if self.per != "feature" and self.method not in _GLOBAL:
            extra += f", per={self.per!r}"
        state = f"fitted on samples of shape {self.feature_shape_}" if self.is_fitted else "not fitted"
        return f"Scaler({self.method!r}{extra}) [{state}]"
