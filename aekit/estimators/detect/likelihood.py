"""The calibrated series scorer part: an anomaly likelihood against a rolling history of raw scores.

``AnomalyLikelihood`` follows NAB's numenta detector (Ahmad et al., "Unsupervised real-time anomaly detection
for streaming data", Neurocomputing 2017; NAB's ``numenta_detector`` and nupic's ``anomaly_likelihood``), with
an autoencoder's window errors as the raw scores:

1. each *view* of a row (reconstruction error, next-block prediction error, at each time scale: the columns of
   ``err``) gives a raw score, ``log(error)`` (window errors are heavy-tailed and scale-free, their logarithm
   is near Gaussian);
2. the raw scores are averaged over the last ``average`` rows;
3. each averaged score gets a Gaussian tail probability under the mean and standard deviation of the averaged
   scores of the last ``history`` rows, re-estimated every ``reestimate_every`` rows, after a learning period
   of ``learning_rows`` rows (the probability is 0.5 until then); the fit's rows are in that history (leaving
   their in-sample errors out scored lower on NAB: 45.3 against 47.8, benchmarks/results/timeseries-variants.md);
4. the views are combined by their smallest tail probability (the most surprised view decides);
5. with ``filter_repeats``, nupic's filter of repeated alarms: a tail below ``1 - 0.99999`` (the red zone)
   right after another one in the red zone is raised to ``1 - 0.999`` (one event, one alarm: NAB charges
   every later detection outside a window, and a short average keeps a spike red for ``average`` rows);
6. the likelihood ``L = 1 - tail`` is reported as ``log(1.0000000001 - L) / log(1.0 - 0.9999999999)`` in [0, 1];
7. the spatial check: a value more than ``spatial_tolerance`` of the seen range outside that range scores 1.

Everything is kept in :class:`LikelihoodState` (saved with the detector), and rows are processed in order, so
scoring a stream in chunks gives the scores of one pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from aekit.estimators.detect.stream import StreamState, register_series_scorer

LOG_EPS = 1e-10  # NAB's 1.0000000001 and 0.9999999999
RED, YELLOW = 1.0 - 0.99999, 1.0 - 0.999  # nupic's anomaly_likelihood: _filterLikelihoods' red and yellow zones


@dataclass
class LikelihoodState(StreamState):
    """:class:`StreamState` plus the likelihood's clock and rolling history."""

    _arrays: ClassVar[frozenset] = StreamState._arrays | {"raw_recent", "history", "mean", "sd"}

    rows: int = 0                        # rows seen by the likelihood since the stream began
    last_tail: float = 1.0               # the previous row's combined tail before the repeat filter
    raw_recent: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (< average, V) last raw scores
    history: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))     # (<= history, V) averaged scores
    mean: np.ndarray | None = None       # (V,) the current estimate, None before the first one
    sd: np.ndarray | None = None


def _log_raw(err: np.ndarray) -> np.ndarray:
    """Raw scores of window errors: their logarithm (NaN stays NaN: no full window yet)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.maximum(err, 1e-30))


@register_series_scorer("likelihood")
class AnomalyLikelihood:
    """Numenta's anomaly likelihood over one or more views of window errors, max-combined with the spatial
    check (module docstring)."""

    params: ClassVar[tuple[str, ...]] = ("average", "history", "reestimate_every", "learning_rows",
                                         "spatial_tolerance", "filter_repeats")
    state_class: ClassVar[type[StreamState]] = LikelihoodState

    def __init__(self, *, average: int, history: int, reestimate_every: int, learning_rows: int,
                 spatial_tolerance: float, filter_repeats: bool = True):
        self.average, self.history, self.every = int(average), int(history), int(reestimate_every)
        self.learning, self.tolerance = int(learning_rows), float(spatial_tolerance)
        self.filter_repeats = bool(filter_repeats)

    @classmethod
    def of(cls, detector) -> AnomalyLikelihood:
        """The part configured by ``detector``'s parameters."""
        return cls(**{p: getattr(detector, p) for p in cls.params})

    # ------------------------------------------------------------------------------------ pieces
    def averaged(self, state: LikelihoodState, raw: np.ndarray) -> np.ndarray:
        """``(n, V)`` means of the last ``average`` raw scores up to each row (rows without a raw score, NaN,
        are left out); moves ``state.raw_recent`` on."""
        V = raw.shape[1]
        past = state.raw_recent if state.raw_recent.shape[1:] == (V,) else np.zeros((0, V))
        full = np.vstack([past, raw])
        ok = np.isfinite(full)
        c = np.vstack([np.zeros((1, V)), np.cumsum(np.where(ok, full, 0.0), axis=0)])
        k = np.vstack([np.zeros((1, V)), np.cumsum(ok, axis=0)])
        i = np.arange(len(past) + 1, len(full) + 1)
        lo = np.maximum(0, i - self.average)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = (c[i] - c[lo]) / (k[i] - k[lo])
        state.raw_recent = full[-(self.average - 1):] if self.average > 1 else full[:0]
        return out

    def tails(self, state: LikelihoodState, avg: np.ndarray) -> np.ndarray:
        """``(n, V)`` Gaussian upper-tail probabilities of the averaged scores ``avg`` against the rolling
        history (0.5 in the learning period or without an estimate); moves the history and the clock on."""
        from scipy.special import ndtr

        n, V = avg.shape
        hist = state.history if state.history.shape[1:] == (V,) else np.zeros((0, V))
        out = np.full((n, V), 0.5)
        i = 0
        while i < n:
            clock = state.rows + i
            if clock >= self.learning and (clock - self.learning) % self.every == 0:  # at fixed clock ticks only,
                state.mean, state.sd = self._estimate(hist)   # so chunks see the ticks of one pass
            j = min(n, i + self.every - ((clock - self.learning) % self.every) if clock >= self.learning
                    else i + self.learning - clock)
            if state.mean is not None and clock >= self.learning:
                with np.errstate(invalid="ignore"):
                    z = (avg[i:j] - state.mean) / state.sd
                out[i:j] = np.where(np.isfinite(z), 1.0 - ndtr(np.nan_to_num(z)), 0.5)
            hist = np.vstack([hist, avg[i:j]])[-self.history:]
            i = j
        state.history, state.rows = hist, state.rows + n
        return out

    @staticmethod
    def _estimate(hist: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Mean and standard deviation per view of the finite rows of ``hist`` (None with fewer than 10)."""
        ok = np.isfinite(hist)
        if ok.sum(axis=0).min() < 10:
            return None, None
        mean = np.nanmean(hist, axis=0)
        sd = np.nanstd(hist, axis=0)
        return mean, np.maximum(sd, 1e-6 * np.maximum(np.abs(mean), 1.0))

    def filtered(self, state: LikelihoodState, tail: np.ndarray) -> np.ndarray:
        """``(n,)`` combined tails with repeated red-zone alarms raised to the yellow zone (module docstring);
        moves ``state.last_tail`` on."""
        if not self.filter_repeats or len(tail) == 0:
            return tail
        prev = np.r_[state.last_tail, tail[:-1]]
        state.last_tail = float(tail[-1])
        return np.where((tail <= RED) & (prev <= RED), YELLOW, tail)

    def spatial(self, state: StreamState, x: np.ndarray) -> np.ndarray:
        """``(n,)`` True where a value lies more than ``spatial_tolerance`` of the range of the earlier values
        outside that range, in any channel; moves ``state.lo`` / ``state.hi`` on."""
        lo0 = state.lo if state.lo is not None else np.full(x.shape[1], np.inf)
        hi0 = state.hi if state.hi is not None else np.full(x.shape[1], -np.inf)
        hi = np.maximum.accumulate(np.vstack([hi0, x]), axis=0)
        lo = np.minimum.accumulate(np.vstack([lo0, x]), axis=0)
        hp, lp = hi[:-1], lo[:-1]
        with np.errstate(invalid="ignore"):
            span = hp - lp
            out = ((x > hp + self.tolerance * span) | (x < lp - self.tolerance * span)) & (span > 0)
        state.lo, state.hi = lo[-1], hi[-1]
        return np.asarray(out.any(axis=1))

    # ------------------------------------------------------------------------------------ the part
    def score(self, state: LikelihoodState, x: np.ndarray, err: np.ndarray) -> np.ndarray:
        """Scores ``(n,)`` in [0, 1] of the raw rows ``x`` ``(n, C)`` that follow ``state``, whose views have
        the window errors ``err`` ``(n,)`` or ``(n, V)`` (NaN: no full window yet); moves ``state`` past them
        (not its ``context``)."""
        err = np.asarray(err, dtype=np.float64)
        raw = _log_raw(err.reshape(len(err), -1))
        tail = self.filtered(state, self.tails(state, self.averaged(state, raw)).min(axis=1))
        likelihood = 1.0 - tail
        log_score = np.log(1.0 + LOG_EPS - likelihood) / np.log(LOG_EPS)
        return np.where(self.spatial(state, x), 1.0, np.clip(log_score, 0.0, 1.0))
