"""
Follow training: history, TensorBoard and MLflow
================================================

Every fit keeps its history (one dict per epoch: training and validation loss terms, learning rate,
time): ``history_`` on an estimator, ``TrainResult.history`` from the Trainer, ``history.json`` in an
``aekit train`` folder. Inside :func:`aekit.log_to`, every fit also writes it to TensorBoard
(``tensorboard:DIR``, a run folder per fit) or MLflow (``mlflow:URI``); ``--log`` does the same on the
command line. Here two reducers of different code sizes log to TensorBoard, and the curves are read back
from the event files with TensorBoard's own reader.
"""
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits

import aekit

X = load_digits().data
logdir = Path(tempfile.mkdtemp()) / "tb"
with aekit.log_to(f"tensorboard:{logdir}"):
    for size in (2, 16):
        aekit.Reducer(latent_dim=size, epochs=15, batch_size=64).fit(X)
print(sorted(p.name for p in logdir.iterdir()))       # a run folder per fit; `tensorboard --logdir DIR` shows both

# %%
# The validation loss of each run, as TensorBoard stores it.
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

fig, ax = plt.subplots(figsize=(6, 3.5))
for run, size in zip(sorted(logdir.iterdir()), (2, 16)):
    events = EventAccumulator(str(run))
    events.Reload()
    curve = events.Scalars("loss/val")
    ax.plot([e.step for e in curve], [e.value for e in curve], marker="o", label=f"{run.name}: code size {size}")
ax.set_xlabel("epoch")
ax.set_ylabel("validation loss (scaled units)")
ax.set_yscale("log")
ax.legend()
fig.tight_layout()
plt.show()
