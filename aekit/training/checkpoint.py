"""Atomic checkpoints: everything needed to continue a run exactly where it stopped."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

CHECKPOINT_NAME = "checkpoint.pt"


def atomic_write_bytes(path: str | os.PathLike, write) -> Path:
    """Call ``write(file_object)`` on a temporary file beside ``path``, then rename it over ``path``.

    A crash or error part-way leaves the previous file intact and no temporary file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


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
