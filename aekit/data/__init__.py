"""The data layer of aekit: named datasets, the user's files, splits and scalers.

>>> from aekit.data import load_dataset, train_val_test_split, Scaler
>>> ds = load_dataset("digits")
>>> train, val, test = train_val_test_split(ds)
>>> scaler = Scaler.default_for(ds).fit(train.X, value_range=ds.value_range)
>>> Z = scaler.transform(train.X)

Data kinds (tables, images, sequences), their shapes, default scalers and layouts: :mod:`aekit.data.kinds`.
"""
from aekit.data.base import Dataset, Split
from aekit.data.datasets import list_datasets, load_dataset
from aekit.data.errors import ChecksumError, DataError, DownloadError, NotFittedError
from aekit.data.idx import read_idx
from aekit.data.kinds import Layout, get_kind, infer_layout, kind_of, list_kinds
from aekit.data.scalers import SCALER_METHODS, Scaler
from aekit.data.splits import train_val_test_split

__all__ = [
    "ChecksumError",
    "DataError",
    "Dataset",
    "DownloadError",
    "NotFittedError",
    "SCALER_METHODS",
    "Layout",
    "get_kind",
    "infer_layout",
    "kind_of",
    "list_kinds",
    "Scaler",
    "Split",
    "list_datasets",
    "load_dataset",
    "read_idx",
    "train_val_test_split",
]
