"""Anomalies in video: per-frame scores from a next-frame predictor (or a spatio-temporal autoencoder).

Frame ``t`` of a clip is judged in the window of ``window`` frames that ends at it (:mod:`aekit.estimators._video`):
its error map is the squared difference, per pixel, between the frame and the model's output for it, a
prediction from the frames before it with the default ``next-frame`` model (which cannot foresee a clip's first
``window - 1`` frames: they score 0) (Liu et al., "Future Frame
Prediction for Anomaly Detection -- A New Baseline", CVPR 2018: a frame is abnormal when it cannot be
foreseen), or its reconstruction with ``conv3d-video`` (Hasan et al., CVPR 2016). A frame's score is the
largest mean error over the ``score_region`` x ``score_region`` squares of its map (half-overlapping): an
event in one place of a large frame is not diluted by the rest of it (``score_region=0``: the whole frame's
mean). The threshold part is :class:`~aekit.AnomalyDetector`'s (:mod:`aekit.estimators.detect.thresholds`),
set on the training frames' scores.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import OutlierMixin

from aekit.estimators._core import register_estimator
from aekit.estimators._video import ClipEstimator
from aekit.estimators.detect.thresholds import THRESHOLD_CONSTRAINTS, THRESHOLD_STATE, Thresholded, anomaly_ranges
from aekit.models.base import list_models
from aekit.operations import Operation, verdict
from aekit.seeding import resolve_seeds
from aekit.validation import Integer

__all__ = ["VideoAnomalyDetector"]


@register_estimator("video-anomaly-detector")
class VideoAnomalyDetector(Thresholded, OutlierMixin, ClipEstimator):
    """Per-frame anomaly scores of video clips ``(N, T, C, H, W)``, from a model trained on normal clips.

    Parameters
    ----------
    window : int, default 4
        Frames per model input; frame ``t`` is judged in the window ending at it (with ``next-frame``:
        predicted from the ``window - 1`` frames before it; a clip's first ``window - 1`` frames score 0).
    latent_dim : int, default 32
        Channels of the ``next-frame`` bottleneck map (the code size of ``conv3d-video``).
    model : str, default "next-frame"
        A video model: ``next-frame`` or ``conv3d-video`` (``aekit.list_models("video")``).
    score_region : int, default 16
        Side in pixels of the squares whose mean error scores a frame (the largest counts); 0: the whole frame.
    stride : int, default 1
        Frames between the starts of training windows.
    threshold, contamination, percentile, n_sigma :
        As in :class:`aekit.AnomalyDetector`, set on the training frames' scores ("auto": the "robust" rule).
    epochs : int, default 10
    batch_size, lr, max_time, validation_fraction, scaler, model_params, random_state, device, verbose :
        as in :class:`aekit.AnomalyDetector`.

    Attributes
    ----------
    threshold_ : float
    train_scores_ : ndarray (N_train * T_train,)
        Scores of the training frames (in-sample).
    frame_shape_ : tuple (C, H, W)

    Examples
    --------
    >>> from aekit import VideoAnomalyDetector
    >>> from aekit.data.video import moving_digits
    >>> from sklearn.datasets import load_digits
    >>> digits = np.kron(load_digits().images, np.ones((2, 2))) * 15          # 16x16, 0..240
    >>> train, _ = moving_digits(digits, 12, 8, size=32, speed=2, seed=0)
    >>> test, labels = moving_digits(digits, 4, 8, size=32, speed=2, anomaly_fraction=1, seed=1)
    >>> det = VideoAnomalyDetector(epochs=1).fit(train)
    >>> det.anomaly_score(test).shape                                       # one score per frame
    (4, 8)
    """

    _default_rule = "robust"
    _fitted = {**ClipEstimator._fitted, **THRESHOLD_STATE}

    purpose = "video anomaly detection"
    operations = (
        Operation("score", "samples", ("anomaly_score", "is_anomaly"), "per-frame anomaly scores and verdicts "
                  "(n, T) of clips (n, T, C, H, W) (is_anomaly: score > threshold)", verdict),
        Operation("error_map", "samples", ("error_map",), "per-frame maps (n, T, H, W) of the squared error "
                  "between each frame and the model's output for it", "error_maps"),
        Operation("reconstruct", "samples", ("reconstruction",), "the model's output for each frame (predicted "
                  "from the frames before it by next-frame), raw units", "reconstruct"),
    )

    # tiny settings and a data family for tests/test_conformance.py (no scikit-learn checks: samples are clips)
    _conformance = {"data": "clips", "params": {"window": 3, "epochs": 1, "batch_size": 16, "latent_dim": 4,
                                                "score_region": 8}}

    def __init__(self, window: int = 4, latent_dim: int = 32, *, model: str = "next-frame",
                 model_params: dict | None = None, score_region: int = 16, stride: int = 1, threshold: str = "auto",
                 contamination="auto", percentile: float = 99.0, n_sigma: float = 3.0, epochs: int = 10,
                 batch_size: int = 32, lr: float = 2e-3, max_time: float | None = None,
                 validation_fraction: float = 0.0, scaler: str = "auto", random_state=0, device: str = "cpu",
                 verbose: bool = False):
        self.window = window
        self.latent_dim = latent_dim
        self.model = model
        self.model_params = model_params
        self.score_region = score_region
        self.stride = stride
        self.threshold = threshold
        self.contamination = contamination
        self.percentile = percentile
        self.n_sigma = n_sigma
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.max_time = max_time
        self.validation_fraction = validation_fraction
        self.scaler = scaler
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    _constraints = {**ClipEstimator._constraints, **THRESHOLD_CONSTRAINTS, "window": Integer(2),
                    "score_region": Integer(0), "stride": Integer(1), "scaler": ClipEstimator.SCALERS}

    # ------------------------------------------------------------------------------------ fitting
    def _check_params(self) -> None:
        super()._check_params()
        self._check_threshold_params()
        if self.model not in list_models("video"):
            raise ValueError(f"VideoAnomalyDetector: model={self.model!r} is not a video model; expected one of "
                             f"{list_models('video')}")

    def fit(self, X, y=None):
        """Train on the windows of the normal clips ``X`` ``(N, T, C, H, W)``; returns ``self``."""
        self._check_params()
        clips = self._read_clips(X, reset=True)
        self._learn_windows(clips)
        windows = self._train_windows(clips, int(self.stride))
        fitted = self._train(windows, seeds=resolve_seeds(self.random_state).member(0),
                             model=self._model_spec(tuple(windows.shape[1:])), objective="mse")
        self._keep(fitted)
        self.train_scores_ = self.anomaly_score(clips).ravel()
        self._set_threshold_from(self.train_scores_, self._rule())
        return self

    # ------------------------------------------------------------------------------------ applying
    def _outputs(self, clips: np.ndarray, batch_size: int = 64):
        """(model-unit inputs, outputs) ``(N, T, C, H, W)`` of each frame in the window that judges it."""
        model, scaler = self.autoencoder_.model, self.autoencoder_.scaler
        n, t = clips.shape[:2]
        judged = [self._frame_windows(c) for c in clips]
        windows = np.concatenate([w for w, _ in judged])                               # (N*T, window, C, H, W)
        at = torch.as_tensor(np.concatenate([p for _, p in judged]))                    # (N*T,): each frame's place
        x = torch.as_tensor((scaler.transform(windows) if scaler is not None else windows).astype(np.float32))
        rows = torch.arange(len(x))
        with torch.no_grad():
            out = torch.cat([model(x[i:i + batch_size]).recon[rows[i:i + batch_size] - i, at[i:i + batch_size]]
                             for i in range(0, len(x), batch_size)])
        return x[rows, at].reshape(n, t, *clips.shape[2:]), out.reshape(n, t, *clips.shape[2:])

    def error_maps(self, X) -> np.ndarray:
        """``(N, T, H, W)``: per pixel, the squared error of each frame (model units, mean over channels)."""
        self._check_fitted()
        x, out = self._outputs(self._read_clips(X, reset=False))
        return (x - out).pow(2).mean(dim=2).numpy()

    def anomaly_score(self, X) -> np.ndarray:
        """``(N, T)`` per-frame scores (higher = more abnormal): the largest mean error over the frame's
        ``score_region`` squares (module docstring)."""
        maps = torch.as_tensor(self.error_maps(X))
        n, t, h, w = maps.shape
        k = int(self.score_region)
        if k == 0 or k >= min(h, w):
            return maps.mean(dim=(2, 3)).double().numpy()
        pooled = F.avg_pool2d(maps.reshape(n * t, 1, h, w), k, stride=max(1, k // 2))
        return pooled.amax(dim=(1, 2, 3)).reshape(n, t).double().numpy()

    def reconstruct(self, X) -> np.ndarray:
        """``(N, T, C, H, W)``: the model's output for each frame, raw units."""
        self._check_fitted()
        clips = self._read_clips(X, reset=False)
        _, out = self._outputs(clips)
        return self._to_raw(out.numpy())

    def ranges(self, scores) -> list[list]:
        """Flagged frame ranges ``[[first, last], ...]`` of one clip's scores ``(T,)``: runs of frames scored above
        ``threshold_`` (touching runs merge)."""
        self._check_fitted()
        return anomaly_ranges(np.asarray(scores) > self.threshold_, 1)
