"""No silent wrong output: images are read with their real range, a codec refuses what it cannot code, an
overcomplete code is flagged, the default anomaly threshold works on contaminated data, and a hand-edited
config.json is checked against the weights before the model is built."""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import f1_score

import aekit
from aekit import AnomalyDetector, Compressor
from aekit.cli import main
from aekit.cli.common import read_image, read_labels
from aekit.codec import CodecError, pack_stream, unpack_stream
from aekit.corruption import make_corruption
from aekit.data import load_dataset
from aekit.data.files import ImageConversionWarning
from aekit.diagnostics import OvercompleteCodeWarning
from aekit.estimators.scoring import ThresholdWarning, threshold_rule
from aekit.models import create_model, list_models, model_class
from aekit.persistence import ModelFileError, save_model
from aekit.seeding import resolve_seeds
from aekit.training import ModelSpec, TrainConfig, train_autoencoder
from tests.helpers import digits


def _digit_images() -> np.ndarray:
    """(n, 8, 8) uint8 digits, 0..255."""
    return np.round(digits()[0][:, 0] * 255).astype(np.uint8)


def _save_pair(tmp_path: Path, img8: np.ndarray) -> tuple[Path, Path]:
    """The same picture as an 8-bit and as a 16-bit grey PNG (v * 257: the same levels)."""
    p8, p16 = tmp_path / "eight.png", tmp_path / "sixteen.png"
    Image.fromarray(img8).save(p8)
    Image.fromarray(img8.astype(np.uint16) * 257).save(p16)
    assert Image.open(p16).mode.startswith("I;16")
    return p8, p16


# ------------------------------------------------------------------------------------------ images
def test_16_bit_png_is_read_with_its_range_and_says_so(tmp_path):
    p8, p16 = _save_pair(tmp_path, _digit_images()[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        eight = read_image(p8)                       # a plain 8-bit file: no warning
    with pytest.warns(ImageConversionWarning, match=r"sixteen\.png: 16-bit grey image scaled from 0-65535 to \[0, 1\]"):
        sixteen = read_image(p16)
    np.testing.assert_allclose(sixteen, eight, atol=1e-6)   # was clipped: every level above 255 read as 1.0
    levels = np.array([[0, 300, 40000, 65535]], np.uint16)
    Image.fromarray(levels).save(tmp_path / "levels.png")
    with pytest.warns(ImageConversionWarning):
        np.testing.assert_allclose(read_image(tmp_path / "levels.png"), levels / 65535.0, atol=1e-7)


def test_16_bit_image_folder_keeps_its_levels(tmp_path):
    levels = np.array([[0, 300, 40000, 65535]], np.uint16)
    (tmp_path / "imgs").mkdir()
    for i in range(2):
        Image.fromarray(levels).save(tmp_path / "imgs" / f"{i}.png")
    with pytest.warns(ImageConversionWarning, match=r"0\.png: 16-bit grey image scaled from 0-65535 to "
                                                    r"\[0, 255\] \(and 1 more converted images\)"):
        ds = load_dataset(tmp_path / "imgs")
    assert ds.value_range == (0.0, 255.0)
    np.testing.assert_allclose(ds.train.X[1, 0], levels * (255.0 / 65535.0), rtol=1e-6)


def test_palette_images_follow_their_palette(tmp_path):
    index = np.array([[0, 1], [2, 1]], np.uint8)
    grey = Image.fromarray(index, mode="P")
    grey.putpalette([0, 0, 0, 100, 100, 100, 255, 255, 255])
    grey.save(tmp_path / "grey.png")
    colour = Image.fromarray(index, mode="P")
    colour.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255])
    colour.save(tmp_path / "colour.png")
    with pytest.warns(ImageConversionWarning, match=r"grey\.png: palette image converted to grey by its palette"):
        g = read_image(tmp_path / "grey.png")
    np.testing.assert_allclose(g, np.array([[0, 100], [255, 100]]) / 255.0, atol=1e-7)
    with pytest.warns(ImageConversionWarning, match=r"palette image converted to RGB by its palette"):
        c = read_image(tmp_path / "colour.png")
    assert c.shape == (2, 2, 3) and c[0, 1].tolist() == [1.0, 0.0, 0.0] and c[1, 0].tolist() == [0.0, 0.0, 1.0]


def test_mask_labels_are_pixel_values(tmp_path):
    index = np.array([[0, 1], [2, 1]], np.uint8)
    mask = Image.fromarray(index, mode="P")
    mask.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0])   # a coloured class map: labels are its indices
    mask.save(tmp_path / "mask.png")
    np.testing.assert_array_equal(read_labels(tmp_path / "mask.png"), index)
    big = np.array([[0, 300], [1000, 7]], np.uint16)   # more than 256 classes in a 16-bit mask
    Image.fromarray(big).save(tmp_path / "mask16.png")
    np.testing.assert_array_equal(read_labels(tmp_path / "mask16.png"), big)


# ------------------------------------------------------------------------------------------ codec
@pytest.fixture(scope="module")
def codec():
    return Compressor(latent_dim=8, epochs=3, random_state=0).fit(_digit_images()[:300].astype(np.float32))


@pytest.mark.parametrize("value, match", [
    (1e30, r"X holds values in \[0, 1e\+30\], outside the range this codec accepts, \[-\d+\.?\d*, \d+\.?\d*\] "
           r"\(trained on values in \[0, \d+\]\)"),
    (np.nan, r"X holds 1 NaN and 0 infinite value\(s\); a codec codes finite values \(trained on"),
    (np.inf, r"X holds 0 NaN and 1 infinite value\(s\)"),
    (-1e40, r"X holds 0 NaN and 1 infinite value\(s\)"),   # beyond float32: what the model would see is -inf
])
def test_codec_refuses_values_it_cannot_code(codec, value, match):
    x = _digit_images()[:1].astype(np.float64)
    x[0, 0, 0] = value
    with pytest.raises(ValueError, match=match):
        codec.compress(x)


def test_codec_folder_without_a_recorded_range_still_loads(codec, tmp_path):
    codec.save(tmp_path / "m")
    cfg_path = tmp_path / "m" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    del cfg["metadata"]["estimator"]["state"]["data_range_"]    # as saved before the range was recorded
    cfg_path.write_text(json.dumps(cfg))
    old = aekit.load(tmp_path / "m")
    x = _digit_images()[:2].astype(np.float32)
    assert old.data_range_ is None and old.compress(x) == codec.compress(x)
    x[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"X holds 1 NaN"):
        old.compress(x)


def test_codec_cli_refuses_out_of_range_and_reads_16_bit(codec, tmp_path, capsys):
    codec.save(tmp_path / "m")
    np.save(tmp_path / "huge.npy", np.full((8, 8), 1e30, np.float32))
    assert main(["compress", "--model", str(tmp_path / "m"), str(tmp_path / "huge.npy"),
                 "--out", str(tmp_path / "a")]) == 2
    assert "outside the range this codec accepts" in capsys.readouterr().err
    p8, p16 = _save_pair(tmp_path, _digit_images()[5])
    assert main(["compress", "--model", str(tmp_path / "m"), str(p8), str(p16), "--out", str(tmp_path / "b")]) == 0
    assert "sixteen.png: 16-bit grey image scaled from 0-65535 to [0, 1] (ImageConversionWarning)" in \
        capsys.readouterr().err
    assert (tmp_path / "b" / "sixteen.aek").read_bytes() == (tmp_path / "b" / "eight.aek").read_bytes()


@pytest.mark.parametrize("forge", [
    lambda p: bytes([p[0] ^ 0x40]) + p[1:],         # another first byte
    lambda p: p + b"\x01",                          # a byte appended
    lambda p: b"\xff" * 12,                         # another payload altogether
])
def test_forged_payload_behind_a_valid_header_is_refused(codec, forge):
    stream = codec.compress(_digit_images()[:1].astype(np.float32))[0]
    _, payload = unpack_stream(stream)
    forged = pack_stream(forge(payload), model=codec.model_id)      # valid magic, version, model id and CRC
    with pytest.raises(CodecError, match=r"stream 0: corrupted stream: .*payload"):
        codec.decompress([forged])


# ------------------------------------------------------------------------------------------ latent size
def _train(name: str, latent_dim: int, corruption=None, shape=(6,)):
    X = np.random.default_rng(0).random((40, *shape), dtype=np.float32)
    return train_autoencoder(X, model=ModelSpec(name, latent_dim), seeds=resolve_seeds(0),
                             config=TrainConfig(epochs=1, batch_size=20, progress=False, device="cpu",
                                                early_stopping=None), corruption=make_corruption(corruption))


@pytest.mark.filterwarnings("ignore::aekit.diagnostics.CollapseWarning")
def test_overcomplete_code_warns_unless_something_else_limits_it():
    with pytest.warns(OvercompleteCodeWarning, match=r"'mlp' model's code has 6 values for inputs of 6: it does "
                                                     r"not compress.*use latent_dim < 6"):
        _train("mlp", 6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OvercompleteCodeWarning)
        _train("mlp", 5)                              # undercomplete
        _train("sparse", 12)                          # the sparsity penalty limits the code
        _train("mlp", 12, corruption="gaussian:0.1")  # denoising: the corrupted input cannot just be copied


def test_every_family_says_whether_an_overcomplete_code_is_meaningful():
    plain = {"linear", "mlp", "mlp-ensemble", "conv", "conv1d-seq", "lstm-seq", "conv3d-video", "prefix-code",
             "shared-encoder"}
    shipped = [n for n in list_models() if model_class(n).__module__.startswith("aekit.")]  # not tests' models
    for name in shipped:
        assert isinstance(model_class(name).overcomplete_ok, bool)
        assert model_class(name).overcomplete_ok == (name not in plain), name


# ------------------------------------------------------------------------------------------ anomaly threshold
def test_robust_rule_finds_a_mode_of_anomalies_and_fences_a_clean_tail():
    rng = np.random.default_rng(0)
    contaminated = np.concatenate([rng.normal(0, 1, 650), rng.normal(6, 0.5, 350)])   # 35 % anomalies
    cut = threshold_rule("robust").threshold(contaminated, 3.0)
    assert 2 < cut < 4.5 and abs(np.mean(contaminated > cut) - 0.35) < 0.02
    assert threshold_rule("sigma").threshold(contaminated, 3.0) > contaminated.max() - 0.5   # the old default
    clean = rng.normal(0, 1, 1000)
    cut = threshold_rule("robust").threshold(clean, 3.0)
    med = np.median(clean)
    assert cut == pytest.approx(med + 3.0 * 1.4826 * np.median(np.abs(clean - med)))


@pytest.mark.filterwarnings("ignore::aekit.diagnostics.CollapseWarning")  # 2 epochs: not yet trained
def test_a_threshold_that_flags_nothing_or_everything_warns():
    X = digits()[0].reshape(-1, 64)[:300]
    det = AnomalyDetector(latent_dim=4, epochs=2, min_steps=0, score_type="reconstruction", contamination=0.1).fit(X)
    with pytest.warns(ThresholdWarning, match=r"the 'percentile' threshold .* flags none of the 300 samples it was "
                                              r"set on; pass contamination="):
        det.set_threshold(method="percentile", percentile=100.0)
    labels = np.ones(5, int)
    labels[np.argmax(det.anomaly_score(X[:5]))] = 0   # only the most abnormal-looking one is normal: best F1 flags all
    with pytest.warns(ThresholdWarning, match=r"the 'f1' threshold .* flags all of the 5 samples"):
        det.set_threshold(X[:5], labels, method="f1")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ThresholdWarning)
        det.set_threshold(method="max")               # "max" flags nothing by definition: no warning


@pytest.mark.skipif(not (Path(os.environ.get("AEKIT_DATA_DIR", "")) / "adbench" / "4_breastw.npz").is_file(),
                    reason="ADBench's breastw not found: set AEKIT_DATA_DIR to the shared data folder")
@pytest.mark.quality
def test_default_detector_flags_the_anomalies_of_contaminated_breastw():
    data = np.load(Path(os.environ["AEKIT_DATA_DIR"]) / "adbench" / "4_breastw.npz")
    X, y = data["X"].astype(np.float32), data["y"].astype(int)     # 683 rows, 35 % anomalies, no labels used
    det = AnomalyDetector(epochs=20, min_steps=300).fit(X)
    flagged = det.predict(X) == -1
    assert det.threshold_rule_ == "robust"
    assert f1_score(y, flagged) > 0.7, (flagged.sum(), f1_score(y, flagged))   # mean + 3 sigma: 0 rows, F1 0


# ------------------------------------------------------------------------------------------ config.json
@pytest.mark.parametrize("change, match", [
    ({"latent_dim": 10 ** 9}, r"encoder\.1\.2\.weight is \(1000000000, 16\) in the config's model but \(4, 16\) "
                              r"in the weights"),
    ({"hidden": [10 ** 8]}, r"is \(100000000, 4\) in the config's model but \(16, 4\) in the weights"),
])
def test_absurd_config_is_checked_against_the_weights_before_building(tmp_path, change, match):
    save_model(tmp_path, create_model("mlp", input_shape=(64,), latent_dim=4, hidden=[16]))
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["params"].update(change)                      # the weights' checksum still matches: only config.json changed
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFileError, match=r"does not fit the 'mlp' model described in config\.json: .*" + match):
        aekit.load(tmp_path)
