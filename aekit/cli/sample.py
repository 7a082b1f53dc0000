"""``aekit sample``: draw new samples from a saved Generator and write them as an image grid (and .npy).

    aekit fit generator --data digits --param epochs=20 --out runs/digits-gen
    aekit sample --model runs/digits-gen --n 64 --out runs/digits-samples.png
"""
from __future__ import annotations

import argparse
import sys

from aekit.cli.common import CLIError, save_npy


def add_parser(sub) -> None:
    p = sub.add_parser("sample", help="draw samples from a generator saved by `aekit fit generator`; "
                       "writes a PNG grid")
    p.add_argument("--model", required=True, help="folder written by `aekit fit generator`")
    p.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("--cols", type=int, default=8, help="images per row of the grid (default 8)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", required=True, help="output .png grid")
    p.add_argument("--npy", help="also write the raw samples to this .npy file")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from aekit.artifacts import load
    from aekit.estimators import Generator
    from aekit.fileio import atomic_write_bytes
    from aekit.report import tile_images

    if not args.out.lower().endswith(".png"):
        raise CLIError(f"--out {args.out}: expected a .png file name")
    gen = load(args.model)
    if not isinstance(gen, Generator):
        raise CLIError(f"{args.model} holds a {type(gen).__name__}; `aekit sample` needs a Generator "
                       "(aekit fit generator ...)")
    if gen.layout_.kind != "image":
        raise CLIError(f"{args.model} generates table rows of shape {gen.sample_shape_}, not images, so there "
                       "is no image grid to write")
    samples = gen.sample(args.n, random_state=args.seed)                  # the training data's layout
    images = samples.transpose(0, 3, 1, 2) if gen.channels_last_ else samples  # (N, H, W) or (N, C, H, W)
    scaler = gen.autoencoder_.scaler
    lo, hi = scaler.value_range if scaler is not None and scaler.value_range else (0.0, 1.0)
    grid = tile_images(np.clip((images - lo) / (hi - lo), 0, 1), ncols=args.cols)
    from PIL import Image

    atomic_write_bytes(args.out, lambda f: Image.fromarray(grid).save(f, format="PNG"))
    if args.npy:
        save_npy(args.npy, samples)
    print(f"wrote {args.n} samples to {args.out}", file=sys.stderr)
    return 0
