"""Semantic segmentation (one class per pixel) with a U-Net, applied to images of any size in
overlapping tiles whose class probabilities are blended.

Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical Image Segmentation",
MICCAI 2015; Dice loss after Milletari et al., "V-Net", 3DV 2016.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from aekit.estimators._core import register_estimator
from aekit.estimators._image import (TILING_CONSTRAINTS, ImageEstimator, check_tiling, model_factor, read_class_maps,
                                     read_images, tiled_apply, training_samples, value_range)
from aekit.estimators._state import ARRAY
from aekit.seeding import resolve_seeds
from aekit.validation import Integer, NoneOr, Options
from aekit.operations import Operation

LOSSES = ("ce", "dice", "ce+dice")


@register_estimator("segmenter")
class Segmenter(ImageEstimator):
    """Label every pixel of images of any size with a U-Net (``fit(images, class_maps)``).

    Parameters
    ----------
    loss : {"ce", "dice", "ce+dice"}, default "ce+dice"
        Per-pixel cross-entropy, soft Dice, or their sum.
    patch_size : int, optional
        Train on random patches of this side (default: whole images when they share one size of at most
        64 pixels a side, else 48-pixel patches).
    n_patches : int, default 2000
        Training patches cut from the images (when training on patches).
    model : {"unet"}, default "unet"
    latent_dim : int, default 64
        Channels of the U-Net's bottleneck.
    model_params : dict, optional
        Extra U-Net arguments (default ``{"channels": [16, 32]}``).
    epochs, batch_size, lr, max_time : training budget.
    validation_fraction : float, default 0.1
    tile_size, tile_overlap : int, default 128 and 16
        Larger images run in tiles of this side overlapping by at least this much; the class
        probabilities of the tiles are blended with a linear-ramp window.
    random_state : int, RandomState or None, default 0
    device : str, default "cpu"
    verbose : bool, default False

    Attributes
    ----------
    classes_ : ndarray
        The class labels seen in the training maps, sorted; ``predict`` returns them.
    autoencoder_ : aekit.TrainedAutoencoder
    value_range_, n_channels_, history_, n_iter_

    Notes
    -----
    Class maps ``y`` hold one label per pixel: ``(n, H, W)`` (or a list of (H, W) maps for images of
    different sizes). A 1-D ``y`` gives each image one class for all its pixels (how the rows of a table
    ``(n, d)``, read as flat 1 x d images, are labelled).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from aekit import Segmenter
    >>> X = load_digits().images / 16.0
    >>> seg = Segmenter(epochs=2).fit(X[:200], X[:200] > 0.5)
    >>> seg.predict(X[500:503]).shape
    (3, 8, 8)
    """

    _constraints = {**ImageEstimator._constraints, **TILING_CONSTRAINTS,
                    "loss": Options(*LOSSES), "patch_size": NoneOr(Integer(1)), "n_patches": Integer(1),
                    "model": Options("unet")}
    _fitted = {**ImageEstimator._fitted, "classes_": ARRAY}

    # what aekit apply, aekit serve and the explorer offer (aekit.operations)
    purpose = "segmentation"
    operations = (Operation("segment", "images", ("classes",), "the class of every pixel (images of any size)",
                            lambda est, x: est.predict(list(x))),)

    # tiny settings and a data family for tests/test_conformance.py ("sklearn": settings of scikit-learn's checks)
    _conformance = {"data": "segmentation", "params": {"epochs": 1, "n_patches": 40,
                                                       "model_params": {"channels": [4]}},
                    "sklearn": [{"latent_dim": 8, "model_params": {"channels": [4]}, "epochs": 3, "batch_size": 32}],
                    "expected_failures": {"check_n_features_in_after_fitting": "segments images of any size by "
                                          "design, so predict accepts another width"}}

    def __init__(self, *, loss: str = "ce+dice", patch_size: int | None = None, n_patches: int = 2000,
                 model: str = "unet", latent_dim: int = 64, model_params: dict | None = None, epochs: int = 20,
                 batch_size: int = 32, lr: float = 2e-3, max_time: float | None = None,
                 validation_fraction: float = 0.1, tile_size: int = 128, tile_overlap: int = 16, random_state=0,
                 device: str = "cpu", verbose: bool = False):
        self.loss = loss
        self.patch_size = patch_size
        self.n_patches = n_patches
        self.model = model
        self.latent_dim = latent_dim
        self.model_params = model_params
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.max_time = max_time
        self.validation_fraction = validation_fraction
        self.tile_size = tile_size
        self.tile_overlap = tile_overlap
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def fit(self, X, y=None):
        """Train on images ``X`` and their class maps ``y``. Returns ``self``."""
        from sklearn.utils.validation import validate_data

        owner = type(self).__name__
        if y is None:
            raise ValueError(f"{owner} requires y to be passed, but the target y is None: give one class map "
                             f"(H, W) per image")
        self._check_params()
        if not isinstance(X, (list, tuple)):
            validate_data(self, X, reset=True, allow_nd=True, dtype=[np.float32, np.float64], ensure_min_samples=1)
        images = read_images(X)
        maps = read_class_maps(y, images)
        chans = {a.shape[0] for a in images.items}
        if len(chans) > 1:
            raise ValueError(f"{owner}: the training images have different channel counts {sorted(chans)}")
        self.n_channels_ = chans.pop()
        self.classes_ = np.unique(np.concatenate([m.ravel() for m in maps]))
        idx = [np.searchsorted(self.classes_, m).astype(np.float32) for m in maps]
        self.value_range_ = value_range(images.items)
        seeds = resolve_seeds(self.random_state)
        factor = 2 ** len((self.model_params or {}).get("channels", [16, 32]))
        patch = None if self.patch_size is None else int(math.ceil(self.patch_size / factor) * factor)
        x, t = training_samples([self._unit(a) for a in images.items], patch_size=patch,
                                n_patches=int(self.n_patches), factor=factor, seed=seeds.split, maps=idx)
        spec = self._model_spec(x.shape[1:], {"channels": [16, 32], "num_classes": max(2, len(self.classes_))})
        self._keep(self._train(x, t, seeds=seeds, model=spec, scaler=None, objective=self.loss))
        return self

    def _probabilities(self, images) -> list[np.ndarray]:
        model = self.autoencoder_.model.eval()
        factor = model_factor(model)
        tile, overlap = check_tiling(self.tile_size, self.tile_overlap, factor, type(self).__name__)
        k = len(self.classes_)

        def fn(xb: torch.Tensor) -> torch.Tensor:
            return model(xb).recon[:, :k].softmax(1)  # (B, k, h, w); a lone class uses 2 logits

        out = []
        for img in images.items:
            if img.shape[0] != self.n_channels_:
                raise ValueError(f"X has images with {img.shape[0]} channels, but this Segmenter was fitted on "
                                 f"images with {self.n_channels_}")
            out.append(tiled_apply(fn, self._unit(img), tile=tile, overlap=overlap, factor=factor))
        return out

    def predict_proba(self, X):
        """Class probabilities per pixel: (n, n_classes, H, W) (a list for images of different sizes)."""
        self._check_fitted()
        probs = self._probabilities(read_images(X))
        return np.stack(probs) if len({p.shape for p in probs}) == 1 else probs

    def predict(self, X):
        """Class maps, one label of ``classes_`` per pixel: (n, H, W), or (n, d) for tables, or a list."""
        self._check_fitted()
        images = read_images(X)
        return images.back([self.classes_[p.argmax(0)] for p in self._probabilities(images)])

    def score(self, X, y=None) -> float:
        """Mean intersection-over-union of ``predict(X)`` with the class maps ``y`` (classes present in either)."""
        from aekit.metrics import mean_iou

        self._check_fitted()
        images = read_images(X)
        maps = read_class_maps(y, images)
        pred = [p.argmax(0) for p in self._probabilities(images)]
        k = len(self.classes_)
        # labels never seen in training count as their own class, never predicted
        truth = [np.where(np.isin(m, self.classes_), np.searchsorted(self.classes_, m).clip(0, k - 1), k) for m in maps]
        return mean_iou(np.concatenate([p.ravel() for p in pred]), np.concatenate([t.ravel() for t in truth]), k + 1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
