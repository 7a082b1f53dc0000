"""The two containers every loader returns: :class:`Split` and :class:`Dataset`."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from aekit.data.kinds import get_kind, list_kinds
from aekit.data.scalers import Scaler

__all__ = ["Split", "Dataset"]


def _describe(a: np.ndarray | None) -> str:
    return "None" if a is None else f"{a.dtype}{tuple(a.shape)}"


@dataclass(repr=False)
class Split:
    """One partition of a dataset.

    Attributes
    ----------
    X : np.ndarray
        float32 samples with RAW (unscaled) values: images ``(N, C, H, W)``, tables ``(N, D)``,
        sequences ``(N, C, T)``.
    y : np.ndarray or None
        int64 labels ``(N,)``, or None when the data has no labels.
    """

    X: np.ndarray
    y: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def __repr__(self) -> str:
        return f"Split(X={_describe(self.X)}, y={_describe(self.y)})"


@dataclass(repr=False)
class Dataset:
    """A loaded dataset: training samples, an optional predefined test split and metadata.

    Attributes
    ----------
    name : str
        The registered name (``"mnist"``) or the file / folder path given.
    kind : {"image", "table", "sequence"}
        A data kind (:mod:`aekit.data.kinds`): images are ``(N, C, H, W)``, tables ``(N, D)``,
        sequences ``(N, C, T)`` (channels x time).
    train : Split
        The training samples.
    test : Split or None
        The predefined test split (mnist, fashion-mnist, cifar10, npz with ``X_test``), else None.
    value_range : tuple of float or None
        The known range of the raw values, e.g. ``(0, 255)`` for 8-bit images; None when unknown.
    classes : tuple of str or None
        Class name of each integer label (``classes[y]``) when known, else None.
    feature_names : tuple of str or None
        Tables: the name of each column of ``X`` when known (a CSV header), else None.
    """

    name: str
    kind: str
    train: Split
    test: Split | None = None
    value_range: tuple[float, float] | None = None
    classes: tuple[str, ...] | None = field(default=None)
    feature_names: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.kind not in list_kinds():
            raise ValueError(f"Dataset kind must be one of {tuple(list_kinds())}, got {self.kind!r}")
        for part, split in (("train", self.train), ("test", self.test)):
            if split is not None:
                get_kind(self.kind).check_shape(np.shape(split.X)[1:], f"Dataset {self.name!r}: {part} sample shape")

    def default_scaler(self) -> Scaler:
        """An unfitted scaler suited to this dataset: its kind's default (:mod:`aekit.data.kinds`), given the
        dataset's ``value_range`` (images whose raw range is known: "range"). ``Scaler.default_for`` asks this."""
        return get_kind(self.kind).default_scaler(value_range=self.value_range)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample, e.g. ``(1, 28, 28)`` for MNIST or ``(D,)`` for a table."""
        return tuple(int(s) for s in self.train.X.shape[1:])

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, kind={self.kind!r}, train={self.train!r}, "
            f"test={self.test!r}, value_range={self.value_range!r})"
        )
