"""What a served model folder can do: named operations on batches, found from the object :func:`aekit.load`
returns, never from a list of folder types.

An :class:`Operation` maps a batch of samples ``(n, *sample_shape)`` (raw units, as the user sends them) to
named output arrays whose first axis is the same ``n``. Batched operations can be gathered across concurrent
requests into one call (micro-batching); the others (``restore`` of images of any size, ``sample``,
``decompress``) run per request. What an operation takes is one of :data:`TAKES`: samples, a sample count
(``run(n, seed=None)``) or compressed streams (a list of ``bytes``). Every operation runs under
``torch.no_grad`` in the caller's thread; a server runs one call per model at a time.

    served = load_served("runs/digits-detector")
    served.operations["score"].run(x)   # {"anomaly_score": (n,), "is_anomaly": (n,), "error_map": (n, ...)}
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

TAKES = ("samples", "count", "streams")   # what an operation's ``run`` takes (see the module doc)


@dataclass
class Operation:
    name: str                                              # "score", "reconstruct", "encode", ...
    run: Callable[..., dict[str, np.ndarray]]              # batch -> named outputs, first axis = batch
    doc: str                                               # one line for the metadata route and the OpenAPI spec
    batched: bool = True                                   # rows of concurrent requests may share one call
    needs_input: bool = True                               # False: ``run`` takes the number of samples (sample)
    takes: str = "samples"                                 # one of TAKES ("count" whenever needs_input is False)
    lighter: "Operation | None" = None                     # computes a subset of the outputs for less: used when
                                                           # a request asks only for those

    def __post_init__(self):
        if not self.needs_input:
            self.takes = "count"

    @property
    def outputs(self) -> list[str]:
        """The names of the arrays ``run`` returns, in order (the first is the main one)."""
        return list(_outputs(self))

    def describe(self) -> dict:
        return {"doc": self.doc, "outputs": self.outputs, "batched": self.batched, "takes": self.takes}


@dataclass
class ServedModel:
    name: str                                   # URL name: the folder's name unless given
    folder: Path
    obj: object                                 # what aekit.load returned: an estimator or a TrainedAutoencoder
    kind: str                                   # "table", "image" or "sequence": what one input sample is
    sample_shape: tuple[int, ...]               # one input sample, as the user sends it (raw units); -1: any size
    task: str                                   # what the model does, in words (metadata)
    operations: dict[str, Operation] = field(default_factory=dict)
    threshold: float | None = None              # anomaly detectors: the verdict's threshold
    value_range: tuple[float, float] | None = None   # raw range of the training data when known (images: pixels)
    image_axes: str = ""                        # images: how sample_shape reads, "HW", "HWC" or "CHW"

    def metadata(self) -> dict:
        """KServe V2 model metadata plus what the explorer needs."""
        inputs = [{"name": "input", "datatype": "FP32", "shape": [-1, *self.sample_shape]}]
        return {"name": self.name, "versions": ["1"], "platform": "aekit", "inputs": inputs,
                "outputs": sorted({o for op in self.operations.values() for o in _outputs(op)}),
                "operations": {k: op.doc for k, op in self.operations.items()},
                "operation_details": {k: op.describe() for k, op in self.operations.items()},
                "kind": self.kind, "task": self.task, "threshold": self.threshold,
                "value_range": list(self.value_range) if self.value_range else None,
                "image_axes": self.image_axes or None}


def _outputs(op: Operation) -> list[str]:
    return getattr(op.run, "outputs", [op.name])


def _named(outputs: list[str]):
    """Decorator: record the output names of an operation's function (for the metadata route)."""
    def wrap(fn):
        fn.outputs = outputs
        return fn
    return wrap


def _op(name: str, outputs: list[str], fn, doc: str, **kw) -> Operation:
    return Operation(name, _named(outputs)(fn), doc, **kw)


def load_served(folder: str | os.PathLike, name: str | None = None) -> ServedModel:
    """Open ``folder`` with :func:`aekit.load` and list what it can do."""
    import aekit
    from aekit.estimators import Estimator

    folder = Path(folder)
    obj = aekit.load(folder)
    name = name or folder.resolve().name
    if isinstance(obj, Estimator):
        obj.autoencoder_.model.eval()
        served = _estimator(obj, name, folder)
    else:                                      # a TrainedAutoencoder from aekit train / save_model
        obj.model.eval()
        served = _autoencoder(obj, name, folder)
    if served.kind == "image" and not served.image_axes:
        served.image_axes = _axes(served.sample_shape)
    return served


def _autoencoder(obj, name: str, folder: Path) -> ServedModel:
    shape = tuple(obj.model.input_shape)
    kind = {1: "table", 2: "sequence"}.get(len(shape), "image")
    served = ServedModel(name, folder, obj, kind, shape, f"autoencoder '{obj.model.name}'",
                         value_range=_scaler_range(obj.scaler), image_axes="CHW" if kind == "image" else "")
    served.operations = {
        "encode": _op("encode", ["code"], lambda x: {"code": obj.encode(x)}, "the codes"),
        "reconstruct": _op("reconstruct", ["reconstruction"], lambda x: {"reconstruction": obj.reconstruct(x)},
                           "reconstructions, raw units"),
    }
    if callable(getattr(obj.model, "sample", None)):
        served.operations["sample"] = _op("sample", ["samples"], lambda n, seed=None: {
            "samples": _sample_model(obj, int(n), seed)}, "samples from the prior", batched=False, needs_input=False)
    return served


def _estimator(obj, name: str, folder: Path) -> ServedModel:
    from aekit.estimators import (AnomalyDetector, Compressor, EncoderClassifier, Generator, Reducer, Restorer,
                                  Segmenter)

    if isinstance(obj, (Restorer, Segmenter)):   # images of any size
        c = int(obj.n_channels_)
        shape = (-1, -1) if c == 1 else (-1, -1, c)
        served = ServedModel(name, folder, obj, "image", shape, type(obj).__name__,
                             value_range=tuple(float(v) for v in obj.value_range_), image_axes=_axes(shape))
    else:
        layout = obj.layout_
        axes = "" if layout.kind != "image" else ("HW" if layout.add_channel else
                                                  "HWC" if layout.channels_last else "CHW")
        served = ServedModel(name, folder, obj, layout.kind, tuple(obj.sample_shape_), type(obj).__name__,
                             value_range=_scaler_range(obj.autoencoder_.scaler), image_axes=axes)
    ops: dict[str, Operation] = {}
    if isinstance(obj, AnomalyDetector):
        served.task, served.threshold = "anomaly detection", float(obj.threshold_)

        def detect(x):
            s = obj.anomaly_score(x)
            return {"anomaly_score": s, "is_anomaly": s > obj.threshold_}

        def score(x):
            return {**detect(x), "error_map": obj.error_map(x)}

        ops["detect"] = _op("detect", ["anomaly_score", "is_anomaly"], detect,
                            "anomaly score and verdict (is_anomaly: score > threshold)")
        ops["score"] = _op("score", ["anomaly_score", "is_anomaly", "error_map"], score,
                           "anomaly score, verdict (score > threshold) and per-feature or per-pixel squared error; "
                           "asking only for anomaly_score / is_anomaly skips the error map")
        ops["score"].lighter = ops["detect"]
        ops["reconstruct"] = _op("reconstruct", ["reconstruction"], lambda x: {"reconstruction": obj.reconstruct(x)},
                                 "reconstructions by the first member, raw units")
        ops["encode"] = _op("encode", ["code"], lambda x: {"code": _codes(obj, x)}, "codes of the first member")
    elif isinstance(obj, Restorer):
        served.task = f"restoration: {obj.task}"
        ops["restore"] = _op("restore", ["restored"], lambda x: {"restored": np.stack([obj.restore(i) for i in x])},
                             f"{obj.task} (images of any size)", batched=False)
    elif isinstance(obj, Segmenter):
        served.task = "segmentation"
        ops["segment"] = _op("segment", ["classes"], lambda x: {"classes": np.stack(obj.predict(list(x)))},
                             "class of every pixel", batched=False)
    elif isinstance(obj, Compressor):
        served.task = "compression"
        ops["compress"] = _op("compress", ["stream"], lambda x: {"stream": _object_array(obj.compress(x))},
                              "one .aek stream per sample")
        ops["decompress"] = _op("decompress", ["reconstruction"], lambda s: {"reconstruction": obj.decompress(s)},
                                "samples decoded from .aek streams, raw units", batched=False, takes="streams")
        ops["reconstruct"] = _op("reconstruct", ["reconstruction"], lambda x: {"reconstruction": obj.reconstruct(x)},
                                 "decoded reconstructions, raw units")
        ops["encode"] = _op("encode", ["code"], lambda x: {"code": obj.transform(x)}, "the quantised codes")
    elif isinstance(obj, Generator):
        served.task = "generation"
        ops["sample"] = _op("sample", ["samples"], lambda n, seed=None: {"samples": obj.sample(
            int(n), random_state=seed)}, "new samples", batched=False, needs_input=False)
        ops["encode"] = _op("encode", ["code"], lambda x: {"code": _codes(obj, x)}, "the codes")
    elif isinstance(obj, EncoderClassifier):
        served.task = "classification"
        ops["predict"] = _op("predict", ["label", "probabilities"], lambda x: {
            "label": obj.predict(x), "probabilities": obj.predict_proba(x)}, "class and probabilities")
    if isinstance(obj, Reducer):
        served.task = "dimensionality reduction"
        ops["encode"] = _op("encode", ["code"], lambda x: {"code": obj.transform(x)}, "the codes")
        ops["reconstruct"] = _op("reconstruct", ["reconstruction"], lambda x: {"reconstruction": obj.reconstruct(x)},
                                 "reconstructions, raw units")
    served.operations = ops
    return served


def _axes(shape: tuple[int, ...]) -> str:
    """How an image sample shape reads: (H, W) grey, (H, W, C) with C in 1, 3, 4, else (C, H, W)."""
    if len(shape) == 2:
        return "HW"
    if shape[0] == -1 or (shape[-1] in (1, 3, 4) and shape[0] not in (1, 3, 4)):
        return "HWC"
    return "CHW"


def _scaler_range(scaler) -> tuple[float, float] | None:
    """The raw range a "range" scaler maps to [0, 1] (images); None for per-feature scalers."""
    if scaler is None or getattr(scaler, "method", None) != "range" or scaler.offset_ is None:
        return None
    lo, scale = float(np.asarray(scaler.offset_).ravel()[0]), float(np.asarray(scaler.scale_).ravel()[0])
    return lo, lo + scale


def _codes(est, x: np.ndarray) -> np.ndarray:
    """Codes (n, *code_shape) of the estimator's autoencoder for samples in the caller's layout."""
    return est.autoencoder_.encode(est.layout_.to_model(np.asarray(x, dtype=np.float32)))


def _object_array(items: list) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def _sample_model(trained, n: int, seed: int | None = None) -> np.ndarray:
    import torch

    with torch.no_grad():
        gen = torch.Generator().manual_seed(0 if seed is None else int(seed))
        z = trained.model.sample(n, generator=gen).float().cpu().numpy()
    return trained.scaler.inverse_transform(z) if trained.scaler is not None else z
