"""The training configuration: one small dataclass, a commented default per field (nanoGPT style)."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from aekit.validation import RANDOM_STATE, Boolean, Instance, Integer, NoneOr, Options, Real, check_params

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("cosine", "constant")
PRECISIONS = ("32", "bf16")

# what each field may be (aekit.validation); checked when a TrainConfig is made
CONSTRAINTS = {
    "epochs": Integer(1),
    "batch_size": Integer(1),
    "lr": Real(0, closed="neither"),
    "optimizer": Options(*OPTIMIZERS),
    "weight_decay": Real(0),
    "schedule": Options(*SCHEDULES),
    "warmup_steps": Integer(0),
    "min_lr_ratio": Real(0, 1),
    "max_time": NoneOr(Real(0, closed="neither")),
    "early_stopping": NoneOr(Integer(1)),
    "min_delta": Real(0),
    "restore_best": Boolean(),
    "grad_clip": NoneOr(Real(0, closed="neither")),
    "random_state": RANDOM_STATE,
    "progress": Boolean(),
    "device": Instance(str, what="a device name such as 'auto', 'cpu' or 'cuda:1'"),
    "precision": Options(*PRECISIONS),
    "in_memory": NoneOr(Boolean()),
    "num_workers": Integer(0),
    "checkpoint_dir": NoneOr(Instance(str, os.PathLike)),
    "eval_batch_size": Integer(1),
    "val_every_steps": NoneOr(Integer(1)),
    "checkpoint_every_steps": NoneOr(Integer(1)),
    "compile": Boolean(),
}


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
    compile: bool = False               # train through torch.compile (benchmarks/speed.py measures the gain)
    checkpoint_every_steps: int | None = None  # also write the resume state every N steps (a long epoch
    #                                           resumes mid-way); None: after every epoch only

    def __post_init__(self) -> None:
        check_params("TrainConfig", {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, CONSTRAINTS)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}; known: {sorted(names)}")
        return cls(**d)
