"""Segmentation data built from digits: each digit pasted on a textured background, its pixels the mask.

    python -m aekit.data.composites --out runs/seg --n 300     # images/*.png + masks/*.png (digits on brick)

:func:`digit_composites` blends a digit ``d`` (coverage in [0, 1]) onto a background crop ``b`` as
``(1 - d) * b * dim + d * ink``, with ``dim`` (darkening of the texture) and ``ink`` (brightness of the
digit) drawn per image, and labels as digit (class 1) the pixels where ``d > 0.5``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

__all__ = ["digit_composites", "texture_photographs"]

TEXTURES = ("brick", "grass", "gravel")


def texture_photographs(names=TEXTURES) -> dict[str, np.ndarray]:
    """scikit-image's shipped texture photographs (grey, [0, 1] float32), by name."""
    import skimage.data

    return {n: (getattr(skimage.data, n)() / 255.0).astype(np.float32) for n in names}


def digit_composites(digits: np.ndarray, textures: list[np.ndarray], *, size: int = 48, n: int | None = None,
                     dim: tuple[float, float] = (0.4, 0.7), ink: tuple[float, float] = (0.6, 1.0),
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, size, size) float32, masks (n, size, size) uint8): digit i (one per image, cycling
    through ``digits`` (m, h, w) in [0, 1]) at a random position on a random ``size`` x ``size`` crop of a
    random texture (each (H, W) in [0, 1], at least ``size`` a side)."""
    rng = np.random.default_rng(seed)
    digits = np.asarray(digits, np.float32)
    if digits.ndim == 4:
        digits = digits[:, 0]
    m, h, w = digits.shape
    if h > size or w > size:
        raise ValueError(f"digit_composites: {h}x{w} digits do not fit in {size}x{size} images")
    n = m if n is None else n
    images = np.empty((n, size, size), np.float32)
    masks = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        tex = textures[rng.integers(len(textures))]
        if min(tex.shape) < size:
            raise ValueError(f"digit_composites: a {tex.shape} texture is smaller than {size}x{size}")
        top, left = rng.integers(0, tex.shape[0] - size + 1), rng.integers(0, tex.shape[1] - size + 1)
        bg = tex[top:top + size, left:left + size] * rng.uniform(*dim)
        d = np.zeros((size, size), np.float32)
        r, c = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
        d[r:r + h, c:c + w] = digits[i % m]
        images[i] = (1 - d) * bg + d * rng.uniform(*ink)
        masks[i] = d > 0.5
    return images, masks


def main(argv=None) -> int:
    from PIL import Image
    from sklearn.datasets import load_digits

    p = argparse.ArgumentParser(description="write digits-on-texture images and their masks as PNG files")
    p.add_argument("--out", required=True, help="folder; gets images/ and masks/ (mask PNGs: 0 background, 1 digit)")
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--texture", default="brick", choices=TEXTURES)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    digits = load_digits().images / 16.0                                  # (1797, 8, 8)
    big = np.kron(digits, np.ones((2, 2), np.float32))                    # (1797, 16, 16)
    images, masks = digit_composites(big, [texture_photographs([args.texture])[args.texture]], size=24, n=args.n,
                                     seed=args.seed)
    out = Path(args.out)
    for sub in ("images", "masks"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for i, (im, m) in enumerate(zip(images, masks)):
        Image.fromarray((im * 255).round().astype(np.uint8)).save(out / "images" / f"{i:04d}.png")
        Image.fromarray(m).save(out / "masks" / f"{i:04d}.png")
    print(f"wrote {len(images)} images and masks to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
