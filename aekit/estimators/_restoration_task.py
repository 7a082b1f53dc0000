"""The contract of a restoration task (see :mod:`aekit.estimators.restoration_tasks`, which registers the
built-in ones): the registry, the base class :class:`RestorationTask` with its defaults, the draw of one
corruption per image (:func:`apply_one_each`), and :class:`TaskAugment`, the training step's augmentation
built from a task.
"""
from __future__ import annotations

from typing import Callable, ClassVar, Sequence

import torch

from aekit.corruption import Corruption
from aekit.registry import Registry

_REGISTRY: Registry[type["RestorationTask"]] = Registry("restoration task")


def register_restoration_task(name: str) -> Callable[[type["RestorationTask"]], type["RestorationTask"]]:
    """Class decorator: make ``Restorer(task="name")`` use this :class:`RestorationTask` subclass."""
    return _REGISTRY.register(name)


def list_restoration_tasks() -> list[str]:
    """Names of every registered restoration task, sorted."""
    return _REGISTRY.names()


def make_restoration_task(name: str, *, scale: int = 2, noise_levels=None) -> "RestorationTask":
    """The task registered as ``name``, built for a Restorer's ``scale`` (used by super-resolve only) and
    ``noise_levels`` ((low, high) noise sigma on the [0, 1] scale; denoise only)."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"task={name!r}, expected one of {tuple(list_restoration_tasks())}")
    cls = _REGISTRY.get(name)
    if noise_levels is not None:
        if not cls.takes_noise_levels:
            raise ValueError(f"noise_levels is for a task that conditions on the noise level (denoise), not "
                             f"task={name!r}")
        return cls.build(scale=scale, noise_levels=noise_levels)
    return cls.build(scale=scale)


def apply_one_each(corruptions: Sequence[Corruption], x: torch.Tensor, generator: torch.Generator, *,
                   holes: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One of ``corruptions`` drawn per image of ``x`` (B, C, H, W) and applied to it.

    With ``holes`` also the pixels each corruption destroyed, (B, H, W) True = missing: those it changes
    both in an all-ones and an all-zeros image drawn with the same random numbers, whatever its fill value.
    """
    def run(c: Corruption) -> tuple[torch.Tensor, torch.Tensor | None]:
        state = generator.get_state()
        out = c(x, generator)
        if not holes:
            return out, None
        end = generator.get_state()
        generator.set_state(state)
        ones = c(torch.ones_like(x), generator) != 1
        generator.set_state(state)
        zeros = c(torch.zeros_like(x), generator) != 0
        generator.set_state(end)
        return out, (ones | zeros).any(1)                                  # (B, H, W) True = missing

    if len(corruptions) == 1:
        return run(corruptions[0])
    pick = torch.randint(len(corruptions), (len(x),), generator=generator, device=generator.device).to(x.device)
    out = x.clone()
    missing = torch.zeros_like(x[:, 0], dtype=torch.bool) if holes else None
    for k, c in enumerate(corruptions):
        ok, mk = run(c)
        sel = pick == k
        out[sel] = ok[sel]
        if missing is not None:
            missing[sel] = mk[sel]
    return out, missing


class RestorationTask:
    """Base class of a restoration task; subclasses are registered with :func:`register_restoration_task`.

    The defaults describe a task that keeps the image's size and channels and trains on the user's
    ``corruption`` (there are no default corruptions): override ``degrade`` and, where the network sees
    something else than the degraded image, ``model_input``. Images are [0, 1] tensors (B, C, H, W).

    ``degrade`` returns the degraded images and their side information, which ``model_input`` receives
    with them: the missing pixels (B, H, W) for inpainting, the noise sigma (B,) for a denoiser that
    conditions on it, else None. At prediction time the user gives it (``masks=``, ``sigma=``); a task
    whose ``model_input`` can do without it (the denoiser estimates sigma) accepts None.
    """

    name: ClassVar[str] = ""
    accepts_corruption: ClassVar[bool] = True   # False: the task's own degradation; corruption= is refused
    degradation: ClassVar[str] = ""             # the fixed degradation, named in the refusal's message
    needs_mask: ClassVar[bool] = False          # predict needs masks= (True = missing); the input gains a mask channel
    takes_noise_levels: ClassVar[bool] = False  # build() takes noise_levels: the network sees a noise-level map
    scale: int = 1                              # output side / degraded input side (super-resolve's factor)

    @classmethod
    def build(cls, *, scale: int = 2) -> "RestorationTask":
        """The task for a Restorer's parameters; only tasks that use ``scale`` or ``noise_levels`` override
        this."""
        return cls()

    @property
    def conditions_on_sigma(self) -> bool:
        """Whether the side information of ``degrade`` / ``model_input`` is the noise sigma (B,)."""
        return False

    @property
    def side_field(self) -> str | None:
        """The name of the side information in a training batch record: ``"noise_level"`` (B,), ``"mask"``
        (B, H, W) True = missing, or None."""
        return "noise_level" if self.conditions_on_sigma else "mask" if self.needs_mask else None

    # ------------------------------------------------------------------------ channels
    def check_channels(self, n_channels: int) -> None:
        """Refuse training images with ``n_channels`` channels (ValueError) if the task cannot learn from them."""

    def in_channels(self, n_channels: int) -> int:
        """Channels of the network's input for data with ``n_channels`` channels."""
        return n_channels + self.needs_mask

    def out_channels(self, n_channels: int) -> int:
        """Channels of the network's output (the restored image)."""
        return n_channels

    def predict_channels(self, n_channels: int) -> set[int]:
        """Channel counts ``predict`` accepts from a model trained on ``n_channels``-channel images."""
        return {n_channels}

    # ------------------------------------------------------------------------ corruptions
    def default_corruptions(self, patch: int) -> list[Corruption]:
        """The corruptions trained on (one drawn per image) when ``corruption`` is not given, for training
        images (patches) ``patch`` pixels a side."""
        return []

    # ------------------------------------------------------------------------ images
    def crop(self, x):
        """The part of a clean image (..., H, W) that its degraded version stands for: the sides cut to a
        multiple of ``scale``."""
        s = self.scale
        return x[..., :x.shape[-2] // s * s, :x.shape[-1] // s * s]

    def degrade(self, x: torch.Tensor, corruptions: Sequence[Corruption],
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Clean images (B, C, H, W) -> (what ``predict`` gets, the missing pixels (B, H, W) or None).

        The default draws one of ``corruptions`` per image (those of the fit: the user's or the defaults).
        """
        if not corruptions:
            raise ValueError(f"task={self.name!r} has no corruption to apply (the Restorer was fitted on given "
                             f"pairs, or the task has no default corruptions: pass corruption=)")
        return apply_one_each(corruptions, x, generator, holes=self.needs_mask)

    def model_input(self, x: torch.Tensor, missing: torch.Tensor | None = None) -> torch.Tensor:
        """Degraded images (B, C, h, w) (and their missing pixels (B, h, w), True = missing) -> the
        network's input (B, in_channels, scale h, scale w)."""
        return x


class TaskAugment:
    """The training step's augmentation of a task (``augment(batch, generator) -> batch``): the record's clean
    images ``input`` (B, C, H, W) are degraded (``task.degrade``), the degradation's side information becomes the
    record's named field ``task.side_field`` (the noise level (B,), the missing pixels (B, H, W)), and the input
    becomes what the network sees, ``task.model_input(degraded, side)`` (the side information as its extra input
    channel); the target (the clean images) stays."""

    def __init__(self, task: RestorationTask, corruptions: Sequence[Corruption]):
        self.task = task
        self.corruptions = list(corruptions)

    def views(self, clean: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(the network's input, the side information or None) for clean images (B, C, H, W)."""
        degraded, side = self.task.degrade(clean, self.corruptions, generator)
        return self.task.model_input(degraded, side), side

    def __call__(self, batch, generator: torch.Generator):
        model_input, side = self.views(batch["input"], generator)
        name = self.task.side_field
        return batch.replace(input=model_input, **({} if name is None or side is None else {name: side}))
