"""Image restoration and segmentation (aekit.Restorer / aekit.Segmenter) beside classical methods.

    AEKIT_DATA_DIR=../shared/data python benchmarks/restoration.py                  # all sections (~35 min)
    python benchmarks/restoration.py --only sr_photo,timing                         # some sections
    python benchmarks/restoration.py --only sr_mnist --tag short-restoration        # files under another name

Sections (``--only``); every model trains for a fixed number of epochs (results do not depend on load):
  inpaint     MNIST test, 50% random pixels missing and a centred 12x12 block missing: PSNR on the missing
              pixels vs scikit-image's biharmonic inpainting
  watermark   MNIST test with overlaid marks (watermark:marks): PSNR vs median 3x3, NL-means, TV (blind)
  sr_mnist    x2 (14 -> 28) on MNIST test vs bicubic
  sr_photo    x2 on the held-out photographs (camera, coins, gravel, chelsea, coffee, flower), Y channel,
              border cropped, vs bicubic; trained on patches of the other shipped photographs
  colorize    held-out colour photographs (chelsea, coffee, flower) vs the grey-replicated baseline
  segment     MNIST test digits on held-out gravel texture (trained on brick and grass) vs Otsu: mean IoU
  timing      tiled denoising of the 512x512 camera photograph: PSNR vs NL-means / TV, and wall time
Writes benchmarks/results/restoration.md (+ .json, + PNG grids); sections run alone merge into the JSON.
``--tag NAME`` writes NAME.md, NAME.json and NAME_*.png instead.
"""
from __future__ import annotations

import argparse
import json
import platform
import os
import time
from pathlib import Path

import numpy as np
import torch

from aekit import Restorer, Segmenter
from aekit.corruption import bicubic_resize, luma, make_corruption
from aekit.data import load_dataset
from aekit.metrics import masked_psnr, psnr, ssim

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = ("sr_photo", "colorize", "segment", "inpaint", "watermark", "sr_mnist", "timing")
HELD_OUT_GREY = ("camera", "coins", "gravel")
HELD_OUT_COLOUR = ("chelsea", "coffee", "flower")
# natural photographs only (retina, hubble_deep_field and microaneurysms are mostly black or tiny)
TRAIN_PHOTOS = ("astronaut", "rocket", "china", "ihc", "motorcycle_left", "motorcycle_right", "brick", "grass",
                "moon", "page", "text", "cell", "clock_motion")
TRAIN_COLOUR = ("astronaut", "rocket", "china", "ihc", "motorcycle_left", "motorcycle_right")
N_TEST = 1000          # MNIST test images scored
N_TRAIN = 6000         # MNIST training images
TAG = "restoration"    # name of the results files (--tag)


# ------------------------------------------------------------------------------------------------ data
def photo(name: str) -> np.ndarray:
    """A shipped photograph as float32 in [0, 1], (H, W) grey or (H, W, 3) colour."""
    import skimage.data
    from PIL import Image

    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image
        im = load_sample_image(f"{name}.jpg")
    else:
        path = Path(skimage.data.data_dir) / {"ihc": "ihc.png"}.get(name, f"{name}.png")
        if not path.exists():
            path = path.with_suffix(".jpg")
        im = np.asarray(Image.open(path))
    im = np.asarray(im, np.float32) / 255.0
    if im.ndim == 3:
        im = im[..., :3]
    return im


def y_channel(im: np.ndarray) -> np.ndarray:
    """(H, W) BT.601 luma of an (H, W, 3) photograph (grey ones as they are)."""
    if im.ndim == 2:
        return im
    return luma(torch.from_numpy(im.transpose(2, 0, 1).copy())[None])[0, 0].numpy()


def mnist():
    ds = load_dataset("mnist")
    xtr = (ds.train.X[:N_TRAIN] / 255.0).astype(np.float32)
    xte = (ds.test.X[:N_TEST] / 255.0).astype(np.float32)
    return xtr[:, 0], xte[:, 0], ds


def grid(path: Path, rows: dict[str, np.ndarray]) -> None:
    from aekit.report.figures import image_rows

    path = path.with_name(path.name.replace("restoration", TAG, 1))
    path.write_bytes(image_rows({k: (v[:, None] if v.ndim == 3 else v) for k, v in rows.items()}, n=8))


def photo_grid(path: Path, rows: dict[str, list[np.ndarray]], crop: int = 160) -> None:
    """One column per photograph (a centre crop), one row per method."""
    out = {}
    for label, ims in rows.items():
        cells = []
        for im in ims:
            h, w = im.shape[:2]
            c = im[(h - crop) // 2:(h + crop) // 2, (w - crop) // 2:(w + crop) // 2]
            cells.append(c[None] if c.ndim == 2 else c.transpose(2, 0, 1))
        out[label] = np.stack(cells)
    from aekit.report.figures import image_rows
    path = path.with_name(path.name.replace("restoration", TAG, 1))
    path.write_bytes(image_rows(out, n=len(next(iter(rows.values())))))


# ------------------------------------------------------------------------------------------------ sections
def section_inpaint(out: Path) -> dict:
    from skimage.restoration import inpaint_biharmonic

    xtr, xte, _ = mnist()
    rng = np.random.default_rng(0)
    block = np.zeros((28, 28), bool)
    block[8:20, 8:20] = True
    # one model per mask kind, trained on that kind at random positions ("mask:0.5": random pixels; "block:12":
    # a 12x12 block anywhere); the mask is an extra input channel
    cases = {"50% random pixels": ("mask:0.5", rng.random(xte.shape) < 0.5),
             "centred 12x12 block": ("block:12", np.broadcast_to(block, xte.shape).copy())}
    rows, train_s = [], 0.0
    for name, (spec, m) in cases.items():
        t0 = time.perf_counter()
        est = Restorer(task="inpaint", corruption=spec, epochs=8, batch_size=32, random_state=0).fit(xtr)
        train_s += time.perf_counter() - t0
        corrupted = xte * ~m
        t0 = time.perf_counter()
        bih = np.stack([inpaint_biharmonic(c, mk) for c, mk in zip(corrupted, m)]).clip(0, 1)
        bih_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        rec = est.predict(corrupted, masks=m)
        rec_s = time.perf_counter() - t0
        row = {"mask": name, "trained_on": spec, "epochs": est.n_iter_,
               "corrupted_psnr_missing": masked_psnr(corrupted, xte, m),
               "biharmonic_psnr_missing": masked_psnr(bih, xte, m), "aekit_psnr_missing": masked_psnr(rec, xte, m),
               "biharmonic_ssim": ssim(bih, xte), "aekit_ssim": ssim(rec, xte),
               "biharmonic_s": bih_s, "aekit_s": rec_s}
        row["gain_db"] = row["aekit_psnr_missing"] - row["biharmonic_psnr_missing"]
        row["target_met"] = bool(row["gain_db"] >= 3.0)
        rows.append(row)
        grid(out / f"restoration_inpaint_{'block' if 'block' in name else 'pixels'}.png",
             {"masked": corrupted[:8], "biharmonic": bih[:8], "aekit": rec[:8], "original": xte[:8]})
    return {"rows": rows, "train_s": train_s, "epochs": rows[0]["epochs"],
            "corruptions": [r["trained_on"] for r in rows], "n_train": len(xtr), "n_test": len(xte)}


def section_watermark(out: Path) -> dict:
    from scipy.ndimage import median_filter
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle

    xtr, xte, _ = mnist()
    t0 = time.perf_counter()
    est = Restorer(task="watermark", epochs=5, batch_size=32, random_state=0).fit(xtr)
    train_s = time.perf_counter() - t0
    marked = make_corruption("watermark:marks")(torch.from_numpy(xte[:, None]), torch.Generator().manual_seed(123))
    marked = marked[:, 0].numpy()
    rows = [{"method": "marked input", "psnr_db": psnr(marked, xte), "ssim": ssim(marked, xte)}]
    filters = {"median 3x3": lambda im: median_filter(im, size=3),
               "NL-means": lambda im: denoise_nl_means(im, h=0.15, patch_size=3, patch_distance=5),
               "TV (Chambolle)": lambda im: denoise_tv_chambolle(im, weight=0.2)}
    outs = {}
    for name, fn in filters.items():
        t0 = time.perf_counter()
        den = np.stack([fn(im) for im in marked]).astype(np.float32).clip(0, 1)
        outs[name] = den
        rows.append({"method": name, "psnr_db": psnr(den, xte), "ssim": ssim(den, xte),
                     "seconds": time.perf_counter() - t0})
    t0 = time.perf_counter()
    rec = est.predict(marked)
    rows.append({"method": "aekit Restorer(task='watermark')", "psnr_db": psnr(rec, xte), "ssim": ssim(rec, xte),
                 "seconds": time.perf_counter() - t0})
    best = max(r["psnr_db"] for r in rows[:-1])
    gain = rows[-1]["psnr_db"] - best
    grid(out / "restoration_watermark.png", {"marked": marked[:8], "median": outs["median 3x3"][:8],
                                             "aekit": rec[:8], "original": xte[:8]})
    return {"rows": rows, "best_classical_db": best, "gain_db": gain, "target_met": bool(gain >= 5.0),
            "train_s": train_s, "epochs": est.n_iter_, "corruptions": est.corruption_specs_}


def section_sr_mnist(out: Path) -> dict:
    xtr, xte, _ = mnist()
    t0 = time.perf_counter()
    est = Restorer(task="super-resolve", scale=2, epochs=5, batch_size=32, random_state=0).fit(xtr)
    train_s = time.perf_counter() - t0
    small = est.corrupt(xte)                                                # (n, 14, 14)
    bic = bicubic_resize(torch.from_numpy(small[:, None]), (28, 28))[:, 0].numpy()
    rec = est.predict(small)
    rows = [{"method": "bicubic", "psnr_db": psnr(bic, xte), "ssim": ssim(bic, xte)},
            {"method": "aekit Restorer(task='super-resolve', scale=2)", "psnr_db": psnr(rec, xte),
             "ssim": ssim(rec, xte)}]
    gain = rows[1]["psnr_db"] - rows[0]["psnr_db"]
    up = np.kron(small[:8], np.ones((2, 2), np.float32))
    grid(out / "restoration_sr_mnist.png", {"14x14 input": up, "bicubic": bic[:8], "aekit": rec[:8],
                                            "original": xte[:8]})
    return {"rows": rows, "gain_db": gain, "target_met": bool(gain >= 4.0), "train_s": train_s,
            "epochs": est.n_iter_}


def _crop(a: np.ndarray, b: int) -> np.ndarray:
    return a[b:-b, b:-b]


def section_sr_photo(out: Path) -> dict:
    train = [y_channel(photo(n)) for n in TRAIN_PHOTOS]
    t0 = time.perf_counter()
    est = Restorer(task="super-resolve", scale=2, patch_size=40, n_patches=3000, epochs=6, batch_size=16,
                   random_state=0).fit(train)
    train_s = time.perf_counter() - t0
    rows, figs = [], {"bicubic": [], "aekit": [], "original": []}
    for name in HELD_OUT_GREY + HELD_OUT_COLOUR:
        hr = y_channel(photo(name))
        hr = hr[:hr.shape[0] // 2 * 2, :hr.shape[1] // 2 * 2]
        lr = est.corrupt(hr[None])[0]
        bic = bicubic_resize(torch.from_numpy(lr[None, None]), hr.shape)[0, 0].numpy()
        rec = est.restore(lr)
        row = {"photo": name, "size": f"{hr.shape[1]}x{hr.shape[0]}",
               "bicubic_psnr_y": psnr(_crop(bic, 2)[None], _crop(hr, 2)[None]),
               "aekit_psnr_y": psnr(_crop(rec, 2)[None], _crop(hr, 2)[None]),
               "bicubic_ssim_y": ssim(_crop(bic, 2)[None], _crop(hr, 2)[None]),
               "aekit_ssim_y": ssim(_crop(rec, 2)[None], _crop(hr, 2)[None])}
        row["gain_db"] = row["aekit_psnr_y"] - row["bicubic_psnr_y"]
        rows.append(row)
        if name in HELD_OUT_GREY:
            for k, v in (("bicubic", bic), ("aekit", rec), ("original", hr)):
                figs[k].append(v)
    photo_grid(out / "restoration_sr_photo.png", figs, crop=96)
    gain = float(np.mean([r["gain_db"] for r in rows]))
    gain_grey = float(np.mean([r["gain_db"] for r in rows if r["photo"] in HELD_OUT_GREY]))
    return {"rows": rows, "mean_gain_db": gain, "mean_gain_db_camera_coins_gravel": gain_grey,
            "target_met": bool(gain >= 1.0), "train_s": train_s, "epochs": est.n_iter_,
            "train_photos": list(TRAIN_PHOTOS)}


def section_colorize(out: Path) -> dict:
    train = [photo(n) for n in TRAIN_COLOUR]
    t0 = time.perf_counter()
    est = Restorer(task="colorize", patch_size=40, n_patches=2000, epochs=5, batch_size=16, random_state=0).fit(train)
    train_s = time.perf_counter() - t0
    rows, figs = [], {"grey input": [], "aekit": [], "original": []}
    for name in HELD_OUT_COLOUR:
        rgb = photo(name)
        grey = np.repeat(y_channel(rgb)[..., None], 3, axis=2)
        rec = est.restore(rgb)
        chw = lambda a: a.transpose(2, 0, 1)[None]
        rows.append({"photo": name, "grey_psnr": psnr(chw(grey), chw(rgb)), "aekit_psnr": psnr(chw(rec), chw(rgb)),
                     "grey_ssim": ssim(chw(grey), chw(rgb)), "aekit_ssim": ssim(chw(rec), chw(rgb))})
        rows[-1]["gain_db"] = rows[-1]["aekit_psnr"] - rows[-1]["grey_psnr"]
        for k, v in (("grey input", grey), ("aekit", rec), ("original", rgb)):
            figs[k].append(v)
    photo_grid(out / "restoration_colorize.png", figs, crop=200)
    gain = float(np.mean([r["gain_db"] for r in rows]))
    return {"rows": rows, "mean_gain_db": gain, "target_met": bool(gain > 0), "train_s": train_s,
            "epochs": est.n_iter_, "train_photos": list(TRAIN_COLOUR)}


def section_segment(out: Path) -> dict:
    from skimage.filters import threshold_otsu

    from aekit.data.composites import digit_composites, texture_photographs
    from aekit.metrics import mean_iou

    xtr, xte, _ = mnist()
    tex = texture_photographs()
    tr_img, tr_mask = digit_composites(xtr[:4000], [tex["brick"], tex["grass"]], size=40, seed=0)
    te_img, te_mask = digit_composites(xte, [tex["gravel"]], size=40, seed=1)
    t0 = time.perf_counter()
    est = Segmenter(epochs=4, batch_size=32, random_state=0).fit(tr_img, tr_mask)
    train_s = time.perf_counter() - t0
    pred = est.predict(te_img)
    otsu = np.stack([im > threshold_otsu(im) for im in te_img]).astype(np.uint8)
    rows = [{"method": "Otsu threshold (per image)", "mean_iou": mean_iou(otsu, te_mask, 2)},
            {"method": "aekit Segmenter (U-Net, ce+dice)", "mean_iou": mean_iou(pred, te_mask, 2)}]
    grid(out / "restoration_segment.png", {"composite": te_img[:8], "Otsu": otsu[:8].astype(np.float32),
                                           "aekit": pred[:8].astype(np.float32),
                                           "truth": te_mask[:8].astype(np.float32)})
    return {"rows": rows, "target_met": bool(rows[1]["mean_iou"] >= 0.90), "train_s": train_s,
            "epochs": est.n_iter_, "train": "4000 MNIST train digits on brick and grass, 40x40",
            "test": f"{len(te_img)} MNIST test digits on gravel (held out), 40x40"}


def section_timing(out: Path) -> dict:
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle

    train = [y_channel(photo(n)) for n in TRAIN_PHOTOS]
    t0 = time.perf_counter()
    est = Restorer(task="denoise", corruption="gaussian:0.1", patch_size=40, n_patches=1500, epochs=3,
                   batch_size=16, random_state=0).fit(train)
    train_s = time.perf_counter() - t0
    cam = photo("camera")
    noisy = np.clip(cam + 0.1 * np.random.default_rng(0).standard_normal(cam.shape), 0, 1).astype(np.float32)
    rows = [{"method": "noisy input", "psnr_db": psnr(noisy[None], cam[None])}]
    for name, fn in (("NL-means", lambda im: denoise_nl_means(im, h=0.08, sigma=0.1, patch_size=5, patch_distance=6)),
                     ("TV (Chambolle)", lambda im: denoise_tv_chambolle(im, weight=0.08))):
        t0 = time.perf_counter()
        den = fn(noisy).astype(np.float32)
        rows.append({"method": name, "psnr_db": psnr(den[None], cam[None]), "seconds": time.perf_counter() - t0})
    times = {}
    old = torch.get_num_threads()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        runs = []
        for _ in range(5):
            t0 = time.perf_counter()
            rec = est.restore(noisy)
            runs.append(time.perf_counter() - t0)
        times[threads] = {"median_s": float(np.median(runs)), "runs_s": runs}
    torch.set_num_threads(old)
    rows.append({"method": "aekit Restorer(task='denoise'), tiles 128 / overlap 16", "psnr_db": psnr(rec[None], cam[None]),
                 "seconds": times[2]["median_s"]})
    photo_grid(out / "restoration_denoise.png", {"noisy": [noisy], "aekit": [rec], "original": [cam]}, crop=256)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"rows": rows, "times": times, "target_met": bool(times[2]["median_s"] <= 5.0), "train_s": train_s,
            "epochs": est.n_iter_, "load_average": load, "image": "camera 512x512"}


# ------------------------------------------------------------------------------------------------ report
def _f(v, nd=2):
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def write_markdown(results: dict, path: Path) -> None:
    L = ["# Image restoration and segmentation: aekit vs classical methods", "",
         "`python benchmarks/restoration.py` (fixed epoch counts; CPU, "
         f"{results.get('_machine', '')}). PSNR in dB on [0, 1] images. "
         "Every number below comes from the same run as its baseline.", ""]
    summary = []
    if "inpaint" in results:
        r = results["inpaint"]
        L += ["## Inpainting (MNIST test, PSNR on the missing pixels only)", "",
              f"One Restorer(task='inpaint') per mask kind, each trained {r['epochs']} epochs on {r['n_train']} MNIST "
              f"training digits with its corruption ({' / '.join(r['corruptions'])}: random pixels; a 12x12 block "
              f"at random positions); the mask is an extra input channel. {r['n_test']} test digits. Baseline: "
              "`skimage.restoration.inpaint_biharmonic`.", "",
              "| mask | masked input | biharmonic | aekit | gain | SSIM biharmonic | SSIM aekit |",
              "|---|---|---|---|---|---|---|"]
        for row in r["rows"]:
            L.append(f"| {row['mask']} | {_f(row['corrupted_psnr_missing'])} | {_f(row['biharmonic_psnr_missing'])} | "
                     f"**{_f(row['aekit_psnr_missing'])}** | {row['gain_db']:+.2f} | {_f(row['biharmonic_ssim'], 3)} | "
                     f"{_f(row['aekit_ssim'], 3)} |")
            summary.append((f"Inpainting, {row['mask']}: >= 3 dB above biharmonic", f"{row['gain_db']:+.2f} dB",
                            row["target_met"]))
        L += ["", "![](restoration_inpaint_pixels.png) ![](restoration_inpaint_block.png)", ""]
    if "watermark" in results:
        r = results["watermark"]
        L += ["## Watermark removal (MNIST test, `watermark:marks`, blind)", "",
              f"Restorer(task='watermark') trained {r['epochs']} epochs on clean digits with {r['corruptions']}; "
              "no method is told where the marks are.", "", "| method | PSNR | SSIM |", "|---|---|---|"]
        for row in r["rows"]:
            L.append(f"| {row['method']} | {_f(row['psnr_db'])} | {_f(row['ssim'], 3)} |")
        L += ["", f"Gain over the best classical row: {r['gain_db']:+.2f} dB.", "", "![](restoration_watermark.png)", ""]
        summary.append(("Watermarks: >= 5 dB above the best blind classical filter", f"{r['gain_db']:+.2f} dB",
                        r["target_met"]))
    if "sr_mnist" in results:
        r = results["sr_mnist"]
        L += ["## Super-resolution x2 on MNIST (14 -> 28)", "", "| method | PSNR | SSIM |", "|---|---|---|"]
        for row in r["rows"]:
            L.append(f"| {row['method']} | {_f(row['psnr_db'])} | {_f(row['ssim'], 3)} |")
        L += ["", "![](restoration_sr_mnist.png)", ""]
        summary.append(("SR x2 MNIST: >= 4 dB above bicubic", f"{r['gain_db']:+.2f} dB", r["target_met"]))
    if "sr_photo" in results:
        r = results["sr_photo"]
        L += ["## Super-resolution x2 on held-out photographs (Y channel, 2-pixel border cropped)", "",
              f"Trained {r['epochs']} epochs on 3000 random 40x40 Y patches of {', '.join(r['train_photos'])}; "
              "low-resolution inputs by anti-aliased bicubic shrinking; the whole photograph restored in tiles.", "",
              "| photo | size | bicubic | aekit | gain | SSIM bicubic | SSIM aekit |", "|---|---|---|---|---|---|---|"]
        for row in r["rows"]:
            L.append(f"| {row['photo']} | {row['size']} | {_f(row['bicubic_psnr_y'])} | {_f(row['aekit_psnr_y'])} | "
                     f"{row['gain_db']:+.2f} | {_f(row['bicubic_ssim_y'], 3)} | {_f(row['aekit_ssim_y'], 3)} |")
        L += ["", f"Mean gain over all six: {r['mean_gain_db']:+.2f} dB; over camera, coins, gravel: "
              f"{r['mean_gain_db_camera_coins_gravel']:+.2f} dB.", "", "![](restoration_sr_photo.png)", ""]
        summary.append(("SR x2 held-out photographs: >= 1.0 dB above bicubic (mean of six)",
                        f"{r['mean_gain_db']:+.2f} dB", r["target_met"]))
    if "colorize" in results:
        r = results["colorize"]
        L += ["## Colourisation of held-out colour photographs", "",
              f"Trained {r['epochs']} epochs on 2000 40x40 patches of {', '.join(r['train_photos'])}.", "",
              "| photo | grey replicated | aekit | gain | SSIM grey | SSIM aekit |", "|---|---|---|---|---|---|"]
        for row in r["rows"]:
            L.append(f"| {row['photo']} | {_f(row['grey_psnr'])} | {_f(row['aekit_psnr'])} | {row['gain_db']:+.2f} | "
                     f"{_f(row['grey_ssim'], 3)} | {_f(row['aekit_ssim'], 3)} |")
        L += ["", "![](restoration_colorize.png)", ""]
        summary.append(("Colourisation: PSNR above grey replicated (mean of three)", f"{r['mean_gain_db']:+.2f} dB",
                        r["target_met"]))
    if "segment" in results:
        r = results["segment"]
        L += ["## Segmentation: digits on textures", "", f"Train: {r['train']}; test: {r['test']}.", "",
              "| method | mean IoU |", "|---|---|"]
        for row in r["rows"]:
            L.append(f"| {row['method']} | {_f(row['mean_iou'], 3)} |")
        L += ["", "![](restoration_segment.png)", ""]
        summary.append(("Segmentation: mean IoU >= 0.90 (Otsu: " + _f(r["rows"][0]["mean_iou"], 3) + ")",
                        _f(r["rows"][1]["mean_iou"], 3), r["target_met"]))
    if "timing" in results:
        r = results["timing"]
        L += ["## Tiled denoising of a 512x512 photograph (camera, Gaussian noise sigma 0.1)", "",
              f"Restorer(task='denoise', corruption='gaussian:0.1') trained {r['epochs']} epochs on patches of the "
              "training photographs.", "", "| method | PSNR | seconds |", "|---|---|---|"]
        for row in r["rows"]:
            L.append(f"| {row['method']} | {_f(row['psnr_db'])} | {_f(row.get('seconds', ''))} |")
        t = r["times"]
        L += ["", f"Wall time of `restore` on the 512x512 image, median of 5: {t['2']['median_s']:.2f} s with 2 torch "
              f"threads, {t['1']['median_s']:.2f} s with 1 (load average during the run: {r['load_average']}; the "
              "machine is shared, so these are upper bounds).", "", "![](restoration_denoise.png)", ""]
        summary.append(("512x512 tiled denoise within 5 s on 2 cores", f"{t['2']['median_s']:.2f} s", r["target_met"]))
    head = ["## Summary", "", "| target | measured | met |", "|---|---|---|"]
    head += [f"| {a} | {b} | {'yes' if c else 'NO'} |" for a, b, c in summary]
    path.write_text(("\n".join(L[:4] + head + [""] + L[4:]) + "\n").replace("](restoration_", f"]({TAG}_"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", help="comma-separated sections: " + ",".join(SECTIONS))
    p.add_argument("--tag", default="restoration", help="name of the results files (default restoration)")
    args = p.parse_args(argv)
    global TAG
    TAG = args.tag
    only = SECTIONS if not args.only else tuple(s.strip() for s in args.only.split(","))
    bad = sorted(set(only) - set(SECTIONS))
    if bad:
        raise SystemExit(f"unknown section(s) {bad}; choose from {SECTIONS}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    jpath = RESULTS / f"{TAG}.json"
    results = json.loads(jpath.read_text()) if jpath.exists() else {}
    results["_machine"] = f"{platform.processor() or platform.machine()}, torch {torch.__version__}, " \
                          f"{torch.get_num_threads()} thread(s)"
    for name in only:
        t0 = time.perf_counter()
        print(f"== {name}", flush=True)
        results[name] = globals()[f"section_{name}"](RESULTS)
        results[name]["section_s"] = time.perf_counter() - t0
        print(json.dumps(results[name], indent=1, default=float)[:3000], flush=True)
        jpath.write_text(json.dumps(results, indent=1, default=float))
        write_markdown(json.loads(jpath.read_text()), RESULTS / f"{TAG}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
