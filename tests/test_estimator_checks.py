"""scikit-learn's own estimator checks for every task estimator (fast settings: few epochs, small models).

Expected failures are listed in EXPECTED_FAILURES with the reason; everything else must pass.
"""
from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from aekit.estimators import Reducer

FAST = {"epochs": 3, "batch_size": 32}

# one fast instance per estimator; add yours here
ESTIMATORS = [
    Reducer(latent_dim=2, **FAST),
]

# {estimator class name: {check name: reason}}
EXPECTED_FAILURES: dict[str, dict[str, str]] = {}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)
