"""Serving's ONNX Runtime path (aekit/serve/onnx.py): the same outputs as torch within float tolerance, used
only where an operation allows it, never by a copy of the model, and off on request."""
import copy
from pathlib import Path

import numpy as np
import pytest
import torch

import aekit
from aekit.serve import onnx
from aekit.serve.models import served_model

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def served():
    X = np.random.default_rng(0).normal(size=(120, 6)).astype(np.float32)
    reducer = aekit.Reducer(latent_dim=2, epochs=1, random_state=0).fit(X)
    return served_model(reducer, "r", Path("r"))


def test_onnx_outputs_equal_torch_and_only_where_allowed(served, monkeypatch):
    monkeypatch.setattr(onnx, "ROWS_TRIED", (1,))     # a short timing at load: this test checks outputs
    monkeypatch.setattr(onnx, "CALLS", 1)
    chosen = onnx.accelerate(served)
    assert set(chosen) == {k for k, op in served.operations.items() if op.batched}
    model = served.obj.autoencoder_.model
    calls = []
    real = onnx._Session.run
    monkeypatch.setattr(onnx._Session, "run", lambda self, x: calls.append(len(x)) or real(self, x))
    x = onnx._example(served, 5)
    for name, op in served.operations.items():
        if not op.batched:
            continue
        run = getattr(op.run, "__wrapped__", op.run)   # the operation without its row rule
        want = run(x)                          # torch: nothing allows ONNX Runtime here
        assert not calls
        with onnx.allowed(5):
            got = run(x)
        assert got.keys() == want.keys()
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=onnx.RTOL, atol=onnx.ATOL, err_msg=f"{name} {k}")
    assert calls and set(calls) == {5}
    calls.clear()
    with onnx.allowed(4):                      # a larger request than allowed: torch
        getattr(served.operations["reconstruct"].run, "__wrapped__", served.operations["reconstruct"].run)(x)
    twin = copy.deepcopy(model).double()       # a float64 scoring copy computes with torch
    with onnx.allowed(5), torch.no_grad():
        assert twin(torch.from_numpy(x).double()).recon.dtype == torch.float64
    assert not calls


def test_onnx_is_off_on_request(served, monkeypatch):
    monkeypatch.setenv("AEKIT_SERVE_ONNX", "0")
    assert onnx.accelerate(served) == {}
