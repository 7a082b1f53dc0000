"""``aekit restore`` and ``aekit segment``: restore or segment image files of any size with a saved
Restorer / Segmenter (``--model``: trained by ``aekit fit``, or pretrained) or one fitted here first
(``--fit DATA``, written to OUT/model), writing PNG files and a report.

    aekit restore --task denoise --model runs/den INPUT... --out runs/restored [--corrupt] [--truth CLEAN...]
    aekit restore --task denoise --fit DATA --epochs 5 INPUT... --out runs/restored       # model: OUT/model
    aekit segment --model runs/seg INPUT... --out runs/seg-out [--truth MASK...]
    aekit segment --fit DATA --targets MASKS INPUT... --out runs/seg-out

INPUT: image files (PNG / JPEG / BMP), folders of them, or ``skimage:NAME`` for a photograph shipped with
scikit-image (``skimage:camera``). Image files are read as [0, 1] and mapped to the model's value range.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from aekit.cli.common import (IMAGE_EXTENSIONS, CLIError, add_output_folder, check_output_folder, expand_inputs,
                               make_estimator, output_folder, read_image, read_labels, read_targets, write_png)
from aekit.cli.grammar import Renamed, add_fit_flags, add_model_source, deprecated, refuse_fit_flags

# old spellings of --task values, kept for one release
_TASK_SPELLINGS = {"colourise": "colorize", "colorise": "colorize", "colourize": "colorize"}


def add_parser(sub) -> None:
    p = sub.add_parser("restore", help="denoise, inpaint, remove watermarks, colorize or super-resolve images")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders, or skimage:NAME")
    p.add_argument("--task", help="denoise, inpaint, watermark, colorize, super-resolve, ... (default: the "
                   "model's task; required with --fit)")
    add_model_source(p, "restorer", registered="restorer", model_help="Restorer folder to apply (written by aekit "
                     "fit restorer, or OUT/model by --fit), or pretrained:NAME for a model shipped with aekit "
                     "(denoise-photo, inpaint-photo, super-resolve-x2-photo, super-resolve-x4-photo, colorize-photo)",
                     fit_help="fit a new restorer on DATA first (dataset name, folder, .npy/.npz, image file or "
                     "skimage:NAME; needs --task) and write it to OUT/model")
    add_output_folder(p, "output folder: restored PNGs, report.html, metrics.json, model/ (with --fit)")
    p.add_argument("--sigma", type=float, help="denoise with a noise-level model (pretrained:denoise-photo): the "
                   "Gaussian noise sigma on 0..255 (default: estimated from each image)")
    p.add_argument("--corrupt", action="store_true", help="the inputs are clean originals: degrade them with the "
                   "task's corruption first, then restore and score against them")
    p.add_argument("--truth", action="append", default=[], metavar="PATH",
                   help="clean version of an input (in input order), for PSNR / SSIM")
    p.add_argument("--original", action=Renamed, new="--truth", append=True, dest="truth", metavar="PATH")
    p.add_argument("--mask", action="append", default=[], metavar="PATH",
                   help="inpaint: mask image of the missing pixels (white = missing), one per input or one for all")
    _add_fit_args(p, "restorer", seed_help="; also the random state of --corrupt, with or without --fit")
    p.set_defaults(handler=run_restore)

    p = sub.add_parser("segment", help="label every pixel of images with a trained Segmenter")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders, or skimage:NAME")
    add_model_source(p, "segmenter", registered="segmenter",
                     fit_help="fit a new segmenter on DATA first (dataset name, folder, .npy/.npz, image file or "
                     "skimage:NAME; needs --targets) and write it to OUT/model")
    add_output_folder(p, "output folder: class-map PNGs, report.html, metrics.json, model/ (with --fit)")
    p.add_argument("--truth", action="append", default=[], metavar="PATH",
                   help="true class map of an input (in input order), for the mean IoU")
    p.add_argument("--targets", help="with --fit: class maps of the training images (folder of mask images, .npy)")
    _add_fit_args(p, "segmenter")
    p.set_defaults(handler=run_segment)


def _add_fit_args(p, name: str, seed_help: str = "") -> None:
    p.add_argument("--data-dir", help="folder with datasets (default: $AEKIT_DATA_DIR)")
    p.add_argument("--limit", type=int, help="with --fit: use only the first N training samples")
    add_fit_flags(p, name, registered=name, when="with --fit", seed_help=seed_help)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _model_source(args: argparse.Namespace, name: str) -> None:
    """Check ``--model`` / ``--fit``: one of them; ``--fit`` with ``--model`` is the old form that wrote the
    fitted model to ``--model`` (kept for one release, with a warning); fitting flags need ``--fit``."""
    if args.fit is None and args.model is None:
        raise CLIError(f"pass --model DIR to apply a saved {name}, or --fit DATA to fit one first (written to "
                       "OUT/model)")
    if args.fit is not None and args.model is not None:
        deprecated(f"--model {args.model} as the folder --fit writes to", "--fit alone: the model goes to OUT/model")
        check_output_folder(args.model, overwrite=args.overwrite, option="--model")
    if args.fit is None:
        refuse_fit_flags(args, why=f"--model {args.model} is applied, not fitted (fit with --fit DATA)",
                         except_=("seed",) if name == "restorer" else ())


# ------------------------------------------------------------------------------------------------ files
def _training_data(args, owner: str):
    """(X, y-or-None) for --fit: a dataset, or single image files as a list."""
    from aekit.data import load_dataset

    spec = args.fit
    if spec.startswith("skimage:") or Path(spec).suffix.lower() in IMAGE_EXTENSIONS:
        return [read_image(p) for p in expand_inputs([spec])], None
    ds = load_dataset(spec, data_dir=args.data_dir, limit=args.limit)
    return ds.train.X, None


def _fit(args, est, out: Path, y=None):
    """Train ``est`` on ``--fit`` data and save it to ``OUT/model`` (``out``: the folder being written), or
    to ``--model`` in the old form; ``args.model`` then names where it went."""
    cls = type(est)
    X, _ = _training_data(args, cls.__name__)
    est.fit(X) if y is None else est.fit(X, y)
    est.autoencoder_.metadata["fitted_on"] = {"dataset": args.fit, "data_dir": args.data_dir, "limit": args.limit}
    if args.model is not None:   # the old form: --model was the fitted model's folder
        with output_folder(args.model, overwrite=args.overwrite, option="--model") as folder:
            est.save(folder)
    else:
        est.save(out / "model")
        args.model = str(Path(args.out) / "model")
    print(f"trained a {cls.__name__} on {args.fit} ({est.n_iter_} epochs) and saved it to {args.model}",
          file=sys.stderr)
    return est


def _load(path: str, cls):
    from aekit.artifacts import load
    from aekit.zoo import resolve_model

    est = load(resolve_model(path))
    if not isinstance(est, cls):
        raise ValueError(f"{path} holds a {type(est).__name__}, not a {cls.__name__}")
    return est


def _pad_rows(images: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Same-size (H, W) or (H, W, 3) images for a figure: smaller images (super-resolution inputs) enlarged by
    repeating pixels, grey ones replicated when the others are colour."""
    h = max(a.shape[0] for a in images.values())
    w = max(a.shape[1] for a in images.values())
    colour = any(a.ndim == 3 for a in images.values())
    out = {}
    for k, a in images.items():
        if a.shape[0] != h or a.shape[1] != w:
            a = np.repeat(np.repeat(a, max(1, h // a.shape[0]), 0), max(1, w // a.shape[1]), 1)[:h, :w]
            a = np.pad(a, [(0, h - a.shape[0]), (0, w - a.shape[1])] + [(0, 0)] * (a.ndim - 2))
        if colour and a.ndim == 2:
            a = np.repeat(a[..., None], 3, 2)
        out[k] = a
    return out


# ------------------------------------------------------------------------------------------------ restore
def run_restore(args: argparse.Namespace) -> int:
    from aekit.estimators import Restorer

    check_output_folder(args.out, overwrite=args.overwrite)
    _model_source(args, "restorer")
    if args.task in _TASK_SPELLINGS:
        deprecated(f"--task {args.task}", f"--task {_TASK_SPELLINGS[args.task]}")
        args.task = _TASK_SPELLINGS[args.task]
    paths = expand_inputs(args.inputs)
    if args.truth and len(args.truth) != len(paths):
        raise ValueError(f"{len(args.truth)} --truth file(s) for {len(paths)} input image(s); give one per input")
    if args.mask and len(args.mask) not in (1, len(paths)):
        raise ValueError(f"{len(args.mask)} --mask file(s) for {len(paths)} input image(s); give one, or one per input")
    if args.fit and args.task is None:
        raise CLIError("--fit needs --task: what the restorer learns (denoise, inpaint, ...)")
    est = make_estimator(Restorer, args, task=args.task) if args.fit else _load(args.model, Restorer)
    with output_folder(args.out, overwrite=args.overwrite) as out:
        if args.fit:
            _fit(args, est, out)
        args.task = args.task or est.task
        if est.task != args.task:
            raise ValueError(f"--task {args.task}, but the model in {args.model} was trained for task {est.task!r}")
        if est.task_.needs_mask and not args.mask and not args.corrupt:
            raise ValueError(f"--task {args.task} needs --mask (white = missing pixels), or --corrupt to make holes")
        return _restore(args, est, paths, out)


def _restore(args: argparse.Namespace, est, paths: list[Path], out: Path) -> int:
    from aekit.metrics import masked_psnr, psnr, ssim
    from aekit.report import write_report
    from aekit.report.figures import side_by_side

    # colorize learns from colour images: grey inputs are read as RGB; a grey model restores colour images
    # channel by channel, so they are read as they are
    channels = None if est.n_channels_ == 1 else est.n_channels_
    lo, hi = est.value_range_
    sigma = None if args.sigma is None else args.sigma / 255 * (hi - lo)
    rows, figures = [], {}
    for i, path in enumerate(paths):
        img = read_image(path, channels)
        raw = img * (hi - lo) + lo
        original, mask = None, None
        if args.corrupt:
            original = img
            degraded, holes = est.corrupt([raw], random_state=(args.seed or 0) + i, return_masks=True, sigma=sigma)
            raw = degraded[0]
            mask = holes[0] if holes else None
            s = est.task_.scale  # the part of the original its degraded version stands for (super-resolve)
            original = img[:img.shape[0] // s * s, :img.shape[1] // s * s]
        elif args.truth:
            original = read_image(Path(args.truth[i]), channels)
        if args.mask:
            m = read_image(Path(args.mask[i if len(args.mask) > 1 else 0]), 1) > 0.5
            if m.shape != raw.shape[:2]:
                raise ValueError(f"mask {args.mask[i if len(args.mask) > 1 else 0]} is {m.shape[1]}x{m.shape[0]}, "
                                 f"but {path.name} is {raw.shape[1]}x{raw.shape[0]}")
            mask = m
        restored = (est.restore(raw, mask=mask, sigma=sigma) - lo) / (hi - lo)
        before = (raw - lo) / (hi - lo)
        if mask is not None and not args.corrupt:
            before = before * ~(mask if before.ndim == 2 else mask[..., None])
        stem = path.stem
        write_png(out / f"{stem}.png", restored)
        if args.corrupt:
            write_png(out / f"{stem}_input.png", before)
        row = {"image": path.name, "size": f"{restored.shape[1]}x{restored.shape[0]}"}
        if original is not None:
            if original.shape != restored.shape:
                raise ValueError(f"the original of {path.name} is {original.shape}, the restoration {restored.shape}")
            if before.shape == original.shape:
                row["psnr_input"] = psnr(before[None], original[None])
            row["psnr_restored"] = psnr(restored[None], original[None])
            chw = (lambda a: a[None]) if original.ndim == 2 else (lambda a: a.transpose(2, 0, 1)[None])
            row["ssim_restored"] = ssim(chw(restored), chw(original))
            if mask is not None:
                row["psnr_restored_missing"] = masked_psnr(restored[None], original[None],
                                                           mask[None] if original.ndim == 2 else mask[None, ..., None])
        rows.append(row)
        if len(figures) < 4:
            panel = {"before": before, "restored": restored, **({"original": original} if original is not None else {})}
            figures[f"{stem}: before / restored" + (" / original" if original is not None else "")] = \
                side_by_side(_pad_rows(panel))
    metrics = {"task": args.task, "images": len(rows)}
    for key in ("psnr_input", "psnr_restored", "ssim_restored", "psnr_restored_missing"):
        vals = [r[key] for r in rows if key in r]
        if vals:
            metrics[f"mean_{key}"] = float(np.mean(vals))
    (out / "metrics.json").write_text(json.dumps({**metrics, "per_image": rows}, indent=2))
    write_report(out / "report.html", title=f"aekit restore --task {args.task}",
                 summary={"model": args.model, "task": args.task, "corruptions": ", ".join(est.corruption_specs_),
                          "inputs": len(paths), "tiles": f"{est.tile_size} px, overlap {est.tile_overlap}"},
                 metrics={k: v for k, v in metrics.items() if k not in ("task", "images")},  # both in the summary
                 baselines=rows, baselines_title="Per image", history=est.history_, extra_figures=figures)
    print(json.dumps(metrics, indent=2))
    print(f"wrote {len(rows)} restored image(s), report.html and metrics.json to {out}", file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------------------------ segment
def run_segment(args: argparse.Namespace) -> int:
    from aekit.estimators import Segmenter

    check_output_folder(args.out, overwrite=args.overwrite)
    _model_source(args, "segmenter")
    paths = expand_inputs(args.inputs)
    if args.truth and len(args.truth) != len(paths):
        raise ValueError(f"{len(args.truth)} --truth file(s) for {len(paths)} input image(s); give one per input")
    if args.fit and not args.targets:
        raise ValueError("--fit needs --targets: the class maps of the training images")
    est = make_estimator(Segmenter, args) if args.fit else _load(args.model, Segmenter)
    with output_folder(args.out, overwrite=args.overwrite) as out:
        if args.fit:
            _fit(args, est, out, y=read_targets(args.targets, args.data_dir))
        return _segment(args, est, paths, out)


def _segment(args: argparse.Namespace, est, paths: list[Path], out: Path) -> int:
    from aekit.metrics import mean_iou
    from aekit.report import write_report
    from aekit.report.figures import side_by_side

    lo, hi = est.value_range_
    rows, figures, preds, truths = [], {}, [], []
    labels = est.classes_
    for i, path in enumerate(paths):
        img = read_image(path, est.n_channels_)
        pred = est.predict([img * (hi - lo) + lo])[0]
        index = np.searchsorted(labels, pred)
        if np.issubdtype(labels.dtype, np.integer) and labels.min() >= 0 and labels.max() <= 255:
            Image_arr = pred.astype(np.uint8)
        else:
            Image_arr = index.astype(np.uint8)
        from PIL import Image

        Image.fromarray(Image_arr).save(out / f"{path.stem}_classes.png")
        row = {"image": path.name, "size": f"{pred.shape[1]}x{pred.shape[0]}"}
        panel = {"image": img, "classes": index / max(1, len(labels) - 1)}
        if args.truth:
            truth = read_labels(Path(args.truth[i]))
            if truth.shape != pred.shape:
                raise ValueError(f"--truth {args.truth[i]} is {truth.shape}, the image {path.name} {pred.shape}")
            row["mean_iou"] = float(est.score([img * (hi - lo) + lo], [truth]))
            preds.append(pred.ravel())
            truths.append(truth.ravel())
            panel["truth"] = np.searchsorted(labels, truth).clip(0, len(labels) - 1) / max(1, len(labels) - 1)
        rows.append(row)
        if len(figures) < 4:
            figures[f"{path.stem}: " + " / ".join(panel)] = side_by_side(_pad_rows(panel))
    metrics = {"images": len(rows), "classes": labels.tolist()}
    if truths:
        all_t = np.concatenate(truths)
        all_p = np.concatenate(preds)
        classes = np.union1d(labels, np.unique(all_t))
        metrics["mean_iou"] = mean_iou(np.searchsorted(classes, all_p), np.searchsorted(classes, all_t), len(classes))
    (out / "metrics.json").write_text(json.dumps({**metrics, "per_image": rows}, indent=2, default=str))
    write_report(out / "report.html", title="aekit segment",
                 summary={"model": args.model, "inputs": len(paths), "classes": metrics["classes"]},
                 metrics={k: v for k, v in metrics.items() if k not in ("images", "classes")},  # in the summary
                 baselines=rows, baselines_title="Per image", history=est.history_, extra_figures=figures)
    print(json.dumps(metrics, indent=2, default=str))
    print(f"wrote {len(rows)} class map(s), report.html and metrics.json to {out}", file=sys.stderr)
    return 0
