"""The Numenta Anomaly Benchmark (NAB v1.1) scorer for streaming anomaly detectors.

A. Lavin and S. Ahmad, "Evaluating Real-time Anomaly Detection Algorithms - the Numenta Anomaly
Benchmark", IEEE ICMLA 2015 (arXiv 1510.03336), with the scoring rules as NAB v1.1 documents and
publishes them (the corpus' ``combined_windows.json``, the profiles, the per-file results tables).

The rules, as implemented here:

1. **Windows.** Every labelled anomaly sits in a window of rows ``[start, end]`` (NAB's windows span 10 %
   of a file's rows divided among its anomalies; they are given, read with :func:`load_windows`).
   Window limits are timestamps; a window holds the rows whose timestamps lie inside them.
2. **Probationary period.** The first ``min(floor(0.15 * n), 0.15 * 5000)`` rows of an ``n``-row file
   are the detector's warm-up: detections there are neither rewarded nor penalised, and those rows are
   left out of the TP/FP/TN/FN counts. (NAB's windows all lie after it; one that did not would still
   count as a window, missed unless detected after the probationary period.)
3. **Detections.** A row is a detection when its anomaly score is ``>= threshold``.
4. **Scaled sigmoid.** Each detection is weighted by its position ``y`` relative to a window through
   ``sigma(y) = 2 / (1 + exp(5 y)) - 1`` (``-1`` once ``y > 3``), which falls from ~+1 through 0 to -1:

   - inside a window of ``w`` rows ending at row ``r``, row ``i`` has ``y = -(r - i + 1) / w``, from
     -1 at the window's first row to ``-1/w`` at its last; the detection earns
     ``A_TP * sigma(y) / sigma(-1)``: exactly ``A_TP`` on the first row, ~0 on the last;
   - after a window (``w`` rows ending at row ``r``) and before the next one, row ``i`` has
     ``y = (i - r) / (w - 1)`` and the detection costs ``A_FP * sigma(y)``: little just after the
     window, ``-A_FP`` far from it;
   - before the first window of a file a false positive costs ``-A_FP``.

   (The paper writes one curve, ``(A_TP - A_FP) / (1 + exp(5y)) - 1``. NAB v1.1's published scores
   are the unit curve above, rescaled by ``A_TP / sigma(-1)`` inside windows and by ``A_FP`` outside
   them: that, and only that, reproduces its per-file results tables digit for digit.)
5. **One detection per window.** Only a window's earliest detection counts (it has the largest
   sigmoid); a window with no detection costs ``-A_FN``. Later detections in a window add nothing.
   A file's raw score is the sum over its windows plus the sum over its false positives; ``A_TN``
   is part of each profile but weighs nothing.
6. **Profiles.** :data:`NAB_PROFILES`: ``standard`` (A_TP 1, A_FP 0.11, A_TN 1, A_FN 1),
   ``reward_low_FP_rate`` (A_FP 0.22) and ``reward_low_FN_rate`` (A_FN 2).
7. **Threshold optimisation.** A detector gets one threshold per profile for the whole corpus: the
   one that maximises the corpus' summed raw score. Every distinct anomaly score is a candidate; one
   sweep from the highest down scores them all (the sweep NAB adopted in place of its earlier hill
   climbing). Ties go to the highest threshold.
8. **Normalisation.** ``100 * (S - S_null) / (S_perfect - S_null)``, where the null detector (no
   detections) scores ``S_null = -n_windows * A_FN`` and the perfect one ``S_perfect = n_windows * A_TP``.

Everything here is numpy and the standard library.
"""
from __future__ import annotations

import json
import math
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, NamedTuple, Sequence

import numpy as np

PROBATIONARY_FRACTION = 0.15   # of a file's rows, before scoring starts
PROBATIONARY_CAP_ROWS = 5000   # the fraction is applied to at most this many rows (750 rows)


@dataclass(frozen=True)
class NABProfile:
    """The weights of one NAB application profile."""

    a_tp: float  # reward for a window's earliest detection, times the scaled sigmoid
    a_fp: float  # cost of a detection outside every window, times the scaled sigmoid
    a_tn: float  # weight of a true negative (published with each profile; it scores nothing)
    a_fn: float  # cost of a window without any detection


NAB_PROFILES: Mapping[str, NABProfile] = types.MappingProxyType({
    "standard": NABProfile(a_tp=1.0, a_fp=0.11, a_tn=1.0, a_fn=1.0),
    "reward_low_FP_rate": NABProfile(a_tp=1.0, a_fp=0.22, a_tn=1.0, a_fn=1.0),
    "reward_low_FN_rate": NABProfile(a_tp=1.0, a_fp=0.11, a_tn=1.0, a_fn=2.0),
})


class FileScore(NamedTuple):
    """One file's raw NAB score and its row counts after the probationary period (``total``: all rows)."""

    score: float
    tp: int
    fp: int
    tn: int
    fn: int
    total: int


class NABFile(NamedTuple):
    """One data file to score: its timestamps, the detector's anomaly scores, and its windows."""

    timestamps: np.ndarray      # (n,) datetime64 or "YYYY-MM-DD HH:MM:SS" strings, in file order
    anomaly_scores: np.ndarray  # (n,) floats
    windows: np.ndarray         # (k, 2) [start, end] timestamps


class CorpusScore(NamedTuple):
    """A detector's NAB result on a corpus under one profile."""

    threshold: float
    score: float         # summed raw score of the files
    normalized: float    # 0 for the null detector, 100 for the perfect one; NaN without windows
    n_windows: int
    files: dict[str, FileScore]


def get_profile(profile: str | NABProfile) -> NABProfile:
    """The :class:`NABProfile` named ``profile`` (one of :data:`NAB_PROFILES`), or ``profile`` itself."""
    if isinstance(profile, NABProfile):
        return profile
    if isinstance(profile, str) and profile in NAB_PROFILES:
        return NAB_PROFILES[profile]
    raise ValueError(f"profile={profile!r} is not a NAB profile; expected one of {sorted(NAB_PROFILES)} "
                     "or an NABProfile")


def probationary_length(n_rows: int) -> int:
    """The number of leading rows NAB leaves unscored in a file of ``n_rows`` rows."""
    return int(min(math.floor(PROBATIONARY_FRACTION * n_rows), PROBATIONARY_FRACTION * PROBATIONARY_CAP_ROWS))


def scaled_sigmoid(y) -> np.ndarray:
    """NAB's position weight ``2 / (1 + exp(5 y)) - 1``, and -1 for ``y > 3`` (rule 4 above)."""
    y = np.asarray(y, np.float64)
    with np.errstate(over="ignore"):
        return np.where(y > 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * y)) - 1.0)


# sigma(-1) = 0.98661, at a window's first row: in-window weights are divided by it so that the
# earliest possible detection earns exactly A_TP (and the perfect detector n_windows * A_TP)
MAX_TP_SIGMOID = float(scaled_sigmoid(-1.0))


def to_datetimes(values, *, name: str = "timestamps") -> np.ndarray:
    """``values`` (strings such as "2014-04-10 07:15:00[.000000]", datetimes, datetime64) as datetime64[us]."""
    try:
        return np.asarray(values, dtype="datetime64[us]")
    except (ValueError, TypeError) as e:
        raise ValueError(f"{name}: cannot read {values!r:.80} as timestamps ({e})") from None


def load_windows(path) -> dict[str, np.ndarray]:
    """NAB's ``combined_windows.json``: ``{"<category>/<file>.csv": (k, 2) datetime64[us] [start, end]}``."""
    raw = json.loads(Path(path).read_text())
    return {name: to_datetimes(ws, name=f"{path}: {name}").reshape(-1, 2) for name, ws in raw.items()}


def load_labels(path) -> dict[str, np.ndarray]:
    """NAB's ``combined_labels.json``: ``{"<category>/<file>.csv": (k,) datetime64[us] anomaly times}``."""
    raw = json.loads(Path(path).read_text())
    return {name: to_datetimes(ts, name=f"{path}: {name}").reshape(-1) for name, ts in raw.items()}


def window_rows(timestamps, windows) -> np.ndarray:
    """(k, 2) ints: the first and last row of each window, the rows whose timestamps lie in ``[start, end]``.

    Each window's rows must be one run of consecutive rows, and the windows in order and disjoint. The
    timestamps need not be monotonic elsewhere: NAB's own files repeat or step back an hour at
    daylight-saving changes.
    """
    ts = to_datetimes(timestamps)
    if ts.ndim != 1:
        raise ValueError(f"timestamps must be one-dimensional, got shape {ts.shape}")
    ws = to_datetimes(windows, name="windows").reshape(-1, 2)   # (k, 2)
    rows = np.zeros((len(ws), 2), np.int64)
    for k, (start, end) in enumerate(ws):
        inside = np.flatnonzero((ts >= start) & (ts <= end))
        if inside.size == 0:
            raise ValueError(f"window [{start}, {end}] holds no row of the file")
        if inside[-1] - inside[0] + 1 != inside.size:
            raise ValueError(f"window [{start}, {end}]: its rows {inside[0]}..{inside[-1]} are not consecutive")
        rows[k] = inside[0], inside[-1]
    if len(rows) > 1 and np.any(rows[1:, 0] <= rows[:-1, 1]):
        raise ValueError(f"windows must be in time order and disjoint, got {ws.astype(str).tolist()}")
    return rows


class _Rows(NamedTuple):
    """Per-row scoring terms of one file."""

    weighted: np.ndarray  # (n,) what a detection on that row adds to the score (before rule 5)
    window: np.ndarray    # (n,) index of the row's window, -1 outside every window
    scored: np.ndarray    # (n,) bool, False in the probationary period
    n_windows: int


def _row_terms(timestamps, windows, profile: NABProfile) -> _Rows:
    ts = to_datetimes(timestamps)
    rows = window_rows(ts, windows)
    n = len(ts)
    i = np.arange(n)
    window = np.full(n, -1, np.int64)
    y = np.full(n, np.inf)   # before the first window: sigma = -1
    for k, (lo, hi) in enumerate(rows):
        width = hi - lo + 1
        window[lo:hi + 1] = k
        y[lo:hi + 1] = -(hi - i[lo:hi + 1] + 1) / width
        after_end = rows[k + 1, 0] if k + 1 < len(rows) else n
        y[hi + 1:after_end] = (i[hi + 1:after_end] - hi) / (width - 1) if width > 1 else np.inf
    sigma = scaled_sigmoid(y)
    weighted = np.where(window >= 0, profile.a_tp * sigma / MAX_TP_SIGMOID, profile.a_fp * sigma)
    scored = i >= probationary_length(n)
    return _Rows(weighted, window, scored, len(rows))


def _anomaly_scores(anomaly_scores, n: int) -> np.ndarray:
    a = np.asarray(anomaly_scores, np.float64)
    if a.shape != (n,):
        raise ValueError(f"anomaly_scores has shape {a.shape}, expected ({n},) like the timestamps")
    if not np.all(np.isfinite(a)):
        raise ValueError("anomaly_scores holds NaN or infinite values")
    return a


def _score(a: np.ndarray, terms: _Rows, threshold: float, profile: NABProfile) -> FileScore:
    detected = (a >= threshold) & terms.scored
    inside = terms.window >= 0
    fp_rows = detected & ~inside
    score = float(np.sum(terms.weighted[fp_rows]))
    for k in range(terms.n_windows):
        hits = np.flatnonzero(detected & (terms.window == k))
        score += float(terms.weighted[hits[0]]) if hits.size else -profile.a_fn   # the earliest detection only
    tp = int(np.sum(detected & inside))
    fp = int(np.sum(fp_rows))
    fn = int(np.sum(terms.scored & inside)) - tp
    tn = int(np.sum(terms.scored & ~inside)) - fp
    return FileScore(score, tp, fp, tn, fn, len(a))


def score_file(timestamps, anomaly_scores, windows, *, threshold: float,
               profile: str | NABProfile = "standard") -> FileScore:
    """Score one file's anomaly scores at ``threshold`` under a NAB profile (rules 1-5 above).

    Examples
    --------
    >>> import numpy as np
    >>> ts = np.arange("2014-01-01T00:00", "2014-01-01T10:00", 5, dtype="datetime64[m]")  # 120 rows
    >>> scores = np.zeros(120)
    >>> scores[60] = 1.0                                                   # the window's first row
    >>> window = [["2014-01-01T05:00", "2014-01-01T06:00"]]
    >>> score_file(ts, scores, window, threshold=0.5)
    FileScore(score=1.0, tp=1, fp=0, tn=89, fn=12, total=120)
    >>> scores[100] = 1.0                                                  # and a false positive
    >>> round(score_file(ts, scores, window, threshold=0.5).score, 4)
    0.89
    """
    terms = _row_terms(timestamps, windows, get_profile(profile))
    return _score(_anomaly_scores(anomaly_scores, len(terms.scored)), terms, float(threshold), get_profile(profile))


def _as_file(f) -> NABFile:
    return f if isinstance(f, NABFile) else NABFile(*f)


def _files(files) -> dict[str, NABFile]:
    items = files.items() if isinstance(files, Mapping) else enumerate(files)
    out = {name: _as_file(f) for name, f in items}
    if not out:
        raise ValueError("files is empty; expected at least one (timestamps, anomaly_scores, windows)")
    return out


def optimize_threshold(files: Mapping[str, NABFile] | Sequence[NABFile], *,
                       profile: str | NABProfile = "standard") -> tuple[float, float]:
    """The corpus-wide threshold that maximises the summed raw score, and that score (rule 7 above).

    Every distinct anomaly score after the probationary periods is a candidate (``inf``, "detect
    nothing", too); the sweep walks them from the highest down, adding each row's false-positive cost
    or its window's gain from an earlier detection. Ties go to the highest threshold.
    """
    prof = get_profile(profile)
    named = _files(files)
    a_all, w_all, win_all, row_all, n_windows = [], [], [], [], 0
    for f in named.values():
        terms = _row_terms(f.timestamps, f.windows, prof)
        a = _anomaly_scores(f.anomaly_scores, len(terms.scored))
        keep = terms.scored
        a_all.append(a[keep])
        w_all.append(terms.weighted[keep])
        win_all.append(np.where(terms.window[keep] >= 0, terms.window[keep] + n_windows, -1))
        row_all.append(np.flatnonzero(keep))
        n_windows += terms.n_windows
    a, weighted, window, row = (np.concatenate(v) for v in (a_all, w_all, win_all, row_all))
    order = np.argsort(-a, kind="stable")          # the sweep, highest anomaly score first
    a, weighted, window, row = a[order], weighted[order], window[order], row[order]
    gain = np.where(window < 0, weighted, 0.0)     # (m,) score change when the sweep reaches each row
    inside = np.flatnonzero(window >= 0)
    by_window = inside[np.lexsort((inside, window[inside]))]   # grouped by window, in sweep order
    # a row changes its window's score when it is earlier than every detection already made there:
    # a running minimum of the row index, restarted per window by offsetting each window below the last
    key = row[by_window] - window[by_window] * (int(row.max(initial=0)) + 1)
    new_first = by_window[key == np.minimum.accumulate(key)]
    starts = np.r_[True, window[new_first][1:] != window[new_first][:-1]]
    previous = np.r_[0.0, weighted[new_first][:-1]]
    gain[new_first] += np.where(starts, weighted[new_first] + prof.a_fn, weighted[new_first] - previous)
    score = -prof.a_fn * n_windows + np.cumsum(gain)
    last_of_tie = np.r_[a[1:] != a[:-1], True] if a.size else np.zeros(0, bool)
    thresholds = np.r_[np.inf, a[last_of_tie]]
    scores = np.r_[-prof.a_fn * n_windows, score[last_of_tie]]
    best = int(np.argmax(scores))                  # the first maximum: the highest threshold among ties
    threshold = float(thresholds[best])
    return threshold, score_corpus(named, profile=prof, threshold=threshold).score


def normalized_score(raw_total: float, n_windows: int, *, profile: str | NABProfile = "standard") -> float:
    """``100 * (S - S_null) / (S_perfect - S_null)`` with ``S_null = -n_windows * A_FN`` (no detections)
    and ``S_perfect = n_windows * A_TP`` (rule 8 above)."""
    prof = get_profile(profile)
    if not isinstance(n_windows, (int, np.integer)) or n_windows < 1:
        raise ValueError(f"n_windows={n_windows!r} must be a positive integer")
    null, perfect = -n_windows * prof.a_fn, n_windows * prof.a_tp
    return float(100.0 * (raw_total - null) / (perfect - null))


def score_corpus(files: Mapping[str, NABFile] | Sequence[NABFile], *, profile: str | NABProfile = "standard",
                 threshold: float | None = None) -> CorpusScore:
    """Score a detector on a corpus: every file at one threshold (``None``: the optimised one).

    ``files`` maps names to :class:`NABFile` s or ``(timestamps, anomaly_scores, windows)`` tuples
    (a sequence is named by position).
    """
    prof = get_profile(profile)
    named = _files(files)
    if threshold is None:
        threshold, _ = optimize_threshold(named, profile=prof)
    per_file, n_windows = {}, 0
    for name, f in named.items():
        terms = _row_terms(f.timestamps, f.windows, prof)
        per_file[name] = _score(_anomaly_scores(f.anomaly_scores, len(terms.scored)), terms, float(threshold), prof)
        n_windows += terms.n_windows
    total = float(sum(s.score for s in per_file.values()))
    normalized = normalized_score(total, n_windows, profile=prof) if n_windows else float("nan")
    return CorpusScore(float(threshold), total, normalized, n_windows, per_file)
