"""TimeSeriesAnomalyDetector and ``aekit detect-series``: causal scores, streams, files, errors, NAB files."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aekit import TimeSeriesAnomalyDetector, nab
from aekit.data.errors import DataError
from aekit.estimators import anomaly_ranges

FAST = {"epochs": 3, "window": 16}


def _sine(T=1200, C=1, seed=0, spike=None):
    rng = np.random.default_rng(seed)
    t = np.arange(T)[:, None]
    x = np.sin(2 * np.pi * t / 40 + np.arange(C)) + 0.05 * rng.normal(size=(T, C))
    if spike is not None:
        row, ch = spike
        x[row:row + 5, ch] += 4.0
    return x


@pytest.fixture(scope="module")
def fitted():
    return TimeSeriesAnomalyDetector(**FAST).fit(_sine(400))


def test_scores_lie_in_unit_interval_and_find_the_spike():
    x = _sine(1500, spike=(1200, 0))
    scores = TimeSeriesAnomalyDetector(**FAST).fit_stream(x, train_fraction=0.3)
    assert scores.shape == (1500,) and scores.min() >= 0 and scores.max() < 1
    assert np.all(scores[:450] == 0)                     # training rows are the warm-up
    assert 1195 <= int(np.argmax(scores)) <= 1205


@pytest.mark.parametrize("online", [{}, {"refit_every": 50, "refit_steps": 2, "scorer": "likelihood"}])
def test_a_score_depends_only_on_rows_up_to_it(online):
    """Causal with online learning on too: the refits before row t train on rows before t only."""
    x = _sine(900)
    a = TimeSeriesAnomalyDetector(**FAST, **online).fit_stream(x, train_fraction=0.4)
    y = x.copy()
    y[700:] = 50.0                                       # change the future only
    b = TimeSeriesAnomalyDetector(**FAST, **online).fit_stream(y, train_fraction=0.4)
    np.testing.assert_array_equal(a[:700], b[:700])
    assert b[700] > a[700]


def test_refits_change_what_the_detector_scores_with():
    """A refit trains the model in place; the scores after it come from the refitted weights (not from a
    scoring copy made before it)."""
    x = _sine(700)
    still = TimeSeriesAnomalyDetector(**FAST, refit_every=None).fit(x[:300])
    online = TimeSeriesAnomalyDetector(**FAST, refit_every=100, refit_steps=5).fit(x[:300])
    np.testing.assert_array_equal(still.error_map(x[300:400]), online.error_map(x[300:400]))
    still.update(x[300:500]), online.update(x[300:500])
    assert not np.allclose(still.error_map(x[500:]), online.error_map(x[500:]), equal_nan=True)


@pytest.mark.parametrize("refit_every, scorer", [(None, "surprise"), (150, "surprise"), (150, "likelihood")])
def test_update_in_chunks_equals_one_update(refit_every, scorer):
    x = _sine(1000, spike=(800, 0))
    kw = dict(FAST, refit_every=refit_every, refit_steps=5, scorer=scorer, reestimate_every=40)
    one = TimeSeriesAnomalyDetector(**kw).fit(x[:300])
    chunked = TimeSeriesAnomalyDetector(**kw).fit(x[:300])
    whole = one.update(x[300:])
    parts = np.concatenate([chunked.update(x[300:301]), chunked.update(x[301:560]), chunked.update(x[560:])])
    np.testing.assert_allclose(parts, whole, rtol=0, atol=1e-12)


@pytest.mark.parametrize("batch_size", ["auto", 32])
def test_refits_train_through_the_estimators_training_function(batch_size, capfd, monkeypatch):
    """Refits go through AutoencoderEstimator._train: no progress bar with verbose=False (they showed one), and
    batch_size="auto", which the constraints accept, works (it failed in int())."""
    x = _sine(700)
    det = TimeSeriesAnomalyDetector(**FAST, batch_size=batch_size, refit_every=100, refit_steps=3).fit(x[:300])
    calls = []
    train = det._train
    monkeypatch.setattr(det, "_train", lambda *a, **k: calls.append(k) or train(*a, **k))
    capfd.readouterr()
    scores = det.update(x[300:])
    err = capfd.readouterr().err
    assert "training" not in err and "step/s" not in err
    assert len(calls) == 4 and all(k["lr"] == pytest.approx(det.lr / 3) for k in calls)  # every 100 of 400 rows
    assert scores.shape == (400,) and np.isfinite(scores).all()


def test_scorer_and_refit_parts_can_be_swapped():
    """The series scorer part and the refit policy part are class attributes: a detector with other parts uses
    them with no other change (here: the raw mean window error as the score, and a refit after every chunk)."""
    from aekit.estimators.detect.stream import StreamState

    class RawError:
        params, state_class = (), StreamState

        @classmethod
        def of(cls, detector):
            return cls()

        def score(self, state, x, err):
            return np.nan_to_num(err)

    class EveryChunk:
        seen = []

        @classmethod
        def of(cls, detector):
            return cls()

        def new_buffer(self, n_channels):
            return None

        def run(self, detector, state, x):
            EveryChunk.seen.append(len(x))
            return detector._advance(state, x)

    class RawDetector(TimeSeriesAnomalyDetector):
        stream_scorer, refit_policy = RawError, EveryChunk

    x = _sine(600)
    det = RawDetector(**FAST).fit(x[:300])
    expected = det.error_map(x[300:]).mean(axis=1)                 # the rows' window errors, stream unchanged
    np.testing.assert_array_equal(det.update(x[300:]), expected)
    assert EveryChunk.seen == [300]
    np.testing.assert_array_equal(det.train_scores_[:FAST["window"] - 1], 0.0)   # no full window yet: 0


def test_likelihood_part_is_chunk_invariant_and_flags_values_outside_the_range():
    """The calibrated scorer part alone (no model): scores in [0, 1], the same in chunks as in one pass, a
    surprising error scores near 1 after its learning period, and a value far outside the seen range scores 1."""
    from aekit.estimators.detect.likelihood import AnomalyLikelihood, LikelihoodState

    rng = np.random.default_rng(0)
    x = rng.normal(size=(1200, 2))
    err = np.exp(rng.normal(size=(1200, 2)) * 0.3)
    err[:5] = np.nan                                    # no full window yet
    err[900:910, 1] *= 50                               # the second view is surprised
    x[1100, 0] = 40.0
    part = AnomalyLikelihood(average=5, history=500, reestimate_every=30, learning_rows=200, spatial_tolerance=0.05)
    one = part.score(LikelihoodState(context=np.zeros((0, 2))), x, err)
    state = LikelihoodState(context=np.zeros((0, 2)))
    parts = np.concatenate([part.score(state, x[a:b], err[a:b]) for a, b in [(0, 7), (7, 250), (250, 1200)]])
    np.testing.assert_allclose(parts, one, rtol=0, atol=1e-12)
    assert one.min() >= 0 and one.max() <= 1
    assert np.all((one[:200] < 0.1) | (one[:200] == 1.0))  # learning: 0.5 likelihood, or the range check
    assert one[900:910].max() > 0.5 > np.median(one[300:900]) and one[1100] == 1.0
    assert (one[900:915] > 0.5).sum() == 1              # repeated red-zone alarms filtered: one event, one alarm
    unfiltered = AnomalyLikelihood(average=5, history=500, reestimate_every=30, learning_rows=200,
                                   spatial_tolerance=0.05, filter_repeats=False)
    assert (unfiltered.score(LikelihoodState(context=np.zeros((0, 2))), x, err)[900:915] > 0.5).sum() > 1


def test_unknown_scorer_is_refused_with_the_registered_names():
    with pytest.raises(ValueError, match="likelihood"):
        TimeSeriesAnomalyDetector(**FAST, scorer="nope").fit(_sine(200))


def test_anomaly_score_does_not_advance_the_stream(fitted):
    x = _sine(300, seed=1)
    a = fitted.anomaly_score(x)
    np.testing.assert_array_equal(a, fitted.anomaly_score(x))


@pytest.mark.parametrize("online", [{}, {"refit_every": 100, "refit_steps": 2, "scorer": "likelihood",
                                         "scales": (16, 4)}])
def test_saved_detector_reloads_and_continues_the_stream_identically(tmp_path, online):
    from aekit import load

    x = _sine(900, spike=(700, 0))
    det = TimeSeriesAnomalyDetector(**FAST, **online).fit(x[:300])
    det.update(x[300:500])
    det.save(tmp_path / "m")
    back = load(tmp_path / "m")
    assert isinstance(back, TimeSeriesAnomalyDetector) and back.threshold_ == det.threshold_
    np.testing.assert_array_equal(back.update(x[500:]), det.update(x[500:]))


def test_multivariate_error_map_points_at_the_broken_channel():
    x = _sine(900, C=3, seed=2)
    det = TimeSeriesAnomalyDetector(window=16, epochs=30).fit(x[:500])
    y = x[500:].copy()
    y[200:230, 2] += 2.0                                 # channel 2 shifts up
    err = det.error_map(y)                               # (400, 3)
    assert err.shape == (400, 3)
    assert np.nanmean(err[210:230, 2]) > 3 * np.nanmean(err[210:230, :2])
    assert np.mean(np.argmax(err[210:230], axis=1) == 2) >= 0.9


def test_ranges_merge_overlapping_windows_and_use_timestamps():
    flags = np.zeros(100, bool)
    flags[[20, 25, 60]] = True
    assert anomaly_ranges(flags, window=8) == [[13, 25], [53, 60]]
    t = np.arange("2024-01-01T00:00", 100, dtype="datetime64[m]")
    assert anomaly_ranges(flags, window=1, timestamps=t)[0] == ["2024-01-01 00:20:00", "2024-01-01 00:20:00"]


def test_nab_threshold_rule_optimises_on_labelled_rows():
    x = _sine(1500, spike=(1200, 0))
    det = TimeSeriesAnomalyDetector(**FAST).fit(x[:400])
    rest = x[400:]
    y = np.zeros(len(rest), int)
    y[760:840] = 1                                       # the window around the spike at row 1200
    det.set_threshold(rest, y, method="nab")
    scores = det.anomaly_score(rest)
    flagged = np.flatnonzero(scores > det.threshold_)
    assert flagged.size and 760 <= flagged[0] < 840      # the first detection falls in the window


@pytest.mark.parametrize("bad, message", [
    (np.r_[np.zeros(50), np.nan, np.zeros(50)], "NaN/inf value(s), the first at row 50"),
    (np.zeros(10), "10 rows, too few to train on windows of 16 rows"),
    (np.array([["a", "b"]] * 40), "not numeric"),
    (np.zeros((5, 5, 5)), "expected (T,) or (T, C)"),
])
def test_bad_series_get_clear_errors(bad, message):
    with pytest.raises(DataError, match=None) as err:
        TimeSeriesAnomalyDetector(**FAST).fit(bad)
    assert message in str(err.value)


def test_wrong_channel_count_and_non_sequence_model_are_refused(fitted):
    with pytest.raises(DataError, match="2 channel"):
        fitted.update(np.zeros((20, 2)))
    with pytest.raises(ValueError, match="not a sequence model"):
        TimeSeriesAnomalyDetector(model="conv").fit(_sine(100))


NAB_DIR = Path(os.environ.get("AEKIT_DATA_DIR", "")) / "nab"   # set by conftest.py when ../shared/data exists


@pytest.mark.skipif(not (NAB_DIR / "combined_windows.json").is_file(),
                    reason="NAB data not found: set AEKIT_DATA_DIR to the shared data folder holding nab/")
@pytest.mark.quality
def test_beats_windowed_gaussian_on_nab_files():
    """NAB's protocol on a whole NAB category (artificialWithAnomaly, six files): aekit's default detector
    against NAB's windowed-Gaussian baseline (benchmarks/timeseries.py has the 35-file comparison)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from timeseries import run_windowed_gaussian

    from aekit.data.series import read_series

    windows = nab.load_windows(NAB_DIR / "combined_windows.json")
    ours, base = {}, {}
    for name in sorted(n for n in windows if n.startswith("artificialWithAnomaly/")):
        s = read_series(NAB_DIR / name)
        p = nab.probationary_length(len(s))
        ours[name] = nab.NABFile(s.timestamps, TimeSeriesAnomalyDetector().fit_stream(s, train_rows=p), windows[name])
        base[name] = nab.NABFile(s.timestamps, run_windowed_gaussian(s.values, p), windows[name])
    a, b = nab.score_corpus(ours).normalized, nab.score_corpus(base).normalized
    assert a > b + 20, (a, b)


# ------------------------------------------------------------------------------------------ the command
def _cli(*args, capsys):
    from aekit.cli import main

    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, captured.out, captured.err)


def test_detect_series_writes_nab_layout_ranges_model_and_report(tmp_path, capsys):
    x = _sine(1200, spike=(1000, 0))[:, 0]
    t = np.arange("2024-01-01T00:00", 1200 * 5, 5, dtype="datetime64[m]")
    csv = tmp_path / "s.csv"
    csv.write_text("timestamp,value\n" + "".join(f"{str(a).replace('T', ' ')}:00,{v:.6f}\n" for a, v in zip(t, x)))
    labels = tmp_path / "w.json"
    labels.write_text(json.dumps([[str(t[980]).replace("T", " "), str(t[1020]).replace("T", " ")]]))
    r = _cli("detect-series", str(csv), "--train-fraction", "0.4", "--labels", str(labels), "--param", "epochs=3",
             "--param", "threshold=\"percentile\"", "--quiet", "--out", tmp_path / "out", capsys=capsys)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    rows = (out / "scores.csv").read_text().splitlines()
    assert rows[0] == "timestamp,value,anomaly_score,label" and len(rows) == 1201
    ranges = json.loads((out / "ranges.json").read_text())
    assert any(r["first_row"] <= 1004 and r["last_row"] >= 1000 for r in ranges)
    html = (out / "report.html").read_text()
    assert "NAB" in html and "flagged" in html.lower()
    assert (out / "model" / "config.json").is_file()
    again = _cli("detect-series", str(csv), "--quiet", "--out", tmp_path / "out", capsys=capsys)
    assert again.returncode == 2 and "not empty" in again.stderr


@pytest.mark.e2e
def test_detect_series_scores_several_files_in_one_run_from_the_probationary_period(tmp_path, capsys):
    """Several files: each into OUT/<name>/ with its own detector; by default the training rows are NAB's
    probationary period (15 % of 300 rows: 45, raised to window + 1 = 17 at least), so later rows are scored."""
    for i in range(2):
        np.save(tmp_path / f"s{i}.npy", _sine(300, seed=i)[:, 0])
    r = _cli("detect-series", tmp_path / "s0.npy", tmp_path / "s1.npy", "--param", "epochs=1", "--param",
             "window=16", "--quiet", "--out", tmp_path / "out", capsys=capsys)
    assert r.returncode == 0, r.stderr
    for i in range(2):
        rows = (tmp_path / "out" / f"s{i}" / "scores.csv").read_text().splitlines()[1:]
        scores = np.array([float(row.split(",")[-2]) for row in rows])
        assert len(scores) == 300 and np.all(scores[:45] == 0) and np.any(scores[45:] > 0)


@pytest.mark.skipif(not (NAB_DIR / "combined_windows.json").is_file(),
                    reason="NAB data not found: set AEKIT_DATA_DIR to the shared data folder holding nab/")
@pytest.mark.e2e
def test_detect_series_with_its_defaults_scores_what_the_benchmark_measures(tmp_path, capsys):
    """The command's defaults on a NAB file give the scores of benchmarks/timeseries.py (NAB's probationary
    period, the detector's defaults, online learning included), so the benchmark's figure is the command's."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from timeseries import run_aekit

    from aekit.data.series import read_series

    name = "realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv"  # the shortest file, 1,243 rows
    r = _cli("detect-series", NAB_DIR / name, "--quiet", "--out", tmp_path / "out", capsys=capsys)
    assert r.returncode == 0, r.stderr
    rows = (tmp_path / "out" / "scores.csv").read_text().splitlines()[1:]
    cli = np.array([float(row.split(",")[-2]) for row in rows])
    s = read_series(NAB_DIR / name)
    bench = run_aekit(s.values, nab.probationary_length(len(s)), {"random_state": 0})
    np.testing.assert_allclose(cli, bench, rtol=1e-7, atol=1e-12)


def test_detect_series_bad_csv_is_one_line_error(tmp_path, capsys):
    csv = tmp_path / "bad.csv"
    csv.write_text("timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,oops\n")
    r = _cli("detect-series", str(csv), "--out", tmp_path / "o", capsys=capsys)
    assert r.returncode == 2 and "oops" in r.stderr and "Traceback" not in r.stderr
