"""Training: the loop, its config, checkpoints/resume, DDP set-up, and the one function every estimator and
command trains through (:func:`train_autoencoder`)."""
from aekit.training.config import TrainConfig
from aekit.training.fitting import Fitted, ModelSpec, train_autoencoder
from aekit.training.loop import Trainer, TrainingError, TrainResult, fit

__all__ = ["TrainConfig", "Trainer", "TrainResult", "TrainingError", "fit", "train_autoencoder", "ModelSpec", "Fitted"]
