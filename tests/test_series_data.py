"""Time-series files and windows (aekit.data.series): NAB files as they are, the errors, gaps, windows."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from aekit.data import DataError, Scaler
from aekit.data.series import (Series, find_gaps, read_series, sliding_windows, window_starts)

NAB_DIR = Path(os.environ.get("AEKIT_DATA_DIR", "")) / "nab"  # set by conftest.py when ../shared/data exists
NAB_FILES = sorted(NAB_DIR.glob("*/*.csv")) if os.environ.get("AEKIT_DATA_DIR") else []
# the NAB files whose clocks repeat rows (daylight saving at 2014-03-09 03:00) or step back 55 minutes
NAB_REPEATS = {"ec2_disk_write_bytes_1ef3de.csv", "ec2_network_in_5abac7.csv",
               "ec2_request_latency_system_failure.csv", "machine_temperature_system_failure.csv"}


def write(tmp_path, text, name="s.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def regular(n=10, step_min=5, start=0, values=None):
    rows = ["timestamp,value"]
    for i in range(n):
        m = start + i * step_min
        rows.append(f"2014-04-01 {m // 60:02d}:{m % 60:02d}:00,{i if values is None else values[i]}")
    return "\n".join(rows) + "\n"


@pytest.mark.skipif(not NAB_FILES, reason="needs AEKIT_DATA_DIR with nab/<category>/*.csv")
def test_every_nab_file_reads_as_it_is():
    assert len(NAB_FILES) == 35
    for f in NAB_FILES:
        s = read_series(f)
        n_rows = sum(1 for line in f.read_text().splitlines()[1:] if line.strip())
        assert s.values.shape == (n_rows, 1) and s.values.dtype == np.float32, f
        assert s.columns == ["value"] and s.timestamps.dtype == np.dtype("datetime64[s]")
        assert s.step is not None and s.step > np.timedelta64(0, "s")
        increasing = bool((np.diff(s.timestamps) > np.timedelta64(0, "s")).all())
        assert increasing == (f.name not in NAB_REPEATS), f
        if not increasing:  # the documented exception: repeats at most an hour behind, and strict modes refuse them
            with pytest.raises(DataError, match="expected increasing timestamps"):
                read_series(f, duplicates="error")
            d = read_series(f, duplicates="drop")
            assert (np.diff(d.timestamps) > np.timedelta64(0, "s")).all()


def test_nab_style_csv_and_step(tmp_path):
    s = read_series(write(tmp_path, regular(6)))
    assert s.values[:, 0].tolist() == [0, 1, 2, 3, 4, 5]
    assert s.step == np.timedelta64(300, "s")
    assert str(s.timestamps[1]) == "2014-04-01T00:05:00"


def test_multivariate_csv_and_value_columns(tmp_path):
    p = write(tmp_path, "time,a,b,note\n2020-01-01T00:00:00Z,1,10,x\n2020-01-01T01:00:00Z,2,20,y\n"
                        "2020-01-01T02:00:00Z,3,30,z\n")
    with pytest.raises(DataError, match=r"row 2, column 'note': 'x' is not a number"):
        read_series(p)
    s = read_series(p, value_columns=["b", "a"])
    assert s.columns == ["b", "a"] and s.values.shape == (3, 2) and s.values[2].tolist() == [30, 3]
    assert s.step == np.timedelta64(3600, "s") and str(s.timestamps[0]) == "2020-01-01T00:00:00"


def test_no_timestamp_column(tmp_path):
    s = read_series(write(tmp_path, "x,y\n1,2\n3,4\n"))
    assert s.timestamps is None and s.step is None and s.values.shape == (2, 2)


@pytest.mark.parametrize("text, match", [
    ("timestamp,value\n2014-04-01 00:00:00,1\n2014-13-01 00:05:00,2\n",
     r"s\.csv: row 3, column 'timestamp': '2014-13-01 00:05:00' is not a timestamp; expected an ISO 8601"),
    ("timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,abc\n",
     r"s\.csv: row 3, column 'value': 'abc' is not a number"),
    ("timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,nan\n",
     r"row 3, column 'value': 'nan' is not finite"),
    ("timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,inf\n", r"'inf' is not finite"),
    ("timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,\n", r"row 3, column 'value': '' is not a number"),
    ("timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00\n", r"row 3 has 1 field\(s\), expected 2"),
    ("timestamp,value\n2014-04-02 00:00:00,1\n2014-04-01 00:05:00,2\n",
     r"row 3: timestamp 2014-04-01T00:05:00 is earlier than row 2 .*expected increasing timestamps.*Sort the file"),
    ("", r"empty file"),
    ("timestamp,value\n", r"no data rows"),
])
def test_bad_csv_raises_data_error(tmp_path, text, match):
    with pytest.raises(DataError, match=match):
        read_series(write(tmp_path, text))


def test_missing_columns(tmp_path):
    p = write(tmp_path, regular(3))
    with pytest.raises(DataError, match=r"no column 'time'; the columns are \['timestamp', 'value'\]"):
        read_series(p, timestamp_column="time")
    with pytest.raises(DataError, match=r"no column\(s\) \['v2'\]"):
        read_series(p, value_columns=["v2"])


def test_duplicates(tmp_path):
    p = write(tmp_path, "timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,2\n2014-04-01 00:05:00,3\n"
                        "2014-04-01 00:10:00,4\n")
    with pytest.raises(DataError, match=r"row 4: timestamp 2014-04-01T00:05:00 repeats; expected increasing"):
        read_series(p, duplicates="error")
    assert read_series(p).values[:, 0].tolist() == [1, 2, 3, 4]  # kept, in file order
    assert read_series(p, duplicates="drop").values[:, 0].tolist() == [1, 2, 4]


def test_gaps_error_fill_drop(tmp_path):
    # rows at minutes 0, 5, 10, 25 (two missing), 30, 45 (two missing): a 5-minute step with two gaps
    text = "timestamp,value\n" + "".join(f"2014-04-01 00:{m:02d}:00,{v}\n" for m, v in
                                         [(0, 0), (5, 1), (10, 2), (25, 5), (30, 6), (45, 9)])
    p = write(tmp_path, text)
    with pytest.raises(DataError, match=r"2 gap\(s\) .*\(4 missing row\(s\)\), before row 5 \(2014-04-01T00:25:00\): "
                                        r"2 missing, row 7 .*gaps='fill'"):
        read_series(p, gaps="error")
    kept = read_series(p)
    assert len(kept) == 6 and kept.breaks.size == 0
    filled = read_series(p, gaps="fill")
    assert len(filled) == 10 and (np.diff(filled.timestamps) == np.timedelta64(300, "s")).all()
    assert filled.values[:, 0].tolist() == list(range(10))  # linear in time
    prev = read_series(p, gaps="fill", fill="previous")
    assert prev.values[:, 0].tolist() == [0, 1, 2, 2, 2, 5, 6, 6, 6, 9]
    dropped = read_series(p, gaps="drop")
    assert dropped.breaks.tolist() == [3, 5]
    W = dropped.windows(2)  # runs [0, 3), [3, 5), [5, 6): windows of 2 rows start at 0, 1, 3
    assert W.shape == (3, 1, 2) and W[:, 0, 0].tolist() == [0, 1, 5]
    rows, missing = find_gaps(kept.timestamps, kept.step)
    assert rows.tolist() == [3, 5] and missing.tolist() == [2, 2]


def test_sliding_windows_shape_and_view():
    X = np.arange(20, dtype=np.float32).reshape(10, 2)  # (T, C)
    W = sliding_windows(X, 4, stride=3)
    assert W.shape == (3, 2, 4) and np.shares_memory(W, X)
    assert W[1, 0].tolist() == [6, 8, 10, 12] and W[2, 1].tolist() == [13, 15, 17, 19]
    assert window_starts(10, 4, 3).tolist() == [0, 3, 6]
    assert sliding_windows(np.arange(5.0), 5).shape == (1, 1, 5)
    with pytest.raises(DataError, match="3 rows, too few for one window of length 4"):
        sliding_windows(X[:3], 4)
    with pytest.raises(ValueError, match="stride must be a positive integer, got 0"):
        sliding_windows(X, 2, stride=0)


def test_series_windows_without_breaks_is_a_view(tmp_path):
    s = read_series(write(tmp_path, regular(8)))
    W = s.windows(3, stride=2)
    assert W.shape == (3, 1, 3) and np.shares_memory(W, s.values)
    with pytest.raises(DataError, match=r"s\.csv: 8 rows, too few for one window of length 9"):
        s.windows(9)


@pytest.mark.parametrize("shape, columns", [((7,), ["value"]), ((7, 3), ["0", "1", "2"])])
def test_npy(tmp_path, shape, columns):
    arr = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    np.save(tmp_path / "a.npy", arr)
    s = read_series(tmp_path / "a.npy")
    assert s.values.shape == (7, len(columns)) and s.columns == columns and s.timestamps is None
    assert np.array_equal(s.values, arr.reshape(7, -1))


def test_npy_errors(tmp_path):
    np.save(tmp_path / "nan.npy", np.array([1.0, np.nan]))
    with pytest.raises(DataError, match=r"1 NaN/inf value\(s\), first at index \(1, 0\)"):
        read_series(tmp_path / "nan.npy")
    np.save(tmp_path / "r3.npy", np.zeros((2, 2, 2)))
    with pytest.raises(DataError, match=r"shape \(2, 2, 2\), expected \(T,\) or \(T, C\)"):
        read_series(tmp_path / "r3.npy")
    (tmp_path / "bad.npy").write_text("not numpy")
    with pytest.raises(DataError, match=r"bad\.npy: cannot read \.npy file"):
        read_series(tmp_path / "bad.npy")


def test_bad_arguments(tmp_path):
    p = write(tmp_path, regular(3))
    with pytest.raises(ValueError, match=r"gaps must be one of .*got 'skip'"):
        read_series(p, gaps="skip")


def test_per_channel_scaler_round_trips_as_json(tmp_path):
    s = read_series(write(tmp_path, "t,a,b\n2020-01-01,1,100\n2020-01-02,3,300\n"), timestamp_column="t")
    scaler = Scaler("minmax").fit(s.values)  # one min / max per column of (T, C)
    again = Scaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    assert np.allclose(again.transform(s.values), [[0, 0], [1, 1]])
    assert isinstance(s, Series) and s.step == np.timedelta64(86400, "s")
