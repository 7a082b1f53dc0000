"""scikit-learn's own estimator checks for every task estimator (fast settings: few epochs, small models).

Expected failures are listed in EXPECTED_FAILURES with the reason; everything else must pass.
"""
from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from aekit.estimators import AnomalyDetector, Compressor, EncoderClassifier, Generator, Reducer
from aekit.estimators import Restorer, Segmenter

FAST = {"epochs": 3, "batch_size": 32}

# one fast instance per estimator; add yours here
ESTIMATORS = [
    Reducer(latent_dim=2, **FAST),
    Generator(latent_dim=2, **FAST),
    Generator(latent_dim=2, model="mlp", density="gmm", n_components=2, **FAST),
    # scikit-learn's check_classifiers_train asks for > 83% training accuracy on blobs: a higher lr and 15 epochs
    EncoderClassifier(latent_dim=4, pretrain_epochs=2, epochs=15, batch_size=32, lr=1e-2),
    AnomalyDetector(latent_dim=2, gmm_components=2, min_steps=0, **FAST),
    Compressor(latent_dim=4, model_params={"hidden": [16]}, **FAST),
    # image estimators: a table's rows are read as flat 1 x d grey images (see aekit/estimators/_image.py)
    Restorer(task="denoise", latent_dim=8, model_params={"channels": [4]}, **FAST),
    Segmenter(latent_dim=8, model_params={"channels": [4]}, **FAST),
]

# {estimator class name: {check name: reason}}
EXPECTED_FAILURES: dict[str, dict[str, str]] = {}
# Restorer and Segmenter take images of any size (tiles), so a different width at predict time is valid
_ANY_SIZE = "restores / segments images of any size by design, so predict accepts another width"
EXPECTED_FAILURES["Restorer"] = {"check_n_features_in_after_fitting": _ANY_SIZE}
EXPECTED_FAILURES["Segmenter"] = {"check_n_features_in_after_fitting": _ANY_SIZE}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)
