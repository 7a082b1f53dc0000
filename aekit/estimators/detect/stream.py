"""The series scorer part: per-row scores of a stream from the reconstruction errors of its windows.

``SurpriseNovelty`` (the module docstring of :mod:`aekit.estimators.series` cites where each device comes from):

* the *surprise*: how many standard deviations a row's error lies above the errors of every earlier row;
* the *novelty*: how far the row lies outside the range of every earlier value, in units of that range;
* *suppression*: a row keeps its combined score only when it exceeds the largest one of the ``suppress``
  rows before it, so that one event raises one alarm.

A scorer part reads the detector parameters it names in ``params`` and scores rows that follow a
:class:`StreamState` (its ``state_class``: a part that keeps more history adds fields in a subclass, saved
with the detector), moving the state past them; it never sees the model (the detector gives it each row's
error), so another part (rolling-window normalisation, say) is one class and one class attribute.

Parts are registered by name (:func:`register_series_scorer`): the detector's ``scorer`` parameter picks one,
so a user swaps them without a subclass (``--param scorer=likelihood`` on the command line).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

MIN_ERRORS = 10  # earlier errors needed before a surprise is computed
_SERIES_SCORERS: dict[str, type] = {}


def register_series_scorer(name: str):
    """Class decorator: make a series scorer part available as ``TimeSeriesAnomalyDetector(scorer=name)``."""
    def wrap(cls):
        _SERIES_SCORERS[name] = cls
        cls.name = name
        return cls
    return wrap


def get_series_scorer(name: str) -> type:
    """The series scorer part registered as ``name``."""
    if name not in _SERIES_SCORERS:
        raise ValueError(f"scorer={name!r} is not a registered series scorer; expected one of "
                         f"{sorted(_SERIES_SCORERS)}")
    return _SERIES_SCORERS[name]


def list_series_scorers() -> list[str]:
    """Names of the registered series scorer parts."""
    return sorted(_SERIES_SCORERS)


@dataclass
class StreamState:
    """What scoring the next row needs from the rows before it (all JSON-able through :meth:`to_dict`)."""

    _arrays: ClassVar[frozenset] = frozenset({"context", "lo", "hi", "recent", "buffer"})  # saved as lists

    context: np.ndarray                  # (<= window - 1, C) the last raw rows
    err_n: int = 0                       # errors seen, their sum and sum of squares (the surprise's reference)
    err_sum: float = 0.0
    err_sumsq: float = 0.0
    lo: np.ndarray | None = None         # (C,) the smallest and largest raw value seen per channel
    hi: np.ndarray | None = None
    recent: np.ndarray = field(default_factory=lambda: np.zeros(0))  # combined scores of the last rows
    since_refit: int = 0                 # the refit policy's: rows since the last refit
    buffer: np.ndarray | None = None     # (<= refit_history, C) raw rows kept for refits

    def to_dict(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "StreamState":
        return cls(**{k: (np.asarray(v, dtype=np.float64) if k in cls._arrays and v is not None else v)
                      for k, v in d.items()})


@register_series_scorer("surprise")
class SurpriseNovelty:
    """``combined = novelty_weight * novelty + error_weight * max(surprise - error_offset, 0)``, suppressed
    (``suppress`` rows), returned as ``combined / (1 + combined)`` in [0, 1)."""

    params: ClassVar[tuple[str, ...]] = ("novelty_weight", "error_weight", "error_offset", "suppress")
    state_class: ClassVar[type[StreamState]] = StreamState  # a part with more history subclasses StreamState

    def __init__(self, *, novelty_weight: float, error_weight: float, error_offset: float, suppress: int):
        self.novelty_weight, self.error_weight = float(novelty_weight), float(error_weight)
        self.error_offset, self.suppress = float(error_offset), int(suppress)

    @classmethod
    def of(cls, detector) -> "SurpriseNovelty":
        """The part configured by ``detector``'s parameters."""
        return cls(**{p: getattr(detector, p) for p in cls.params})

    def after_fit(self, state: StreamState) -> None:
        """The stream after the fit's rows starts with nothing to suppress."""
        state.recent = np.zeros(0)

    def score(self, state: StreamState, x: np.ndarray, err: np.ndarray) -> np.ndarray:
        """Scores ``(n,)`` of the raw rows ``x`` ``(n, C)`` that follow ``state``, whose windows have the mean
        errors ``err`` ``(n,)`` (NaN: no full window yet); moves ``state`` past them (not its ``context``)."""
        from scipy.ndimage import maximum_filter1d

        n = len(x)
        err = err.mean(axis=1) if err.ndim == 2 else err  # several views: their mean
        valid = np.isfinite(err)
        ev = np.where(valid, err, 0.0)
        # the surprise: error against the mean / std of all earlier errors
        count = state.err_n + np.cumsum(valid) - valid
        s1 = state.err_sum + np.cumsum(ev) - ev
        s2 = state.err_sumsq + np.cumsum(ev * ev) - ev * ev
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s1 / np.maximum(count, 1)
            sd = np.sqrt(np.maximum(s2 / np.maximum(count, 1) - mean * mean, 0.0))
            sd = np.maximum(sd, 1e-12 + 1e-6 * np.abs(mean))
            surprise = np.where(valid & (count >= MIN_ERRORS), (ev - mean) / sd, 0.0)
        # the novelty: distance outside the range of all earlier values, in units of that range
        lo0 = state.lo if state.lo is not None else np.full(x.shape[1], np.inf)
        hi0 = state.hi if state.hi is not None else np.full(x.shape[1], -np.inf)
        hi = np.maximum.accumulate(np.vstack([hi0, x]), axis=0)
        lo = np.minimum.accumulate(np.vstack([lo0, x]), axis=0)
        hi_prev, lo_prev = hi[:-1], lo[:-1]
        with np.errstate(invalid="ignore"):
            span = np.maximum(hi_prev - lo_prev, 1e-9 * np.maximum(1.0, np.abs(hi_prev)))
            out = np.maximum(np.maximum(x - hi_prev, lo_prev - x), 0.0) / span
        novelty = np.where(np.isfinite(out), out, 0.0).max(axis=1)
        combined = (self.novelty_weight * novelty
                    + self.error_weight * np.maximum(surprise - self.error_offset, 0.0))
        K = self.suppress
        if K > 0:
            past = np.r_[state.recent[-K:], combined]
            p = len(past) - n
            running = maximum_filter1d(past, K, origin=(K - 1) // 2, mode="constant", cval=-np.inf)  # max of [i-K+1, i]
            before = np.r_[-np.inf, running][p:p + n]  # the max over the K rows before each new row
            kept = np.where(combined > before, combined, 0.0)
            state.recent = past[-K:]
        else:
            kept = combined
        state.err_n += int(valid.sum())
        state.err_sum += float(ev.sum())
        state.err_sumsq += float((ev * ev).sum())
        state.lo, state.hi = lo[-1], hi[-1]
        return kept / (1.0 + kept)
