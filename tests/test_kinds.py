"""Data kinds (aekit/data/kinds.py): shapes, default scalers, and the caller's layout <-> the model's."""
import json
import re

import numpy as np
import pytest

from aekit.data import DataError, Scaler
from aekit.data.kinds import DataKind, Layout, get_kind, infer_layout, kind_of, list_kinds


def test_the_four_kinds():
    assert list_kinds() == ["image", "sequence", "table", "video"]
    assert all(issubclass(get_kind(k), DataKind) and get_kind(k).name == k for k in list_kinds())
    assert [get_kind(k).describe() for k in list_kinds()] == \
           ["images shaped (C, H, W)", "sequences shaped (C, T)", "tables shaped (D,)", "clips shaped (T, C, H, W)"]


@pytest.mark.parametrize("kind", ["image", "sequence", "table", "video"])
def test_example_shapes_are_their_kind(kind):
    assert kind_of(get_kind(kind).example_shape) == kind


@pytest.mark.parametrize("shape, kind", [((20,), "table"), ((2, 16), "sequence"), ((3, 8, 8), "image"),
                                         ([1, 28, 28], "image"), (np.array([4, 100]), "sequence"),
                                         ((4, 1, 8, 8), "video")])
def test_kind_of_model_layout_shapes(shape, kind):
    assert kind_of(shape) == kind


@pytest.mark.parametrize("shape", [(), (1, 2, 3, 4, 5)])
def test_kind_of_a_shape_no_kind_fits(shape):
    with pytest.raises(DataError, match=re.escape(f"sample shape {shape} fits no data kind; expected one of: "
                                                  "images shaped (C, H, W) ('image'); sequences shaped (C, T)")):
        kind_of(shape)


def test_kind_of_needs_ints():
    with pytest.raises(TypeError, match=r"sample shape must be a tuple of ints, got 'ab'"):
        kind_of("ab")


@pytest.mark.parametrize("kind, shape, message", [
    ("sequence", (16,), r"sample shape \(16,\) does not fit kind 'sequence': expected sequences shaped \(C, T\)"),
    ("sequence", (2, 0), r"sample shape \(2, 0\) does not fit kind 'sequence': .* with positive sizes"),
    ("table", (2, 3), r"sample shape \(2, 3\) does not fit kind 'table': expected tables shaped \(D,\)"),
    ("image", (28, 28), r"sample shape \(28, 28\) does not fit kind 'image': expected images shaped \(C, H, W\)"),
])
def test_check_shape_names_the_shape_and_the_layout(kind, shape, message):
    with pytest.raises(DataError, match=message):
        get_kind(kind).check_shape(shape)


def test_check_shape_returns_ints():
    assert get_kind("sequence").check_shape(np.array([3, 50])) == (3, 50)


def test_unknown_kind_lists_the_kinds():
    with pytest.raises(ValueError, match=r"unknown data kind 'graph'; registered data kinds: "
                                         r"\['image', 'sequence', 'table', 'video'\]"):
        get_kind("graph")


@pytest.mark.parametrize("kind, value_range, method, per, expected_range", [
    ("table", None, "minmax", "feature", None),
    ("table", (0, 1), "minmax", "feature", None),
    ("image", (0, 255), "range", "feature", (0.0, 255.0)),
    ("image", None, "minmax", "feature", None),
    ("sequence", None, "minmax", "channel", None),
    ("sequence", (0, 255), "minmax", "channel", None),  # channels may have other units: no shared range
])
def test_default_scalers(kind, value_range, method, per, expected_range):
    s = get_kind(kind).default_scaler(value_range=value_range)
    assert isinstance(s, Scaler) and not s.is_fitted
    assert (s.method, s.per, s.value_range) == (method, per, expected_range)


def test_sequence_default_scaler_scales_each_channel_over_all_time_steps():
    rng = np.random.default_rng(0)
    X = (rng.random((30, 3, 40)) * np.array([1, 100, 1e4])[:, None] - 5).astype(np.float32)  # (N, C, T)
    Z = get_kind("sequence").default_scaler().fit(X).transform(X)
    np.testing.assert_allclose(Z.min(axis=(0, 2)), 0, atol=1e-6)
    np.testing.assert_allclose(Z.max(axis=(0, 2)), 1, atol=1e-6)
    # one offset / scale per channel: every time step of a channel is scaled alike
    np.testing.assert_allclose((Z[:, 1] - Z[:, 1, :1]) * 100, X[:, 1] - X[:, 1, :1], rtol=1e-3, atol=1e-3)


# ------------------------------------------------------------------------ the caller's layout and back
@pytest.mark.parametrize("shape, kind, kind_out, model_shape, add_channel, channels_last", [
    ((5, 20), None, "table", (5, 20), False, False),
    ((5, 8, 8), None, "image", (5, 1, 8, 8), True, False),          # rank 3: grey images unless told
    ((5, 3, 8, 8), None, "image", (5, 3, 8, 8), False, False),
    ((5, 8, 8, 3), None, "image", (5, 3, 8, 8), False, True),
    ((5, 32, 32, 4), "image", "image", (5, 4, 32, 32), False, True),
    ((5, 2, 8, 8), None, "image", (5, 2, 8, 8), False, False),      # axis 1 could be channels: it is
    ((5, 8, 8), "sequence", "sequence", (5, 8, 8), False, False),   # the same array, read as 8 channels
    ((5, 3, 50), "sequence", "sequence", (5, 3, 50), False, False),
    ((5, 50), "sequence", "sequence", (5, 1, 50), True, False),     # one channel
    ((5, 20), "table", "table", (5, 20), False, False),
])
def test_infer_layout_and_back(shape, kind, kind_out, model_shape, add_channel, channels_last):
    X = np.random.default_rng(0).random(shape).astype(np.float32)
    Xm, layout = infer_layout(X, kind)
    assert layout == Layout(kind_out, shape[1:], add_channel, channels_last)
    assert Xm.shape == model_shape and layout.model_shape == model_shape[1:] and Xm.flags.c_contiguous
    assert Xm.dtype == X.dtype and kind_of(layout.model_shape) == kind_out
    np.testing.assert_array_equal(layout.to_user(Xm), X)
    np.testing.assert_array_equal(layout.to_model(X[:2]), Xm[:2])  # later arrays, same conversion
    if channels_last:
        np.testing.assert_array_equal(Xm[:, 0], X[..., 0])


@pytest.mark.parametrize("shape, kind, error, message", [
    ((5,), None, DataError, r"X has shape \(5,\), expected samples \(n_samples, \.\.\.\) of rank >= 2"),
    ((2, 3, 4, 5, 6, 7), None, DataError, r"X has shape \(2, 3, 4, 5, 6, 7\); expected tables .* or pass kind='sequence'"),
    ((5, 2, 2), "table", DataError, r"samples of shape \(2, 2\) do not fit kind 'table': expected tables shaped \(D,\)"),
    ((5, 2, 3, 4), "sequence", DataError, r"samples of shape \(2, 3, 4\) do not fit kind 'sequence': expected "
                                         r"sequences shaped \(C, T\), or \(T,\) with one channel"),
    ((5, 20), "image", DataError, r"samples of shape \(20,\) do not fit kind 'image': expected images shaped "
                                  r"\(C, H, W\), or \(H, W\) with one channel"),
    ((5, 20), "graph", ValueError, r"unknown data kind 'graph'"),
])
def test_infer_layout_errors(shape, kind, error, message):
    with pytest.raises(error, match=message):
        infer_layout(np.zeros(shape, np.float32), kind)


def test_later_arrays_must_have_the_fitted_sample_shape():
    _, layout = infer_layout(np.zeros((4, 8, 8)))
    with pytest.raises(DataError, match=r"X has shape \(4, 9, 9\) with samples of shape \(9, 9\), expected "
                                        r"samples of shape \(8, 8\) \(image\)"):
        layout.to_model(np.zeros((4, 9, 9)))


def test_outputs_with_other_channel_counts():
    _, last = infer_layout(np.zeros((4, 16, 16, 3)))
    assert last.to_user(np.zeros((4, 5, 16, 16))).shape == (4, 16, 16, 5)  # e.g. 5 class maps
    _, grey = infer_layout(np.zeros((4, 16, 16)))
    with pytest.raises(DataError, match=r"Y has shape \(4, 5, 16, 16\) with 5 channels; the caller's samples "
                                        r"\(16, 16\) have no channel axis, so 1 channel was expected"):
        grey.to_user(np.zeros((4, 5, 16, 16)))
    with pytest.raises(DataError, match=r"Y has shape \(4, 256\), expected model-layout outputs of rank 4"):
        grey.to_user(np.zeros((4, 256)))


@pytest.mark.parametrize("shape, kind", [((3, 20), None), ((3, 8, 8, 3), None), ((3, 50), "sequence")])
def test_layout_dict_round_trip(shape, kind):
    _, layout = infer_layout(np.zeros(shape), kind)
    assert Layout.from_dict(json.loads(json.dumps(layout.to_dict()))) == layout


@pytest.mark.parametrize("d, error, message", [
    ([], DataError, r"expected a dict from Layout.to_dict, got \[\]"),
    ({"kind": "graph", "sample_shape": [3]}, ValueError, r"unknown data kind 'graph'"),
    ({"kind": "table", "sample_shape": [3, 4]}, DataError, r"model shape \(3, 4\) does not fit kind 'table'"),
    ({"kind": "image", "sample_shape": [8, 8, 3], "add_channel": True, "channels_last": True}, DataError,
     r"add_channel and channels_last cannot both be true"),
])
def test_layout_from_dict_errors(d, error, message):
    with pytest.raises(error, match=message):
        Layout.from_dict(d)
