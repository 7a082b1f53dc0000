"""Video clips ``(N, T, C, H, W)``: read from ``.npy`` arrays and video files, and Moving MNIST made in code.

Video files (``.mp4``, ``.avi``, ``.mov``, ``.mkv``, ``.webm``, ``.gif``) are decoded by imageio (its ``pyav``
plugin, FFmpeg's libraries through PyAV; GIFs through Pillow), the optional extra ``aekit[video]``, imported only
when a video file is read. Values stay raw (0..255 for 8-bit video), float32; the video kind's scaler maps
them to [0, 1] (:mod:`aekit.data.kinds`).

:func:`moving_digits` is the Moving MNIST generator of Srivastava, Mansimov & Salakhutdinov, "Unsupervised
Learning of Video Representations using LSTMs" (ICML 2015): digits of 28x28 placed at random in a 64x64
frame, each moving in a random direction at a constant speed and bouncing off the edges, superimposed by
their maximum. It can also break the motion in known frames (:data:`ANOMALY_KINDS`), for anomaly benchmarks.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from aekit.data.errors import DataError

__all__ = ["ANOMALY_KINDS", "VIDEO_EXTENSIONS", "load_clips", "moving_digits", "read_video"]

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif")
ANOMALY_KINDS = ("jump", "stop", "reverse", "object")
_GREY_TOLERANCE = 3   # levels of 0..255 by which a grey clip's colour channels may differ after lossy coding


def _imageio():
    try:
        import imageio.v3 as iio
    except ImportError:
        raise ImportError("reading video files needs imageio and PyAV: pip install 'aekit[video]'") from None
    return iio


def read_video(path: str | os.PathLike, *, channels: int | str = "auto", max_frames: int | None = None) -> np.ndarray:
    """The frames of a video file as float32 ``(T, C, H, W)``, raw values (0..255).

    ``channels``: 1 (grey: the mean of the colour channels), 3 (RGB), or "auto": grey when the colour
    channels agree within a few levels everywhere (a grey clip coded as colour), else RGB. ``max_frames``:
    read at most this many frames from the start. A file that cannot be decoded raises :class:`DataError`
    naming it."""
    path = Path(path)
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        raise DataError(f"{path}: not a video file; expected one of {', '.join(VIDEO_EXTENSIONS)}")
    if channels not in (1, 3, "auto"):
        raise ValueError(f"channels must be 1, 3 or 'auto', got {channels!r}")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    iio = _imageio()
    plugin = None if path.suffix.lower() == ".gif" else "pyav"
    frames = []
    try:
        for frame in iio.imiter(path, plugin=plugin):
            frames.append(np.asarray(frame))
            if max_frames is not None and len(frames) >= max_frames:
                break
    except Exception as exc:  # the decoders raise their own types (av.error.*, OSError, ValueError)
        raise DataError(f"{path}: cannot decode the video ({type(exc).__name__}: {exc})") from exc
    if not frames:
        raise DataError(f"{path}: the video holds no frames")
    x = np.stack(frames).astype(np.float32)
    if x.ndim == 3:                                   # (T, H, W) grey frames
        x = x[..., None]
    x = x[..., :3]                                    # an alpha channel is dropped
    colour = x.shape[-1] == 3 and (channels == 3 or (
        channels == "auto" and float(np.abs(x - x.mean(axis=-1, keepdims=True)).max()) > _GREY_TOLERANCE))
    x = x if colour else x.mean(axis=-1, keepdims=True)
    if channels == 3 and x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    return np.ascontiguousarray(np.moveaxis(x, -1, 1))


def load_clips(path: str | os.PathLike, *, channels: int | str = "auto", max_frames: int | None = None) -> np.ndarray:
    """Clips ``(N, T, C, H, W)`` float32 from a video file (one clip, :func:`read_video`) or a ``.npy`` array:
    ``(N, T, C, H, W)`` as it is, one clip ``(T, C, H, W)`` (C of 1 or 3) or ``(T, H, W, C)``, or one grey clip
    ``(T, H, W)``."""
    path = Path(path)
    if path.suffix.lower() != ".npy":
        return read_video(path, channels=channels, max_frames=max_frames)[None]
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the .npy file ({exc})") from None
    if x.ndim == 3:
        x = x[None, :, None]
    elif x.ndim == 4:
        x = x[None] if x.shape[1] in (1, 3) or x.shape[-1] not in (1, 3) else np.moveaxis(x, -1, 1)[None]
    if x.ndim != 5 or 0 in x.shape:
        raise DataError(f"{path}: an array of shape {x.shape}; expected clips (N, T, C, H, W), one clip "
                        "(T, C, H, W) or (T, H, W, C), or one grey clip (T, H, W)")
    if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x).all():
        raise DataError(f"{path}: expected finite numbers, got dtype {x.dtype} with NaN, inf or non-numbers")
    x = x[:, :max_frames] if max_frames is not None else x
    return np.ascontiguousarray(x, dtype=np.float32)


# ------------------------------------------------------------------------------------------ Moving MNIST
def _object(rng: np.random.Generator, size: int = 14) -> np.ndarray:
    """An object no digit looks like: a bright hollow square or a filled disc, ``(size, size)`` in 0..255."""
    img = np.zeros((size, size), np.float32)
    if rng.random() < 0.5:
        img[:, :] = 255
        img[3:-3, 3:-3] = 0
    else:
        yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
        img[yy ** 2 + xx ** 2 <= (size / 2) ** 2] = 255
    return img


def _paste(frame: np.ndarray, img: np.ndarray, y: float, x: float) -> None:
    h, w = img.shape
    r, c = round(y), round(x)
    np.maximum(frame[r:r + h, c:c + w], img, out=frame[r:r + h, c:c + w])


def moving_digits(digits: np.ndarray, n_clips: int, n_frames: int = 20, *, size: int = 64, n_digits: int = 2,
                  speed: float = 3.6, anomaly_fraction: float = 0.0, anomaly_kinds=ANOMALY_KINDS,
                  anomaly_frames: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Moving MNIST clips and their frame labels: ``(clips (n_clips, n_frames, 1, size, size) float32 0..255,
    labels (n_clips, n_frames) int, 1 = anomalous frame)``.

    ``digits``: ``(n, 28, 28)`` images (0..255) drawn from at random. Each digit starts at a random place, moves
    ``speed`` pixels a frame in a random direction and bounces off the edges (Srivastava et al. 2015; their
    step of 0.1 of the free range is 3.6 pixels in 64x64). ``anomaly_fraction`` of the clips break the law in
    one event, at a random frame after the first quarter, of a kind drawn from ``anomaly_kinds``:

    - ``"jump"``: a digit moves to the farthest of 20 random places (that frame is anomalous);
    - ``"stop"``: a digit stands still for ``anomaly_frames`` frames, then moves on (those frames);
    - ``"reverse"``: a digit turns back against its momentum, not at an edge (that frame);
    - ``"object"``: an object no digit looks like moves through ``anomaly_frames`` frames (those frames).
    """
    digits = np.asarray(digits, dtype=np.float32)
    if digits.ndim != 3 or digits.shape[0] == 0:
        raise ValueError(f"digits must be images (n, h, w), got shape {digits.shape}")
    unknown = sorted(set(anomaly_kinds) - set(ANOMALY_KINDS))
    if unknown or not anomaly_kinds:
        raise ValueError(f"anomaly_kinds {list(anomaly_kinds)}: expected some of {ANOMALY_KINDS}")
    rng = np.random.default_rng(seed)
    d = digits.shape[1]
    lim = float(size - d)
    clips = np.zeros((n_clips, n_frames, 1, size, size), np.float32)
    labels = np.zeros((n_clips, n_frames), np.int64)
    for i in range(n_clips):
        imgs = digits[rng.integers(len(digits), size=n_digits)]
        pos = rng.uniform(0, lim, size=(n_digits, 2))
        theta = rng.uniform(0, 2 * np.pi, size=n_digits)
        vel = speed * np.stack([np.sin(theta), np.cos(theta)], axis=1)
        kind, t0 = None, -1
        if rng.random() < anomaly_fraction:
            kind = anomaly_kinds[rng.integers(len(anomaly_kinds))]
            t0 = int(rng.integers(max(2, n_frames // 4), n_frames - anomaly_frames + 1))
            who = int(rng.integers(n_digits))
            obj, opos = _object(rng), rng.uniform(0, size - 14, size=2)
            ovel = speed * np.array([np.sin(a := rng.uniform(0, 2 * np.pi)), np.cos(a)])
        for t in range(n_frames):
            if t > 0:                                              # move, then bounce off the edges
                step = vel.copy()
                if kind == "stop" and t0 <= t < t0 + anomaly_frames:
                    step[who] = 0
                if kind == "reverse" and t == t0:
                    vel[who] *= -1
                    step[who] = vel[who]
                pos += step
                if kind == "jump" and t == t0:                      # the farthest of 20 random places
                    places = rng.uniform(0, lim, size=(20, 2))
                    pos[who] = places[np.argmax(np.linalg.norm(places - pos[who], axis=1))]
                low, high = pos < 0, pos > lim
                vel[low | high] *= -1
                pos = np.clip(pos, 0, lim)
            for k in range(n_digits):
                _paste(clips[i, t, 0], imgs[k], *pos[k])
            if kind == "object" and t0 <= t < t0 + anomaly_frames:
                _paste(clips[i, t, 0], obj, *opos)
                opos = np.clip(opos + ovel, 0, size - 14)
        if kind in ("jump", "reverse"):
            labels[i, t0] = 1
        elif kind is not None:
            labels[i, t0:t0 + anomaly_frames] = 1
    return clips, labels
