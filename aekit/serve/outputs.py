"""Model outputs to response bodies: KServe V2 JSON (the default), ``.npy``, PNG, CSV, or the raw ``.aek``
stream, chosen by the request's ``Accept`` header on the binary routes.

Non-finite outputs cannot travel as JSON: :class:`NonFiniteOutput` says which output held them.
"""
from __future__ import annotations

import base64
import io
import json

import numpy as np

from aekit.serve.limits import RequestError

JSON, NPY, PNG, CSV, STREAM = "application/json", "application/x-npy", "image/png", "text/csv", \
    "application/octet-stream"
ANSWERS = (JSON, NPY, PNG, CSV, STREAM)
RAW_IMAGES = {"reconstruction", "restored", "samples"}   # outputs in the input's units: drawn with its value range


class NonFiniteOutput(ValueError):
    """An output holds NaN or infinity."""


def datatype(arr: np.ndarray) -> str:
    kind = arr.dtype.kind
    if kind == "b":
        return "BOOL"
    if kind == "O":
        return "BYTES"
    return {"f": "FP", "i": "INT", "u": "UINT"}[kind] + str(8 * arr.dtype.itemsize)


def _data(name: str, arr: np.ndarray) -> list:
    if arr.dtype.kind == "O":
        return [base64.b64encode(bytes(b)).decode("ascii") for b in arr.ravel()]
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise NonFiniteOutput(name)
    return arr.ravel().tolist()


def v2_json(model: str, request_id: str | None, outputs: dict[str, np.ndarray], parameters: dict | None) -> bytes:
    """A V2 inference response: ``{"model_name", "model_version", "id", "outputs": [{"name", "shape", "datatype",
    "data"}]}``; BYTES data are base64 strings."""
    doc = {"model_name": model, "model_version": "1", "id": request_id,
           "outputs": [{"name": k, "shape": list(v.shape), "datatype": datatype(v), "data": _data(k, v)}
                       for k, v in outputs.items()]}
    if parameters:
        doc["parameters"] = parameters
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()


def choose(accept: str | None) -> str:
    """The first answer type of the ``Accept`` header this server writes (JSON for none or ``*/*``)."""
    if not accept:
        return JSON
    for part in accept.split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media in ("*/*", "application/*", ""):
            return JSON
        if media in ANSWERS:
            return media
        if media == "image/*":
            return PNG
    raise RequestError(406, f"Accept {accept[:100]!r}: this server answers {', '.join(ANSWERS)}", field="Accept",
                       received=accept[:100], expected=list(ANSWERS))


def binary(media: str, name: str, arr: np.ndarray, value_range, image_axes: str) -> bytes:
    """One output as a ``.npy`` file, a PNG (one image) or the stream (one stream)."""
    if media == NPY:
        if arr.dtype.kind == "O":
            raise RequestError(406, f"output {name!r} holds byte streams, which .npy cannot hold; ask for "
                               f"{STREAM} (one stream) or JSON", field="Accept", received=media,
                               expected=[STREAM, JSON])
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        return buf.getvalue()
    if media == STREAM:
        if arr.dtype.kind != "O" or len(arr) != 1:
            raise RequestError(406, f"output {name!r} is not one byte stream ({arr.dtype}, shape {list(arr.shape)}); "
                               "ask for JSON or .npy", field="Accept", received=media, expected=[JSON, NPY])
        return bytes(arr[0])
    return png(name, arr, value_range, image_axes)


def png(name: str, arr: np.ndarray, value_range, image_axes: str) -> bytes:
    """The one image of output ``arr`` (``(1, *image)``) as an 8-bit PNG: outputs in the input's units through
    the value range, others (error maps, classes) stretched from their minimum to their maximum."""
    from PIL import Image

    img = arr[0] if len(arr) == 1 else None
    if img is not None and img.ndim == 3 and image_axes == "CHW":
        img = np.moveaxis(img, 0, -1)
    one_image = img is not None and img.dtype.kind in "biuf" and (
        img.ndim == 2 or (img.ndim == 3 and img.shape[-1] in (1, 3)))
    if not one_image:
        raise RequestError(406, f"output {name!r} of shape {list(arr.shape)} is not one image (1, H, W[, 1 or 3]); "
                           f"ask for JSON or .npy", field="Accept", received=PNG, expected=[JSON, NPY])
    img = img.astype(np.float64)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    lo, hi = value_range if (name in RAW_IMAGES and value_range) else (float(img.min()), float(img.max()))
    unit = np.clip((img - lo) / ((hi - lo) or 1.0), 0, 1)
    buf = io.BytesIO()
    Image.fromarray((unit * 255).round().astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def csv_rows(outputs: dict[str, np.ndarray]) -> bytes:
    """Every output flattened per sample, side by side: a header row (``name`` or ``name_i``), then one row per
    sample; BYTES as base64."""
    header, columns = [], []
    for name, arr in outputs.items():
        flat = arr.reshape(len(arr), -1)
        header += [name] if flat.shape[1] == 1 else [f"{name}_{i}" for i in range(flat.shape[1])]
        if arr.dtype.kind == "O":
            columns.append([[base64.b64encode(bytes(b)).decode("ascii")] for b in flat[:, 0]])
        elif arr.dtype.kind == "b":
            columns.append(flat.astype(int).tolist())
        else:
            columns.append(flat.tolist())
    lines = [",".join(header)]
    for parts in zip(*columns):
        lines.append(",".join(str(v) for part in parts for v in part))
    return ("\n".join(lines) + "\n").encode()
