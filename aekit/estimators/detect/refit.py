"""The series refit policy part: when and how the detector's autoencoder keeps learning on a stream.

``PeriodicRefit`` fine-tunes it every ``refit_every`` rows on the windows of the last ``refit_history`` rows
(the past only, so scores stay causal), for about ``refit_steps`` optimisation steps at a third of the fit's
learning rate, through the estimator's one training function (``Estimator._train``: its progress
setting, batch size, ``max_time`` and device, with the fit's first member seeds). ``refit_every=None``: never.

A policy reads the detector parameters it names in ``params`` and scores rows with the detector's
``_advance(state, rows)``, choosing when to train in between; another policy is one class and one class
attribute of the detector.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from aekit.estimators.detect.ensemble import forget_float64_copy
from aekit.seeding import resolve_seeds


class PeriodicRefit:
    params: ClassVar[tuple[str, ...]] = ("refit_every", "refit_history", "refit_steps")

    def __init__(self, *, refit_every: int | None, refit_history: int, refit_steps: int):
        self.every = int(refit_every) if refit_every else None
        self.history, self.steps = int(refit_history), int(refit_steps)

    @classmethod
    def of(cls, detector) -> "PeriodicRefit":
        return cls(**{p: getattr(detector, p) for p in cls.params})

    def new_buffer(self, n_channels: int) -> np.ndarray | None:
        """The rows kept for refits at the start of a stream (None: the policy keeps none)."""
        return np.zeros((0, n_channels)) if self.every else None

    def run(self, detector, state, x: np.ndarray) -> np.ndarray:
        """Score the rows ``x`` that follow ``state`` (moving it past them), refitting each time ``every``
        rows have passed, before scoring the rows after that point."""
        if not self.every:
            return detector._advance(state, x)
        if state.buffer is None:  # refit_every was set after the fit
            state.buffer = np.zeros((0, x.shape[1]))
        state.buffer = state.buffer.reshape(-1, x.shape[1])  # an empty buffer reloads as a flat list
        out, i = [], 0
        while i < len(x):
            j = min(len(x), i + self.every - state.since_refit)
            chunk = x[i:j]
            out.append(detector._advance(state, chunk))
            state.buffer = np.concatenate([state.buffer, chunk])[-self.history:]
            state.since_refit += len(chunk)
            if state.since_refit >= self.every:
                self.refit(detector, state.buffer)
                state.since_refit = 0
            i = j
        return np.concatenate(out) if out else np.zeros(0)

    def refit(self, detector, rows: np.ndarray) -> None:
        """Fine-tune ``detector.autoencoder_`` for about ``steps`` steps on a replay of the windows of ``rows``:
        one pass over every k-th window, k chosen so that the pass takes about ``steps`` batches (the recent
        past is covered evenly; nothing random, so a stream scored in chunks refits as in one pass)."""
        if len(rows) < int(detector.window) + 1:
            return
        n_windows = len(rows) - int(detector.window) + 1
        batch = min(detector._batch_size(), n_windows)
        stride = max(1, n_windows // (self.steps * batch))
        windows = detector._scaled_windows(rows, stride)
        detector._train(windows, seeds=resolve_seeds(detector.random_state).member(0),
                        model=detector.autoencoder_.model, scaler=None, objective="mse",
                        epochs=max(1, round(self.steps * batch / len(windows))), validation_fraction=0.0,
                        lr=float(detector.lr) / 3)
        detector.autoencoder_.model.eval()
        forget_float64_copy(detector.autoencoder_.model)  # score with the refitted weights from now on
