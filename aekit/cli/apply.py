"""``aekit apply MODEL OPERATION INPUTS... --out PATH``: run any operation a model folder declares on files.

    aekit apply runs/det                                         # list what the folder can do
    aekit apply runs/det score test.npy --out scores.npz
    aekit apply pretrained:denoise-photo restore photo.png --out restored.npy
    aekit apply runs/codec compress a.png b.png --out streams/    # one .aek file per image
    aekit apply runs/codec decompress streams/ --out images.npy
    aekit apply runs/gen sample 16 --seed 3 --out samples.npy
    aekit apply runs/nab-detector update next-hour.csv --out scores.npy

The operations are the model's declared ones (:mod:`aekit.operations`, the same table ``aekit serve`` and the
explorer read). Inputs are read as the server reads request bodies (:mod:`aekit.serve.inputs`): ``.npy``
(one sample or a batch), ``.npz`` (its ``X`` array), ``.csv`` (one flattened sample per row; a series' CSV
with its timestamp column for series operations), PNG / JPEG images (mapped onto the model's value range),
folders of images and ``skimage:NAME``; ``.aek`` streams (or folders of them) for ``decompress``; a number for
``sample``. Samples of several files are joined into one batch; images, series and streams are applied per
file, in order (so ``update`` takes a stream's next chunks one after another). A stateful operation moves
the model's state on for this run only; the folder is not changed.

``--out`` says what is written: ``.npy`` (the first output, or ``--output NAME``), ``.npz`` (every output),
``.aek`` (one stream), or a folder (``NAME.npy`` per output; streams as ``NAME-000.aek``, ...; outputs of
different sizes as ``NAME-000.npy``, ...).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from aekit.cli.common import CLIError, check_output_folder

STREAM_SUFFIX = ".aek"


def add_parser(sub) -> None:
    p = sub.add_parser("apply", help="run an operation a model folder declares (score, encode, restore, compress, "
                       "sample, ...) on files; without OPERATION, list them")
    p.add_argument("model", metavar="MODEL", help="model folder (any folder aekit writes) or pretrained:NAME")
    p.add_argument("operation", metavar="OPERATION", nargs="?", help="a declared operation (omit it to list them)")
    p.add_argument("inputs", metavar="INPUTS", nargs="*", help=".npy, .npz, .csv, PNG / JPEG images, folders of "
                   "images, skimage:NAME, .aek streams (decompress), or a number of samples (sample)")
    p.add_argument("--out", help="output: .npy (one output), .npz (all outputs), .aek (one stream) or a folder")
    p.add_argument("--output", metavar="NAMES", help="comma-separated outputs to write (default: all; .npy: the "
                   "first)")
    p.add_argument("--seed", type=int, help="random seed of sampling operations (default: 0)")
    p.add_argument("--overwrite", action="store_true", help="replace the files a folder --out holds")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from aekit.serve.models import load_served

    served = load_served(_model_path(args.model))
    if args.operation is None:
        print(json.dumps({"model": args.model, "task": served.task, "input": {
            "kind": served.kind, "shape": [-1, *served.sample_shape]},
            "operations": {k: op.describe() for k, op in served.operations.items()}}, indent=2))
        return 0
    if args.operation not in served.operations:
        raise CLIError(f"{args.model} has no operation {args.operation!r}; it has {list(served.operations)} "
                       f"(`aekit apply {args.model}` describes them)")
    op = served.operations[args.operation]
    if not args.out:
        raise CLIError(f"apply {args.operation}: --out is required (.npy, .npz, .aek or a folder)")
    names = _asked(op, args.output)
    out = Path(args.out)
    if out.suffix not in (".npy", ".npz", STREAM_SUFFIX):
        check_output_folder(out, overwrite=args.overwrite)
    if op.takes == "count":
        if len(args.inputs) != 1:
            raise CLIError(f"{op.name} takes one input, the number of samples (e.g. `aekit apply MODEL {op.name} 16 "
                           f"--out samples.npy`); got {len(args.inputs)}")
        results = [op.run(_count(args.inputs[0]), seed=0 if args.seed is None else args.seed)]
    else:
        if not args.inputs:
            raise CLIError(f"{op.name} takes {_what(op.takes)}: give at least one input file")
        parts = _read_inputs(args.inputs, served, op)
        if op.takes == "samples":
            parts = [np.concatenate(parts)] if len(parts) > 1 else parts
        results = [op.run(part) for part in parts]
    outputs = {name: _join([r[name] for r in results]) for name in names}
    _write(out, outputs, op, args.overwrite)
    return 0


def _model_path(spec: str) -> str:
    from aekit.zoo import PREFIX

    if not spec.startswith(PREFIX) and not Path(spec).is_dir():
        raise CLIError(f"MODEL {spec}: no such model folder (or pretrained:NAME)")
    return spec


def _asked(op, text: str | None) -> list[str]:
    if text is None:
        return op.outputs
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in op.outputs]
    if unknown or not names:
        raise CLIError(f"--output {text}: operation {op.name!r} has outputs {op.outputs}")
    return names


def _count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 10**6:
        raise CLIError(f"the number of samples {text!r}: expected an integer from 1 to 1000000")
    return int(text)


def _what(takes: str) -> str:
    return {"samples": "samples", "images": "images", "series": "a series", "streams": ".aek streams"}[takes]


# ------------------------------------------------------------------------------------------------ inputs
def _read_inputs(specs: list[str], served, op) -> list:
    """The inputs of ``op`` from files, as the server reads request bodies; one part per file (image)."""
    from aekit.cli.common import expand_inputs
    from aekit.data.files import IMAGE_EXTENSIONS

    if op.takes == "streams":
        paths = []
        for spec in specs:
            p = Path(spec)
            found = sorted(q for q in p.iterdir() if q.suffix == STREAM_SUFFIX) if p.is_dir() else [p]
            if not found or not all(q.is_file() for q in found):
                raise CLIError(f"input {spec}: expected .aek stream files (or a folder of them)")
            paths += found
        return [[q.read_bytes() for q in paths]]
    parts = []
    for spec in specs:
        p = Path(spec)
        if spec.startswith("skimage:") or p.is_dir() or p.suffix.lower() in IMAGE_EXTENSIONS:
            parts += [_read_file(q, served, op) for q in expand_inputs([spec])]
        elif p.is_file():
            parts.append(_read_file(p, served, op))
        else:
            raise CLIError(f"input {spec} does not exist")
    return parts


def _read_file(path: Path, served, op) -> np.ndarray:
    from aekit.data.files import IMAGE_EXTENSIONS
    from aekit.serve import inputs as read
    from aekit.serve.limits import RequestError

    settings = _settings()
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return read.parse_npy(path.read_bytes(), served, settings)
        if suffix in IMAGE_EXTENSIONS:
            x, note = read.parse_image(path.read_bytes(), served, settings)
            if note:
                print(f"aekit apply: {path}: {note}", file=sys.stderr)
            return x
        if suffix == ".npz":
            from aekit.data.files import load_npz

            x = read.finite(load_npz(path).train.X, str(path))
            return read.samples(x, served, settings, f"{path} shape", batch=False)
        if suffix == ".csv" and op.takes == "series":
            from aekit.data.series import read_series

            x = read.finite(read_series(path).values, str(path))
            return read.samples(x, served, settings, f"{path} shape", batch=True)
        if suffix == ".csv":
            return read.parse_csv(path.read_bytes(), served, settings)
    except RequestError as exc:
        message = exc.message[5:] if exc.message.startswith("body ") else exc.message   # the file, not a body
        raise CLIError(f"input {path}: {message}") from None
    raise CLIError(f"input {path}: expected .npy, .npz, .csv or an image file ({', '.join(IMAGE_EXTENSIONS)})")


def _settings():
    from aekit.serve.limits import ServeSettings

    big = 2**62                                   # files on the command line: no request limits
    return ServeSettings(max_body_bytes=big, max_values=big, max_image_pixels=big, max_samples=10**6)


# ------------------------------------------------------------------------------------------------ outputs
def _join(arrays: list[np.ndarray]):
    """One array of the per-input results, or the list when their sizes differ."""
    arrays = [np.asarray(a) for a in arrays]
    if len(arrays) == 1:
        return arrays[0]
    if len({a.shape[1:] for a in arrays}) == 1:
        return np.concatenate(arrays)
    return [item for a in arrays for item in a]


def _write(out: Path, outputs: dict, op, overwrite: bool) -> None:
    from aekit.fileio import atomic_write_bytes

    def npy(path: Path, arr) -> None:
        if isinstance(arr, list) or np.asarray(arr).dtype.kind == "O":
            what = "byte streams" if not isinstance(arr, list) else "arrays of different sizes"
            raise CLIError(f"--out {out}: output of {op.name!r} holds {what}; give --out a folder")
        atomic_write_bytes(path, lambda f: np.save(f, np.asarray(arr), allow_pickle=False))

    if out.suffix == ".npy":
        name, arr = next(iter(outputs.items()))
        npy(out, arr)
        print(f"wrote {name} {_shape(arr)} to {out}", file=sys.stderr)
        return
    if out.suffix == ".npz":
        for name, arr in outputs.items():
            if isinstance(arr, list) or arr.dtype.kind == "O":
                raise CLIError(f"--out {out}: output {name!r} of {op.name!r} does not fit an .npz archive (byte "
                               "streams or arrays of different sizes); give --out a folder")
        atomic_write_bytes(out, lambda f: np.savez(f, **outputs))
        print(f"wrote {', '.join(f'{k} {_shape(v)}' for k, v in outputs.items())} to {out}", file=sys.stderr)
        return
    if out.suffix == STREAM_SUFFIX:
        name, arr = next(iter(outputs.items()))
        if isinstance(arr, list) or arr.dtype.kind != "O" or len(arr) != 1:
            raise CLIError(f"--out {out}: a .aek file holds one stream; output {name!r} of {op.name!r} is not one "
                           "stream (give --out a folder)")
        atomic_write_bytes(out, lambda f: f.write(bytes(arr[0])))
        print(f"wrote {len(arr[0])} bytes to {out}", file=sys.stderr)
        return
    check_output_folder(out, overwrite=overwrite)
    out.mkdir(parents=True, exist_ok=True)
    for name, arr in outputs.items():
        if not isinstance(arr, list) and arr.dtype.kind != "O":
            npy(out / f"{name}.npy", arr)
            continue
        for i, item in enumerate(arr):
            if isinstance(item, (bytes, bytearray)):
                atomic_write_bytes(out / f"{name}-{i:03d}{STREAM_SUFFIX}", lambda f, b=item: f.write(bytes(b)))
            else:
                npy(out / f"{name}-{i:03d}.npy", item)
    print(f"wrote {', '.join(outputs)} to {out}/", file=sys.stderr)


def _shape(arr) -> str:
    return f"({len(arr)} items)" if isinstance(arr, list) else str(tuple(np.asarray(arr).shape))
