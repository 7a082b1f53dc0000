"""A learned photo codec: images of any size to byte streams at several quality levels, with one model.

Two model families. ``block-transform-coding`` (aekit/models/block_coding.py, the default): a learned 8x8 block
transform started as the Karhunen-Loeve transform of the training blocks, a dead-zone quantiser, a learned
post-filter, and a context-adaptive entropy model: each symbol is coded with a discretised Laplacian of a bank
(:func:`aekit.estimators._entropy.laplace_bank`) picked per image for its channel and moved by its block's
activity class (:func:`aekit.estimators._entropy.pick_context_rows`), the picks in the stream.
``transform-coding`` (aekit/models/transform_coding.py): Ballé et al.'s analysis
and synthesis transforms with GDN and a factorized entropy model ("End-to-end optimized image
compression", ICLR 2017, arxiv 1611.01704; "Variational image compression with a scale hyperprior", ICLR
2018, arxiv 1802.01436), with per-level gain vectors for several qualities (Cui et al., "Asymmetric Gained
Deep Image Compression with Continuous Rate Adaptation", CVPR 2021, arxiv 2003.02012). It is trained on
random patches through aekit's one training path (objective ``"rate-distortion"``); its coding tables,
one per latent channel, come from the learned density. Streams are aekit.codec's format version 3 (the
image's size and quality level in the header, constriction's range coder, a model id and a checksum).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from aekit.codec import IMAGE_VERSION, CodecError, decode_channels, encode_channels, model_id, pack_stream, \
    unpack_stream
from aekit.estimators._core import register_estimator
from aekit.estimators._entropy import CONTEXT_CLASSES, activity_class, context_classes, context_row, density_tables, \
    laplace_bank, pick_context_rows, side_row
from aekit.estimators._image import ImageEstimator, read_images, training_samples, value_range
from aekit.estimators._state import INT
from aekit.estimators.compressor import TablesInFolder
from aekit.seeding import resolve_seeds
from aekit.validation import Integer, ListOf, NoneOr, Options, Real
from aekit.operations import Operation

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)   # ITU-R BT.601: a grey image out of a colour model
MAX_PIXELS = 1 << 28  # a stream claiming a larger image is refused before anything is allocated


@register_estimator("image-codec")
class ImageCodec(TablesInFolder, ImageEstimator):
    """A learned lossy codec for photographs of any size, with several quality levels in one model.

    ``fit(X)`` trains on random patches of ``X``; ``compress(X, quality=q)`` gives one byte stream per image
    (format version 3 of :mod:`aekit.codec`: the image's true size and its quality level in the header);
    ``decompress(streams)`` gives the images back.

    Parameters
    ----------
    latent_dim : int, optional
        Latent channels M: the code is M x H/8 x W/8 for ``block-transform-coding`` (default: every coefficient
        of a block, C * 64), M x H/16 x W/16 for ``transform-coding`` (default 96).
    filters : int, default 32
        Channels of the post-filter (``block-transform-coding``) or of the transforms' hidden layers
        (``transform-coding``; 64 there is Ballé et al.'s smallest).
    lambdas : list of float, default (0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.0483)
        One rate-distortion multiplier per quality level, increasing: level ``q`` trains on
        ``lambdas[q] * 255^2 * MSE + bits per pixel`` (MSE on [0, 1] pixel values; Ballé et al.'s MSE points).
    quality : int, optional
        The quality level ``compress`` uses by default (0 = smallest streams, ``n_qualities_ - 1`` = best
        quality); None: the middle level, ``(n_qualities_ - 1) // 2``.
    patch_size : int, default 64
        Side of the random training patches (rounded up to a multiple of the model's downsampling).
    n_patches : int, default 4000
        Number of training patches cut from the images (each image's share proportional to its area).
        Images that all share one size with sides that divide by the downsampling, at most ``patch_size``, are
        used whole.
    model : {"block-transform-coding", "transform-coding"}, default "block-transform-coding"
    model_params : dict, optional
        Extra model arguments, e.g. ``{"deadzone": 0.2}`` or ``{"components": 3}``.
    epochs, batch_size, lr, max_time : training budget (``max_time`` in seconds, optional). The block transform
        starts from the blocks' KLT, so a few epochs already give a working codec. The default ``lr=1e-4`` is
        Ballé et al.'s; at 1e-3 the GDN transforms diverge early in training.
    validation_fraction : float, default 0.1
        Patches held out for early stopping (at the middle level), when there are at least 20.
    random_state : int, RandomState or None, default 0
    device : str, default "cpu"
    verbose : bool, default False

    Attributes
    ----------
    autoencoder_ : aekit.TrainedAutoencoder
        The trained transform-coding model.
    entropy_tables_ : aekit.codec.EntropyTables
        ``transform-coding``: per latent channel, the symbol range and its probabilities (from the learned
        density); ``block-transform-coding``: the bank of Laplacian tables each image picks from.
    n_qualities_ : int
        Number of quality levels.
    n_channels_ : int
        Channels the model codes: 3 when any training image is colour, else 1 (or the data's own count).
    value_range_ : (float, float)
        Raw value range mapped to [0, 1]: (0, 1), (0, 255) for 8-bit data, else the training data's.
    history_, n_iter_

    Notes
    -----
    Images may be a list of (H, W), (H, W, C) or (C, H, W) arrays of any sizes, or a batch (n, H, W),
    (n, C, H, W), (n, H, W, C); decoded images are (H, W) grey or (H, W, C) colour (the layout of image
    files), whatever the layout given. Each image is padded to sides that divide by the model's downsampling (8 or
    16) by edge replication before
    coding and the decoded image is cropped back to its true size (recorded in the stream). A grey image
    given to a colour model is coded as three equal channels and decoded as the BT.601 luma of the decoded
    colour image; a stream from another model, a truncated or corrupted one raises
    :class:`aekit.codec.CodecError` naming the problem.

    Examples
    --------
    >>> import numpy as np
    >>> from aekit import ImageCodec
    >>> rng = np.random.default_rng(0)
    >>> photos = [rng.random((40, 56, 3)).astype(np.float32) for _ in range(4)]
    >>> codec = ImageCodec(latent_dim=8, filters=8, lambdas=[0.005, 0.02], patch_size=32, n_patches=32,
    ...                    epochs=1, batch_size=16).fit(photos)
    >>> streams = codec.compress(photos[:2], quality=1)
    >>> [image.shape for image in codec.decompress(streams)]
    [(40, 56, 3), (40, 56, 3)]
    """

    _constraints = {
        **ImageEstimator._constraints,
        "filters": Integer(1),
        "lambdas": ListOf(Real(0, closed="neither"), min_len=1),
        "quality": NoneOr(Integer(0)),
        "patch_size": Integer(16),
        "n_patches": Integer(1),
        "latent_dim": NoneOr(Integer(1)),
        "model": Options("block-transform-coding", "transform-coding"),
    }
    _constraints.pop("scaler")
    _fitted = {**ImageEstimator._fitted, "n_qualities_": INT}   # entropy_tables_: TablesInFolder

    # what aekit apply, aekit serve and the explorer offer (aekit.operations)
    purpose = "image compression"
    operations = (
        Operation("compress", "images", ("stream",), "one .aek stream per image (any size), default quality",
                  "compress"),
        Operation("decompress", "streams", ("reconstruction",), "images decoded from .aek streams, raw units",
                  "decompress"),
        Operation("reconstruct", "images", ("reconstruction",), "what compress then decompress gives, raw units",
                  "reconstruct"),
    )

    # tiny settings and a data family for tests/test_conformance.py (no scikit-learn checks: it takes lists of
    # images of any size, and its streams, not arrays, are its output)
    _conformance = {"data": "photos", "params": {"latent_dim": 8, "filters": 8, "lambdas": [0.005, 0.02],
                                                 "patch_size": 16, "n_patches": 16, "epochs": 1, "batch_size": 8}}

    def __init__(self, latent_dim: int | None = None, *, filters: int = 32,
                 lambdas: tuple[float, ...] | list[float] = (0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.0483),
                 quality: int | None = None, patch_size: int = 64, n_patches: int = 4000,
                 model: str = "block-transform-coding", model_params: dict | None = None, epochs: int = 20,
                 batch_size: int = 16, lr: float = 1e-4, max_time: float | None = None,
                 validation_fraction: float = 0.1, random_state=0, device: str = "cpu", verbose: bool = False):
        self.latent_dim = latent_dim
        self.filters = filters
        self.lambdas = lambdas
        self.quality = quality
        self.patch_size = patch_size
        self.n_patches = n_patches
        self.model = model
        self.model_params = model_params
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.max_time = max_time
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # ------------------------------------------------------------------------------------ fit
    def _check_params(self) -> None:
        super()._check_params()
        from aekit.models.transform_coding import check_lambdas

        try:
            check_lambdas(self.lambdas)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{type(self).__name__}: {exc}") from None
        if self.quality is not None and self.quality >= len(self.lambdas):
            raise ValueError(f"{type(self).__name__}: quality={self.quality} must be below the number of levels, "
                             f"len(lambdas)={len(self.lambdas)}")

    def fit(self, X, y=None):
        """Train on random patches of the images ``X`` (``y`` is ignored) and build the coding tables;
        returns ``self``."""
        self._check_params()
        images = read_images(X)
        self.n_channels_ = _model_channels({a.shape[0] for a in images.items})
        self.value_range_ = value_range(images.items)
        seeds = resolve_seeds(self.random_state)
        units = [self._to_model_channels(self._unit(a)) for a in images.items]
        factor = self._downsampling()
        patch = int(math.ceil(self.patch_size / factor) * factor)
        shapes = {a.shape for a in units}
        whole = len(shapes) == 1 and all(s % factor == 0 and s <= patch for s in next(iter(shapes))[1:])
        x = np.stack(units) if whole else training_samples(units, patch_size=patch, n_patches=int(self.n_patches),
                                                           factor=factor, seed=seeds.split)[0]
        x = np.ascontiguousarray(x, dtype=np.float32)
        spec_params = {"filters": int(self.filters), "lambdas": [float(v) for v in self.lambdas]}
        model = self._model_spec(tuple(x.shape[1:]), spec_params).build(tuple(x.shape[1:]), seeds.init)
        if hasattr(model, "initialise"):   # a data-dependent start (the block transform's KLT)
            model.initialise(torch.from_numpy(x))
        fitted = self._train(x, seeds=seeds, scaler=None, model=model, objective="rate-distortion")
        self._keep(fitted)
        self.n_qualities_ = self.autoencoder_.model.n_levels
        self.entropy_tables_ = laplace_bank() if self._adaptive else density_tables(self.autoencoder_.model.density)
        return self

    def _downsampling(self) -> int:
        """The model's downsampling: image sides are padded to a multiple of it."""
        from aekit.models.transform_coding import DOWNSAMPLING

        if self.model == "transform-coding":
            return DOWNSAMPLING
        return int((self.model_params or {}).get("block", 8))

    def _latent_dim(self) -> int:
        if self.latent_dim is not None:
            return int(self.latent_dim)
        if self.model == "transform-coding":
            return 96
        return self.n_channels_ * self._downsampling() ** 2

    @property
    def _adaptive(self) -> bool:
        """Whether streams pick their coding tables per image (a model without a learned density)."""
        return not hasattr(self.autoencoder_.model, "density")

    # ------------------------------------------------------------------------------------ units and channels
    def _to_model_channels(self, img: np.ndarray) -> np.ndarray:
        """(c, H, W) -> (n_channels_, H, W): a grey image repeated for a colour model."""
        c = img.shape[0]
        if c == self.n_channels_:
            return img
        if c == 1 and self.n_channels_ == 3:
            return np.repeat(img, 3, axis=0)
        raise ValueError(f"{type(self).__name__}: an image with {c} channel(s), but this codec codes images with "
                         f"{self.n_channels_} channel(s)" + (" (or grey ones)" if self.n_channels_ == 3 else ""))

    def _from_model_channels(self, img: np.ndarray, c: int) -> np.ndarray:
        """(n_channels_, H, W) -> (c, H, W): the BT.601 luma for a grey image out of a colour model."""
        if c == img.shape[0]:
            return img
        return np.tensordot(LUMA, img, axes=1)[None].astype(np.float32)

    @staticmethod
    def _layout_out(img: np.ndarray) -> np.ndarray:
        """(c, H, W) -> (H, W) grey or (H, W, C) colour."""
        return img[0] if img.shape[0] == 1 else np.ascontiguousarray(img.transpose(1, 2, 0))

    # ------------------------------------------------------------------------------------ quantised codes
    def _level(self, quality) -> int:
        model = self.autoencoder_.model
        q = self.quality if quality is None else quality
        if q is None:
            return model.default_level
        if isinstance(q, (bool, np.bool_)) or not isinstance(q, (int, np.integer)) or not 0 <= q < model.n_levels:
            raise ValueError(f"{type(self).__name__}: quality={q!r}; expected an integer level 0..{model.n_levels - 1} "
                             f"(0 = smallest streams)")
        return int(q)

    def _symbols(self, img: np.ndarray, level: int) -> np.ndarray:
        """A [0, 1] image (n_channels_, H, W) -> its clipped integer latent symbols (M, h, w)."""
        model = self.autoencoder_.model
        x = torch.from_numpy(np.ascontiguousarray(img))[None]                            # (1, C, H, W)
        with torch.no_grad():
            y = model.analysis(x, level)[0]                                               # (M, h, w)
            symbols = (model.quantise(y) if hasattr(model, "quantise") else torch.round(y)).numpy().astype(np.int64)
        t = self.entropy_tables_
        if self._adaptive:   # every row of the bank spans one range
            return np.clip(symbols, t.low[0], t.high[0])
        return np.clip(symbols, t.low[:, None, None], t.high[:, None, None])

    def _decode_symbols(self, symbols: np.ndarray, level: int, size: tuple[int, int]) -> np.ndarray:
        """Symbols (M, h, w) -> the [0, 1] image (n_channels_, H, W) cropped to ``size``."""
        y_hat = torch.from_numpy(symbols.astype(np.float32))[None]                      # (1, M, h, w)
        with torch.no_grad():
            return self.autoencoder_.model.synthesis(y_hat, level, size)[0].numpy()

    def reconstruct(self, X, *, quality: int | None = None) -> list[np.ndarray]:
        """What ``decompress(compress(X, quality=quality))`` returns, without the entropy coding."""
        self._check_fitted()
        level, out = self._level(quality), []
        for img in read_images(X).items:
            unit = self._to_model_channels(self._unit(img))
            rec = self._decode_symbols(self._symbols(unit, level), level, img.shape[1:])
            out.append(self._layout_out(self._raw(self._from_model_channels(rec, img.shape[0]))))
        return out

    def score(self, X, y=None, *, quality: int | None = None) -> float:
        """Mean PSNR in dB (on [0, 1] units) of the coded images against ``X`` (higher is better)."""
        images = read_images(X)
        psnrs = []
        for img, rec in zip(images.items, self.reconstruct(X, quality=quality)):
            rec = rec[None] if rec.ndim == 2 else rec.transpose(2, 0, 1)                    # (C, H, W)
            err = float(np.mean((self._unit(rec).astype(np.float64) - self._unit(img)) ** 2))
            psnrs.append(10 * np.log10(1.0 / max(err, 1e-12)))
        return float(np.mean(psnrs))

    # ------------------------------------------------------------------------------------ streams
    @property
    def model_id(self) -> bytes:
        """4 bytes naming the weights, the coding tables, the channels and the value range; in every stream."""
        self._check_fitted()
        state = self.autoencoder_.model.state_dict()
        arrays = [state[key].detach().cpu().numpy() for key in sorted(state)]
        t = self.entropy_tables_
        extra = repr(("image-codec", int(self.n_channels_), tuple(map(float, self.value_range_)))).encode()
        return model_id(*arrays, t.low, t.probs, extra=extra)

    def compress(self, X, *, quality: int | None = None) -> list[bytes]:
        """One self-contained byte stream per image of ``X`` (any size) at ``quality`` (default: the
        ``quality`` parameter, else the middle level)."""
        self._check_fitted()
        level, mid = self._level(quality), self.model_id
        streams = []
        for img in read_images(X).items:
            symbols = self._symbols(self._to_model_channels(self._unit(img)), level)    # (M, h, w)
            flat = symbols.reshape(len(symbols), -1)
            if self._adaptive:
                payload = self._encode_adaptive(flat, *pick_context_rows(flat, self.entropy_tables_))
            else:
                payload = encode_channels(flat, self.entropy_tables_)
            streams.append(pack_stream(payload, model=mid, version=IMAGE_VERSION, shape=img.shape, quality=level))
        return streams

    def decode_streams(self, streams) -> list[tuple[np.ndarray, int, tuple[int, int, int]]]:
        """Per stream: its latent symbols (M, h, w), quality level and image shape (C, H, W); raises
        :class:`aekit.codec.CodecError` naming the stream and what is wrong with it."""
        self._check_fitted()
        if isinstance(streams, (bytes, bytearray, memoryview)):
            raise TypeError("decompress expects a list of streams (one per image); wrap a single stream in a list")
        mid, out = self.model_id, []
        for i, stream in enumerate(streams):
            try:
                header, payload = unpack_stream(stream, model=mid)
                shape, level = self._check_header(header)
                factor = self.autoencoder_.model.downsampling
                h, w = -(-shape[1] // factor), -(-shape[2] // factor)
                if self._adaptive:
                    symbols = self._decode_adaptive(payload, h * w)
                else:
                    self._check_payload_size(payload, h * w)
                    symbols = decode_channels(payload, self.entropy_tables_, h * w)
            except CodecError as exc:
                raise CodecError(f"stream {i}: {exc}") from None
            out.append((symbols.reshape(-1, h, w), level, shape))
        if not out:
            raise ValueError("decompress got no streams")
        return out

    def _check_header(self, header) -> tuple[tuple[int, int, int], int]:
        if header.version != IMAGE_VERSION:
            raise CodecError(f"a format version {header.version} stream codes a fixed-size item (aekit.Compressor), "
                             f"not an image; this codec reads version {IMAGE_VERSION}")
        c, h, w = header.shape
        if c not in (self.n_channels_, 1) or h < 1 or w < 1:
            raise CodecError(f"corrupted stream: it holds a {c}-channel {h}x{w} image; this codec codes "
                             f"{self.n_channels_}-channel (or grey) images of at least 1x1 pixels")
        if h * w > MAX_PIXELS:
            raise CodecError(f"corrupted stream: it claims a {h}x{w} image, more than {MAX_PIXELS} pixels")
        if header.quality >= self.n_qualities_:
            raise CodecError(f"corrupted stream: quality level {header.quality}, but this codec has levels "
                             f"0..{self.n_qualities_ - 1}")
        return (c, h, w), header.quality

    # ------------------------------------------------------------------------------------ context-adaptive coding
    def _encode_adaptive(self, symbols: np.ndarray, bases: np.ndarray, offsets: np.ndarray) -> bytes:
        """A block code (M, n) -> payload, in one range coder: the side information (the channels' base rows as
        differences, then the classes' offsets, with the bank's row of scale 2), then channel by channel the
        symbols of each activity class (:func:`~aekit.estimators._entropy.context_classes`) with the bank row of
        that (channel, class) (:func:`~aekit.estimators._entropy.context_row`)."""
        from aekit.codec import GroupWriter

        bank = self.entropy_tables_
        writer, side = GroupWriter(bank), side_row()
        writer.write(np.diff(bases, prepend=0), side)
        writer.write(offsets, side)
        classes = context_classes(symbols)
        for j, base in enumerate(bases):
            if base:
                for k, offset in enumerate(offsets):
                    writer.write(symbols[j][classes[j] == k], context_row(base, offset, len(bank.low)))
        return writer.payload()

    def _decode_adaptive(self, payload: bytes, n: int) -> np.ndarray:
        """Inverse of :meth:`_encode_adaptive`: payload -> the block code (M, n); a payload that is not exactly
        what the encoder writes for what it decodes to is refused (:class:`CodecError`)."""
        from aekit.codec import GroupReader

        bank, m = self.entropy_tables_, self.autoencoder_.model.latent_dim
        reader, side, n_rows = GroupReader(payload, bank), side_row(), len(bank.low)
        bases = np.cumsum(reader.read(m, side))
        if bases.min(initial=0) < 0 or bases.max(initial=0) >= n_rows:
            raise CodecError(f"corrupted stream: its coding-table numbers fall outside this codec's {n_rows} tables")
        offsets = reader.read(CONTEXT_CLASSES, side)
        # channel by channel, the whole code allocated only once every channel decoded: a forged image size
        # behind a short payload fails at its first coded channel, before (M, n) is allocated
        channels: list[np.ndarray | None] = []
        activity = np.zeros(n, np.int64)          # context_classes, one channel at a time
        for j, base in enumerate(bases):
            row = None
            if base:
                cls = activity_class(activity)
                row = np.zeros(n, np.int32)
                for k, offset in enumerate(offsets):
                    where = cls == k
                    row[where] = reader.read(int(where.sum()), context_row(base, offset, n_rows))
                if j:
                    activity += np.abs(row)
            channels.append(row)
        symbols = np.zeros((m, n), np.int32)
        for j, row in enumerate(channels):
            if row is not None:
                symbols[j] = row
        if self._encode_adaptive(symbols, bases, offsets) != bytes(payload):
            raise CodecError(f"corrupted stream: its {len(payload)}-byte payload is not the coding of {n} positions of "
                             f"{m} latent channels written by this model")
        return symbols

    def _check_payload_size(self, payload: bytes, positions: int) -> None:
        """Refuse a payload far shorter than any coding of ``positions`` latent positions (each channel's
        symbol costs at least -log2 of its most probable symbol's probability): a forged image size."""
        floor = positions * float(-np.log2(self.entropy_tables_.probs.max(1)).sum())
        if 8 * len(payload) < 0.9 * floor - 64:
            raise CodecError(f"corrupted stream: a {len(payload)}-byte payload cannot code the image size in its "
                             f"header (at least {floor / 8:.0f} bytes)")

    def decompress(self, streams) -> list[np.ndarray]:
        """The images of ``streams`` from :meth:`compress`, at their true sizes and in the training data's
        units: (H, W) grey, (H, W, C) colour."""
        images = []
        for symbols, level, (c, h, w) in self.decode_streams(streams):
            rec = self._decode_symbols(symbols, level, (h, w))
            images.append(self._layout_out(self._raw(self._from_model_channels(rec, c))))
        return images


def _model_channels(channels: set[int]) -> int:
    """The channels a codec for images with these channel counts codes: 3 for grey and colour together."""
    if channels <= {1, 3}:
        return 3 if 3 in channels else 1
    if len(channels) == 1:
        return channels.pop()
    raise ValueError(f"ImageCodec: the training images have different channel counts {sorted(channels)}; expected "
                     f"grey and RGB images, or one channel count")
