"""What several sub-commands share: the error type, ``--param KEY=VALUE`` parsing and the estimator a
command's flags ask for, the output folder rules (``--out`` / ``--overwrite`` / ``--resume``), and reading
and writing the files they take (images, ``skimage:NAME`` photographs, class maps, ``.npy``).

Heavy modules (torch, scikit-learn, the estimators) are imported inside the functions that need them, so
that ``aekit --help`` stays fast.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from aekit.data.files import IMAGE_EXTENSIONS, ImageConversionWarning, read_image_file
from aekit.fileio import atomic_write_bytes, default_mode


class CLIError(ValueError):
    """A bad command-line option or config file."""


def parse_param(text: str, flag: str = "--param") -> tuple[str, object]:
    """``KEY=VALUE`` with a JSON value; a bare word (``gelu``) stays a string, broken JSON is an error."""
    if "=" not in text:
        raise CLIError(f"{flag} {text!r}: expected KEY=VALUE, e.g. {flag} channels=[16,32]")
    key, value = text.split("=", 1)
    key = key.strip().replace("-", "_")
    if not key:
        raise CLIError(f"{flag} {text!r}: the parameter name is empty; expected KEY=VALUE")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError as exc:
        if value[:1] in '[{"' or value[:1].isdigit() or value[:1] in "-.":  # meant as JSON, but broken
            raise CLIError(f"{flag} {key}={value}: not valid JSON ({exc.msg} at character {exc.pos}); "
                           f"e.g. {flag} channels=[16,32] {flag} lr=0.001") from None
        return key, value  # a bare string such as gelu


def estimator_params(texts: list[str], flag: str = "--param") -> dict:
    """Estimator arguments from ``--param KEY=VALUE`` texts."""
    return dict(parse_param(t, flag) for t in texts)


# flag (argparse dest) -> estimator parameter: what every command that fits something takes (aekit/cli/grammar.py)
FIT_FLAGS = {"epochs": "epochs", "seed": "random_state", "batch_size": "batch_size", "max_time": "max_time",
             "device": "device"}


def estimator_arguments(args, **fixed) -> dict:
    """The estimator parameters a command's flags ask for: ``fixed`` < ``--param`` < the fitting flags
    (``--epochs``, ``--seed``, ...), with ``--model-param`` values merged into ``model_params``. A flag and a
    ``--param`` that set the same parameter to different values are an error."""
    params = {**fixed, **estimator_params(getattr(args, "param", None) or [])}
    model_params = estimator_params(getattr(args, "model_param", None) or [], "--model-param")
    if model_params:
        base = params.get("model_params") or {}
        if not isinstance(base, dict):
            raise CLIError(f"--param model_params={json.dumps(base)}: expected a JSON object such as "
                           '{"hidden": [64]}')
        params["model_params"] = {**base, **model_params}
    for flag, name in FIT_FLAGS.items():
        value = getattr(args, flag, None)
        if value is None:
            continue
        if name in params and params[name] != value:
            raise CLIError(f"--{flag.replace('_', '-')} {value} and --param {name}={json.dumps(params[name])} "
                           "set the same parameter; pass one")
        params[name] = value
    return params


def make_estimator(cls, args, **fixed):
    """``cls(**fixed, **--param values, **fitting flags)`` (see :func:`estimator_arguments`), with ``verbose``
    (a progress bar) unless ``--quiet``; an unknown or invalid parameter fails here, before any data are read."""
    params = estimator_arguments(args, **fixed)
    params.setdefault("verbose", 0 if args.quiet else 1)
    known = cls().get_params(deep=False)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise CLIError(f"--param {unknown[0]}: {cls.__name__} has no such parameter; it takes {sorted(known)}")
    est = cls(**params)
    est._check_params()
    return est


# ------------------------------------------------------------------------------------------ output folders
def add_output_folder(p, help: str, *, resume: bool = False, required: bool = True) -> None:
    """``--out DIR`` and ``--overwrite`` (and ``--resume``): the rules of :func:`output_folder`."""
    p.add_argument("--out", required=required, help=help + " (must be new or empty, unless --overwrite"
                   + (" or --resume" if resume else "") + ")")
    p.add_argument("--overwrite", action="store_true", help="replace what --out holds: the new results are "
                   "built beside it and swapped in at the end, so an interrupted run leaves the old ones intact")
    if resume:
        p.add_argument("--resume", action="store_true", default=None,
                       help="continue the interrupted run in --out from its last checkpoint")


def check_output_folder(path: str | os.PathLike, *, overwrite: bool = False, resume: bool | None = None,
                        option: str = "--out") -> list[str]:
    """Refuse a folder :func:`output_folder` would refuse, before any work starts; the names it holds."""
    out = Path(path)
    if resume and overwrite:
        raise CLIError("--resume and --overwrite exclude each other: --resume continues the run in "
                       f"{option} {out}, --overwrite replaces it")
    if out.exists() and not out.is_dir():
        raise CLIError(f"{option} {out} is a file; expected a folder (new or empty)")
    held = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if held and not (resume or overwrite):
        offer = "--resume to continue its run or --overwrite" if resume is not None else "--overwrite"
        shown = ", ".join(held[:3]) + (", ..." if len(held) > 3 else "")
        raise CLIError(f"{option} {out} is not empty (holds {shown}); pass {offer} to replace it, or choose "
                       "another folder")
    return held


@contextmanager
def output_folder(path: str | os.PathLike, *, overwrite: bool = False, resume: bool | None = None,
                  option: str = "--out") -> Iterator[Path]:
    """The folder a command writes into; checked before any work starts.

    A non-empty folder is refused unless ``resume`` (write into it: the run goes on from its checkpoint)
    or ``overwrite``: then the new results are written to a hidden folder beside it, which replaces the old
    one only when the command succeeds; a failed or killed command leaves the old folder as it was.
    ``resume=None`` means the command cannot resume.
    """
    out = Path(path)
    held = check_output_folder(out, overwrite=overwrite, resume=resume, option=option)
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent)) if held and overwrite \
            else None
    except OSError as exc:
        raise CLIError(f"{option} {out}: cannot write there ({exc.strerror or exc})") from None
    if staging is None:
        yield out
        return
    try:
        os.chmod(staging, default_mode(0o777))  # mkdtemp's 0700, made what a plain mkdir would give
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = out.with_name(f"{staging.name.replace('.new-', '.old-', 1)}")
    out.rename(old)
    staging.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def save_npy(path: str, arr: np.ndarray) -> None:
    if not path.endswith(".npy"):
        raise CLIError(f"--out {path}: expected a .npy file name")
    atomic_write_bytes(path, lambda f: np.save(f, arr, allow_pickle=False))
    print(f"wrote {arr.shape} to {path}", file=sys.stderr)


# ------------------------------------------------------------------------------------------------ files
def skimage_path(name: str) -> Path:
    import skimage.data

    root = Path(skimage.data.data_dir)
    for ext in (".png", ".jpg"):
        if (root / f"{name}{ext}").exists():
            return root / f"{name}{ext}"
    shipped = sorted(p.stem for p in root.iterdir() if p.suffix in (".png", ".jpg"))
    raise FileNotFoundError(f"skimage:{name}: no such photograph ships with scikit-image; choose from {shipped}")


def expand_inputs(specs: list[str]) -> list[Path]:
    """Image paths from files, folders (sorted, non-recursive) and skimage:NAME."""
    paths: list[Path] = []
    for spec in specs:
        if spec.startswith("skimage:"):
            paths.append(skimage_path(spec.split(":", 1)[1]))
            continue
        p = Path(spec)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_EXTENSIONS)
            if not found:
                raise FileNotFoundError(f"{p}: the folder holds no {'/'.join(IMAGE_EXTENSIONS)} images")
            paths.extend(found)
        elif p.is_file():
            if p.suffix.lower() not in IMAGE_EXTENSIONS:
                raise ValueError(f"{p}: expected an image file ({', '.join(IMAGE_EXTENSIONS)})")
            paths.append(p)
        else:
            raise FileNotFoundError(f"input {spec} does not exist")
    return paths


def read_image(path: Path, channels: int | None = None) -> np.ndarray:
    """[0, 1] float32 (H, W) grey or (H, W, 3) colour (16-bit images keep their levels); ``channels``
    converts to 1 or 3 channels. Warns (ImageConversionWarning) saying what was converted."""
    arr, note = read_image_file(path, channels=channels)
    if note:
        warnings.warn(note, ImageConversionWarning, stacklevel=2)
    return arr


def write_png(path: Path, img: np.ndarray) -> None:
    from PIL import Image

    arr = np.clip(np.asarray(img, np.float64), 0, 1)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    Image.fromarray((arr * 255).round().astype(np.uint8)).save(path)


def read_targets(spec: str, data_dir=None) -> np.ndarray:
    """Class maps from a folder of mask images (their pixel values are the labels) or a .npy/.npz file."""
    from aekit.data import load_dataset

    p = Path(spec)
    if p.is_dir():
        paths = expand_inputs([spec])
        return np.stack([np.asarray(read_labels(q)) for q in paths])
    if p.suffix == ".npy":
        return np.load(p, allow_pickle=False)
    ds = load_dataset(spec, data_dir=data_dir)
    return ds.train.X


def read_labels(path: Path) -> np.ndarray:
    """A mask image's class map: its pixel values as they are (a palette image's indices, all 16 bits of a
    16-bit image); a colour mask is read as grey levels, with a warning (ImageConversionWarning)."""
    from PIL import Image

    with Image.open(path) as im:
        if im.mode in ("1", "L", "P"):
            return np.asarray(im, dtype=np.uint8)
        if im.mode.startswith("I"):
            return np.asarray(im, dtype=np.int64)
        warnings.warn(f"{path}: {im.mode} mask converted to grey levels (0-255) to read its labels",
                      ImageConversionWarning, stacklevel=2)
        return np.asarray(im.convert("L"))


def load_all(source: str, data_dir, limit, *, stream: bool = False):
    """(dataset, X, y) with the train and test parts of ``source`` joined (y None when either has no labels).

    ``stream``: data too large to hold comfortably (:func:`aekit.data.sources.open_stream`) come back as an
    :class:`~aekit.data.streaming.ArrayStream` ``X`` (rows as the file holds them, read a piece at a time:
    :func:`pieces`, :func:`take`), with ``y`` None and a dataset that has only ``name``, ``kind`` (None) and
    ``feature_names`` (a CSV table's columns)."""
    from aekit.data import load_dataset

    streamed = open_streamed(source, data_dir, limit) if stream else None
    if streamed is not None:
        return (*streamed, None)
    ds = load_dataset(source, data_dir=data_dir, limit=limit)
    X, y = ds.train.X, ds.train.y
    if ds.test is not None:
        X = np.concatenate([X, ds.test.X])
        y = None if y is None or ds.test.y is None else np.concatenate([y, ds.test.y])
    return ds, X, y


@dataclass
class StreamedData:
    """What a command knows of data it streams (:func:`load_all`), in place of the dataset it would load."""

    name: str
    feature_names: list[str] | None = None
    kind: str | None = None


def open_streamed(source: str, data_dir, limit):
    """(:class:`StreamedData`, stream) when ``source`` is too large to hold comfortably
    (:func:`aekit.data.sources.open_stream`), else None."""
    from aekit.data.sources import open_stream

    rows = open_stream(source, data_dir=data_dir, limit=limit)
    if rows is None:
        return None
    names = rows.paths[0].parent / "columns.txt"   # written by csv_to_shards
    return StreamedData(str(source), names.read_text().split() if names.is_file() else None), rows


def is_stream(X) -> bool:
    return hasattr(X, "chunks") and hasattr(X, "take")


def pieces(X) -> Iterator[np.ndarray]:
    """``X`` a piece at a time: an array as it is, a stream in file order, about 32 MB per piece."""
    if not is_stream(X):
        yield X
        return
    from aekit.data.sources import chunk_rows

    yield from X.chunks(rows=chunk_rows(X))


def take(X, index) -> np.ndarray:
    """The rows of ``X`` (an array or a stream) at ``index``."""
    return X.take(index) if is_stream(X) else X[index]


def bounded(X, what: str, seed: int = 0, *, first: bool = False):
    """``X`` as an array: a stream becomes a uniform sample of the rows that fit comfortably in memory (all of
    them when they do; ``first``: its first rows, to stay aligned with other files), with a note on stderr
    naming ``what`` is done with it."""
    if not is_stream(X):
        return X
    from aekit.data.sources import stream_threshold

    n = max(2, stream_threshold() // X.row_bytes)
    if n < len(X):
        print(f"aekit: {what} on a sample of {n} of the {len(X)} rows (the data are larger than memory holds "
              "comfortably; $AEKIT_STREAM_BYTES sets how much)", file=sys.stderr)
    return X.take(np.arange(min(n, len(X)))) if first else X.sample(n, seed=seed)
