"""Loaders for the user's own files: image folders, ``.npy``, ``.npz`` and ``.csv``.

Each loader returns a :class:`~aekit.data.base.Dataset` with float32 raw values and checks the
data (no samples, NaN / inf, wrong rank...) with a :class:`~aekit.data.errors.DataError` that
names the file at fault.
"""
from __future__ import annotations

import csv
import math
import os
import tokenize
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from aekit.data._images import convert_channels, resize, to_channels_first
from aekit.data._validation import as_samples_float32, encode_labels, head
from aekit.data.base import Dataset, Split
from aekit.data.errors import DataError

__all__ = ["IMAGE_EXTENSIONS", "LABEL_COLUMNS", "ImageConversionWarning", "read_image_file", "load_image_folder",
           "load_npy", "load_npz", "load_csv"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
LABEL_COLUMNS = ("label", "labels", "y", "target", "class")
_X_KEYS, _Y_KEYS = ("X", "x", "data"), ("y", "labels")
_X_TEST_KEYS, _Y_TEST_KEYS = ("X_test", "x_test"), ("y_test", "labels_test")
# PIL modes of one grey channel wider than 8 bits, read as numbers; the integer ones hold 16-bit PNG data.
_WIDE_GREY = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535, "I": 65535, "F": 1}
_ALPHA_MODES = {"LA": "L", "La": "L", "PA": "P", "RGBA": "RGB", "RGBa": "RGB"}


# ----------------------------------------------------------------------------------------- images
class ImageConversionWarning(UserWarning):
    """An image file was converted on reading: wider than 8 bits, palette, alpha or another colour space."""


def read_image_file(path: str | os.PathLike | BinaryIO, *, channels: int | None = None,
                    peak: float = 1.0) -> tuple[np.ndarray, str | None]:
    """Read an image file with its real range mapped onto ``[0, peak]``.

    Returns ``(array, note)``: float32 ``(H, W)`` grey or ``(H, W, 3)`` RGB (``channels`` 1 or 3 converts;
    None keeps the file's), and a one-line note saying what was converted (16-bit, palette, alpha, 1-bit,
    CMYK...), None for a plain 8-bit grey or RGB file. Callers warn with the note
    (:class:`ImageConversionWarning`). A 16-bit grey image keeps its 65536 levels; a palette image becomes
    grey when its colours are all grey, else RGB. ``path`` may also be an open binary file (an upload's
    bytes in a ``BytesIO``); messages then name it by its ``name``, else "image".
    """
    source = path if hasattr(path, "read") else Path(path)
    path = source if isinstance(source, Path) else Path(str(getattr(source, "name", "image")))
    try:
        with Image.open(source) as im:
            _check_pixel_count(im, source, path)
            im.load()
            if im.mode in _WIDE_GREY:
                arr, note = _wide_grey(im, path, peak)
                return (np.repeat(arr[..., None], 3, axis=2) if channels == 3 else arr), note
            return _eight_bit(im, path, channels, peak)
    except DataError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: cannot read image ({type(exc).__name__}: {exc}), expected a PNG, JPEG or "
                        "BMP file") from exc


# More pixels per byte of file than any real image holds (deflate tops out at 1032:1, so a PNG holds at most
# 8256 one-bit pixels a byte; a JPEG codes at least one bit per 8x8 block): a header claiming more is forged or
# corrupted, and is refused before PIL allocates the image.
_MAX_PIXELS_PER_BYTE = 1 << 14


def _check_pixel_count(im: Image.Image, source, path: Path) -> None:
    """Refuse a header whose image size the file's bytes cannot hold (checked before any pixel is decoded)."""
    try:
        if isinstance(source, Path):
            size = source.stat().st_size
        else:
            pos = source.tell()
            size = source.seek(0, os.SEEK_END)
            source.seek(pos)
    except (OSError, AttributeError, ValueError):
        return  # a stream without a known size: PIL's own decompression-bomb limit still applies
    if im.width * im.height > _MAX_PIXELS_PER_BYTE * max(size, 1):
        raise DataError(f"{path}: the header claims a {im.width}x{im.height} image, more pixels than its {size} "
                        f"bytes can hold (at most {_MAX_PIXELS_PER_BYTE} a byte); the file is corrupted or forged")


def _wide_grey(im: Image.Image, path: Path, peak: float) -> tuple[np.ndarray, str]:
    """(H, W) float32 in [0, peak] of a 16-bit, 32-bit integer or float grey image."""
    arr = np.asarray(im, dtype=np.float64)
    top = _WIDE_GREY[im.mode]
    lo, hi = float(arr.min(initial=0)), float(arr.max(initial=0))
    if lo < 0 or hi > top:
        raise DataError(f"{path}: {im.mode} image with values {lo:g}..{hi:g}, expected values in 0..{top:g}")
    what = "32-bit float" if im.mode == "F" else ("32-bit integer" if im.mode == "I" else "16-bit")
    return (arr * (peak / top)).astype(np.float32), \
        f"{path}: {what} grey image scaled from 0-{top:g} to [0, {peak:g}]"


def _eight_bit(im: Image.Image, path: Path, channels: int | None, peak: float) -> tuple[np.ndarray, str | None]:
    """(H, W) or (H, W, 3) float32 in [0, peak] of an image with 8 bits (or fewer) per channel."""
    notes = []
    if any(";16" in str(tile.args) for tile in im.tile):  # PIL keeps the high byte of 16-bit colour
        notes.append("16-bit colour read at 8 bits per channel")
    if im.mode in _ALPHA_MODES:
        notes.append("alpha channel dropped")
        im = im.convert(_ALPHA_MODES[im.mode])
    grey = im.mode in ("1", "L")
    if im.mode == "P":
        used = np.unique(np.asarray(im))
        palette = np.asarray(im.getpalette("RGB") or [], dtype=np.int64).reshape(-1, 3)
        if used[-1] >= len(palette):
            raise DataError(f"{path}: palette image uses colour index {int(used[-1])}, but its palette has "
                            f"{len(palette)} colours; expected every index to have a colour")
        palette = palette[used]
        grey = bool((palette == palette[:, :1]).all())
        notes.append(f"palette image converted to {'grey' if grey else 'RGB'} by its palette")
    elif im.mode == "1":
        notes.append("1-bit image read as black and white")
    elif im.mode not in ("L", "RGB"):
        notes.append(f"{im.mode} image converted to RGB")
    mode = {1: "L", 3: "RGB"}.get(channels, "L" if grey else "RGB")
    arr = np.asarray(im.convert(mode), dtype=np.float32) / np.float32(255 / peak)
    return arr, (f"{path}: " + ", ".join(notes)) if notes else None


def list_images(root: Path) -> list[Path]:
    """Image files under ``root`` (recursive), sorted by relative path; hidden files are skipped."""
    found = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if p.suffix.lower() in IMAGE_EXTENSIONS and not any(part.startswith(".") for part in rel.parts) and p.is_file():
            found.append(p)
    return sorted(found, key=lambda p: p.relative_to(root).parts)


def load_image_folder(
    path: str | os.PathLike,
    *,
    image_size: tuple[int, int] | None = None,
    grayscale: bool | None = None,
    limit: int | None = None,
    name: str | None = None,
) -> Dataset:
    """Load every image under a folder (recursively, sorted by path).

    Parameters
    ----------
    path : str or path-like
        The folder. When it has subfolders, each subfolder is a class (sorted names -> labels
        0, 1, ...) and every image must be inside one; otherwise ``y`` is None.
    image_size : (height, width) or None
        Resize every image (bilinear). Required when the images differ in size.
    grayscale : bool or None
        True -> one grey channel, False -> RGB, None -> grey if every image is grey, else RGB.
    limit : int or None
        Keep only the first ``limit`` images (in sorted order).
    name : str or None
        The dataset name; defaults to ``str(path)``.

    Returns
    -------
    Dataset
        kind "image", X float32 ``(N, C, H, W)`` with values 0..255, ``value_range=(0, 255)``.

    Raises
    ------
    DataError
        Empty folder, unreadable image, images of different sizes without ``image_size``, or
        images both at the top level and in class subfolders.
    """
    root = Path(path)
    files = list_images(root)
    if not files:
        raise DataError(
            f"{root}: no images found, expected files with extensions {', '.join(IMAGE_EXTENSIONS)} "
            "(case-insensitive, searched recursively)"
        )
    top = [p for p in files if len(p.relative_to(root).parts) == 1]
    classes = sorted({p.relative_to(root).parts[0] for p in files if len(p.relative_to(root).parts) > 1})
    if classes and top:
        raise DataError(
            f"{root}: has images both at the top level (e.g. {top[0].name}) and in subfolders "
            f"(e.g. {classes[0]}/), expected either all images in class subfolders or none"
        )
    if limit is not None:
        files = files[:limit]

    images: list[np.ndarray] = []   # (1, C, H, W) each, values 0..255
    notes: list[str] = []
    first: tuple[Path, tuple[int, int]] | None = None
    for f in files:
        arr, note = read_image_file(f, peak=255.0)
        notes += [note] if note else []
        chw = arr[None, None] if arr.ndim == 2 else arr.transpose(2, 0, 1)[None]
        if image_size is None:
            if first is None:
                first = (f, chw.shape[2:])
            elif chw.shape[2:] != first[1]:
                (h0, w0), (h1, w1) = first[1], chw.shape[2:]
                raise DataError(
                    f"images differ in size: {first[0]} is {h0}x{w0} (height x width) but {f} is {h1}x{w1}; "
                    "pass image_size=(height, width) to resize them all"
                )
        images.append(resize(chw, image_size))
    if notes:
        more = f" (and {len(notes) - 1} more converted images)" if len(notes) > 1 else ""
        warnings.warn(notes[0] + more, ImageConversionWarning, stacklevel=2)

    if grayscale is None:
        grayscale = all(im.shape[1] == 1 for im in images)
    X = np.concatenate([convert_channels(im, grayscale) for im in images])
    X = as_samples_float32(X, str(root))
    y = None
    if classes:
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[f.relative_to(root).parts[0]] for f in files], dtype=np.int64)
    return Dataset(
        name=str(path) if name is None else name,
        kind="image",
        train=Split(X, y),
        test=None,
        value_range=(0.0, 255.0),
        classes=tuple(classes) if classes else None,
    )


# ------------------------------------------------------------------------------------- npy / npz
def _array_value_range(arrays: list[np.ndarray], raw_dtypes: list[np.dtype], kind: str) -> tuple[float, float] | None:
    if kind != "image":
        return None
    if all(d == np.uint8 for d in raw_dtypes):
        return (0.0, 255.0)
    if all(float(a.min()) >= 0.0 and float(a.max()) <= 1.0 for a in arrays):
        return (0.0, 1.0)
    return None


# What reading a malformed .npy / .npz file raises besides OSError, ValueError and EOFError: the header's literal
# parser (TokenError, SyntaxError), sizes past C integers (OverflowError), and the zip layer (a bad archive, an
# unknown compression method, bad deflate data, an encrypted member: RuntimeError).
_NPY_ERRORS = (OSError, ValueError, EOFError, tokenize.TokenError, SyntaxError, OverflowError, zipfile.BadZipFile,
               NotImplementedError, zlib.error, RuntimeError)


def _check_npy_header(f: BinaryIO, size: int, source: str) -> None:
    """Read the .npy header at the start of ``f`` (``size`` bytes in all) and refuse a shape that needs more
    bytes than follow it, so that a forged header cannot make NumPy allocate memory the data cannot fill."""
    version = np.lib.format.read_magic(f)
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise DataError(f"{source}: .npy format version {version[0]}.{version[1]}, expected 1.0, 2.0 or 3.0")
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(f)
    if any(isinstance(d, bool) or d < 0 for d in shape):   # NumPy itself fails on these with a TypeError
        raise DataError(f"{source}: the header's shape {shape} is not a tuple of non-negative integers")
    need, have = math.prod(shape) * dtype.itemsize, size - f.tell()
    if need > have:
        raise DataError(f"{source}: the header claims an array of shape {shape} and dtype {dtype} ({need} bytes), "
                        f"but only {max(have, 0)} data bytes follow; the file is truncated or its header corrupted")


def _npz_member(archive: np.lib.npyio.NpzFile, key: str, source: str) -> np.ndarray:
    """Array ``key`` of an open .npz archive, read without pickle once its header fits the member's size."""
    name = key + ".npy" if key + ".npy" in archive.zip.namelist() else key
    info = archive.zip.getinfo(name)
    size = info.file_size  # as the zip says; stored and deflated data cannot expand more than 1:1 and 1032:1
    ratio = {zipfile.ZIP_STORED: 1, zipfile.ZIP_DEFLATED: 1032}.get(info.compress_type)
    if ratio is not None:
        size = min(size, ratio * info.compress_size)
    with archive.zip.open(name) as f:
        _check_npy_header(f, size, f"{source} [{key}]")
    with archive.zip.open(name) as f:
        return np.lib.format.read_array(f, allow_pickle=False)


def _samples(arr: np.ndarray, source: str, limit: int | None) -> tuple[np.ndarray, str]:
    """Layout + float32 + checks for one array of samples."""
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{source}: array has dtype {arr.dtype}, expected a numeric (bool, int or float) array")
    X, kind = to_channels_first(arr, source)
    return as_samples_float32(head(X, limit), source), kind


def load_npy(path: str | os.PathLike, *, limit: int | None = None, name: str | None = None) -> Dataset:
    """Load a ``.npy`` array (never with pickle).

    Parameters
    ----------
    path : str or path-like
        ``(N, D)`` -> table; ``(N, H, W)`` -> grey images; ``(N, C, H, W)`` or ``(N, H, W, C)`` with
        C in {1, 3} -> images (channels first wins when both fit).
    limit : int or None
        Keep only the first ``limit`` samples.
    name : str or None
        The dataset name; defaults to ``str(path)``.

    Returns
    -------
    Dataset
        ``y`` is None. Images get ``value_range`` (0, 255) for uint8, (0, 1) when all values are
        in [0, 1], else None; tables get None.

    Raises
    ------
    DataError
        Unreadable file or object array, wrong rank, no samples, NaN / inf.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            if f.read(6) == b"\x93NUMPY":
                f.seek(0)
                _check_npy_header(f, os.fstat(f.fileno()).st_size, str(path))
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except DataError:
        raise
    except _NPY_ERRORS as exc:
        raise DataError(f"{path}: cannot read .npy file ({exc}), expected a numeric NumPy array without pickled "
                        "objects") from exc
    if not isinstance(arr, np.ndarray):
        raise DataError(f"{path}: is an .npz archive, expected a single .npy array (rename it to .npz)")
    X, kind = _samples(arr, str(path), limit)
    return Dataset(
        name=str(path) if name is None else name,
        kind=kind,
        train=Split(X, None),
        test=None,
        value_range=_array_value_range([X], [arr.dtype], kind),
    )


def _pick(keys: list[str], candidates: tuple[str, ...]) -> str | None:
    return next((k for k in candidates if k in keys), None)


def load_npz(path: str | os.PathLike, *, limit: int | None = None, name: str | None = None) -> Dataset:
    """Load a ``.npz`` archive (never with pickle).

    Parameters
    ----------
    path : str or path-like
        Keys: ``X`` (or ``x`` or ``data``) required; ``y`` (or ``labels``) optional;
        ``X_test`` / ``y_test`` optional, giving a predefined test split. Array layouts as in
        :func:`load_npy`.
    limit : int or None
        Keep only the first ``limit`` training samples and the first ``limit`` test samples.
    name : str or None
        The dataset name; defaults to ``str(path)``.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        Missing key (listing the keys found), labels whose length differs from the samples, test
        samples whose shape differs from the training samples, and the checks of :func:`load_npy`.
    """
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except _NPY_ERRORS as exc:
        raise DataError(f"{path}: cannot read .npz file ({exc}), expected a NumPy .npz archive without pickled "
                        "objects") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: holds a single array, expected an .npz archive (rename it to .npy)")
    with archive:
        keys = list(archive.files)
        x_key, y_key = _pick(keys, _X_KEYS), _pick(keys, _Y_KEYS)
        xt_key, yt_key = _pick(keys, _X_TEST_KEYS), _pick(keys, _Y_TEST_KEYS)
        if x_key is None:
            raise DataError(
                f"{path}: no data array, found keys {keys}, expected 'X' (or 'x' or 'data'), "
                "optionally 'y' (or 'labels'), 'X_test', 'y_test'"
            )
        if yt_key is not None and xt_key is None:
            raise DataError(f"{path}: has {yt_key!r} but no 'X_test', found keys {keys}")

        def get(key: str | None) -> np.ndarray | None:
            if key is None:
                return None
            try:
                return _npz_member(archive, key, str(path))
            except DataError:
                raise
            except _NPY_ERRORS as exc:
                raise DataError(f"{path}: cannot read array {key!r} ({exc}), expected a numeric array without "
                                "pickled objects") from exc

        raw_x, raw_y, raw_xt, raw_yt = get(x_key), get(y_key), get(xt_key), get(yt_key)

    for xs, ys, xk, yk in ((raw_x, raw_y, x_key, y_key), (raw_xt, raw_yt, xt_key, yt_key)):
        if xs is not None and ys is not None and (ys.ndim != 1 or xs.ndim == 0 or ys.shape[0] != xs.shape[0]):
            raise DataError(
                f"{path}: {yk!r} has shape {ys.shape} but {xk!r} has shape {xs.shape}, "
                f"expected {yk!r} of shape ({xs.shape[0] if xs.ndim else 0},)"
            )
    X, kind = _samples(raw_x, f"{path} [{x_key}]", limit)
    test_X = None
    if raw_xt is not None:
        test_X, test_kind = _samples(raw_xt, f"{path} [{xt_key}]", limit)
        if test_X.shape[1:] != X.shape[1:]:
            raise DataError(
                f"{path}: {xt_key!r} samples have shape {test_X.shape[1:]} but {x_key!r} samples have "
                f"shape {X.shape[1:]}, expected the same shape"
            )
    # Codes come from all labels, so they do not depend on ``limit``.
    (y, test_y), classes = encode_labels([raw_y, raw_yt], f"{path} [{y_key or yt_key}]")
    y, test_y = head(y, limit), head(test_y, limit)
    arrays = [X] if test_X is None else [X, test_X]
    dtypes = [raw_x.dtype] if raw_xt is None else [raw_x.dtype, raw_xt.dtype]
    return Dataset(
        name=str(path) if name is None else name,
        kind=kind,
        train=Split(X, y),
        test=None if test_X is None else Split(test_X, test_y),
        value_range=_array_value_range(arrays, dtypes, kind),
        classes=classes,
    )


# ------------------------------------------------------------------------------------------- csv
def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_csv(path: str | os.PathLike, *, limit: int | None = None, name: str | None = None) -> Dataset:
    """Load a ``.csv`` table with a header row (UTF-8, comma-separated).

    Parameters
    ----------
    path : str or path-like
        Every column must be numeric except an optional label column named ``label``, ``labels``,
        ``y``, ``target`` or ``class`` (case-insensitive). Integer labels keep their values; other
        labels (text, fractional numbers) become codes 0, 1, ... in sorted order, kept as
        ``Dataset.classes``. Blank lines are skipped.
    limit : int or None
        Keep only the first ``limit`` data rows (the label column is still read to the end so
        that label codes do not depend on ``limit``).
    name : str or None
        The dataset name; defaults to ``str(path)``.

    Returns
    -------
    Dataset
        kind "table", X float32 ``(N, D)``, ``value_range`` None.

    Raises
    ------
    DataError
        No header, no rows, a non-numeric feature value (naming the column, the row and the value),
        a row with the wrong number of fields, several label columns, NaN / inf.
    """
    path = Path(path)
    try:
        f = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"{path}: cannot open CSV file ({exc})") from exc
    rows: list[list[float]] = []
    labels: list[str] = []
    with f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            while header is not None and not any(cell.strip() for cell in header):
                header = next(reader, None)
            if header is None:
                raise DataError(f"{path}: CSV file is empty, expected a header row with column names and data rows")
            names = [h.strip() for h in header]
            if all(_is_number(n) for n in names):
                raise DataError(
                    f"{path}: first row {header[:5]} looks like data, expected a header row with column names"
                )
            label_idx = [i for i, n in enumerate(names) if n.lower() in LABEL_COLUMNS]
            if len(label_idx) > 1:
                raise DataError(
                    f"{path}: several label columns {[names[i] for i in label_idx]}, expected at most one "
                    f"column named one of {LABEL_COLUMNS}"
                )
            label = label_idx[0] if label_idx else None
            features = [i for i in range(len(names)) if i != label]
            if not features:
                raise DataError(f"{path}: only a label column {names}, expected at least one numeric feature column")
            n_rows = 0
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                n_rows += 1
                if len(row) != len(names):
                    raise DataError(
                        f"{path}: data row {n_rows} (line {reader.line_num}) has {len(row)} fields, "
                        f"expected {len(names)} (one per header column)"
                    )
                if limit is not None and n_rows > limit:
                    if label is None:
                        break
                    labels.append(row[label].strip())  # label codes do not depend on ``limit``
                    continue
                try:
                    values = [float(row[i]) for i in features]
                except ValueError:
                    bad = next(i for i in features if not _is_number(row[i]))
                    raise DataError(
                        f"{path}: column {names[bad]!r}, data row {n_rows} (line {reader.line_num}): "
                        f"non-numeric value {row[bad]!r}, expected a number (only a label column named one of "
                        f"{LABEL_COLUMNS} may hold text)"
                    ) from None
                rows.append(values)
                if label is not None:
                    labels.append(row[label].strip())
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: malformed CSV near line {reader.line_num} ({exc}), expected UTF-8 "
                            "comma-separated text") from exc
    if not rows:
        raise DataError(f"{path}: no data rows after the header {names}, expected at least one")
    X = as_samples_float32(np.array(rows, dtype=np.float64), str(path))
    y, classes = None, None
    if label is not None:
        column = labels
        numeric = all(_is_number(v) for v in column)
        raw = np.array([float(v) for v in column]) if numeric else np.array(column, dtype=str)
        (y,), classes = encode_labels([raw], f"{path}: column {names[label]!r}")
        y = y[: len(rows)]
    return Dataset(
        name=str(path) if name is None else name,
        kind="table",
        train=Split(X, y),
        test=None,
        value_range=None,
        classes=classes,
        feature_names=tuple(names[i] for i in features),
    )
