"""Fuzzing the readers of untrusted input with Hypothesis: CSV, .npy / .npz, IDX and image files, the codec's
streams, a model folder's config.json, and corruption specs.

Each target builds a valid input, then damages it the way real files are damaged or forged (flipped, cut,
extended bytes; a header whose shape, dtype or size lies, with its checksum recomputed so that the reader
gets past it), and allows exactly two outcomes: a valid result, or the reader's documented error type with a
message. Anything else (an IndexError, a MemoryError from a forged size...) fails the test with the input that
caused it; each crash found so far is kept below as a plain regression test.

Every target runs twice: ``[smoke]``, ``SMOKE`` inputs in the default test run, and ``[fuzz]`` (marked ``fuzz``:
``pytest -m fuzz``), ``AEKIT_FUZZ_EXAMPLES`` inputs (default 500); each count is checked by counting. Runs are
derandomized so that CI is reproducible; ``AEKIT_FUZZ_EXAMPLES=20000 pytest -m fuzz tests/test_fuzz.py`` fuzzes
longer with fresh random inputs.
"""
from __future__ import annotations

import binascii
import csv
import io
import json
import math
import os
import shutil
import struct
import time
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import aekit
from aekit import Compressor
from aekit.codec import CodecError
from aekit.corruption import Corruption, list_corruptions, make_corruption, to_spec
from aekit.data import Scaler, load_dataset
from aekit.data.errors import DataError
from aekit.data.files import read_image_file
from aekit.data.idx import read_idx
from aekit.models import create_model
from aekit.persistence import ModelFileError, save_model
from tests.helpers import digits

EXAMPLES = int(os.environ.get("AEKIT_FUZZ_EXAMPLES", "500"))
settings.register_profile(   # no health check is suppressed: none fires

    "aekit-fuzz",
    max_examples=EXAMPLES,
    deadline=None,                                    # file IO and model loading vary in time; no flaky deadlines
    derandomize="AEKIT_FUZZ_EXAMPLES" not in os.environ,  # CI: the same inputs every run; longer runs: fresh ones
    database=None,                                    # nothing written into the working tree
)
FUZZ = settings.get_profile("aekit-fuzz")
SMOKE = 25   # inputs per target in the default test run
# every target, a short smoke in the default tier and the long run in the fuzz tier
fuzz_runs = pytest.mark.parametrize("examples", [pytest.param(SMOKE, id="smoke"),
                                                 pytest.param(EXAMPLES, id="fuzz", marks=pytest.mark.fuzz)])


def run_fuzz(check, strategy, record_property, examples: int) -> None:
    """Call ``check(value)`` on ``examples`` values drawn from ``strategy``; fail unless every one ran (no
    example filtered away, the search space not exhausted early)."""
    ran = 0

    @settings(FUZZ, max_examples=examples)
    @given(strategy)
    def one(value):
        nonlocal ran
        ran += 1
        check(value)

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # conversion notes, PIL's decompression-bomb warning, ...
        one()
    record_property("fuzz_examples", ran)
    record_property("fuzz_seconds", round(time.perf_counter() - start, 2))
    assert ran >= examples, f"only {ran} of {examples} examples ran"


def result_or(error: type[Exception], fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, or None when it raises ``error`` with a message; any other exception escapes."""
    try:
        return fn(*args, **kwargs)
    except error as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
        return None


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """One folder for the files of every example (rewritten in place: no new file per example)."""
    return tmp_path_factory.mktemp("fuzz")


# ------------------------------------------------------------------------------------------ mutations
@st.composite
def mutated(draw, data: bytes, *, hot: int = 0, max_edits: int = 4) -> bytes:
    """``data`` with up to ``max_edits`` edits (flip a bit, set a byte, insert, delete, cut the end, append);
    with ``hot`` > 0 about half the edits land in the first ``hot`` bytes (a header)."""
    out = bytearray(data)
    for _ in range(draw(st.integers(0, max_edits))):
        op = draw(st.sampled_from(("flip", "set", "insert", "delete", "truncate", "extend")))
        end = min(hot, len(out)) if hot and draw(st.booleans()) else len(out)
        if op == "extend":
            out += draw(st.binary(min_size=1, max_size=16))
            continue
        if not out:
            continue
        i = draw(st.integers(0, max(end - 1, 0)))
        if op == "flip":
            out[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            out[i] = draw(st.sampled_from((0x00, 0xFF, 0x7F, 0x80, 0x01))) if draw(st.booleans()) \
                else draw(st.integers(0, 255))
        elif op == "insert":
            out[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del out[i:i + draw(st.integers(1, 8))]
        else:
            del out[i:]
    return bytes(out)


def random_bytes(seed: int, n: int) -> bytes:
    """``n`` bytes from a seed: large random payloads without spending Hypothesis's input budget."""
    return np.random.default_rng(seed).bytes(n)


SEEDS = st.integers(0, 2**32 - 1)
LIMITS = st.none() | st.integers(1, 6)


def check_dataset(ds) -> None:
    """What a loaded dataset promises: finite float32 samples, labels that fit them."""
    X = ds.train.X
    assert X.dtype == np.float32 and X.ndim in (2, 4) and len(X) >= 1 and np.isfinite(X).all()
    assert ds.train.y is None or (ds.train.y.dtype == np.int64 and ds.train.y.shape == (len(X),))


# ------------------------------------------------------------------------------------------------ CSV
CELLS = st.one_of(
    st.integers(-10**6, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "nan", "-inf", "1e400", "1e-400", "0x10", "1_0", "\u0663", " 2 ", "abc", "a,b",
                     '"', '""', "'", "\t", "\x00", "1\n2", "true", "\ufeff1"]),
    st.text(max_size=6),
)
NAMES = st.one_of(st.sampled_from(["a", "b", "c", "label", "Label", "y", "target", "class", "labels", " x ", "",
                                   "1", "2.5", "\ufeffa"]), st.text(max_size=5))


@st.composite
def csv_files(draw) -> bytes:
    """A table (header, rows, blank lines) written as CSV, quoted by the csv module or joined with commas,
    with a BOM, any line ending and an encoding, then damaged."""
    width = draw(st.integers(1, 4))
    header = draw(st.lists(NAMES, min_size=width, max_size=width))
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        n = width if draw(st.integers(0, 9)) else draw(st.integers(0, width + 2))   # now and then ragged
        rows.append(draw(st.lists(CELLS, min_size=n, max_size=n)) if draw(st.integers(0, 7)) else [])
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    if draw(st.booleans()):
        buf = io.StringIO()
        csv.writer(buf, lineterminator=end).writerows([header, *rows])
        text = buf.getvalue()
    else:
        text = end.join(",".join(r) for r in [header, *rows]) + draw(st.sampled_from(["", end]))
    text = draw(st.sampled_from(["", "\ufeff", "\n", ",\n"])) + text
    blob = text.encode(draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "latin-1"])), errors="replace")
    return draw(mutated(blob, hot=16, max_edits=2))


def fuzz_dataset_file(path, files, record_property, examples, also=lambda ds, limit: None):
    """Fuzz ``load_dataset`` on a file at ``path`` holding each drawn blob (with a drawn ``limit``): a
    dataset that passes :func:`check_dataset` (and ``also``), or a DataError."""
    def check(case):
        blob, limit = case
        path.write_bytes(blob)
        ds = result_or(DataError, load_dataset, str(path), limit=limit)
        if ds is not None:
            check_dataset(ds)
            also(ds, limit)

    run_fuzz(check, st.tuples(files, LIMITS), record_property, examples)


@fuzz_runs
def test_csv_reader(workdir, record_property, examples):
    def is_a_table(ds, limit):
        assert ds.kind == "table" and (limit is None or len(ds.train.X) <= limit)

    fuzz_dataset_file(workdir / "table.csv", csv_files(), record_property, examples, also=is_a_table)


# --------------------------------------------------------------------------------------- .npy / .npz
DTYPES = ["|u1", "|i1", "<i2", ">i4", "<i8", "<u8", "<f2", "<f4", ">f8", "|b1", "<c8", "<U2", "|S3", "|V4",
          "<M8[s]"]
FORGED_DESCR = st.one_of(st.sampled_from(DTYPES), st.sampled_from(
    ["<f4", "<U1000000000", "|V0", "<f0", "O", "|O", "x", "", "<i16"]), st.text(max_size=6),
    st.just([("a", "<f4"), ("b", "<i2", (2,))]))
FORGED_SHAPE = st.one_of(
    st.lists(st.integers(0, 4), max_size=5).map(tuple),
    st.lists(st.sampled_from([0, 1, 3, 2**31, 2**40, 2**63 - 1, 2**64, -1]), min_size=1, max_size=4).map(tuple),
    st.sampled_from([None, 3, "3", [2, 2], (1.5,), (True,)]),
)


def npy_header(descr, fortran, shape, version: tuple[int, int] = (1, 0)) -> bytes:
    """The magic, version and (padded) header dict of a .npy file, with whatever values it is given."""
    return npy_header_text("{'descr': %r, 'fortran_order': %r, 'shape': %r, }" % (descr, fortran, shape), version)


def npy_header_text(text: str, version: tuple[int, int] = (1, 0)) -> bytes:
    """The magic, version and ``text`` (padded) as a .npy header."""
    size_fmt = "<H" if version == (1, 0) else "<I"
    pre = 6 + 2 + struct.calcsize(size_fmt)
    text += " " * (63 - (pre + len(text)) % 64) + "\n"
    blob = text.encode("utf-8" if version == (3, 0) else "latin-1", errors="replace")
    return b"\x93NUMPY" + bytes(version) + struct.pack(size_fmt, len(blob)) + blob


@st.composite
def npy_files(draw) -> bytes:
    """A .npy file of a small random array (any dtype, rank 0..5), its header perhaps forged (shape, dtype,
    order, version), then damaged."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=5)))
    raw = random_bytes(draw(SEEDS), math.prod(shape) * dtype.itemsize)
    arr = np.frombuffer(raw, dtype=dtype).reshape(shape)
    if draw(st.integers(0, 5)) == 0:      # whole numbers in [0, 255]: grey images that load
        arr = (np.frombuffer(raw, np.uint8)[:arr.size].reshape(shape) % 2).astype(dtype) \
            if dtype.kind in "biuf" else arr
    buf = io.BytesIO()
    if draw(st.integers(0, 9)) == 0:
        np.save(buf, arr.astype(object), allow_pickle=True)    # an object array: pickled, must be refused
    else:
        np.lib.format.write_array(buf, arr, version=draw(st.sampled_from([(1, 0), (2, 0), (3, 0)])))
    blob = buf.getvalue()
    if draw(st.booleans()):                      # a header that lies about the data behind it
        data = blob[blob.index(b"\n") + 1:]
        blob = npy_header(draw(FORGED_DESCR) if draw(st.booleans()) else dtype.str,
                          draw(st.sampled_from([False, True, 0, "no"])),
                          draw(FORGED_SHAPE) if draw(st.booleans()) else shape,
                          draw(st.sampled_from([(1, 0), (2, 0), (3, 0), (9, 9)]))) + data
    return draw(mutated(blob, hot=128, max_edits=2))


@fuzz_runs
def test_npy_reader(workdir, record_property, examples):
    fuzz_dataset_file(workdir / "array.npy", npy_files(), record_property, examples)


NPZ_KEYS = ["X", "x", "data", "y", "labels", "X_test", "x_test", "y_test", "labels_test", "other"]


@st.composite
def npz_files(draw) -> bytes:
    """A zip of .npy members (perhaps forged, perhaps not .npy at all) under the keys load_npz looks for,
    stored or deflated, then damaged as a whole."""
    buf = io.BytesIO()
    method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    with zipfile.ZipFile(buf, "w", method) as zf:
        for key in draw(st.lists(st.sampled_from(NPZ_KEYS), max_size=4, unique=True)):
            member = draw(npy_files()) if draw(st.integers(0, 7)) else draw(st.binary(max_size=20))
            zf.writestr(key + (".npy" if draw(st.integers(0, 7)) else ""), member)
    return draw(mutated(buf.getvalue(), max_edits=2)) if draw(st.booleans()) else buf.getvalue()


@fuzz_runs
def test_npz_reader(workdir, record_property, examples):
    fuzz_dataset_file(workdir / "arrays.npz", npz_files(), record_property, examples)


# ------------------------------------------------------------------------------------------------ IDX
IDX_CODES = [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]
IDX_ITEMSIZE = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}


@st.composite
def idx_files(draw) -> tuple[bytes, tuple[int, ...] | None]:
    """An IDX file (type code, dimensions, data), its dimensions perhaps forged and its data perhaps short or
    long, perhaps gzip-compressed, then damaged; with the dimensions the file really holds (None if not)."""
    code = draw(st.sampled_from(IDX_CODES) | st.integers(0, 255))
    dims = tuple(draw(st.lists(st.integers(0, 5), min_size=1, max_size=4)))
    real = math.prod(dims) * IDX_ITEMSIZE.get(code, 1)
    if draw(st.integers(0, 3)) == 0:
        dims = tuple(draw(st.lists(st.sampled_from([0, 1, 7, 60000, 2**31, 2**32 - 1]), min_size=1, max_size=4)))
    ndim = len(dims) if draw(st.integers(0, 5)) else draw(st.integers(0, 255))
    data = random_bytes(draw(SEEDS), max(0, real + draw(st.sampled_from([0, 0, 0, -1, 1, -3]))))
    blob = bytes([0, 0, code, ndim]) + struct.pack(f">{len(dims)}I", *dims) + data
    packing = draw(st.sampled_from(["plain", "gzip", "cut gzip"]))
    if packing != "plain":
        blob = zlib.compress(blob, wbits=31)[:-4 if packing == "cut gzip" else None]
    edited = draw(mutated(blob, hot=24, max_edits=2))
    valid = edited == blob and packing != "cut gzip" and code in IDX_CODES and ndim == len(dims) \
        and len(data) == math.prod(dims) * IDX_ITEMSIZE[code] \
        and math.prod(max(d, 1) for d in dims) < 2**60    # (an empty array may still be too big for NumPy)
    return edited, dims if valid else None


@fuzz_runs
def test_idx_reader(workdir, record_property, examples):
    path = workdir / "images-idx3-ubyte"

    def check(case):
        blob, dims = case
        path.write_bytes(blob)
        arr = result_or(DataError, read_idx, path)
        if dims is not None:
            assert arr is not None and arr.shape == dims
        if arr is not None:
            assert arr.ndim >= 1 and arr.dtype.isnative and arr.flags.writeable

    run_fuzz(check, idx_files(), record_property, examples)


# --------------------------------------------------------------------------------------------- images
MODES = ["L", "RGB", "RGBA", "LA", "P", "1", "I;16", "I", "CMYK"]
FORMATS = {"PNG": ".png", "JPEG": ".jpg", "BMP": ".bmp"}


def png_chunks(blob: bytes) -> list[tuple[int, bytes, bytes]]:
    """(offset, type, data) of each chunk of a PNG file."""
    chunks, pos = [], 8
    while pos + 8 <= len(blob):
        (n,), kind = struct.unpack(">I", blob[pos:pos + 4]), blob[pos + 4:pos + 8]
        chunks.append((pos, kind, blob[pos + 8:pos + 8 + n]))
        pos += 12 + n
    return chunks


def png_with_chunk(blob: bytes, offset: int, kind: bytes, data: bytes, old_len: int) -> bytes:
    """``blob`` with the chunk at ``offset`` replaced by ``kind`` + ``data`` and a correct CRC."""
    chunk = struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return blob[:offset] + chunk + blob[offset + 12 + old_len:]


@st.composite
def image_files(draw) -> tuple[bytes, str]:
    """A small PNG, JPEG or BMP file (any mode, random pixels, palettes of any length), then damaged: bytes
    flipped or cut, or a PNG chunk forged with its CRC recomputed (IHDR: any size, depth, colour type), or a
    BMP / JPEG header given another size or depth."""
    fmt = draw(st.sampled_from(list(FORMATS)))
    mode = draw(st.sampled_from(MODES))
    w, h = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    seed = draw(SEEDS)
    im = Image.frombytes(mode, (w, h), random_bytes(seed, len(Image.new(mode, (w, h)).tobytes())))
    if mode == "P":
        im.putpalette(random_bytes(seed + 1, 3 * draw(st.integers(1, 256))))
    buf = io.BytesIO()
    try:
        im.save(buf, fmt)
    except (OSError, ValueError, KeyError, TypeError):   # a mode the format cannot hold
        buf = io.BytesIO()
        im.convert("RGB").save(buf, fmt)
    blob = buf.getvalue()
    how = draw(st.sampled_from(["bytes", "header"]))
    if how == "header" and fmt == "PNG":
        chunks = png_chunks(blob)
        offset, kind, data = chunks[draw(st.integers(0, len(chunks) - 1))]
        if kind == b"IHDR" and draw(st.booleans()):
            new = struct.pack(">IIBBBBB", draw(st.integers(0, 2**31) | st.integers(0, 70000)),
                              draw(st.integers(0, 2**31) | st.integers(0, 70000)),
                              draw(st.sampled_from([1, 2, 4, 8, 16, 3])), draw(st.sampled_from([0, 2, 3, 4, 6, 1])),
                              0, 0, draw(st.sampled_from([0, 1])))
        else:
            new = draw(mutated(data, max_edits=3))
        return png_with_chunk(blob, offset, kind, new, len(data)), fmt
    if how == "header" and fmt == "BMP":
        out = bytearray(blob)
        field = draw(st.sampled_from([(10, "<I"), (14, "<I"), (18, "<i"), (22, "<i"), (28, "<H"), (30, "<I"),
                                      (46, "<I")]))
        value = draw(st.sampled_from([0, 1, 2, 4, 8, 16, 24, 32, -1, -70000, 70000, 2**31 - 1]))
        if field[1] != "<i":     # unsigned fields take the value's bits
            value %= 2 ** (8 * struct.calcsize(field[1]))
        struct.pack_into(field[1], out, field[0], value)
        return bytes(out), fmt
    if how == "header" and fmt == "JPEG":
        out = bytearray(blob)
        sof = out.find(b"\xff\xc0")
        struct.pack_into(">HH", out, sof + 5, draw(st.integers(0, 65535)), draw(st.integers(0, 65535)))
        return bytes(out), fmt
    return draw(mutated(blob, hot=64, max_edits=3)), fmt


@fuzz_runs
def test_image_reader(workdir, record_property, examples):
    folder = workdir / "images"
    folder.mkdir()

    def check(case):
        (blob, fmt), channels, peak, via_folder = case
        for old in folder.iterdir():
            old.unlink()
        path = folder / f"image{FORMATS[fmt]}"
        path.write_bytes(blob)
        if via_folder:
            ds = result_or(DataError, load_dataset, str(folder))
            if ds is not None:
                check_dataset(ds)
            return
        out = result_or(DataError, read_image_file, path, channels=channels, peak=peak)
        if out is not None:
            arr, note = out
            assert arr.dtype == np.float32 and np.isfinite(arr).all() and arr.min() >= 0 and arr.max() <= peak
            if channels == 1:
                assert arr.ndim == 2
            else:
                assert arr.ndim == 2 and channels is None or arr.ndim == 3 and arr.shape[2] == 3
            assert note is None or isinstance(note, str)

    run_fuzz(check, st.tuples(image_files(), st.sampled_from([None, 1, 3]), st.sampled_from([1.0, 255.0]),
                              st.integers(0, 4).map(lambda i: i == 0)), record_property, examples)


# ---------------------------------------------------------------------------------------- codec streams
@pytest.fixture(scope="module")
def codec() -> Compressor:
    """One tiny fitted codec for the module (8x8 grey images, 4 code units)."""
    X, _ = digits()
    return Compressor(latent_dim=4, epochs=2, batch_size=64, random_state=0).fit(X[:200, 0] * 255.0)


@pytest.fixture(scope="module")
def streams(codec) -> list[bytes]:
    X, _ = digits()
    return codec.compress(X[200:232, 0] * 255.0)


def with_crc(body: bytes) -> bytes:
    return body + binascii.crc_hqx(body, 0xFFFF).to_bytes(2, "little")


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value >> 7 else 0))
        value >>= 7
        if not value:
            return bytes(out)


def stream_cases(codec, streams):
    """A valid stream damaged as it is, or damaged with its checksum recomputed (so that the model id and the
    payload are what the reader must judge), an old-format (version 1) header with any shape field, or
    random bytes."""
    mid = codec.model_id

    @st.composite
    def build(draw) -> bytes:
        stream = draw(st.sampled_from(streams))
        how = draw(st.sampled_from(["bytes", "bytes", "recrc", "recrc", "v1", "random"]))
        if how == "bytes":
            return draw(mutated(stream, hot=9, max_edits=3))
        if how == "recrc":
            return with_crc(draw(mutated(stream[:-2], max_edits=3)))
        if how == "v1":
            dims = draw(st.sampled_from([[8, 8], [1, 8, 8], [], [2**63], [8, 8, 0]]) |
                        st.lists(st.integers(0, 2**70), max_size=3))
            ndim = len(dims) if draw(st.integers(0, 3)) else draw(st.integers(0, 2**64))
            fields = varint(ndim) + b"".join(varint(d) for d in dims)
            if draw(st.booleans()):
                fields = fields[:-1] + bytes([fields[-1] | 0x80])    # a varint that never ends
            body = b"\xaeK\x01" + (mid if draw(st.integers(0, 5)) else draw(st.binary(min_size=4, max_size=4)))
            return with_crc(body + fields + stream[7:-2])
        return draw(st.binary(max_size=24))

    return build()


@fuzz_runs
def test_codec_stream_parser(codec, streams, record_property, examples):
    shape = (1, 8, 8)

    def check(stream):
        out = result_or(CodecError, codec.decompress, [stream])
        if out is not None:
            assert out.shape == shape and out.dtype == np.float32 and np.isfinite(out).all()
            if stream[2] == 2:   # a version 2 stream that decodes is exactly the stream of its codes
                assert codec.encode_codes(codec.decode_streams([stream])) == [stream]

    run_fuzz(check, stream_cases(codec, streams), record_property, examples)


# ----------------------------------------------------------------------------------- config.json
@pytest.fixture(scope="module")
def model_folders(codec, tmp_path_factory) -> dict[str, Path]:
    """A saved autoencoder (mlp with a min/max scaler) and a saved estimator (the codec)."""
    root = tmp_path_factory.mktemp("folders")
    torch.manual_seed(0)
    X = np.random.default_rng(0).random((20, 6)).astype(np.float32)
    save_model(root / "autoencoder", create_model("mlp", input_shape=(6,), latent_dim=2, hidden=[4]),
               scaler=Scaler("minmax").fit(X))
    codec.save(root / "estimator")
    return {"autoencoder": root / "autoencoder", "estimator": root / "estimator"}


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**65, 2**65) | st.sampled_from([0, 1, -1, 2, 8, 10**9, 2**63]) |
    st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8) |
    st.sampled_from(["mlp", "conv", "compressor", "estimator", "autoencoder", "minmax", "range", "channel",
                     "aekit-model", "auto", "relu"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _paths(value, prefix=()):
    """Every (path, value) inside a JSON tree, the root included."""
    yield prefix, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield from _paths(child, (*prefix, key))


@st.composite
def config_edits(draw, configs: dict[str, dict]) -> tuple[str, bytes]:
    """A model folder's config.json with up to 3 edits anywhere in its tree (a value replaced by any JSON
    value, a key or item removed, a key added), then sometimes damaged as bytes."""
    kind = draw(st.sampled_from(sorted(configs)))
    config = json.loads(json.dumps(configs[kind]))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(config))
        path, value = paths[draw(st.integers(0, len(paths) - 1))]
        op = draw(st.sampled_from(["replace", "replace", "remove", "add"]))
        parent = config
        for key in path[:-1]:
            parent = parent[key]
        if op == "replace" and path:
            parent[path[-1]] = draw(JSON_VALUES)
        elif op == "remove" and path:
            del parent[path[-1]]
        elif op == "add" and isinstance(value, dict):
            value[draw(st.sampled_from(["kind", "model", "params", "scaler", "metadata", "estimator", "state",
                                        "class", "per", "offset", "feature_shape", "input_shape"]) |
                       st.text(max_size=5))] = draw(JSON_VALUES)
        elif op == "add" and isinstance(value, list):
            value.insert(draw(st.integers(0, len(value))), draw(JSON_VALUES))
        elif not path:
            config = draw(JSON_VALUES)
    text = json.dumps(config, indent=2).encode()
    return kind, draw(mutated(text, max_edits=2)) if draw(st.integers(0, 4)) == 0 else text


@fuzz_runs
def test_config_json_reader(model_folders, workdir, record_property, examples):
    configs = {k: json.loads((p / "config.json").read_text()) for k, p in model_folders.items()}
    work = {}
    for kind, src in model_folders.items():
        work[kind] = workdir / f"model-{kind}"
        shutil.copytree(src, work[kind])

    def check(case):
        kind, text = case
        (work[kind] / "config.json").write_bytes(text)
        loaded = result_or(ModelFileError, aekit.load, work[kind])
        if loaded is not None:
            assert isinstance(loaded, (aekit.TrainedAutoencoder, aekit.estimators.AutoencoderEstimator))

    run_fuzz(check, config_edits(configs), record_property, examples)


# --------------------------------------------------------------------------------------- corruption specs
def _option_names() -> list[str]:
    import dataclasses

    from aekit.corruption import _REGISTRY

    return sorted({f.name for n in list_corruptions() for f in dataclasses.fields(_REGISTRY.get(n)) if f.init})


SPEC_VALUES = st.one_of(
    st.sampled_from(["0", "1", "0.5", "-1", "2", "8", "64", "1e400", "nan", "inf", "-0", "1e-9", "true", "False",
                     "yes", "off", "text", "marks", "white", "black", "random", "bt601", "", " ", "9" * 5000,
                     "0x10", "1_0", "\u0663"]),
    st.integers(-10, 100).map(str), st.floats().map(repr), st.text(max_size=5))


@st.composite
def spec_strings(draw) -> str:
    """``kind[:value][,option=value...]`` from the grammar's pieces: registered kinds (any case, spaces) or
    other words, positional and named values, every option name, empty parts and stray separators."""
    kind = draw(st.sampled_from([*list_corruptions(), "none", "None", "", "gauss", "Gaussian", " mask "]) |
                st.text(max_size=4))
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.integers(0, 2)):
            name = draw(st.sampled_from(_option_names()) | st.text(max_size=3))
            parts.append(f"{name}{draw(st.sampled_from(['=', ' = ', '==', '']))}{draw(SPEC_VALUES)}")
        else:
            parts.append(draw(SPEC_VALUES))
    sep = draw(st.sampled_from([":", ":", " : ", "", "::", ","]))
    return kind + (sep + ",".join(parts) if parts or draw(st.booleans()) else "")


@fuzz_runs
def test_corruption_spec_parser(record_property, examples):
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))

    def check(spec):
        corruption = result_or(ValueError, make_corruption, spec)
        if corruption is None:
            return
        assert isinstance(corruption, Corruption)
        assert make_corruption(to_spec(corruption)) == corruption     # the spec round trip is exact
        if max((v for v in vars(corruption).values() if isinstance(v, int)), default=0) <= 64:
            out = result_or(ValueError, corruption, x, torch.Generator().manual_seed(1))
            assert out is None or out.shape == x.shape

    run_fuzz(check, spec_strings(), record_property, examples)


# ------------------------------------------------------------------------------ crashes found, kept as tests
def npz_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
    return buf.getvalue()


FORGED_NPY = {   # each crashed load_npy or load_npz before it was fixed
    "header not a literal (TokenError)": (
        npy_header_text("{'descr': [('a', '<f4'), )'b', '<i2', (2,))], 'fortran_order': False, 'shape': (), }")
        + bytes(8), r"cannot read"),
    "dimension past int64 (OverflowError)": (npy_header("<f4", False, (2**64,)) + bytes(8), r"header claims"),
    "size overflowing intp (OverflowError)": (npy_header("<f8", False, (2**32, 2**32, 3)) + bytes(8),
                                              r"header claims"),
    "bool dimension (TypeError)": (npy_header("<f4", False, (True,)) + bytes(8), r"not a tuple of non-negative"),
    "8 TB claimed (MemoryError)": (npy_header("<f8", False, (2**40,)) + bytes(64),
                                   r"header claims .* \(8796093022208 bytes\), but only 64"),
}


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
@pytest.mark.parametrize("name", list(FORGED_NPY))
def test_forged_npy_headers_are_data_errors(name, suffix, tmp_path):
    blob, match = FORGED_NPY[name]
    path = tmp_path / f"data{suffix}"
    path.write_bytes(blob if suffix == ".npy" else npz_of({"X.npy": blob}))
    with pytest.raises(DataError, match=match):
        load_dataset(str(path))


def test_a_forged_shape_is_refused_without_allocating_it(tmp_path):
    import tracemalloc

    path = tmp_path / "data.npz"
    path.write_bytes(npz_of({"X.npy": npy_header("<f8", False, (10**9,)) + bytes(800)}))   # claims 8 GB
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"shape \(1000000000,\) .* only 800 data bytes"):
            load_dataset(str(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50e6, f"{peak / 1e6:.0f} MB allocated for an 800-byte array"


def test_an_empty_idx_array_with_overflowing_dimensions_is_a_data_error(tmp_path):
    path = tmp_path / "images-idx3-ubyte"       # 0 values, but 0x5f82c2d9 * 0xcfeb0fa3 * ... overflows (ValueError)
    path.write_bytes(b"\x00\x00\x0c\x05" + bytes(8) + b"_\x82\xc2\xd9\xcf\xeb\x0f\xa3!\xd7\xd9\x82")
    with pytest.raises(DataError, match=r"dimensions \(0, 0, 1602405081, .*\) do not fit a NumPy array"):
        read_idx(path)


@pytest.mark.parametrize("blob, match", [
    (b"PK\x03\x04" + bytes(40), r"cannot read .npz file \(.*zip"),                   # BadZipFile
    (npz_of({"X.npy": b"not an array"}), r"cannot read array 'X' \(.*magic"),           # numpy returned bytes
    (npz_of({"X.npy": npy_header("<f4", False, (2, 2)) + bytes(16)})[:-30], r"cannot read .npz file"),
])
def test_damaged_npz_archives_are_data_errors(blob, match, tmp_path):
    path = tmp_path / "data.npz"
    path.write_bytes(blob)
    with pytest.raises(DataError, match=match):
        load_dataset(str(path))


def test_a_palette_index_without_a_colour_is_a_data_error(tmp_path):
    im = Image.new("P", (4, 2))
    im.putdata([0, 5, 9, 200, 1, 2, 3, 4])
    buf = io.BytesIO()
    im.save(buf, "BMP")
    blob = bytearray(buf.getvalue())
    struct.pack_into("<I", blob, 46, 2)             # "2 colours used": index 200 has no colour (was IndexError)
    (tmp_path / "p.bmp").write_bytes(bytes(blob))
    with pytest.raises(DataError, match=r"uses colour index 200, but its palette has 2 colours"):
        read_image_file(tmp_path / "p.bmp")


def test_an_image_header_claiming_more_pixels_than_the_file_holds_is_refused(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, "JPEG")
    blob = bytearray(buf.getvalue())
    struct.pack_into(">HH", blob, blob.find(b"\xff\xc0") + 5, 9000, 9000)   # was decoded grey: 1.7 GB
    (tmp_path / "big.jpg").write_bytes(bytes(blob))
    with pytest.raises(DataError, match=r"claims a 9000x9000 image, more pixels than its \d+ bytes can hold"):
        read_image_file(tmp_path / "big.jpg")
    buf = io.BytesIO()
    Image.new("L", (2, 2)).save(buf, "PNG")
    blob = buf.getvalue()
    offset, kind, data = png_chunks(blob)[0]
    forged = png_with_chunk(blob, offset, kind, struct.pack(">II", 9000, 9000) + data[8:], len(data))
    (tmp_path / "big.png").write_bytes(forged)
    with pytest.raises(DataError, match=r"claims a 9000x9000 image"):
        read_image_file(tmp_path / "big.png")


@pytest.mark.parametrize("edit, match", [
    (lambda c: c.update(metadata=[]), r"field 'metadata' is a list, expected a dict"),       # AttributeError
    (lambda c: (c.pop("kind"), c.update(metadata="x")), r"field 'metadata' is a str"),     # AttributeError
    (lambda c: c["metadata"]["estimator"]["state"].update(data_range_=[0]),
     r"cannot rebuild the 'compressor' estimator"),                                        # IndexError
    (lambda c: c["params"].update(channels=[32, 13303286638229160]), r"cannot rebuild the model"),  # RuntimeError
])
def test_config_json_edits_that_crashed_are_model_file_errors(edit, match, model_folders, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(model_folders["estimator"], folder)
    config = json.loads((folder / "config.json").read_text())
    edit(config)
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match=match):
        aekit.load(folder)
