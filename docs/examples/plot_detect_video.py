"""
Detect anomalies in video
=========================

A :class:`~aekit.VideoAnomalyDetector` judges each frame of a clip by how well its default model,
``next-frame``, predicts it from the frames before it: a frame that could not be foreseen scores high. The
clips are Moving MNIST made in code (:func:`aekit.data.video.moving_digits`, here with scikit-learn's 8x8
digits enlarged to 16x16 in 32x32 frames): the detector trains on normal clips, where every digit moves in a
straight line and bounces off the edges, and scores clips in which an object no digit looks like passes
through a few frames.
"""
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from aekit import VideoAnomalyDetector
from aekit.data.video import moving_digits

# 16x16 digits, values 0..240
digits = np.kron(load_digits().images, np.ones((2, 2))) * 15
motion = dict(size=32, n_digits=1, speed=2)
train, _ = moving_digits(digits, 48, 12, **motion, seed=0)
test, labels = moving_digits(digits, 4, 12, **motion, anomaly_fraction=1,
                             anomaly_kinds=("object",), seed=1)
print("clips (N, T, C, H, W): training", train.shape, "test", test.shape)

detector = VideoAnomalyDetector(epochs=8).fit(train)   # windows of 4 frames
scores = detector.anomaly_score(test)                  # (4, 12): one score per frame
for clip, (s, y) in enumerate(zip(scores, labels)):
    truth = np.flatnonzero(y).tolist()
    print(f"clip {clip}: flagged frames {detector.ranges(s)}, object in frames {truth}")

# %%
# The first test clip: its frames, each frame's error map (where the prediction missed)
# and the scores against the threshold, with the frames the object passes through shaded.
# The first three frames have no three frames before them to be predicted from: they
# score 0.
maps = detector.error_maps(test[:1])[0]                # (12, 32, 32)
fig = plt.figure(figsize=(10, 3.8))
grid = fig.add_gridspec(3, 12, height_ratios=[1, 1, 1.4])
for t in range(12):
    frame, error = fig.add_subplot(grid[0, t]), fig.add_subplot(grid[1, t])
    frame.imshow(test[0, t, 0], cmap="gray", vmin=0, vmax=255)
    error.imshow(maps[t], cmap="magma", vmin=0, vmax=maps.max())
    frame.set_title(str(t), fontsize=8)
    frame.set_axis_off()
    error.set_axis_off()
ax = fig.add_subplot(grid[2, :])
ax.plot(scores[0], marker="o")
ax.axhline(detector.threshold_, color="k", linestyle="--", label="threshold")
inside = np.flatnonzero(labels[0])
ax.axvspan(inside[0] - 0.5, inside[-1] + 0.5, color="g", alpha=0.15, label="object")
ax.set_xlabel("frame")
ax.set_ylabel("anomaly score")
ax.legend(loc="upper left")
plt.show()
