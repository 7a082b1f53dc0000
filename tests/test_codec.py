"""The learned codec: exact round trips, the stream format's checks, a real-data win over WebP and PNG,
persistence and the command line."""
from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch
from PIL import Image

import aekit
from aekit import Compressor
from aekit.cli import main
from aekit.codec import HEADER_BYTES, MAGIC, CodecError, EntropyTables, decode_symbols, encode_symbols, \
    pack_stream, unpack_stream
from tests.helpers import digits

FAST = dict(latent_dim=16, rate_weight=0.003, epochs=15, batch_size=32, random_state=0)


def _digits_255():
    X, _ = digits()
    return np.round(X[:, 0] * 255.0).astype(np.float32)     # (1797, 8, 8) grey images, 0..255


@pytest.fixture(scope="module")
def data():
    X = _digits_255()
    return X[:1400], X[1400:]


@pytest.fixture(scope="module")
def codec(data):
    return Compressor(**FAST).fit(data[0])


def _psnr(ref, rec):
    err = ((ref.astype(np.float64) - rec.astype(np.float64)) ** 2).reshape(len(ref), -1).mean(1)
    return float(np.mean(10 * np.log10(255.0 ** 2 / np.maximum(err, 1e-12))))


# ------------------------------------------------------------------------------------------ round trips
def test_decompress_equals_decoded_quantised_code_exactly(codec, data):
    test = data[1]
    streams = codec.compress(test)
    assert len(streams) == len(test) and all(isinstance(s, bytes) for s in streams)
    q = codec.transform(test)
    assert np.array_equal(q, np.round(q)) and q.shape == (len(test), 16)
    assert np.array_equal(codec.decode_streams(streams), q)
    assert np.array_equal(codec.decompress(streams), codec.inverse_transform(q))
    assert codec.decompress(streams).shape == test.shape


def test_entropy_coder_is_close_to_the_ideal_code_length():
    rng = np.random.default_rng(0)
    symbols = np.round(rng.laplace(0, 2.0, (2000, 24))).astype(np.int64)
    tables = EntropyTables.fit(symbols[:1500])
    held = tables.clip(symbols[1500:])
    sizes = []
    for row in held:
        payload = encode_symbols(row, tables)
        assert np.array_equal(decode_symbols(payload, tables), row)
        sizes.append(len(payload))
    ideal = tables.entropy_bits(held).mean() / 8
    assert ideal <= np.mean(sizes) <= ideal + 0.6  # range coder, cut to the shortest exact prefix


# ------------------------------------------------------------------------------------------ stream checks
@pytest.fixture(scope="module")
def stream(codec, data):
    return codec.compress(data[1][:1])[0]


def test_header_is_compact_and_versioned(codec, data, stream):
    assert stream[:2] == MAGIC and stream[2] == 2 and stream[3:7] == codec.model_id
    header, payload = unpack_stream(stream, model=codec.model_id, shape=(8, 8))
    assert header.version == 2 and header.shape is None  # the shape is the model's (it is in the model id)
    assert HEADER_BYTES == 9 and len(stream) == 9 + len(payload)  # 7 header bytes + 2 checksum bytes
    symbols = codec.transform(data[1][:1]).astype(np.int64)[0]
    assert payload == encode_symbols(symbols, codec.entropy_tables_)


def test_version_1_streams_still_decode(codec, stream):
    payload = unpack_stream(stream)[1]
    old = pack_stream(payload, model=codec.model_id, version=1, shape=(8, 8))
    assert len(old) == len(stream) + 3 and old[2] == 1  # ndim and two dimensions, one varint byte each
    assert np.array_equal(codec.decompress([old]), codec.decompress([stream]))


@pytest.mark.parametrize("mangle, message", [
    (lambda s: b"PK" + s[2:], "not an aekit stream: bad magic"),
    (lambda s: s[:2] + bytes([7]) + s[3:], r"unsupported stream format version 7 \(this aekit reads versions 1, 2, 3\)"),
    (lambda s: s[:-3], "corrupted or truncated stream"),
    (lambda s: s[:5], "truncated stream: 5 bytes"),
    (lambda s: s[:9] + bytes([s[9] ^ 0x10]) + s[10:], "corrupted or truncated stream: checksum mismatch"),
])
def test_bad_streams_raise_clear_codec_errors(codec, stream, mangle, message):
    with pytest.raises(CodecError, match=message):
        codec.decompress([mangle(stream)])
    assert issubclass(CodecError, ValueError)


def test_every_single_byte_flip_is_caught(codec, stream):
    for pos in range(len(stream)):
        for bit in (0x01, 0x80):
            bad = stream[:pos] + bytes([stream[pos] ^ bit]) + stream[pos + 1:]
            with pytest.raises(CodecError):
                codec.decompress([bad])


def test_stream_from_another_model_is_refused(codec, data, stream):
    other = Compressor(**{**FAST, "epochs": 2, "random_state": 1}).fit(data[0][:300])
    with pytest.raises(CodecError, match=r"stream 0: stream was made by another model \(model id "):
        other.decompress([stream])


def test_stream_of_another_shape_is_refused(codec, stream):
    forged = pack_stream(unpack_stream(stream)[1], model=codec.model_id, version=1, shape=(28, 28))
    with pytest.raises(CodecError, match=r"shape \(28, 28\), but the model codes items of shape \(8, 8\)"):
        codec.decompress([forged])


def test_decompress_wants_a_list_of_streams(codec, stream):
    with pytest.raises(TypeError, match="list of streams"):
        codec.decompress(stream)


# ------------------------------------------------------------------------------------------ quality
def _pillow_sizes(images, fmt, **opts):
    sizes, recs = [], []
    for im in images.astype(np.uint8):
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, format=fmt, **opts)
        sizes.append(len(buf.getvalue()))
        recs.append(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L")))
    return float(np.mean(sizes)), _psnr(images, np.stack(recs))


def test_beats_webp_and_png_on_held_out_digits(codec, data):
    test = data[1]
    streams = codec.compress(test)
    ours_bytes = np.mean([len(s) for s in streams])
    ours_psnr = _psnr(test, np.clip(np.round(codec.decompress(streams)), 0, 255))
    assert ours_psnr > 17.0  # a useful quality on 8x8 digits (the mean image gives about 11 dB)
    png_bytes, _ = _pillow_sizes(test, "PNG", optimize=True)
    # the smallest WebP (quality 0..100, best effort) that reaches our PSNR
    webp = [_pillow_sizes(test, "WEBP", quality=q, method=6) for q in range(0, 101, 10)]
    needed = min(b for b, db in webp if db >= ours_psnr)
    assert ours_bytes < needed / 2, (ours_bytes, ours_psnr, webp)
    assert ours_bytes < png_bytes / 3


def test_rate_knobs_move_along_the_curve(codec, data):
    train, test = data
    coarse = copy.deepcopy(codec).set_params(step=2.5)   # the same trained autoencoder, a coarser quantiser
    coarse.fit_tables(train)
    fine_bytes = np.mean([len(s) for s in codec.compress(test)])
    coarse_bytes = np.mean([len(s) for s in coarse.compress(test)])
    assert coarse_bytes < fine_bytes
    assert coarse.score(test) < codec.score(test)
    assert coarse.model_id != codec.model_id


def test_refine_lowers_each_items_loss_and_round_trips(codec, data):
    test = data[1][:150]
    x = codec._validate(test, reset=False)
    xs = torch.as_tensor(codec.autoencoder_.scaler.transform(x))
    plain = codec.transform(test).astype(np.int64)
    try:
        codec.set_params(refine=20)
        refined = codec.transform(test)
        streams = codec.compress(test)
        assert np.array_equal(codec.decode_streams(streams), refined)  # same decoder, same stream format
        assert codec.encode_codes(refined) == streams
    finally:
        codec.set_params(refine=0)
    before, after = codec._item_loss(xs, plain), codec._item_loss(xs, refined.astype(np.int64))
    assert (after <= before + 1e-12).all() and after.mean() < 0.9 * before.mean()
    assert _psnr(test, np.clip(np.round(codec.inverse_transform(refined)), 0, 255)) > \
        _psnr(test, np.clip(np.round(codec.inverse_transform(plain.astype(np.float32))), 0, 255)) + 0.3
    with pytest.raises(ValueError, match="refine=-1 must be an integer >= 0"):
        codec.set_params(refine=-1).transform(test[:2])
    codec.set_params(refine=0)
    with pytest.raises(ValueError, match="encode_codes expects integer codes of shape"):
        codec.encode_codes(plain[:, :3])


# ------------------------------------------------------------------------------------------ persistence
def test_save_load_gives_identical_streams(codec, data, stream, tmp_path):
    codec.save(tmp_path / "codec")
    loaded = aekit.load(tmp_path / "codec")
    assert isinstance(loaded, Compressor) and loaded.model_id == codec.model_id
    assert loaded.compress(data[1][:50]) == codec.compress(data[1][:50])
    assert np.array_equal(loaded.decompress([stream]), codec.decompress([stream]))


def test_parameter_errors(data):
    with pytest.raises(ValueError, match="rate_weight=-1 must be a number >= 0"):
        Compressor(rate_weight=-1).fit(data[0][:50])
    with pytest.raises(ValueError, match="step=0 must be a number > 0"):
        Compressor(step=0).fit(data[0][:50])
    with pytest.raises(ValueError, match="model='conv' has no entropy model"):
        Compressor(model="conv", epochs=1).fit(data[0][:50])


# ------------------------------------------------------------------------------------------ command line
def test_cli_round_trip_and_errors(codec, data, tmp_path, capsys):
    model = tmp_path / "model"
    codec.save(model)
    images = data[1][:3].astype(np.uint8)
    Image.fromarray(images[0]).save(tmp_path / "a.png")
    np.save(tmp_path / "b.npy", images[1:3].astype(np.float32))
    assert main(["compress", "--model", str(model), str(tmp_path / "a.png"), str(tmp_path / "b.npy"),
                 "--out", str(tmp_path / "aek")]) == 0
    out = capsys.readouterr().out
    assert "a.aek: " in out and "bits per pixel" in out
    files = sorted(p.name for p in (tmp_path / "aek").iterdir())
    assert files == ["a.aek", "b_0000.aek", "b_0001.aek"]
    assert (tmp_path / "aek" / "a.aek").read_bytes() == codec.compress(images[:1].astype(np.float32))[0]
    assert main(["decompress", "--model", str(model), *(str(tmp_path / "aek" / f) for f in files),
                 "--out", str(tmp_path / "dec")]) == 0
    decoded = np.asarray(Image.open(tmp_path / "dec" / "b_0001.png"))
    want = np.clip(np.round(codec.decompress(codec.compress(images[2:3].astype(np.float32)))[0]), 0, 255)
    assert np.array_equal(decoded, want.astype(np.uint8))

    Image.fromarray(np.zeros((10, 9), np.uint8)).save(tmp_path / "big.png")
    assert main(["compress", "--model", str(model), str(tmp_path / "big.png"), "--out", str(tmp_path / "x")]) == 2
    assert "image is 9x10 (width x height), but the model codes 8x8 images" in capsys.readouterr().err
    bad = tmp_path / "bad.aek"
    good = (tmp_path / "aek" / "a.aek").read_bytes()
    bad.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    assert main(["decompress", "--model", str(model), str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "bad.aek: corrupted or truncated stream" in capsys.readouterr().err
    other = tmp_path / "other"
    Compressor(**{**FAST, "epochs": 1, "random_state": 3}).fit(data[0][:200]).save(other)
    assert main(["decompress", "--model", str(other), str(tmp_path / "aek" / "a.aek"), "--out", str(tmp_path / "x")]) == 2
    assert "a.aek: stream was made by another model" in capsys.readouterr().err
