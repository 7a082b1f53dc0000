"""Requests to model inputs: a KServe V2 JSON body, a ``.npy`` array, a PNG / JPEG image, CSV rows or an
``.aek`` stream become a :class:`Call` (the operation, its input, the outputs asked for), or a
:class:`~aekit.serve.limits.RequestError` naming the field, what came and what was expected.

Samples come in the caller's layout and raw units, ``(n, *sample_shape)`` (``.npy`` and CSV may also hold
one sample without the batch axis, CSV one flattened sample per row); images are mapped from [0, 1] onto the
model's value range and into its layout.
"""
from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import math
from dataclasses import dataclass, field

import numpy as np

from aekit.serve.limits import RequestError, ServeSettings, check_values, too_large
from aekit.serve.models import Operation, ServedModel

# V2 datatype -> numpy dtype of its values, and the kinds of JSON numbers it accepts
NUMERIC = {"BOOL": (np.bool_, "b"), "FP16": (np.float16, "iuf"), "FP32": (np.float32, "iuf"),
           "FP64": (np.float64, "iuf"), **{f"INT{b}": (np.dtype(f"int{b}"), "iu") for b in (8, 16, 32, 64)},
           **{f"UINT{b}": (np.dtype(f"uint{b}"), "iu") for b in (8, 16, 32, 64)}}
MAX_SEED = 2**32 - 1


@dataclass
class Call:
    op: Operation
    payload: object                             # samples (n, *sample_shape) float32, a count, or a list of streams
    outputs: list[str]                          # the outputs to answer with, in order
    id: str | None = None                       # the request's id, echoed in the answer
    seed: int | None = None                     # sampling: the seed (drawn when the request gives none)
    notes: list[str] = field(default_factory=list)   # what was converted on reading (images)

    @property
    def rows(self) -> int:
        return int(self.payload) if self.op.takes == "count" else len(self.payload)


def bad(message: str, field: str | None = None, received=None, expected=None, status: int = 400) -> RequestError:
    return RequestError(status, message, field=field, received=received, expected=expected)


def operation(served: ServedModel, name: str | None, field: str = "parameters.operation") -> Operation:
    if name is None:
        return next(iter(served.operations.values()))
    if not isinstance(name, str) or name not in served.operations:
        raise bad(f"{field}: model {served.name!r} has no operation {name!r}; it has {list(served.operations)}",
                  field, _short(name), list(served.operations), status=404 if field == "path" else 400)
    return served.operations[name]


def outputs(op: Operation, asked, field: str = "outputs") -> list[str]:
    """The outputs named by a V2 ``outputs`` list (``[{"name": ...}]``), else all of the operation's."""
    if asked is None:
        return op.outputs
    if not isinstance(asked, list) or not asked:
        raise bad(f"{field}: expected a non-empty list of {{\"name\": ...}} objects", field, _short(asked),
                  [{"name": n} for n in op.outputs])
    names = []
    for i, item in enumerate(asked):
        name = item.get("name") if isinstance(item, dict) else item
        if name not in op.outputs:
            raise bad(f"{field}[{i}]: operation {op.name!r} has no output {_short(name)!r}; it has {op.outputs}",
                      f"{field}[{i}].name", _short(name), op.outputs)
        names.append(name)
    return list(dict.fromkeys(names))


# ------------------------------------------------------------------------------------------------ V2 JSON
def parse_json(body: bytes) -> dict:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:      # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise bad(f"body is not valid JSON ({str(exc)[:200]})", "body", f"{len(body)} bytes",
                  "a KServe V2 inference request (JSON object)") from None
    if not isinstance(doc, dict):
        raise bad(f"body is a JSON {type(doc).__name__}, expected a JSON object (a KServe V2 inference request)",
                  "body", type(doc).__name__, "object")
    return doc


def v2_call(doc: dict, served: ServedModel, settings: ServeSettings, route_op: str | None = None) -> Call:
    """The :class:`Call` of a V2 inference request ``{"inputs": [...], "parameters": {...}, "outputs": [...]}``."""
    params = doc.get("parameters", {})
    if not isinstance(params, dict):
        raise bad("parameters: expected a JSON object", "parameters", type(params).__name__, "object")
    op = operation(served, route_op, "path") if route_op else operation(served, params.get("operation"))
    rid = doc.get("id")
    if rid is not None and not isinstance(rid, str):
        raise bad("id: expected a string", "id", type(rid).__name__, "string")
    call = Call(op, None, outputs(op, doc.get("outputs")), rid)
    if op.takes == "count":
        call.payload, call.seed = count(params.get("n", 1), settings, "parameters.n"), \
            seed(params.get("seed"), "parameters.seed")
        return call
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1:
        got = f"a list of {len(inputs)}" if isinstance(inputs, list) else _kind(inputs)
        raise bad(f"inputs: expected a list of one tensor, got {got}", "inputs", got,
                  [{"name": "input", "shape": [-1, *served.sample_shape], "datatype": "FP32", "data": "[...]"}])
    tensor = inputs[0]
    if not isinstance(tensor, dict):
        raise bad(f"inputs[0]: expected a JSON object, got {_kind(tensor)}", "inputs[0]", _kind(tensor), "object")
    if op.takes == "streams":
        call.payload = _byte_tensor(tensor, settings)
        return call
    call.payload = samples(_numeric_tensor(tensor, settings), served, settings, "inputs[0].shape", batch=True)
    return call


def _numeric_tensor(t: dict, settings: ServeSettings) -> np.ndarray:
    shape = _shape(t.get("shape"), "inputs[0].shape")
    dt = t.get("datatype")
    if dt not in NUMERIC:
        raise bad(f"inputs[0].datatype: {_short(dt)!r} is not a numeric KServe V2 datatype", "inputs[0].datatype",
                  _short(dt), sorted(NUMERIC))
    count = math.prod(shape)
    check_values(count, settings, "inputs[0].shape")
    data = t.get("data")
    if not isinstance(data, list):
        raise bad(f"inputs[0].data: expected a list of numbers, got {_kind(data)}", "inputs[0].data", _kind(data),
                  "a list of numbers (flat, row-major)")
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise bad("inputs[0].data: nested lists of unequal lengths (or nested too deep); expected a flat "
                  "(row-major) list of numbers", "inputs[0].data", "ragged nested lists", "a flat list of numbers") \
            from None
    dtype, kinds = NUMERIC[dt]
    if arr.dtype.kind not in kinds or (arr.size == 0 and count):
        got = {"b": "booleans", "i": "integers", "u": "integers", "f": "numbers with fractions"}.get(
            arr.dtype.kind, "values that are not numbers (strings, null, objects or numbers beyond 64 bits)")
        want = {"b": "booleans", "iu": "integers"}.get(kinds, "numbers")
        raise bad(f"inputs[0].data holds {got}; datatype {dt} expects {want}", "inputs[0].data", got,
                  f"{want} ({dt})")
    if arr.size != count:
        raise bad(f"inputs[0].data holds {arr.size} values, but shape {shape} needs {count}", "inputs[0].data",
                  arr.size, count)
    if kinds == "iu" and arr.size:
        info = np.iinfo(dtype)
        lo, hi = int(arr.min()), int(arr.max())
        if lo < info.min or hi > info.max:
            raise bad(f"inputs[0].data holds values in [{lo}, {hi}], outside the range of {dt}", "inputs[0].data",
                      [lo, hi], [int(info.min), int(info.max)])
    with np.errstate(over="ignore", invalid="ignore"):
        arr = arr.astype(dtype, copy=False)              # FP16 values beyond its range become infinite: refused
    return finite(arr.reshape(shape), "inputs[0].data")


def _byte_tensor(t: dict, settings: ServeSettings) -> list[bytes]:
    """``.aek`` streams from a BYTES tensor of base64 strings, shape ``[n]``."""
    if t.get("datatype") != "BYTES":
        raise bad(f"inputs[0].datatype: {_short(t.get('datatype'))!r}; decompress takes BYTES (base64 strings of "
                  ".aek streams)", "inputs[0].datatype", _short(t.get("datatype")), "BYTES")
    data = t.get("data")
    if not isinstance(data, list) or not data or not all(isinstance(s, str) for s in data):
        raise bad("inputs[0].data: expected a non-empty list of base64 strings", "inputs[0].data", _kind(data),
                  "a list of base64 strings")
    shape = _shape(t.get("shape"), "inputs[0].shape")
    if shape != [len(data)]:
        raise bad(f"inputs[0].shape {shape} does not match the {len(data)} strings of inputs[0].data",
                  "inputs[0].shape", shape, [len(data)])
    out = []
    for i, s in enumerate(data):
        try:
            out.append(base64.b64decode(s, validate=True))
        except (binascii.Error, ValueError):
            raise bad(f"inputs[0].data[{i}] is not base64", f"inputs[0].data[{i}]", _short(s),
                      "a base64 string of a .aek stream") from None
    return out


def _shape(shape, field: str) -> list[int]:
    if not isinstance(shape, list) or not shape or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise bad(f"{field}: expected a non-empty list of non-negative integers", field, _short(shape),
                  "[n, ...] (n samples, then the sample shape)")
    return shape


def count(n, settings: ServeSettings, field: str) -> int:
    if isinstance(n, str) and n.isdigit() and len(n) < 12:
        n = int(n)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= settings.max_samples:
        raise bad(f"{field}: expected a number of samples from 1 to {settings.max_samples} (setting max_samples)",
                  field, _short(n), f"1..{settings.max_samples}")
    return n


def seed(value, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit() and len(value) < 12:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise bad(f"{field}: expected an integer seed from 0 to {MAX_SEED}", field, _short(value), f"0..{MAX_SEED}")
    return value


# ------------------------------------------------------------------------------------------------ samples
def samples(x: np.ndarray, served: ServedModel, settings: ServeSettings, field: str, *, batch: bool) -> np.ndarray:
    """``x`` checked against the model's sample shape, as float32 ``(n, *sample_shape)``; without ``batch``
    one sample without the batch axis is taken too."""
    want = tuple(served.sample_shape)
    if served.kind == "series" and x.ndim == 1 and want == (1,):
        x = x[:, None]                          # a one-channel series (T,): T rows of one value
    elif not batch and x.ndim == len(want):
        x = x[None]
    expected = [-1, *want]
    fits = x.ndim == len(want) + 1 and all(w in (-1, g) for w, g in zip(want, x.shape[1:]))
    if not fits:
        what = "n samples" + (f" of shape {_dims(want)}" if want else "")
        raise bad(f"{field} is {list(x.shape)}, expected [n, {', '.join(map(str, want)) or ''}] ({what}"
                  f"{'; -1: any size' if -1 in want else ''})", field, list(x.shape), expected)
    if len(x) == 0 or 0 in x.shape[1:]:
        raise bad(f"{field} is {list(x.shape)}: expected at least one sample of at least one value", field,
                  list(x.shape), expected)
    if -1 in want and served.kind == "image":
        axes = served.image_axes
        h, w = (x.shape[2], x.shape[3]) if axes == "CHW" else (x.shape[1], x.shape[2])
        if h * w > settings.max_image_pixels:
            raise too_large(field, "pixels per image", h * w, settings.max_image_pixels, "max_image_pixels")
    return np.ascontiguousarray(x, dtype=np.float32)


def finite(x: np.ndarray, field: str) -> np.ndarray:
    """``x`` as float32, refused when it holds NaN or infinity (also values beyond float32's range)."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.asarray(x, dtype=np.float32)
    if out.size and not np.isfinite(out).all():
        bad_count = int(out.size - np.isfinite(out).sum())
        raise bad(f"{field} holds {bad_count} NaN or infinite value(s) (or beyond float32's range, "
                  f"+-{np.finfo(np.float32).max:.3g}); expected finite numbers", field,
                  f"{bad_count} non-finite values", "finite numbers")
    return out


# ------------------------------------------------------------------------------------------------ bodies
def parse_npy(body: bytes, served: ServedModel, settings: ServeSettings) -> np.ndarray:
    """A ``.npy`` file of numbers: one sample or a batch. The header is checked before any data is read."""
    fmt = np.lib.format
    buf = io.BytesIO(body)
    try:
        version = fmt.read_magic(buf)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(buf)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(buf)
        else:
            raise ValueError(f".npy format version {version[0]}.{version[1]} (this server reads 1.0 and 2.0)")
    except Exception as exc:  # noqa: BLE001 - numpy raises many types for a broken header
        raise bad(f"body is not a .npy array ({type(exc).__name__}: {str(exc)[:200]})", "body",
                  f"{len(body)} bytes", "a .npy file written by numpy.save") from None
    check_values(math.prod(shape), settings, "body")
    if dtype.hasobject or dtype.kind not in "biuf" or dtype.fields is not None:
        raise bad(f"body: .npy array of dtype {dtype}, expected numbers (bool, integer or float)", "body",
                  str(dtype), "a numeric dtype", status=415)
    n, offset = math.prod(shape), buf.tell()
    if len(body) - offset != n * dtype.itemsize:
        raise bad(f"body: the .npy header promises {n * dtype.itemsize} data bytes for shape {shape}, the body "
                  f"holds {len(body) - offset}", "body", len(body) - offset, n * dtype.itemsize)
    arr = np.frombuffer(body, dtype=dtype, count=n, offset=offset).reshape(shape, order="F" if fortran else "C")
    return samples(finite(arr, "body"), served, settings, "body shape", batch=False)


def parse_image(body: bytes, served: ServedModel, settings: ServeSettings) -> tuple[np.ndarray, str | None]:
    """A PNG or JPEG image as one sample ``(1, *sample_shape)`` in raw units, and the conversion note."""
    from PIL import Image

    from aekit.data.files import read_image_file

    axes = served.image_axes
    if served.kind != "image":
        raise bad(f"model {served.name!r} takes {served.kind} samples of shape {_dims(served.sample_shape)}, not "
                  "images; send JSON, .npy or CSV", "Content-Type", "image", "application/json, application/x-npy "
                  "or text/csv", status=415)
    channels = {"HW": 1, "HWC": served.sample_shape[-1], "CHW": served.sample_shape[0]}[axes]
    if channels not in (1, 3):
        raise bad(f"model {served.name!r} takes {channels}-channel images, which PNG / JPEG bodies do not carry "
                  "here; send .npy", "Content-Type", "image", "application/x-npy", status=415)
    try:
        with Image.open(io.BytesIO(body), formats=["PNG", "JPEG"]) as im:
            w, h = im.size
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for broken files
        raise bad(f"body is not a PNG or JPEG image ({type(exc).__name__}: {str(exc)[:200]})", "body",
                  f"{len(body)} bytes", "a PNG or JPEG file") from None
    if w * h > settings.max_image_pixels:
        raise too_large("body", f"image of {w}x{h}: pixels", w * h, settings.max_image_pixels, "max_image_pixels")
    try:
        arr, note = read_image_file(io.BytesIO(body), channels=channels)
    except Exception as exc:  # noqa: BLE001 - a DataError, or what PIL raises on a broken stream
        raise bad(f"body: cannot decode the image ({str(exc)[:200]})", "body", f"{w}x{h} image",
                  "a PNG or JPEG file") from None
    lo, hi = served.value_range or (0.0, 1.0)
    arr = (lo + arr * np.float32(hi - lo)).astype(np.float32)       # (H, W) or (H, W, C), raw units
    if axes == "HWC" and arr.ndim == 2:
        arr = arr[..., None]
    elif axes == "CHW":
        arr = arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)
    want = tuple(served.sample_shape)
    if not all(s in (-1, g) for s, g in zip(want, arr.shape)):
        size = (want[1], want[2]) if axes == "CHW" else (want[0], want[1])
        raise bad(f"body: the image is {w}x{h} pixels (width x height), model {served.name!r} takes "
                  f"{size[1]}x{size[0]} images", "body", [h, w], list(size))
    return samples(arr, served, settings, "body", batch=False), note


def parse_csv(body: bytes, served: ServedModel, settings: ServeSettings) -> np.ndarray:
    """Rows of numbers, one (flattened) sample per row; a first row that is not all numbers is a header, and
    a label column it names (label, y, target, class) is dropped."""
    from aekit.data.files import LABEL_COLUMNS

    want = tuple(served.sample_shape)
    if -1 in want:
        raise bad(f"model {served.name!r} takes images of any size, which CSV rows cannot carry; send a PNG, "
                  "JPEG or .npy", "Content-Type", "text/csv", "image/png, image/jpeg or application/x-npy", status=415)
    width = math.prod(want)
    try:
        reader = csv.reader(io.StringIO(body.decode("utf-8-sig")))
        rows: list[list[float]] = []
        drop: set[int] = set()
        for row in reader:
            line = reader.line_num
            if not any(c.strip() for c in row):
                continue
            if not rows and not drop and not all(_is_number(c) for c in row):   # the header ({-1}: no label)
                drop = {j for j, c in enumerate(row) if c.strip().lower() in LABEL_COLUMNS} or {-1}
                continue
            values = [c for j, c in enumerate(row) if j not in drop]
            if len(values) != width:
                raise bad(f"CSV line {line}: {len(values)} values, expected {width} (one sample of shape "
                          f"{_dims(want)} per row)", f"line {line}", len(values), width)
            check_values((len(rows) + 1) * width, settings, "body")
            try:
                rows.append([float(c) for c in values])
            except ValueError:
                col = next(j for j, c in enumerate(values) if not _is_number(c))
                raise bad(f"CSV line {line}, value {col + 1}: {_short(values[col])!r} is not a number",
                          f"line {line}", _short(values[col]), "a number") from None
    except UnicodeDecodeError as exc:
        raise bad(f"body is not UTF-8 text ({exc.reason} at byte {exc.start})", "body", "bytes",
                  "CSV text (UTF-8)") from None
    except csv.Error as exc:
        raise bad(f"body is not CSV ({str(exc)[:200]})", "body", "text", "CSV rows of numbers") from None
    if not rows:
        raise bad("body: no CSV rows of numbers", "body", "no rows", f"rows of {width} numbers")
    x = finite(np.asarray(rows, dtype=np.float64), "body").reshape(len(rows), *want)
    return samples(x, served, settings, "body", batch=True)


def parse_stream(body: bytes) -> list[bytes]:
    if not body:
        raise bad("body is empty; expected one .aek stream", "body", "0 bytes", "a .aek stream (from compress)")
    return [body]


# ------------------------------------------------------------------------------------------------ helpers
def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _dims(shape) -> str:
    return "(" + ", ".join("any" if d == -1 else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _short(value, limit: int = 80):
    """A JSON-able echo of a received value, cut to ``limit`` characters."""
    if value is None or isinstance(value, bool) or (isinstance(value, int) and abs(value) < 10**15) or (
            isinstance(value, float) and math.isfinite(value)):
        return value
    try:
        text = value if isinstance(value, str) else json.dumps(value, default=str)[:limit + 1]
    except (ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= limit else text[:limit] + "..."
