"""The family of estimators of images of any size (:class:`~aekit.Restorer`, :class:`~aekit.Segmenter`,
:class:`~aekit.ImageCodec`): their base :class:`ImageEstimator`, and what they share.

- Images of any size in any common layout: a batch ``(n, H, W)``, ``(n, C, H, W)``, ``(n, H, W, C)``, a
  list of single images ``(H, W)``, ``(C, H, W)`` or ``(H, W, C)`` of different sizes, or a table
  ``(n, d)`` whose rows are read as flat 1 x d grey images (so scikit-learn's checks apply). Outputs come
  back in the caller's layout.
- One value range for all images (:func:`range_rule`, also the fixed-shape family's rule for images):
  the fitted ``value_range_`` maps raw values to [0, 1], the units the networks work in.
- Random training patches cut from images of any size.
- Whole images of any size processed by a fully convolutional network in overlapping tiles whose outputs
  are blended with a linear-ramp (trapezoid) window and normalised by the summed weights, so tile borders
  leave no seams and a model trained on small patches runs on large photographs (the overlap-tile
  strategy of Ronneberger et al., "U-Net", MICCAI 2015, with weighted blending instead of cropping).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.utils.validation import check_array

from aekit.estimators._core import Estimator
from aekit.estimators._state import INT, RANGE, optional
from aekit.validation import Integer, check_params

ARRAY_LAYOUTS = ("table", "nhw", "nchw", "nhwc")


@dataclass
class Images:
    """Images as a list of float32 (C, H, W) arrays, and how to give results back in the caller's layout."""

    items: list[np.ndarray]
    layout: str                      # one of ARRAY_LAYOUTS, or "list"
    item_layouts: list[str]          # per image for "list": "hw", "chw" or "hwc"

    def back(self, outputs: list[np.ndarray]) -> np.ndarray | list[np.ndarray]:
        """(C, H, W) or (H, W) outputs (class maps) in the layout the images came in."""
        if self.layout == "list":
            return [_item_back(o, lay) for o, lay in zip(outputs, self.item_layouts)]
        shapes = {o.shape for o in outputs}
        if len(shapes) != 1:
            return [_item_back(o, "chw" if self.layout == "nchw" else "hwc") for o in outputs]
        stack = np.stack(outputs)
        if stack.ndim == 3:                                  # class maps (n, H, W)
            return stack.reshape(len(stack), -1) if self.layout == "table" else stack
        if self.layout == "table":
            return stack.reshape(len(stack), -1)
        if self.layout == "nhw" and stack.shape[1] == 1:
            return stack[:, 0]
        if self.layout == "nhwc":
            return stack.transpose(0, 2, 3, 1)
        if self.layout == "nhw":                             # grey in, colour out (colourisation)
            return stack.transpose(0, 2, 3, 1)
        return stack


def _item_back(o: np.ndarray, layout: str) -> np.ndarray:
    if o.ndim == 2:
        return o
    if layout == "hw":
        return o[0] if o.shape[0] == 1 else o.transpose(1, 2, 0)
    return o if layout == "chw" else o.transpose(1, 2, 0)


def _item_layout(a: np.ndarray) -> str:
    if a.ndim == 2:
        return "hw"
    return "chw" if a.shape[0] in (1, 3) and a.shape[2] not in (1, 3) else "hwc"


def read_images(X, *, name: str = "X") -> Images:
    """Check ``X`` (see the module docstring) and return its images as float32 (C, H, W) arrays.

    NaN, inf, complex, sparse and empty inputs raise scikit-learn's errors.
    """
    if isinstance(X, (list, tuple)) and len(X) and all(hasattr(a, "shape") or isinstance(a, (list, tuple))
                                                       for a in X):
        arrays = [np.asarray(a) for a in X]
        if any(a.ndim not in (2, 3) for a in arrays):
            raise ValueError(f"{name}: a list must hold single images shaped (H, W), (C, H, W) or (H, W, C); got "
                             f"shapes {[a.shape for a in arrays][:5]}")
        if len({a.shape for a in arrays}) > 1 or arrays[0].ndim == 3:
            items, layouts = [], []
            for a in arrays:
                a = check_array(a, allow_nd=True, dtype=[np.float32, np.float64], input_name=name)
                lay = _item_layout(a)
                layouts.append(lay)
                items.append(np.ascontiguousarray((a[None] if lay == "hw" else a if lay == "chw"
                                                   else a.transpose(2, 0, 1)).astype(np.float32)))
            return Images(items, "list", layouts)
    X = check_array(X, allow_nd=True, dtype=[np.float32, np.float64], input_name=name)
    if X.ndim > 4:
        raise ValueError(f"{name} has shape {X.shape}; expected a table (n, d), images (n, H, W), (n, C, H, W), "
                         f"(n, H, W, C), or a list of single images")
    X = X.astype(np.float32, copy=False)
    if X.ndim == 2:
        layout, arr = "table", X[:, None, None, :]          # (n, 1, 1, d): each row a flat grey image
    elif X.ndim == 3:
        layout, arr = "nhw", X[:, None]
    elif X.shape[1] not in (1, 2, 3, 4) and X.shape[3] in (1, 3, 4):
        layout, arr = "nhwc", X.transpose(0, 3, 1, 2)
    else:
        layout, arr = "nchw", X
    return Images([np.ascontiguousarray(a) for a in arr], layout, [])


def read_class_maps(y, images: Images, *, name: str = "y") -> list[np.ndarray]:
    """Per-pixel class labels for each image: (H, W) arrays; a (n,) vector gives every pixel of image i
    the class y[i] (how a table's labels read)."""
    n = len(images.items)
    if isinstance(y, (list, tuple)) and len(y) and hasattr(y[0], "shape") and np.ndim(y[0]) >= 1:
        maps = [np.asarray(m) for m in y]
    else:
        y = np.asarray(y)
        if y.ndim == 1 or (y.ndim == 2 and images.layout == "table" and y.shape[1] == 1):
            y = y.reshape(-1)
            if len(y) != n:
                raise ValueError(f"{name} has {len(y)} labels for {n} images")
            maps = [np.full(im.shape[1:], v, dtype=y.dtype) for v, im in zip(y, images.items)]
        elif images.layout == "table":
            maps = [row.reshape(1, -1) for row in y]
        elif y.ndim == 4 and y.shape[1] == 1:
            maps = list(y[:, 0])
        elif y.ndim == 4 and y.shape[3] == 1:
            maps = list(y[..., 0])
        else:
            maps = list(y)
    if len(maps) != n:
        raise ValueError(f"{name} has {len(maps)} class maps for {n} images")
    for i, (m, im) in enumerate(zip(maps, images.items)):
        if m.ndim == 3 and 1 in (m.shape[0], m.shape[-1]):
            m = m.reshape(im.shape[1:]) if m.size == im.shape[1] * im.shape[2] else m
            maps[i] = m
        if m.shape != im.shape[1:]:
            raise ValueError(f"{name}: class map {i} has shape {m.shape}, but its image is {im.shape[1]}x"
                             f"{im.shape[2]}; expected one class label per pixel")
        if m.dtype.kind == "f" and not np.all(np.isfinite(m)):
            raise ValueError(f"{name}: class map {i} contains NaN or infinity")
    return maps


# ------------------------------------------------------------------------------------------ value range
def range_rule(lo: float, hi: float, whole_numbers: bool) -> tuple[float, float]:
    """The raw range mapped to [0, 1] for images whose values span ``lo``..``hi`` (the one rule for images,
    whatever their family): (0, 1) for data in [0, 1]; (0, 255) for whole numbers up to 255 above 128
    (8-bit images); (0, max) for other non-negative data (scikit-learn's digits: 0..16); else the data's own
    (min, max). ``whole_numbers``: whether every value is a whole number (only asked for 128 < max <= 255)."""
    if lo >= 0 and hi <= 1:
        return 0.0, 1.0
    if lo >= 0 and 128 < hi <= 255 and whole_numbers:
        return 0.0, 255.0
    if lo >= 0:
        return 0.0, hi
    return lo, hi if hi > lo else lo + 1.0


def is_8bit_candidate(lo: float, hi: float) -> bool:
    """Whether :func:`range_rule` needs to know if the values are whole numbers."""
    return lo >= 0 and 128 < hi <= 255


def value_range(items: list[np.ndarray]) -> tuple[float, float]:
    """:func:`range_rule` for the values of ``items`` (arrays of any shapes)."""
    lo = min(float(a.min()) for a in items)
    hi = max(float(a.max()) for a in items)
    return range_rule(lo, hi, is_8bit_candidate(lo, hi) and all(np.array_equal(a, np.round(a)) for a in items))


class ImageEstimator(Estimator):
    """Base of the estimators of images of any size, in any common layout (see the module docstring).

    Fitted state shared by the family: ``n_channels_`` (channels of the training images), ``value_range_``
    (the raw range mapped to [0, 1], :func:`range_rule`), ``history_``, ``n_iter_`` and, for array inputs,
    ``n_features_in_``; a subclass declares the rest on top of :attr:`ImageEstimator._fitted`. Raw units
    <-> [0, 1] go through :meth:`_unit` and :meth:`_raw`.
    """

    _family_base = True
    _fitted = {"n_channels_": INT, "value_range_": RANGE, **Estimator._fitted, "n_features_in_": optional(INT)}

    def _unit(self, a: np.ndarray) -> np.ndarray:
        lo, hi = self.value_range_
        return np.clip((a - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)

    def _raw(self, a: np.ndarray) -> np.ndarray:
        lo, hi = self.value_range_
        return (a * (hi - lo) + lo).astype(np.float32)


# ------------------------------------------------------------------------------------------ patches
def pad_to(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """Mirror-pad the last two axes of ``a`` up to at least h x w (bottom / right)."""
    ph, pw = max(0, h - a.shape[-2]), max(0, w - a.shape[-1])
    if not ph and not pw:
        return a
    return np.pad(a, [(0, 0)] * (a.ndim - 2) + [(0, ph), (0, pw)], mode="symmetric")


def training_samples(items: list[np.ndarray], *, patch_size: int | None, n_patches: int, factor: int, seed: int,
                     maps: list[np.ndarray] | None = None, max_whole: int = 64):
    """Training arrays (N, C, P, P) (and (N, P, P) class maps): the whole images when they all share one
    size of at most ``max_whole`` pixels a side and no ``patch_size`` is asked (mirror-padded to a
    multiple of ``factor``) or exactly ``patch_size`` a side (patches cut beforehand), else ``n_patches``
    random patches of ``patch_size`` (rounded up to a multiple of ``factor``) cut from the images, each
    image's share proportional to its area."""
    same = len({a.shape for a in items}) == 1
    if same and ((patch_size is None and max(items[0].shape[1:]) <= max_whole)
                 or (patch_size is not None and items[0].shape[1:] == (patch_size, patch_size))):
        h, w = (int(math.ceil(s / factor) * factor) for s in items[0].shape[1:])
        x = np.stack([pad_to(a, h, w) for a in items])
        y = None if maps is None else np.stack([pad_to(m, h, w) for m in maps])
        return x, y
    p = int(math.ceil((patch_size or 48) / factor) * factor)
    rng = np.random.default_rng(seed)
    areas = np.array([a.shape[1] * a.shape[2] for a in items], float)
    which = rng.choice(len(items), size=n_patches, p=areas / areas.sum())
    xs, ys = [], []
    for i in which:
        a = pad_to(items[i], p, p)
        top = rng.integers(0, a.shape[1] - p + 1)
        left = rng.integers(0, a.shape[2] - p + 1)
        xs.append(a[:, top:top + p, left:left + p])
        if maps is not None:
            ys.append(pad_to(maps[i], p, p)[top:top + p, left:left + p])
    return np.stack(xs), (None if maps is None else np.stack(ys))


# ------------------------------------------------------------------------------------------ tiles
def ramp_window(size: int, overlap: int) -> np.ndarray:
    """1-D trapezoid: rises linearly over ``overlap`` pixels at each end, 1 in between, never 0."""
    i = np.arange(size, dtype=np.float64)
    if overlap <= 0:
        return np.ones(size)
    return np.clip(np.minimum(i + 0.5, size - i - 0.5) / overlap, 0.0, 1.0)


def tile_starts(length: int, tile: int, stride: int) -> list[int]:
    """Tile offsets covering [0, length): every ``stride`` pixels, the last one flush with the end."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


TILING_CONSTRAINTS = {"tile_size": Integer(1), "tile_overlap": Integer(0)}  # the tiling parameters' ranges


def check_tiling(tile_size, tile_overlap, factor: int, owner: str) -> tuple[int, int]:
    """The tile side (rounded down to a multiple of ``factor``, at least ``factor``) and overlap; checked
    here too because they may change after fitting (``set_params``)."""
    check_params(owner, {"tile_size": tile_size, "tile_overlap": tile_overlap}, TILING_CONSTRAINTS)
    tile = max(factor, int(tile_size) // factor * factor)
    if 2 * tile_overlap >= tile:
        raise ValueError(f"{owner}: tile_overlap={tile_overlap} must be less than half of tile_size={tile}")
    return tile, int(tile_overlap)


@torch.no_grad()
def tiled_apply(fn, image: np.ndarray, *, tile: int, overlap: int, factor: int, batch_size: int = 8) -> np.ndarray:
    """Apply ``fn`` ((B, C, h, w) tensor -> (B, K, h, w) tensor) to one (C, H, W) image of any size.

    An image that fits in one tile runs whole (mirror-padded to a multiple of ``factor``). A larger one
    is cut into ``tile`` x ``tile`` tiles overlapping by at least ``overlap`` pixels; each output tile is
    weighted by the outer product of two :func:`ramp_window` s and the sum is divided by the summed
    weights, so every output pixel is a convex combination of the tiles covering it (an identity ``fn``
    gives the image back exactly, up to float rounding). Returns (K, H, W).
    """
    c, h, w = image.shape
    if h <= tile and w <= tile:
        hp, wp = (int(math.ceil(s / factor) * factor) for s in (h, w))
        x = torch.from_numpy(np.ascontiguousarray(pad_to(image, hp, wp)))[None]
        return fn(x)[0, :, :h, :w].float().numpy()
    img = pad_to(image, max(h, tile), max(w, tile))  # (C, H', W'), at least one tile each way
    hh, ww = img.shape[1:]
    stride = tile - overlap
    win = ramp_window(tile, overlap)
    win2 = torch.from_numpy(np.outer(win, win).astype(np.float32))   # (tile, tile)
    corners = [(t, left) for t in tile_starts(hh, tile, stride) for left in tile_starts(ww, tile, stride)]
    acc = weight = None
    src = torch.from_numpy(np.ascontiguousarray(img))
    for i in range(0, len(corners), batch_size):
        part = corners[i:i + batch_size]
        xb = torch.stack([src[:, t:t + tile, left:left + tile] for t, left in part])  # (B, C, tile, tile)
        out = fn(xb).float()                                                # (B, K, tile, tile)
        if acc is None:
            acc = torch.zeros(out.shape[1], hh, ww)
            weight = torch.zeros(hh, ww)
        for (t, left), o in zip(part, out):
            acc[:, t:t + tile, left:left + tile] += o * win2
            weight[t:t + tile, left:left + tile] += win2
    return (acc / weight)[:, :h, :w].numpy()


# ------------------------------------------------------------------------------------------ models
def model_factor(model) -> int:
    """What a fully convolutional model needs image sides to divide by: its ``size_factor`` when it declares
    one (a pixel-unshuffling stack), else 2 ** (number of poolings) of a U-Net."""
    if getattr(model, "size_factor", None) is not None:
        return int(model.size_factor)
    levels = getattr(getattr(model, "encoder", None), "levels", None)
    return 2 ** len(levels) if levels is not None else 1
