"""Train the pretrained photo models shipped inside the package (aekit/weights/<name>/, aekit/zoo.py).

    python benchmarks/train_pretrained.py                          # every model, in turn (about an hour on 2 cores)
    python benchmarks/train_pretrained.py --only denoise-photo     # one (or a comma-separated list)
    python benchmarks/train_pretrained.py --only denoise-photo --out /tmp/w --scale-budget 0.05   # a smoke run

Training data: photographs that ship inside installable packages, never a benchmark image (the held-out
photographs of benchmarks/photos.py: astronaut, camera, coins, coffee, chelsea). They and their licences
are listed in :data:`PHOTOS` and in the README ("Pretrained photo models").

Augmentation: each training patch is cut at a random position from the photograph shrunk by a random
factor (1, 0.8, 0.6 or 0.5; anti-aliased), then flipped and rotated by a random multiple of 90 degrees.
Grey models learn from the luma (BT.601) of every photograph and restore colour images channel by channel;
the colour models (colourisation, the codec) learn from the colour photographs only.

Every model trains for a fixed number of epochs on a fixed, seeded set of patches (the corruptions are
drawn anew at every step from the same seed), so a run is reproducible on the same machine and threads;
``max_time`` is only a guard. The budget (patches x epochs) was sized for 8-25 minutes a model on
2 CPU cores (the denoiser, the headline job, gets the most). Writes each model folder under a temporary name, then renames it (an interrupted run leaves
the shipped model intact), and a summary to benchmarks/results/pretrained.md (+ .json).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
HELD_OUT = ("astronaut", "camera", "coins", "coffee", "chelsea")   # benchmarks/photos.py's test photographs

# name -> (package, how it is loaded, licence)
PHOTOS = {
    "brick": ("scikit-image", "skimage.data.brick()", "CC0 (CC0Textures)"),
    "grass": ("scikit-image", "skimage.data.grass()", "CC0 (CC0Textures)"),
    "gravel": ("scikit-image", "skimage.data.gravel()", "CC0 (CC0Textures)"),
    "cell": ("scikit-image", "skimage.data.cell()", "CC0"),
    "text": ("scikit-image", "skimage.data.text()", "public domain"),
    "hubble_deep_field": ("scikit-image", "skimage.data.hubble_deep_field()", "public domain (NASA)"),
    "rocket": ("scikit-image", "skimage.data.rocket()", "public domain (SpaceX)"),
    "retina": ("scikit-image", "skimage.data.retina()", "CC0 1.0"),
    "immunohistochemistry": ("scikit-image", "skimage.data.immunohistochemistry()", "no known copyright restrictions"),
    "china": ("scikit-learn", "sklearn.datasets.load_sample_image('china.jpg')", "CC BY 2.0 (danielbuechele)"),
    "flower": ("scikit-learn", "sklearn.datasets.load_sample_image('flower.jpg')", "CC BY 2.0 (vultilion)"),
    "grace_hopper": ("matplotlib", "matplotlib.cbook.get_sample_data('grace_hopper.jpg')",
                     "public domain (US Navy)"),
}
SCALES = (1.0, 0.8, 0.6, 0.5)


def load_photo(name: str) -> np.ndarray:
    """A training photograph as float32 in [0, 1], (H, W) grey or (H, W, 3) colour."""
    if name in HELD_OUT:
        raise ValueError(f"{name} is a held-out benchmark photograph; it must not be trained on")
    package = PHOTOS[name][0]
    if package == "scikit-image":
        import skimage.data

        arr = getattr(skimage.data, name)()
    elif package == "scikit-learn":
        from sklearn.datasets import load_sample_image

        arr = load_sample_image(f"{name}.jpg")
    else:
        import matplotlib.cbook
        from PIL import Image

        with matplotlib.cbook.get_sample_data(f"{name}.jpg") as f:
            arr = np.asarray(Image.open(f).convert("RGB"))
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., :3]
    return (arr.astype(np.float32) / 255.0).clip(0, 1)


def luma(a: np.ndarray) -> np.ndarray:
    """BT.601 luma of an (H, W, 3) image; grey images unchanged."""
    return a if a.ndim == 2 else (a @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.float32)


def shrink(a: np.ndarray, factor: float) -> np.ndarray:
    from skimage.transform import rescale

    if factor == 1.0:
        return a
    return rescale(a, factor, anti_aliasing=True, channel_axis=2 if a.ndim == 3 else None,
                   preserve_range=True).astype(np.float32)


def training_patches(n: int, size: int, *, colour: bool, seed: int) -> np.ndarray:
    """``n`` augmented patches (n, C, size, size) in [0, 1]: C = 3 from the colour photographs
    (``colour``), else C = 1 from the luma of all of them."""
    rng = np.random.default_rng(seed)
    photos = [load_photo(name) for name in PHOTOS]
    photos = [p for p in photos if p.ndim == 3] if colour else [luma(p) for p in photos]
    pyramid = [[shrink(p, f) for f in SCALES] for p in photos]
    pyramid = [[s for s in levels if min(s.shape[:2]) >= size] for levels in pyramid]
    areas = np.array([levels[0].shape[0] * levels[0].shape[1] for levels in pyramid], float)
    which = rng.choice(len(pyramid), size=n, p=areas / areas.sum())
    out = np.empty((n, 3 if colour else 1, size, size), np.float32)
    for k, i in enumerate(which):
        img = pyramid[i][rng.integers(len(pyramid[i]))]
        top = rng.integers(img.shape[0] - size + 1)
        left = rng.integers(img.shape[1] - size + 1)
        patch = img[top:top + size, left:left + size]
        patch = np.rot90(patch, rng.integers(4), axes=(0, 1))
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        out[k] = patch.transpose(2, 0, 1) if colour else patch[None]
    return out


def _restorer(**params):
    from aekit import Restorer

    return Restorer(tile_size=512, tile_overlap=32, **params)   # large tiles: fewer, faster passes


def _codec(**params):
    from aekit.estimators import ImageCodec

    return ImageCodec(**params)


# name -> (estimator factory, its parameters, patches: (n, side, colour), a held-out check)
SPECS = {
    "denoise-photo": (_restorer, dict(task="denoise", noise_levels=(5 / 255, 50 / 255), latent_dim=128,
                                      model_params={"channels": [32, 64, 128], "residual": True},
                                      epochs=6, batch_size=32, lr=1e-3, max_time=2400),
                      (12000, 64, False)),
    "inpaint-photo": (_restorer, dict(task="inpaint", corruption=["mask:0.5", "mask:0.3", "mask:0.7", "block:32",
                                                                  "block:16"],
                                      latent_dim=128, model_params={"channels": [32, 64], "residual": True},
                                      epochs=6, batch_size=32, lr=1e-3, max_time=900),
                      (5000, 64, False)),
    "super-resolve-x2-photo": (_restorer, dict(task="super-resolve", scale=2, latent_dim=128,
                                               model_params={"channels": [32, 64], "residual": True},
                                               epochs=6, batch_size=32, lr=1e-3, max_time=900),
                               (5000, 64, False)),
    "super-resolve-x4-photo": (_restorer, dict(task="super-resolve", scale=4, latent_dim=128,
                                               model_params={"channels": [32, 64], "residual": True},
                                               epochs=6, batch_size=32, lr=1e-3, max_time=900),
                               (5000, 64, False)),
    "colorize-photo": (_restorer, dict(task="colorize", latent_dim=128,
                                       model_params={"channels": [32, 64], "residual": True},
                                       epochs=6, batch_size=32, lr=1e-3, max_time=600),
                       (3000, 64, True)),
    "codec-photo": (_codec, dict(patch_size=128, epochs=8, batch_size=16, lr=3e-4, max_time=1800),
                    (4000, 128, True)),
}


def train_one(name: str, out_root: Path, *, budget: float, seed: int) -> dict:
    factory, params, (n, size, colour) = SPECS[name]
    params = dict(params, random_state=seed)
    n = max(64, int(n * budget))
    t0 = time.perf_counter()
    X = training_patches(n, size, colour=colour, seed=seed)
    est = factory(**params)
    est.fit(X)
    seconds = time.perf_counter() - t0
    target = out_root / name
    staging = out_root / f".{name}.new"
    shutil.rmtree(staging, ignore_errors=True)
    est.save(staging)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    size_mb = sum(f.stat().st_size for f in target.iterdir()) / 1e6
    record = {"name": name, "estimator": type(est).__name__, "params": {k: v for k, v in params.items()},
              "patches": n, "patch_side": size, "colour": colour, "epochs_run": est.n_iter_,
              "seconds": round(seconds, 1), "megabytes": round(size_mb, 2),
              "final": {k: v for k, v in (est.history_[-1] if est.history_ else {}).items() if isinstance(v, float)}}
    print(json.dumps(record), file=sys.stderr)
    return record


def write_summary(records: dict, path: Path) -> None:
    lines = ["# Pretrained photo models", "",
             "Made by `python benchmarks/train_pretrained.py` (the script's docstring has the details); "
             "evaluated on held-out photographs by `benchmarks/photos.py`.", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} CPUs; torch threads {records.get('_threads')}.", "",
             "| model | estimator | patches (side) | epochs | seconds | MB |", "|---|---|---:|---:|---:|---:|"]
    for name in SPECS:
        r = records.get(name)
        if r:
            lines.append(f"| {name} | {r['estimator']} | {r['patches']} ({r['patch_side']}) | {r['epochs_run']} | "
                         f"{r['seconds']:.0f} | {r['megabytes']:.2f} |")
    lines += ["", "Training photographs (never a held-out one: " + ", ".join(HELD_OUT) + "):", "",
              "| photograph | package | licence |", "|---|---|---|"]
    lines += [f"| {k} | {p} (`{how}`) | {lic} |" for k, (p, how, lic) in PHOTOS.items()]
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help=f"comma-separated model names (default: all of {', '.join(SPECS)})")
    ap.add_argument("--out", default=str(ROOT / "aekit" / "weights"), help="folder of the model folders")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale-budget", type=float, default=1.0, help="fraction of the patches (smoke runs)")
    args = ap.parse_args(argv)
    names = args.only.split(",") if args.only else list(SPECS)
    unknown = [n for n in names if n not in SPECS]
    if unknown:
        ap.error(f"unknown model(s) {unknown}; choose from {list(SPECS)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = RESULTS / "pretrained.json"
    records = json.loads(summary.read_text()) if summary.exists() and args.scale_budget == 1.0 else {}
    records["_threads"] = torch.get_num_threads()
    for name in names:
        records[name] = train_one(name, out, budget=args.scale_budget, seed=args.seed)
        if args.scale_budget == 1.0:
            summary.write_text(json.dumps(records, indent=2, default=str))
            write_summary(records, RESULTS / "pretrained.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
