"""aekit: autoencoders for every job, with scikit-learn conventions and a command line."""
from aekit.estimators import AnomalyDetector, Compressor, EncoderClassifier, Generator, Reducer, load_estimator
from aekit.estimators import Restorer, Segmenter
from aekit.models import create_model, list_models
from aekit.persistence import TrainedAutoencoder, export_onnx, save_model
from aekit.artifacts import load, transfer_weights
from aekit.threads import set_num_threads

from aekit.version import __version__
__all__ = ["AnomalyDetector", "Compressor", "EncoderClassifier", "Generator", "Reducer", "Restorer", "Segmenter", "load_estimator", "create_model", "list_models", "load", "transfer_weights", "set_num_threads", "save_model", "export_onnx", "TrainedAutoencoder", "__version__"]
