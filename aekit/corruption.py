"""Training-time corruptions for denoising autoencoders: ``corruption(x, generator) -> x_tilde``.

Vincent, Larochelle, Bengio & Manzagol, "Extracting and composing robust features with denoising
autoencoders", ICML 2008: train on corrupted inputs x_tilde ~ q(x_tilde | x) with the clean x as the
target (additive Gaussian noise, salt-and-pepper noise and masking noise are their corruptions). Square
cut-outs follow DeVries & Taylor, "Improved Regularization of Convolutional Neural Networks with Cutout"
(arXiv 1708.04552) and Pathak et al., "Context Encoders" (CVPR 2016) for inpainting; overlaid marks follow
Dekel et al., "On the Effectiveness of Visible Watermarks" (CVPR 2017).

Every corruption takes a batch ``x`` (B, *shape) of values in [0, 1] and a ``torch.Generator`` and
returns a new tensor of the same shape; ``x`` is never modified, and the same generator state gives the
same result. The random numbers are drawn on the generator's device and moved to ``x``'s.
"Pixels" of images (B, C, H, W) are spatial positions: one draw is shared by the C channels; for any
other shape, such as tables (B, D), every element is drawn on its own.

Strings map to corruptions through one registry (``@register_corruption``); :func:`make_corruption`
parses command-line specs such as ``"gaussian:0.5"``, ``"block:8,n=3"`` or ``"watermark:marks,alpha=0.6"``
and :func:`to_spec` writes them back. A spec is parsed once, where it enters (a command line, an estimator's
``fit``, a saved record being loaded), and the object is passed on from there; ``to_spec`` only writes the
human-readable record (run metadata, a saved estimator's state), never a string to be parsed again.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, ClassVar

import torch
import torch.nn.functional as F

from aekit.registry import Registry
from aekit.validation import Boolean, Integer, Options, Real, check_params

FRACTION = Real(0, 1)   # a fraction of the pixels, in [0, 1]

_REGISTRY: Registry[type["Corruption"]] = Registry("corruption")


def register_corruption(name: str) -> Callable[[type["Corruption"]], type["Corruption"]]:
    """Class decorator: make ``make_corruption("name:...")`` build this (dataclass) corruption."""
    return _REGISTRY.register(name)


def list_corruptions() -> list[str]:
    """Names of every registered corruption, sorted."""
    return _REGISTRY.names()


class Corruption:
    """Base class: a dataclass of parameters whose ``apply(x, generator)`` does the work.

    The parameters are checked against the class's ``_constraints`` (:mod:`aekit.validation`) when the
    object is made; ``__call__`` checks the input first; ``images_only`` corruptions need (B, C, H, W) batches.
    """

    name: ClassVar[str] = ""
    images_only: ClassVar[bool] = False
    deterministic: ClassVar[bool] = False  # True where the generator is not used (grey, downsample)
    _constraints: ClassVar[dict] = {}

    def __post_init__(self) -> None:
        check_params(self.name, {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init},
                     self._constraints)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"corruption {self.name!r} needs a floating-point torch.Tensor, got "
                            f"{getattr(x, 'dtype', type(x).__name__)}")
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"corruption {self.name!r} needs a torch.Generator, got {type(generator).__name__}")
        if x.dim() < 2:
            raise ValueError(f"corruption {self.name!r} needs a batch shaped (B, *shape), got shape {tuple(x.shape)}")
        if self.images_only and x.dim() != 4:
            tables = [n for n in list_corruptions() if not _REGISTRY.get(n).images_only]
            raise ValueError(f"corruption {self.name!r} works on images shaped (B, C, H, W), got a batch shaped "
                             f"{tuple(x.shape)}; for tables and other data use one of {tables}")
        return self.apply(x, generator)

    def apply(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError


def _uniform(shape: tuple[int, ...], generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """U[0, 1) of ``shape`` drawn from ``generator`` (on its device), moved to ``like``'s device."""
    return torch.rand(shape, generator=generator, device=generator.device).to(like.device)


def _pixel_shape(x: torch.Tensor) -> tuple[int, ...]:
    """One draw per pixel: (B, 1, H, W) for images (shared by the channels), x's shape otherwise."""
    return (x.shape[0], 1, *x.shape[2:]) if x.dim() == 4 else tuple(x.shape)


# ------------------------------------------------------------------ noise on any shape


@register_corruption("gaussian")
@dataclass
class GaussianNoise(Corruption):
    """Additive Gaussian noise ``x + sigma * N(0, 1)``, clipped to [0, 1] unless ``clip=False``."""

    _constraints: ClassVar[dict] = {"sigma": Real(0, finite=True), "clip": Boolean()}
    sigma: float = 0.5     # standard deviation of the noise
    clip: bool = True      # clip the result to [0, 1]

    def apply(self, x, generator):
        noise = torch.randn(tuple(x.shape), generator=generator, device=generator.device).to(x.device, x.dtype)
        out = x + self.sigma * noise
        return out.clamp(0.0, 1.0) if self.clip else out


@register_corruption("salt_pepper")
@dataclass
class SaltPepperNoise(Corruption):
    """A fraction ``p`` of the pixels (in expectation) set to 0 or 1 with equal odds."""

    _constraints: ClassVar[dict] = {"p": FRACTION}
    p: float = 0.2         # fraction of pixels hit

    def apply(self, x, generator):
        shape = _pixel_shape(x)
        hit = _uniform(shape, generator, x) < self.p                   # (B, 1, H, W) or x's shape
        salt = (_uniform(shape, generator, x) < 0.5).to(x.dtype)       # 1 (salt) or 0 (pepper)
        return torch.where(hit, salt, x)                              # broadcast over the channels


@register_corruption("mask")
@dataclass
class MaskingNoise(Corruption):
    """Masking (dropout) noise: a fraction ``p`` of the pixels (in expectation) set to 0."""

    _constraints: ClassVar[dict] = {"p": FRACTION}
    p: float = 0.5         # fraction of pixels masked

    def apply(self, x, generator):
        keep = _uniform(_pixel_shape(x), generator, x) >= self.p       # (B, 1, H, W) or x's shape
        return x * keep.to(x.dtype)


# ------------------------------------------------------------------ image-only corruptions


@register_corruption("block")
@dataclass
class BlockCutout(Corruption):
    """``n`` square blocks of ``size`` x ``size`` pixels at uniform random positions (inside the image,
    possibly overlapping) filled with ``value``."""

    images_only: ClassVar[bool] = True
    _constraints: ClassVar[dict] = {"size": Integer(1), "n": Integer(1), "value": Real(finite=True)}
    size: int = 8          # side of each block, in pixels
    n: int = 1             # blocks per image
    value: float = 0.0     # fill value

    def apply(self, x, generator):
        b, _, h, w = x.shape
        s = self.size
        if s > h or s > w:
            raise ValueError(f"block: size={s} is larger than the {h}x{w} images")
        top = torch.randint(0, h - s + 1, (b, self.n), generator=generator, device=generator.device).to(x.device)
        left = torch.randint(0, w - s + 1, (b, self.n), generator=generator, device=generator.device).to(x.device)
        rows = torch.arange(h, device=x.device)
        cols = torch.arange(w, device=x.device)
        in_rows = (rows >= top[..., None]) & (rows < top[..., None] + s)          # (B, n, H)
        in_cols = (cols >= left[..., None]) & (cols < left[..., None] + s)        # (B, n, W)
        hit = (in_rows[..., :, None] & in_cols[..., None, :]).any(1)              # (B, H, W)
        return x.masked_fill(hit[:, None], float(self.value))                     # (B, C, H, W)


WATERMARK_STYLES = ("text", "marks")
WATERMARK_COLORS = ("white", "black", "random")
_WORDS = ("SAMPLE", "COPY", "DRAFT", "aekit", "\u00a9 2024", "PROOF", "ID 4821", "12:30")
_BANK_PX = 64  # marks are drawn on a 64x64 canvas (text at a 32 px font), resized to the images later


def _render_bank(style: str) -> list[torch.Tensor]:
    """Stamps as coverage maps in [0, 1], each cropped to its ink: a list of (h, w) tensors."""
    from PIL import Image, ImageDraw, ImageFont

    images = []
    if style == "text":
        font = ImageFont.load_default(size=32)
        for word in _WORDS:
            im = Image.new("L", (12 * 32, 2 * 32))
            ImageDraw.Draw(im).text((8, 8), word, fill=255, font=font, stroke_width=2, stroke_fill=255)  # bold
            images.append(im)
    else:
        n, lw = _BANK_PX, 6
        drawings = [
            lambda d: d.line([(0, n // 2), (n - 1, n // 2)], fill=255, width=lw),               # bar
            lambda d: d.line([(0, 0), (n - 1, n - 1)], fill=255, width=lw),                     # diagonal \
            lambda d: d.line([(0, n - 1), (n - 1, 0)], fill=255, width=lw),                     # diagonal /
            lambda d: d.ellipse([4, 4, n - 5, n - 5], outline=255, width=lw),                   # ring
            lambda d: (d.line([(8, 8), (n - 9, n - 9)], fill=255, width=lw),                    # cross X
                       d.line([(8, n - 9), (n - 9, 8)], fill=255, width=lw)),
            lambda d: d.rectangle([4, 4, n - 5, n - 5], outline=255, width=lw),                 # frame
            lambda d: d.polygon([(n // 2, 2), (n - 3, n - 3), (2, n - 3)], outline=255, width=lw),  # triangle
            lambda d: d.line([(2, n // 2), (n // 4, 8), (n // 2, n - 9), (3 * n // 4, 8), (n - 3, n // 2)],
                             fill=255, width=lw, joint="curve"),                                # zigzag
            lambda d: (d.ellipse([4, 4, n - 5, n - 5], outline=255, width=lw),                  # logo: ring + bar
                       d.rectangle([n // 2 - lw, 14, n // 2 + lw, n - 15], fill=255)),
            lambda d: d.regular_polygon((n // 2, n // 2, n // 2 - 3), 5, fill=255),             # pentagon seal
        ]
        for draw in drawings:
            im = Image.new("L", (n, n))
            draw(ImageDraw.Draw(im))
            images.append(im)
    stamps = []
    for im in images:
        im = im.crop(im.getbbox())
        stamps.append(torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8)
                      .reshape(im.height, im.width).float() / 255.0)
    return stamps


@register_corruption("watermark")
@dataclass
class Watermark(Corruption):
    """Overlaid text or marks (lines, rings, crosses, frames, logos) at random positions with opacity
    ``alpha``: ``x * (1 - alpha * m) + alpha * m * color`` where m in [0, 1] is the stamp's coverage.

    The stamp bank is drawn once with PIL when the corruption is built; each call resizes it to the
    images (the stamps' height at most ``scale`` of the image height, their width at most the image's),
    then pastes ``n`` stamps per image with tensor indexing.
    """

    images_only: ClassVar[bool] = True
    style: str = "text"    # "text" (words) or "marks" (lines, rings, crosses, frames, logos)
    alpha: float = 0.5     # opacity of the stamps, in (0, 1]
    n: int = 1             # stamps per image
    scale: float = 0.5     # largest stamp height, as a fraction of the image height, in (0, 1]
    color: str = "white"   # "white", "black", or "random" (one colour per image)
    _bank: list = field(init=False, repr=False, compare=False)
    _sized: dict = field(init=False, repr=False, compare=False)

    _constraints: ClassVar[dict] = {"style": Options(*WATERMARK_STYLES), "color": Options(*WATERMARK_COLORS),
                                    "alpha": Real(0, 1, closed="right"), "scale": Real(0, 1, closed="right"),
                                    "n": Integer(1)}

    def __post_init__(self) -> None:
        super().__post_init__()
        self._bank = _render_bank(self.style)
        self._sized = {}

    def stamps(self, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The bank resized for h x w images, zero-padded to a common size (K, hs, ws), and each stamp's
        own (height, width) (K, 2); cached per image size."""
        if (h, w) not in self._sized:
            max_h = max(1, round(self.scale * h))
            sized = []
            for st in self._bank:
                f = min(max_h / st.shape[0], w / st.shape[1])
                size = (max(1, round(st.shape[0] * f)), max(1, round(st.shape[1] * f)))
                sized.append(F.interpolate(st[None, None], size=size, mode="bilinear", antialias=True,
                                           align_corners=False)[0, 0].clamp(0, 1))
            hs, ws = max(s.shape[0] for s in sized), max(s.shape[1] for s in sized)
            self._sized[(h, w)] = (torch.stack([F.pad(s, (0, ws - s.shape[1], 0, hs - s.shape[0])) for s in sized]),
                                   torch.tensor([s.shape for s in sized]))
        return self._sized[(h, w)]

    def apply(self, x, generator):
        b, c, h, w = x.shape
        bank, sizes = self.stamps(h, w)
        bank, sizes = bank.to(x.device, x.dtype), sizes.to(x.device)           # (K, hs, ws), (K, 2)
        k, hs, ws = bank.shape
        m = b * self.n
        which = torch.randint(0, k, (m,), generator=generator, device=generator.device).to(x.device)
        room = torch.tensor([h + 1, w + 1], device=x.device) - sizes[which]    # (m, 2) positions that fit
        corner = torch.minimum((_uniform((m, 2), generator, x) * room).long(), room - 1)  # (m, 2) top, left
        top, left = corner[:, 0], corner[:, 1]
        rows = top[:, None, None] + torch.arange(hs, device=x.device)[None, :, None]   # (m, hs, 1)
        cols = left[:, None, None] + torch.arange(ws, device=x.device)[None, None, :]  # (m, 1, ws)
        canvas = x.new_zeros(m, h + hs, w + ws)  # room for the padding of stamps near the edges
        canvas[torch.arange(m, device=x.device)[:, None, None], rows, cols] = bank[which]  # (m, H+hs, W+ws)
        canvas = canvas[:, :h, :w].reshape(b, self.n, h, w)                             # (B, n, H, W)
        cover = self.alpha * canvas.amax(1, keepdim=True)                               # (B, 1, H, W)
        if self.color == "random":
            color = _uniform((b, c, 1, 1), generator, x).to(x.dtype)
        else:
            color = x.new_full((1, 1, 1, 1), 1.0 if self.color == "white" else 0.0)
        return x * (1 - cover) + cover * color                                         # (B, C, H, W)


@register_corruption("grey")
@dataclass
class Greyscale(Corruption):
    """Colour removed: every channel replaced by the luma ``0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601),
    so the shape is kept (grey replicated over the channels); grey images come back unchanged.

    The input of colourisation (Zhang, Isola & Efros, "Colorful Image Colorization", ECCV 2016).
    """

    images_only: ClassVar[bool] = True
    deterministic: ClassVar[bool] = True
    _constraints: ClassVar[dict] = {"weights": Options("bt601")}
    weights: str = "bt601"  # luma weights; only "bt601" for now

    def apply(self, x, generator):
        return luma(x).expand_as(x).clone()


def luma(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 1, H, W): BT.601 luma for 3 channels, the channel mean otherwise."""
    if x.shape[1] == 3:
        w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x * w).sum(1, keepdim=True)
    return x.mean(1, keepdim=True)


def bicubic_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, C, h, w) -> (B, C, *size), bicubic, anti-aliased when shrinking (as MATLAB's ``imresize``,
    the degradation of the super-resolution literature), clipped to [0, 1]."""
    shrink = size[0] < x.shape[2] or size[1] < x.shape[3]
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=shrink).clamp(0.0, 1.0)


@register_corruption("downsample")
@dataclass
class Downsample(Corruption):
    """Resolution lost: shrink by ``scale`` (bicubic, anti-aliased), then enlarge back to the original size
    (bicubic), so the shape is kept; the input of super-resolution networks that refine a bicubic
    up-sampling (Dong et al., "SRCNN", ECCV 2014; Kim et al., "VDSR", CVPR 2016)."""

    images_only: ClassVar[bool] = True
    deterministic: ClassVar[bool] = True
    _constraints: ClassVar[dict] = {"scale": Integer(2)}
    scale: int = 2         # shrink factor (2 or 4 in the literature)

    def apply(self, x, generator):
        _, _, h, w = x.shape
        if h < self.scale or w < self.scale:
            raise ValueError(f"downsample: {h}x{w} images are smaller than scale={self.scale}")
        small = bicubic_resize(x, (h // self.scale, w // self.scale))
        return bicubic_resize(small, (h, w))


@register_corruption("affine")
@dataclass
class RandomAffine(Corruption):
    """A random small rotation, scaling and translation of each image (bilinear; uncovered pixels are 0),
    the label-preserving distortions of digit recognition (Simard, Steinkraus & Platt, ICDAR 2003); the
    strong view of consistency training (:class:`aekit.EncoderClassifier`, ``mode="joint"``)."""

    images_only: ClassVar[bool] = True
    _constraints: ClassVar[dict] = {"degrees": Real(0, 180), "scale": Real(0, 1, closed="left"),
                                    "shift": Real(0, finite=True)}
    degrees: float = 15.0  # rotation drawn from U[-degrees, degrees]
    scale: float = 0.1     # zoom drawn from U[1 - scale, 1 + scale]
    shift: float = 2.0     # translation drawn from U[-shift, shift] pixels along each axis

    def apply(self, x, generator):
        b, _, h, w = x.shape
        u = _uniform((b, 4), generator, x).to(x.dtype) * 2 - 1                  # (B, 4) in [-1, 1)
        angle, zoom = u[:, 0] * (self.degrees * torch.pi / 180), 1 + u[:, 1] * self.scale
        cos, sin = zoom * torch.cos(angle), zoom * torch.sin(angle)
        tx, ty = u[:, 2] * (2 * self.shift / w), u[:, 3] * (2 * self.shift / h)  # in grid units ([-1, 1])
        theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)  # (B, 2, 3)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@dataclass(frozen=True)
class Chain(Corruption):
    """Corruptions applied in turn (spec ``"affine+mask:0.5"``), each drawing from the same generator."""

    parts: tuple = ()

    def __post_init__(self) -> None:
        if len(self.parts) < 2 or not all(isinstance(p, Corruption) for p in self.parts):
            raise ValueError(f"a chain needs two or more corruptions, got {self.parts!r}")

    @property
    def name(self) -> str:  # type: ignore[override]
        return "+".join(p.name for p in self.parts)

    @property
    def images_only(self) -> bool:  # type: ignore[override]
        return any(p.images_only for p in self.parts)

    @property
    def deterministic(self) -> bool:  # type: ignore[override]
        return all(p.deterministic for p in self.parts)

    def apply(self, x, generator):
        for part in self.parts:
            x = part.apply(x, generator)
        return x


# ------------------------------------------------------------------ specs


def _parse_value(spec: str, kind: str, f: dataclasses.Field, text: str):
    default = f.default
    text = text.strip()
    if isinstance(default, bool):
        low = text.lower()
        if low in ("true", "yes", "on", "1"):
            return True
        if low in ("false", "no", "off", "0"):
            return False
        raise ValueError(f"corruption spec {spec!r}: {kind} option {f.name}={text!r} must be true or false")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"corruption spec {spec!r}: {kind} option {f.name}={text!r} must be an integer") from None
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"corruption spec {spec!r}: {kind} option {f.name}={text!r} must be a number") from None
    return text


def _options(cls: type[Corruption]) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.init]


def make_corruption(spec: str | Corruption | None) -> Corruption | None:
    """Build a corruption from a spec ``"kind[:value][,option=value...]"``; None for None / "none".

    The first value without a name sets the kind's first option::

        gaussian:0.5             GaussianNoise(sigma=0.5)        gaussian:0.3,clip=false
        salt_pepper:0.2          SaltPepperNoise(p=0.2)          mask:0.5  MaskingNoise(p=0.5)
        block:12                 BlockCutout(size=12)            block:8,n=3,value=1
        watermark:text           Watermark(style="text")         watermark:marks,alpha=0.6,n=2
        affine+mask:0.5          Chain(RandomAffine(), MaskingNoise(p=0.5)): "+" applies specs in turn

    A :class:`Corruption` instance is returned as it is.
    """
    if spec is None or isinstance(spec, Corruption):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"a corruption spec must be a string such as 'gaussian:0.5', got {type(spec).__name__}")
    text = spec.strip()
    if text.lower() in ("", "none"):
        return None
    if "+" in text:
        parts = [p.strip() for p in text.split("+")]
        if any(p.lower() in ("", "none") for p in parts):
            raise ValueError(f"corruption spec {spec!r} has an empty or 'none' part; join kinds such as "
                             f"'affine+mask:0.5'")
        return Chain(tuple(make_corruption(p) for p in parts))
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind not in _REGISTRY:
        raise ValueError(f"unknown corruption {kind!r} in spec {spec!r}; valid kinds: {list_corruptions()} "
                         f"(or 'none')")
    cls = _REGISTRY.get(kind)
    options = _options(cls)
    by_name = {f.name: f for f in options}
    kwargs: dict = {}
    parts = [p.strip() for p in rest.split(",")] if rest.strip() else []
    n_positional = 0
    for part in parts:
        if not part:
            raise ValueError(f"corruption spec {spec!r} has an empty option (two commas, or a trailing comma)")
        if "=" in part:
            key, _, value = part.partition("=")
            key = key.strip()
            if key not in by_name:
                raise ValueError(f"corruption spec {spec!r}: {kind} has no option {key!r}; its options are "
                                 f"{list(by_name)}")
        else:
            if kwargs and n_positional < len(kwargs):
                raise ValueError(f"corruption spec {spec!r}: the value {part!r} without a name comes after a "
                                 f"named option; write it as <option>={part}")
            if n_positional >= 1:
                raise ValueError(f"corruption spec {spec!r}: only the first option of {kind} may be given without "
                                 f"a name; name {part!r} as one of {list(by_name)[1:]}")
            key, value = options[0].name, part
            n_positional += 1
        if key in kwargs:
            raise ValueError(f"corruption spec {spec!r} sets {kind} option {key!r} twice")
        kwargs[key] = _parse_value(spec, kind, by_name[key], value)
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ValueError(f"corruption spec {spec!r}: {exc}") from None


def _format(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def to_spec(corruption: Corruption | None) -> str:
    """The spec string of a corruption ("none" for None); ``make_corruption(to_spec(c)) == c``."""
    if corruption is None:
        return "none"
    if isinstance(corruption, Chain):
        return "+".join(to_spec(p) for p in corruption.parts)
    if not isinstance(corruption, Corruption) or not dataclasses.is_dataclass(corruption):
        raise TypeError(f"to_spec needs a registered corruption (see list_corruptions()), got "
                        f"{type(corruption).__name__}")
    first, *others = _options(type(corruption))
    parts = [_format(getattr(corruption, first.name))]
    parts += [f"{f.name}={_format(getattr(corruption, f.name))}" for f in others
              if getattr(corruption, f.name) != f.default]
    return f"{corruption.name}:" + ",".join(parts)


__all__ = ["Corruption", "GaussianNoise", "SaltPepperNoise", "MaskingNoise", "BlockCutout", "Watermark",
           "Greyscale", "Downsample", "RandomAffine", "Chain", "luma", "bicubic_resize",
           "register_corruption", "list_corruptions", "make_corruption", "to_spec"]
