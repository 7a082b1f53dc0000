"""aekit.validation: each constraint accepts and refuses the right values and describes itself; check_params
names the owner, the parameter, the value and what was expected; every estimator declares every parameter."""
from __future__ import annotations

import inspect
import math
import re

import numpy as np
import pytest

from aekit.estimators import estimator_class, list_estimators
from aekit.models import list_models, model_class
from aekit.training.config import CONSTRAINTS as TRAIN_CONSTRAINTS
from aekit.training.config import TrainConfig
from aekit.validation import (RANDOM_STATE, Boolean, Either, Instance, Integer, InvalidParameterError, ListOf,
                              NoneOr, Options, Real, check_params)

CASES = [  # (constraint, accepted, refused, description)
    (Integer(1), [1, 5, np.int64(3)], [0, -1, 1.0, True, np.bool_(True), "1", None], "a positive integer"),
    (Integer(0), [0, 7], [-1, False, 0.5], "an integer >= 0"),
    (Integer(2, 4), [2, 3, 4], [1, 5], "an integer in [2, 4]"),
    (Integer(high=3), [-5, 3], [4], "an integer <= 3"),
    (Integer(), [-(10**20), 0], [1.0, True], "an integer"),
    (Real(0, closed="neither"), [1e-9, 1, 2.5, np.float32(0.1), math.inf], [0, -1, math.nan, True, "1", None],
     "a number > 0"),
    (Real(0), [0, 0.0, 3], [-1e-9, math.nan, False], "a number >= 0"),
    (Real(0, 1, closed="left"), [0, 0.5], [1, 1.0, -0.1], "a number in [0, 1)"),
    (Real(0, 0.5, closed="right"), [0.5, 0.1], [0, 0.6], "a number in (0, 0.5]"),
    (Real(0, 1), [0, 1], [1.01], "a number in [0, 1]"),
    (Real(high=0, closed="neither"), [-1], [0], "a number < 0"),
    (Real(0, finite=True), [0, 1e300], [math.inf, math.nan], "a finite number >= 0"),
    (Options("adam", "adamw"), ["adam", "adamw", np.str_("adam")], ["sgd", "Adam", None, 1, ["adam"], np.array(["adam"])],
     "one of ('adam', 'adamw')"),
    (Options(0, 2), [0, 2, np.int64(2)], [False, True, 1], "one of (0, 2)"),
    (Options("auto"), ["auto"], ["Auto", None], "'auto'"),
    (Options(None), [None], [0, "None", False], "None"),
    (Boolean(), [True, False, np.bool_(True)], [0, 1, "True", None], "True or False"),
    (Instance(dict), [{}, {"a": 1}], [[], None], "a dict"),
    (Instance(int, str), [1, "a"], [1.0, None], "an int or a str"),
    (Instance(str, what="a device name"), ["cpu"], [0], "a device name"),
    (ListOf(Integer(1)), [[], (1, 2), np.array([3, 4])], [[0], [1.5], [True], "12", 3, np.ones((2, 2), int)],
     "a list or tuple whose items are each a positive integer"),
    (ListOf(Integer(1), min_len=1), [[1], (2, 3)], [[], ()],
     "a non-empty list or tuple whose items are each a positive integer"),
    (NoneOr(Integer(1)), [None, 3], [0, "x"], "a positive integer or None"),
    (Either(Integer(1), Options("auto")), [1, "auto"], [0, "none", None], "a positive integer or 'auto'"),
    (Either(Integer(1), Options("auto"), what="a size or 'auto'"), [2], [0], "a size or 'auto'"),
    (RANDOM_STATE, [None, 0, 2**32 - 1, np.random.RandomState(0), np.random.default_rng(0)],
     [-1, 2**32, 1.5, True, "0"], "an integer seed in [0, 2**32 - 1], a numpy RandomState or Generator, or None"),
]


@pytest.mark.parametrize("constraint, accepted, refused, description", CASES,
                         ids=[c[3] for c in CASES])
def test_constraint_accepts_refuses_and_describes(constraint, accepted, refused, description):
    assert constraint.description == description
    for value in accepted:
        assert constraint.accepts(value), f"{constraint} refused {value!r}"
        check_params("Owner", {"p": value}, {"p": constraint})
    for value in refused:
        assert not constraint.accepts(value), f"{constraint} accepted {value!r}"
        with pytest.raises(InvalidParameterError, match=re.escape(description)):
            check_params("Owner", {"p": value}, {"p": constraint})


@pytest.mark.parametrize("constraint", [Integer(), Integer(0), Real(), Real(0, 1)])
@pytest.mark.parametrize("value", [True, False, np.bool_(False)])
def test_bool_is_not_a_number(constraint, value):
    assert not constraint.accepts(value)


@pytest.mark.parametrize("owner, values, constraints, message", [
    ("Reducer", {"epochs": 0}, {"epochs": Integer(1)}, "Reducer: epochs=0 must be a positive integer"),
    ("Reducer", {"epochs": True}, {"epochs": Integer(1)}, "Reducer: epochs=True must be a positive integer"),
    ("TrainConfig", {"lr": -1}, {"lr": Real(0, closed="neither")}, "TrainConfig: lr=-1 must be a number > 0"),
    ("TrainConfig", {"optimizer": "sgd"}, {"optimizer": Options("adam", "adamw")},
     "TrainConfig: optimizer='sgd'; expected one of ('adam', 'adamw')"),
    ("model 'unet'", {"channels": ()}, {"channels": ListOf(Integer(1), min_len=1)},
     "model 'unet': channels=() must be a non-empty list or tuple whose items are each a positive integer"),
    ("AnomalyDetector", {"contamination": 0.7}, {"contamination": Either(Options("auto"), Real(0, 0.5, closed="right"))},
     "AnomalyDetector: contamination=0.7 must be 'auto' or a number in (0, 0.5]"),
    ("", {"n": 0}, {"n": Integer(1)}, "n=0 must be a positive integer"),
])
def test_check_params_names_owner_parameter_value_and_range(owner, values, constraints, message):
    with pytest.raises(InvalidParameterError, match="^" + re.escape(message) + "$"):
        check_params(owner, values, constraints)


def test_the_error_is_a_value_error_and_a_type_error():
    for kind in (ValueError, TypeError):
        with pytest.raises(kind):
            check_params("X", {"model_params": [1]}, {"model_params": NoneOr(Instance(dict))})


def test_only_constrained_names_are_checked_and_all_of_them_are():
    check_params("X", {"free": object(), "epochs": 3}, {"epochs": Integer(1), "unused": Integer(1)})
    with pytest.raises(InvalidParameterError, match="b=0"):
        check_params("X", {"a": 1, "b": 0}, dict.fromkeys("ab", Integer(1)))


def test_long_values_are_shortened_in_the_message():
    with pytest.raises(InvalidParameterError) as info:
        check_params("X", {"p": list(range(1000))}, {"p": Instance(dict)})
    assert len(str(info.value)) < 120 and "..." in str(info.value)


@pytest.mark.parametrize("make, match", [
    (lambda: Real(0, 1, closed="open"), r"closed='open'; expected one of"),
    (lambda: Integer(3, 1), r"low=3 is above high=1"),
    (lambda: Options(), r"Options needs at least one value"),
    (lambda: Either(), r"Either needs at least one constraint"),
    (lambda: Instance(), r"Instance needs at least one type"),
])
def test_bad_constraint_declarations_fail_early(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ------------------------------------------------------------------------------------------ declarations in use
ESTIMATORS = list_estimators()


@pytest.mark.parametrize("name", ESTIMATORS)
def test_every_estimator_declares_every_parameter(name):
    cls = estimator_class(name)
    params = set(cls._get_param_names())
    missing = sorted(params - set(cls._constraints))
    assert not missing, f"{cls.__name__}: add {missing} to _constraints"


@pytest.mark.parametrize("name", ESTIMATORS)
def test_every_estimator_default_is_valid(name):
    cls = estimator_class(name)
    check_params(cls.__name__, cls().get_params(deep=False), cls._constraints)


def test_train_config_declares_every_field():
    fields = {f.name for f in TrainConfig.__dataclass_fields__.values()}
    assert fields == set(TRAIN_CONSTRAINTS)
    TrainConfig()  # the defaults satisfy them


@pytest.mark.parametrize("name", list_models())
def test_model_constraints_name_real_arguments(name):
    cls = model_class(name)
    args = set(inspect.signature(cls.__init__).parameters)
    unknown = sorted(set(cls._constraints) - args)
    assert not unknown, f"model {name!r}: _constraints names {unknown}, which are not arguments"
