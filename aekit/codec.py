"""Quantisation, entropy coding and the byte-stream format of aekit's learned codec.

The entropy coder is the range coder of the maintained ``constriction`` library (Bamler, "Understanding
entropy coding with asymmetric numeral systems (ANS): a statistician's perspective", 2022, arxiv
2201.01741; range coding: Martin 1979) over a categorical model per code unit.

One stream codes one item. Layout of format version 2 (written by this aekit)::

    offset  size  field
    0       2     magic b"\\xaeK"
    2       1     format version (2)
    3       4     model id: first 4 bytes of SHA-256 over the model weights, the entropy tables, the
                  quantisation step and the sample shape; a stream decoded by another model fails with a
                  clear error. The sample shape is the model's, so the stream does not repeat it.
    7       m     payload: the range coder's output as a big-endian number, cut to the fewest bytes that
                  still decode exactly when zero-padded (see :func:`encode_symbols`)
    -2      2     CRC-16/CCITT of everything before (binascii.crc_hqx): flipped or missing bytes fail

Header and checksum take 9 bytes (:data:`HEADER_BYTES`); every byte is counted in the stream's size.
Version 1 streams (the same, plus the sample shape after the model id: a varint ndim, then a varint per
dimension, 3 bytes for a 28x28 image) are still read, and their shape is checked against the model's.

Format version 3 (:data:`IMAGE_VERSION`) codes one image of any size (``aekit.ImageCodec``): after the model
id, varints for the image's channels, height and width, then one byte for the quality level, then the
payload of :func:`encode_channels` (one range-coded sequence per latent channel) and the checksum::

    7       c+h+w varints channels, height, width of the image (its true size; the codec pads and crops)
    ..      1     quality level
    ..      m     payload
    -2      2     CRC-16/CCITT

The payload depends on the codec's entropy model (the model id tells which codec wrote it). A learned
factorized density (``transform-coding``): one range-coded sequence per latent channel. The context-adaptive
model of the block coder (``block-transform-coding``, aekit/estimators/image_codec.py): one range coder over
the side information (each channel's base table, as differences from the previous channel's, then one table
offset per activity class) and then, channel by channel and class by class, the symbols with their
(channel, class) table (:class:`GroupWriter` / :class:`GroupReader`).
"""
from __future__ import annotations

import binascii
import hashlib
from dataclasses import dataclass

import numpy as np

MAGIC = b"\xaeK"
VERSION = 2
IMAGE_VERSION = 3          # images of any size (aekit.ImageCodec)
READ_VERSIONS = (1, 2, 3)
MODEL_ID_BYTES = 4
_CRC_BYTES = 2
HEADER_BYTES = len(MAGIC) + 1 + MODEL_ID_BYTES + _CRC_BYTES    # 9: every byte of a stream but the payload
_MIN_SIZE = HEADER_BYTES


class CodecError(ValueError):
    """A stream that cannot be decoded: not an aekit stream, another format version, made by another
    model, another sample shape, corrupted or truncated."""


def model_id(*arrays: np.ndarray, extra: bytes = b"") -> bytes:
    """The 4-byte id of a model: SHA-256 over the bytes of ``arrays`` (in order) and ``extra``."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    h.update(extra)
    return h.digest()[:MODEL_ID_BYTES]


# ------------------------------------------------------------------------------------------ varints
def _varint(value: int) -> bytes:
    if value < 0:
        raise ValueError(f"varint: {value} is negative")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise CodecError("truncated stream: the header's shape field runs past the end")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise CodecError("corrupted stream: the header's shape field is not a valid varint")


# ------------------------------------------------------------------------------------------ tables
@dataclass
class EntropyTables:
    """Per code unit ``i``, the probabilities of the integer symbols ``low[i] .. low[i] + K - 1``.

    ``probs`` (k, K) float64, rows sum to 1 (zero where a unit's range is shorter than K); ``low`` (k,)
    int64. Symbols outside a unit's range are clipped to it by :meth:`clip` (part of the quantiser).
    """

    low: np.ndarray
    probs: np.ndarray

    @classmethod
    def fit(cls, symbols: np.ndarray, *, prior=None, prior_weight: float = 1.0, margin: int = 1,
            max_symbols: int = 1024) -> "EntropyTables":
        """Histogram of integer ``symbols`` (n, k) per unit over ``[min - margin, max + margin]``, plus
        ``prior_weight`` pseudo-counts spread as ``prior(values (K,) , unit) -> pmf`` (or uniformly)."""
        symbols = np.asarray(symbols, dtype=np.int64)
        if symbols.ndim != 2 or len(symbols) == 0:
            raise ValueError(f"EntropyTables.fit needs symbols shaped (n, k) with n >= 1, got {symbols.shape}")
        low = symbols.min(0) - margin
        high = symbols.max(0) + margin
        width = int((high - low).max()) + 1
        if width > max_symbols:
            raise ValueError(f"the quantised code spans {width} symbols in one unit (more than {max_symbols}); "
                             "use a larger quantisation step")
        k = symbols.shape[1]
        probs = np.zeros((k, width))
        for i in range(k):
            n_i = int(high[i] - low[i]) + 1
            counts = np.bincount(symbols[:, i] - low[i], minlength=n_i).astype(np.float64)
            values = np.arange(low[i], high[i] + 1)
            pmf = np.full(n_i, 1.0 / n_i) if prior is None else np.asarray(prior(values, i), dtype=np.float64)
            pmf = pmf / pmf.sum()
            probs[i, :n_i] = counts + prior_weight * pmf
        probs /= probs.sum(1, keepdims=True)
        return cls(low.astype(np.int64), probs)

    @property
    def high(self) -> np.ndarray:
        widths = (self.probs > 0).sum(1)
        return self.low + widths - 1

    def clip(self, symbols: np.ndarray) -> np.ndarray:
        return np.clip(symbols, self.low, self.high)

    def entropy_bits(self, symbols: np.ndarray) -> np.ndarray:
        """Ideal code length in bits of each row of ``symbols`` (n, k)."""
        idx = np.asarray(symbols, dtype=np.int64) - self.low      # (n, k)
        return -np.log2(self.probs[np.arange(idx.shape[-1]), idx]).sum(-1)


def _categorical():
    import constriction

    return constriction.stream.model.Categorical(perfect=False)


def _range_decode(payload: bytes, tables: EntropyTables) -> np.ndarray:
    import constriction

    padded = payload + b"\x00" * (-len(payload) % 4)
    words = np.frombuffer(padded, dtype=">u4").astype(np.uint32)
    return constriction.stream.queue.RangeDecoder(words).decode(_categorical(), tables.probs)


def encode_symbols(symbols: np.ndarray, tables: EntropyTables) -> bytes:
    """Range-code one item's integer symbols (k,) (already clipped to the tables' ranges) -> payload.

    constriction's range coder writes 32-bit words; read as one big-endian number, any value inside the
    final coding interval decodes the same symbols. The shortest prefix of it (or of it rounded up) that
    still decodes exactly, zero-padded, is kept: about 0.3 bytes above the ideal code length per item
    instead of 1.5 for whole words (and 2-3 for the ANS coder, whose 64-bit head costs more on short
    messages).
    """
    import constriction

    idx = np.asarray(symbols, dtype=np.int64) - tables.low
    if idx.shape != tables.low.shape or idx.min(initial=0) < 0 or (idx >= tables.probs.shape[1]).any():
        raise ValueError("encode_symbols: symbols must be shaped like the tables and lie in their ranges")
    idx = idx.astype(np.int32)
    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(idx, _categorical(), tables.probs)
    full = encoder.get_compressed().astype(">u4").tobytes().rstrip(b"\x00")
    best = full
    for n in range(len(full) - 1, 0, -1):  # shorten while a prefix (or the prefix + 1) still decodes
        up = int.from_bytes(full[:n], "big") + 1
        candidates = [full[:n]] + ([up.to_bytes(n, "big")] if up < 256 ** n else [])
        found = None
        for cand in candidates:
            try:
                if np.array_equal(_range_decode(cand, tables), idx):
                    found = cand.rstrip(b"\x00")
                    break
            except Exception:  # noqa: BLE001 - an undecodable candidate is simply not used
                pass
        if found is None:
            break
        best = found
    return best


def decode_symbols(payload: bytes, tables: EntropyTables) -> np.ndarray:
    """Inverse of :func:`encode_symbols`: payload bytes -> integer symbols (k,).

    The range decoder turns any bytes into k symbols, so a payload is accepted only when it is exactly
    what :func:`encode_symbols` writes for them (symbols inside the tables' ranges, same bytes): a forged
    or spliced payload behind a valid header and checksum is refused instead of decoding to garbage."""
    try:
        idx = _range_decode(payload, tables)
    except Exception as exc:  # constriction raises on invalid data
        raise CodecError(f"corrupted stream: the payload cannot be decoded ({exc})") from None
    symbols = idx.astype(np.int64) + tables.low
    if not np.array_equal(tables.clip(symbols), symbols) or encode_symbols(symbols, tables) != bytes(payload):
        raise CodecError(f"corrupted stream: its {len(payload)}-byte payload is not the coding of one item of "
                         f"{len(tables.low)} code units written by this model")
    return symbols


def _channel_models(tables: EntropyTables) -> list:
    """One constriction categorical model per unit (latent channel), over that unit's own symbol range."""
    import constriction

    widths = tables.high - tables.low + 1
    return [constriction.stream.model.Categorical(tables.probs[c, :widths[c]].astype(np.float64), perfect=False)
            for c in range(len(tables.low))]


def encode_channels(symbols: np.ndarray, tables: EntropyTables) -> bytes:
    """Range-code a spatial latent's integer symbols (k, n) -> payload: unit (channel) ``c``'s ``n`` symbols with
    the categorical model of row ``c`` of ``tables`` (a factorized prior: one distribution per channel, shared
    by its positions), the channels one after another in one range coder.

    The fast path for images (about 10^5 symbols): whole 32-bit words with trailing zero bytes dropped, no
    prefix search (:func:`encode_symbols`'s search costs a decode per byte, a few bytes of a photo's thousands).
    """
    import constriction

    symbols = np.asarray(symbols, dtype=np.int64)
    if symbols.ndim != 2 or len(symbols) != len(tables.low):
        raise ValueError(f"encode_channels: symbols must be shaped (k={len(tables.low)}, n), got {symbols.shape}")
    idx = symbols - tables.low[:, None]                                        # (k, n)
    if idx.min(initial=0) < 0 or (idx > (tables.high - tables.low)[:, None]).any():
        raise ValueError("encode_channels: symbols outside the tables' ranges (clip them with EntropyTables.clip)")
    encoder = constriction.stream.queue.RangeEncoder()
    for row, model in zip(idx.astype(np.int32), _channel_models(tables)):
        encoder.encode(np.ascontiguousarray(row), model)
    return encoder.get_compressed().astype(">u4").tobytes().rstrip(b"\x00")


def decode_channels(payload: bytes, tables: EntropyTables, n: int) -> np.ndarray:
    """Inverse of :func:`encode_channels`: payload -> integer symbols (k, n). As for :func:`decode_symbols`, a
    payload that is not exactly what :func:`encode_channels` writes for the decoded symbols is refused."""
    import constriction

    padded = bytes(payload) + b"\x00" * (-len(payload) % 4)
    words = np.frombuffer(padded, dtype=">u4").astype(np.uint32)
    try:
        decoder = constriction.stream.queue.RangeDecoder(words)
        idx = np.stack([decoder.decode(model, int(n)) for model in _channel_models(tables)]) if n else \
            np.zeros((len(tables.low), 0), np.int64)
    except Exception as exc:  # constriction raises on invalid data
        raise CodecError(f"corrupted stream: the payload cannot be decoded ({exc})") from None
    symbols = idx.astype(np.int64) + tables.low[:, None]
    if encode_channels(symbols, tables) != bytes(payload):
        raise CodecError(f"corrupted stream: its {len(payload)}-byte payload is not the coding of {n} positions of "
                         f"{len(tables.low)} latent channels written by this model")
    return symbols


# ------------------------------------------------------------------------------------------ streams
class _TableRows:
    """One constriction model per row of ``tables``, built the first time a group asks for that row."""

    def __init__(self, tables: EntropyTables):
        self.tables = tables
        self._models: dict[int, object] = {}

    def _model(self, row: int):
        if row not in self._models:
            self._models[row] = _channel_models(EntropyTables(self.tables.low[row:row + 1],
                                                              self.tables.probs[row:row + 1]))[0]
        return self._models[row]


class GroupWriter(_TableRows):
    """Range-codes groups of integer symbols one after another, each group with one row of ``tables`` (rows
    picked by the caller, per group: a context model whose choice of table depends on what came before)."""

    def __init__(self, tables: EntropyTables):
        import constriction

        super().__init__(tables)
        self._encoder = constriction.stream.queue.RangeEncoder()

    def write(self, symbols: np.ndarray, row: int) -> None:
        idx = np.asarray(symbols, dtype=np.int64) - self.tables.low[row]
        if idx.min(initial=0) < 0 or idx.max(initial=0) > self.tables.high[row] - self.tables.low[row]:
            raise ValueError(f"GroupWriter: symbols outside the range of table row {row}")
        if len(idx):
            self._encoder.encode(np.ascontiguousarray(idx, dtype=np.int32), self._model(int(row)))

    def payload(self) -> bytes:
        return self._encoder.get_compressed().astype(">u4").tobytes().rstrip(b"\x00")


class GroupReader(_TableRows):
    """Decodes what :class:`GroupWriter` wrote, group by group (the caller asks for each group's row and size in
    the writer's order); raises :class:`CodecError` when the payload cannot be decoded."""

    def __init__(self, payload: bytes, tables: EntropyTables):
        import constriction

        super().__init__(tables)
        padded = bytes(payload) + b"\x00" * (-len(payload) % 4)
        self._decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(padded, dtype=">u4").astype(np.uint32))

    def read(self, n: int, row: int) -> np.ndarray:
        if n == 0:
            return np.zeros(0, np.int64)
        try:
            idx = self._decoder.decode(self._model(int(row)), int(n))
        except Exception as exc:  # constriction raises on invalid data
            raise CodecError(f"corrupted stream: the payload cannot be decoded ({exc})") from None
        return np.asarray(idx, dtype=np.int64) + self.tables.low[row]


def pack_stream(payload: bytes, *, model: bytes, version: int = VERSION, shape: tuple[int, ...] | None = None,
                quality: int | None = None) -> bytes:
    """Header + payload + checksum. ``version=1`` writes the old layout with ``shape`` (kept to test
    that old streams still decode); ``version=3`` (:data:`IMAGE_VERSION`) an image's ``shape`` (C, H, W) and
    its ``quality`` level (0..255)."""
    if len(model) != MODEL_ID_BYTES:
        raise ValueError(f"model id must be {MODEL_ID_BYTES} bytes, got {len(model)}")
    if version == 1:
        if shape is None:
            raise ValueError("a version 1 stream needs the sample shape")
        fields = _varint(len(shape)) + b"".join(_varint(int(s)) for s in shape)
    elif version == 2:
        fields = b""
    elif version == IMAGE_VERSION:
        if shape is None or len(shape) != 3 or quality is None or not 0 <= int(quality) <= 255:
            raise ValueError(f"a version 3 stream needs the image's shape (C, H, W) and a quality level 0..255, got "
                             f"shape={shape}, quality={quality}")
        fields = b"".join(_varint(int(s)) for s in shape) + bytes([int(quality)])
    else:
        raise ValueError(f"cannot write stream format version {version} (versions: {READ_VERSIONS})")
    body = MAGIC + bytes([version]) + model + fields + payload
    return body + binascii.crc_hqx(body, 0xFFFF).to_bytes(_CRC_BYTES, "little")


@dataclass
class StreamHeader:
    version: int
    model: bytes
    shape: tuple[int, ...] | None   # None for version 2 streams: the shape is the model's; (C, H, W) for version 3
    quality: int | None = None      # the quality level of a version 3 stream


def unpack_stream(stream: bytes, *, model: bytes | None = None,
                  shape: tuple[int, ...] | None = None) -> tuple[StreamHeader, bytes]:
    """Check a stream and split it into its header and payload; raises :class:`CodecError` naming what is
    wrong (checked in this order: size, magic, version, checksum, model id, shape of version 1 streams; a version
    3 stream's image shape and quality level are returned in the header for its codec to check)."""
    if not isinstance(stream, (bytes, bytearray, memoryview)):
        raise CodecError(f"a stream must be bytes, got {type(stream).__name__}")
    stream = bytes(stream)
    if len(stream) < _MIN_SIZE:
        raise CodecError(f"truncated stream: {len(stream)} bytes, an aekit stream has at least {_MIN_SIZE}")
    if stream[:2] != MAGIC:
        raise CodecError(f"not an aekit stream: bad magic bytes {stream[:2]!r} (expected {MAGIC!r})")
    version = stream[2]
    if version not in READ_VERSIONS:
        raise CodecError(f"unsupported stream format version {version} (this aekit reads versions "
                         f"{', '.join(map(str, READ_VERSIONS))})")
    body, crc = stream[:-_CRC_BYTES], int.from_bytes(stream[-_CRC_BYTES:], "little")
    if binascii.crc_hqx(body, 0xFFFF) != crc:
        raise CodecError("corrupted or truncated stream: checksum mismatch")
    got_model = body[3:3 + MODEL_ID_BYTES]
    if model is not None and got_model != model:
        raise CodecError(f"stream was made by another model (model id {got_model.hex()}; this model's id is "
                         f"{model.hex()}): decode it with the model that compressed it")
    pos = 3 + MODEL_ID_BYTES
    if version == 2:
        return StreamHeader(version, got_model, None), body[pos:]
    if version == IMAGE_VERSION:
        dims = []
        for _ in range(3):
            d, pos = _read_varint(body, pos)
            dims.append(d)
        if pos >= len(body):
            raise CodecError("truncated stream: the header ends before its quality level")
        return StreamHeader(version, got_model, tuple(dims), body[pos]), body[pos + 1:]
    ndim, pos = _read_varint(body, pos)
    dims = []
    for _ in range(ndim):
        d, pos = _read_varint(body, pos)
        dims.append(d)
    if shape is not None and tuple(dims) != tuple(shape):
        raise CodecError(f"stream holds an item of shape {tuple(dims)}, but the model codes items of shape "
                         f"{tuple(shape)}")
    return StreamHeader(version, got_model, tuple(dims)), body[pos:]
