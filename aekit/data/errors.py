"""Exceptions raised by the data layer.

Every malformed or missing input (a file, a folder, an array, a saved scaler) raises
:class:`DataError`, a :class:`ValueError` subclass, so ``except ValueError`` also catches it.
Messages name the file / column / shape at fault and say what was expected.
Bad *arguments* (a negative ``limit``, an out-of-range fraction) raise plain
:class:`ValueError` / :class:`TypeError`.
"""
from __future__ import annotations

__all__ = ["DataError", "ChecksumError", "DownloadError", "NotFittedError"]


class DataError(ValueError):
    """Input data is malformed, inconsistent or cannot be found."""


class ChecksumError(DataError):
    """A file's checksum (or size) does not match the published value."""


class DownloadError(DataError):
    """A dataset file could not be downloaded from any mirror."""


class NotFittedError(ValueError):
    """A :class:`~aekit.data.scalers.Scaler` was used before :meth:`fit`."""
