"""Named datasets (digits, mnist, fashion-mnist, cifar10) and :func:`load_dataset`.

Dataset files are looked up in ``<data_dir>/<name>/`` (``data_dir`` argument, else
``$AEKIT_DATA_DIR``), then in the cache ``<cache>/<name>/`` (``$AEKIT_CACHE_DIR``, else
``~/.cache/aekit``), and downloaded into the cache when missing. Every file is checked against its
published checksum wherever it was found.
"""
from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from aekit.data import download as dl
from aekit.data._images import check_grayscale, check_image_size, convert_channels, resize
from aekit.data._validation import as_samples_float32, check_limit, head
from aekit.data.base import Dataset, Split
from aekit.data.errors import ChecksumError, DataError
from aekit.data.files import load_csv, load_image_folder, load_npy, load_npz
from aekit.data.idx import GZIP_MAGIC, images_and_labels, maybe_gunzip, parse_idx

__all__ = ["load_dataset", "list_datasets"]


# ------------------------------------------------------------------------------------- IDX sets
@dataclass(frozen=True)
class IdxFile:
    """One IDX file of a named dataset and how to check it.

    ``raw_md5`` is the MD5 of the decompressed content, ``gz_md5`` the MD5 of the published
    ``.gz`` file; ``raw_size`` (bytes, decompressed) is the fallback check when neither applies.
    """

    filename: str
    raw_size: int
    raw_md5: str | None = None
    gz_md5: str | None = None


@dataclass(frozen=True)
class IdxDataset:
    name: str
    mirrors: tuple[str, ...]
    files: dict[str, IdxFile]  # role ("train_images", ...) -> file
    classes: tuple[str, ...]


IDX_DATASETS: dict[str, IdxDataset] = {
    "mnist": IdxDataset(
        name="mnist",
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        files={
            "train_images": IdxFile("train-images-idx3-ubyte", 47_040_016, raw_md5="6bbc9ace898e44ae57da46a324031adb"),
            "train_labels": IdxFile("train-labels-idx1-ubyte", 60_008, raw_md5="a25bea736e30d166cdddb491f175f624"),
            "test_images": IdxFile("t10k-images-idx3-ubyte", 7_840_016, raw_md5="2646ac647ad5339dbf082846283269ea"),
            "test_labels": IdxFile("t10k-labels-idx1-ubyte", 10_008, raw_md5="27ae3e4e09519cfbb04c329615203637"),
        },
        classes=tuple(str(i) for i in range(10)),
    ),
    "fashion-mnist": IdxDataset(
        name="fashion-mnist",
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        files={
            "train_images": IdxFile("train-images-idx3-ubyte", 47_040_016, gz_md5="8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            "train_labels": IdxFile("train-labels-idx1-ubyte", 60_008, gz_md5="25c81989df183df01b3e8a0aad5dffbe"),
            "test_images": IdxFile("t10k-images-idx3-ubyte", 7_840_016, gz_md5="bef4ecab320f06d8554ea6380940ec79"),
            "test_labels": IdxFile("t10k-labels-idx1-ubyte", 10_008, gz_md5="bb300cfdad3c16e7a12a480ee83cd310"),
        },
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"),
    ),
}


def _check_idx_blob(blob: bytes, spec: IdxFile, source: str) -> tuple[bytes | None, str | None]:
    """Check a file's bytes against ``spec``: returns ``(decompressed bytes, None)`` or ``(None, problem)``."""
    is_gz = blob[:2] == GZIP_MAGIC
    if is_gz and spec.gz_md5:
        actual = dl.md5_bytes(blob)
        if actual == spec.gz_md5:
            return maybe_gunzip(blob, source), None
        if not spec.raw_md5:
            return None, f"checksum mismatch: expected MD5 {spec.gz_md5} of the .gz file, got {actual}"
    try:
        raw = maybe_gunzip(blob, source)
    except DataError as exc:
        return None, str(exc)
    if spec.raw_md5:
        actual = dl.md5_bytes(raw)
        if actual != spec.raw_md5:
            return None, f"checksum mismatch: expected MD5 {spec.raw_md5} of the decompressed content, got {actual}"
    elif len(raw) != spec.raw_size:
        # No published checksum applies to an uncompressed copy: check its size.
        return None, f"size mismatch: expected {spec.raw_size} bytes (decompressed), got {len(raw)}"
    return raw, None


def _spec_key(spec: IdxFile) -> str:
    return f"{spec.raw_md5}|{spec.gz_md5}|{spec.raw_size}"


def _read_verified_idx(path: Path, spec: IdxFile) -> bytes:
    """The decompressed bytes of ``path`` after checking them; ChecksumError names the file."""
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read file ({exc})") from exc
    if dl.is_verified(path, _spec_key(spec)):
        return maybe_gunzip(blob, path)
    raw, problem = _check_idx_blob(blob, spec, str(path))
    if problem is not None:
        raise ChecksumError(f"{path}: {problem}; the file is corrupted or not the official one (delete or replace it)")
    dl.mark_verified(path, _spec_key(spec))
    return raw


def _idx_file(ds: IdxDataset, spec: IdxFile, data_dir: Path | None, download: bool) -> tuple[Path, bytes]:
    """Find (or download) one file of ``ds``; returns its path and checked, decompressed bytes."""
    folders = ([data_dir / ds.name] if data_dir is not None else []) + [dl.cache_dir() / ds.name]
    for folder in folders:
        for fname in (spec.filename, spec.filename + ".gz"):
            path = folder / fname
            if path.is_file():
                return path, _read_verified_idx(path, spec)
    where = " and ".join(str(f) for f in folders)
    if not download:
        raise DataError(
            f"{ds.name}: {spec.filename} (or {spec.filename}.gz) not found in {where}, and download=False; "
            f"put the file there or pass download=True"
        )

    def check(tmp: Path, md5: str) -> str | None:
        if spec.gz_md5 and md5 == spec.gz_md5:
            return None
        return _check_idx_blob(tmp.read_bytes(), spec, str(tmp))[1]

    dest = dl.download([m + spec.filename + ".gz" for m in ds.mirrors], folders[-1] / (spec.filename + ".gz"), check)
    dl.mark_verified(dest, _spec_key(spec))  # ``check`` accepted these exact bytes
    return dest, _read_verified_idx(dest, spec)


def _load_idx_dataset(name: str, data_dir: Path | None, download: bool, limit: int | None) -> Dataset:
    ds = IDX_DATASETS[name]
    splits = {}
    for part in ("train", "test"):
        img_path, img_raw = _idx_file(ds, ds.files[f"{part}_images"], data_dir, download)
        lab_path, lab_raw = _idx_file(ds, ds.files[f"{part}_labels"], data_dir, download)
        X, y = images_and_labels(parse_idx(img_raw, img_path), parse_idx(lab_raw, lab_path), img_path, lab_path)
        splits[part] = Split(as_samples_float32(head(X, limit), str(img_path)), head(y, limit))
    return Dataset(name=name, kind="image", train=splits["train"], test=splits["test"],
                   value_range=(0.0, 255.0), classes=ds.classes)


# --------------------------------------------------------------------------------------- cifar10
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
CIFAR10_TAR = "cifar-10-binary.tar.gz"
CIFAR10_DIR = "cifar-10-batches-bin"
CIFAR10_TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
CIFAR10_TEST = ("test_batch.bin",)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_RECORD = 1 + 3 * 32 * 32


def _parse_cifar_batch(data: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    if len(data) == 0 or len(data) % _RECORD:
        raise DataError(
            f"{source}: {len(data)} bytes, expected a non-zero multiple of {_RECORD} "
            "(records of 1 label byte + 3072 pixel bytes)"
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, _RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() >= len(CIFAR10_CLASSES):
        raise DataError(f"{source}: label byte {int(labels.max())} found, expected 0..{len(CIFAR10_CLASSES) - 1}")
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


def _cifar_split(read: Callable[[str], tuple[bytes, str]], names: tuple[str, ...], limit: int | None) -> Split:
    xs, ys, n = [], [], 0
    for fname in names:
        data, source = read(fname)
        X, y = _parse_cifar_batch(data, source)
        xs.append(X)
        ys.append(y)
        n += len(y)
        if limit is not None and n >= limit:
            break
    X, y = np.concatenate(xs), np.concatenate(ys)
    return Split(as_samples_float32(head(X, limit), source), head(y, limit))


def _verify_cifar_tar(path: Path) -> None:
    if dl.is_verified(path, CIFAR10_MD5):
        return
    actual = dl.md5_file(path)
    if actual != CIFAR10_MD5:
        raise ChecksumError(
            f"{path}: checksum mismatch: expected MD5 {CIFAR10_MD5}, got {actual}; "
            "the file is corrupted or not the official one (delete or replace it)"
        )
    dl.mark_verified(path, CIFAR10_MD5)


def _load_cifar10(data_dir: Path | None, download: bool, limit: int | None) -> Dataset:
    folders = ([data_dir / "cifar10"] if data_dir is not None else []) + [dl.cache_dir() / "cifar10"]
    source: Path | None = None
    for folder in folders:
        batches = folder / CIFAR10_DIR
        if all((batches / f).is_file() for f in CIFAR10_TRAIN + CIFAR10_TEST):
            source = batches
            break
        if (folder / CIFAR10_TAR).is_file():
            source = folder / CIFAR10_TAR
            break
    if source is None:
        where = " and ".join(str(f) for f in folders)
        if not download:
            raise DataError(
                f"cifar10: neither {CIFAR10_DIR}/ with {', '.join(CIFAR10_TRAIN + CIFAR10_TEST)} nor "
                f"{CIFAR10_TAR} found in {where}, and download=False; put the files there or pass download=True"
            )

        def check(tmp: Path, md5: str) -> str | None:
            return None if md5 == CIFAR10_MD5 else f"checksum mismatch: expected MD5 {CIFAR10_MD5}, got {md5}"

        source = dl.download([CIFAR10_URL], folders[-1] / CIFAR10_TAR, check)
        dl.mark_verified(source, CIFAR10_MD5)

    if source.is_dir():
        def read(fname: str) -> tuple[bytes, str]:
            path = source / fname
            try:
                return path.read_bytes(), str(path)
            except OSError as exc:
                raise DataError(f"{path}: cannot read file ({exc})") from exc

        train, test = _cifar_split(read, CIFAR10_TRAIN, limit), _cifar_split(read, CIFAR10_TEST, limit)
    else:
        _verify_cifar_tar(source)
        try:
            with tarfile.open(source, "r:gz") as tar:
                def read(fname: str) -> tuple[bytes, str]:
                    member = f"{CIFAR10_DIR}/{fname}"
                    try:
                        f = tar.extractfile(member)
                    except KeyError:
                        f = None
                    if f is None:
                        raise DataError(f"{source}: has no file {member}, expected the CIFAR-10 binary archive")
                    return f.read(), f"{source}:{member}"

                train, test = _cifar_split(read, CIFAR10_TRAIN, limit), _cifar_split(read, CIFAR10_TEST, limit)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DataError(f"{source}: cannot read tar.gz archive ({exc})") from exc
    return Dataset(name="cifar10", kind="image", train=train, test=test, value_range=(0.0, 255.0),
                   classes=CIFAR10_CLASSES)


# ---------------------------------------------------------------------------------------- digits
def _load_digits(data_dir: Path | None, download: bool, limit: int | None) -> Dataset:
    from sklearn.datasets import load_digits  # ships inside scikit-learn: no download

    bunch = load_digits()
    X = as_samples_float32(head(bunch.images[:, None, :, :], limit), "digits")
    y = head(bunch.target.astype(np.int64), limit)
    return Dataset(name="digits", kind="image", train=Split(X, y), test=None, value_range=(0.0, 16.0),
                   classes=tuple(str(c) for c in bunch.target_names))


_LOADERS: dict[str, Callable[[Path | None, bool, int | None], Dataset]] = {
    "cifar10": _load_cifar10,
    "digits": _load_digits,
    "fashion-mnist": partial(_load_idx_dataset, "fashion-mnist"),
    "mnist": partial(_load_idx_dataset, "mnist"),
}


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`, sorted: ``["cifar10", "digits", "fashion-mnist", "mnist"]``."""
    return sorted(_LOADERS)


# ---------------------------------------------------------------------------------- load_dataset
_FILE_LOADERS = {".npy": load_npy, ".npz": load_npz, ".csv": load_csv}


def _load_path(path: Path, name: str, image_size, grayscale, limit) -> Dataset:
    if path.is_dir():
        return load_image_folder(path, image_size=image_size, grayscale=grayscale, limit=limit, name=name)
    loader = _FILE_LOADERS.get(path.suffix.lower())
    if loader is None:
        raise DataError(
            f"{path}: unsupported file type {path.suffix!r}, expected a folder of images or a "
            f"{', '.join(_FILE_LOADERS)} file"
        )
    return loader(path, limit=limit, name=name)


def _postprocess(ds: Dataset, image_size: tuple[int, int] | None, grayscale: bool | None) -> Dataset:
    """Apply ``image_size`` / ``grayscale`` to array-based image datasets."""
    if ds.kind != "image":
        if image_size is not None or grayscale is not None:
            raise ValueError(
                f"{ds.name}: image_size and grayscale apply to image data, got a table of shape "
                f"{ds.train.X.shape}; pass image_size=None, grayscale=None"
            )
        return ds

    def fix(split: Split | None) -> Split | None:
        if split is None:
            return None
        return Split(resize(convert_channels(split.X, grayscale), image_size), split.y)

    ds.train, ds.test = fix(ds.train), fix(ds.test)
    return ds


def load_dataset(
    source: str | os.PathLike,
    *,
    data_dir: str | os.PathLike | None = None,
    image_size: int | tuple[int, int] | None = None,
    grayscale: bool | None = None,
    download: bool = True,
    limit: int | None = None,
) -> Dataset:
    """Load a named dataset or the user's own file / folder.

    Parameters
    ----------
    source : str or path-like
        A name from :func:`list_datasets` (case-insensitive), or a path: a folder of images
        (.png .jpg .jpeg .bmp), a ``.npy``, ``.npz`` or ``.csv`` file. A relative path that does
        not exist is also looked up under the data directory.
    data_dir : str or path-like, optional
        Where named datasets are looked for first (``<data_dir>/<name>/``); defaults to
        ``$AEKIT_DATA_DIR``.
    image_size : int or (height, width), optional
        Resize images (bilinear). Required for image folders whose images differ in size.
    grayscale : bool, optional
        True -> one grey channel, False -> RGB (3 channels), None -> keep (folders: grey if every
        image is grey).
    download : bool, default True
        Download missing named-dataset files into the cache (``$AEKIT_CACHE_DIR`` or
        ``~/.cache/aekit``).
    limit : int, optional
        Keep only the first ``limit`` training samples (and first ``limit`` test samples).

    Returns
    -------
    Dataset
        Raw float32 values (not scaled), int64 labels or None.

    Raises
    ------
    DataError
        Unknown name that is not an existing path (listing the known names), missing or corrupted
        files, malformed data.
    TypeError, ValueError
        Bad arguments.
    """
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source must be a dataset name or a path, got {type(source).__name__} {source!r}")
    limit = check_limit(limit)
    size = check_image_size(image_size)
    grayscale = check_grayscale(grayscale)
    name = os.fspath(source)
    if not isinstance(name, str):
        raise TypeError(f"source must be a str path, got bytes {name!r}")

    if isinstance(source, str) and name.lower() in _LOADERS:
        ds = _LOADERS[name.lower()](dl.data_dir(data_dir), bool(download), limit)
        return _postprocess(ds, size, grayscale)

    path = Path(name).expanduser()
    if not path.exists() and not path.is_absolute():
        root = dl.data_dir(data_dir)
        if root is not None and (root / path).exists():
            path = root / path
    if not path.exists():
        raise DataError(
            f"unknown dataset {name!r}: not a known name ({', '.join(list_datasets())}) and no such file "
            "or directory; expected a known name, a folder of images, or a .npy, .npz or .csv file"
        )
    ds = _load_path(path, name, size, grayscale, limit)
    if ds.kind == "image" and path.is_dir():  # the folder loader already resized / converted
        return ds
    return _postprocess(ds, size, grayscale)
