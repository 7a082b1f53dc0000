"""Restoration tasks as registered objects: what a :class:`aekit.Restorer` undoes, as data.

A task says how a clean image is degraded (``degrade``: what a user holds and passes to ``predict``), how
a degraded image becomes the network's input (``model_input``: bicubic enlargement, grey replication, a
mask channel), which corruptions it trains on by default, whether a user's ``corruption`` may replace
them, and the channel counts of the network given the data's. ``Restorer`` looks its task up once per fit
and delegates to it; it never branches on the task's name.

Training from clean images applies ``model_input(*degrade(clean))`` on the fly (:class:`TaskAugment`, the
training step's augmentation: the degradation's side information, the noise level or the missing pixels, is a
named field of the batch record that ``model_input`` turns into the network's extra input channel), so a task's
training input and its prediction input are built by the same two methods.

A new task is a subclass registered by name::

    @register_restoration_task("invert")
    class Invert(RestorationTask):
        def degrade(self, x, corruptions, generator):
            return 1 - x, None

after which ``Restorer(task="invert")`` trains and predicts with it.

Vincent et al., "Extracting and composing robust features with denoising autoencoders", ICML 2008;
Kim, Lee & Lee, "VDSR", CVPR 2016 (refine the bicubic up-sampling); Liu et al., "Image Inpainting for
Irregular Holes Using Partial Convolutions", ECCV 2018 (the mask given to the network); Zhang, Isola &
Efros, "Colorful Image Colorization", ECCV 2016.

The contract (the registry, :class:`RestorationTask`, :class:`TaskAugment`) is in
:mod:`aekit.estimators._restoration_task` and re-exported here; this module holds the built-in tasks.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import ClassVar

import torch

from aekit.corruption import BlockCutout, Corruption, Downsample, GaussianNoise, Greyscale, MaskingNoise, \
    SaltPepperNoise, Watermark, bicubic_resize, luma
from aekit.estimators._restoration_task import (RestorationTask, TaskAugment, apply_one_each,  # noqa: F401
                                                list_restoration_tasks, make_restoration_task,
                                                register_restoration_task)


# ------------------------------------------------------------------ the built-in tasks


@register_restoration_task("denoise")
@dataclass(frozen=True)
class Denoise(RestorationTask):
    """Noise removed: Gaussian (sigma 0.1) or salt-and-pepper (10 % of the pixels) by default.

    With ``noise_levels=(low, high)`` (sigma on the [0, 1] scale) one network covers a range of Gaussian
    noise levels and is told the level: training draws sigma uniformly from the range per image, and the
    network sees a constant noise-level map as one more channel (FFDNet: Zhang, Zuo & Zhang, "FFDNet:
    Toward a fast and flexible solution for CNN-based image denoising", IEEE TIP 2018). At prediction the
    level is the user's ``sigma=`` or, blind, estimated from the image by
    ``skimage.restoration.estimate_sigma`` (Donoho & Johnstone's median absolute deviation of the finest
    wavelet coefficients, "Ideal spatial adaptation by wavelet shrinkage", Biometrika 1994).
    """

    noise_levels: tuple[float, float] | None = None
    takes_noise_levels: ClassVar[bool] = True

    def __post_init__(self) -> None:
        levels = self.noise_levels
        if levels is None:
            return
        if (not isinstance(levels, (tuple, list)) or len(levels) != 2
                or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in levels)
                or not 0 <= levels[0] <= levels[1]):
            raise ValueError(f"noise_levels={levels!r}: expected (low, high) noise sigmas with 0 <= low <= high")
        object.__setattr__(self, "noise_levels", (float(levels[0]), float(levels[1])))

    @classmethod
    def build(cls, *, scale: int = 2, noise_levels=None) -> "Denoise":
        return cls(noise_levels=noise_levels)

    @property
    def conditions_on_sigma(self) -> bool:
        return self.noise_levels is not None

    @property
    def accepts_corruption(self) -> bool:  # type: ignore[override]
        return self.noise_levels is None

    @property
    def degradation(self) -> str:  # type: ignore[override]
        return f"Gaussian noise of sigma {self.noise_levels[0]:g}-{self.noise_levels[1]:g}"

    def in_channels(self, n_channels: int) -> int:
        return n_channels + self.conditions_on_sigma

    def default_corruptions(self, patch: int) -> list[Corruption]:
        if self.conditions_on_sigma:
            return [GaussianNoise(self.noise_levels[1])]   # the record: the top of the range
        return [GaussianNoise(0.1), SaltPepperNoise(0.1)]

    def degrade(self, x, corruptions, generator):
        if not self.conditions_on_sigma:
            return super().degrade(x, corruptions, generator)
        lo, hi = self.noise_levels
        u = torch.rand(len(x), generator=generator, device=generator.device).to(x.device)
        sigma = (lo + (hi - lo) * u).to(x.dtype)                                # (B,)
        noise = torch.randn(x.shape, generator=generator, device=generator.device).to(x.device)
        return (x + sigma[:, None, None, None] * noise).clamp(0, 1), sigma     # stored images are clipped

    def model_input(self, x, sigma=None):
        if not self.conditions_on_sigma:
            return x
        if sigma is None:
            sigma = estimate_noise(x)
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1)
        if sigma.numel() == 1:
            sigma = sigma.expand(len(x))
        if (sigma < 0).any() or not torch.isfinite(sigma).all():
            raise ValueError(f"sigma must be a finite noise level >= 0, got {sigma.tolist()}")
        level = sigma[:, None, None, None].expand(len(x), 1, *x.shape[2:])    # (B, 1, H, W)
        return torch.cat([x, level], 1)                                        # (B, C + 1, H, W)


def estimate_noise(x: torch.Tensor) -> torch.Tensor:
    """Gaussian noise sigma (B,) of images (B, C, H, W), each estimated by scikit-image's
    ``estimate_sigma`` and averaged over channels."""
    from skimage.restoration import estimate_sigma

    arr = x.detach().cpu().numpy()
    return torch.tensor([float(estimate_sigma(a, channel_axis=0, average_sigmas=True)) for a in arr])


def push_pull_fill(x: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Images (B, C, H, W) with their missing pixels filled from the known ones (``known`` (B, 1, H, W),
    1 known, 0 missing) by push-pull interpolation: at each level a pixel takes the normalized 3 x 3
    binomial average of the known pixels around it (Knutsson & Westin, "Normalized and differential
    convolution", CVPR 1993) where there are enough of them, else the level below (2 x 2 blocks, push)
    enlarged bilinearly (pull); Gortler, Grzeszczuk, Szeliski & Cohen, "The Lumigraph", SIGGRAPH 1996.
    Known pixels keep their values."""
    import torch.nn.functional as F

    kernel = torch.tensor([1.0, 2.0, 1.0], dtype=x.dtype, device=x.device)
    kernel = (kernel[:, None] * kernel[None, :] / 16)[None, None]           # (1, 1, 3, 3), sums to 1

    def blur(a: torch.Tensor) -> torch.Tensor:
        c = a.shape[1]
        return F.conv2d(F.pad(a, (1, 1, 1, 1), mode="replicate"), kernel.expand(c, 1, 3, 3), groups=c)

    def level(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
        near_num, near_den = blur(num), blur(den)
        local = near_num / near_den.clamp_min(1e-8)
        if min(num.shape[-2:]) <= 1:
            return local
        coarse = level(F.avg_pool2d(num, 2, ceil_mode=True), F.avg_pool2d(den, 2, ceil_mode=True))
        up = F.interpolate(coarse, size=num.shape[-2:], mode="bilinear", align_corners=False)
        weight = (2 * near_den).clamp(0, 1)                                 # half the neighbourhood known: local
        return weight * local + (1 - weight) * up

    filled = level(x * known, known.expand_as(x))
    return torch.where(known > 0, x, filled)


@register_restoration_task("inpaint")
@dataclass(frozen=True)
class Inpaint(RestorationTask):
    """Missing pixels filled in. The network sees the image with its missing pixels first filled by push-pull
    interpolation (:func:`push_pull_fill`; the residual U-Net refines that fill, as VDSR refines the bicubic
    enlargement) and the map of known pixels (1 known, 0 missing). Trains by default on masking noise (half
    the pixels), one block of 0.43 x the patch side, or three blocks of a quarter of it."""

    needs_mask: ClassVar[bool] = True

    def default_corruptions(self, patch: int) -> list[Corruption]:
        return [MaskingNoise(0.5), BlockCutout(max(2, round(0.43 * patch))), BlockCutout(max(2, patch // 4), n=3)]

    def degrade(self, x, corruptions, generator):
        out, missing = super().degrade(x, corruptions, generator)
        known = (~missing).to(x.dtype)[:, None]                            # (B, 1, H, W)
        return out * known, missing

    def model_input(self, x, missing=None):
        if missing is None:
            raise ValueError("task='inpaint' needs the missing pixels: pass masks= (True = missing), one "
                             "(H, W) map per image")
        known = (~missing.to(torch.bool)).to(x.dtype)[:, None]             # (B, 1, H, W)
        return torch.cat([push_pull_fill(x, known), known], 1)             # (B, C + 1, H, W)


@register_restoration_task("watermark")
@dataclass(frozen=True)
class RemoveWatermark(RestorationTask):
    """Overlaid text or marks removed (``watermark:text`` / ``watermark:marks`` by default)."""

    def default_corruptions(self, patch: int) -> list[Corruption]:
        return [Watermark("text"), Watermark("marks")]


@register_restoration_task("colorize")
@dataclass(frozen=True)
class Colorize(RestorationTask):
    """Colour restored to grey images (BT.601 luma); learns from colour images, predicts from grey ones
    (one channel, or grey replicated over three)."""

    accepts_corruption: ClassVar[bool] = False
    degradation: ClassVar[str] = "grey"

    def check_channels(self, n_channels: int) -> None:
        if n_channels != 3:
            raise ValueError(f"task='colorize' learns from colour images (3 channels); got images with "
                             f"{n_channels} channel(s)")

    def predict_channels(self, n_channels: int) -> set[int]:
        return {n_channels, 1, 3}

    def default_corruptions(self, patch: int) -> list[Corruption]:
        return [Greyscale()]   # the record: degrade is this corruption, on grey or colour images

    def degrade(self, x, corruptions, generator):
        return luma(x).expand(x.shape[0], 3, *x.shape[2:]).clone(), None   # (B, 3, H, W) grey replicated

    def model_input(self, x, missing=None):
        return luma(x).expand(x.shape[0], 3, *x.shape[2:])                 # (B, 3, H, W)


@register_restoration_task("super-resolve")
@dataclass(frozen=True)
class SuperResolve(RestorationTask):
    """Images enlarged ``scale`` times: the network refines their bicubic enlargement (VDSR). The
    degradation is bicubic, anti-aliased shrinking; training on it is training on ``downsample:<scale>``."""

    accepts_corruption: ClassVar[bool] = False
    degradation: ClassVar[str] = "bicubic down-sampling"
    scale: int = 2         # enlargement factor, an integer >= 2

    def __post_init__(self) -> None:
        if isinstance(self.scale, bool) or not isinstance(self.scale, numbers.Integral) or self.scale < 2:
            raise ValueError(f"scale={self.scale!r} must be an integer >= 2 for task='super-resolve'")

    @classmethod
    def build(cls, *, scale: int = 2) -> "SuperResolve":
        return cls(scale=scale)

    def default_corruptions(self, patch: int) -> list[Corruption]:
        return [Downsample(int(self.scale))]   # the record: degrade + model_input compose to it

    def degrade(self, x, corruptions, generator):
        x = self.crop(x)
        s = int(self.scale)
        return bicubic_resize(x, (x.shape[2] // s, x.shape[3] // s)), None   # (B, C, H / s, W / s)

    def model_input(self, x, missing=None):
        s = int(self.scale)
        return bicubic_resize(x, (x.shape[2] * s, x.shape[3] * s))          # (B, C, sH, sW)

__all__ = ["RestorationTask", "Denoise", "estimate_noise", "Inpaint", "RemoveWatermark", "Colorize", "SuperResolve",
           "TaskAugment", "apply_one_each", "push_pull_fill", "register_restoration_task", "list_restoration_tasks",
           "make_restoration_task"]
