"""
Detect anomalies in a time series
=================================

A :class:`~aekit.TimeSeriesAnomalyDetector` scores every row of a series by the window that ends at it,
using only the rows up to its own. The series is generated: a daily cycle sampled every 5 minutes for two
weeks whose level jumps up for half a day near the end. ``fit_stream`` trains on the first rows and scores
the rest as they would arrive; a row keeps its score only when it beats the rows just before it, so an
event raises one alarm.
"""
import matplotlib.pyplot as plt
import numpy as np

from aekit import TimeSeriesAnomalyDetector

n = np.arange(4032)                                    # 14 days of 5-minute readings
noise = np.random.default_rng(0).normal(0, 1, len(n))
series = 20 + 10 * np.sin(2 * np.pi * n / 288) + noise
series[3000:3144] += 25                                # the level jumps for half a day

detector = TimeSeriesAnomalyDetector()                 # the defaults: windows of 128 rows
scores = detector.fit_stream(series, train_fraction=0.15)
flagged = scores > detector.threshold_
print("rows flagged:", np.flatnonzero(flagged).tolist())   # the jump starts at row 3000

# %%
# The series with the flagged rows, and the scores against the threshold.
fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 4.5), sharex=True)
top.plot(n, series, lw=0.6)
top.plot(n[flagged], series[flagged], "r.", label="flagged")
top.axvspan(3000, 3144, color="g", alpha=0.15, label="the jump")
top.legend(loc="upper left")
bottom.plot(n, scores, lw=0.6)
bottom.axhline(detector.threshold_, color="k", linestyle="--", label="threshold")
bottom.set_xlabel("row (5-minute steps)")
bottom.set_ylabel("anomaly score")
bottom.legend(loc="upper left")
fig.tight_layout()
plt.show()
