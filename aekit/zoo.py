"""Pretrained models shipped inside the package: ``aekit.pretrained("denoise-photo")``.

Each one is an ordinary estimator folder (``model.safetensors`` + ``config.json``, written by
``estimator.save``) under ``aekit/weights/<name>/``, trained by ``benchmarks/train_pretrained.py`` on
photographs that ship inside installable packages (the README's "Pretrained photo models" names them and
their licences). Loading needs no network. ``aekit.load("pretrained:NAME")`` opens one, and on the command
line (``aekit apply``, ``aekit serve``, ...) a model folder may be given as ``pretrained:NAME``::

    aekit restore --task denoise --model pretrained:denoise-photo photo.jpg --out restored
    aekit compress photo.png --out streams          # --model defaults to pretrained:codec-photo
"""
from __future__ import annotations

import os
from pathlib import Path

WEIGHTS = Path(__file__).resolve().parent / "weights"
PREFIX = "pretrained:"

# name -> what it does (the folder aekit/weights/<name>/ holds the model)
PRETRAINED = {
    "denoise-photo": "Gaussian noise removed, sigma 5-50 on 0..255, blind or with sigma= given (Restorer)",
    "inpaint-photo": "missing pixels filled in, random pixels or holes, masks= True = missing (Restorer)",
    "super-resolve-x2-photo": "photographs enlarged 2x (Restorer)",
    "super-resolve-x4-photo": "photographs enlarged 4x (Restorer)",
    "colorize-photo": "colour restored to grey photographs (Restorer)",
    "codec-photo": "learned photo codec, any size, several quality levels (ImageCodec)",
}

# bits per pixel (low, high) where a shipped codec gives a higher PSNR than JPEG (Pillow) at the same size, measured
# by benchmarks/photos.py --sets standard on set14 and the held-out photographs (benchmarks/results/
# photo-sets-codec.md: every stream of every level there from 0.22 to 4.5 bpp beat JPEG's curve of its photograph,
# by 0.2 dB at least; below 0.22 bpp JPEG has no point to compare with); None: at no rate measured. `aekit
# compress` warns (one line) when it writes streams outside this range.
BEATS_JPEG: dict[str, tuple[float, float] | None] = {"codec-photo": (0.22, 4.5)}


def jpeg_warning(name: str, bpp: float) -> str | None:
    """The one-line warning for streams of the shipped codec ``name`` at ``bpp`` bits per pixel outside the range
    where it was measured to beat JPEG (None inside it)."""
    wins = BEATS_JPEG.get(name)
    if wins is None:
        return (f"warning: at {bpp:.2f} bits per pixel JPEG gives a better image of the same size than the pretrained "
                f"{name} (it beats JPEG at no rate measured; benchmarks/results/photos.md); for the best file use "
                f"JPEG or WebP")
    if wins[0] <= bpp <= wins[1]:
        return None
    return (f"warning: {bpp:.2f} bits per pixel is outside {wins[0]:g}-{wins[1]:g}, the range where the pretrained "
            f"{name} was measured to give a better image than JPEG of the same size "
            f"(benchmarks/results/photo-sets-codec.md); JPEG or WebP may give a better file here")


def list_pretrained() -> dict[str, str]:
    """Every pretrained model's name and what it does, for those present in this installation."""
    return {name: what for name, what in PRETRAINED.items() if (WEIGHTS / name).is_dir()}


def pretrained_path(name: str) -> Path:
    """The folder of the pretrained model ``name``; ValueError naming the choices when there is none."""
    if not isinstance(name, str) or name not in PRETRAINED:
        raise ValueError(f"no pretrained model {name!r}; choose from {sorted(PRETRAINED)}")
    folder = WEIGHTS / name
    if not folder.is_dir():
        raise FileNotFoundError(f"pretrained model {name!r} is not in this installation ({folder} is missing); "
                                f"train it with `python benchmarks/train_pretrained.py --only {name}`")
    return folder


def resolve_model(spec: str | os.PathLike) -> str | os.PathLike:
    """``"pretrained:NAME"`` -> that model's folder; any other model folder unchanged."""
    if isinstance(spec, str) and spec.startswith(PREFIX):
        return pretrained_path(spec[len(PREFIX):])
    return spec


def pretrained(name: str):
    """The fitted estimator shipped as ``name`` (see :data:`PRETRAINED`), loaded offline from the package.

    >>> import aekit
    >>> den = aekit.pretrained("denoise-photo")            # doctest: +SKIP
    >>> clean = den.predict([noisy], sigma=25 / 255)[0]     # doctest: +SKIP
    """
    from aekit.estimators import rebuild_estimator  # not aekit.load: it reads pretrained:NAME through here
    from aekit.persistence import read_model

    return rebuild_estimator(read_model(pretrained_path(name)), pretrained_path(name))


__all__ = ["BEATS_JPEG", "PRETRAINED", "WEIGHTS", "jpeg_warning", "list_pretrained", "pretrained", "pretrained_path",
           "resolve_model"]
