"""Training: the loop, its config, checkpoints/resume, collapse diagnostics and DDP set-up."""
from aekit.training.config import TrainConfig
from aekit.training.diagnostics import CollapseWarning, check_collapse
from aekit.training.loop import Trainer, TrainingError, TrainResult, fit

__all__ = ["TrainConfig", "Trainer", "TrainResult", "TrainingError", "CollapseWarning", "check_collapse", "fit"]
