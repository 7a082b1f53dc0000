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
import numbers

import numpy as np
import torch

from aekit.estimators._base import AutoencoderEstimator, _seed, register_estimator, split_validation
from aekit.estimators._image import (Images, check_tiling, model_factor, read_class_maps, read_images, tiled_apply,
                                     train_pairs, training_samples, value_range)

TASKS = ("denoise", "inpaint", "watermark", "colorize", "super-resolve")
MODELS = ("unet",)  # fully convolutional: runs on tiles of any size


def default_corruptions(task: str, patch: int, scale: int) -> list[str]:
    """The corruptions a task trains on (one drawn per image) when ``corruption`` is not given."""
    if task == "denoise":
        return ["gaussian:0.1", "salt_pepper:0.1"]
    if task == "inpaint":
        return ["mask:0.5", f"block:{max(2, round(0.43 * patch))}", f"block:{max(2, patch // 4)},n=3"]
    if task == "watermark":
        return ["watermark:text", "watermark:marks"]
    if task == "colorize":
        return ["grey"]
    return [f"downsample:{scale}"]


def _is_labels(y) -> bool:
    """A 1-D ``y`` of scalars (class labels, as scikit-learn passes them), which a restorer ignores."""
    if isinstance(y, (list, tuple)):
        return len(y) > 0 and np.ndim(y[0]) == 0
    return np.ndim(y) == 1


class TaskCorruption:
    """The training-time corruption of a task, on clean model inputs (B, C_in, H, W).

    One of ``corruptions`` is drawn per image. With ``mask_channel`` (inpainting) the last input channel is
    replaced by the map of known pixels (1 known, 0 missing) and missing pixels are set to 0; the missing
    pixels are those a corruption changes both in an all-ones and an all-zeros image drawn with the same
    random numbers, whatever its fill value.
    """

    def __init__(self, corruptions: list, *, mask_channel: bool):
        self.corruptions = corruptions
        self.mask_channel = mask_channel

    def _holes(self, c, img: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        state = generator.get_state()
        out = c(img, generator)
        if not self.mask_channel:
            return out, None
        end = generator.get_state()
        generator.set_state(state)
        ones = c(torch.ones_like(img), generator) != 1
        generator.set_state(state)
        zeros = c(torch.zeros_like(img), generator) != 0
        generator.set_state(end)
        return out, (ones | zeros).any(1, keepdim=True)       # (B, 1, H, W) True = missing

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        img = x[:, :-1] if self.mask_channel else x            # (B, C, H, W)
        if len(self.corruptions) == 1:
            out, holes = self._holes(self.corruptions[0], img, generator)
        else:
            pick = torch.randint(len(self.corruptions), (len(img),), generator=generator,
                                 device=generator.device).to(img.device)
            out = img.clone()
            holes = torch.zeros_like(img[:, :1], dtype=torch.bool) if self.mask_channel else None
            for k, c in enumerate(self.corruptions):
                ok, hk = self._holes(c, img, generator)
                sel = pick == k
                out[sel] = ok[sel]
                if holes is not None:
                    holes[sel] = hk[sel]
        if not self.mask_channel:
            return out
        known = (~holes).to(img.dtype)
        return torch.cat([out * known, known], 1)              # (B, C + 1, H, W)


@register_estimator("restorer")
class Restorer(AutoencoderEstimator):
    """Restore images: remove noise or watermarks, fill in missing pixels, colourise grey images or
    enlarge them (super-resolution), with a residual U-Net applied in overlapping tiles to any size.

    ``fit(X)`` learns from clean images alone: each training step corrupts them with the task's
    corruption (``corruption`` overrides it) and learns to undo it. ``fit(X_corrupted, y_clean)`` learns
    from given pairs instead (for ``super-resolve`` X holds the small images).

    Parameters
    ----------
    task : {"denoise", "inpaint", "watermark", "colorize", "super-resolve"}, default "denoise"
        What to undo. The training corruptions (one drawn per image) are, unless ``corruption`` is given:
        denoise ``gaussian:0.1`` / ``salt_pepper:0.1``; inpaint ``mask:0.5`` / one block of 0.43 x the
        patch side / three blocks of a quarter of it; watermark ``watermark:text`` / ``watermark:marks``;
        colorize ``grey`` (BT.601 luma); super-resolve ``downsample:<scale>`` (bicubic).
    corruption : str or list of str, optional
        Corruption spec(s) (see ``aekit.corruption.make_corruption``), e.g. ``"gaussian:0.3"`` or
        ``["mask:0.5", "block:12"]``; not for colorize / super-resolve, whose degradation is the task.
    scale : int, default 2
        Enlargement factor of ``super-resolve``.
    patch_size : int, optional
        Train on random ``patch_size`` x ``patch_size`` patches (default: the whole images when they share
        one size of at most 64 pixels a side, else 48-pixel patches).
    n_patches : int, default 2000
        Number of training patches cut from the images (when training on patches).
    model : {"unet"}, default "unet"
    latent_dim : int, default 64
        Channels of the U-Net's bottleneck.
    model_params : dict, optional
        Extra U-Net arguments; the default is ``{"channels": [16, 32], "residual": True}``.
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
    corruption_specs_ : list of str
        The corruptions trained on (empty when fitted on pairs).
    history_, n_iter_ : per-epoch losses and the number of epochs run.

    Notes
    -----
    Inputs may be batches ``(n, H, W)``, ``(n, C, H, W)``, ``(n, H, W, C)``, lists of images of different
    sizes, or tables ``(n, d)`` whose rows are flat 1 x d grey images. A 1-D ``y`` (class labels) is
    ignored, as by scikit-learn's unsupervised estimators. Inpainting needs the mask of the missing pixels
    at prediction time (``masks``, True = missing); ``score`` without ``y`` corrupts ``X`` itself.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from aekit import Restorer
    >>> X = load_digits().images / 16.0
    >>> rest = Restorer(task="denoise", corruption="gaussian:0.2", epochs=3).fit(X[:1000])
    >>> noisy = rest.corrupt(X[1000:1010])
    >>> rest.predict(noisy).shape
    (10, 8, 8)
    """

    def __init__(self, task: str = "denoise", *, corruption=None, scale: int = 2, patch_size: int | None = None,
                 n_patches: int = 2000, model: str = "unet", latent_dim: int = 64, model_params: dict | None = None,
                 epochs: int = 20, batch_size: int = 32, lr: float = 2e-3, max_time: float | None = None,
                 validation_fraction: float = 0.1, tile_size: int = 128, tile_overlap: int = 16,
                 random_state=0, device: str = "cpu", verbose: bool = False):
        self.task = task
        self.corruption = corruption
        self.scale = scale
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
    def _check_params(self) -> None:
        owner = type(self).__name__
        if self.task not in TASKS:
            raise ValueError(f"{owner}: task={self.task!r}, expected one of {TASKS}")
        if self.model not in MODELS:
            raise ValueError(f"{owner}: model={self.model!r}; restoration runs on tiles of any size, so it needs a "
                             f"fully convolutional model, one of {MODELS}")
        if self.task == "super-resolve" and (isinstance(self.scale, bool) or not isinstance(self.scale, numbers.Integral)
                                             or self.scale < 2):
            raise ValueError(f"{owner}: scale={self.scale!r} must be an integer >= 2 for task='super-resolve'")
        if self.corruption is not None and self.task in ("colorize", "super-resolve"):
            raise ValueError(f"{owner}: the corruption of task={self.task!r} is fixed by the task (grey / bicubic "
                             f"down-sampling); leave corruption=None")
        if self.patch_size is not None:
            from aekit.estimators._base import _positive_int
            _positive_int(owner, patch_size=self.patch_size, n_patches=self.n_patches)

    def _specs(self, patch: int) -> list[str]:
        from aekit.corruption import Corruption, make_corruption, to_spec

        given = self.corruption
        if given is None:
            return default_corruptions(self.task, patch, int(self.scale))
        items = [given] if isinstance(given, (str, Corruption)) else list(given)
        if not items:
            raise ValueError(f"{type(self).__name__}: corruption=[] names no corruption")
        specs = []
        for item in items:
            c = make_corruption(item)
            if c is None:
                raise ValueError(f"{type(self).__name__}: corruption {item!r} is 'none'; a restorer needs something "
                                 f"to undo")
            specs.append(item if isinstance(item, str) else to_spec(c))
        return specs

    def _corruption(self) -> TaskCorruption:
        from aekit.corruption import make_corruption

        return TaskCorruption([make_corruption(s) for s in self.corruption_specs_],
                              mask_channel=self.task == "inpaint")

    @property
    def _in_channels(self) -> int:
        return self.n_channels_ + (self.task == "inpaint")

    def _unit(self, a: np.ndarray) -> np.ndarray:
        lo, hi = self.value_range_
        return np.clip((a - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)

    def _raw(self, a: np.ndarray) -> np.ndarray:
        lo, hi = self.value_range_
        return (a * (hi - lo) + lo).astype(np.float32)

    def _check_channels(self, images: Images, what: str = "X") -> None:
        allowed = {self.n_channels_} | ({1, 3} if self.task == "colorize" else set())
        bad = sorted({a.shape[0] for a in images.items} - allowed)
        if bad:
            raise ValueError(f"{what} has images with {bad[0]} channels, but this Restorer was fitted on images with "
                             f"{self.n_channels_}")

    # ------------------------------------------------------------------------------------ model inputs
    def _model_input(self, img: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
        """A [0, 1] image (C, H, W) as the network sees it (up-sampled, grey replicated, mask channel)."""
        from aekit.corruption import bicubic_resize, luma

        x = torch.from_numpy(img)[None]                                   # (1, C, H, W)
        if self.task == "super-resolve":
            s = int(self.scale)
            x = bicubic_resize(x, (x.shape[2] * s, x.shape[3] * s))       # (1, C, sH, sW)
        elif self.task == "colorize":
            x = luma(x).expand(1, 3, *x.shape[2:])                        # (1, 3, H, W)
        elif self.task == "inpaint":
            if missing is None:
                raise ValueError("task='inpaint' needs the missing pixels: pass masks= (True = missing), one "
                                 "(H, W) map per image")
            known = torch.from_numpy(~missing.astype(bool)).to(x.dtype)[None, None]   # (1, 1, H, W)
            x = torch.cat([x * known, known], 1)                          # (1, C + 1, H, W)
        return x[0].numpy()

    def _forward(self, xb: torch.Tensor) -> torch.Tensor:
        return self.autoencoder_.model(xb).recon

    # ------------------------------------------------------------------------------------ fit
    def fit(self, X, y=None, *, masks=None):
        """Train on clean images ``X`` (corruptions drawn on the fly), or on pairs: ``X`` corrupted and
        ``y`` clean (``masks``: the missing pixels of X, for inpainting; default: where X and y differ).
        Returns ``self``."""
        from sklearn.utils.validation import validate_data

        self._check_params()
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
        if self.task == "colorize" and self.n_channels_ != 3:
            raise ValueError(f"{owner}: task='colorize' learns from colour images (3 channels); got images with "
                             f"{self.n_channels_} channel(s)")
        self.value_range_ = value_range(clean.items + (images.items if pairs else []))
        seed = _seed(self.random_state)
        factor = 2 ** len((self.model_params or {}).get("channels", [16, 32]))
        s = int(self.scale) if self.task == "super-resolve" else 1
        multiple = factor * s // math.gcd(factor, s)
        patch = None if self.patch_size is None else int(math.ceil(self.patch_size / multiple) * multiple)
        model_kwargs = {"channels": [16, 32], "residual": True, "out_channels": self.n_channels_}

        if pairs:
            self.corruption_specs_ = []
            if len(clean.items) != len(images.items):
                raise ValueError(f"{owner}: X has {len(images.items)} images but y has {len(clean.items)}")
            holes = None
            if self.task == "inpaint":
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
                                       n_patches=int(self.n_patches), factor=factor, seed=seed)
            c_in = inputs[0].shape[0]
            x, t = both[:, :c_in], both[:, c_in:]
            tr, va = split_validation(len(x), self.validation_fraction, seed, owner)
            val = (x[va], t[va]) if len(va) else None
            train_pairs(self, np.ascontiguousarray(x[tr]), np.ascontiguousarray(t[tr]), val,
                        model_kwargs=model_kwargs, loss="mse")
            return self

        units = [self._unit(a) for a in images.items]
        x, _ = training_samples(units, patch_size=patch, n_patches=int(self.n_patches), factor=multiple, seed=seed)
        self.corruption_specs_ = self._specs(x.shape[-1])
        corruption = self._corruption()
        if self.task == "inpaint":
            x = np.concatenate([x, np.ones_like(x[:, :1])], 1)             # the mask channel, filled in by corruption
        targets = x[:, :self.n_channels_]
        tr, va = split_validation(len(x), self.validation_fraction, seed, owner)
        val = None
        if len(va):
            with torch.no_grad():
                val_in = corruption(torch.from_numpy(x[va]), torch.Generator().manual_seed(seed + 1)).numpy()
            val = (val_in, targets[va])
        train_pairs(self, np.ascontiguousarray(x[tr]), np.ascontiguousarray(targets[tr]), val,
                    model_kwargs=model_kwargs, loss="mse", corruption=corruption)
        return self

    # ------------------------------------------------------------------------------------ apply
    def _restore_units(self, images: Images, masks) -> list[np.ndarray]:
        holes = None if masks is None else [m.astype(bool) for m in read_class_maps(masks, images, name="masks")]
        model = self.autoencoder_.model.eval()
        tile, overlap = check_tiling(self.tile_size, self.tile_overlap, model_factor(model), type(self).__name__)
        out = []
        for i, img in enumerate(images.items):
            inp = self._model_input(self._unit(img), None if holes is None else holes[i])
            out.append(tiled_apply(self._forward, inp, tile=tile, overlap=overlap, factor=model_factor(model)))
        return out

    def predict(self, X, *, masks=None):
        """Restored images in ``X``'s layout and units (``super-resolve``: ``scale`` times larger;
        ``colorize``: 3 channels). ``masks`` (inpainting): the missing pixels, True = missing, one (H, W)
        map per image."""
        self._check_fitted()
        images = read_images(X)
        self._check_channels(images)
        return images.back([self._raw(o) for o in self._restore_units(images, masks)])

    def restore(self, image, *, mask=None) -> np.ndarray:
        """Restore one image of any size: (H, W), (H, W, C) or (C, H, W); returned in the same layout."""
        arr = np.asarray(image)
        if arr.ndim not in (2, 3):
            raise ValueError(f"restore takes one image shaped (H, W), (H, W, C) or (C, H, W), got shape {arr.shape}; "
                             f"use predict for batches")
        return self.predict([arr], masks=None if mask is None else [np.asarray(mask)])[0]

    def corrupt(self, X, *, random_state=0, return_masks: bool = False):
        """Apply the task's degradation to clean images, as in training (one corruption drawn per image):
        what ``predict`` expects. ``super-resolve`` returns images ``scale`` times smaller (sides cropped
        to a multiple of ``scale`` first); ``colorize`` grey replicated over the channels. With
        ``return_masks`` (inpainting) also the missing pixels, one (H, W) boolean map per image."""
        from aekit.corruption import bicubic_resize

        self._check_fitted()
        images = read_images(X)
        self._check_channels(images)
        seed = _seed(random_state)
        corruption = None if self.task == "super-resolve" else self._corruption()
        outs, holes = [], []
        for i, img in enumerate(images.items):
            x = torch.from_numpy(self._unit(img))[None]                   # (1, C, H, W)
            if self.task == "super-resolve":
                s = int(self.scale)
                h, w = x.shape[2] // s, x.shape[3] // s
                if not h or not w:
                    raise ValueError(f"image {i} ({x.shape[2]}x{x.shape[3]}) is smaller than scale={s}")
                out = bicubic_resize(x[:, :, :h * s, :w * s], (h, w))
            else:
                if self.task == "inpaint":
                    x = torch.cat([x, torch.ones_like(x[:, :1])], 1)
                if self.task == "colorize" and x.shape[1] == 1:
                    x = x.expand(1, 3, *x.shape[2:])
                with torch.no_grad():
                    out = corruption(x, torch.Generator().manual_seed(seed * 1_000_003 + i))
                if self.task == "inpaint":
                    holes.append(out[0, -1].numpy() == 0)
                    out = out[:, :-1]
            outs.append(self._raw(out[0].numpy()))
        result = images.back(outs)
        return (result, holes) if return_masks else result

    def score(self, X, y=None, *, masks=None) -> float:
        """Mean PSNR in dB (on [0, 1] units) of the restorations of ``X`` against the clean ``y``; without
        ``y``, ``X`` is taken as clean and corrupted first (``corrupt(X, random_state=0)``)."""
        self._check_fitted()
        if y is None or _is_labels(y):
            clean = read_images(X)
            degraded, holes = self.corrupt(X, return_masks=True)
            masks = holes if self.task == "inpaint" else None
            if self.task == "super-resolve":  # compare with the cropped originals
                s = int(self.scale)
                clean = Images([a[:, :a.shape[1] // s * s, :a.shape[2] // s * s] for a in clean.items],
                               clean.layout, clean.item_layouts)
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
    def _get_state(self) -> dict:
        state = {"n_channels_": int(self.n_channels_), "value_range_": list(self.value_range_),
                 "corruption_specs_": list(self.corruption_specs_), "history_": self.history_, "n_iter_": self.n_iter_}
        if hasattr(self, "n_features_in_"):
            state["n_features_in_"] = int(self.n_features_in_)
        return state

    def _set_state(self, state: dict) -> None:
        self.n_channels_ = int(state["n_channels_"])
        self.value_range_ = tuple(state["value_range_"])
        self.corruption_specs_ = list(state["corruption_specs_"])
        self.history_, self.n_iter_ = state["history_"], state["n_iter_"]
        if "n_features_in_" in state:
            self.n_features_in_ = int(state["n_features_in_"])
