"""aekit: autoencoders for every job, with scikit-learn conventions and a command line.

The public names below are imported on first use (PEP 562), so ``import aekit`` and ``aekit --help``
stay fast: torch and scikit-learn load only when a model or an estimator is first touched.
"""
from __future__ import annotations

import importlib

from aekit.version import __version__

# public name -> the module that defines it
_EXPORTS = {
    **dict.fromkeys(["AnomalyDetector", "Clusterer", "Compressor", "EncoderClassifier", "Generator", "ImageCodec",
                     "Reducer", "Restorer",
                     "Segmenter", "TimeSeriesAnomalyDetector", "load_estimator"], "aekit.estimators"),
    **dict.fromkeys(["create_model", "list_models"], "aekit.models"),
    "DomainTranslator": "aekit.estimators.translator",
    **dict.fromkeys(["TrainedAutoencoder", "export_onnx", "save_model"], "aekit.persistence"),
    **dict.fromkeys(["load", "transfer_weights"], "aekit.artifacts"),
    "set_num_threads": "aekit.threads",
    "log_to": "aekit.training.loggers",
    "VideoAnomalyDetector": "aekit.estimators",
    **dict.fromkeys(["pretrained", "list_pretrained"], "aekit.zoo"),
}
__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    try:  # sub-modules: aekit.models, aekit.data, ...
        return importlib.import_module(f"aekit.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"aekit.{name}":
            raise
        raise AttributeError(f"module 'aekit' has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
