"""Time series from files: CSV with a timestamp column, ``.npy`` arrays, and sliding windows over them.

Pandas-free: :mod:`csv`, :mod:`datetime` and NumPy only.

>>> s = read_series("nab/realKnownCause/nyc_taxi.csv")       # NAB's ``timestamp,value`` as it is
>>> s.values.shape, s.step                                    # (10320, 1), numpy.timedelta64(1800,'s')
>>> W = sliding_windows(s.values, 48, stride=12)              # (n, C, 48), a view of s.values
>>> scaler = Scaler("standard").fit(s.values)                 # one mean / std per column (channel)

Per-channel scaling reuses :class:`aekit.data.scalers.Scaler`: fitted on ``values`` ``(T, C)`` with its
default ``per="feature"`` it learns one offset and scale per column, and saves as JSON with ``to_dict``.

Timestamps, the rule (it reads all 35 NAB files of ``AEKIT_DATA_DIR/nab`` with the defaults)
---------------------------------------------------------------------------------------------
* The step is the median of the positive differences between consecutive timestamps; a *gap* is a
  difference larger than 1.5 steps. ``gaps`` says what to do with them (default ``"keep"``: rows as they are).
* A *repeat* is a row whose timestamp is not later than the latest one before it. NAB files have two kinds,
  both from clocks changing by up to an hour: the skipped hour of a spring daylight-saving change written as
  twelve rows at 03:00, and a clock set back by 55 minutes. With the default ``duplicates="keep"`` such rows
  stay, in file order, when they lie at most one hour (:data:`CLOCK_CHANGE`) before the latest timestamp;
  a row further back means an unsorted file and raises. ``"error"`` raises on any, ``"drop"`` drops them.
"""
from __future__ import annotations

import csv
import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from aekit.data.errors import DataError

__all__ = ["CLOCK_CHANGE", "GAP_FACTOR", "Series", "read_series", "find_gaps", "sliding_windows", "window_starts"]

CLOCK_CHANGE = np.timedelta64(3600, "s")  # the furthest a kept repeat may lie before the latest timestamp
GAP_FACTOR = 1.5  # a difference larger than GAP_FACTOR * step is a gap
GAPS = ("keep", "error", "fill", "drop")
FILLS = ("linear", "previous")
DUPLICATES = ("keep", "error", "drop")
_SHOW = 5  # locations listed in an error message


@dataclass
class Series:
    """A time series: ``values[t, c]`` for row ``t`` and channel (column) ``c``.

    Attributes
    ----------
    values : np.ndarray
        float32 ``(T, C)``, all finite.
    columns : list of str
        The C channel names.
    timestamps : np.ndarray or None
        datetime64[s] ``(T,)``; None for arrays read from ``.npy``.
    step : np.timedelta64 or None
        The typical step (median positive difference); None without timestamps or with fewer than two rows.
    breaks : np.ndarray
        int64 rows that start a new gap-free run (set by ``gaps="drop"``, else empty); :meth:`windows` never
        spans one.
    source : str
        The file read.
    """

    values: np.ndarray
    columns: list[str]
    timestamps: np.ndarray | None = None
    step: np.timedelta64 | None = None
    breaks: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    source: str = ""

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def windows(self, length: int, stride: int = 1) -> np.ndarray:
        """Windows ``(n, C, length)`` of :func:`sliding_windows`, without those that span a break.

        A view of ``values`` when there are no breaks, else a copy of the windows kept."""
        W = sliding_windows(self.values, length, stride, source=self.source)  # (n, C, length)
        if self.breaks.size == 0:
            return W
        starts = window_starts(len(self), length, stride, breaks=self.breaks)
        return W[starts // stride]


# ------------------------------------------------------------------------------------------ windows
def _check_window(length: int, stride: int) -> None:
    for name, v in (("length", length), ("stride", stride)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


def window_starts(T: int, length: int, stride: int = 1, *, breaks=None) -> np.ndarray:
    """First rows of the windows of ``length`` rows, every ``stride`` rows, over ``T`` rows: int64 ``(n,)``.

    Windows that contain a row of ``breaks`` other than their first (they would span a gap) are left out.
    """
    _check_window(length, stride)
    if T < length:
        return np.zeros(0, dtype=np.int64)
    starts = np.arange(0, T - length + 1, stride, dtype=np.int64)
    if breaks is not None and len(breaks):
        b = np.sort(np.asarray(breaks, dtype=np.int64))
        # the first break after each start; the window spans it when it lies inside (start, start + length)
        nxt = np.searchsorted(b, starts, side="right")
        after = np.where(nxt < b.size, b[np.minimum(nxt, b.size - 1)], np.iinfo(np.int64).max)
        starts = starts[after >= starts + length]
    return starts


def sliding_windows(values, length: int, stride: int = 1, *, source: str = "values") -> np.ndarray:
    """Windows of ``length`` rows every ``stride`` rows of ``values`` ``(T,)`` or ``(T, C)``: ``(n, C, length)``.

    A strided, read-only view (no copy); window ``i`` starts at row ``i * stride``.

    Raises
    ------
    DataError
        Fewer than ``length`` rows.
    """
    _check_window(length, stride)
    X = np.asarray(values)
    if X.ndim == 1:
        X = X[:, None]  # (T, 1)
    if X.ndim != 2:
        raise DataError(f"{source}: values have shape {X.shape}, expected (T,) or (T, C)")
    if X.shape[0] < length:
        raise DataError(f"{source}: {X.shape[0]} rows, too few for one window of length {length}; "
                        f"expected at least {length} rows")
    return sliding_window_view(X, length, axis=0)[::stride]  # (n, C, length)


# --------------------------------------------------------------------------------------- timestamps
def _parse_time(text: str) -> np.datetime64:
    """ISO 8601 date or date-time; one with a UTC offset is converted to UTC. Raises ValueError."""
    t = dt.datetime.fromisoformat(text.strip())
    if t.tzinfo is not None:
        t = t.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return np.datetime64(t.replace(microsecond=0), "s")


def _parse_times(texts: list[str], source: str, column: str) -> np.ndarray:
    out = np.empty(len(texts), dtype="datetime64[s]")
    for i, text in enumerate(texts):
        try:
            out[i] = _parse_time(text)
        except ValueError:
            raise DataError(f"{source}: row {i + 2}, column {column!r}: {text!r} is not a timestamp; expected an "
                            "ISO 8601 date or date-time such as '2014-04-01 00:05:00'") from None
    return out


def _typical_step(t: np.ndarray) -> np.timedelta64 | None:
    d = np.diff(t)
    d = d[d > np.timedelta64(0, "s")]
    return None if d.size == 0 else np.timedelta64(int(np.median(d.astype(np.int64))), "s")


def find_gaps(timestamps, step) -> tuple[np.ndarray, np.ndarray]:
    """Gaps in ``timestamps``: ``(rows, missing)``, the 0-based rows that follow a gap and how many steps are
    missing before each (at least 1). A gap is a difference to the previous row larger than
    :data:`GAP_FACTOR` ``* step``."""
    t = np.asarray(timestamps, dtype="datetime64[s]")
    if step is None or t.size < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    s = int(np.timedelta64(step, "s").astype(np.int64))
    d = np.diff(t).astype(np.int64)
    rows = np.nonzero(d > GAP_FACTOR * s)[0]
    missing = np.maximum(np.rint(d[rows] / s).astype(np.int64) - 1, 1)
    return rows + 1, missing


def _where(rows: np.ndarray, t: np.ndarray, extra=None) -> str:
    """'row 7 (2014-01-01T00:30:00), ...' for the first few (0-based data) rows, as 1-based file rows."""
    shown = [f"row {r + 2} ({t[r]})" + ("" if extra is None else f": {extra[k]} missing")
             for k, r in enumerate(rows[:_SHOW])]
    return ", ".join(shown) + (f" and {rows.size - _SHOW} more" if rows.size > _SHOW else "")


def _repeats(t: np.ndarray, duplicates: str, source: str) -> np.ndarray:
    """Boolean mask of the rows whose timestamp is not later than an earlier row's; raises per ``duplicates``."""
    latest = np.maximum.accumulate(t)
    rep = np.zeros(t.size, dtype=bool)
    rep[1:] = t[1:] <= latest[:-1]
    if not rep.any():
        return rep
    rows = np.nonzero(rep)[0]
    back = latest[rows - 1] - t[rows]
    if duplicates == "error" or (duplicates == "keep" and (back > CLOCK_CHANGE).any()):
        if duplicates == "keep":
            rows = rows[back > CLOCK_CHANGE]
        r = rows[0]
        what = "repeats" if t[r] == t[r - 1] else f"is earlier than row {r + 1} ({t[r - 1]})"
        raise DataError(
            f"{source}: row {r + 2}: timestamp {t[r]} {what}; expected increasing timestamps "
            f"({rows.size} row(s) not later than an earlier one: {_where(rows, t)}). "
            + ("Sort the file by time, or pass duplicates='drop'" if duplicates == "keep"
               else "Pass duplicates='keep' to read them in file order, or duplicates='drop'"))
    return rep


def _fill(t: np.ndarray, v: np.ndarray, rows: np.ndarray, missing: np.ndarray, step: np.timedelta64,
          fill: str) -> tuple[np.ndarray, np.ndarray]:
    """Insert ``missing[k]`` rows, one step apart, before each row ``rows[k]``; values per ``fill``."""
    t_parts, v_parts, prev = [], [], 0
    for r, m in zip(rows.tolist(), missing.tolist()):
        t_parts.append(t[prev:r])
        v_parts.append(v[prev:r])
        new_t = t[r - 1] + step * np.arange(1, m + 1)  # (m,)
        new_t = new_t[new_t < t[r]]
        if fill == "linear":
            frac = ((new_t - t[r - 1]) / (t[r] - t[r - 1])).astype(np.float64)[:, None]  # (m, 1)
            new_v = v[r - 1] + frac * (v[r] - v[r - 1])  # (m, C)
        else:
            new_v = np.repeat(v[r - 1:r], new_t.size, axis=0)  # (m, C)
        t_parts.append(new_t)
        v_parts.append(new_v.astype(v.dtype))
        prev = r
    t_parts.append(t[prev:])
    v_parts.append(v[prev:])
    return np.concatenate(t_parts), np.concatenate(v_parts)


# --------------------------------------------------------------------------------------------- files
def _read_npy(path: Path) -> Series:
    try:  # memory-mapped: a header that claims more data than the file holds fails here, allocating nothing
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError, SyntaxError, OverflowError) as exc:
        raise DataError(f"{path}: cannot read .npy file ({exc}), expected a numeric NumPy array") from exc
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf":
        raise DataError(f"{path}: holds {getattr(arr, 'dtype', type(arr).__name__)}, expected a numeric .npy array")
    if arr.ndim not in (1, 2) or arr.shape[0] == 0:
        raise DataError(f"{path}: array of shape {arr.shape}, expected (T,) or (T, C) with T >= 1")
    values = arr.reshape(arr.shape[0], -1).astype(np.float32)  # (T, C)
    bad = ~np.isfinite(values)
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(f"{path}: {int(bad.sum())} NaN/inf value(s), first at index {(r, c)} "
                        f"({values[r, c]}); expected finite values")
    columns = ["value"] if arr.ndim == 1 else [str(c) for c in range(values.shape[1])]
    return Series(values, columns, source=str(path))


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read CSV ({exc}); expected a UTF-8, comma-separated file") from exc
    if not rows or not any(h.strip() for h in rows[0]):
        raise DataError(f"{path}: empty file, expected a header row such as 'timestamp,value' and data rows")
    header = [h.strip() for h in rows[0]]
    body = []
    for i, row in enumerate(rows[1:]):
        if not row or not any(cell.strip() for cell in row):
            continue  # blank line
        if len(row) != len(header):
            raise DataError(f"{path}: row {i + 2} has {len(row)} field(s), expected {len(header)} as in the "
                            f"header {header}")
        body.append(row)
    if not body:
        raise DataError(f"{path}: no data rows after the header {header}; expected at least one")
    return header, body


def _timestamp_column(header: list[str], first: list[str], timestamp_column, source: str) -> int | None:
    if timestamp_column is None:
        return None
    if timestamp_column != "auto":
        if timestamp_column not in header:
            raise DataError(f"{source}: no column {timestamp_column!r}; the columns are {header}")
        return header.index(timestamp_column)
    if "timestamp" in header:
        return header.index("timestamp")
    for j, text in enumerate(first):
        try:
            float(text)
            continue  # a number, not a date
        except ValueError:
            pass
        try:
            _parse_time(text)
            return j
        except ValueError:
            continue
    return None


def _numbers(texts: list[str], source: str, column: str) -> np.ndarray:
    try:
        col = np.array(texts, dtype=np.float64)
    except ValueError:
        for i, text in enumerate(texts):
            try:
                float(text)
            except ValueError:
                raise DataError(f"{source}: row {i + 2}, column {column!r}: {text!r} is not a number; expected "
                                "numeric values (pick the value columns with value_columns=[...])") from None
        raise
    bad = ~np.isfinite(col)
    if bad.any():
        i = int(np.nonzero(bad)[0][0])
        raise DataError(f"{source}: row {i + 2}, column {column!r}: {texts[i]!r} is not finite "
                        f"({int(bad.sum())} NaN/inf value(s) in the column); expected finite numbers")
    return col


def read_series(path: str | os.PathLike, *, timestamp_column: str | None = "auto", value_columns=None,
                gaps: str = "keep", fill: str = "linear", duplicates: str = "keep") -> Series:
    """Read a time series from a ``.csv`` (header row, UTF-8, comma-separated) or ``.npy`` file.

    Parameters
    ----------
    path : str or path-like
        ``.npy``: a numeric ``(T,)`` or ``(T, C)`` array (no timestamps; the other options are ignored).
        Otherwise CSV, such as NAB's ``timestamp,value`` files.
    timestamp_column : str or None, default "auto"
        The column of ISO 8601 timestamps. ``"auto"``: ``"timestamp"`` if there is one, else the first column
        whose first value parses as a date, else none. ``None``: no timestamps.
    value_columns : list of str or None
        The value columns, in order; default all columns but the timestamp one. Each must be numeric.
    gaps : {"keep", "error", "fill", "drop"}, default "keep"
        Differences larger than 1.5 steps: ``"keep"`` rows as they are; ``"error"`` raises, saying how many
        and where; ``"fill"`` inserts the missing rows, one step apart, valued by ``fill``; ``"drop"`` keeps
        the rows and sets ``Series.breaks`` so that :meth:`Series.windows` drops windows that span a gap.
    fill : {"linear", "previous"}, default "linear"
        Values of filled rows: interpolated in time, or the row before the gap repeated.
    duplicates : {"keep", "error", "drop"}, default "keep"
        Rows whose timestamp is not later than an earlier row's (see the module docstring for the rule):
        ``"keep"`` those at most an hour back (clock changes), raise on others; ``"error"`` raises on any;
        ``"drop"`` drops them all, leaving increasing timestamps.

    Returns
    -------
    Series

    Raises
    ------
    DataError
        Unreadable or empty file, a missing column, an unparsable timestamp, a non-numeric or NaN / inf
        value, repeated or decreasing timestamps (per ``duplicates``), gaps (``gaps="error"``); each names
        the file, the 1-based row (counting the header) and the value.
    """
    for name, v, allowed in (("gaps", gaps, GAPS), ("fill", fill, FILLS), ("duplicates", duplicates, DUPLICATES)):
        if v not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, got {v!r}")
    path = Path(path)
    if path.suffix.lower() == ".npy":
        return _read_npy(path)
    source = str(path)
    header, body = _read_rows(path)
    tcol = _timestamp_column(header, body[0], timestamp_column, source)
    if value_columns is None:
        vcols = [j for j in range(len(header)) if j != tcol]
    else:
        if isinstance(value_columns, str):
            value_columns = [value_columns]
        missing = [c for c in value_columns if c not in header]
        if missing:
            raise DataError(f"{source}: no column(s) {missing}; the columns are {header}")
        vcols = [header.index(c) for c in value_columns]
    if not vcols:
        raise DataError(f"{source}: no value column besides the timestamp column; the columns are {header}")
    columns = [header[j] for j in vcols]
    values = np.stack([_numbers([row[j] for row in body], source, header[j]) for j in vcols], axis=1)  # (T, C)
    if tcol is None:
        return Series(values.astype(np.float32), columns, source=source)

    t = _parse_times([row[tcol] for row in body], source, header[tcol])
    rep = _repeats(t, duplicates, source)
    if duplicates == "drop" and rep.any():
        t, values = t[~rep], values[~rep]
    step = _typical_step(t)
    rows, missing = find_gaps(t, step)
    breaks = np.zeros(0, dtype=np.int64)
    if rows.size and gaps == "error":
        raise DataError(f"{source}: {rows.size} gap(s) longer than {GAP_FACTOR} x the step {step} "
                        f"({int(missing.sum())} missing row(s)), before {_where(rows, t, missing)}; expected "
                        "regular timestamps. Pass gaps='fill' (insert rows), 'drop' (no window spans a gap) "
                        "or 'keep'")
    if rows.size and gaps == "fill":
        t, values = _fill(t, values, rows, missing, step, fill)
    elif gaps == "drop":
        breaks = rows
    return Series(values.astype(np.float32), columns, t, step, breaks, source)
