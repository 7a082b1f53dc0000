"""Where dataset files live (data dir, cache) and how they are downloaded and checked.

Downloads use :mod:`urllib` only. A download is written to a temporary file next to its final
path, checked, and only then moved into place with :func:`os.replace`, so a failed, partial or
corrupted download never leaves a file at the final path.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.request
from pathlib import Path
from typing import BinaryIO, Callable, Sequence

from aekit.data.errors import DownloadError
from aekit.fileio import default_mode

__all__ = ["data_dir", "cache_dir", "md5_bytes", "md5_file", "download", "is_verified", "mark_verified"]

log = logging.getLogger(__name__)

DATA_DIR_ENV = "AEKIT_DATA_DIR"
CACHE_DIR_ENV = "AEKIT_CACHE_DIR"
TIMEOUT_S = 60
_CHUNK = 1 << 20

# (resolved path, size, mtime_ns, expected checksum) of files already checked in this process.
_VERIFIED: set[tuple[str, int, int, str]] = set()


def data_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The user's data directory: ``explicit`` if given, else ``$AEKIT_DATA_DIR``, else None."""
    if explicit is not None:
        return Path(explicit).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else None


def cache_dir() -> Path:
    """The download cache: ``$AEKIT_CACHE_DIR``, else ``~/.cache/aekit``."""
    env = os.environ.get(CACHE_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "aekit"


def md5_bytes(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def md5_file(path: str | os.PathLike) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _key(path: Path, expected: str) -> tuple[str, int, int, str]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns, expected)


def is_verified(path: Path, expected: str) -> bool:
    """Whether ``path`` (unchanged since) already matched ``expected`` in this process."""
    try:
        return _key(path, expected) in _VERIFIED
    except OSError:
        return False


def mark_verified(path: Path, expected: str) -> None:
    _VERIFIED.add(_key(path, expected))


def _open_url(url: str) -> BinaryIO:
    """Open ``url`` for reading (tests replace this to serve local bytes)."""
    request = urllib.request.Request(url, headers={"User-Agent": "aekit"})
    return urllib.request.urlopen(request, timeout=TIMEOUT_S)


def download(urls: Sequence[str], dest: Path, check: Callable[[Path, str], str | None]) -> Path:
    """Download the first URL that works to ``dest`` and return ``dest``.

    Parameters
    ----------
    urls : sequence of str
        Mirrors, tried in order.
    dest : Path
        Final path; its folder is created.
    check : callable
        ``check(tmp_path, md5_of_downloaded_bytes)`` returns None when the file is good, else a
        description of the problem (e.g. ``"expected MD5 ..., got ..."``).

    Raises
    ------
    DownloadError
        No mirror gave a good file; the message names every URL with its problem.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    problems = []
    for url in urls:
        log.info("downloading %s -> %s", url, dest)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        tmp = Path(tmp_name)
        try:
            h = hashlib.md5(usedforsecurity=False)
            with os.fdopen(fd, "wb") as out:
                try:
                    response = _open_url(url)
                    with response:
                        while chunk := response.read(_CHUNK):
                            h.update(chunk)
                            out.write(chunk)
                except Exception as exc:  # network errors come in many types (URLError, OSError, IncompleteRead...)
                    problems.append(f"{url}: download failed ({type(exc).__name__}: {exc})")
                    continue
            problem = check(tmp, h.hexdigest())
            if problem is not None:
                problems.append(f"{url}: {problem}")
                continue
            os.chmod(tmp, default_mode())  # mkstemp creates 0600 files; give what a plain write would
            os.replace(tmp, dest)
            return dest
        finally:
            tmp.unlink(missing_ok=True)
    raise DownloadError(f"could not download {dest.name} to {dest.parent}:\n  " + "\n  ".join(problems))

