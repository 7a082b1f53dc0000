"""Data kinds: what one sample is (a table row, an image, a sequence) and what follows from that.

A kind fixes the layout models see (channels first), checks sample shapes, picks the default scaler,
and turns the caller's arrays into that layout and back:

==========  ============  =======================================  =========================================
kind        model layout  the caller may also pass                 default scaler
==========  ============  =======================================  =========================================
"table"     (D,)          --                                       per-feature min-max
"image"     (C, H, W)     (H, W): one channel; (H, W, C), C 1/3/4  fixed range when known, else per-feature
                                                                   min-max
"sequence"  (C, T)        (T,): one channel                        per-channel min-max over all time steps
"video"     (T, C, H, W)  --                                       one fixed range for every value (known,
                                                                   or by the images' range rule)
==========  ============  =======================================  =========================================

Sequences are channels x time, the layout of PyTorch's ``Conv1d`` and of aeon / sktime's 3-D arrays. Their
default scaler maps each channel to [0, 1] with one minimum and maximum over all samples and time steps
(``Scaler("minmax", per="channel")``): channels may have different units, but every time step of a channel
must be scaled alike, or a window's shape would change with its position; [0, 1] matches the clamped
outputs of the models (use ``Scaler("standard", per="channel")`` for z-scores).

Video clips are frames x channels x height x width, the layout of torchvision's video readers (``(N, T, C, H,
W)`` for a batch); a clip's frames are scaled alike (one range for every value), for the same reason as a
sequence's steps. 3-D convolutions, which want ``(N, C, T, H, W)``, permute inside the model.

Which kind an array holds is unambiguous in the model layout (the rank says it: :func:`kind_of`), not in
the caller's: ``(n, 28, 28)`` may be grey images or 28-channel sequences. :func:`infer_layout` therefore
reads a rank-3 array as grey images, as aekit always has, unless ``kind="sequence"`` says otherwise.

A new kind is a :class:`DataKind` subclass filed with :func:`register_kind` (the registry of
:mod:`aekit.registry`, as for models).

>>> X_model, layout = infer_layout(np.zeros((10, 3, 50)), kind="sequence")   # (10, 3, 50)
>>> layout.to_user(X_model).shape
(10, 3, 50)
>>> kind_of((3, 50)), get_kind("sequence").default_scaler()
('sequence', Scaler('minmax', per='channel') [not fitted])
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from aekit.data.errors import DataError
from aekit.data.scalers import Scaler
from aekit.registry import Registry

__all__ = ["DataKind", "Layout", "get_kind", "infer_layout", "kind_of", "list_kinds", "register_kind"]

_KINDS: Registry[type["DataKind"]] = Registry("data kind")


def register_kind(name: str) -> Callable[[type["DataKind"]], type["DataKind"]]:
    """Class decorator: file a :class:`DataKind` subclass under ``name``."""
    return _KINDS.register(name)


def list_kinds() -> list[str]:
    """Names of every registered data kind, sorted: ``["image", "sequence", "table", "video"]``."""
    return _KINDS.names()


def get_kind(name: str) -> type["DataKind"]:
    """The :class:`DataKind` registered under ``name``; a ValueError lists the known kinds."""
    return _KINDS.get(name)


def _axes_text(axes: str) -> str:
    """"CHW" -> "(C, H, W)", "T" -> "(T,)"."""
    return f"({', '.join(axes)}{',' if len(axes) == 1 else ''})"


def _shape_tuple(shape: Any, what: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a tuple of ints, got {shape!r}") from None


class DataKind:
    """One kind of sample; subclasses set the class attributes and may override the class methods.

    Kinds are used as classes (``get_kind("image").check_shape(...)``), never instantiated.
    """

    name: str = ""                          # set by register_kind
    axes: str = ""                          # the model layout, one letter per axis: "D", "CHW", "CT"
    noun: str = ""                          # plural, for messages: "tables", "images", "sequences"
    example_shape: tuple[int, ...] = ()     # a small valid sample shape (tests, documentation)
    implicit_channel: bool = False          # the caller may leave out a single channel axis

    @classmethod
    def describe(cls) -> str:
        """``"images shaped (C, H, W)"``: for messages."""
        return f"{cls.noun} shaped {_axes_text(cls.axes)}"

    @classmethod
    def matches(cls, sample_shape: tuple[int, ...]) -> bool:
        """Whether a model-layout sample shape has this kind's rank."""
        return len(sample_shape) == len(cls.axes)

    @classmethod
    def check_shape(cls, sample_shape: Any, what: str = "sample shape") -> tuple[int, ...]:
        """Return ``sample_shape`` as a tuple of ints, or raise :class:`DataError` naming it and the
        expected layout."""
        shape = _shape_tuple(sample_shape, what)
        if not cls.matches(shape) or any(s <= 0 for s in shape):
            raise DataError(f"{what} {shape} does not fit kind {cls.name!r}: expected {cls.describe()} "
                            "with positive sizes")
        return shape

    @classmethod
    def default_scaler(cls, value_range: tuple[float, float] | None = None) -> "Scaler":
        """An unfitted :class:`~aekit.data.Scaler` for this kind (``value_range``: the known raw range)."""
        return Scaler("minmax")

    @classmethod
    def layout_for(cls, sample_shape: tuple[int, ...]) -> "Layout":
        """The :class:`Layout` of caller samples shaped ``sample_shape``; DataError where none fits."""
        shape = _shape_tuple(sample_shape, "sample shape")
        if cls.implicit_channel and len(shape) == len(cls.axes) - 1:
            layout = Layout(cls.name, shape, add_channel=True)
        else:
            layout = Layout(cls.name, shape)
        try:
            cls.check_shape(layout.model_shape)
        except DataError:
            also = f", or {_axes_text(cls.axes[1:])} with one channel" if cls.implicit_channel else ""
            raise DataError(f"samples of shape {shape} do not fit kind {cls.name!r}: expected "
                            f"{cls.describe()}{also}") from None
        return layout


@register_kind("table")
class TableKind(DataKind):
    """Rows of ``D`` features."""

    axes, noun, example_shape = "D", "tables", (20,)


@register_kind("image")
class ImageKind(DataKind):
    """Images, channels first; the caller may pass ``(H, W)`` (one channel) or ``(H, W, C)``."""

    axes, noun, example_shape, implicit_channel = "CHW", "images", (3, 16, 16), True

    @classmethod
    def default_scaler(cls, value_range: tuple[float, float] | None = None) -> "Scaler":
        """``"range"`` when the raw range is known (e.g. (0, 255)), else per-feature ``"minmax"``."""
        return Scaler("range", value_range=value_range) if value_range is not None else Scaler("minmax")

    @classmethod
    def layout_for(cls, sample_shape: tuple[int, ...]) -> "Layout":
        shape = _shape_tuple(sample_shape, "sample shape")
        # (H, W, C): a last axis that looks like channels (1, 3, 4) after a first one that does not (> 4)
        if len(shape) == 3 and shape[0] not in (1, 2, 3, 4) and shape[2] in (1, 3, 4):
            return Layout(cls.name, shape, channels_last=True)
        return super().layout_for(shape)


@register_kind("sequence")
class SequenceKind(DataKind):
    """Sequences of ``T`` time steps with ``C`` channels (channels x time); the caller may pass ``(T,)``."""

    axes, noun, example_shape, implicit_channel = "CT", "sequences", (2, 16), True

    @classmethod
    def default_scaler(cls, value_range: tuple[float, float] | None = None) -> "Scaler":
        """Per-channel ``"minmax"`` over all samples and time steps (``value_range`` is not used: channels
        may have different units)."""
        return Scaler("minmax", per="channel")


@register_kind("video")
class VideoKind(DataKind):
    """Clips of ``T`` frames, each ``(C, H, W)``: the model layout ``(T, C, H, W)`` is the caller's too."""

    axes, noun, example_shape = "TCHW", "clips", (4, 1, 16, 16)

    @classmethod
    def default_scaler(cls, value_range: tuple[float, float] | None = None) -> "Scaler":
        """``"range"``: one offset and scale for every value, so that no frame is scaled by its position in the
        clip; the range is ``value_range`` when known (e.g. (0, 255)), else the fit's (the video estimators take
        the images' rule, :func:`aekit.estimators._image.range_rule`)."""
        return Scaler("range", value_range=value_range)


def kind_of(sample_shape: Any) -> str:
    """The kind of a model-layout (channels first) sample shape: ``(D,)`` table, ``(C, T)`` sequence,
    ``(C, H, W)`` image. Raises :class:`DataError` when no kind, or more than one, fits."""
    shape = _shape_tuple(sample_shape, "sample shape")
    found = [name for name in list_kinds() if get_kind(name).matches(shape)]
    if len(found) != 1:
        expected = "; ".join(f"{get_kind(n).describe()} ({n!r})" for n in list_kinds())
        problem = "fits no data kind" if not found else f"fits several data kinds {found}"
        raise DataError(f"sample shape {shape} {problem}; expected one of: {expected}")
    return found[0]


@dataclass(frozen=True)
class Layout:
    """How the caller's samples map to the model layout, and back.

    Attributes
    ----------
    kind : str
        The data kind (:func:`list_kinds`).
    sample_shape : tuple of int
        One sample as the caller passes it, e.g. ``(28, 28)`` or ``(32, 32, 3)``.
    add_channel : bool
        The caller's samples have no channel axis; the model sees one channel.
    channels_last : bool
        The caller's channel axis is the last one, ``(H, W, C)``.
    """

    kind: str
    sample_shape: tuple[int, ...]
    add_channel: bool = False
    channels_last: bool = False

    @property
    def model_shape(self) -> tuple[int, ...]:
        """One sample in the model layout, e.g. ``(1, 28, 28)`` or ``(3, 32, 32)``."""
        s = tuple(self.sample_shape)
        if self.add_channel:
            return (1, *s)
        if self.channels_last:
            return (s[-1], *s[:-1])
        return s

    def to_model(self, X: Any) -> np.ndarray:
        """Caller's layout ``(n, *sample_shape)`` -> model layout ``(n, *model_shape)``, contiguous; the
        dtype is kept."""
        X = np.asarray(X)
        if X.ndim < 1 or tuple(X.shape[1:]) != tuple(self.sample_shape):
            raise DataError(f"X has shape {X.shape} with samples of shape {tuple(X.shape[1:])}, expected "
                            f"samples of shape {tuple(self.sample_shape)} ({self.kind})")
        if self.add_channel:
            X = X[:, None]                       # (n, 1, ...)
        elif self.channels_last:
            X = np.moveaxis(X, -1, 1)            # (n, ..., C) -> (n, C, ...)
        return np.ascontiguousarray(X)

    def to_user(self, Y: Any) -> np.ndarray:
        """Model layout ``(n, C, ...)`` -> the caller's layout. Outputs with another channel count than the
        input (class maps, ...) are allowed where the caller's layout has a channel axis."""
        Y = np.asarray(Y)
        if Y.ndim != len(self.model_shape) + 1:
            raise DataError(f"Y has shape {Y.shape}, expected model-layout outputs of rank "
                            f"{len(self.model_shape) + 1} such as (n, *{self.model_shape})")
        if self.add_channel:
            if Y.shape[1] != 1:
                raise DataError(f"Y has shape {Y.shape} with {Y.shape[1]} channels; the caller's samples "
                                f"{tuple(self.sample_shape)} have no channel axis, so 1 channel was expected")
            return Y[:, 0]
        if self.channels_last:
            return np.moveaxis(Y, 1, -1)
        return Y

    def to_dict(self) -> dict:
        """JSON-able; :meth:`from_dict` restores it."""
        return {"kind": self.kind, "sample_shape": list(self.sample_shape), "add_channel": self.add_channel,
                "channels_last": self.channels_last}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Layout":
        if not isinstance(d, Mapping) or not isinstance(d.get("sample_shape"), list):
            raise DataError(f"Layout.from_dict: expected a dict from Layout.to_dict, got {d!r}")
        kind = get_kind(d.get("kind"))
        layout = cls(kind.name, tuple(int(s) for s in d["sample_shape"]), bool(d.get("add_channel", False)),
                     bool(d.get("channels_last", False)))
        if layout.add_channel and layout.channels_last:
            raise DataError("Layout.from_dict: add_channel and channels_last cannot both be true")
        kind.check_shape(layout.model_shape, "Layout.from_dict: model shape")
        return layout


def infer_layout(X: Any, kind: str | None = None) -> tuple[np.ndarray, Layout]:
    """Put the caller's samples ``X`` (``(n, ...)``) in the model layout and say how to go back.

    Parameters
    ----------
    X : array-like
        ``(n, D)`` tables; ``(n, H, W)``, ``(n, C, H, W)`` or ``(n, H, W, C)`` images; ``(n, T)`` or
        ``(n, C, T)`` sequences.
    kind : {"table", "image", "sequence", "video"} or None
        None guesses from the rank: 2 -> table, 3 or 4 -> image (so ``(n, C, T)`` sequences need
        ``kind="sequence"``), 5 -> video clips ``(n, T, C, H, W)``. A 4-D array is channels last when its axis 1
        cannot be channels (> 4) and
        its last axis can (1, 3 or 4).

    Returns
    -------
    X_model : np.ndarray
        ``X`` in the model layout, contiguous, dtype kept.
    layout : Layout
        ``layout.to_model(X_new)`` converts later arrays (and checks their sample shape);
        ``layout.to_user(Y)`` converts model-layout outputs back.

    Raises
    ------
    DataError
        A rank or shape that fits no kind, or not the given one.
    """
    X = np.asarray(X)
    if X.ndim < 2:
        raise DataError(f"X has shape {X.shape}, expected samples (n_samples, ...) of rank >= 2")
    if kind is None and X.ndim == 5:
        kind = "video"
    if kind is None:
        if X.ndim > 4:
            raise DataError(f"X has shape {X.shape}; expected tables (n_samples, n_features), images (n, H, W), "
                            "(n, C, H, W) or (n, H, W, C), video clips (n, T, C, H, W), or pass kind='sequence' for "
                            "(n, T) / (n, C, T)")
        kind = "table" if X.ndim == 2 else "image"
    layout = get_kind(kind).layout_for(X.shape[1:])
    return layout.to_model(X), layout
