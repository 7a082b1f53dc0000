"""
Detect anomalies in a table
===========================

An :class:`~aekit.AnomalyDetector` trained on rows of a table scores new rows by how badly its
autoencoders reconstruct them (plus the distance of their codes to the training codes). The table here is
generated: 8 features that follow 2 hidden factors, and test rows of which one in ten breaks that structure.
"""
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_auc_score

from aekit import AnomalyDetector

rng = np.random.default_rng(0)
mixing = rng.normal(size=(2, 8))


def rows(n):
    """Rows on the 2-factor structure, with a little noise."""
    return rng.normal(size=(n, 2)) @ mixing + 0.1 * rng.normal(size=(n, 8))


X_train = rows(1000)
X_test = rows(300)
is_anomaly = np.zeros(len(X_test), dtype=int)
is_anomaly[::10] = 1
X_test[::10] += rng.normal(0, 1.5, size=(30, 8))      # every tenth row leaves the structure

detector = AnomalyDetector().fit(X_train)
scores = detector.anomaly_score(X_test)               # higher = more abnormal
flagged = detector.predict(X_test) == -1               # scikit-learn's convention: -1 is an anomaly
print(f"ROC-AUC {roc_auc_score(is_anomaly, scores):.3f}; flagged {flagged.sum()} rows, "
      f"{(flagged & (is_anomaly == 1)).sum()} of them true anomalies")

# %%
# The scores of the normal and abnormal test rows, and the detector's threshold.
fig, ax = plt.subplots(figsize=(6, 3.5))
bins = np.linspace(scores.min(), scores.max(), 40)
ax.hist(scores[is_anomaly == 0], bins=bins, alpha=0.7, label="normal rows")
ax.hist(scores[is_anomaly == 1], bins=bins, alpha=0.7, label="abnormal rows")
ax.axvline(detector.threshold_, color="k", linestyle="--", label="threshold")
ax.set_xlabel("anomaly score")
ax.legend()
fig.tight_layout()
plt.show()
