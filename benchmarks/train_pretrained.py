"""Train the pretrained photo models shipped inside the package (aekit/weights/<name>/, aekit/zoo.py), over as
many runs of this script as it takes: each model's training resumes where the last run stopped.

    python benchmarks/train_pretrained.py                          # every model, in turn (hours: run it again
                                                                   # after an interruption, it goes on)
    python benchmarks/train_pretrained.py --only denoise-photo     # one (or a comma-separated list)
    python benchmarks/train_pretrained.py --report                 # write pretrained.md from the checkpoints now
    python benchmarks/train_pretrained.py --peek --only denoise-photo   # the model as it stands, to try it
    python benchmarks/train_pretrained.py --only denoise-photo --smoke --out /tmp/w --checkpoint-dir /tmp/c

Long training, resumed: each model trains inside ``aekit.training.resumable_fits`` with its resume state in
``<checkpoint-dir>/<model>/trainer/`` (default checkpoint dir: ``photo-train/`` beside the checkout, outside
git; ``--checkpoint-dir`` or ``AEKIT_PHOTO_TRAIN_DIR`` to move it), written every ``CHECKPOINT_STEPS`` steps and
after every epoch. A run killed at any point (a session that ends, a reboot) loses at most those steps; the next
run of the same command rebuilds the same training patches (seeded) and goes on from the checkpoint with the
same schedule. A model whose training finished is only evaluated again. Progress (per epoch: steps, hours,
validation loss and PSNR) is appended to ``<checkpoint-dir>/<model>/progress.jsonl`` as it goes.

Shipping: a finished model is compared with the shipped one (aekit/weights/<name>/) on the validation
photographs (:data:`VALIDATION`: every 20th image of train400, never trained on) with the task's own measure
(:func:`validation_score`), and replaces it only when it is better. Results: benchmarks/results/pretrained.md
(+ .json): per model the steps, hours, the validation curve and the decision.

Training data: the 400 images of ``train400`` (Zhang et al.'s DnCNN training set, from the Berkeley
Segmentation Dataset; the shared data folder's ``photos/train400``) less the validation ones, plus the
photographs that ship inside installable packages (:data:`PHOTOS`), never a benchmark image (the held-out
photographs of benchmarks/photos.py: astronaut, camera, coins, coffee, chelsea; nor set12, set5, set14).
Grey models learn from train400 and the luma (BT.601) of the package photographs and restore colour images
channel by channel; the codec learns from the colour package photographs and train400 (as three equal channels).

Augmentation: each training patch is cut at a random position from the photograph shrunk by a random
factor (1, 0.8, 0.6 or 0.5; anti-aliased), then flipped and rotated by a random multiple of 90 degrees; the
corruptions are drawn anew at every step (seeded by step, so a resumed run draws the same ones).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
HELD_OUT = ("astronaut", "camera", "coins", "coffee", "chelsea")   # benchmarks/photos.py's test photographs
CHECKPOINT_STEPS = 50          # resume state written every this many steps (and after every epoch)

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
VALIDATION_EVERY = 20          # train400 images 0, 20, 40, ... are the validation photographs, never trained on


def data_dir() -> Path:
    """The shared data folder: ``AEKIT_DATA_DIR``, else ``shared/data`` beside the checkout."""
    return Path(os.environ.get("AEKIT_DATA_DIR") or ROOT.parent / "shared" / "data")


def default_checkpoint_dir() -> Path:
    return Path(os.environ.get("AEKIT_PHOTO_TRAIN_DIR") or ROOT.parent / "photo-train")


def read_png(path: Path) -> np.ndarray:
    from PIL import Image

    return (np.asarray(Image.open(path)).astype(np.float32) / 255.0).clip(0, 1)


def train400(*, validation: bool, limit: int | None = None) -> list[np.ndarray]:
    """train400's grey images (H, W) in [0, 1]: the training ones, or (``validation``) every 20th (of the first
    ``limit`` files: smoke runs). Empty (with a note) when the shared data is absent: the package photographs
    then train alone."""
    folder = data_dir() / "photos" / "train400"
    files = sorted(folder.glob("*.png"))[:limit]
    if not files:
        print(f"note: no train400 in {folder}; training on the package photographs only", file=sys.stderr)
    return [read_png(f) for i, f in enumerate(files) if (i % VALIDATION_EVERY == 0) == validation]


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


def training_photos(colour: bool, limit: int | None = None) -> list[np.ndarray]:
    """The photographs a model learns from: the colour package photographs and train400's training images as
    three equal channels (``colour``), else the luma of every package photograph and train400's training images
    (``limit``: a few photographs, for smoke runs)."""
    photos = [load_photo(name) for name in list(PHOTOS)[:limit]]
    grey = train400(validation=False, limit=limit and 10 * limit)
    if colour:
        return [p for p in photos if p.ndim == 3] + [np.repeat(g[..., None], 3, axis=2) for g in grey]
    return [luma(p) for p in photos] + grey


def training_patches(n: int, size: int, *, colour: bool, seed: int, limit: int | None = None) -> np.ndarray:
    """``n`` augmented patches (n, C, size, size) in [0, 1] (see the module docstring), each photograph's
    share proportional to its area; the same ``seed`` gives the same patches (a resumed run needs them)."""
    rng = np.random.default_rng(seed)
    photos = training_photos(colour, limit)
    pyramid = [[shrink(p, f) for f in SCALES] for p in photos]
    pyramid = [[s for s in levels if min(s.shape[:2]) >= size] for levels in pyramid]
    pyramid = [levels for levels in pyramid if levels]
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


# ------------------------------------------------------------------------------------------ validation
def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    err = (np.asarray(a, np.float64) - b) ** 2
    mse = float(err[mask].mean() if mask is not None else err.mean())
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def validation_score(name: str, est, images: list[np.ndarray]) -> float:
    """The task's measure on the validation photographs (mean PSNR in dB; higher is better): denoising at
    sigma 15, 25 and 50 (given); super-resolution on the whole image less a border of ``scale`` pixels;
    inpainting on the missing pixels of 50 % random pixels and of one 32x32 and one 64x64 hole; the codec's
    mean PSNR over its quality levels at the rates it reaches (see :func:`codec_score`)."""
    from aekit.corruption import bicubic_resize

    import torch

    rng = np.random.default_rng(0)
    scores = []
    if name == "codec-photo":
        return codec_score(est, images)
    for i, img in enumerate(images):
        if name == "denoise-photo":
            for sigma in (15, 25, 50):
                noisy = (img + np.random.default_rng(1000 * i + sigma).normal(0, sigma / 255, img.shape)).clip(0, 1)
                scores.append(psnr(est.predict([noisy.astype(np.float32)], sigma=sigma / 255)[0], img))
        elif name.startswith("super-resolve"):
            s = int(est.scale)
            hr = img[:img.shape[0] // s * s, :img.shape[1] // s * s]
            lr = bicubic_resize(torch.from_numpy(hr)[None, None], (hr.shape[0] // s, hr.shape[1] // s))[0, 0].numpy()
            out = est.predict([lr])[0]
            scores.append(psnr(out[s:-s, s:-s], hr[s:-s, s:-s]))
        elif name == "inpaint-photo":
            h, w = img.shape
            masks = [rng.random((h, w)) < 0.5]
            for side in (32, 64):
                m = np.zeros((h, w), bool)
                top, left = rng.integers(0, h - side), rng.integers(0, w - side)
                m[top:top + side, left:left + side] = True
                masks.append(m)
            for m in masks:
                scores.append(psnr(est.predict([np.where(m, 0, img).astype(np.float32)], masks=[m])[0], img, m))
    return float(np.mean(scores))


def codec_score(est, images: list[np.ndarray]) -> float:
    """A codec's validation measure: the mean, over the grey validation photographs given as colour, of the
    PSNR it reaches at each quality level minus JPEG's PSNR at the same rate (interpolated in bits per
    pixel on JPEG's curve): above 0 where it beats JPEG."""
    import io

    from PIL import Image

    diffs = []
    for img in images[:6]:
        rgb = np.repeat(img[..., None], 3, axis=2)
        u8 = (rgb * 255).round().astype(np.uint8)
        pixels = img.shape[0] * img.shape[1]
        jpeg = []
        for q in range(5, 100, 5):
            buf = io.BytesIO()
            Image.fromarray(u8).save(buf, format="JPEG", quality=q)
            rec = np.asarray(Image.open(io.BytesIO(buf.getvalue()))).astype(np.float32) / 255
            jpeg.append((8 * len(buf.getvalue()) / pixels, psnr(rec, rgb)))
        rates, quals = np.array(jpeg).T
        for q in range(est.n_qualities_):
            stream = est.compress([rgb], quality=q)[0]
            rec = est.decompress([stream])[0]
            bpp = 8 * len(stream) / pixels
            diffs.append(psnr(rec, rgb) - float(np.interp(bpp, rates, quals)))
    return float(np.mean(diffs))


# ------------------------------------------------------------------------------------------ the models
def _restorer(**params):
    from aekit import Restorer

    return Restorer(tile_size=512, tile_overlap=32, **params)   # large tiles: fewer, faster passes


def _codec(**params):
    from aekit.estimators import ImageCodec

    return ImageCodec(**params)


@dataclass
class Spec:
    """One model's recipe: its estimator, its parameters, and its training patches (n, side, colour); an
    epoch is one pass over the patches (one point of the validation curve)."""

    factory: object
    params: dict
    patches: tuple[int, int, bool]
    smoke: dict = field(default_factory=dict)   # parameters of a --smoke run (seconds)


# FFDNet / VDSR-like stacks on 2x2 (4x4 for holes) pixel-unshuffled images: a wide receptive field for
# few operations per pixel (aekit/models/residual_cnn.py); DnCNN's residual learning, Adam with a cosine
# schedule over the whole budget. The budgets are hours of 2 CPU cores, spread over several runs.
CODEC_LAMBDAS = (0.0009, 0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.0483)   # Ballé et al.'s, and one lower level
_STACK = {"model": "residual-cnn", "latent_dim": 64, "batch_size": 32, "lr": 1e-3, "max_time": None,
          "validation_fraction": 0.05}
SPECS = {
    "denoise-photo": Spec(_restorer, dict(_STACK, task="denoise", noise_levels=(5 / 255, 50 / 255), epochs=50,
                                          model_params={"depth": 15, "shuffle": 2}), (8000, 48, False)),
    "super-resolve-x2-photo": Spec(_restorer, dict(_STACK, task="super-resolve", scale=2, epochs=16,
                                                   model_params={"depth": 15, "shuffle": 2}), (8000, 48, False)),
    "super-resolve-x4-photo": Spec(_restorer, dict(_STACK, task="super-resolve", scale=4, epochs=16,
                                                   model_params={"depth": 15, "shuffle": 2}), (8000, 48, False)),
    # the denoiser's stack (shuffle 2: at shuffle 4 a position's 64 channels carry 16 pixels, too few for the
    # detail between scattered missing pixels; 27.85 dB against biharmonic's 28.06 on set12 at 50 %)
    "inpaint-photo": Spec(_restorer, dict(_STACK, task="inpaint", epochs=10, patch_size=64,
                                          corruption=["mask:0.5", "mask:0.3", "mask:0.7", "mask:0.5", "block:32",
                                                      "block:16"],
                                          model_params={"depth": 15, "shuffle": 2}), (6000, 64, False)),
    # the block transform coder (aekit/models/block_coding.py): the KLT of the training blocks, then rate-distortion
    # training of its steps and post-filter; seven levels from about 0.15 to 1.5 bits per pixel on photographs
    "codec-photo": Spec(_codec, dict(model="block-transform-coding", patch_size=64, epochs=30, batch_size=16, lr=3e-4,
                                     lambdas=CODEC_LAMBDAS, max_time=None), (8000, 64, True)),
}
SMOKE = {"epochs": 1, "latent_dim": 8}
SMOKE_PHOTOS = 4               # --smoke: the first 4 package photographs and the first 40 files of train400


def train_one(name: str, out_root: Path, ckpt_root: Path, *, seed: int, smoke: bool) -> dict:
    """Train (or go on training) one model, then ship it when it beats the shipped one on validation."""
    from aekit.training import resumable_fits

    spec = SPECS[name]
    params = dict(spec.params, random_state=seed)
    n, size, colour = spec.patches
    if smoke:
        n, params = 96, dict(params, **SMOKE, **({"model_params": {"depth": 3, "shuffle": 2}}
                                                   if params.get("model") == "residual-cnn" else {}))
    ckpt = ckpt_root / name
    ckpt.mkdir(parents=True, exist_ok=True)
    limit = SMOKE_PHOTOS if smoke else None
    X = training_patches(n, size, colour=colour, seed=seed, limit=limit)
    est = spec.factory(**params)
    steps_per_epoch = int(np.ceil(round(len(X) * (1 - params.get("validation_fraction", 0.1)))
                                  / params.get("batch_size", 32)))
    t0 = time.perf_counter()

    def log(epoch: int, logs: dict) -> None:   # one line per epoch, as it goes (the validation curve)
        if "val_loss" not in logs or "epoch" not in logs:
            return
        row = {"epoch": epoch, "steps": epoch * steps_per_epoch, "hours": round(logs["time"] / 3600, 3),
               "val_loss": logs["val_loss"], "at": time.strftime("%Y-%m-%d %H:%M:%S")}
        with open(ckpt / "progress.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{name}: {json.dumps(row)}", file=sys.stderr, flush=True)

    with resumable_fits(ckpt / "trainer", every_steps=CHECKPOINT_STEPS, callbacks=[log]):
        est.fit(X)
    seconds_here = time.perf_counter() - t0
    state = checkpoint_summary(ckpt)
    images = validation_images(colour, limit)
    new = validation_score(name, est, images)
    shipped = None
    try:
        import aekit

        shipped = validation_score(name, aekit.load(out_root / name), images) if (out_root / name).is_dir() else None
    except Exception as exc:   # a shipped model of an older format: the new one replaces it
        print(f"{name}: the shipped model could not be scored ({exc}); it is replaced", file=sys.stderr)
    finished = bool(state.get("finished"))
    ship = finished and (shipped is None or new > shipped)
    if ship:
        staging = out_root / f".{name}.new"
        shutil.rmtree(staging, ignore_errors=True)
        est.save(staging)
        if (out_root / name).exists():
            shutil.rmtree(out_root / name)
        staging.rename(out_root / name)
    size_mb = sum(f.stat().st_size for f in (out_root / name).iterdir()) / 1e6 if (out_root / name).is_dir() else 0
    record = {"name": name, "estimator": type(est).__name__, "params": params, "patches": n, "patch_side": size,
              "colour": colour, "epochs_run": est.n_iter_, "steps": state.get("step"),
              "hours": round(state.get("elapsed", 0.0) / 3600, 2), "seconds_this_run": round(seconds_here, 1),
              "finished": finished, "validation_psnr": round(new, 3),
              "shipped_validation_psnr": None if shipped is None else round(shipped, 3), "shipped_now": ship,
              "megabytes": round(size_mb, 2), "curve": curve(est.history_, steps_per_epoch)}
    print(json.dumps({k: v for k, v in record.items() if k != "curve"}, default=str), file=sys.stderr)
    return record


def peek(name: str, ckpt_root: Path, *, seed: int) -> Path:
    """The model as it stands in its checkpoint (its best epoch so far), without stopping a training that is
    running: its fit resumed from a copy of the checkpoint with ``epochs`` set to the epochs done, which ends at
    once and keeps the best weights. Saved to ``<checkpoint-dir>/<model>/peek/``; prints its validation score."""
    from aekit.training import resumable_fits

    spec, ckpt = SPECS[name], ckpt_root / name
    done = checkpoint_summary(ckpt).get("epoch") or 0
    if done < 1:
        raise SystemExit(f"{name}: no finished epoch in {ckpt} yet; nothing to peek at")
    copy = ckpt / ".peek-trainer"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(ckpt / "trainer", copy)
    n, size, colour = spec.patches
    est = spec.factory(**dict(spec.params, random_state=seed, epochs=done))
    with resumable_fits(copy):
        est.fit(training_patches(n, size, colour=colour, seed=seed))
    shutil.rmtree(copy)
    shutil.rmtree(ckpt / "peek", ignore_errors=True)
    est.save(ckpt / "peek")
    print(f"{name}: epoch {done}, validation {validation_score(name, est, validation_images(colour)):.3f} dB; "
          f"saved to {ckpt / 'peek'}")
    return ckpt / "peek"


def validation_images(colour: bool, limit: int | None = None) -> list[np.ndarray]:
    """The validation photographs (grey; the codec is given them as colour)."""
    return train400(validation=True, limit=limit and 10 * limit)


def curve(history: list[dict], steps_per_epoch: int) -> list[dict]:
    """The validation curve: per epoch the steps, hours and validation loss (and its PSNR for an MSE loss)."""
    rows = []
    for h in history:
        if "val_loss" in h:
            rows.append({"epoch": h["epoch"], "steps": h["epoch"] * steps_per_epoch,
                         "hours": round(h["time"] / 3600, 3), "val_loss": h["val_loss"],
                         "val_recon_psnr": (round(10 * np.log10(1 / h["val_recon"]), 2)
                                            if h.get("val_recon", 0) > 0 else None)})
    return rows


def checkpoint_summary(ckpt: Path) -> dict:
    """Steps, seconds, epochs and whether it finished, from a model's resume state (empty when none)."""
    state_file = ckpt / "trainer" / "state.json"
    if not state_file.exists():
        return {}
    from aekit.training.checkpoint import load_checkpoint

    state = load_checkpoint(ckpt / "trainer")
    return {k: state.get(k) for k in ("step", "epoch", "elapsed", "finished", "best_epoch", "best_loss")}


def progress_rows(ckpt: Path) -> list[dict]:
    path = ckpt / "progress.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def write_summary(records: dict, path: Path, ckpt_root: Path, legacy: dict | None = None) -> None:
    lines = ["# Pretrained photo models", "",
             "Made by `python benchmarks/train_pretrained.py` (the script's docstring has the details; it resumes "
             "each model's training where the last run stopped); evaluated on the standard test sets and on "
             "held-out photographs by `benchmarks/photos.py`.", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, shared with other jobs (the training runs "
             f"at low priority, so hours are wall-clock hours of a loaded machine).", "",
             "Validation: the task's PSNR on every 20th image of train400 (never trained on); a model is shipped "
             "when its training finished and it beats the shipped one there.", "",
             "| model | estimator | net | patches (side) | epochs | steps | hours | finished | val. PSNR | "
             "shipped val. PSNR | shipped now | MB |", "|---|---|---|---:|---:|---:|---:|---|---:|---:|---|---:|"]
    for name in SPECS:
        r = records.get(name)
        state = checkpoint_summary(ckpt_root / name)
        if r is None and not state:
            continue
        r = r or {}
        p = SPECS[name].params
        net = (f"{p['model']} {p['latent_dim']}x{p['model_params']['depth']}, shuffle {p['model_params']['shuffle']}"
               if p.get("model") == "residual-cnn" else p.get("model", "transform-coding"))
        n, side, _ = SPECS[name].patches
        lines.append(f"| {name} | {r.get('estimator', '')} | {net} | {n} ({side}) | {state.get('epoch')} / "
                     f"{p['epochs']} | {state.get('step')} | {state.get('elapsed', 0) / 3600:.2f} | "
                     f"{'yes' if state.get('finished') else 'no'} | {r.get('validation_psnr', '')} | "
                     f"{r.get('shipped_validation_psnr', '')} | {r.get('shipped_now', '')} | "
                     f"{r.get('megabytes', '')} |")
    old = {k: v for k, v in (legacy or {}).items() if not records.get(k, {}).get("shipped_now")}
    if old:
        lines += ["", "Still shipped from the first recipe (residual U-Nets trained 5-25 minutes each on the package "
                  "photographs alone, before train400 and resumable training):", "",
                  "| model | estimator | patches (side) | epochs | seconds | MB |", "|---|---|---:|---:|---:|---:|"]
        lines += [f"| {k} | {r['estimator']} | {r['patches']} ({r['patch_side']}) | {r['epochs_run']} | "
                  f"{r['seconds']:.0f} | {r['megabytes']:.2f} |" for k, r in old.items()]
    lines += ["", "## Validation curves (per epoch: steps, hours, validation loss of the held-out patches)", ""]
    for name in SPECS:
        rows = progress_rows(ckpt_root / name)
        if rows:
            lines += [f"### {name}", "", "| epoch | steps | hours | val. loss | val. PSNR (MSE loss) |",
                      "|---:|---:|---:|---:|---:|"]
            lines += [f"| {w['epoch']} | {w['steps']} | {w['hours']:.2f} | {w['val_loss']:.6g} | "
                      f"{10 * np.log10(1 / w['val_loss']) if name != 'codec-photo' else float('nan'):.2f} |"
                      for w in rows]
            lines.append("")
    lines += ["Training photographs: train400 (400 grey images, 180x180, from the Berkeley Segmentation Dataset, as "
              "distributed with DnCNN: Zhang et al., IEEE TIP 2017; every 20th kept for validation) and these "
              "package photographs (never a held-out one: " + ", ".join(HELD_OUT) + "):", "",
              "| photograph | package | licence |", "|---|---|---|"]
    lines += [f"| {k} | {p} (`{how}`) | {lic} |" for k, (p, how, lic) in PHOTOS.items()]
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help=f"comma-separated model names (default: all of {', '.join(SPECS)})")
    ap.add_argument("--out", default=str(ROOT / "aekit" / "weights"), help="folder of the shipped model folders")
    ap.add_argument("--checkpoint-dir", default=None,
                    help=f"resume states and progress logs, one folder per model (default {default_checkpoint_dir()})")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smoke", action="store_true", help="a tiny network on 96 patches for one epoch (seconds); "
                                                         "writes no results file")
    ap.add_argument("--report", action="store_true", help="only write pretrained.md from the checkpoints")
    ap.add_argument("--peek", action="store_true", help="save each model as it stands in its checkpoint to "
                                                        "<checkpoint-dir>/<model>/peek/ (training may go on)")
    args = ap.parse_args(argv)
    names = args.only.split(",") if args.only else list(SPECS)
    unknown = [n for n in names if n not in SPECS]
    if unknown:
        ap.error(f"unknown model(s) {unknown}; choose from {list(SPECS)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_root = Path(args.checkpoint_dir) if args.checkpoint_dir else default_checkpoint_dir()
    summary = RESULTS / "pretrained.json"
    records = json.loads(summary.read_text()) if summary.exists() and not args.smoke else {}
    # the first recipe's records (no validation curve) are kept apart while their models are still shipped
    legacy = records.get("_first_recipe") or {k: v for k, v in records.items()
                                               if isinstance(v, dict) and "curve" not in v}
    records = {k: v for k, v in records.items() if k in SPECS and "curve" in v}   # this recipe's records
    if legacy:
        records["_first_recipe"] = legacy
    if args.peek:
        for name in names:
            peek(name, ckpt_root, seed=args.seed)
        return 0
    if args.report:
        write_summary(records, RESULTS / "pretrained.md", ckpt_root, legacy)
        return 0
    for name in names:
        records[name] = train_one(name, out, ckpt_root, seed=args.seed, smoke=args.smoke)
        records["_threads"] = torch.get_num_threads()
        if not args.smoke:
            summary.write_text(json.dumps(records, indent=2, default=str))
            write_summary(records, RESULTS / "pretrained.md", ckpt_root, legacy)
    return 0


if __name__ == "__main__":
    sys.exit(main())
