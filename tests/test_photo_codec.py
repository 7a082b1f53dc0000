"""The photo codec (ImageCodec): GDN, exact round trips of images of any size, quality levels, the version 3
stream's checks, persistence and the command line."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import aekit
from aekit import ImageCodec
from aekit.cli import main
from aekit.codec import IMAGE_VERSION, CodecError, pack_stream, unpack_stream
from aekit.layers import GDN
from aekit.models import create_model
from aekit.objectives import make_objective
from aekit.training.batch import Batch

TINY = dict(latent_dim=8, filters=8, lambdas=[0.002, 0.05], patch_size=32, n_patches=96, epochs=6, batch_size=16,
            lr=3e-3, random_state=0)


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth (H, W, 3) image in [0, 1]: colour gradients and a few soft blobs, like a photo's low frequencies."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = (rng.random(3) * 0.5)[:, None, None] + 0.3 * np.stack([yy, xx, h - yy]) / max(h, w)   # (3, H, W)
    for _ in range(4):
        cy, cx, r = rng.random() * h, rng.random() * w, 4 + rng.random() * max(h, w) / 3
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        img = img + (rng.random(3) - 0.5)[:, None, None] * blob
    return np.clip(img.transpose(1, 2, 0), 0, 1).astype(np.float32)


@pytest.fixture(scope="module")
def photos():
    return [_photo(48 + 8 * i, 64 - 4 * i, i) for i in range(6)]


@pytest.fixture(scope="module", params=["block-transform-coding", "transform-coding"])
def codec(photos, request):
    return ImageCodec(**TINY, model=request.param).fit(photos)


def _psnr(a, b) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - b) ** 2)))


# ------------------------------------------------------------------------------------------ GDN
def test_gdn_and_igdn_invert_each_other_at_init():
    torch.manual_seed(0)
    x = 0.2 * torch.randn(2, 6, 5, 7)
    gdn, igdn = GDN(6), GDN(6, inverse=True)
    with torch.no_grad():
        y = gdn(x)
        assert not torch.allclose(y, x, atol=1e-4)        # it does normalise
        assert torch.allclose(igdn(y), x, atol=2e-3)       # the inverse to first order for small inputs


def test_gdn_keeps_beta_and_gamma_non_negative():
    gdn = GDN(4)
    with torch.no_grad():
        gdn.beta.fill_(-3.0)
        gdn.gamma.fill_(-3.0)
    assert (gdn.effective_beta() >= gdn.beta_min).all() and (gdn.effective_gamma() >= 0).all()
    x = torch.randn(1, 4, 3, 3)
    assert torch.isfinite(gdn(x)).all()
    (-gdn(x).abs().sum() - gdn.effective_beta().sum()).backward()  # descent wants a larger beta: back above the bound
    assert (gdn.beta.grad < 0).all()


# ------------------------------------------------------------------------------------------ model and objective
def test_rate_distortion_objective_weighs_mse_by_the_levels_lambda():
    model = create_model("transform-coding", input_shape=(3, 32, 32), latent_dim=4, filters=4, lambdas=[0.01, 0.1])
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        out = model.eval()(x)
    with torch.no_grad():
        loss = make_objective("rate-distortion").loss(model, Batch(input=x, target=x))
    mse = float(((out.recon - x) ** 2).mean())
    assert float(out.multiplier) == float(out.stats["lambda"]) == pytest.approx(0.01)  # eval: the middle level (0 of 2)
    assert float(loss.total) == pytest.approx(0.01 * 255 ** 2 * mse + float(out.regularizers["rate"]), rel=1e-5)
    with pytest.raises(ValueError, match="increase strictly"):
        create_model("transform-coding", input_shape=(3, 32, 32), latent_dim=4, lambdas=[0.1, 0.01])


# ------------------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("shape", [(37, 53, 3), (29, 41)], ids=["rgb-37x53", "grey-29x41"])
def test_odd_sizes_round_trip_to_the_models_own_quantised_reconstruction(codec, shape):
    img = _photo(shape[0], shape[1], 9)
    img = img if len(shape) == 3 else img.mean(2)
    for q in range(codec.n_qualities_):
        stream = codec.compress([img], quality=q)[0]
        out = codec.decompress([stream])[0]
        assert out.shape == img.shape and out.dtype == np.float32
        assert np.array_equal(out, codec.reconstruct([img], quality=q)[0])
    # the model's own quantised reconstruction, from its transforms directly
    model, t = codec.autoencoder_.model, codec.entropy_tables_
    x = torch.from_numpy(img if img.ndim == 3 else np.repeat(img[..., None], 3, 2)).permute(2, 0, 1)[None]
    with torch.no_grad():
        y = model.analysis(x, 1)
        y = model.quantise(y) if hasattr(model, "quantise") else torch.round(y)     # the block coder's dead zone
        rows = [0] * len(t.low) if codec._adaptive else slice(None)                  # a bank: one range for all
        low, high = (torch.from_numpy(v[rows])[:model.latent_dim, None, None] for v in (t.low, t.high))
        y = torch.clamp(y, low, high)
        own = model.synthesis(y.float(), 1, shape[:2])[0].numpy()
    own = own.transpose(1, 2, 0) if img.ndim == 3 else np.tensordot([0.299, 0.587, 0.114], own, axes=1)
    assert np.allclose(codec.decompress(codec.compress([img], quality=1))[0], own, atol=1e-6)


def test_header_records_the_true_size_and_quality(codec):
    img = _photo(37, 53, 1)
    stream = codec.compress([img], quality=0)[0]
    header, payload = unpack_stream(stream, model=codec.model_id)
    assert stream[2] == IMAGE_VERSION == 3 and header.shape == (3, 37, 53) and header.quality == 0
    assert len(stream) == 9 + 3 + 1 + len(payload)   # magic, version, id, crc + three one-byte varints + quality


def test_higher_quality_gives_more_bytes_and_higher_psnr(codec, photos):
    sizes, psnrs = [], []
    for q in range(codec.n_qualities_):
        streams = codec.compress(photos, quality=q)
        sizes.append(sum(map(len, streams)))
        psnrs.append(np.mean([_psnr(o, p) for o, p in zip(codec.decompress(streams), photos)]))
    assert sizes[1] > sizes[0] and psnrs[1] > psnrs[0] + 1.0
    assert codec.score(photos, quality=1) == pytest.approx(psnrs[1], abs=1e-3)
    assert codec.compress(photos[:1])[0] == codec.compress(photos[:1], quality=0)[0]   # 2 levels: the middle is 0


def test_a_bad_quality_is_named(codec, photos):
    with pytest.raises(ValueError, match=r"quality=2; expected an integer level 0\.\.1"):
        codec.compress(photos[:1], quality=2)


# ------------------------------------------------------------------------------------------ stream checks
@pytest.fixture(scope="module")
def stream(codec):
    return codec.compress([_photo(37, 53, 2)], quality=1)[0]


def test_stream_from_another_model_is_refused(codec, photos, stream):
    patches = np.stack([p[:32, :32].transpose(2, 0, 1) for p in photos])          # (6, 3, 32, 32) patches
    other = ImageCodec(**{**TINY, "epochs": 1, "random_state": 1}).fit(patches)
    with pytest.raises(CodecError, match=r"stream 0: stream was made by another model \(model id "):
        other.decompress([stream])
    assert other.decompress(other.compress(photos[:1]))[0].shape == photos[0].shape   # (H, W, 3) back


@pytest.mark.parametrize("mangle, message", [
    (lambda s: s[:-5], "corrupted or truncated stream: checksum mismatch"),
    (lambda s: s[:6], "truncated stream: 6 bytes"),
    (lambda s: s[:20] + bytes([s[20] ^ 0x04]) + s[21:], "corrupted or truncated stream: checksum mismatch"),
    (lambda s: s[:2] + bytes([9]) + s[3:], r"unsupported stream format version 9 \(this aekit reads versions 1, 2, "
                                           r"3\)"),
])
def test_truncated_or_corrupted_streams_raise_codec_errors(codec, stream, mangle, message):
    with pytest.raises(CodecError, match=message):
        codec.decompress([mangle(stream)])


def test_every_header_byte_flip_is_caught(codec, stream):
    for pos in range(14):
        bad = stream[:pos] + bytes([stream[pos] ^ 0x01]) + stream[pos + 1:]
        with pytest.raises(CodecError):
            codec.decompress([bad])


def test_forged_headers_are_refused(codec, stream):
    payload = unpack_stream(stream)[1]
    with pytest.raises(CodecError, match=r"format version 2 stream codes a fixed-size item"):
        codec.decompress([pack_stream(payload, model=codec.model_id, version=2)])
    with pytest.raises(CodecError, match=r"quality level 7, but this codec has levels 0\.\.1"):
        codec.decompress([pack_stream(payload, model=codec.model_id, version=3, shape=(3, 37, 53), quality=7)])
    with pytest.raises(CodecError, match="payload is not the coding of"):   # another size: the payload does not fit
        codec.decompress([pack_stream(payload, model=codec.model_id, version=3, shape=(3, 37, 90), quality=1)])
    with pytest.raises(CodecError, match="cannot code the image size in its header|payload cannot be decoded"):
        codec.decompress([pack_stream(payload, model=codec.model_id, version=3, shape=(3, 4000, 5000), quality=1)])
    with pytest.raises(CodecError, match="more than 268435456 pixels"):
        codec.decompress([pack_stream(payload, model=codec.model_id, version=3, shape=(3, 10**6, 10**6), quality=1)])
    with pytest.raises(TypeError, match="list of streams"):
        codec.decompress(stream)


# ------------------------------------------------------------------------------------------ persistence
def test_save_load_gives_identical_streams_and_decodes(codec, tmp_path):
    codec.save(tmp_path / "codec")
    back = aekit.load(tmp_path / "codec")
    assert isinstance(back, ImageCodec) and back.model_id == codec.model_id and back.n_qualities_ == 2
    imgs = [_photo(37, 53, 3), _photo(29, 41, 4).mean(2)]
    for q in (0, 1):
        streams = codec.compress(imgs, quality=q)
        assert back.compress(imgs, quality=q) == streams
        for a, b in zip(codec.decompress(streams), back.decompress(streams)):
            assert np.array_equal(a, b)


# ------------------------------------------------------------------------------------------ command line
def _write_png(path, img):
    Image.fromarray(np.round(img * 255).astype(np.uint8)).save(path)


def test_cli_compresses_and_decompresses_a_png(codec, tmp_path, monkeypatch):
    folder = codec.save(tmp_path / "model")
    _write_png(tmp_path / "photo.png", _photo(37, 53, 5))
    assert main(["compress", "--model", str(folder), str(tmp_path / "photo.png"), "--quality", "1",
                 "--out", str(tmp_path / "d")]) == 0
    assert (tmp_path / "d" / "photo.aek").read_bytes()[2] == 3
    assert main(["decompress", "--model", str(folder), str(tmp_path / "d" / "photo.aek"),
                 "--out", str(tmp_path / "e")]) == 0
    decoded = np.asarray(Image.open(tmp_path / "e" / "photo.png"))
    assert decoded.shape == (37, 53, 3)
    # --model omitted: the pretrained photo codec (here a stand-in folder in place of aekit/weights)
    import aekit.zoo

    monkeypatch.setattr(aekit.zoo, "WEIGHTS", tmp_path)
    codec.save(tmp_path / "codec-photo")
    assert main(["compress", str(tmp_path / "photo.png"), "--out", str(tmp_path / "f")]) == 0
    assert main(["decompress", str(tmp_path / "f" / "photo.aek"), "--out", str(tmp_path / "g")]) == 0
    assert np.asarray(Image.open(tmp_path / "g" / "photo.png")).shape == (37, 53, 3)
    assert main(["compress", str(tmp_path / "photo.png"), "--quality", "5", "--out", str(tmp_path / "h")]) == 2


# ------------------------------------------------------------------------------------------ the block coder
def test_block_transform_starts_as_the_klt_of_the_training_blocks():
    """initialise: a complete orthonormal transform (synthesis inverts analysis exactly before quantising), its
    coefficients uncorrelated over the training blocks and strongest first; the post-filter starts as the identity."""
    rng = np.random.default_rng(0)
    x = torch.from_numpy(np.stack([_photo(32, 32, i).transpose(2, 0, 1) for i in range(8)])
                         + rng.normal(0, 0.02, (8, 3, 32, 32)).astype(np.float32))
    model = create_model("block-transform-coding", input_shape=(3, 32, 32), latent_dim=192).eval()
    model.initialise(x)
    with torch.no_grad():
        y = model.encode(x)                                                                 # (8, 192, 4, 4)
        assert torch.allclose(model.decode_logits(y), x, atol=1e-4)
    coefs = y.permute(0, 2, 3, 1).reshape(-1, 192).double()
    cov = torch.cov(coefs.T)
    assert torch.allclose(cov - torch.diag(cov.diagonal()), torch.zeros_like(cov), atol=1e-5)
    assert (cov.diagonal()[:-1] >= cov.diagonal()[1:] - 1e-9).all()


def test_block_quantiser_has_a_dead_zone():
    model = create_model("block-transform-coding", input_shape=(3, 16, 16), latent_dim=8, deadzone=0.2)
    y = torch.tensor([-1.71, -1.69, -0.69, 0.0, 0.69, 0.71, 1.69, 1.71])
    assert model.quantise(y).tolist() == [-2, -1, 0, 0, 0, 1, 1, 2]


def test_context_coding_never_costs_more_than_one_table_per_channel():
    """pick_context_rows: a channel of zeros gets row 0 (free); the bases and class offsets it picks code the
    symbols in no more bits than the best single bank row per channel (offsets 0), and fewer when the classes
    differ (flat blocks' weak coefficients are zero, busy blocks' wide)."""
    from aekit.estimators._entropy import context_classes, context_row, laplace_bank, pick_context_rows

    bank = laplace_bank()
    rng = np.random.default_rng(0)
    busy = rng.random(400) < 0.5                                       # half the blocks busy, half flat
    symbols = np.stack([np.round(rng.laplace(0, 30, 400))] +
                       [np.where(busy, np.round(rng.laplace(0, s, 400)), 0) for s in (4, 3, 2, 2, 1)] +
                       [np.zeros(400)]).astype(np.int64)

    def bits(bases, offsets):
        classes = context_classes(symbols)
        return sum(-np.log2(bank.probs[context_row(b, offsets[k], len(bank.low)), symbols[j, i] - bank.low[0]])
                   for j, b in enumerate(bases) for i, k in enumerate(classes[j]))

    bases, offsets = pick_context_rows(symbols, bank)
    assert bases[-1] == 0 and bases[:-1].min() > 0
    no_context = np.zeros_like(offsets)
    best_single = [min(range(1, len(bank.low)), key=lambda r: -np.log2(bank.probs[r, row - bank.low[0]]).sum())
                   for row in symbols[:-1]]
    single = bits(best_single + [0], no_context)
    assert bits(bases, offsets) < 0.9 * single


def test_an_adaptive_stream_with_forged_side_information_is_refused(photos):
    codec = ImageCodec(**TINY).fit(photos)
    stream = codec.compress([photos[0]])[0]
    header, payload = unpack_stream(stream)
    for forged_payload in (bytes([255, 255, 255]) + payload[3:], bytes([0]) + payload[1:]):
        forged = pack_stream(forged_payload, model=header.model, version=IMAGE_VERSION, shape=header.shape,
                             quality=header.quality)
        with pytest.raises(CodecError, match="corrupted stream"):
            codec.decompress([forged])
