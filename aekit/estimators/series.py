"""Anomalies in time series: an autoencoder over sliding windows, scored causally as a stream.

Each row ``t`` of a series ``(T, C)`` is scored by the window of ``window`` rows that ends at it, so the
score at ``t`` uses rows up to ``t`` only. The default scorer part ("surprise") makes the score from three
known devices:

* the reconstruction error of that window by an autoencoder trained on normal windows (Malhotra et al.,
  "LSTM-based encoder-decoder for multi-sensor anomaly detection", ICML Anomaly Detection Workshop 2016),
  turned into a *surprise*: how many standard deviations it lies above the errors of every earlier row (the
  idea of Numenta's anomaly likelihood, Ahmad et al., "Unsupervised real-time anomaly detection for streaming
  data", Neurocomputing 2017: judge a raw score against the history of raw scores, not on its own scale);
* a *novelty*: how far the row lies outside the range of every earlier value, in units of that range (the
  "spatial anomaly" check of Numenta's NAB detector);
* *suppression*: a row keeps its combined score only when it exceeds the largest combined score of the
  ``suppress`` rows before it (NAB rewards the first detection in a window and charges every later one).

``combined = novelty_weight * novelty + error_weight * max(surprise - error_offset, 0)``, the score
``combined / (1 + combined)`` in [0, 1). The "likelihood" part is Numenta's own calibration instead. The
defaults were chosen on the 35 NAB files of the shared data (``benchmarks/timeseries.py``), one for all files.

Streams: :meth:`TimeSeriesAnomalyDetector.fit` trains on a first part, :meth:`update` scores new rows and keeps
them as history (with ``refit_every``, learning online from a replay of the recent past), and
:meth:`fit_stream` does both over a whole series, NAB's protocol. The parts
(:mod:`aekit.estimators.detect`): the series scorer part (``scorer``, or a ``stream_scorer`` class attribute),
the refit policy part (``refit_policy``) and the threshold part shared with :class:`~aekit.AnomalyDetector`.
"""
from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
from sklearn.base import OutlierMixin

from aekit.data.errors import DataError
from aekit.estimators._core import register_estimator
from aekit.estimators._series import SeriesEstimator
from aekit.estimators._state import Codec, saved_as
from aekit.estimators.detect.likelihood import LikelihoodState
from aekit.estimators.detect.refit import PeriodicRefit
from aekit.estimators.detect.stream import StreamState, get_series_scorer
from aekit.estimators.detect.views import window_view_errors
from aekit.estimators.detect.thresholds import THRESHOLD_CONSTRAINTS, THRESHOLD_STATE, Thresholded, anomaly_ranges
from aekit.models.base import list_models
from aekit.nab import probationary_length
from aekit.seeding import resolve_seeds
from aekit.validation import Boolean, Either, Instance, Integer, ListOf, NoneOr, Options, Real
from aekit.operations import Operation, verdict

__all__ = ["StreamState", "TimeSeriesAnomalyDetector", "anomaly_ranges"]  # the first two from the parts

@register_estimator("series-anomaly-detector")
class TimeSeriesAnomalyDetector(Thresholded, OutlierMixin, SeriesEstimator):
    """Per-timestamp anomaly scores in [0, 1] for a time series, from an autoencoder over sliding windows.

    ``X`` is one series: an array ``(T,)`` or ``(T, C)`` (rows are timestamps, columns channels) or an
    :class:`aekit.data.series.Series`. Rows are samples, so scikit-learn's ``fit`` / ``predict`` /
    ``fit_predict`` work per timestamp.

    Parameters
    ----------
    window : int, default 128
        Rows per window; row ``t`` is scored by the window ending at it. On the NAB files (median of three
        seeds, standard profile) 128 scored 57.8 against 56.0-56.3 for 32 and 51.4 for 16.
    latent_dim : int, default 4
    model : str, default "conv1d-seq"
        A sequence model: ``conv1d-seq``, ``lstm-seq`` or ``vae-seq``.
    scorer : str, default "surprise"
        The registered series scorer part that turns window errors into scores: "surprise" (the three devices
        of the module docstring, :mod:`~aekit.estimators.detect.stream`) or "likelihood" (NAB's numenta
        anomaly likelihood against a rolling history, max-combined with the spatial check,
        :mod:`~aekit.estimators.detect.likelihood`). On the NAB files (seed 0, standard profile) "surprise"
        scored 59.1 and "likelihood" 47.8 (benchmarks/results/timeseries-variants.md).
    scales : tuple of int or None, default None
        Views of each window: its error over its last ``s`` rows for each ``s`` (:mod:`~aekit.estimators.
        detect.views`); None: the whole window. "likelihood" takes the most surprised, "surprise" the mean.
    average, history, reestimate_every, learning_rows, spatial_tolerance, filter_repeats
        The "likelihood" part's settings, NAB's numenta detector's (10, 8640, 100, 0, 0.05, True): raw scores
        averaged over ``average`` rows, judged against the last ``history`` averaged scores (fit rows
        included), re-estimated every ``reestimate_every`` rows after the first ``learning_rows`` rows; a
        value more than ``spatial_tolerance`` of the seen range outside it scores 1; ``filter_repeats``:
        nupic's filter of repeated red-zone alarms.
    novelty_weight, error_weight, error_offset, suppress : default 1.0, 0.03, 6.0, 100
        The "surprise" part's settings (module docstring; ``suppress=0``: no suppression).
    refit_every, refit_history, refit_steps : default None, 4000, 20
        Online learning: in :meth:`update`, every ``refit_every`` rows (None: never) the autoencoder takes
        about ``refit_steps`` optimisation steps on a replay of every k-th window of the last
        ``refit_history`` rows (the past only). Off by default: on the NAB files 250 scored 57.0 (3 seeds,
        57.9/56.7/57.0) against 57.8 without, in 2.3 times the time (results/timeseries-variants.md).
    threshold : str, default "auto"
        A registered threshold rule; "auto": "nab", the threshold that optimises NAB's standard profile
        (on labelled rows given to :meth:`set_threshold`, else the one chosen on the NAB corpus for the
        default configuration, :data:`aekit.estimators.scoring.NAB_THRESHOLD`). The others ("percentile",
        "sigma", "robust", "max", "contamination") apply to the training scores as for AnomalyDetector.
    contamination, percentile, n_sigma : as in :class:`aekit.AnomalyDetector`.
    stride : int, default 1
        Rows between the starts of training windows.
    epochs : int, default 30
    batch_size, lr, min_steps, max_time, validation_fraction, scaler, model_params, random_state, device, verbose
        As in :class:`aekit.AnomalyDetector`.

    Attributes
    ----------
    threshold_ : float
    train_scores_ : ndarray (T_train,)
        Scores of the training rows (in-sample: the model saw them).
    state_ : StreamState
        The history :meth:`update` continues from.
    n_channels_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from aekit import TimeSeriesAnomalyDetector
    >>> t = np.arange(3000)
    >>> x = np.sin(2 * np.pi * t / 50) + 0.05 * np.random.default_rng(0).normal(size=t.size)
    >>> x[2500:2510] += 3                                             # an anomaly
    >>> det = TimeSeriesAnomalyDetector(epochs=5)
    >>> scores = det.fit_stream(x, train_fraction=0.3)             # causal: row t uses rows <= t
    >>> 2495 <= int(np.argmax(scores)) <= 2515
    True
    """

    _default_rule = "nab"  # threshold="auto" without a float contamination (detect/thresholds.py)
    stream_scorer = None             # a series scorer part class; None: the one the `scorer` parameter names
    refit_policy = PeriodicRefit     # the refit policy part (detect/refit.py)

    # beyond the family's: the threshold part's (with train_scores_) and the stream's history, saved as "stream"
    # (LikelihoodState holds every registered part's fields; a part with another state_class redeclares it)
    _fitted = {**SeriesEstimator._fitted, **THRESHOLD_STATE,
               "state_": saved_as(Codec(StreamState.to_dict, LikelihoodState.from_dict), "stream")}

    # what aekit apply, aekit serve and the explorer offer (aekit.operations): whole series, not windows
    purpose = "time-series anomaly detection"
    operations = (
        Operation("score", "series", ("anomaly_score", "is_anomaly"), "scores and verdicts of a series' rows taken "
                  "as the stream's continuation (the stream's state is not kept)", verdict),
        Operation("reconstruct", "series", ("reconstruction",), "the series rebuilt from its windows, raw units",
                  "reconstruct"),
        Operation("update", "series", ("anomaly_score", "is_anomaly"), "scores and verdicts of a stream's next "
                  "rows, kept as its history (a served model's stream moves on)",
                  lambda est, x: verdict(est, x, est.update(x)), stateful=True),
    )

    # tiny settings and a data family for tests/test_conformance.py (no scikit-learn checks: rows are timestamps,
    # each scored by the rows before it, so a row's score depends on its order)
    _conformance = {"data": "series", "params": {"window": 16, "epochs": 1, "suppress": 10, "batch_size": 32}}

    def __init__(self, window: int = 128, latent_dim: int = 4, *, model: str = "conv1d-seq",
                 model_params: dict | None = None, scorer: str = "surprise", novelty_weight: float = 1.0,
                 error_weight: float = 0.03,
                 error_offset: float = 6.0, suppress: int = 100, scales: tuple | None = None,
                 average: int = 10, history: int = 8640, reestimate_every: int = 100, learning_rows: int = 0,
                 spatial_tolerance: float = 0.05, filter_repeats: bool = True, refit_every: int | None = None,
                 refit_history: int = 4000, refit_steps: int = 20, threshold: str = "auto", contamination="auto",
                 percentile: float = 99.0, n_sigma: float = 3.0, stride: int = 1, epochs: int = 30,
                 batch_size: int = 64, lr: float = 3e-3, min_steps: int = 0, max_time: float | None = None,
                 validation_fraction: float = 0.0, scaler: str = "auto", random_state=0, device: str = "cpu",
                 verbose: bool = False):
        self.window = window
        self.latent_dim = latent_dim
        self.model = model
        self.model_params = model_params
        self.scorer = scorer
        self.novelty_weight = novelty_weight
        self.error_weight = error_weight
        self.error_offset = error_offset
        self.suppress = suppress
        self.scales = scales
        self.average = average
        self.history = history
        self.reestimate_every = reestimate_every
        self.learning_rows = learning_rows
        self.spatial_tolerance = spatial_tolerance
        self.filter_repeats = filter_repeats
        self.refit_every = refit_every
        self.refit_history = refit_history
        self.refit_steps = refit_steps
        self.threshold = threshold
        self.contamination = contamination
        self.percentile = percentile
        self.n_sigma = n_sigma
        self.stride = stride
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.min_steps = min_steps
        self.max_time = max_time
        self.validation_fraction = validation_fraction
        self.scaler = scaler
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    _constraints = {
        **SeriesEstimator._constraints,
        **THRESHOLD_CONSTRAINTS,
        "epochs": Either(Integer(1), Options("auto")),
        "batch_size": Either(Integer(1), Options("auto")),
        "min_steps": Integer(0),
        "window": Integer(2),
        "latent_dim": Integer(1),
        "novelty_weight": Real(0),
        "error_weight": Real(0),
        "error_offset": Real(),
        "suppress": Integer(0),
        "scorer": Instance(str),
        "scales": NoneOr(ListOf(Integer(1))),
        "average": Integer(1),
        "history": Integer(10),
        "reestimate_every": Integer(1),
        "learning_rows": Integer(0),
        "spatial_tolerance": Real(0),
        "filter_repeats": Boolean(),
        "refit_every": NoneOr(Integer(1)),
        "refit_history": Integer(2),
        "refit_steps": Integer(1),
        "stride": Integer(1),
    }

    # ------------------------------------------------------------------------------------ fitting
    def _check_params(self) -> None:
        super()._check_params()
        self._check_threshold_params()
        if self.model not in list_models("sequence"):
            raise ValueError(f"TimeSeriesAnomalyDetector: model={self.model!r} is not a sequence model; expected one "
                             f"of {list_models('sequence')}")
        if self.stream_scorer is None:
            get_series_scorer(self.scorer)  # refuses an unknown name, listing the registered ones

    def _batch_size(self) -> int:
        return int(self.batch_size) if self.batch_size != "auto" else 64

    def _epochs(self) -> int:
        return int(self.epochs) if self.epochs != "auto" else 20

    def fit(self, X, y=None):
        """Train on the windows of the series ``X`` and start the stream after its last row; returns ``self``."""
        self._check_params()
        x = self._read_series(X, reset=True)
        raw_windows = self._raw_windows(x, int(self.stride))  # (n, C, window)
        self._learn_windows(x, raw_windows)
        fitted = self._train(raw_windows, seeds=resolve_seeds(self.random_state).member(0),
                             model=self._model_spec(tuple(raw_windows.shape[1:])), objective="mse",
                             epochs=self._epochs_for(len(raw_windows)))
        self._keep(fitted)
        self.state_ = self._new_state()
        self.train_scores_ = self._advance(self.state_, x)
        part = self._scorer_part().of(self)
        if hasattr(part, "after_fit"):  # an optional hook: e.g. no in-sample errors as the stream's reference
            part.after_fit(self.state_)
        self._set_threshold_from(self.train_scores_, self._rule())
        return self

    def _scorer_part(self) -> Any:
        """The series scorer part class: the ``stream_scorer`` class attribute, else the ``scorer`` one."""
        return self.stream_scorer or get_series_scorer(self.scorer)

    def _new_state(self) -> StreamState:
        return self._scorer_part().state_class(context=np.zeros((0, self.n_channels_)),
                                              buffer=self.refit_policy.of(self).new_buffer(self.n_channels_))

    def fit_stream(self, X, *, train_fraction: float | None = None, train_rows: int | None = None) -> np.ndarray:
        """NAB's protocol over one series: fit on its first ``train_rows`` rows (default: ``train_fraction`` of
        them, or without it NAB's probationary period, 15 % of the rows and at most 750; at least
        ``window + 1``), then score the rest in order with :meth:`update`. Returns ``(T,)`` scores; the
        training rows score 0 (they are the warm-up). Each score uses only the rows up to its own."""
        if train_fraction is not None and not (isinstance(train_fraction, (int, float)) and 0 < train_fraction < 1):
            raise ValueError(f"train_fraction must lie in (0, 1) or be None, got {train_fraction!r}")
        x = self._read_series(X, reset=True)
        if train_rows is not None:
            n_train = int(train_rows)
        else:
            n_train = (probationary_length(len(x)) if train_fraction is None
                       else int(math.floor(train_fraction * len(x))))
        n_train = max(n_train, int(self.window) + 1)
        if n_train >= len(x):
            raise DataError(f"{len(x)} rows leave nothing to score after training on {n_train} rows; expected more "
                            f"than {n_train} rows (or a smaller window / train_fraction)")
        self.fit(x[:n_train])
        return np.r_[np.zeros(n_train), self.update(x[n_train:])]

    # ------------------------------------------------------------------------------------ scoring
    def _row_errors(self, state: StreamState, x: np.ndarray, scales: tuple[int, ...] | None = None) -> np.ndarray:
        """``(n, C)`` errors of the windows ending at each row of ``x`` after ``state.context``, or ``(n, C, V)``
        over their last ``s`` rows for each ``s`` of ``scales`` (:mod:`~aekit.estimators.detect.views`); NaN for
        rows with fewer than ``window`` rows up to them."""
        L, n = int(self.window), len(x)
        full = np.concatenate([state.context, x])
        m = len(state.context)
        first = max(0, L - 1 - m)  # the first row of x with a full window
        err = np.full((n, self.n_channels_, len(scales or (L,))), np.nan)
        if first < n:
            err[first:] = window_view_errors(self.autoencoder_.model,
                                             self._scaled_windows(full[m + first - (L - 1):]), scales or (L,))
        return err if scales else err[:, :, 0]

    def _advance(self, state: StreamState, x: np.ndarray) -> np.ndarray:
        """Score the rows ``x`` ``(n, C)`` that follow ``state`` and move ``state`` past them."""
        if len(x) == 0:
            return np.zeros(0)
        scales = tuple(min(int(s), int(self.window)) for s in (self.scales or (self.window,)))
        err = self._row_errors(state, x, scales).mean(axis=1)  # (n, V): one column per view
        scores = self._scorer_part().of(self).score(state, x, err[:, 0] if err.shape[1] == 1 else err)
        state.context = np.concatenate([state.context, x])[-(int(self.window) - 1):]
        return scores

    def update(self, X) -> np.ndarray:
        """Score new rows that follow everything seen so far, keep them as history; returns ``(n,)`` scores.
        Every ``refit_every`` rows the autoencoder learns from the recent past (before the rows after it)."""
        self._check_fitted()
        return self.refit_policy.of(self).run(self, self.state_, self._read_series(X, reset=False))

    def anomaly_score(self, X) -> np.ndarray:
        """Scores ``(T,)`` of the rows of ``X`` taken as the continuation of the stream, without keeping them
        (``update`` keeps them). Higher is more abnormal."""
        self._check_fitted()
        return self._advance(copy.deepcopy(self.state_), self._read_series(X, reset=False))

    def error_map(self, X) -> np.ndarray:
        """Squared reconstruction error per row and channel ``(T, C)`` (scaled units) of the window ending at each
        row, with ``X`` taken as the continuation of the stream; rows without a full window are NaN."""
        self._check_fitted()
        return self._row_errors(self.state_, self._read_series(X, reset=False))

    def reconstruct(self, X) -> np.ndarray:
        """Reconstruction ``(T, C)`` of a series from its non-overlapping windows (raw units; the last
        ``T mod window`` rows from the last full window)."""
        self._check_fitted()
        x = self._read_series(X, reset=False)
        L = int(self.window)
        if len(x) < L:
            raise DataError(f"X: {len(x)} rows, fewer than one window of {L} rows")
        starts = list(range(0, len(x) - L + 1, L))
        if starts[-1] + L < len(x):
            starts.append(len(x) - L)
        w = np.stack([x[s:s + L].T for s in starts]).astype(np.float32)  # (k, C, L)
        rec = self._reconstruct(w)
        out = np.empty_like(x)
        for s, r in zip(starts, rec):
            out[s:s + L] = r.T
        return out

    def ranges(self, scores, timestamps=None) -> list[list]:
        """Merged anomaly ranges ``[[start, end], ...]``: each row scored above ``threshold_`` flags the window
        of ``window`` rows ending at it; overlapping or touching windows merge. Row numbers, or timestamps
        (ISO strings) when ``timestamps`` is given."""
        self._check_fitted()
        return anomaly_ranges(np.asarray(scores) > self.threshold_, int(self.window), timestamps)
