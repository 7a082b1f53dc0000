"""Atomic file writes shared by checkpoints, model folders, run outputs and reports."""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def default_mode(base: int = 0o666) -> int:
    """The mode a plain ``open(path, "w")`` (0o666) or ``mkdir`` (0o777) gives under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return base & ~umask


def atomic_write_bytes(path: str | os.PathLike, write) -> Path:
    """Call ``write(file_object)`` on a temporary file beside ``path``, then rename it over ``path``.

    A crash or error part-way leaves the previous file intact and no temporary file behind. The file gets
    the mode a normal write would give (the file's own when it exists, else the umask's), not ``mkstemp``'s
    private 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, stat.S_IMODE(path.stat().st_mode) if path.exists() else default_mode())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
