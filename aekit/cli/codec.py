"""``aekit compress`` / ``aekit decompress``: the learned codec on files.

    aekit fit compressor --data digits --param latent_dim=16 --out runs/digits-codec
    aekit compress --model runs/digits-codec digit.png more.npy --out runs/streams      # one .aek per input
    aekit decompress --model runs/digits-codec runs/streams/digit.aek --out runs/decoded  # PNG (images) / .npy
    aekit compress --fit digits --epochs 10 digit.png --out runs/streams      # fit a Compressor first: OUT/model

Inputs are PNG/JPEG images (converted to the model's channels; the image's full range, 0..255 or 0..65535
for 16-bit files, is mapped onto the value range the model was trained on) or .npy arrays holding one
sample (or a batch: one stream each).

A photo codec (``aekit.ImageCodec``) codes images of any size at a quality level (``--quality``, default the
model's); for image inputs ``--model`` defaults to the pretrained one, ``pretrained:codec-photo``::

    aekit compress photo.png --out streams --quality 4
    aekit decompress streams/photo.aek --out decoded
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from aekit.cli.common import CLIError, add_output_folder, check_output_folder, make_estimator, output_folder
from aekit.cli.grammar import add_fit_flags, add_model_source, refuse_fit_flags

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
DEFAULT_MODEL = "pretrained:codec-photo"   # the photo codec shipped with aekit (aekit/zoo.py)


def add_parser(sub) -> None:
    p = sub.add_parser("compress", help="compress images (PNG/JPEG) or .npy arrays to .aek streams")
    add_model_source(p, "codec", registered="compressor", model_help="folder written by `aekit fit compressor` or "
                     f"`aekit fit image-codec` (or OUT/model by --fit), or pretrained:NAME (default for image inputs "
                     f"without --fit: {DEFAULT_MODEL})", fit_help="fit a new Compressor on DATA first (dataset name or "
                     "path: folder, .npy, .npz, .csv) and write it to OUT/model; decompress with --model OUT/model")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="PNG/JPEG images or .npy arrays")
    p.add_argument("--quality", type=int, default=None,
                   help="quality level of a photo codec, 0 (smallest streams) .. its levels - 1 (default: the model's)")
    p.add_argument("--data-dir", help="with --fit: folder with datasets (default: $AEKIT_DATA_DIR)")
    p.add_argument("--limit", type=int, help="with --fit: use only the first N training samples")
    add_fit_flags(p, "compressor", registered="compressor", when="with --fit")
    add_output_folder(p, "output folder for the .aek streams, and model/ with --fit")
    p.set_defaults(handler=run_compress)

    p = sub.add_parser("decompress", help="decompress .aek streams to PNG images or .npy arrays")
    p.add_argument("--model", default=None, help="the model folder (or pretrained:NAME) the streams were "
                   f"compressed with (default: {DEFAULT_MODEL})")
    p.add_argument("inputs", nargs="+", metavar="INPUT.aek")
    add_output_folder(p, "output folder for the decoded images or arrays")
    p.add_argument("--format", choices=["auto", "png", "npy"], default="auto",
                   help="auto: PNG for image models, .npy otherwise")
    p.set_defaults(handler=run_decompress)


def _load_codec(spec: str | None, inputs: list[str] | None = None):
    """The codec named by ``--model`` (a folder or pretrained:NAME): a Compressor or an ImageCodec. Without
    ``--model``, the pretrained photo codec, when every input is an image (``inputs``) or a stream (None)."""
    from aekit.artifacts import load
    from aekit.estimators import Compressor, ImageCodec
    from aekit.persistence import ModelFileError
    from aekit.zoo import resolve_model

    if spec is None:
        arrays = [name for name in inputs or [] if Path(name).suffix.lower() not in _IMAGE_SUFFIXES]
        if arrays:
            raise CLIError(f"--model is needed for {arrays[0]}: the default model ({DEFAULT_MODEL}) codes PNG/JPEG "
                           f"images; pass the folder of a codec trained on such arrays")
        spec = DEFAULT_MODEL
    directory = resolve_model(spec)
    est = load(directory)
    if not isinstance(est, (Compressor, ImageCodec)):
        raise ModelFileError(f"{directory} holds a {type(est).__name__}, not a Compressor or an ImageCodec; train one "
                             "with `aekit fit compressor --data ... --out DIR`")
    return est


def _fit_compressor(args: argparse.Namespace):
    """``compress --fit DATA``: a Compressor fitted on DATA (saved to OUT/model with the streams)."""
    from aekit.data import load_dataset
    from aekit.estimators import Compressor

    codec = make_estimator(Compressor, args)
    codec.fit(load_dataset(args.fit, data_dir=args.data_dir, limit=args.limit).train.X)
    print(f"trained a Compressor on {args.fit} ({codec.n_iter_} epochs); it goes to {args.out}/model",
          file=sys.stderr)
    return codec


def _is_photo_codec(codec) -> bool:
    from aekit.estimators import ImageCodec

    return isinstance(codec, ImageCodec)


def _value_range(codec) -> tuple[float, float]:
    """The raw range that pixel values 0..255 map onto (the scaler's fixed range, else 0..255)."""
    scaler = codec.autoencoder_.scaler
    vr = getattr(scaler, "value_range", None) if getattr(scaler, "method", None) == "range" else None
    return (float(vr[0]), float(vr[1])) if vr is not None else (0.0, 255.0)


def _image_layout(codec) -> tuple[int, int, int] | None:
    """(C, H, W) of the model's samples when they are images, else None."""
    shape = codec.sample_shape_
    if len(shape) == 2:
        return 1, shape[0], shape[1]
    if len(shape) == 3:
        return (shape[2], shape[0], shape[1]) if codec.channels_last_ else shape
    return None


def _unit(codec) -> str:
    """Bits per pixel (per grey value or RGB triple) for images, per value for tables."""
    return "bits per value" if _image_layout(codec) is None else "bits per pixel"


def _pixels(codec) -> int:
    layout = _image_layout(codec)
    return int(np.prod(codec.sample_shape_)) if layout is None else layout[1] * layout[2]


def _read_image(path: Path, codec) -> np.ndarray:
    from aekit.cli.common import read_image

    layout = _image_layout(codec)
    if layout is None:
        raise ValueError(f"{path}: this model codes tables of shape {codec.sample_shape_}, not images; pass .npy")
    c, h, w = layout
    arr = read_image(path, 1 if c == 1 else 3)   # [0, 1], 16-bit images with their levels
    if arr.shape[:2] != (h, w):
        raise ValueError(f"{path}: image is {arr.shape[1]}x{arr.shape[0]} (width x height), but the model codes "
                         f"{w}x{h} images; resize it first")
    if c not in (1, 3):
        raise ValueError(f"{path}: the model codes {c}-channel images; only grey or RGB images can be read")
    lo, hi = _value_range(codec)
    arr = lo + arr * (hi - lo)
    arr = arr[None] if c == 1 else arr.transpose(2, 0, 1)      # (C, H, W)
    return _to_sample(arr, codec)


def _to_sample(chw: np.ndarray, codec) -> np.ndarray:
    """(C, H, W) -> one sample in the model's own layout."""
    shape = codec.sample_shape_
    if len(shape) == 2:
        return chw[0]
    return chw.transpose(1, 2, 0) if codec.channels_last_ else chw


def _read_npy(path: Path, codec) -> np.ndarray:
    """(n, *sample_shape) samples from a .npy file of one sample or a batch."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read the array ({exc})") from None
    shape = tuple(codec.sample_shape_)
    if arr.shape == shape:
        return arr[None]
    if arr.shape[1:] == shape:
        return arr
    squeezed = tuple(s for s in shape if s != 1)  # grey images given without their channel axis
    if arr.shape == squeezed:
        return arr.reshape(1, *shape)
    if arr.shape[1:] == squeezed:
        return arr.reshape(len(arr), *shape)
    raise ValueError(f"{path}: array of shape {arr.shape}; the model codes samples of shape {shape} "
                     f"(one sample, or a batch (n, {', '.join(map(str, shape))}))")


def run_compress(args: argparse.Namespace) -> int:
    from aekit.fileio import atomic_write_bytes

    check_output_folder(args.out, overwrite=args.overwrite)
    if args.fit is not None and args.model is not None:
        raise CLIError(f"--model {args.model} applies a saved codec and --fit {args.fit} fits a new one; pass one")
    if args.fit is None:
        refuse_fit_flags(args, why="no codec is fitted without --fit DATA")
        codec = _load_codec(args.model, args.inputs)
    else:
        codec = _fit_compressor(args)
    if _is_photo_codec(codec):
        return _compress_photos(args, codec)
    if args.quality is not None:
        raise CLIError("--quality is for photo codecs (ImageCodec); this Compressor has one rate, set when it was "
                       "trained (rate_weight) or by its step")
    jobs: list[tuple[str, np.ndarray]] = []
    for name in args.inputs:
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"input {path} does not exist")
        suffix = path.suffix.lower()
        if suffix in _IMAGE_SUFFIXES:
            jobs.append((path.stem, _read_image(path, codec)[None]))
        elif suffix == ".npy":
            batch = _read_npy(path, codec)
            stems = [path.stem] if len(batch) == 1 else [f"{path.stem}_{i:04d}" for i in range(len(batch))]
            jobs += [(s, batch[i:i + 1]) for i, s in enumerate(stems)]
        else:
            raise ValueError(f"{path}: expected a PNG/JPEG image or a .npy array")
    X = np.concatenate([x.astype(np.float32) for _, x in jobs])
    streams = codec.compress(X)
    pixels = _pixels(codec)
    with output_folder(args.out, overwrite=args.overwrite) as out:
        if args.fit is not None:
            codec.save(out / "model")
        for (stem, _), stream in zip(jobs, streams):
            target = out / f"{stem}.aek"
            atomic_write_bytes(target, lambda f, s=stream: f.write(s))
            print(f"{target}: {len(stream)} bytes, {8 * len(stream) / pixels:.3f} {_unit(codec)}")
    total = sum(len(s) for s in streams)
    print(f"{len(streams)} stream(s), {total} bytes, {8 * total / (pixels * len(streams)):.3f} {_unit(codec)}",
          file=sys.stderr)
    return 0


def run_decompress(args: argparse.Namespace) -> int:
    from aekit.fileio import atomic_write_bytes

    check_output_folder(args.out, overwrite=args.overwrite)
    codec = _load_codec(args.model)
    paths = [Path(p) for p in args.inputs]
    streams = []
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"input {path} does not exist")
        streams.append(path.read_bytes())
    from aekit.codec import CodecError

    samples = []
    for path, stream in zip(paths, streams):  # one at a time, so that an error names its file
        try:
            samples.append(codec.decompress([stream])[0])
        except CodecError as exc:
            raise CodecError(f"{path}: {str(exc).removeprefix('stream 0: ')}") from None
    if _is_photo_codec(codec):
        return _write_photos(args, codec, paths, streams, samples)
    layout = _image_layout(codec)
    fmt = args.format if args.format != "auto" else ("png" if layout is not None else "npy")
    if fmt == "png" and layout is None:
        raise ValueError(f"--format png: this model codes tables of shape {codec.sample_shape_}, not images")
    pixels = _pixels(codec)
    with output_folder(args.out, overwrite=args.overwrite) as out:
        for path, stream, sample in zip(paths, streams, samples):
            if fmt == "npy":
                target = out / f"{path.stem}.npy"
                atomic_write_bytes(target, lambda f, a=sample: np.save(f, a, allow_pickle=False))
            else:
                target = out / f"{path.stem}.png"
                _write_png(target, sample, codec)
            print(f"{target}: from {len(stream)} bytes, {8 * len(stream) / pixels:.3f} {_unit(codec)}")
    return 0


def _write_png(target: Path, sample: np.ndarray, codec) -> None:
    from PIL import Image

    shape = codec.sample_shape_
    chw = sample[None] if len(shape) == 2 else (sample.transpose(2, 0, 1) if codec.channels_last_ else sample)
    lo, hi = _value_range(codec)
    pixels = np.clip(np.round((chw - lo) / (hi - lo) * 255.0), 0, 255).astype(np.uint8)
    img = Image.fromarray(pixels[0] if len(pixels) == 1 else pixels.transpose(1, 2, 0))
    from aekit.fileio import atomic_write_bytes

    atomic_write_bytes(target, lambda f: img.save(f, format="PNG"))


# ------------------------------------------------------------------------------------------ photo codecs
def _compress_photos(args: argparse.Namespace, codec) -> int:
    """Images of any size -> one .aek stream each, at ``--quality``."""
    from aekit.cli.common import read_image
    from aekit.fileio import atomic_write_bytes

    lo, hi = codec.value_range_
    jobs: list[tuple[str, np.ndarray]] = []
    for name in args.inputs:
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"input {path} does not exist")
        if path.suffix.lower() not in _IMAGE_SUFFIXES:
            raise ValueError(f"{path}: a photo codec compresses PNG/JPEG images; expected one of "
                             f"{sorted(_IMAGE_SUFFIXES)}")
        image = read_image(path, 1 if codec.n_channels_ == 1 else None)   # [0, 1], (H, W) grey or (H, W, 3)
        jobs.append((path.stem, lo + image * (hi - lo)))
    streams = codec.compress([image for _, image in jobs], quality=args.quality)   # a bad --quality is named
    with output_folder(args.out, overwrite=args.overwrite) as out:
        for (stem, image), stream in zip(jobs, streams):
            target = out / f"{stem}.aek"
            atomic_write_bytes(target, lambda f, s=stream: f.write(s))
            pixels = image.shape[0] * image.shape[1]
            print(f"{target}: {len(stream)} bytes, {8 * len(stream) / pixels:.3f} bits per pixel")
    total = sum(len(s) for s in streams)
    pixels = sum(image.shape[0] * image.shape[1] for _, image in jobs)
    print(f"{len(streams)} stream(s), {total} bytes, {8 * total / pixels:.3f} bits per pixel", file=sys.stderr)
    model = args.model or DEFAULT_MODEL
    if isinstance(model, str) and model.startswith("pretrained:"):   # a shipped codec: say where JPEG is better
        from aekit.zoo import jpeg_warning

        note = jpeg_warning(model[len("pretrained:"):], 8 * total / pixels)
        if note:
            print(note, file=sys.stderr)
    return 0


def _write_photos(args: argparse.Namespace, codec, paths: list[Path], streams: list[bytes], images: list) -> int:
    """Decoded images of a photo codec -> PNG (8-bit, the codec's value range mapped onto 0..255) or .npy."""
    from aekit.fileio import atomic_write_bytes

    fmt = "png" if args.format == "auto" else args.format
    lo, hi = codec.value_range_
    with output_folder(args.out, overwrite=args.overwrite) as out:
        for path, stream, image in zip(paths, streams, images):
            hwc = image                                         # (H, W) grey or (H, W, 3)
            if fmt == "npy":
                target = out / f"{path.stem}.npy"
                atomic_write_bytes(target, lambda f, a=image: np.save(f, a, allow_pickle=False))
            else:
                from PIL import Image

                target = out / f"{path.stem}.png"
                pixels = np.clip(np.round((hwc - lo) / (hi - lo) * 255.0), 0, 255).astype(np.uint8)
                atomic_write_bytes(target, lambda f, p=pixels: Image.fromarray(p).save(f, format="PNG"))
            print(f"{target}: from {len(stream)} bytes, {8 * len(stream) / (hwc.shape[0] * hwc.shape[1]):.3f} "
                  f"bits per pixel")
    return 0
