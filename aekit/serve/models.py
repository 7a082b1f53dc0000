"""What a served model folder can do: its declared operations (:mod:`aekit.operations`, read from the object
:func:`aekit.load` returns, never from a list of folder types), wrapped with what serving adds.

An :class:`Operation` maps a request's input to named output arrays whose first axis is the input's rows.
Batched operations (stateless, on fixed-shape samples) can be gathered across concurrent requests into one
call (micro-batching); the others (images of any size, a series, a stateful stream update, ``sample``,
``decompress``) run per request, in order. What an operation takes is one of :data:`TAKES`: samples, images
of any size or one series (arrays), a sample count (``run(n, seed=None)``) or compressed streams (a list of
``bytes``). When an operation's outputs include all of a lighter batched operation's, a request asking only
for those runs the lighter one. Every operation runs under ``torch.no_grad`` in the model's worker thread; a
server runs one call per model at a time, so a stateful operation's state (a stream's history) is kept per
served model.

    served = load_served("runs/digits-detector")
    served.operations["score"].run(x)   # {"anomaly_score": (n,), "is_anomaly": (n,), "error_map": (n, ...)}
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from aekit.operations import TAKES   # what an operation's ``run`` takes (see aekit.operations)


@dataclass
class Operation:
    name: str                                              # "score", "reconstruct", "encode", ...
    run: Callable[..., dict[str, np.ndarray]]              # input -> named outputs, first axis = the input's rows
    doc: str                                               # one line for the metadata route and the OpenAPI spec
    batched: bool = True                                   # rows of concurrent requests may share one call
    needs_input: bool = True                               # False: ``run`` takes the number of samples (sample)
    takes: str = "samples"                                 # one of TAKES ("count" whenever needs_input is False)
    lighter: "Operation | None" = None                     # computes a subset of the outputs for less: used when
                                                           # a request asks only for those
    stateful: bool = False                                 # changes the model's state (a stream): never batched
    output_names: list[str] | None = None                  # default: ``run.outputs``, else [name]

    def __post_init__(self):
        if not self.needs_input:
            self.takes = "count"
        if self.takes not in TAKES:
            raise ValueError(f"operation {self.name!r}: takes={self.takes!r}; expected one of {TAKES}")

    @property
    def outputs(self) -> list[str]:
        """The names of the arrays ``run`` returns, in order (the first is the main one)."""
        return list(_outputs(self))

    def describe(self) -> dict:
        return {"doc": self.doc, "outputs": self.outputs, "batched": self.batched, "takes": self.takes,
                "stateful": self.stateful}


@dataclass
class ServedModel:
    name: str                                   # URL name: the folder's name unless given
    folder: Path
    obj: object                                 # what aekit.load returned: an estimator or a TrainedAutoencoder
    kind: str                                   # "table", "image", "sequence" or "series": what one input sample is
    sample_shape: tuple[int, ...]               # one input sample, as the user sends it (raw units); -1: any size;
                                                # a series: one row (C,)
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
    return op.output_names if op.output_names is not None else getattr(op.run, "outputs", [op.name])


def load_served(folder: str | os.PathLike, name: str | None = None) -> ServedModel:
    """Open ``folder`` (or ``pretrained:NAME``) with :func:`aekit.load` and list what it can do."""
    import aekit
    from aekit.zoo import resolve_model

    folder = Path(resolve_model(folder))   # pretrained:NAME -> its folder (named NAME); others as they are
    return served_model(aekit.load(folder), name or folder.resolve().name, folder)


def served_model(obj, name: str, folder: Path) -> ServedModel:
    """A loaded estimator or TrainedAutoencoder as served: its declared operations, its input, its task."""
    from aekit.operations import declared_operations, input_spec

    trained = getattr(obj, "autoencoder_", obj)
    trained.model.eval()
    bound = declared_operations(obj)
    spec = input_spec(obj)
    task = getattr(type(obj), "purpose", None) or f"autoencoder '{trained.model.name}'"
    served = ServedModel(name, folder, obj, spec.kind, tuple(spec.sample_shape), task,
                         threshold=_threshold(obj), value_range=spec.value_range, image_axes=spec.image_axes)
    served.operations = {k: _served(b) for k, b in bound.items()}
    for op in served.operations.values():    # a lighter operation: batched, same input, a subset of the outputs
        subsets = [o for o in served.operations.values() if o is not op and o.batched and not op.stateful
                   and o.takes == op.takes and set(o.outputs) < set(op.outputs)]
        op.lighter = max(subsets, key=lambda o: len(o.outputs), default=None)
    return served


def _served(bound) -> Operation:
    if bound.takes == "count":
        def run(n, seed=None):
            return bound(n, seed=seed)
    else:
        def run(x):
            return bound(x)
    return Operation(bound.name, run, bound.doc, batched=bound.batched, needs_input=bound.takes != "count",
                     takes=bound.takes, stateful=bound.stateful, output_names=bound.outputs)


def _threshold(obj) -> float | None:
    value = getattr(obj, "threshold_", None)
    return None if value is None else float(value)

