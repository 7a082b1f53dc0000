"""The NAB scorer (aekit.nab): NAB v1.1's published per-file results reproduced exactly from the
published per-row detector outputs, the published detectors' normalised scores, and the scoring
rules on synthetic files."""
import csv
import functools
import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest

from aekit import metrics, nab

NAB_DIR = Path(os.environ.get("AEKIT_DATA_DIR", "")) / "nab"   # set by conftest.py when ../shared/data exists
PUBLISHED = NAB_DIR / "published_results"
needs_nab = pytest.mark.skipif(not (PUBLISHED / "README.md").is_file() or not os.environ.get("AEKIT_DATA_DIR"),
                               reason="NAB data not found: set AEKIT_DATA_DIR to the shared data folder "
                                      "holding nab/combined_windows.json and nab/published_results/")
PROFILES = list(nab.NAB_PROFILES)
# published_results/README.md: normalised standard-profile scores of the 15 detectors on these 35 files
README_STANDARD = {"ARTime": 67.5, "numenta": 66.5, "htmjava": 61.7, "numentaTM": 61.3, "contextOSE": 61.2,
                   "knncad": 53.0, "relativeEntropy": 50.0, "randomCutForest": 48.0, "earthgeckoSkyline": 47.5,
                   "twitterADVec": 36.2, "skyline": 33.8, "windowedGaussian": 21.9, "bayesChangePt": 13.6,
                   "expose": 10.3, "null": 0.0}


@functools.lru_cache(maxsize=None)
def windows():
    return nab.load_windows(NAB_DIR / "combined_windows.json")


@functools.lru_cache(maxsize=None)
def published(detector, profile):
    with open(PUBLISHED / detector / f"{detector}_{profile}_scores.csv", newline="") as f:
        return list(csv.DictReader(f))


@functools.lru_cache(maxsize=None)
def outputs(detector) -> dict:
    """The detector's published per-row outputs as {file: NABFile}."""
    files = {}
    for name, ws in windows().items():
        category, base = name.split("/")
        with gzip.open(PUBLISHED / detector / category / f"{detector}_{base}.gz", "rt", newline="") as f:
            rows = list(csv.DictReader(f))
        files[name] = nab.NABFile(nab.to_datetimes([r["timestamp"] for r in rows]),
                                  np.array([float(r["anomaly_score"]) for r in rows]), ws)
    return files


# ---------------------------------------------------------------- NAB v1.1's published results

@needs_nab
@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("detector", ["numenta", "windowedGaussian"])
def test_published_per_file_results_are_reproduced_exactly(detector, profile):
    rows = published(detector, profile)
    assert len(rows) == 35
    files = outputs(detector)
    mismatches = []
    for row in rows:
        f = files[row["File"]]
        got = nab.score_file(f.timestamps, f.anomaly_scores, f.windows, threshold=float(row["Threshold"]),
                             profile=profile)
        want = (float(row["Score"]), *(int(row[k]) for k in ("TP", "FP", "TN", "FN", "Total_Count")))
        # the tables print scores with 12 significant digits (Python 2's str(float))
        if (float(f"{got.score:.12g}"), got.tp, got.fp, got.tn, got.fn, got.total) != want:
            mismatches.append((row["File"], got, want))
    assert not mismatches, f"{len(mismatches)} of 35 files differ: {mismatches[:3]}"


@needs_nab
@pytest.mark.parametrize("detector, expected", README_STANDARD.items())
def test_normalised_standard_scores_of_the_published_detectors(detector, expected):
    rows = published(detector, "standard")
    assert sorted(r["File"] for r in rows) == sorted(windows())
    n_windows = sum(len(w) for w in windows().values())
    assert n_windows == 55
    got = nab.normalized_score(sum(float(r["Score"]) for r in rows), n_windows, profile="standard")
    assert got == pytest.approx(expected, abs=0.05 + 1e-9)


@needs_nab
@pytest.mark.parametrize("profile", PROFILES)
def test_the_null_detector_normalises_to_zero_in_every_profile(profile):
    rows = published("null", profile)
    assert nab.normalized_score(sum(float(r["Score"]) for r in rows), 55, profile=profile) == pytest.approx(0.0)


@needs_nab
def test_optimised_threshold_beats_the_published_one_on_this_subset():
    # the published threshold was optimised over NAB's 58 files; on these 35 the sweep finds one at least as good
    files = outputs("numenta")
    threshold, best = nab.optimize_threshold(files, profile="standard")
    published_threshold = float(published("numenta", "standard")[0]["Threshold"])
    at_published = nab.score_corpus(files, profile="standard", threshold=published_threshold)
    assert best >= at_published.score
    assert best == pytest.approx(nab.score_corpus(files, profile="standard", threshold=threshold).score)
    candidates = np.unique(np.concatenate([f.anomaly_scores for f in files.values()]))
    i = int(np.searchsorted(candidates, threshold))
    for t in candidates[max(i - 3, 0):i + 4]:   # its neighbours among the candidates do no better
        assert nab.score_corpus(files, profile="standard", threshold=t).score <= best + 1e-12


@needs_nab
def test_readers():
    w, labels = windows(), nab.load_labels(NAB_DIR / "combined_labels.json")
    assert len(w) == len(labels) == 35 and sum(len(v) for v in w.values()) == 55
    assert sum(len(v) for v in labels.values()) == 57   # NAB merged overlapping windows
    assert w["artificialWithAnomaly/art_daily_flatmiddle.csv"].tolist() == [
        [np.datetime64("2014-04-10T07:15"), np.datetime64("2014-04-11T16:45")]]
    assert labels["artificialWithAnomaly/art_daily_flatmiddle.csv"].dtype == np.dtype("datetime64[us]")


# ---------------------------------------------------------------- the rules, on synthetic files

N, LO, HI = 1000, 500, 599                       # a 1000-row file with one 100-row window
TIMES = np.datetime64("2020-01-01T00:00") + np.arange(N) * np.timedelta64(5, "m")
WINDOW = [[str(TIMES[LO]), str(TIMES[HI])]]       # strings, as in combined_windows.json


def detect(*rows, n=N):
    a = np.zeros(n)
    a[list(rows)] = 1.0
    return a


def score(*rows, profile="standard"):
    return nab.score_file(TIMES, detect(*rows), WINDOW, threshold=0.5, profile=profile)


@pytest.mark.parametrize("profile", PROFILES)
def test_a_detection_at_the_window_start_earns_a_tp_and_later_ones_less(profile):
    p = nab.NAB_PROFILES[profile]
    assert score(LO, profile=profile).score == pytest.approx(p.a_tp, abs=1e-12)
    along = [score(i, profile=profile).score for i in range(LO, HI + 1)]
    assert np.all(np.diff(along) < 0)                   # earlier is better
    assert 0 < along[-1] < 0.05 * p.a_tp                # the window's last row earns almost nothing
    assert along[50] == pytest.approx(p.a_tp * nab.scaled_sigmoid(-0.5) / nab.scaled_sigmoid(-1.0))


@pytest.mark.parametrize("profile", PROFILES)
def test_false_positives_cost_a_fp_far_from_a_window_and_less_just_after_it(profile):
    p = nab.NAB_PROFILES[profile]
    before, far_after = score(LO, 300, profile=profile), score(LO, 990, profile=profile)
    just_after = score(LO, HI + 1, profile=profile)
    assert before.score == pytest.approx(p.a_tp - p.a_fp) and before.fp == 1
    assert far_after.score == pytest.approx(p.a_tp - p.a_fp)   # 3.9 window widths after it
    assert p.a_tp - p.a_fp < just_after.score < p.a_tp
    assert score(300, profile=profile).score == pytest.approx(-p.a_fp - p.a_fn)   # and the window is missed


def test_only_the_first_detection_in_a_window_counts():
    several = score(LO + 20, LO + 30, LO + 40)
    assert several.score == score(LO + 20).score
    assert (several.tp, several.fn) == (3, 97)


def test_the_probationary_period_is_ignored():
    assert nab.probationary_length(N) == 150 and nab.probationary_length(100_000) == 750
    s = score(0, 100, 149)
    assert (s.score, s.fp, s.tp) == (-1.0, 0, 0)
    assert score(150).fp == 1
    assert s.tp + s.fp + s.tn + s.fn == N - 150 and s.total == N


@pytest.mark.parametrize("profile", PROFILES)
def test_perfect_and_null_detectors_normalise_to_100_and_0(profile):
    other = np.datetime64("2021-06-01T00:00") + np.arange(600) * np.timedelta64(1, "h")
    corpus = {"a": (TIMES, detect(LO), WINDOW),
              "b": (other, detect(200, 400, n=600), [[other[200], other[260]], [other[400], other[430]]])}
    perfect = nab.score_corpus(corpus, profile=profile, threshold=0.5)
    null = nab.score_corpus(corpus, profile=profile, threshold=2.0)
    assert perfect.n_windows == 3
    assert perfect.normalized == pytest.approx(100.0) and null.normalized == pytest.approx(0.0)
    assert nab.normalized_score(3 * nab.NAB_PROFILES[profile].a_tp, 3, profile=profile) == pytest.approx(100.0)
    assert nab.score_corpus(corpus, profile=profile).normalized == pytest.approx(100.0)   # the optimised threshold


@pytest.mark.parametrize("profile", PROFILES)
def test_optimize_threshold_matches_a_brute_force_sweep(profile):
    rng = np.random.default_rng(0)
    corpus = {}
    for k in range(4):
        n = int(rng.integers(200, 400))
        t = np.datetime64("2020-01-01") + np.arange(n) * np.timedelta64(1, "m")
        a = np.round(rng.random(n) ** 3, 2)            # ties on purpose
        starts = sorted(rng.choice(np.arange(80, n - 30, 40), size=k % 3, replace=False))
        for s in starts:
            a[s + int(rng.integers(0, 20))] += 0.5
        corpus[k] = (t, a, [[t[s], t[s + 25]] for s in starts])
    threshold, best = nab.optimize_threshold(corpus, profile=profile)
    candidates = np.unique(np.concatenate([a for _, a, _ in corpus.values()]))
    brute = [nab.score_corpus(corpus, profile=profile, threshold=t).score for t in candidates]
    assert best == pytest.approx(max(brute), abs=1e-12)
    assert threshold == candidates[np.flatnonzero(np.isclose(brute, max(brute), atol=1e-12))[-1]]


def test_timestamps_may_repeat_outside_windows_as_in_nab_files():
    t = TIMES.copy()
    t[200:203] = t[199]                               # a daylight-saving repeat, as in ec2_network_in_5abac7
    assert nab.score_file(t, detect(LO), WINDOW, threshold=0.5).score == pytest.approx(1.0)


def test_metrics_re_exports_the_scorer():
    assert metrics.score_file is nab.score_file and metrics.NAB_PROFILES is nab.NAB_PROFILES


def test_readers_on_small_files(tmp_path):
    window = ["2014-04-10 07:15:00.000000", "2014-04-11 16:45:00.000000"]
    (tmp_path / "w.json").write_text(json.dumps({"c/f.csv": [window], "c/g.csv": []}))
    (tmp_path / "l.json").write_text(json.dumps({"c/f.csv": ["2014-04-11 00:00:00"], "c/g.csv": []}))
    w, labels = nab.load_windows(tmp_path / "w.json"), nab.load_labels(tmp_path / "l.json")
    assert w["c/f.csv"].shape == (1, 2) and w["c/g.csv"].shape == (0, 2)
    assert labels["c/f.csv"][0] == np.datetime64("2014-04-11T00:00")


@pytest.mark.parametrize("call, match", [
    (lambda: score(LO, profile="strict"), "profile='strict' is not a NAB profile"),
    (lambda: nab.score_file(TIMES, np.zeros(3), WINDOW, threshold=0.5), r"shape \(3,\), expected \(1000,\)"),
    (lambda: nab.score_file(TIMES, np.full(N, np.nan), WINDOW, threshold=0.5), "NaN"),
    (lambda: nab.score_file(TIMES, detect(), [["2030-01-01", "2030-01-02"]], threshold=0.5), "holds no row"),
    (lambda: nab.score_file(TIMES, detect(), [[TIMES[10], TIMES[20]], [TIMES[15], TIMES[30]]], threshold=0.5),
     "in time order and disjoint"),
    (lambda: nab.score_file(["not a time"] * N, detect(), WINDOW, threshold=0.5), "cannot read"),
    (lambda: nab.normalized_score(1.0, 0), "n_windows=0 must be a positive integer"),
    (lambda: nab.optimize_threshold({}), "files is empty"),
])
def test_errors_name_the_bad_value(call, match):
    with pytest.raises(ValueError, match=match):
        call()
