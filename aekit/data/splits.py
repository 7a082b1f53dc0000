"""Train / validation / test splits of a :class:`~aekit.data.base.Dataset`."""
from __future__ import annotations

import math
import numbers

import numpy as np

from aekit.data.base import Dataset, Split
from aekit.data.errors import DataError

__all__ = ["train_val_test_split"]


def _check_fraction(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise TypeError(f"{name} must be a number in [0, 1), got {value!r}")
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return float(value)


def _take(split: Split, idx: np.ndarray) -> Split:
    return Split(split.X[idx], None if split.y is None else split.y[idx])


def train_val_test_split(
    dataset: Dataset,
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    random_state: int | None = 0,
) -> tuple[Split, Split, Split | None]:
    """Split a dataset into train, validation and test parts (shuffled, not stratified).

    Parameters
    ----------
    dataset : Dataset
        When it has a predefined test split, that split is the test part and ``test_fraction``
        is ignored; ``val_fraction`` of the training samples becomes the validation part.
        Otherwise ``test_fraction`` and then ``val_fraction`` (both fractions of all training
        samples) are carved out of the shuffled training samples.
    val_fraction : float, default 0.1
        In [0, 1). 0 gives an empty validation split; otherwise at least one sample.
    test_fraction : float, default 0.2
        In [0, 1). 0 gives no test split (None) unless the dataset has a predefined one.
    random_state : int or None, default 0
        Seed of the shuffle; None for a different shuffle each call.

    Returns
    -------
    train, val : Split
        Shuffled (copies of the) training samples.
    test : Split or None

    Raises
    ------
    ValueError, TypeError
        A fraction outside [0, 1) or fractions that sum to 1 or more.
    DataError
        Too few samples to leave at least one for training.
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be an aekit.data.Dataset, got {type(dataset).__name__}")
    val_fraction = _check_fraction(val_fraction, "val_fraction")
    test_fraction = _check_fraction(test_fraction, "test_fraction")
    predefined = dataset.test is not None
    if not predefined and val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"val_fraction + test_fraction must be < 1, got {val_fraction} + {test_fraction} = "
            f"{val_fraction + test_fraction}"
        )
    n = len(dataset.train)
    n_test = 0 if predefined else math.ceil(test_fraction * n)
    n_val = math.ceil(val_fraction * n)
    if n - n_test - n_val < 1:
        raise DataError(
            f"{dataset.name}: {n} training samples are too few for val_fraction={val_fraction} and "
            f"test_fraction={0.0 if predefined else test_fraction}: {n_val} validation + {n_test} test "
            "samples leave none to train on"
        )
    order = np.random.default_rng(random_state).permutation(n)
    test_idx, val_idx, train_idx = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    if predefined:
        test = dataset.test
    else:
        test = _take(dataset.train, test_idx) if n_test else None
    return _take(dataset.train, train_idx), _take(dataset.train, val_idx), test
