"""What a fitted model can do, declared once per class and read by every surface (Python, ``aekit apply``,
``aekit serve``, the explorer page).

A class lists its operations in a class attribute ``operations`` (a tuple of :class:`Operation`); a subclass
adds to its parents' list, replaces an operation by declaring one of the same name, or hides one with
:meth:`Operation.dropped`. :func:`declared_operations` reads the merged list for an object and binds it::

    class Reducer(...):
        operations = (
            Operation("encode", "samples", ("code",), "the codes", lambda est, x: {"code": est.transform(x)}),
        )

    ops = declared_operations(reducer)      # {"encode": BoundOperation, ...}
    ops["encode"](X)                         # {"code": (n, latent_dim)}

What an operation takes is one of :data:`TAKES`:

* ``"samples"``: a batch ``(n, *sample_shape)`` of fixed-shape samples in the caller's layout and raw units;
  each output's first axis is ``n``. Rows are independent, so a server may gather several requests into one
  call (``batched``).
* ``"images"``: images of any size, a batch ``(n, H, W[, C])`` or a list of ``(H, W[, C])`` arrays; outputs
  have one row per image (stacked when their sizes agree).
* ``"series"``: one time series ``(T,)`` or ``(T, C)`` whose rows are in time order; outputs have one row per
  row of the series. A ``stateful`` operation moves the model's own state on (a stream's next chunk).
* ``"count"``: a number of samples to draw, with an optional ``seed``.
* ``"streams"``: a list of ``.aek`` byte streams.

Every ``run`` returns a dict of named arrays, exactly the declared ``outputs`` (an operation with one output
may return its array alone, and ``run`` may name the method that computes it). A class may also say what it
does in words (``purpose``, shown by the servers). A wrong input raises a ``ValueError`` that names the
operation, what came and what was expected.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

TAKES = ("samples", "images", "series", "count", "streams")
MAX_COUNT = 1_000_000   # samples one count operation may draw


@dataclass(frozen=True)
class Operation:
    """One declared operation (see the module doc).

    ``run(obj, payload, **options) -> {output: array}``, or the name of the object's method that takes the
    payload and returns the one output; ``options`` may be ``seed`` (count operations). A list of results
    (images, byte streams) becomes one array.
    ``when(obj)``, if given, says whether this object offers the operation (an autoencoder samples only when
    its model can). ``run=None`` hides an operation a parent class declares."""

    name: str
    takes: str
    outputs: tuple[str, ...]
    doc: str
    run: Callable | str | None
    batched: bool | None = None          # None: True for stateless "samples" operations, else False
    stateful: bool = False               # changes the object (a stream's state): run in order, never batched
    when: Callable | None = field(default=None, compare=False)

    def __post_init__(self):
        if self.takes not in TAKES:
            raise ValueError(f"operation {self.name!r}: takes={self.takes!r}; expected one of {TAKES}")
        if self.run is not None and not self.outputs:
            raise ValueError(f"operation {self.name!r} declares no outputs")
        batchable = self.takes == "samples" and not self.stateful
        if self.batched is None:
            object.__setattr__(self, "batched", batchable)
        elif self.batched and not batchable:
            raise ValueError(f"operation {self.name!r}: only stateless 'samples' operations can be batched")
        object.__setattr__(self, "outputs", tuple(self.outputs))

    @classmethod
    def dropped(cls, name: str) -> "Operation":
        """A declaration that hides the parent's operation ``name``."""
        return cls(name, "samples", (), "", None)

    def describe(self) -> dict:
        """JSON-able: what the metadata routes and ``aekit apply MODEL`` show."""
        return {"doc": self.doc, "takes": self.takes, "outputs": list(self.outputs), "batched": bool(self.batched),
                "stateful": self.stateful}


class BoundOperation:
    """An :class:`Operation` of one object: call it with the input (checked first) and options."""

    def __init__(self, spec: Operation, obj, input_spec: "InputSpec"):
        self.spec, self.obj, self.input = spec, obj, input_spec

    name = property(lambda self: self.spec.name)
    takes = property(lambda self: self.spec.takes)
    outputs = property(lambda self: list(self.spec.outputs))
    doc = property(lambda self: self.spec.doc)
    batched = property(lambda self: bool(self.spec.batched))
    stateful = property(lambda self: self.spec.stateful)

    def describe(self) -> dict:
        return self.spec.describe()

    def __call__(self, payload, **options) -> dict[str, np.ndarray]:
        payload = check_input(self.spec, self.input, payload, owner=type(self.obj).__name__)
        run = self.spec.run
        out = getattr(self.obj, run)(payload, **options) if isinstance(run, str) else run(self.obj, payload, **options)
        if not isinstance(out, dict) and len(self.spec.outputs) == 1:   # one output: its array alone
            out = {self.spec.outputs[0]: out}
        out = {k: _array(v, f"{self.name} output {k!r}") for k, v in out.items()}
        if set(out) != set(self.spec.outputs):
            raise RuntimeError(f"{type(self.obj).__name__} operation {self.name!r} returned {sorted(out)}, but "
                               f"declares {list(self.spec.outputs)}")
        return {k: out[k] for k in self.spec.outputs}

    def __repr__(self) -> str:
        return f"<operation {self.name!r} of {type(self.obj).__name__}: {self.takes} -> {self.outputs}>"


@dataclass(frozen=True)
class InputSpec:
    """What one input sample of an object is: ``kind`` ("table", "image", "sequence" or "series"),
    ``sample_shape`` in the caller's layout (-1: any size; a series: one row ``(C,)``), the raw value range of
    the training data when known, and for images how the shape reads ("HW", "HWC" or "CHW")."""

    kind: str
    sample_shape: tuple[int, ...]
    value_range: tuple[float, float] | None = None
    image_axes: str = ""


# ------------------------------------------------------------------------------------------ reading the table
def declared_specs(cls) -> dict[str, Operation]:
    """name -> :class:`Operation` a class declares, its parents' first (merged along the MRO)."""
    merged: dict[str, Operation] = {}
    for klass in reversed(cls.__mro__):
        for op in klass.__dict__.get("operations", ()):
            if not isinstance(op, Operation):
                raise TypeError(f"{klass.__name__}.operations holds a {type(op).__name__}; expected Operation "
                                "declarations (aekit.operations.Operation)")
            if op.run is None:
                merged.pop(op.name, None)
            else:
                merged[op.name] = op
    return merged


def declared_operations(obj) -> dict[str, BoundOperation]:
    """name -> the operations ``obj`` (a fitted estimator or a TrainedAutoencoder) offers, bound to it, in
    declaration order (the first is the default)."""
    specs = declared_specs(type(obj))
    if not specs:
        raise TypeError(f"a {type(obj).__name__} declares no operations (a class attribute 'operations')")
    if _is_estimator(obj) and getattr(obj, "autoencoder_", None) is None:
        raise ValueError(f"this {type(obj).__name__} is not fitted yet: call fit first")
    spec = input_spec(obj, specs.values())
    return {name: BoundOperation(op, obj, spec) for name, op in specs.items() if op.when is None or op.when(obj)}


def input_spec(obj, specs=None) -> InputSpec:
    """What one input sample of ``obj`` is, read from its public fitted attributes and what its operations
    take: images of any size (``n_channels_``, ``value_range_``), a series (``n_channels_``), else the
    fixed-shape samples it was fitted on (``layout_``, ``sample_shape_``, its autoencoder's scaler)."""
    specs = list(specs if specs is not None else declared_specs(type(obj)).values())
    takes = {op.takes for op in specs}
    if not _is_estimator(obj):                                 # a TrainedAutoencoder: the model's own layout
        shape = tuple(obj.model.input_shape)
        kind = {1: "table", 2: "sequence"}.get(len(shape), "image")
        return InputSpec(kind, shape, scaler_range(obj.scaler), "CHW" if kind == "image" else "")
    if "images" in takes:
        c = int(obj.n_channels_)
        shape = (-1, -1) if c == 1 else (-1, -1, c)
        return InputSpec("image", shape, tuple(float(v) for v in obj.value_range_), "HW" if c == 1 else "HWC")
    if "series" in takes:
        return InputSpec("series", (int(obj.n_channels_),), None, "")
    layout = obj.layout_
    axes = "" if layout.kind != "image" else ("HW" if layout.add_channel else
                                              "HWC" if layout.channels_last else "CHW")
    return InputSpec(layout.kind, tuple(obj.sample_shape_), scaler_range(obj.autoencoder_.scaler), axes)


def _is_estimator(obj) -> bool:
    return hasattr(obj, "get_params")          # scikit-learn estimators; a TrainedAutoencoder has none


def scaler_range(scaler) -> tuple[float, float] | None:
    """The raw range a "range" scaler maps to [0, 1] (images); None for per-feature scalers."""
    if scaler is None or getattr(scaler, "method", None) != "range" or scaler.offset_ is None:
        return None
    lo, scale = float(np.asarray(scaler.offset_).ravel()[0]), float(np.asarray(scaler.scale_).ravel()[0])
    return lo, lo + scale


# ------------------------------------------------------------------------------------------ checking inputs
def check_input(op: Operation, spec: InputSpec, payload, *, owner: str = "the model"):
    """``payload`` checked for what ``op`` takes; a ValueError naming the operation, what came and what was
    expected."""
    where = f"{owner} operation {op.name!r}"
    if op.takes == "count":
        if isinstance(payload, (bool, np.bool_)) or not isinstance(payload, (int, np.integer)) \
                or not 1 <= payload <= MAX_COUNT:
            raise ValueError(f"{where} takes a number of samples from 1 to {MAX_COUNT}; got {payload!r}")
        return int(payload)
    if op.takes == "streams":
        if isinstance(payload, (bytes, bytearray, memoryview, str)) or not hasattr(payload, "__len__") \
                or not len(payload) or not all(isinstance(s, (bytes, bytearray, memoryview)) for s in payload):
            raise ValueError(f"{where} takes a non-empty list of .aek byte streams; got "
                             f"{type(payload).__name__}")
        return [bytes(s) for s in payload]
    if op.takes == "images" and isinstance(payload, (list, tuple)):
        if not payload:
            raise ValueError(f"{where} takes at least one image; got an empty list")
        return [_image(np.asarray(a), spec, where, f"image {i}") for i, a in enumerate(payload)]
    x = _numbers(payload, where)
    if op.takes == "images":
        if x.ndim == len(spec.sample_shape):
            raise ValueError(f"{where} takes a batch of images (n, {_dims(spec.sample_shape)[1:-1]}) or a list of "
                             f"images; got one array of shape {list(x.shape)}: add the batch axis (x[None])")
        return [_image(a, spec, where, f"image {i}") for i, a in enumerate(x)] if x.ndim != len(
            spec.sample_shape) + 1 else _image_batch(x, spec, where)
    if op.takes == "series":
        if x.ndim == 1 and spec.sample_shape == (1,):
            x = x[:, None]
        want = spec.sample_shape[0]
        if x.ndim != 2 or x.shape[1] != want or len(x) == 0:
            raise ValueError(f"{where} takes a series (T, {want}) (rows are timestamps, {want} channel(s)); got "
                             f"shape {list(x.shape)}")
        return x
    shape = tuple(spec.sample_shape)
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape or len(x) == 0:
        raise ValueError(f"{where} takes samples of shape (n, {', '.join(map(str, shape))}); got shape "
                         f"{list(x.shape)}")
    return x


def _numbers(payload, where: str) -> np.ndarray:
    """``payload`` as float32 numbers (float64 stays float64: a series' scores are computed in it)."""
    try:
        x = np.asarray(payload)
        x = x.astype(np.float64 if x.dtype == np.float64 else np.float32, copy=False)
    except (TypeError, ValueError):
        raise ValueError(f"{where} takes an array of numbers; got {type(payload).__name__} that is not one "
                         "(ragged lists or values that are not numbers)") from None
    if x.size and not np.isfinite(x).all():
        raise ValueError(f"{where}: the input holds {int(x.size - np.isfinite(x).sum())} NaN or infinite "
                         "value(s); expected finite numbers")
    return x


def _image(a: np.ndarray, spec: InputSpec, where: str, what: str) -> np.ndarray:
    a = _numbers(a, where)
    want = spec.sample_shape
    if a.ndim != len(want) or any(w not in (-1, g) for w, g in zip(want, a.shape)) or 0 in a.shape:
        raise ValueError(f"{where}: {what} has shape {list(a.shape)}; expected an image {_dims(want)}")
    return a


def _image_batch(x: np.ndarray, spec: InputSpec, where: str) -> np.ndarray:
    want = spec.sample_shape
    if any(w not in (-1, g) for w, g in zip(want, x.shape[1:])) or 0 in x.shape:
        raise ValueError(f"{where}: images of shape {list(x.shape[1:])}; expected images {_dims(want)}")
    return x


def _dims(shape) -> str:
    names = {2: ("H", "W"), 3: ("H", "W", "C")}.get(len(shape), ())
    return "(" + ", ".join(str(d) if d != -1 else (names[i] if names else "any") for i, d in enumerate(shape)) + ")"


# ------------------------------------------------------------------------------------------ helpers for runs
def stack(items, what: str = "outputs") -> np.ndarray:
    """One array of per-item results (their sizes must agree: an array's rows have one shape)."""
    items = [np.asarray(i) for i in items]
    shapes = {i.shape for i in items}
    if len(shapes) > 1:
        raise ValueError(f"the {what} have different sizes {sorted(shapes)}; ask for them one at a time (or "
                         "give images of one size)")
    return np.stack(items)


def _array(value, what: str) -> np.ndarray:
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, (bytes, bytearray)) for v in value):
            return object_array(value)
        return stack(value, what)
    return np.asarray(value)


def object_array(items) -> np.ndarray:
    """A 1-D object array of ``items`` (byte streams)."""
    out = np.empty(len(items), dtype=object)
    out[:] = list(items)
    return out


def codes(est, x: np.ndarray) -> np.ndarray:
    """Codes ``(n, *code_shape)`` of a fitted estimator's autoencoder for samples in the caller's layout."""
    return est.autoencoder_.encode(est.layout_.to_model(np.asarray(x, dtype=np.float32)))


def verdict(est, x, scores=None) -> dict[str, np.ndarray]:
    """An anomaly detector's scores of ``x`` (or the ``scores`` given) and its verdict, score > threshold."""
    s = np.asarray(est.anomaly_score(x) if scores is None else scores)
    return {"anomaly_score": s, "is_anomaly": s > est.threshold_}


def pca_map(reference: np.ndarray, x: np.ndarray) -> np.ndarray:
    """2-D positions ``(n, 2)`` of codes ``x`` on the map of the ``reference`` codes (their first two principal
    axes, so a sample lands where its training neighbours are, whatever the batch)."""
    ref = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
    z = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if ref.shape[1] <= 2:
        return np.pad(z, ((0, 0), (0, 2 - z.shape[1])))
    mean = ref.mean(axis=0)
    axes = np.linalg.svd(ref - mean, full_matrices=False)[2][:2]
    axes *= np.where(axes[np.arange(2), np.abs(axes).argmax(axis=1)] < 0, -1.0, 1.0)[:, None]   # signs fixed
    return (z - mean) @ axes.T


def sample_autoencoder(trained, n: int, seed: int | None = None) -> np.ndarray:
    """``n`` samples (raw units) from the prior of a TrainedAutoencoder whose model can sample."""
    import torch

    with torch.no_grad():
        gen = torch.Generator().manual_seed(0 if seed is None else int(seed))
        z = trained.model.sample(n, generator=gen).float().cpu().numpy()
    return trained.scaler.inverse_transform(z) if trained.scaler is not None else z


__all__ = ["BoundOperation", "InputSpec", "Operation", "TAKES", "check_input", "declared_operations",
           "declared_specs", "input_spec"]
