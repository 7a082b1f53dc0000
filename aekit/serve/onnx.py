"""ONNX Runtime for small requests, chosen per served model and operation by timing both runtimes at load.

For one row, torch's eager dispatch costs more than the arithmetic of a small autoencoder; ONNX Runtime runs
the same graph for less (``benchmarks/speed.py`` measured the ``mlp`` at batch 1 three times faster). At load
(:func:`accelerate`, what ``aekit serve`` calls), every float32 autoencoder an object computes with is exported
(:func:`aekit.export_onnx`'s graph: input -> reconstruction, code, pre-activation output), and every batched
operation is timed on one row, and on :data:`ROWS_TRIED` rows, with each runtime in turn. An operation keeps
ONNX Runtime for requests of up to the largest row count where it was faster *and* its outputs equal torch's
within :data:`RTOL` / :data:`ATOL`; for other operations, larger requests and anything else (training,
gradients, float64 scoring copies, a model in train mode) the model computes with torch as before.
``AEKIT_SERVE_ONNX=0`` turns it off; without ``onnxruntime`` (the ``onnx`` extra) nothing changes.
"""
from __future__ import annotations

import contextlib
import functools
import io
import os
import statistics
import threading
import time
import warnings

import numpy as np
import torch

ROWS_TRIED = (1, 8, 64)      # request sizes timed at load (rows)
RTOL, ATOL = 1e-4, 1e-5      # ONNX Runtime's outputs must equal torch's to this (float32 kernels differ)
CALLS = 15                   # timed calls per runtime and size (medians)
_on = threading.local()      # rows up to which the operation running in this thread may use ONNX Runtime


class _Session:
    """One model's ONNX Runtime session. A copy of the model (``copy.deepcopy``: a float64 scoring copy) gets
    None, so it computes with torch."""

    def __init__(self, session):
        self.session = session

    def __deepcopy__(self, memo):
        return None

    def run(self, x: torch.Tensor):
        recon, code, pre = self.session.run(None, {"input": x.numpy()})
        return torch.from_numpy(recon), torch.from_numpy(code), torch.from_numpy(pre)


_CLASSES: dict[type, type] = {}


def _accelerated(cls: type) -> type:
    """``cls`` with a forward that runs the model's session when the calling operation allows it."""
    if cls not in _CLASSES:
        from aekit.models.base import ModelOutput

        def forward(self, x, *args, **kwargs):
            session = self.__dict__.get("_aekit_onnx")
            if (session is not None and not args and not kwargs and not self.training
                    and len(x) <= getattr(_on, "rows", 0) and x.dtype == torch.float32 and x.device.type == "cpu"
                    and not torch.is_grad_enabled()):
                recon, code, pre = session.run(x.contiguous())
                return ModelOutput(recon, code, pre, {}, {})
            return super(accelerated, self).forward(x, *args, **kwargs)

        accelerated = type(cls.__name__, (cls,), {"forward": forward, "__module__": cls.__module__,
                                                  "__qualname__": cls.__qualname__})
        _CLASSES[cls] = accelerated
    return _CLASSES[cls]


@contextlib.contextmanager
def allowed(rows: int):
    """Models called in this thread inside the block may use their session for inputs of up to ``rows`` rows."""
    before = getattr(_on, "rows", 0)
    _on.rows = rows
    try:
        yield
    finally:
        _on.rows = before


def _models(obj) -> list[torch.nn.Module]:
    """The float32 autoencoders ``obj`` computes with: its model and an ensemble's other members."""
    trained = getattr(obj, "autoencoder_", obj)
    found = [getattr(trained, "model", None), *(getattr(obj, "extra_members_", None) or [])]
    return [m for m in found if isinstance(m, torch.nn.Module) and hasattr(m, "input_shape")
            and all(p.dtype == torch.float32 and p.device.type == "cpu" for p in m.parameters())]


def _session(model: torch.nn.Module):
    """An ONNX Runtime session of ``model`` (input -> reconstruction, code, pre-activation output), or None when
    it does not export."""
    import onnxruntime as ort

    from aekit.models.base import ModelOutput

    class Outputs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            out: ModelOutput = self.model(x)
            return out.recon, out.code, out.pre_output

    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            # the TorchScript exporter: 0.7 s for the mlp where torch.export's took 45 s on a loaded machine
            torch.onnx.export(Outputs().eval(), (torch.zeros(2, *model.input_shape),), buffer, dynamo=False,
                              input_names=["input"], output_names=["reconstruction", "code", "pre_output"],
                              dynamic_axes={k: {0: "batch"} for k in ("input", "reconstruction", "code", "pre_output")},
                              opset_version=17)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        return ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 - an operator the exporter or the runtime lacks: torch serves it
        return None


def _example(served, rows: int) -> np.ndarray:
    """``rows`` inputs of the served model's shape, in its raw range when known (else standard normal)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, *served.sample_shape)).astype(np.float32)
    if served.value_range is not None:
        low, high = served.value_range
        x = (low + (high - low) * rng.random(x.shape)).astype(np.float32)
    return x


def _median_seconds(fn, calls: int = CALLS) -> float:
    fn()
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        np.asarray(a[k]).shape == np.asarray(b[k]).shape and
        np.allclose(np.asarray(a[k], dtype=np.float64), np.asarray(b[k], dtype=np.float64), rtol=RTOL, atol=ATOL,
                    equal_nan=True) for k in a)


def choose(op, served) -> int:
    """The largest of :data:`ROWS_TRIED` up to which ``op`` runs faster with ONNX Runtime and gives torch's
    outputs (0: torch for every request). Both runtimes are timed in turn on the same inputs."""
    rows = 0
    for n in ROWS_TRIED:
        x = _example(served, n)
        want = op.run(x)
        with allowed(n):
            got = op.run(x)
        if not _same(want, got):
            return rows
        torch_s = _median_seconds(lambda x=x: op.run(x))
        with allowed(n):
            onnx_s = _median_seconds(lambda x=x: op.run(x))
        if onnx_s >= 0.9 * torch_s:              # not clearly faster at this size: torch from here on
            return rows
        rows = n
    return rows


def accelerate(served) -> dict[str, int]:
    """Give ``served``'s models an ONNX Runtime session and each batched operation its rule (see the module
    doc); returns {operation: rows up to which it uses ONNX Runtime} (empty when off or unavailable)."""
    if os.environ.get("AEKIT_SERVE_ONNX", "1") == "0":
        return {}
    try:
        import onnxruntime  # noqa: F401 - the optional ``onnx`` extra
    except ImportError:
        return {}
    models = [(m, _session(m)) for m in _models(served.obj)]
    models = [(m, s) for m, s in models if s is not None]
    if not models:
        return {}
    for model, session in models:
        model.__class__ = _accelerated(type(model))
        model._aekit_onnx = _Session(session)
    chosen = {}
    with torch.no_grad():
        for name, op in served.operations.items():
            if op.batched and op.takes == "samples":
                try:
                    chosen[name] = choose(op, served)
                except Exception:  # noqa: BLE001 - an input the operation refuses: torch as before
                    chosen[name] = 0
    for name, rows in chosen.items():
        if rows:
            served.operations[name].run = _with_rule(served.operations[name].run, rows)
    served.onnx_rows = chosen
    return chosen


def _with_rule(run, rows: int):
    @functools.wraps(run)   # keeps what the operation's run declares (its ``outputs``) and ``__wrapped__``
    def onnx_run(x, *args, **kwargs):
        with allowed(rows):
            return run(x, *args, **kwargs)
    return onnx_run
