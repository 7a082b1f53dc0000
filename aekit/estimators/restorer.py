"""Image restoration with a residual U-Net: denoising, inpainting, watermark removal, colourisation and
super-resolution, trained from clean images alone (the corrupted inputs are drawn on the fly) or from
given (corrupted, clean) pairs, and applied to images of any size in overlapping, blended tiles.

Vincent et al., "Extracting and composing robust features with denoising autoencoders", ICML 2008 (train
on corrupted inputs, clean targets); Ronneberger et al., "U-Net", MICCAI 2015; Kim, Lee & Lee, "Accurate
Image Super-Resolution Using Very Deep Convolutional Networks" (VDSR), CVPR 2016 (refine the bicubic
up-sampling, learn the residual); Pathak et al., "Context Encoders", CVPR 2016 and Liu et al., "Image
Inpainting for Irregular Holes Using Partial Convolutions", ECCV 2018 (the mask given to the network);
Zhang, Isola & Efros, "Colorful Image Colorization", ECCV 2016.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from aekit.corruption import Corruption
from aekit.estimators._core import register_estimator
from aekit.estimators._image import (TILING_CONSTRAINTS, ImageEstimator, Images, check_tiling, model_factor,
                                     read_class_maps, read_images, tiled_apply, training_samples, value_range)
from aekit.estimators._restorer_task import TaskInputs
from aekit.estimators._state import LIST
from aekit.seeding import resolve_seeds
from aekit.training.fitting import split_validation
from aekit.validation import Instance, Integer, NoneOr
from aekit.estimators.restoration_tasks import RestorationTask, TaskAugment, make_restoration_task
from aekit.operations import Operation

# fully convolutional models (they run on tiles of any size) and their defaults for a restorer
MODELS = {"unet": {"channels": [16, 32], "residual": True},
          "residual-cnn": {"depth": 10, "shuffle": 2, "residual": True}}


def _is_labels(y) -> bool:
    """A 1-D ``y`` of scalars (class labels, as scikit-learn passes them), which a restorer ignores."""
    if isinstance(y, (list, tuple)):
        return len(y) > 0 and np.ndim(y[0]) == 0
    return np.ndim(y) == 1


@register_estimator("restorer")
class Restorer(TaskInputs, ImageEstimator):
    """Restore images: remove noise or watermarks, fill in missing pixels, colourise grey images or
    enlarge them (super-resolution), with a residual U-Net applied in overlapping tiles to any size.

    ``fit(X)`` learns from clean images alone: each training step corrupts them with the task's
    corruption (``corruption`` overrides it) and learns to undo it. ``fit(X_corrupted, y_clean)`` learns
    from given pairs instead (for ``super-resolve`` X holds the small images).

    Parameters
    ----------
    task : {"denoise", "inpaint", "watermark", "colorize", "super-resolve"}, default "denoise"
        What to undo: a name registered with
        ``aekit.estimators.restoration_tasks.register_restoration_task`` (``list_restoration_tasks()``).
        The training corruptions (one drawn per image) are, unless ``corruption`` is given:
        denoise ``gaussian:0.1`` / ``salt_pepper:0.1``; inpaint ``mask:0.5`` / one block of 0.43 x the
        patch side / three blocks of a quarter of it; watermark ``watermark:text`` / ``watermark:marks``;
        colorize ``grey`` (BT.601 luma); super-resolve ``downsample:<scale>`` (bicubic).
    corruption : str or list of str, optional
        Corruption spec(s) (see ``aekit.corruption.make_corruption``), e.g. ``"gaussian:0.3"`` or
        ``["mask:0.5", "block:12"]``; not for colorize / super-resolve, whose degradation is the task.
    scale : int, default 2
        Enlargement factor of ``super-resolve``.
    noise_levels : (float, float), optional
        ``denoise`` only: one network for Gaussian noise of any sigma in ``(low, high)`` (in the images'
        units, e.g. ``(5, 50)`` for 0..255 images), told the level through a noise-level map (FFDNet).
        ``predict(X, sigma=...)`` gives the level; without it the level is estimated from each image.
    patch_size : int, optional
        Train on random ``patch_size`` x ``patch_size`` patches (default: the whole images when they share
        one size of at most 64 pixels a side, else 48-pixel patches).
    n_patches : int, default 2000
        Number of training patches cut from the images (when training on patches).
    model : {"unet", "residual-cnn"}, default "unet"
        A residual U-Net, or a plain residual stack of 3x3 convolutions on pixel-unshuffled images
        (DnCNN / FFDNet / VDSR-like, aekit/models/residual_cnn.py: cheaper for a wide receptive field).
    latent_dim : int, default 64
        Channels of the U-Net's bottleneck (of every hidden layer of ``residual-cnn``).
    model_params : dict, optional
        Extra model arguments; the defaults are :data:`MODELS`' (``{"channels": [16, 32], "residual": True}``
        for the U-Net).
    epochs, batch_size, lr, max_time : training budget (``max_time`` in seconds, optional).
    validation_fraction : float, default 0.1
        Samples held out (corrupted once, with a fixed seed) for early stopping; at least 20 samples.
    tile_size, tile_overlap : int, default 128 and 16
        Images larger than a tile are processed in tiles of this side overlapping by at least this much,
        blended with a linear-ramp window.
    random_state : int, RandomState or None, default 0
    device : str, default "cpu"
    verbose : bool, default False

    Attributes
    ----------
    autoencoder_ : aekit.TrainedAutoencoder
        The trained U-Net.
    value_range_ : tuple of float
        Raw value range mapped to [0, 1] ((0, 1), (0, 255), or the training data's min and max).
    n_channels_ : int
        Channels of the training images (3 for colorize).
    task_ : aekit.estimators.restoration_tasks.RestorationTask
        The task object looked up from ``task`` (and ``scale``); the estimator delegates to it.
    corruptions_ : list of aekit.corruption.Corruption
        The corruptions trained on (empty when fitted on pairs), parsed once.
    corruption_specs_ : list of str
        Their specs (``aekit.corruption.to_spec``): the saved, human-readable record.
    history_, n_iter_ : per-epoch losses and the number of epochs run.

    Notes
    -----
    A model fitted on grey images restores colour images channel by channel.

    Inputs may be batches ``(n, H, W)``, ``(n, C, H, W)``, ``(n, H, W, C)``, lists of images of different
    sizes, or tables ``(n, d)`` whose rows are flat 1 x d grey images. A 1-D ``y`` (class labels) is
    ignored, as by scikit-learn's unsupervised estimators. Inpainting needs the mask of the missing pixels
    at prediction time (``masks``, True = missing); ``score`` without ``y`` corrupts ``X`` itself.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from aekit import Restorer
    >>> X = load_digits().images / 16.0
    >>> rest = Restorer(task="denoise", corruption="gaussian:0.2", epochs=2).fit(X[:200])
    >>> noisy = rest.corrupt(X[1000:1003])
    >>> rest.predict(noisy).shape
    (3, 8, 8)
    """

    _constraints = {
        **ImageEstimator._constraints, **TILING_CONSTRAINTS,
        "task": Instance(str, what="a registered restoration task (list_restoration_tasks())"),
        "corruption": NoneOr(Instance(str, Corruption, list, tuple,
                                      what="a corruption spec such as 'gaussian:0.3', a Corruption, or a list of "
                                           "them")),
        "scale": Integer(1), "patch_size": NoneOr(Integer(1)), "n_patches": Integer(1),
        "noise_levels": NoneOr(Instance(tuple, list, what="(low, high) noise sigmas")),
    }
    _fitted = {**ImageEstimator._fitted, "corruption_specs_": LIST}   # task_ and corruptions_ follow from them

    # what aekit apply, aekit serve and the explorer offer (aekit.operations)
    purpose = "restoration"
    operations = (Operation("restore", "images", ("restored",), "the task's restoration of images of any size",
                            lambda est, x: [est.restore(i) for i in x]),)

    # tiny settings and a data family for tests/test_conformance.py ("sklearn": settings of scikit-learn's checks)
    # (the checks give tables: their rows are read as flat 1 x d grey images, see aekit/estimators/_image.py)
    _conformance = {"data": "images", "params": {"corruption": "gaussian:0.2", "epochs": 1, "n_patches": 40,
                                                 "model_params": {"channels": [4]}},
                    "sklearn": [{"task": "denoise", "latent_dim": 8, "model_params": {"channels": [4]}, "epochs": 3,
                                 "batch_size": 32}],
                    "expected_failures": {"check_n_features_in_after_fitting": "restores images of any size by "
                                          "design, so predict accepts another width"}}

    def __init__(self, task: str = "denoise", *, corruption=None, scale: int = 2, noise_levels=None,
                 patch_size: int | None = None,
                 n_patches: int = 2000, model: str = "unet", latent_dim: int = 64, model_params: dict | None = None,
                 epochs: int = 20, batch_size: int = 32, lr: float = 2e-3, max_time: float | None = None,
                 validation_fraction: float = 0.1, tile_size: int = 128, tile_overlap: int = 16,
                 random_state=0, device: str = "cpu", verbose: bool = False):
        self.task = task
        self.corruption = corruption
        self.scale = scale
        self.noise_levels = noise_levels
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

    # ------------------------------------------------------------------------------------ checks
    def _check_params(self) -> tuple[RestorationTask, list | None]:
        """The task looked up by name, and the user's corruptions parsed (None: the task's defaults)."""
        super()._check_params()
        owner = type(self).__name__
        try:
            task = make_restoration_task(self.task, scale=self.scale, noise_levels=self.noise_levels)
        except ValueError as exc:
            raise ValueError(f"{owner}: {exc}") from None
        if self.model not in MODELS:
            raise ValueError(f"{owner}: model={self.model!r}; restoration runs on tiles of any size, so it needs a "
                             f"fully convolutional model, one of {tuple(MODELS)}")
        if self.corruption is not None and not task.accepts_corruption:
            raise ValueError(f"{owner}: the corruption of task={self.task!r} is fixed by the task "
                             f"({task.degradation}); leave corruption=None")
        return task, self._user_corruptions()

    def _forward(self, xb: torch.Tensor) -> torch.Tensor:
        return self.autoencoder_.model(xb).recon

    # ------------------------------------------------------------------------------------ fit
    def fit(self, X, y=None, *, masks=None):
        """Train on clean images ``X`` (corruptions drawn on the fly), or on pairs: ``X`` corrupted and
        ``y`` clean (``masks``: the missing pixels of X, for inpainting; default: where X and y differ).
        Returns ``self``."""
        from sklearn.utils.validation import validate_data

        task, user_corruptions = self._check_params()
        owner = type(self).__name__
        if not isinstance(X, (list, tuple)):
            validate_data(self, X, reset=True, allow_nd=True, dtype=[np.float32, np.float64], ensure_min_samples=1)
        images = read_images(X)
        pairs = y is not None and not _is_labels(y)
        clean = read_images(y, name="y") if pairs else images
        chans = {a.shape[0] for a in clean.items}
        if len(chans) > 1:
            raise ValueError(f"{owner}: the training images have different channel counts {sorted(chans)}")
        self.n_channels_ = chans.pop()
        try:
            task.check_channels(self.n_channels_)
        except ValueError as exc:
            raise ValueError(f"{owner}: {exc}") from None
        self.value_range_ = value_range(clean.items + (images.items if pairs else []))
        self.task_ = task = self._build_task()
        seeds = resolve_seeds(self.random_state)
        from aekit.models import model_class

        factor = model_class(self.model).input_multiple({**MODELS[self.model], **(self.model_params or {})})
        s = int(task.scale)
        multiple = factor * s // math.gcd(factor, s)
        patch = None if self.patch_size is None else int(math.ceil(self.patch_size / multiple) * multiple)
        c_in, c_out = task.in_channels(self.n_channels_), task.out_channels(self.n_channels_)
        model_kwargs = {**MODELS[self.model], "out_channels": c_out}

        if pairs:
            self._set_corruptions([])
            if len(clean.items) != len(images.items):
                raise ValueError(f"{owner}: X has {len(images.items)} images but y has {len(clean.items)}")
            holes = None
            if task.needs_mask:
                holes = (read_class_maps(masks, images, name="masks") if masks is not None else
                         [np.any(a != b, axis=0) for a, b in zip(images.items, clean.items)])
            inputs, targets = [], []
            for i, (a, b) in enumerate(zip(images.items, clean.items)):
                inp = self._model_input(self._unit(a), None if holes is None else holes[i])
                if inp.shape[1:] != b.shape[1:]:
                    raise ValueError(f"{owner}: image {i} of X becomes {inp.shape[1]}x{inp.shape[2]} for task "
                                     f"{self.task!r}, but its target in y is {b.shape[1]}x{b.shape[2]}")
                inputs.append(inp)
                targets.append(self._unit(b))
            both, _ = training_samples([np.concatenate([a, b]) for a, b in zip(inputs, targets)], patch_size=patch,
                                       n_patches=int(self.n_patches), factor=factor, seed=seeds.split)
            c_in = inputs[0].shape[0]
            x, t = np.ascontiguousarray(both[:, :c_in]), np.ascontiguousarray(both[:, c_in:])
            self._keep(self._train(x, t, seeds=seeds, model=self._model_spec(x.shape[1:], model_kwargs), scaler=None))
            return self

        if c_in < self.n_channels_:
            raise ValueError(f"{owner}: task={self.task!r} feeds the network {c_in} channel(s) for "
                             f"{self.n_channels_}-channel images; training from clean images needs at least as many "
                             f"input channels as the images have (fit on (X_corrupted, y_clean) pairs instead)")
        units = [self._unit(a) for a in images.items]
        clean_x, _ = training_samples(units, patch_size=patch, n_patches=int(self.n_patches), factor=multiple,
                                      seed=seeds.split)                   # (N, C, P, P)
        self._set_corruptions(user_corruptions if user_corruptions is not None else
                              task.default_corruptions(clean_x.shape[-1]))
        # each step degrades the clean images: its side information (noise level, missing pixels) is a named
        # field of the batch record, and the extra input channel(s) of the network
        augment = TaskAugment(task, self.corruptions_)
        tr, va = split_validation(len(clean_x), self.validation_fraction, seeds.split)
        val = None
        if len(va):  # corrupted once, so early stopping compares like with like
            with torch.no_grad():
                val_in = augment.views(torch.from_numpy(clean_x[va]), seeds.generator("split", offset=1))[0].numpy()
            val = (val_in, clean_x[va])
        shape = (c_in, *clean_x.shape[2:])                                # what the network sees
        model = self._model_spec(shape, model_kwargs).build(shape, seeds.init)
        self._keep(self._train(np.ascontiguousarray(clean_x[tr]), seeds=seeds, model=model, scaler=None, val=val,
                               augment=augment))                          # the target: the clean input
        return self

    # ------------------------------------------------------------------------------------ apply
    def _restore_units(self, images: Images, masks, sigma=None) -> list[np.ndarray]:
        sides = self._sides(images, masks, sigma)
        model = self.autoencoder_.model.eval()
        tile, overlap = check_tiling(self.tile_size, self.tile_overlap, model_factor(model), type(self).__name__)
        out = []
        for img, side in zip(images.items, sides):
            unit = self._unit(img)
            # a grey model restores a colour image channel by channel (one input plane at a time)
            planes = ([unit] if unit.shape[0] == self.n_channels_ or self.n_channels_ != 1
                      else [unit[c:c + 1] for c in range(unit.shape[0])])
            restored = [tiled_apply(self._forward, self._model_input(p, side), tile=tile, overlap=overlap,
                                    factor=model_factor(model)) for p in planes]
            out.append(np.concatenate(restored))
        return out

    def predict(self, X, *, masks=None, sigma=None):
        """Restored images in ``X``'s layout and units (``super-resolve``: ``scale`` times larger;
        ``colorize``: 3 channels). ``masks`` (inpainting): the missing pixels, True = missing, one (H, W)
        map per image. ``sigma`` (a denoiser trained with ``noise_levels``): the noise level in the
        images' units, one for all or one per image; default: estimated from each image."""
        self._check_fitted()
        images = read_images(X)
        self._check_channels(images)
        return images.back([self._raw(o) for o in self._restore_units(images, masks, sigma)])

    def restore(self, image, *, mask=None, sigma=None) -> np.ndarray:
        """Restore one image of any size: (H, W), (H, W, C) or (C, H, W); returned in the same layout."""
        arr = np.asarray(image)
        if arr.ndim not in (2, 3):
            raise ValueError(f"restore takes one image shaped (H, W), (H, W, C) or (C, H, W), got shape {arr.shape}; "
                             f"use predict for batches")
        return self.predict([arr], masks=None if mask is None else [np.asarray(mask)], sigma=sigma)[0]

    def score(self, X, y=None, *, masks=None) -> float:
        """Mean PSNR in dB (on [0, 1] units) of the restorations of ``X`` against the clean ``y``; without
        ``y``, ``X`` is taken as clean and corrupted first (``corrupt(X, random_state=0)``)."""
        self._check_fitted()
        if y is None or _is_labels(y):
            clean = read_images(X)
            degraded, holes = self.corrupt(X, return_masks=True)
            masks = holes if self.task_.needs_mask else None
            # compare with the part of the originals the degraded images stand for (super-resolve: cropped)
            clean = Images([self.task_.crop(a) for a in clean.items], clean.layout, clean.item_layouts)
            degraded_images = read_images(degraded)
        else:
            clean = read_images(y, name="y")
            degraded_images = read_images(X)
        restored = self._restore_units(degraded_images, masks)
        psnrs = []
        for r, c in zip(restored, clean.items):
            c = self._unit(c)
            if r.shape != c.shape:
                raise ValueError(f"score: a restoration of shape {r.shape} does not match its clean image {c.shape}")
            err = float(np.mean((r.astype(np.float64) - c) ** 2))
            psnrs.append(10 * np.log10(1.0 / max(err, 1e-12)))
        return float(np.mean(psnrs))

    # ------------------------------------------------------------------------------------ persistence
    def _restore_derived(self) -> None:
        """After loading: the task from the parameters and ``value_range_``, the corruptions from their specs."""
        from aekit.corruption import make_corruption

        self.task_ = self._build_task()
        self.corruptions_ = [make_corruption(s) for s in self.corruption_specs_]   # parsed once, here
