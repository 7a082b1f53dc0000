"""The settings of ``aekit serve`` (limits, batching, threads) and the one error every refused request gets.

A refused request is answered with a 4xx JSON body (KServe V2's ``{"error": ...}``, plus where and what)::

    {"error": "inputs[0].shape is [1, 7], expected [n, 64]", "field": "inputs[0].shape",
     "received": [1, 7], "expected": [-1, 64]}
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ServeSettings:
    max_body_bytes: int = 32 * 2**20     # request body; larger -> 413
    max_values: int = 4_000_000          # numbers in one request's input (n x sample size); more -> 413
    max_image_pixels: int = 16_000_000   # width x height of one PNG / JPEG body; more -> 413
    max_samples: int = 1024              # samples one `sample` request may ask for; more -> 400
    request_timeout_s: float = 30.0      # from the body's arrival to the answer; longer -> 504
    max_batch: int = 64                  # rows gathered into one forward pass (a larger request runs alone)
    max_wait_ms: float = 2.0             # how long a batch waits for more rows, only while requests keep coming
    max_queue: int = 4096                # rows waiting per model operation; more -> 503
    threads: int = 1                     # torch compute threads per worker process
    data: str | None = None              # dataset the explorer page maps (default: the one a folder records)

    def __post_init__(self):
        for name in ("max_body_bytes", "max_values", "max_image_pixels", "max_samples", "max_batch", "max_queue",
                     "threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ServeSettings: {name}={value!r} must be a positive integer")
        for name in ("request_timeout_s", "max_wait_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"ServeSettings: {name}={value!r} must be a number >= 0")
        if self.request_timeout_s == 0:
            raise ValueError("ServeSettings: request_timeout_s=0 must be > 0")


class RequestError(Exception):
    """A refused request: HTTP ``status``, the message, the request ``field`` at fault, what was received and
    what was expected."""

    def __init__(self, status: int, message: str, *, field: str | None = None, received=None, expected=None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field
        self.received, self.expected = received, expected

    def body(self) -> dict:
        out = {"error": self.message, "field": self.field}
        if self.received is not None:
            out["received"] = self.received
        if self.expected is not None:
            out["expected"] = self.expected
        return out


def too_large(field: str, what: str, received: int, limit: int, setting: str) -> RequestError:
    return RequestError(413, f"{field}: {what} {received:,} exceeds the limit of {limit:,} (setting {setting})",
                        field=field, received=received, expected=f"<= {limit}")


def check_values(count: int, settings: ServeSettings, field: str) -> None:
    """Refuse an input of more than ``max_values`` numbers (before it is built)."""
    if count > settings.max_values:
        raise too_large(field, "number of values", count, settings.max_values, "max_values")


async def read_body(request, settings: ServeSettings) -> bytes:
    """The request body, refused with a 413 as soon as it passes ``max_body_bytes`` (by its declared
    Content-Length, else while it streams in)."""
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError(400, f"Content-Length {declared!r} is not a byte count", field="Content-Length",
                               received=declared, expected="a non-negative integer")
        if int(declared) > limit:
            raise too_large("body", "size in bytes", int(declared), limit, "max_body_bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large("body", "size in bytes", size, limit, "max_body_bytes")
        chunks.append(chunk)
    return b"".join(chunks)
