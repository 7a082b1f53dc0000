"""Resume state without pickle: tensors in ``state.safetensors``, everything else in ``state.json``.

A run's resume state lives in its own folder (``aekit train`` uses ``OUT/checkpoints/``), apart from the
model folder a user ships. The tensors file is named after its SHA-256 (``state-<sha>.safetensors``) and
written first; ``state.json``, replaced atomically, names it; older tensor files are removed last. A run
killed at any point leaves a consistent pair. Nested dicts (model and optimizer state)
are flattened: tensors go to safetensors under dotted keys, other values stay in the JSON tree.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from aekit.fileio import atomic_write_bytes

STATE_NAME = "state.json"
_TENSOR = "__tensor__"     # JSON placeholder: {"__tensor__": key}


def _split(obj, prefix: str, tensors: dict):
    """JSON-able copy of ``obj`` with every tensor moved into ``tensors``."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().cpu().contiguous()
        return {_TENSOR: prefix}
    if isinstance(obj, dict):
        return {"__dict__": [[_split(k, f"{prefix}.k{i}", tensors), _split(v, f"{prefix}.{i}", tensors)]
                             for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [_split(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)],
                "tuple": isinstance(obj, tuple)}
    return obj


def _join(obj, tensors: dict):
    if isinstance(obj, dict):
        if _TENSOR in obj:
            return tensors[obj[_TENSOR]]
        if "__dict__" in obj:
            return {_join(k, tensors): _join(v, tensors) for k, v in obj["__dict__"]}
        if "__list__" in obj:
            items = [_join(v, tensors) for v in obj["__list__"]]
            return tuple(items) if obj.get("tuple") else items
    return obj


def save_checkpoint(directory: str | os.PathLike, state: dict) -> Path:
    """Write ``state`` (nested dicts / lists of tensors, numbers, strings) to ``directory``."""
    from safetensors.torch import save

    directory = Path(directory)
    tensors: dict[str, torch.Tensor] = {}
    tree = _split(state, "s", tensors)
    blob = save(tensors)
    digest = hashlib.sha256(blob).hexdigest()
    name = f"state-{digest[:16]}.safetensors"
    text = json.dumps({"tensors": name, "tensors_sha256": digest, "state": tree}).encode()
    atomic_write_bytes(directory / name, lambda f: f.write(blob))
    atomic_write_bytes(directory / STATE_NAME, lambda f: f.write(text))
    for old in directory.glob("state-*.safetensors"):
        if old.name != name:
            old.unlink(missing_ok=True)
    for stale in directory.glob(".state*.tmp"):   # left by a write that was killed (one writer per folder)
        stale.unlink(missing_ok=True)
    return directory


def load_checkpoint(directory: str | os.PathLike) -> dict | None:
    """The state saved in ``directory``, or None when there is none. No pickle is read."""
    from safetensors.torch import load

    directory = Path(directory)
    path = directory / STATE_NAME
    if not path.exists():
        if (directory / "checkpoint.pt").exists():
            raise ValueError(f"{directory / 'checkpoint.pt'} is a checkpoint of an older aekit (a torch pickle, "
                             "which this version no longer reads); start afresh without --resume")
        return None
    try:
        meta = json.loads(path.read_text())
        tpath = directory / Path(meta["tensors"]).name
        blob = tpath.read_bytes()
        if hashlib.sha256(blob).hexdigest() != meta["tensors_sha256"]:
            raise ValueError(f"{tpath} does not belong to {path} (interrupted while writing?)")
        return _join(meta["state"], load(blob))
    except (OSError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"checkpoint in {directory} is unreadable ({exc}); delete it to start afresh") from exc
    except ValueError as exc:
        raise ValueError(f"checkpoint in {directory} is unreadable ({exc}); delete it to start afresh") from exc
