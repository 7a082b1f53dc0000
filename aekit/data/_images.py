"""Image-array helpers: argument checks, channel layout, grey / RGB conversion and resizing."""
from __future__ import annotations

import numbers

import numpy as np
from PIL import Image

from aekit.data.errors import DataError

# ITU-R 601-2 luma, the weights PIL uses for RGB -> "L".
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def check_image_size(image_size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """Normalise ``image_size`` to ``(H, W)``; an int means a square image."""
    if image_size is None:
        return None
    if isinstance(image_size, numbers.Integral) and not isinstance(image_size, bool):
        size = (int(image_size), int(image_size))
    elif (
        isinstance(image_size, (tuple, list))
        and len(image_size) == 2
        and all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in image_size)
    ):
        size = (int(image_size[0]), int(image_size[1]))
    else:
        raise TypeError(f"image_size must be None, an int or a (height, width) pair of ints, got {image_size!r}")
    if min(size) < 1:
        raise ValueError(f"image_size must be positive, got {image_size!r}")
    return size


def check_grayscale(grayscale: bool | None) -> bool | None:
    if grayscale is not None and not isinstance(grayscale, (bool, np.bool_)):
        raise TypeError(f"grayscale must be None, True or False, got {grayscale!r}")
    return None if grayscale is None else bool(grayscale)


def to_channels_first(arr: np.ndarray, source: str) -> tuple[np.ndarray, str]:
    """Interpret an array's layout: returns ``(array, kind)``.

    ``(N, D)`` -> table; ``(N, H, W)`` -> grey images ``(N, 1, H, W)``; ``(N, C, H, W)`` with C in
    {1, 3} -> images as they are; ``(N, H, W, C)`` with C in {1, 3} -> transposed to channels first.
    """
    if arr.ndim == 2:
        return arr, "table"
    if arr.ndim == 3:
        return arr[:, None, :, :], "image"
    if arr.ndim == 4:
        if arr.shape[1] in (1, 3):
            return arr, "image"
        if arr.shape[3] in (1, 3):
            return np.transpose(arr, (0, 3, 1, 2)), "image"
        raise DataError(
            f"{source}: array of shape {arr.shape} has no channel axis, expected images (N, C, H, W) "
            "or (N, H, W, C) with C = 1 or 3"
        )
    raise DataError(
        f"{source}: array of shape {arr.shape} has rank {arr.ndim}, expected rank 2 (N, D), 3 (N, H, W) "
        "or 4 (N, C, H, W) / (N, H, W, C)"
    )


def convert_channels(X: np.ndarray, grayscale: bool | None) -> np.ndarray:
    """Grey <-> RGB for float images ``(N, C, H, W)``: True -> 1 channel, False -> 3, None -> as is."""
    if grayscale is None:
        return X
    channels = X.shape[1]
    if grayscale and channels == 3:
        return np.einsum("nchw,c->nhw", X, _LUMA, dtype=np.float32)[:, None]
    if not grayscale and channels == 1:
        return np.repeat(X, 3, axis=1)
    return X


def resize(X: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Resize float images ``(N, C, H, W)`` to ``size = (H, W)`` with PIL's bilinear filter."""
    if size is None or tuple(X.shape[2:]) == tuple(size):
        return X
    h, w = size
    out = np.empty((X.shape[0], X.shape[1], h, w), dtype=np.float32)
    for i in range(X.shape[0]):
        for c in range(X.shape[1]):
            img = Image.fromarray(np.ascontiguousarray(X[i, c], dtype=np.float32))
            out[i, c] = np.asarray(img.resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)
    return out
