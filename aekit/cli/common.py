"""What several sub-commands share: the error type, ``--param KEY=VALUE`` parsing, and reading and writing
the files they take (images, ``skimage:NAME`` photographs, class maps, ``.npy``)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from aekit.data import load_dataset
from aekit.data.files import IMAGE_EXTENSIONS
from aekit.fileio import atomic_write_bytes


class CLIError(ValueError):
    """A bad command-line option or config file."""


def parse_param(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise CLIError(f"--param {text!r}: expected KEY=VALUE, e.g. --param channels=[16,32]")
    key, value = text.split("=", 1)
    try:
        return key.strip().replace("-", "_"), json.loads(value)
    except json.JSONDecodeError:
        return key.strip().replace("-", "_"), value  # a bare string such as gelu


def estimator_params(texts: list[str]) -> dict:
    """Estimator arguments from ``--param KEY=VALUE`` texts."""
    return dict(parse_param(t) for t in texts)


def save_npy(path: str, arr: np.ndarray) -> None:
    if not path.endswith(".npy"):
        raise CLIError(f"--out {path}: expected a .npy file name")
    atomic_write_bytes(path, lambda f: np.save(f, arr, allow_pickle=False))
    print(f"wrote {arr.shape} to {path}", file=sys.stderr)


# ------------------------------------------------------------------------------------------------ files
def skimage_path(name: str) -> Path:
    import skimage.data

    root = Path(skimage.data.data_dir)
    for ext in (".png", ".jpg"):
        if (root / f"{name}{ext}").exists():
            return root / f"{name}{ext}"
    shipped = sorted(p.stem for p in root.iterdir() if p.suffix in (".png", ".jpg"))
    raise FileNotFoundError(f"skimage:{name}: no such photograph ships with scikit-image; choose from {shipped}")


def expand_inputs(specs: list[str]) -> list[Path]:
    """Image paths from files, folders (sorted, non-recursive) and skimage:NAME."""
    paths: list[Path] = []
    for spec in specs:
        if spec.startswith("skimage:"):
            paths.append(skimage_path(spec.split(":", 1)[1]))
            continue
        p = Path(spec)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_EXTENSIONS)
            if not found:
                raise FileNotFoundError(f"{p}: the folder holds no {'/'.join(IMAGE_EXTENSIONS)} images")
            paths.extend(found)
        elif p.is_file():
            if p.suffix.lower() not in IMAGE_EXTENSIONS:
                raise ValueError(f"{p}: expected an image file ({', '.join(IMAGE_EXTENSIONS)})")
            paths.append(p)
        else:
            raise FileNotFoundError(f"input {spec} does not exist")
    return paths


def read_image(path: Path, channels: int | None = None) -> np.ndarray:
    """[0, 1] float32 (H, W) grey or (H, W, 3) colour; ``channels`` converts to 1 or 3 channels."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            mode = {1: "L", 3: "RGB"}.get(channels, "L" if im.mode in ("1", "L", "LA", "I", "I;16", "F") else "RGB")
            arr = np.asarray(im.convert(mode), np.float32) / 255.0
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the image ({exc})") from None
    return arr


def write_png(path: Path, img: np.ndarray) -> None:
    from PIL import Image

    arr = np.clip(np.asarray(img, np.float64), 0, 1)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    Image.fromarray((arr * 255).round().astype(np.uint8)).save(path)


def read_targets(spec: str, data_dir=None) -> np.ndarray:
    """Class maps from a folder of mask images (their pixel values are the labels) or a .npy/.npz file."""
    p = Path(spec)
    if p.is_dir():
        paths = expand_inputs([spec])
        return np.stack([np.asarray(read_labels(q)) for q in paths])
    if p.suffix == ".npy":
        return np.load(p, allow_pickle=False)
    ds = load_dataset(spec, data_dir=data_dir)
    return ds.train.X


def read_labels(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L"))
