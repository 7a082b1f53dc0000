"""Training: the batch record and its augmentation, the loop, its config, checkpoints/resume, DDP set-up, and the one
function every estimator and command trains through (:func:`train_autoencoder`, with a model's later stages), and
the loggers that send its history to TensorBoard or MLflow (:func:`log_to`).

Names are imported on first use (PEP 562): ``aekit.training.config`` alone does not load torch, which keeps
the command line's ``--help`` fast.
"""
import importlib

_EXPORTS = {"TrainConfig": "config", "Fitted": "fitting", "ModelSpec": "fitting", "train_autoencoder": "fitting",
            "train_stage": "fitting", "resumable_fits": "fitting", "fit_prior": "fitting", "Trainer": "loop",
            "TrainingError": "loop",
            "TrainResult": "loop", "fit": "loop", "Batch": "batch", "Corrupt": "batch",
            "log_to": "loggers", "TensorBoardLogger": "loggers", "MLflowLogger": "loggers"}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'aekit.training' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"aekit.training.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
