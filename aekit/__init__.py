"""aekit: autoencoders for every job, with scikit-learn conventions and a command line."""
from aekit.estimators import AnomalyDetector, Compressor, EncoderClassifier, Generator, Reducer, load_estimator
from aekit.estimators import Restorer, Segmenter
from aekit.models import create_model, list_models
from aekit.persistence import TrainedAutoencoder, export_onnx, load, save_model

__version__ = "0.1.0"
__all__ = ["AnomalyDetector", "Compressor", "EncoderClassifier", "Generator", "Reducer", "Restorer", "Segmenter", "load_estimator", "create_model", "list_models", "load", "save_model", "export_onnx", "TrainedAutoencoder", "__version__"]
