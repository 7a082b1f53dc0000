"""scikit-learn estimators, one per task, built on the models and the training loop."""
from aekit.estimators._base import AutoencoderEstimator, load_estimator
from aekit.estimators.classifier import EncoderClassifier
from aekit.estimators.generator import Generator
from aekit.estimators.reducer import Reducer

__all__ = ["AutoencoderEstimator", "EncoderClassifier", "Generator", "Reducer", "load_estimator"]
