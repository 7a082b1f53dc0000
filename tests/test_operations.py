"""Declared operations (aekit.operations): how declarations merge along the class tree, what a bad
declaration or an unfitted object says, and how a bound operation checks its input and shapes its outputs."""
from __future__ import annotations

import numpy as np
import pytest

from aekit.operations import Operation, declared_operations, declared_specs


class _Parent:
    operations = (Operation("double", "samples", ("y",), "twice x", lambda obj, x: 2 * x),
                  Operation("half", "samples", ("y",), "half x", lambda obj, x: x / 2),
                  Operation("draw", "count", ("samples",), "zeros", lambda obj, n, seed=None: np.zeros((n, 3))))


class _Child(_Parent):
    operations = (Operation.dropped("half"),
                  Operation("double", "samples", ("y", "x"), "twice x, and x", lambda obj, x: {"y": 2 * x, "x": x}),
                  Operation("total", "samples", ("total",), "row sums", "row_sums"))

    def row_sums(self, x):
        return x.sum(axis=1)


def _bound(cls):
    """Operations of an object that is not an estimator: its input is read as a TrainedAutoencoder's."""
    obj = cls()
    obj.model = type("M", (), {"input_shape": (3,), "name": "m"})()
    obj.scaler = None
    return declared_operations(obj)


def test_declarations_merge_along_the_class_tree():
    assert list(declared_specs(_Parent)) == ["double", "half", "draw"]
    assert list(declared_specs(_Child)) == ["double", "draw", "total"]      # replaced in place, one dropped, one added
    assert declared_specs(_Child)["double"].outputs == ("y", "x")


def test_a_bound_operation_checks_its_input_and_names_its_outputs():
    ops = _bound(_Child)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    out = ops["double"](x)
    assert list(out) == ["y", "x"] and np.array_equal(out["y"], 2 * x)
    assert np.array_equal(ops["total"](x)["total"], [3, 12])                 # a method named by the declaration
    assert ops["draw"](4, seed=1)["samples"].shape == (4, 3)
    with pytest.raises(ValueError, match=r"operation 'double' takes samples of shape \(n, 3\); got shape \[2, 2\]"):
        ops["double"](x[:, :2])
    with pytest.raises(ValueError, match="NaN or infinite"):
        ops["double"](np.full((1, 3), np.nan))
    with pytest.raises(ValueError, match="number of samples from 1"):
        ops["draw"](0)


@pytest.mark.parametrize("make, match", [
    (lambda: Operation("x", "pixels", ("y",), "", lambda o, x: x), "takes='pixels'"),
    (lambda: Operation("x", "images", ("y",), "", lambda o, x: x, batched=True), "only stateless 'samples'"),
    (lambda: Operation("x", "samples", ("y",), "", lambda o, x: x, batched=True, stateful=True),
     "only stateless 'samples'"),
    (lambda: Operation("x", "samples", (), "", lambda o, x: x), "declares no outputs"),
])
def test_bad_declarations_fail_when_the_class_is_made(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_an_unfitted_estimator_says_so():
    from aekit import Reducer

    with pytest.raises(ValueError, match="not fitted"):
        declared_operations(Reducer())
    assert not declared_specs(Reducer)["encode"].stateful and declared_specs(Reducer)["encode"].batched
