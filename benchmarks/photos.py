"""aekit's pretrained photo models (``aekit.pretrained``) beside the classical tools, on held-out photographs.

    python benchmarks/photos.py                                   # all sections, whole photographs
    python benchmarks/photos.py --only denoise,codec              # some sections (merged into photos.json)
    python benchmarks/photos.py --quick                           # 128x128 centre crops, sigma 25, fewer
                                                                  # qualities; writes photos-quick.md/.json
    python benchmarks/photos.py --sets standard                   # the standard test sets and their published
                                                                  # protocols; writes photo-sets.md/.json
Needs the bench extra (``pip install -e .[bench]``: bm3d, pytorch-msssim, PyWavelets) and Pillow with AVIF.

The photographs ship with scikit-image and are not used to train any pretrained model: camera, coins (grey)
and astronaut, coffee, chelsea (colour), loaded with ``skimage.data``. Every classical baseline runs in the
same run as the aekit rows, and every method is timed per image (``time.perf_counter``, torch at its default
thread count; each aekit model makes one untimed warm-up call on a small crop first). A missing pretrained
model gives a "not available" row and the run goes on. A grey (1-channel) model restores a colour photograph
channel by channel; a colour model gets a grey photograph replicated over 3 channels (see aekit_predict).
MS-SSIM, a metric and not timed, runs on one torch thread. Sections (``--only``):
  denoise   Gaussian noise sigma 15 / 25 / 50 on 0..255 (fixed seed per photograph and sigma, noisy image
            clipped to [0, 1]: what an image file holds, and every method sees the same input) on the grey
            (skimage.color.rgb2gray) photographs. NL-means, TV (weight per sigma picked on ``moon``, a photograph
            outside the held-out set), wavelet BayesShrink, BM3D, aekit denoise-photo with sigma given and blind.
            PSNR, SSIM, seconds per image, BM3D seconds / aekit seconds.
  inpaint   50% random pixels missing, and one 32x32 hole (random position >= 32 pixels from the border);
            photographs as they are (grey or colour). Biharmonic vs aekit inpaint-photo; PSNR on the
            missing pixels only.
  sr        x2 and x4: the low-resolution input is the anti-aliased bicubic shrinking of the photograph
            (cropped to a multiple of the scale; aekit.corruption.bicubic_resize, as the super-resolve task
            trains). Bicubic enlargement vs aekit super-resolve-x2/x4-photo; PSNR on the BT.601 Y channel with
            ``scale`` pixels of border cropped.
  colorize  The colour photographs, BT.601 luma replicated over 3 channels as input: that grey image vs aekit
            colorize-photo; PSNR on RGB.
  codec     Rate-distortion: bits per pixel (8 * bytes / (H * W), every byte of the stream) vs PSNR (RGB,
            0..255) and MS-SSIM. Grey photographs are given as 3-channel (grey replicated) to every codec.
            JPEG, WebP, AVIF (Pillow, default settings but quality) and aekit codec-photo at each quality;
            BD-rate (Bjontegaard, VCEG-M33) against WebP over 0.1-1.0 bpp; encode + decode seconds of a
            768x512 photograph (coffee resized with Pillow's LANCZOS).
Writes benchmarks/results/photos.md, photos.json and photos_rd.png (``--tag NAME``: NAME.*).

``--sets standard``: the test sets of the field from the shared data folder (``photos/``, see its README) with
the published protocols, beside the published rows (:data:`PUBLISHED`): denoising and inpainting on set12 (the
noise added without clipping, as published; an aekit model sees its input clipped to [0, 1], as an image file
holds it); super-resolution on set5 and set14, PSNR on the Y channel of ITU-R BT.601 YCbCr (16..235, MATLAB's
``rgb2ycbcr``) with ``scale`` pixels of border cropped (the low-resolution input is aekit's anti-aliased bicubic
shrinking, not MATLAB's ``imresize``: compare with bicubic measured here as well as the published rows); the
codec on set14 and the held-out photographs, BD-rate against JPEG and WebP over 0.25-1.0 bpp.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import time
import traceback
from pathlib import Path

import numpy as np
import torch

from aekit.corruption import bicubic_resize, luma
from aekit.metrics import masked_psnr

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = ("denoise", "inpaint", "sr", "colorize", "codec")
GREY = ("camera", "coins")
COLOUR = ("astronaut", "coffee", "chelsea")
PHOTOS = GREY + COLOUR
STANDARD = {"denoise": {"set12": "set12"}, "inpaint": {"set12": "set12"},
            "sr": {"set5": "set5", "set14": "set14"}, "codec": {"set14 + held-out": ("set14", *PHOTOS)}}
# published mean PSNR (dB) on the standard sets (the shared data's photos/README.md): Dabov et al. 2007 (BM3D),
# Zhang et al. 2017 (DnCNN-S) and 2018 (FFDNet); Dong et al. 2014 (SRCNN), Kim et al. 2016 (VDSR)
PUBLISHED = {"denoise": {"BM3D": {"15": 32.37, "25": 29.97, "50": 26.72},
                         "DnCNN-S": {"15": 32.86, "25": 30.44, "50": 27.18},
                         "FFDNet": {"15": 32.75, "25": 30.43, "50": 27.32}},
             "sr": {"set5": {"x2": {"bicubic": 33.66, "SRCNN": 36.66, "VDSR": 37.53},
                             "x4": {"bicubic": 28.42, "SRCNN": 30.48, "VDSR": 31.35}},
                    "set14": {"x2": {"bicubic": 30.24, "SRCNN": 32.45, "VDSR": 33.03},
                              "x4": {"bicubic": 26.00, "SRCNN": 27.50, "VDSR": 28.01}}}}
TV_PHOTO = "moon"                                  # not a held-out photograph: TV's weight is picked on it
TV_WEIGHTS = (0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3)
HOLE = 32                                          # side of the inpainting hole
CODEC_RANGE = (0.1, 1.0)                           # bpp interval of the BD-rates
QUALITIES = {"JPEG": range(5, 96, 5), "WebP": range(0, 101, 5), "AVIF": range(0, 101, 5)}
QUICK_QUALITIES = {"JPEG": range(5, 96, 15), "WebP": range(0, 101, 15), "AVIF": range(0, 101, 20)}
PILLOW_FORMAT = {"JPEG": "JPEG", "WebP": "WEBP", "AVIF": "AVIF"}


class Settings:
    """What --quick changes: the crop of every photograph (None: whole), the sigmas, the codec qualities."""
    crop: int | None = None
    sigmas: tuple[int, ...] = (15, 25, 50)
    qualities: dict = QUALITIES
    tag: str = "photos"
    standard: bool = False     # --sets standard: the standard test sets, published protocols
    codec_range: tuple[float, float] = CODEC_RANGE
    models: str | None = None  # --models DIR: DIR/<name>/ instead of the shipped models (a candidate)

    def groups(self, section: str) -> dict[str, tuple[str, ...]]:
        """The section's photographs by group: ``{"held-out": PHOTOS}``, or the standard sets (names
        ``set12/01``: files of the shared data folder)."""
        if not self.standard:
            return {"held-out": PHOTOS}
        out = {}
        for group, sets in STANDARD[section].items():
            names = []
            for item in (sets,) if isinstance(sets, str) else sets:
                folder = photo_dir() / item
                names += [f"{item}/{f.stem}" for f in sorted(folder.glob("*.png"))] if folder.is_dir() else [item]
            out[group] = tuple(names)
        return out

    def photos(self, section: str) -> tuple[str, ...]:
        return tuple(n for names in self.groups(section).values() for n in names)


S = Settings()


# ------------------------------------------------------------------------------------------------ helpers
def photo_dir() -> Path:
    """The standard test sets: ``photos/`` of the shared data folder (``AEKIT_DATA_DIR``, else beside the
    checkout)."""
    return Path(os.environ.get("AEKIT_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data") / "photos"


def photo(name: str) -> np.ndarray:
    """A scikit-image photograph, or a standard set's image (``set12/01``), as float32 in [0, 1], (H, W) grey
    or (H, W, 3) colour (a grey image stored as RGB stays RGB), centre-cropped under --quick."""
    import skimage.data

    if "/" in name:
        from PIL import Image

        im = np.asarray(Image.open(photo_dir() / f"{name}.png"), np.float32) / 255.0
    else:
        im = np.asarray(getattr(skimage.data, name)(), np.float32) / 255.0
    if im.ndim == 3:
        im = im[..., :3]
    return centre(im, S.crop)


def centre(im: np.ndarray, size: int | None) -> np.ndarray:
    if size is None:
        return im
    h, w = im.shape[:2]
    return im[max(0, (h - size) // 2):(h + size) // 2, max(0, (w - size) // 2):(w + size) // 2]


def grey(im: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2gray

    return im if im.ndim == 2 else rgb2gray(im).astype(np.float32)


def y_channel(im: np.ndarray) -> np.ndarray:
    """(H, W) BT.601 luma of an (H, W, 3) photograph (grey ones as they are), as benchmarks/restoration.py."""
    if im.ndim == 2:
        return im
    return luma(torch.from_numpy(np.ascontiguousarray(im.transpose(2, 0, 1)))[None])[0, 0].numpy()


def y_ycbcr(im: np.ndarray) -> np.ndarray:
    """(H, W) Y of ITU-R BT.601 YCbCr on [16, 235] / 255 (MATLAB's ``rgb2ycbcr``, the super-resolution papers'
    measure) of an (H, W, 3) image in [0, 1]; a grey image as it is mapped the same way."""
    rgb = np.repeat(im[..., None], 3, axis=2) if im.ndim == 2 else im
    return ((16.0 + rgb.astype(np.float64) @ np.array([65.481, 128.553, 24.966])) / 255.0).astype(np.float64)


def chw(im: np.ndarray) -> np.ndarray:
    """(1, C, H, W) / (1, H, W) sample batch of one image for aekit.metrics."""
    return (im if im.ndim == 2 else im.transpose(2, 0, 1))[None]


def psnr(x: np.ndarray, y: np.ndarray) -> float:
    from skimage.metrics import peak_signal_noise_ratio

    return float(peak_signal_noise_ratio(np.asarray(y, np.float64), np.asarray(x, np.float64), data_range=1.0))


def ssim(x: np.ndarray, y: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    kw = {"channel_axis": -1} if x.ndim == 3 else {}
    return float(structural_similarity(np.asarray(y, np.float64), np.asarray(x, np.float64), data_range=1.0, **kw))


def resize(im: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """aekit's bicubic resize (anti-aliased when shrinking) of an (H, W) / (H, W, 3) image to ``size`` (H, W)."""
    t = torch.from_numpy(np.ascontiguousarray(chw(im)))
    t = t[:, None] if im.ndim == 2 else t                                   # (1, C, H, W)
    out = bicubic_resize(t, size)[0].numpy()
    return out[0] if im.ndim == 2 else out.transpose(1, 2, 0)


def timed(fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0


_MODELS: dict[str, tuple[object, str | None]] = {}


def model(name: str):
    """(estimator, None) or (None, why it is not available); loaded once per run, warm-up call not timed."""
    if name not in _MODELS:
        try:
            import aekit

            est = aekit.load(Path(S.models) / name) if S.models else aekit.pretrained(name)
            _MODELS[name] = (est, None)
        except Exception as e:  # noqa: BLE001 - any failure to load is a "not available" row
            _MODELS[name] = (None, f"not available ({type(e).__name__}: {e})")
            print(f"   {name}: {_MODELS[name][1]}", flush=True)
    return _MODELS[name]


def attempt(fn):
    """(output, seconds) of an aekit call, or (None, "error: ...") with the traceback on stderr: one failing
    model call does not stop the other rows."""
    try:
        return timed(fn)
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        return None, f"error: {type(e).__name__}: {e}"


def aekit_predict(est, im: np.ndarray, **kw) -> np.ndarray:
    """``est.predict([im], **kw)[0]``, fitting the photograph to the model's channels: a grey (1-channel) model
    restores a colour photograph channel by channel (one predict call with the 3 planes), a colour model gets
    a grey photograph replicated over 3 channels (its output: the channel mean)."""
    c = getattr(est, "n_channels_", None)
    if im.ndim == 3 and c == 1:
        planes = [np.ascontiguousarray(im[..., k]) for k in range(im.shape[2])]
        if kw.get("masks") is not None:
            kw["masks"] = kw["masks"] * len(planes)
        return np.stack([np.asarray(o) for o in est.predict(planes, **kw)], axis=-1)
    if im.ndim == 2 and c == 3:
        return np.asarray(est.predict([np.repeat(im[..., None], 3, axis=2)], **kw)[0]).mean(-1)
    return np.asarray(est.predict([im], **kw)[0])


def applied(est, name: str, *, grey: bool = True, colour: bool = True) -> str:
    """How a section's photographs (``grey`` ones, ``colour`` ones) were given to model ``name`` (the report's
    note on aekit_predict)."""
    c = getattr(est, "n_channels_", None)
    if c == 1 and colour:
        return f"{name} (a grey model: colour photographs restored channel by channel)"
    if c == 3 and grey:
        return f"{name} (a colour model: grey photographs replicated over 3 channels, output averaged)"
    return name


def warm_up(fn) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001 - the timed call reports it
        pass


def machine() -> dict:
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def _mean(values) -> float | None:
    v = [x for x in values if isinstance(x, float)]
    return float(np.mean(v)) if v and len(v) == len(values) else None


# ------------------------------------------------------------------------------------------------ denoise
def noisy_image(clean: np.ndarray, sigma: int, index: int) -> np.ndarray:
    """Clean + sigma/255 N(0, 1), fixed per photograph and sigma; clipped to [0, 1] except under --sets standard
    (the published protocol)."""
    rng = np.random.default_rng([index, sigma])
    noisy = clean + sigma / 255.0 * rng.standard_normal(clean.shape)
    return (noisy if S.standard else np.clip(noisy, 0, 1)).astype(np.float32)


def tune_tv(sigmas) -> dict:
    """TV weight per sigma: the best PSNR over TV_WEIGHTS on TV_PHOTO (never a held-out photograph)."""
    from skimage.restoration import denoise_tv_chambolle

    clean = grey(photo(TV_PHOTO))
    out = {}
    for sigma in sigmas:
        noisy = noisy_image(clean, sigma, 99)
        scores = {w: psnr(denoise_tv_chambolle(noisy, weight=w), clean) for w in TV_WEIGHTS}
        out[sigma] = {"weight": max(scores, key=scores.get), "psnr_by_weight": {str(k): v for k, v in scores.items()}}
    return out


def section_denoise() -> dict:
    import bm3d
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, denoise_wavelet

    tv = {} if S.standard else tune_tv(S.sigmas)
    est, why = model("denoise-photo")
    if est is not None:
        warm_up(lambda: aekit_predict(est, grey(photo("camera"))[:64, :64], sigma=25 / 255))
    clean = {n: grey(photo(n)) for n in S.photos("denoise")}
    methods = {
        "NL-means": lambda im, s, sig: denoise_nl_means(im, h=0.8 * s, sigma=s, fast_mode=True, patch_size=5,
                                                        patch_distance=6),
        "TV (Chambolle)": lambda im, s, sig: denoise_tv_chambolle(im, weight=tv[sig]["weight"]),
        "wavelet (BayesShrink)": lambda im, s, sig: denoise_wavelet(im, sigma=s, method="BayesShrink", mode="soft",
                                                                    rescale_sigma=True),
        "BM3D": lambda im, s, sig: bm3d.bm3d(im, sigma_psd=s),
        "aekit (sigma given)": lambda im, s, sig: aekit_predict(est, im, sigma=s),
        "aekit (blind)": lambda im, s, sig: aekit_predict(est, im),
    }
    if S.standard:   # the published protocol's reference only (the weaker classical denoisers: photos.md)
        methods = {m: fn for m, fn in methods.items() if m == "BM3D" or m.startswith("aekit")}
    tables = {}
    for sigma in S.sigmas:
        s = sigma / 255.0
        rows = {m: {"psnr": {}, "ssim": {}, "seconds": {}} for m in ["noisy input", *methods]}
        for i, name in enumerate(clean):
            ref = clean[name]
            noisy = noisy_image(ref, sigma, i)
            rows["noisy input"]["psnr"][name] = psnr(noisy, ref)
            rows["noisy input"]["ssim"][name] = ssim(noisy, ref)
            for m, fn in methods.items():
                if m.startswith("aekit"):
                    out, sec = (None, why) if est is None else attempt(lambda: fn(noisy, s, sigma))
                else:
                    out, sec = timed(fn, noisy, s, sigma)
                r = rows[m]
                if out is None:
                    r["psnr"][name] = r["ssim"][name] = r["seconds"][name] = sec
                    continue
                out = np.asarray(out, np.float64).clip(0, 1)
                r["psnr"][name], r["ssim"][name], r["seconds"][name] = psnr(out, ref), ssim(out, ref), sec
            print(f"   sigma {sigma} {name}: " + ", ".join(
                f"{m} {r['psnr'][name]:.2f}" for m, r in rows.items() if isinstance(r["psnr"][name], float)),
                flush=True)
        for m, r in rows.items():
            r["mean_psnr"] = _mean(list(r["psnr"].values()))
            r["mean_ssim"] = _mean(list(r["ssim"].values()))
            r["mean_seconds"] = _mean(list(r["seconds"].values())) if r["seconds"] else None
            if r["mean_psnr"] is None:
                r["status"] = next(iter(r["psnr"].values()))
        bm = rows["BM3D"]["mean_seconds"]
        for m in ("aekit (sigma given)", "aekit (blind)"):
            a = rows[m]["mean_seconds"]
            rows[m]["bm3d_seconds_over_aekit"] = bm / a if a else None
        tables[str(sigma)] = rows
    return {"tables": tables, "tv_weights": {str(k): v for k, v in tv.items()}, "tv_photo": TV_PHOTO,
            "photos": list(clean), "aekit": why or applied(est, "denoise-photo", colour=False), "crop": S.crop,
            "clipped": not S.standard}


# ------------------------------------------------------------------------------------------------ inpaint
def masks_for(shape: tuple[int, int], index: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(index)
    h, w = shape
    pixels = rng.random((h, w)) < 0.5
    hole = np.zeros((h, w), bool)
    y = int(rng.integers(HOLE, max(HOLE + 1, h - 2 * HOLE + 1)))       # >= HOLE pixels from every border
    x = int(rng.integers(HOLE, max(HOLE + 1, w - 2 * HOLE + 1)))
    hole[y:y + HOLE, x:x + HOLE] = True
    return {"50% random pixels": pixels, f"{HOLE}x{HOLE} hole": hole}


def section_inpaint() -> dict:
    from skimage.restoration import inpaint_biharmonic

    est, why = model("inpaint-photo")
    if est is not None:
        im = photo("camera")[:64, :64]
        warm_up(lambda: aekit_predict(est, im, masks=[np.zeros(im.shape, bool)]))
    cases = {}
    for i, name in enumerate(S.photos("inpaint")):
        ref = photo(name)
        for case, mask in masks_for(ref.shape[:2], i).items():
            damaged = (ref * ~(mask[..., None] if ref.ndim == 3 else mask)).astype(np.float32)
            rows = cases.setdefault(case, {"biharmonic": {"psnr": {}, "seconds": {}},
                                           "aekit": {"psnr": {}, "seconds": {}}})
            kw = {"channel_axis": -1} if ref.ndim == 3 else {}
            out, sec = timed(inpaint_biharmonic, damaged, mask, **kw)
            rows["biharmonic"]["psnr"][name] = masked_psnr(chw(out.clip(0, 1)), chw(ref), mask[None])
            rows["biharmonic"]["seconds"][name] = sec
            out, sec = (None, why) if est is None else attempt(lambda: aekit_predict(est, damaged, masks=[mask]))
            rows["aekit"]["psnr"][name] = sec if out is None else masked_psnr(chw(np.clip(out, 0, 1)), chw(ref),
                                                                              mask[None])
            rows["aekit"]["seconds"][name] = sec
            print(f"   {case} {name}: " + ", ".join(f"{m} {r['psnr'][name]:.2f}" for m, r in rows.items()
                                                     if isinstance(r["psnr"][name], float)), flush=True)
    for rows in cases.values():
        for r in rows.values():
            r["mean_psnr"] = _mean(list(r["psnr"].values()))
            r["mean_seconds"] = _mean(list(r["seconds"].values()))
            if r["mean_psnr"] is None:
                r["status"] = next(iter(r["psnr"].values()))
    return {"cases": cases, "photos": list(S.photos("inpaint")), "aekit": why or applied(est, "inpaint-photo"),
            "crop": S.crop}


# ------------------------------------------------------------------------------------------------ sr
def section_sr() -> dict:
    """Per group of photographs (the held-out ones, or set5 and set14) and scale, bicubic vs aekit."""
    y = y_ycbcr if S.standard else y_channel
    scales = {}
    for group, names in S.groups("sr").items():
        for scale in (2, 4):
            est, why = model(f"super-resolve-x{scale}-photo")
            if est is not None:
                warm_up(lambda: aekit_predict(est, photo(names[0])[:32, :32]))
            rows = {"bicubic": {"psnr_y": {}, "seconds": {}}, "aekit": {"psnr_y": {}, "seconds": {}}}
            for name in names:
                hr = photo(name)
                hr = hr[:hr.shape[0] // scale * scale, :hr.shape[1] // scale * scale]
                small = resize(hr, (hr.shape[0] // scale, hr.shape[1] // scale))
                b = scale                                                       # border cropped

                def score(out):
                    if out.shape != hr.shape:
                        return f"error: output shape {out.shape}, expected {hr.shape}"
                    return psnr(y(np.clip(out, 0, 1))[b:-b, b:-b], y(hr)[b:-b, b:-b])

                out, sec = timed(resize, small, hr.shape[:2])
                rows["bicubic"]["psnr_y"][name], rows["bicubic"]["seconds"][name] = score(out), sec
                out, sec = (None, why) if est is None else attempt(lambda: aekit_predict(est, small))
                rows["aekit"]["psnr_y"][name] = sec if out is None else score(np.asarray(out, np.float32))
                rows["aekit"]["seconds"][name] = sec
            for r in rows.values():
                r["mean_psnr_y"] = _mean(list(r["psnr_y"].values()))
                r["mean_seconds"] = _mean(list(r["seconds"].values()))
                if r["mean_psnr_y"] is None:
                    r["status"] = next(v for v in r["psnr_y"].values() if not isinstance(v, float))
            print(f"   {group} x{scale}: bicubic {rows['bicubic']['mean_psnr_y']}, "
                  f"aekit {rows['aekit']['mean_psnr_y']}", flush=True)
            key = f"x{scale}" if group == "held-out" else f"{group} x{scale}"
            scales[key] = {"rows": rows, "aekit": why or applied(est, f"super-resolve-x{scale}-photo"),
                           "group": group, "scale": f"x{scale}", "photos": list(names)}
    return {"scales": scales, "photos": list(S.photos("sr")), "crop": S.crop,
            "y": "BT.601 YCbCr Y (16..235)" if S.standard else "BT.601 luma (0..1)"}


# ------------------------------------------------------------------------------------------------ colorize
def section_colorize() -> dict:
    est, why = model("colorize-photo")
    if est is not None:
        warm_up(lambda: est.predict([np.repeat(y_channel(photo("astronaut"))[:64, :64, None], 3, axis=2)]))
    rows = {"grey replicated": {"psnr": {}, "seconds": {}}, "aekit": {"psnr": {}, "seconds": {}}}
    for name in COLOUR:
        rgb = photo(name)
        g = np.repeat(y_channel(rgb)[..., None], 3, axis=2)
        rows["grey replicated"]["psnr"][name] = psnr(g, rgb)
        out, sec = (None, why) if est is None else attempt(lambda: aekit_predict(est, g))
        if out is not None and np.shape(out) != rgb.shape:
            out, sec = None, f"error: output shape {np.shape(out)}, expected {rgb.shape}"
        rows["aekit"]["psnr"][name] = sec if out is None else psnr(np.clip(out, 0, 1), rgb)
        rows["aekit"]["seconds"][name] = sec
    for r in rows.values():
        r["mean_psnr"] = _mean(list(r["psnr"].values()))
        r["mean_seconds"] = _mean(list(r["seconds"].values())) if r["seconds"] else None
        if r["mean_psnr"] is None:
            r["status"] = next(iter(r["psnr"].values()))
    return {"rows": rows, "photos": list(COLOUR), "aekit": why or applied(est, "colorize-photo", grey=False),
            "crop": S.crop}


# ------------------------------------------------------------------------------------------------ codec
def bd_rate(rate_anchor, psnr_anchor, rate_test, psnr_test) -> float:
    """Bjontegaard delta rate (VCEG-M33) in percent: the average bit-rate difference of ``test`` against
    ``anchor`` at equal PSNR, from cubic fits of log(rate) as a function of PSNR integrated over the
    overlapping PSNR interval (a lower degree with fewer than 4 points). Negative: ``test`` needs fewer bits."""
    ra, pa, rt, pt = (np.asarray(v, np.float64) for v in (rate_anchor, psnr_anchor, rate_test, psnr_test))
    if min(len(pa), len(pt)) < 2:
        raise ValueError(f"bd_rate needs 2 points per curve at least, got {len(pa)} and {len(pt)}")
    fa = np.polyfit(pa, np.log(ra), min(3, len(pa) - 1))
    ft = np.polyfit(pt, np.log(rt), min(3, len(pt) - 1))
    lo, hi = max(pa.min(), pt.min()), min(pa.max(), pt.max())
    if hi <= lo:
        raise ValueError(f"bd_rate: the PSNR ranges do not overlap ([{pa.min():.2f}, {pa.max():.2f}] and "
                         f"[{pt.min():.2f}, {pt.max():.2f}])")
    ia, it = np.polyint(fa), np.polyint(ft)
    diff = ((np.polyval(it, hi) - np.polyval(it, lo)) - (np.polyval(ia, hi) - np.polyval(ia, lo))) / (hi - lo)
    return float((np.exp(diff) - 1) * 100)


def check_bd_rate() -> None:
    """Known cases: half the rate at every PSNR is -50 %, 10 % more is +10 %, a curve against itself 0 %."""
    rate = np.array([0.1, 0.2, 0.4, 0.7, 1.0])
    q = np.array([26.0, 29.0, 32.5, 35.0, 37.0])
    for factor, want in ((0.5, -50.0), (1.1, 10.0), (1.0, 0.0)):
        got = bd_rate(rate, q, rate * factor, q)
        if abs(got - want) > 1e-6:
            raise RuntimeError(f"bd_rate self-check: rate x{factor} gave {got:.6f} %, expected {want} %")


def ms_ssim(ref: np.ndarray, rec: np.ndarray) -> tuple[float, int]:
    """MS-SSIM (pytorch-msssim, Wang, Simoncelli & Bovik 2003) of two (H, W, 3) uint8 images, and the Gaussian
    window used: 11 (the paper's) when the smaller side allows 5 scales of it (> 160 pixels), else 7."""
    from pytorch_msssim import ms_ssim as _ms_ssim

    win = 11 if min(ref.shape[:2]) > 160 else 7
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1), np.float32))[None]  # (1, 3, H, W)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)       # a metric, not timed: one thread is ~50x faster than two beside another job
    try:
        return float(_ms_ssim(t(ref), t(rec), data_range=255, size_average=True, win_size=win)), win
    finally:
        torch.set_num_threads(threads)


def psnr255(ref: np.ndarray, rec: np.ndarray) -> float:
    err = np.mean((ref.astype(np.float64) - rec.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(err, 1e-12)))


def pillow_round_trip(im: np.ndarray, fmt: str, quality: int) -> tuple[bytes, np.ndarray]:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(im).save(buf, format=PILLOW_FORMAT[fmt], quality=quality)
    data = buf.getvalue()
    return data, np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def to_uint8(im: np.ndarray) -> np.ndarray:
    return (np.clip(im, 0, 1) * 255).round().astype(np.uint8)


def codec_photo(name: str) -> np.ndarray:
    im = photo(name)
    return to_uint8(np.repeat(im[..., None], 3, axis=2) if im.ndim == 2 else im)   # (H, W, 3) uint8


def rd_points(method: str, setting, streams_and_recs: list[tuple[int, np.ndarray, np.ndarray]]) -> dict:
    """One point of a method's averaged curve: per-photograph bpp / PSNR / MS-SSIM and their means."""
    per = {}
    for name, (n_bytes, ref, rec) in zip(S.photos("codec"), streams_and_recs):
        m, win = ms_ssim(ref, rec)
        per[name] = {"bytes": n_bytes, "bpp": 8 * n_bytes / (ref.shape[0] * ref.shape[1]), "psnr": psnr255(ref, rec),
                     "ms_ssim": m}
    return {"method": method, "quality": setting, "per_photo": per, "ms_ssim_window": win,
            **{k: float(np.mean([p[k] for p in per.values()])) for k in ("bpp", "psnr", "ms_ssim")}}


def encode_decode_seconds(fn, repeats: int = 3) -> float:
    fn()                                                                # warm-up
    return float(np.median([timed(fn)[1] for _ in range(repeats)]))


def section_codec() -> dict:
    from PIL import Image, features

    check_bd_rate()
    refs = [codec_photo(n) for n in S.photos("codec")]
    curves: dict[str, list[dict]] = {}
    formats = [f for f in QUALITIES if f != "AVIF" or features.check("avif")]
    for fmt in formats:
        curves[fmt] = []
        for q in S.qualities[fmt]:
            pts = []
            for ref in refs:
                data, rec = pillow_round_trip(ref, fmt, q)
                pts.append((len(data), ref, rec))
            curves[fmt].append(rd_points(fmt, q, pts))
        print(f"   {fmt}: " + ", ".join(f"q{p['quality']} {p['bpp']:.3f}/{p['psnr']:.2f}" for p in curves[fmt]),
              flush=True)
    codec, why = model("codec-photo")
    aekit_status = why or "codec-photo"
    if codec is not None:
        try:
            for q in range(codec.n_qualities_):                     # levels 0 .. n_qualities_ - 1
                pts = []
                for ref in refs:
                    streams = codec.compress([ref.astype(np.float32) / 255.0], quality=q)
                    rec = to_uint8(np.asarray(codec.decompress(streams)[0], np.float32))
                    if rec.ndim == 2:
                        rec = np.repeat(rec[..., None], 3, axis=2)
                    pts.append((len(streams[0]), ref, rec))
                curves["aekit"] = [*curves.get("aekit", []), rd_points("aekit", q, pts)]
            print("   aekit: " + ", ".join(f"q{p['quality']} {p['bpp']:.3f}/{p['psnr']:.2f}" for p in curves["aekit"]),
                  flush=True)
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            curves.pop("aekit", None)
            aekit_status = f"error: {type(e).__name__}: {e}"
    lo, hi = S.codec_range
    in_range = {m: [p for p in pts if lo <= p["bpp"] <= hi] for m, pts in curves.items()}

    def bd_against(anchor: str, methods) -> dict:
        bd = {}
        for m in methods:
            if m not in curves:
                bd[m] = {"bd_rate_pct": None, "status": aekit_status if m == "aekit" else "not available"}
                continue
            a, t = in_range[anchor], in_range[m]
            try:
                v = bd_rate([p["bpp"] for p in a], [p["psnr"] for p in a], [p["bpp"] for p in t],
                            [p["psnr"] for p in t])
                bd[m] = {"bd_rate_pct": v, "points": len(t), "anchor_points": len(a)}
            except ValueError as e:
                bd[m] = {"bd_rate_pct": None, "status": str(e), "points": len(t), "anchor_points": len(a)}
        return bd

    bd = bd_against("WebP", ("aekit", "JPEG", "AVIF"))
    bd_jpeg = bd_against("JPEG", ("aekit", "WebP", "AVIF"))
    # encode + decode of a 768x512 photograph
    from skimage.data import coffee

    big = np.asarray(Image.fromarray(coffee()).resize((768, 512), Image.LANCZOS))           # (512, 768, 3)
    timing = {f"{fmt} q75": encode_decode_seconds(lambda f=fmt: pillow_round_trip(big, f, 75)) for fmt in formats}
    if codec is not None and "aekit" in curves:
        q = (codec.n_qualities_ - 1) // 2                          # the codec's default level
        x = big.astype(np.float32) / 255.0
        timing[f"aekit quality {q}"] = encode_decode_seconds(lambda: codec.decompress(codec.compress([x], quality=q)))
    else:
        timing["aekit"] = aekit_status
    return {"curves": curves, "bd_rate_vs_webp": bd, "bd_rate_vs_jpeg": bd_jpeg, "bpp_range": list(S.codec_range),
            "timing_768x512": timing, "photos": list(S.photos("codec")), "grey_as": "3 channels (grey replicated)", "aekit": aekit_status, "crop": S.crop,
            "qualities": {k: list(v) for k, v in S.qualities.items()}}


def plot_rd(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for m, pts in r["curves"].items():
        pts = sorted(pts, key=lambda p: p["bpp"])
        for ax, key in zip(axes, ("psnr", "ms_ssim")):
            ax.plot([p["bpp"] for p in pts], [p[key] for p in pts], "o-", ms=3, label=m,
                    lw=2.2 if m == "aekit" else 1.2)
    shown = [p for pts in r["curves"].values() for p in pts if p["bpp"] <= 2.0]
    for ax, label, key in zip(axes, ("PSNR (dB, RGB)", "MS-SSIM"), ("psnr", "ms_ssim")):
        ax.axvspan(*r["bpp_range"], color="0.92", zorder=0)
        ax.set_xlim(0, 2.0)
        if shown:
            lo, hi = min(p[key] for p in shown), max(p[key] for p in shown)
            ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(f"Rate-distortion, mean over {', '.join(r['photos'])} (grey = BD-rate interval)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------------------------ report
def _f(v, nd=2, sign=False) -> str:
    if isinstance(v, float):
        return f"{v:+.{nd}f}" if sign else f"{v:.{nd}f}"
    return "n/a" if v is None else str(v)


def _short(status: str) -> str:
    """A table cell's form of a status: "not available" without its reason (given once under the table)."""
    return "not available" if status.startswith("not available") else status


def _cell(r: dict, key: str, nd=2) -> str:
    v = r.get(key)
    return _f(v, nd) if v is not None else "not available"


def _target(summary, what, measured, met) -> None:
    """A row of the targets table; ``met``: True, False, None (no aekit model) or a string."""
    summary.append((what, measured, met if isinstance(met, str) else
                    "not available" if met is None else ("yes" if met else "NO")))


def write_markdown(results: dict, path: Path) -> None:
    L, summary = [], []
    if "denoise" in results:
        r = results["denoise"]
        tv = ", ".join(f"sigma {k}: {v['weight']}" for k, v in r["tv_weights"].items()) or "not run"
        L += ["## Denoising (grey photographs, Gaussian noise, PSNR in dB on [0, 1])", "",
              f"Noisy image = clean + sigma/255 * N(0, 1), "
              f"{'clipped to [0, 1]' if r.get('clipped', True) else 'not clipped (the published protocol)'}, "
              f"one fixed seed per photograph and sigma. "
              + ("Standard sets: BM3D is the classical reference run here (NL-means, TV and wavelet "
                 "denoising: photos.md). " if S.standard else "") +
              f"NL-means: fast mode, 5x5 patches, distance 6, h = 0.8 sigma, sigma given. TV (Chambolle): weight "
              f"picked per sigma from {list(TV_WEIGHTS)} on `{r['tv_photo']}`, a photograph outside the held-out set "
              f"({tv}). Wavelet: BayesShrink, "
              "soft, sigma given, rescale_sigma. BM3D: the `bm3d` package (Makinen, Azzari & Foi 2020; Dabov et al. "
              "2007), sigma_psd given. aekit: `aekit.pretrained(\"denoise-photo\")` with `sigma=` and blind.", ""]
        for sigma, rows in r["tables"].items():
            L += [f"### sigma {sigma}", "", "| method | " + " | ".join(r["photos"]) +
                  " | mean PSNR | mean SSIM | s / image | BM3D s / aekit s |", "|---" * (len(r["photos"]) + 5) + "|"]
            for m, row in rows.items():
                cells = [_f(row["psnr"][n]) if isinstance(row["psnr"][n], float) else "-" for n in r["photos"]]
                L.append(f"| {m} | " + " | ".join(cells) + f" | {_cell(row, 'mean_psnr')} | "
                         f"{_cell(row, 'mean_ssim', 3)} "
                         f"| {_f(row.get('mean_seconds'), 3) if m != 'noisy input' else ''} | "
                         f"{_f(row.get('bm3d_seconds_over_aekit'), 1) if m.startswith('aekit') else ''} |")
            published = {m: v[sigma] for m, v in PUBLISHED["denoise"].items()} if S.standard else {}
            L += [f"| {m} (published) | " + " | ".join("" for _ in r["photos"]) + f" | {v:.2f} | | | |"
                  for m, v in published.items()]
            L.append("")
            bm, ae = rows["BM3D"]["mean_psnr"], rows["aekit (sigma given)"]["mean_psnr"]
            ratio = rows["aekit (sigma given)"].get("bm3d_seconds_over_aekit")
            if S.standard:
                bp, blind = published["BM3D"], rows["aekit (blind)"]["mean_psnr"]
                met = None if ae is None else bool(ae >= bp and ratio >= 5)
                _target(summary, f"Denoise set12 sigma {sigma}: aekit (sigma given) >= BM3D published ({bp}) and >= "
                        f"5x faster than BM3D here", f"{_f(ae)} dB (BM3D here {_f(bm)}), {_f(ratio, 1)}x"
                        if ae is not None else f"BM3D {_f(bm)} dB", met)
                _target(summary, f"Denoise set12 sigma {sigma}: blind within 0.3 dB of sigma given",
                        f"{_f(blind)} vs {_f(ae)} dB" if ae is not None else "-",
                        None if ae is None or blind is None else bool(blind >= ae - 0.3))
            elif sigma == "25":
                met = None if ae is None else bool(ae >= bm and ratio >= 5)
                _target(summary, "Denoise sigma 25: aekit (sigma given) PSNR >= BM3D and >= 5x faster",
                        f"{_f(ae)} vs {_f(bm)} dB, {_f(ratio, 1)}x" if ae is not None else f"BM3D {_f(bm)} dB", met)
            else:
                met = None if ae is None else bool(ae >= bm - 0.2)
                _target(summary, f"Denoise sigma {sigma}: aekit (sigma given) PSNR >= BM3D - 0.2 dB",
                        f"{_f(ae)} vs {_f(bm)} dB" if ae is not None else f"BM3D {_f(bm)} dB", met)
        L += [f"aekit: {r['aekit']}", ""]
    if "inpaint" in results:
        r = results["inpaint"]
        L += ["## Inpainting (photographs as they are, PSNR on the missing pixels only)", "",
              "Missing pixels set to 0; one mask per photograph (fixed seed), shared by the colour channels. "
              "Baseline `skimage.restoration.inpaint_biharmonic`; aekit `aekit.pretrained(\"inpaint-photo\")` with "
              "`masks=`.", "", "| mask | method | " + " | ".join(r["photos"]) + " | mean | s / image |",
              "|---" * (len(r["photos"]) + 4) + "|"]
        for case, rows in r["cases"].items():
            for m, row in rows.items():
                cells = [_f(row["psnr"][n]) if isinstance(row["psnr"][n], float) else "-" for n in r["photos"]]
                L.append(f"| {case} | {m} | " + " | ".join(cells) + f" | {_cell(row, 'mean_psnr')} | "
                         f"{_f(row.get('mean_seconds'), 3)} |")
            b, a = rows["biharmonic"]["mean_psnr"], rows["aekit"]["mean_psnr"]
            _target(summary, f"Inpainting, {case}: aekit >= biharmonic + 1 dB",
                    f"{_f(a - b, sign=True)} dB ({_f(a)} vs {_f(b)})" if a is not None else f"biharmonic {_f(b)} dB",
                    None if a is None else bool(a >= b + 1.0))
        L += ["", f"aekit: {r['aekit']}", ""]
    if "sr" in results:
        r = results["sr"]
        L += [f"## Super-resolution (PSNR on the {r.get('y', 'BT.601 luma')} channel, `scale` pixels of border "
              "cropped)", "",
              "Low-resolution input: anti-aliased bicubic shrinking (aekit.corruption.bicubic_resize) of the "
              "photograph cropped to a multiple of the scale; colour photographs are enlarged in colour.", ""]
        for key, sc in r["scales"].items():
            names = sc.get("photos", r["photos"])
            L += [f"### {key}", "", "| method | " + " | ".join(names) + " | mean | s / image |",
                  "|---" * (len(names) + 3) + "|"]
            for m, row in sc["rows"].items():
                cells = [_f(row["psnr_y"][n]) if isinstance(row["psnr_y"][n], float) else "-" for n in names]
                L.append(f"| {m} | " + " | ".join(cells) + f" | {_cell(row, 'mean_psnr_y')} | "
                         f"{_f(row.get('mean_seconds'), 3)} |")
            published = PUBLISHED["sr"].get(sc.get("group"), {}).get(sc.get("scale"), {}) if S.standard else {}
            L += [f"| {m} (published) | " + " | ".join("" for _ in names) + f" | {v:.2f} | |"
                  for m, v in published.items()]
            L.append("")
            b, a = sc["rows"]["bicubic"]["mean_psnr_y"], sc["rows"]["aekit"]["mean_psnr_y"]
            if published:
                _target(summary, f"SR {key}: aekit >= SRCNN published ({published['SRCNN']}) and > bicubic here",
                        f"{_f(a)} dB (bicubic here {_f(b)})" if a is not None else f"bicubic {_f(b)} dB",
                        None if a is None else bool(a >= published["SRCNN"] and a > b))
                continue
            need = 1.5 if key == "x2" else 1.0
            _target(summary, f"SR {key}: aekit >= bicubic + {need} dB",
                    f"{_f(a - b, sign=True)} dB ({_f(a)} vs {_f(b)})" if a is not None else f"bicubic {_f(b)} dB",
                    None if a is None else bool(a >= b + need))
        L += [f"aekit {s}: {sc['aekit']}" for s, sc in r["scales"].items()]
        L += [""]
    if "colorize" in results:
        r = results["colorize"]
        L += ["## Colourisation (colour photographs, BT.601 luma replicated as input, PSNR on RGB)", "",
              "| method | " + " | ".join(r["photos"]) + " | mean | s / image |", "|---" * (len(r["photos"]) + 3) + "|"]
        for m, row in r["rows"].items():
            cells = [_f(row["psnr"][n]) if isinstance(row["psnr"][n], float) else "-" for n in r["photos"]]
            L.append(f"| {m} | " + " | ".join(cells) + f" | {_cell(row, 'mean_psnr')} | "
                     f"{_f(row.get('mean_seconds'), 3) if m == 'aekit' else ''} |")
        L += ["", f"No target: reported only. aekit: {r['aekit']}", ""]
    if "codec" in results:
        r = results["codec"]
        L += ["## Codec rate-distortion", "",
              f"bpp = 8 * bytes / (H * W), every byte of the file or stream; PSNR on RGB 0..255, MS-SSIM by "
              f"pytorch-msssim (data range 255). Grey photographs given as {r['grey_as']} to every codec. Curves "
              f"averaged over the {len(r['photos'])} photographs at each quality setting (mean bpp, mean PSNR). "
              "Pillow default settings but `quality`. BD-rate (Bjontegaard, VCEG-M33: cubic fit of log(bpp) against "
              f"PSNR, integrated over the common PSNR interval) against WebP, using the averaged points within "
              f"{r['bpp_range'][0]}-{r['bpp_range'][1]} bpp.", "",
              "| method | BD-rate vs WebP | points in range | lowest bpp | highest PSNR |", "|---|---|---|---|---|"]
        for m, b in r["bd_rate_vs_webp"].items():
            pts = r["curves"].get(m, [])
            bd = _f(b["bd_rate_pct"], 1, sign=True) + " %" if b["bd_rate_pct"] is not None else _short(b["status"])
            L.append(f"| {m} | {bd} "
                     f"| {b.get('points', '')} | {_f(min((p['bpp'] for p in pts), default=None), 3)} | "
                     f"{_f(max((p['psnr'] for p in pts), default=None))} |")
        if "bd_rate_vs_jpeg" in r:
            L += ["", "| method | BD-rate vs JPEG | points in range |", "|---|---|---|"]
            for m, b in r["bd_rate_vs_jpeg"].items():
                bd = _f(b["bd_rate_pct"], 1, sign=True) + " %" if b["bd_rate_pct"] is not None else _short(b["status"])
                L.append(f"| {m} | {bd} | {b.get('points', '')} |")
        L += ["", "| method | quality | bpp | PSNR | MS-SSIM |", "|---|---|---|---|---|"]
        for m, pts in r["curves"].items():
            for p in pts:
                L.append(f"| {m} | {p['quality']} | {p['bpp']:.3f} | {p['psnr']:.2f} | {p['ms_ssim']:.4f} |")
        L += ["", "Encode + decode of a 768x512 photograph (coffee, Pillow LANCZOS), median of 3 after a warm-up:", "",
              "| codec | seconds |", "|---|---|"]
        L += [f"| {k} | {_short(_f(v, 3))} |" for k, v in r["timing_768x512"].items()]
        L += ["", f"![]({S.tag}_rd.png)", "", f"aekit: {r['aekit']}", ""]
        if "bd_rate_vs_jpeg" in r:
            b = r["bd_rate_vs_jpeg"]["aekit"]["bd_rate_pct"]
            _target(summary, f"Codec BD-rate vs JPEG < 0 over {r['bpp_range'][0]}-{r['bpp_range'][1]} bpp",
                    f"{_f(b, 1, sign=True)} %" if b is not None else _short(r["bd_rate_vs_jpeg"]["aekit"]["status"]),
                    bool(b < 0) if b is not None else "not measurable" if "aekit" in r["curves"] else None)
        b = r["bd_rate_vs_webp"]["aekit"]["bd_rate_pct"]
        _target(summary, f"Codec BD-rate vs WebP < 0 over {r['bpp_range'][0]}-{r['bpp_range'][1]} bpp",
                f"{_f(b, 1, sign=True)} %" if b is not None else _short(r["bd_rate_vs_webp"]["aekit"]["status"]),
                bool(b < 0) if b is not None else "not measurable" if "aekit" in r["curves"] else None)
        t = next((v for k, v in r["timing_768x512"].items() if k.startswith("aekit") and isinstance(v, float)), None)
        _target(summary, "Codec encode + decode of 768x512 < 2 s", f"{_f(t)} s" if t is not None else "-",
                None if t is None else bool(t < 2.0))
    mach = results.get("_machine", {})
    loads = {k: v.get("load_average") for k, v in results.items() if not k.startswith("_") and isinstance(v, dict)
             and "load_average" in v}
    title = ("the standard test sets: set12, set5, set14, and held-out photographs for the codec" if S.standard
             else "held-out scikit-image photographs")
    flags = (" --quick" if results.get("_quick") else "") + (" --sets standard" if S.standard else "")
    head = [f"# Pretrained photo models vs classical tools ({title})", "",
            f"`python benchmarks/photos.py{flags}`: every number comes from the "
            f"same run as its baseline. {mach.get('platform')}, {mach.get('processor')}, {mach.get('cpu_count')} CPUs, "
            f"torch {mach.get('torch')} with {mach.get('torch_threads')} thread(s) (the default). Load average "
            "(1, 5, 15 min) at the end of each section: " +
            ", ".join(f"{k} {[round(x, 2) for x in v]}" for k, v in loads.items() if v) +
            " (a shared machine makes the seconds upper bounds)." +
            (f" **Quick run**: {S.crop}x{S.crop} centre crops." if results.get("_quick") else ""), "",
            "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    head += [f"| {a} | {b} | {c} |" for a, b, c in summary]
    path.write_text("\n".join(head + [""] + L) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", help="comma-separated sections: " + ",".join(SECTIONS))
    p.add_argument("--quick", action="store_true", help="128x128 centre crops, sigma 25 only, fewer codec qualities "
                                                        "(a check of the script; tag photos-quick)")
    p.add_argument("--tag", help="name of the results files (default photos, photos-quick with --quick, "
                                 "photo-sets with --sets standard)")
    p.add_argument("--models", help="folder of model folders named like the pretrained ones, measured instead "
                                    "of the shipped models (e.g. the candidates of train_pretrained.py --peek)")
    p.add_argument("--sigmas", help="comma-separated denoising sigmas on 0..255 (default 15,25,50)")
    p.add_argument("--sets", choices=("held-out", "standard"), default="held-out",
                   help="held-out scikit-image photographs (default), or the standard test sets of the shared data "
                        "folder with the published protocols")
    args = p.parse_args(argv)
    if args.quick:
        S.crop, S.sigmas, S.qualities = 128, (25,), QUICK_QUALITIES
    S.models = args.models
    if args.sigmas:
        S.sigmas = tuple(int(v) for v in args.sigmas.split(","))
    if args.sets == "standard":
        S.standard, S.codec_range = True, (0.25, 1.0)
        if not (photo_dir() / "set12").is_dir():
            raise SystemExit(f"--sets standard needs the standard test sets in {photo_dir()} (set AEKIT_DATA_DIR)")
    S.tag = args.tag or ("photo-sets" if S.standard else "photos-quick" if args.quick else "photos")
    only = SECTIONS if not args.only else tuple(s.strip() for s in args.only.split(","))
    if S.standard:
        only = tuple(o for o in only if o in STANDARD)      # colourisation has no standard set here
    bad = sorted(set(only) - set(SECTIONS))
    if bad:
        raise SystemExit(f"unknown section(s) {bad}; choose from {SECTIONS}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    jpath = RESULTS / f"{S.tag}.json"
    results = json.loads(jpath.read_text()) if jpath.exists() else {}
    results["_machine"], results["_quick"] = machine(), bool(args.quick)
    for name in only:
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        results[name] = globals()[f"section_{name}"]()
        results[name]["section_s"] = time.perf_counter() - t0
        results[name]["load_average"] = machine()["load_average"]
        if name == "codec":
            plot_rd(results[name], RESULTS / f"{S.tag}_rd.png")
        jpath.write_text(json.dumps(results, indent=1, default=float))
        write_markdown(json.loads(jpath.read_text()), RESULTS / f"{S.tag}.md")
        print(f"   {results[name]['section_s']:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
