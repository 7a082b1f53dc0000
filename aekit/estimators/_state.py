"""Fitted state declared once: which attributes a fitted estimator keeps, and how each is saved.

An estimator class lists its fitted attributes in ``_fitted``, a dict ``{attribute: codec}`` that a subclass
extends (``{**Parent._fitted, "classes_": ARRAY}``, like ``_constraints``). The base class saves them
(:func:`dump_state`: JSON values under ``metadata.estimator.state`` in ``config.json``, tensors beside the
weights in ``model.safetensors``) and sets them back on load (:func:`load_state`), so no estimator writes its
saved state by hand. A codec says how one value is written and read back, whether it may be absent
(:func:`optional`: set on some paths only), and what an older folder that lacks it stands for
(``missing``). Attributes that follow from others (a task object rebuilt from its name, ...) are not saved:
the estimator rebuilds them in ``_restore_derived`` after loading.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np
import torch

from aekit.data import Layout


@dataclass(frozen=True)
class Codec:
    """How one fitted attribute is saved (``dump``) and read back (``load``).

    ``tensor``: saved in the weights file (a tensor), not in config.json. ``optional``: the attribute may be
    unset (it is then not saved, and not set on load). ``missing``: ``fn(estimator) -> value`` for folders of
    older versions that did not save it (called after the attributes declared before it are set). ``key``: the
    name it is saved under when that is not the attribute's (a format kept from before the declaration)."""

    dump: Callable[[Any], Any]
    load: Callable[[Any], Any]
    tensor: bool = False
    optional: bool = False
    missing: Callable[[Any], Any] | None = None
    key: str | None = None


def optional(codec: Codec) -> Codec:
    """``codec`` for an attribute that is set on some paths only (e.g. ``n_features_in_`` for array inputs)."""
    return replace(codec, optional=True)


def or_else(codec: Codec, missing: Callable[[Any], Any]) -> Codec:
    """``codec``, and the value ``missing(estimator)`` stands for in older folders that did not save it."""
    return replace(codec, missing=missing)


def saved_as(codec: Codec, key: str) -> Codec:
    """``codec`` for an attribute saved under the name ``key`` (folders written before it was declared)."""
    return replace(codec, key=key)


def jsonable(obj):
    """``obj`` as plain JSON types (numpy values and arrays become numbers and lists)."""
    return json.loads(json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


JSON = Codec(jsonable, lambda v: v)                                          # histories, dicts of statistics
INT = Codec(int, int)
FLOAT = Codec(float, float)
BOOL = Codec(bool, bool)
TUPLE = Codec(list, tuple)                                                   # a sample shape
LIST = Codec(list, list)                                                     # a list of names or specs
RANGE = Codec(lambda v: [float(x) for x in v], lambda v: tuple(float(x) for x in v))   # (low, high)
ARRAY = Codec(lambda a: np.asarray(a).tolist(), np.asarray)                  # small arrays: class labels
LAYOUT = Codec(lambda layout: layout.to_dict(), Layout.from_dict)
TENSOR = Codec(lambda a: torch.as_tensor(np.asarray(a)), lambda t: t.numpy(), tensor=True)   # large arrays


def dump_state(est, fitted: dict[str, Codec], *, tensors: bool = False) -> dict:
    """The JSON values (``tensors=False``) or the tensors of the declared attributes of ``est``."""
    out = {}
    for name, codec in fitted.items():
        if codec.tensor != tensors or (codec.optional and not hasattr(est, name)):
            continue
        out[codec.key or name] = codec.dump(getattr(est, name))
    return out


def load_state(est, fitted: dict[str, Codec], values: dict, *, tensors: bool = False) -> None:
    """Set the declared attributes of ``est`` from saved ``values`` (a KeyError names a missing required one)."""
    for name, codec in fitted.items():
        if codec.tensor != tensors:
            continue
        key = codec.key or name
        if key in values:
            setattr(est, name, codec.load(values[key]))
        elif codec.missing is not None:
            setattr(est, name, codec.missing(est))
        elif not codec.optional:
            raise KeyError(f"the saved state has no {key!r}")
