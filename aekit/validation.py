"""Declarative parameter checks, in one place (scikit-learn's ``_parameter_constraints`` idea, small).

A class or function declares what each parameter may be, as a dict of constraint objects (estimators and
models in a ``_constraints`` class attribute: scikit-learn's own checks read ``_parameter_constraints`` as
lists of its private constraint classes, so aekit keeps its own name), and one call checks the values::

    _constraints = {"epochs": Integer(1), "lr": Real(0, closed="neither"),
                    "optimizer": Options("adam", "adamw"), "max_time": NoneOr(Real(0, closed="neither"))}
    check_params("Reducer", {"epochs": 0, ...}, _constraints)
    # InvalidParameterError: Reducer: epochs=0 must be a positive integer

Every constraint has a human ``description`` ("a number in [0, 1)", "one of ('adam', 'adamw')") and
``accepts(value)``; the error names the owner, the parameter, the bad value and the description.
``bool`` is never taken for a number (``True`` is not an epoch count), and NaN passes no bound.
The foundation layer: imports numpy and the standard library only.
"""
from __future__ import annotations

import math
import numbers
import reprlib
from collections.abc import Mapping

import numpy as np

__all__ = ["Constraint", "Integer", "Real", "Options", "Boolean", "Instance", "ListOf", "Either", "NoneOr",
           "RANDOM_STATE", "InvalidParameterError", "check_params"]

_CLOSED = ("both", "left", "right", "neither")
_repr = reprlib.Repr()
_repr.maxstring, _repr.maxother, _repr.maxlist, _repr.maxtuple = 60, 60, 8, 8


class InvalidParameterError(ValueError, TypeError):
    """A parameter outside its declared constraint. Both a ``ValueError`` and a ``TypeError`` (as
    scikit-learn's ``InvalidParameterError``), so callers that catch either kind of bad argument catch it."""


class Constraint:
    """What one parameter may be: ``accepts(value)`` and a human ``description``."""

    @property
    def description(self) -> str:
        return "a valid value"

    def accepts(self, value) -> bool:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.description}>"


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _article(noun: str) -> str:
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


class _Range(Constraint):
    noun = "number"

    def __init__(self, low=None, high=None, *, closed: str = "both"):
        if closed not in _CLOSED:
            raise ValueError(f"closed={closed!r}; expected one of {_CLOSED}")
        if low is not None and high is not None and low > high:
            raise ValueError(f"low={low!r} is above high={high!r}")
        self.low, self.high, self.closed = low, high, closed

    def _in_range(self, value) -> bool:
        lo_in, hi_in = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and not (value >= self.low if lo_in else value > self.low):
            return False
        return self.high is None or bool(value <= self.high if hi_in else value < self.high)

    @property
    def _bounds(self) -> str:
        lo_in, hi_in = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            return f" in {'[' if lo_in else '('}{self.low}, {self.high}{']' if hi_in else ')'}"
        if self.low is not None:
            return f" {'>=' if lo_in else '>'} {self.low}"
        if self.high is not None:
            return f" {'<=' if hi_in else '<'} {self.high}"
        return ""

    @property
    def description(self) -> str:
        return _article(self.noun) + self._bounds


class Integer(_Range):
    """An integer (Python or numpy, never a bool) in ``[low, high]``; None leaves a side open.
    ``Integer(1)`` is "a positive integer"."""

    noun = "integer"

    def __init__(self, low: int | None = None, high: int | None = None):
        super().__init__(low, high, closed="both")

    def accepts(self, value) -> bool:
        return _is_int(value) and self._in_range(value)

    @property
    def description(self) -> str:
        return "a positive integer" if self.low == 1 and self.high is None else super().description


class Real(_Range):
    """A real number (an int or a float, never a bool or NaN) between ``low`` and ``high``; ``closed``
    ("both", "left", "right", "neither") says which bounds are allowed; ``finite`` refuses infinities."""

    def __init__(self, low: float | None = None, high: float | None = None, *, closed: str = "both",
                 finite: bool = False):
        super().__init__(low, high, closed=closed)
        self.finite = finite
        self.noun = "finite number" if finite else "number"

    def accepts(self, value) -> bool:
        if not _is_real(value) or math.isnan(value) or (self.finite and math.isinf(value)):
            return False
        return self._in_range(value)


class Options(Constraint):
    """One of the given values (compared with ``==``; a bool matches only a bool option)."""

    def __init__(self, *values):
        if not values:
            raise ValueError("Options needs at least one value")
        self.values = tuple(values)

    def accepts(self, value) -> bool:
        for option in self.values:
            if option is value:
                return True
            if isinstance(option, (bool, np.bool_)) != isinstance(value, (bool, np.bool_)) or option is None:
                continue
            try:
                if type(value) is not np.ndarray and bool(option == value):
                    return True
            except (TypeError, ValueError):
                continue
        return False

    @property
    def description(self) -> str:
        return repr(self.values[0]) if len(self.values) == 1 else f"one of {self.values}"


class Boolean(Constraint):
    """True or False (a numpy bool too)."""

    @property
    def description(self) -> str:
        return "True or False"

    def accepts(self, value) -> bool:
        return isinstance(value, (bool, np.bool_))


class Instance(Constraint):
    """An instance of one of ``types``; ``what`` overrides the description ("a dict of model arguments")."""

    def __init__(self, *types: type, what: str | None = None):
        if not types:
            raise ValueError("Instance needs at least one type")
        self.types, self.what = types, what

    def accepts(self, value) -> bool:
        return isinstance(value, self.types)

    @property
    def description(self) -> str:
        return self.what or " or ".join(_article(t.__name__) for t in self.types)


class ListOf(Constraint):
    """A list, tuple or 1-D array whose every item satisfies ``item``, with at least ``min_len`` items."""

    def __init__(self, item: Constraint, *, min_len: int = 0):
        self.item, self.min_len = item, min_len

    def accepts(self, value) -> bool:
        if isinstance(value, np.ndarray):
            if value.ndim != 1:
                return False
            value = value.tolist()
        if not isinstance(value, (list, tuple)) or len(value) < self.min_len:
            return False
        return all(self.item.accepts(v) for v in value)

    @property
    def description(self) -> str:
        size = "" if self.min_len == 0 else "non-empty " if self.min_len == 1 else f"{self.min_len}-or-more-item "
        return f"a {size}list or tuple whose items are each {self.item.description}"


class Either(Constraint):
    """Any of the given constraints; the description joins theirs with "or" (``what`` overrides it)."""

    def __init__(self, *constraints: Constraint, what: str | None = None):
        if not constraints:
            raise ValueError("Either needs at least one constraint")
        self.constraints, self.what = constraints, what

    def accepts(self, value) -> bool:
        return any(c.accepts(value) for c in self.constraints)

    @property
    def description(self) -> str:
        return self.what or " or ".join(c.description for c in self.constraints)


def NoneOr(constraint: Constraint) -> Either:
    """``constraint`` or None (its description ends with "or None")."""
    return Either(constraint, Options(None))


RANDOM_STATE = Either(Integer(0, 2**32 - 1), Instance(np.random.RandomState, np.random.Generator), Options(None),
                      what="an integer seed in [0, 2**32 - 1], a numpy RandomState or Generator, or None")
"""scikit-learn's ``random_state``: None, a seed, or a numpy random generator."""


def check_params(owner: str, values: dict, constraints: Mapping[str, Constraint]) -> None:
    """Check each value in ``values`` that has a constraint in ``constraints`` (names without one are
    not checked); raise :class:`InvalidParameterError` naming ``owner``, the parameter, the value and
    what was expected, e.g. ``Reducer: epochs=0 must be a positive integer`` or
    ``TrainConfig: optimizer='sgd'; expected one of ('adam', 'adamw')``."""
    for name, value in values.items():
        constraint = constraints.get(name)
        if constraint is None or constraint.accepts(value):
            continue
        prefix = f"{owner}: " if owner else ""
        shown = _repr.repr(value)
        if isinstance(constraint, Options) and len(constraint.values) > 1:
            raise InvalidParameterError(f"{prefix}{name}={shown}; expected {constraint.description}")
        raise InvalidParameterError(f"{prefix}{name}={shown} must be {constraint.description}")
