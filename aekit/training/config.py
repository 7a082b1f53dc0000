"""The training configuration: one small dataclass, a commented default per field (nanoGPT style)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("cosine", "constant")


@dataclass
class TrainConfig:
    epochs: int = 20                    # passes over the training data (upper bound when max_time is set)
    batch_size: int = 256               # global batch size (split across processes under torchrun)
    lr: float = 3e-3                    # peak learning rate
    optimizer: str = "adamw"            # "adam" or "adamw" (decoupled weight decay)
    weight_decay: float = 0.0           # weight decay for the optimizer
    schedule: str = "cosine"            # "cosine" (decay to min_lr_ratio * lr) or "constant"
    warmup_steps: int = 0               # linear warm-up steps before the schedule
    min_lr_ratio: float = 0.0           # floor of the cosine schedule, as a fraction of lr
    max_time: float | None = None       # wall-clock budget in seconds; the cosine schedule then runs over time
    early_stopping: int | None = 10     # patience in epochs without val improvement (None: off)
    min_delta: float = 0.0              # smallest val-loss decrease that counts as improvement
    restore_best: bool = True           # load the best-validation weights at the end
    grad_clip: float | None = None      # clip the gradient norm to this value (None: off)
    random_state: int | None = 0        # seeds shuffling, corruption and dropout; None: not reproducible
    progress: bool = True               # show a progress bar (stderr)
    device: str = "auto"                # "auto" (cuda if available), "cpu", "cuda", "cuda:1", ...
    precision: str = "32"               # "32" or "bf16" (autocast; on GPUs that support it)
    in_memory: bool | None = None       # None: slice in-memory tensors when the data is an array,
                                        # a DataLoader when it is a memory map or torch Dataset
    num_workers: int = 0                # DataLoader workers (DataLoader path only)
    checkpoint_dir: str | None = None   # where the resume state is written after every epoch
    eval_batch_size: int = 1024         # batch size for validation and evaluation
    val_every_steps: int | None = None  # also validate every N steps (for callbacks); None: per epoch only

    def __post_init__(self) -> None:
        _positive_int(self, "epochs", "batch_size", "eval_batch_size")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer={self.optimizer!r}; expected one of {OPTIMIZERS}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule={self.schedule!r}; expected one of {SCHEDULES}")
        if self.precision not in ("32", "bf16"):
            raise ValueError(f"precision={self.precision!r}; expected '32' or 'bf16'")
        if not (self.lr > 0):
            raise ValueError(f"lr={self.lr!r} must be > 0")
        if self.max_time is not None and not self.max_time > 0:
            raise ValueError(f"max_time={self.max_time!r} must be > 0 seconds or None")
        if self.val_every_steps is not None and (not isinstance(self.val_every_steps, int) or self.val_every_steps < 1):
            raise ValueError(f"val_every_steps={self.val_every_steps!r} must be a positive integer or None")
        if self.early_stopping is not None and self.early_stopping < 1:
            raise ValueError(f"early_stopping={self.early_stopping!r} must be >= 1 epochs or None")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}; known: {sorted(names)}")
        return cls(**d)


def _positive_int(cfg, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}={value!r} must be a positive integer")
