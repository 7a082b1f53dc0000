"""Atomic checkpoints: everything needed to continue a run exactly where it stopped."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from aekit.fileio import atomic_write_bytes

CHECKPOINT_NAME = "checkpoint.pt"


def save_checkpoint(directory: str | os.PathLike, state: dict) -> Path:
    return atomic_write_bytes(Path(directory) / CHECKPOINT_NAME, lambda f: torch.save(state, f))


def load_checkpoint(directory: str | os.PathLike) -> dict | None:
    """The checkpoint in ``directory``, or None when there is none. Loaded with ``weights_only=True``."""
    path = Path(directory) / CHECKPOINT_NAME
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged file
        raise ValueError(f"checkpoint {path} is unreadable ({exc}); delete it to start afresh") from exc
