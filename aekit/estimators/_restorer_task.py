"""The restorer's dealings with its task (:mod:`aekit.estimators.restoration_tasks`), a part of
:class:`aekit.Restorer`: the user's corruptions parsed once and kept with their specs, the task rebuilt with
its noise levels in the images' units, the side information of each image (the missing pixels, or the noise
level: given in the images' units, or left to the task to estimate), the network input built from an image
and its side information, and the degradation of clean images as in training (``corrupt``).

It reads the restorer's parameters (``task``, ``scale``, ``noise_levels``, ``corruption``) and fitted state
(``task_``, ``corruptions_``, ``value_range_``, ``n_channels_``) and the image family's ``_unit`` / ``_raw``.
"""
from __future__ import annotations

import numpy as np
import torch

from aekit.estimators._image import Images, read_class_maps, read_images
from aekit.estimators.restoration_tasks import RestorationTask, make_restoration_task
from aekit.seeding import resolve_seed


class TaskInputs:
    """Mixin of :class:`aekit.Restorer`: its task's corruptions, side information and inputs (module docstring)."""

    # ------------------------------------------------------------------------------------ corruptions, task
    def _user_corruptions(self) -> list | None:
        """``corruption`` parsed once into Corruption objects (None when not given)."""
        from aekit.corruption import Corruption, make_corruption

        given = self.corruption
        if given is None:
            return None
        items = [given] if isinstance(given, (str, Corruption)) else list(given)
        if not items:
            raise ValueError(f"{type(self).__name__}: corruption=[] names no corruption")
        corruptions = []
        for item in items:
            c = make_corruption(item)
            if c is None:
                raise ValueError(f"{type(self).__name__}: corruption {item!r} is 'none'; a restorer needs something "
                                 f"to undo")
            corruptions.append(c)
        return corruptions

    def _set_corruptions(self, corruptions: list) -> None:
        """Keep the corruption objects, and their specs as the saved, human-readable record."""
        from aekit.corruption import to_spec

        self.corruptions_ = list(corruptions)
        self.corruption_specs_ = [to_spec(c) for c in self.corruptions_]

    def _build_task(self) -> RestorationTask:
        """The task with its noise levels on the [0, 1] scale (they are given in the images' units)."""
        lo, hi = self.value_range_
        levels = None if self.noise_levels is None else tuple(float(v) / (hi - lo) for v in self.noise_levels)
        return make_restoration_task(self.task, scale=self.scale, noise_levels=levels)

    def _check_channels(self, images: Images, what: str = "X") -> None:
        allowed = self.task_.predict_channels(self.n_channels_) | ({3} if self.n_channels_ == 1 else set())
        bad = sorted({a.shape[0] for a in images.items} - allowed)
        if bad:
            raise ValueError(f"{what} has images with {bad[0]} channels, but this Restorer was fitted on images with "
                             f"{self.n_channels_}")

    # ------------------------------------------------------------------------------------ model inputs
    def _model_input(self, img: np.ndarray, side=None) -> np.ndarray:
        """A [0, 1] image (C, H, W) as the network sees it (the task's ``model_input``), given its side
        information: the missing pixels (H, W) or the noise sigma (on the [0, 1] scale)."""
        x = torch.from_numpy(img)[None]                                   # (1, C, H, W)
        if side is not None:
            side = (torch.tensor([float(side)]) if self.task_.conditions_on_sigma
                    else torch.from_numpy(np.asarray(side, bool))[None])  # (1,) or (1, H, W)
        return self.task_.model_input(x, side)[0].numpy()                 # (C_in, H', W')

    def _sides(self, images: Images, masks, sigma) -> list:
        """Per image the side information its restoration needs: the missing pixels (``masks``), the
        noise sigma on the [0, 1] scale (``sigma``, in the images' units; None: estimated), or None."""
        n = len(images.items)
        if sigma is not None:
            if not self.task_.conditions_on_sigma:
                raise ValueError(f"sigma= is for a denoiser trained with noise_levels; this Restorer (task="
                                 f"{self.task!r}, noise_levels={self.noise_levels!r}) does not take a noise level")
            sig = np.asarray(sigma, dtype=np.float64).reshape(-1)
            if sig.size == 1:
                sig = np.repeat(sig, n)
            if sig.size != n or not np.isfinite(sig).all() or (sig < 0).any():
                raise ValueError(f"sigma={sigma!r}: expected one noise level >= 0 (in the images' units) or one "
                                 f"per image ({n})")
            lo, hi = self.value_range_
            return list(sig / (hi - lo))
        if masks is not None:
            return [m.astype(bool) for m in read_class_maps(masks, images, name="masks")]
        return [None] * n

    def corrupt(self, X, *, random_state=0, return_masks: bool = False, sigma: float | None = None):
        """Apply the task's degradation to clean images, as in training (one corruption drawn per image):
        what ``predict`` expects. ``super-resolve`` returns images ``scale`` times smaller (sides cropped
        to a multiple of ``scale`` first); ``colorize`` grey replicated over the channels. With
        ``return_masks`` (inpainting) also the missing pixels, one (H, W) boolean map per image.
        ``sigma`` (a denoiser trained with ``noise_levels``): add noise of this level, in the images'
        units, instead of one drawn from the range."""
        self._check_fitted()
        images = read_images(X)
        self._check_channels(images)
        seed = resolve_seed(random_state)
        task = self.task_
        if sigma is not None:
            level = float(self._sides(images, None, sigma)[0])
            task = make_restoration_task(self.task, scale=self.scale, noise_levels=(level, level))
        outs, holes = [], []
        for i, img in enumerate(images.items):
            x = torch.from_numpy(self._unit(img))[None]                   # (1, C, H, W)
            if x.shape[2] < task.scale or x.shape[3] < task.scale:
                raise ValueError(f"image {i} ({x.shape[2]}x{x.shape[3]}) is smaller than scale={task.scale}")
            with torch.no_grad():
                out, missing = task.degrade(x, self.corruptions_, torch.Generator().manual_seed(seed * 1_000_003 + i))
            if task.needs_mask:
                holes.append(missing[0].numpy())                          # (H, W) True = missing
            outs.append(self._raw(out[0].numpy()))
        result = images.back(outs)
        return (result, holes) if return_masks else result
