"""Restorer / Segmenter: seamless tiles, each task beats its classical baseline on real images, clear
errors, save -> load gives identical outputs, and the ``aekit restore`` / ``aekit segment`` commands."""
import json
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import aekit
from aekit import Restorer, Segmenter
from aekit.cli import main
from aekit.corruption import Corruption
from aekit.data.composites import digit_composites, texture_photographs
from aekit.estimators._image import ramp_window, tile_starts, tiled_apply
from aekit.estimators.restoration_tasks import (RestorationTask, TaskAugment, list_restoration_tasks,
                                                make_restoration_task, register_restoration_task)
from aekit.metrics import masked_psnr, mean_iou, psnr
from aekit.training.batch import Batch
from tests.helpers import digits

FAST = {"epochs": 4, "batch_size": 32, "latent_dim": 32}


def _box_blur(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H, W): 3 x 3 mean, edges replicated."""
    return F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)


@register_restoration_task("blur")
@dataclass(frozen=True)
class Deblur(RestorationTask):
    """A task defined here only, with its own degradation (a 3 x 3 box blur) and model input (the blurred
    image and its high-pass residual, so two channels per image channel): registering it is all
    ``Restorer(task="blur")`` needs."""

    accepts_corruption: ClassVar[bool] = False
    degradation: ClassVar[str] = "3 x 3 box blur"

    def in_channels(self, n_channels: int) -> int:
        return 2 * n_channels

    def degrade(self, x, corruptions, generator):
        return _box_blur(x), None

    def model_input(self, x, missing=None):
        return torch.cat([x, x - _box_blur(x)], 1)                         # (B, 2C, H, W)


@pytest.fixture(scope="module")
def digit_images():
    X, _ = digits()
    return X[:1400, 0], X[1400:1600, 0]  # (n, 8, 8) in [0, 1]


@pytest.fixture(scope="module")
def camera():
    import skimage.data

    return (skimage.data.camera() / 255.0).astype(np.float32)


# ------------------------------------------------------------------------------------------------ tiles
@pytest.mark.parametrize("size,tile,overlap", [(100, 32, 8), (64, 32, 0), (37, 16, 4), (300, 128, 16)])
def test_tiles_cover_every_pixel_with_positive_weight(size, tile, overlap):
    starts = tile_starts(size, tile, tile - overlap)
    covered = np.zeros(max(size, tile), int)
    for s in starts:
        covered[s:s + tile] += 1
    assert covered[:size].min() >= 1 and starts[-1] + tile == max(size, tile)
    assert ramp_window(tile, overlap).min() > 0


def test_identity_model_gives_the_image_back_through_tiles():
    # blending is a convex combination of the tiles: an identity network returns the input exactly
    rng = np.random.default_rng(0)
    img = rng.random((3, 203, 150), dtype=np.float32)
    out = tiled_apply(lambda x: x.clone(), img, tile=64, overlap=12, factor=4)
    np.testing.assert_allclose(out, img, atol=1e-6)


def test_untrained_residual_restorer_is_the_identity_on_any_size(digit_images):
    est = Restorer(task="denoise", epochs=1, lr=1e-9, tile_size=32, tile_overlap=8).fit(digit_images[0][:64])
    img = np.random.default_rng(1).random((77, 131)).astype(np.float32)
    np.testing.assert_allclose(est.restore(img), img, atol=1e-4)


def test_tiled_restoration_has_no_seams(camera):
    est = Restorer(task="denoise", corruption="gaussian:0.1", patch_size=32, n_patches=300, epochs=2,
                   tile_size=64, tile_overlap=16).fit([camera[:256]])
    noisy = np.clip(camera[256:384, :192] + 0.1 * np.random.default_rng(0).standard_normal((128, 192)), 0, 1)
    tiled = est.restore(noisy.astype(np.float32))
    whole = est.set_params(tile_size=256).restore(noisy.astype(np.float32))
    assert np.abs(tiled - whole).mean() < 0.01
    # the jump between neighbouring columns / rows at tile borders is no larger in the tiled output than in
    # the output of the whole image at once
    borders = [b for b in tile_starts(192, 64, 48) if b > 0]
    jump = lambda a, cols: np.abs(a[:, cols] - a[:, [c - 1 for c in cols]]).mean()
    assert jump(tiled, borders) <= 1.1 * jump(whole, borders) + 1e-3
    rows = [b for b in tile_starts(128, 64, 48) if b > 0]
    assert jump(tiled.T, rows) <= 1.1 * jump(whole.T, rows) + 1e-3


# ------------------------------------------------------------------------------------------------ quality
@pytest.mark.quality
def test_denoising_beats_a_median_filter(digit_images):
    from scipy.ndimage import median_filter

    train, test = digit_images
    est = Restorer(task="denoise", corruption="gaussian:0.3", **FAST).fit(train)
    noisy = est.corrupt(test, random_state=1)
    med = np.stack([median_filter(im, size=3) for im in noisy])
    assert psnr(est.predict(noisy), test) > psnr(med, test) + 1.0


@pytest.mark.quality
def test_inpainting_beats_biharmonic_on_the_missing_pixels(digit_images):
    from skimage.restoration import inpaint_biharmonic

    train, test = digit_images
    est = Restorer(task="inpaint", corruption="mask:0.5", **FAST).fit(train)
    holes = np.random.default_rng(0).random(test.shape) < 0.5
    corrupted = test * ~holes
    bih = np.stack([inpaint_biharmonic(c, m) for c, m in zip(corrupted, holes)])
    ours = est.predict(corrupted, masks=holes)
    assert masked_psnr(ours, test, holes) > masked_psnr(bih, test, holes) + 1.0


@pytest.mark.quality
def test_watermark_removal_beats_a_median_filter(digit_images):
    from scipy.ndimage import median_filter

    train, test = digit_images
    est = Restorer(task="watermark", corruption="watermark:marks", **FAST).fit(train)
    marked = est.corrupt(test, random_state=2)
    med = np.stack([median_filter(im, size=3) for im in marked])
    assert psnr(est.predict(marked), test) > max(psnr(med, test), psnr(marked, test)) + 2.0


@pytest.mark.quality
def test_super_resolution_beats_bicubic(digit_images):
    from aekit.corruption import bicubic_resize

    train, test = digit_images
    est = Restorer(task="super-resolve", scale=2, **FAST).fit(train)
    small = est.corrupt(test)
    assert small.shape == (len(test), 4, 4)
    bic = bicubic_resize(torch.from_numpy(small[:, None]), (8, 8))[:, 0].numpy()
    up = est.predict(small)
    assert up.shape == test.shape
    assert psnr(up, test) > psnr(bic, test) + 1.0


@pytest.mark.quality
def test_colorization_beats_grey_replicated():
    import skimage.data

    rgb = (skimage.data.chelsea() / 255.0).astype(np.float32)  # (300, 451, 3): a ginger cat
    est = Restorer(task="colorize", patch_size=32, n_patches=300, epochs=3, batch_size=16).fit([rgb[:, :256]])
    test = rgb[:, 256:]                                           # held-out right part
    out = est.restore(test)
    grey = np.repeat(est.corrupt(test[None])[0][..., :1], 3, axis=2)
    assert out.shape == test.shape
    chw = lambda a: a.transpose(2, 0, 1)[None]
    assert psnr(chw(out), chw(test)) > psnr(chw(grey), chw(test))


def test_a_task_registered_outside_the_package_trains_and_beats_its_input(digit_images):
    train, test = digit_images
    est = Restorer(task="blur", epochs=3, batch_size=32, latent_dim=32, tile_size=8, tile_overlap=2).fit(train[:600])
    assert est.task_ == Deblur() and est.corruption_specs_ == []
    assert est.autoencoder_.model(torch.zeros(1, 2, 8, 8)).recon.shape == (1, 1, 8, 8)  # 2 channels in, 1 out
    blurred = est.corrupt(test)
    assert np.allclose(blurred, _box_blur(torch.from_numpy(test[:, None]))[:, 0].numpy(), atol=1e-6)
    assert psnr(est.predict(blurred), test) > psnr(blurred, test) + 2.0   # about +4 dB (17 vs 13 dB)
    with pytest.raises(ValueError, match=r"the corruption of task='blur' is fixed by the task \(3 x 3 box blur\)"):
        Restorer(task="blur", corruption="gaussian:0.1").fit(train[:20])


@pytest.fixture(scope="module")
def colour_patches():
    import skimage.data

    rgb = (skimage.data.chelsea() / 255.0).astype(np.float32)[:64, :96].transpose(2, 0, 1)   # (3, 64, 96)
    tiles = [rgb[:, i:i + 16, j:j + 16] for i in range(0, 64, 16) for j in range(0, 96, 16)]
    return np.stack(tiles)                                                  # (24, 3, 16, 16)


@pytest.mark.parametrize("name", list_restoration_tasks())
def test_every_registered_task_fits_corrupts_predicts_and_reloads(name, colour_patches, tmp_path):
    task = make_restoration_task(name)
    defaults = task.default_corruptions(16)
    assert all(isinstance(c, Corruption) for c in defaults)
    # training batches go through the same two methods as prediction inputs
    x = torch.from_numpy(colour_patches[:4])
    batch = TaskAugment(task, defaults)(Batch(input=x, target=x), torch.Generator().manual_seed(0))
    assert batch.input.shape == (4, task.in_channels(3), 16, 16) and batch.target is x
    if task.side_field is not None:  # the degradation's side information is a named field of the record
        assert batch[task.side_field].shape[0] == 4

    est = Restorer(task=name, epochs=1, batch_size=8, latent_dim=8, model_params={"channels": [4]}, tile_size=16,
                   tile_overlap=2).fit(colour_patches)
    assert est.corruptions_ == defaults
    degraded, holes = est.corrupt(colour_patches[:3], return_masks=True)
    masks = holes if task.needs_mask else None
    out = est.predict(degraded, masks=masks)
    assert out.shape == (3, task.out_channels(3), 16, 16) and np.isfinite(out).all()
    assert np.isfinite(est.score(colour_patches[:3]))
    est.save(tmp_path / "r")
    back = aekit.load(tmp_path / "r")
    assert back.task_ == est.task_ and back.corruptions_ == est.corruptions_
    np.testing.assert_array_equal(back.predict(degraded, masks=masks), out)


def test_saved_specs_are_parsed_once_on_load(tmp_path, digit_images):
    est = Restorer(task="inpaint", corruption=["mask:0.3", "block:3,n=2"], epochs=1).fit(digit_images[0][:40])
    assert est.corruption_specs_ == ["mask:0.3", "block:3,n=2"]
    est.save(tmp_path / "r")
    back = aekit.load(tmp_path / "r")
    assert back.corruptions_ == est.corruptions_ and back.corruption_specs_ == est.corruption_specs_
    a, ma = est.corrupt(digit_images[1][:5], return_masks=True)
    b, mb = back.corrupt(digit_images[1][:5], return_masks=True)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.stack(ma), np.stack(mb))


@pytest.mark.quality
def test_segmentation_beats_otsu_on_digits_on_brick(digit_images):
    from skimage.filters import threshold_otsu

    train, test = digit_images
    big = lambda d: np.kron(d, np.ones((2, 2), np.float32))      # 16x16 digits
    tex = [texture_photographs(["brick"])["brick"]]
    xtr, ytr = digit_composites(big(train[:800]), tex, size=24, seed=0)
    xte, yte = digit_composites(big(test), tex, size=24, seed=1)
    seg = Segmenter(epochs=5, batch_size=32, latent_dim=32).fit(xtr, ytr)
    otsu = np.stack([im > threshold_otsu(im) for im in xte])
    ours = seg.score(xte, yte)
    assert ours == pytest.approx(mean_iou(seg.predict(xte), yte, 2))
    assert ours > mean_iou(otsu, yte, 2) + 0.05 and ours > 0.8


# ------------------------------------------------------------------------------------------------ API
def test_layouts_and_sizes_round_trip(digit_images):
    est = Restorer(task="denoise", epochs=1).fit(digit_images[0][:100])
    batch = digit_images[1][:3]
    assert est.predict(batch).shape == (3, 8, 8)
    assert est.predict(batch[:, None]).shape == (3, 1, 8, 8)
    assert est.predict(batch[..., None]).shape == (3, 8, 8, 1)
    out = est.predict([np.zeros((5, 9), np.float32), np.zeros((40, 33), np.float32)])
    assert [o.shape for o in out] == [(5, 9), (40, 33)]
    assert est.restore(np.zeros((70, 50), np.float32)).shape == (70, 50)


def test_fit_on_given_pairs(digit_images):
    train, test = digit_images
    rng = np.random.default_rng(0)
    noisy = np.clip(train + 0.3 * rng.standard_normal(train.shape), 0, 1).astype(np.float32)
    est = Restorer(task="denoise", **FAST).fit(noisy, train)
    assert est.corruption_specs_ == []
    test_noisy = np.clip(test + 0.3 * rng.standard_normal(test.shape), 0, 1).astype(np.float32)
    assert est.score(test_noisy, test) > psnr(test_noisy, test) + 2.0


def test_user_given_inpainting_masks_in_8_bit_units(camera):
    img = (camera[:96, :96] * 255).round()
    est = Restorer(task="inpaint", corruption="block:8,n=4", patch_size=32, n_patches=200, epochs=1).fit([img])
    assert est.value_range_ == (0.0, 255.0)
    mask = np.zeros((96, 96), bool)
    mask[40:50, 40:50] = True
    out = est.restore(img, mask=mask)
    assert out.shape == img.shape and 0 <= out.min() and out.max() <= 255


@pytest.mark.parametrize("kwargs,fit_x,match", [
    ({"task": "deblur"}, None, r"task='deblur', expected one of \('blur', 'colorize', 'denoise'"),
    ({"task": "colorize"}, None, r"task='colorize' learns from colour images \(3 channels\); got images with 1"),
    ({"task": "super-resolve", "scale": 1}, None, r"scale=1 must be an integer >= 2"),
    ({"task": "super-resolve", "corruption": "gaussian:0.1"}, None, r"fixed by the task"),
    ({"model": "conv"}, None, r"model='conv'; restoration runs on tiles of any size"),
    ({"corruption": "none"}, None, r"is 'none'; a restorer needs something to undo"),
    ({"corruption": "gausian:0.1"}, None, r"unknown corruption 'gausian'"),
])
def test_bad_parameters_are_named(kwargs, fit_x, match, digit_images):
    with pytest.raises(ValueError, match=match):
        Restorer(epochs=1, **kwargs).fit(digit_images[0][:50])


def test_errors_at_prediction_are_clear(digit_images):
    est = Restorer(task="inpaint", corruption="mask:0.5", epochs=1).fit(digit_images[0][:50])
    with pytest.raises(ValueError, match=r"task='inpaint' needs the missing pixels: pass masks="):
        est.predict(digit_images[1][:2])
    with pytest.raises(ValueError, match=r"X has images with 2 channels, but this Restorer was fitted on images with 1"):
        est.predict(np.zeros((2, 2, 8, 8), np.float32), masks=np.zeros((2, 8, 8), bool))
    with pytest.raises(ValueError, match=r"masks: class map 0 has shape \(4, 4\), but its image is 8x8"):
        est.predict(digit_images[1][:2], masks=np.zeros((2, 4, 4), bool))
    with pytest.raises(ValueError, match=r"tile_overlap=32 must be less than half of tile_size=32"):
        est.set_params(tile_size=32, tile_overlap=32).predict(digit_images[1][:2], masks=np.zeros((2, 8, 8), bool))
    with pytest.raises(ValueError, match=r"Segmenter requires y to be passed"):
        Segmenter().fit(digit_images[0][:10])
    with pytest.raises(ValueError, match=r"y: class map 0 has shape \(7, 8\), but its image is 8x8"):
        Segmenter(epochs=1).fit(digit_images[0][:3], np.zeros((3, 7, 8)))


def test_save_load_gives_identical_outputs(tmp_path, digit_images):
    train, test = digit_images
    est = Restorer(task="super-resolve", epochs=1).fit(train[:200])
    est.save(tmp_path / "r")
    back = aekit.load(tmp_path / "r")
    assert isinstance(back, Restorer) and back.get_params() == est.get_params()
    small = est.corrupt(test[:5])
    np.testing.assert_array_equal(back.predict(small), est.predict(small))
    seg = Segmenter(epochs=1).fit(train[:200], train[:200] > 0.5)
    seg.save(tmp_path / "s")
    back = aekit.load(tmp_path / "s")
    np.testing.assert_array_equal(back.predict(test[:5]), seg.predict(test[:5]))
    np.testing.assert_array_equal(back.classes_, [False, True])


# ------------------------------------------------------------------------------------------------ CLI
def test_restore_command_trains_corrupts_restores_and_reports(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["restore", "--task", "denoise", "--fit", "skimage:brick", "--param", "patch_size=32",
               "--param", "n_patches=200", "--param", "corruption=\"gaussian:0.1\"", "--epochs", "2", "--quiet",
               "--corrupt", "--out", str(out), "skimage:coins"])
    assert rc == 0
    model = out / "model"   # what --fit fitted
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mean_psnr_restored"] > metrics["mean_psnr_input"]
    assert (out / "coins.png").exists() and (out / "coins_input.png").exists() and (out / "report.html").exists()
    # the saved model restores again, and a model of another task is refused
    assert main(["restore", "--task", "denoise", "--model", str(model), "--out", str(tmp_path / "o2"),
                 str(out / "coins_input.png")]) == 0
    assert main(["restore", "--task", "inpaint", "--model", str(model), "--out", str(tmp_path / "o3"),
                 str(out / "coins_input.png")]) == 2
    assert "trained for task 'denoise'" in capsys.readouterr().err
    # without --task, the model's own task is used
    assert main(["restore", "--model", str(model), "--out", str(tmp_path / "o4"), "--quiet",
                 str(out / "coins_input.png")]) == 0
    assert json.loads((tmp_path / "o4" / "metrics.json").read_text())["task"] == "denoise"


def test_segment_command_with_fit_and_truth(tmp_path):
    from aekit.data.composites import main as make

    make(["--out", str(tmp_path / "seg"), "--n", "120"])
    model = tmp_path / "m"
    assert main(["fit", "segmenter", "--data", str(tmp_path / "seg" / "images"), "--targets",
                 str(tmp_path / "seg" / "masks"), "--param", "epochs=2", "--out", str(model)]) == 0
    out = tmp_path / "out"
    assert main(["segment", "--model", str(model), "--out", str(out), str(tmp_path / "seg/images/0000.png"),
                 "--truth", str(tmp_path / "seg/masks/0000.png")]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["mean_iou"] <= 1 and (out / "0000_classes.png").exists()
    assert main(["fit", "segmenter", "--data", str(tmp_path / "seg" / "images"), "--out", str(tmp_path / "m2")]) == 2


# ------------------------------------------------------------------------------------------------ parts
def test_residual_unet_starts_as_the_identity_and_refuses_segmentation():
    from aekit.models import create_model

    m = create_model("unet", input_shape=(2, 16, 16), latent_dim=8, residual=True, out_channels=1).eval()
    x = torch.rand(3, 2, 16, 16)
    assert torch.allclose(m(x).recon, x[:, :1])
    with pytest.raises(ValueError, match="residual=True adds the input's first out_channels channels"):
        create_model("unet", input_shape=(1, 16, 16), latent_dim=8, residual=True, num_classes=2)


def test_grey_and_downsample_corruptions():
    from aekit.corruption import make_corruption

    x = torch.rand(2, 3, 16, 16)
    g = make_corruption("grey")(x, torch.Generator())
    assert torch.allclose(g[:, 0], 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])
    assert torch.equal(g[:, 0], g[:, 2])
    d = make_corruption("downsample:4")(x, torch.Generator())
    assert d.shape == x.shape and not torch.equal(d, x)
    with pytest.raises(ValueError, match=r"downsample: scale=1 must be an integer >= 2"):
        make_corruption("downsample:1")


def test_noise_level_denoiser_uses_the_given_or_estimated_sigma(digit_images, tmp_path):
    """One network for a range of Gaussian noise levels (FFDNet's noise-level map): told the true sigma
    it beats being told a wrong one, blind (sigma estimated) it is close to non-blind, the level is given in
    the images' units, a colour image is restored channel by channel, and a reload gives identical output."""
    train, test = digit_images
    rest = Restorer(task="denoise", noise_levels=(0.05 * 16, 0.4 * 16), **FAST)
    rest.fit(train[:700] * 16)                                           # 0..16 units, like sklearn's digits
    assert rest.task_.noise_levels == pytest.approx((0.05, 0.4))
    noisy = rest.corrupt(test * 16, sigma=0.3 * 16)
    true = psnr(rest.predict(noisy, sigma=0.3 * 16) / 16, test)
    wrong = psnr(rest.predict(noisy, sigma=0.05 * 16) / 16, test)
    blind = psnr(rest.predict(noisy) / 16, test)
    assert true > wrong + 1.0 and true > psnr(noisy.clip(0, 16) / 16, test) + 2.0
    assert blind > wrong and abs(blind - true) < 1.5
    colour = np.stack([noisy[:3], noisy[3:6], noisy[6:9]], -1)             # (3, 8, 8, 3)
    out = rest.predict(colour, sigma=0.3 * 16)
    assert out.shape == colour.shape
    np.testing.assert_allclose(out[..., 1], rest.predict(noisy[3:6], sigma=0.3 * 16), atol=1e-5)
    rest.save(tmp_path / "m")
    again = aekit.load(tmp_path / "m")
    np.testing.assert_array_equal(again.predict(noisy, sigma=[4.0] * len(noisy)), rest.predict(noisy, sigma=4.0))
    with pytest.raises(ValueError, match="one noise level >= 0"):
        rest.predict(noisy, sigma=[1.0, 2.0])
    with pytest.raises(ValueError, match="leave corruption=None"):
        Restorer(task="denoise", noise_levels=(1, 2), corruption="gaussian:0.1").fit(train[:50])
    with pytest.raises(ValueError, match="noise_levels is for"):
        Restorer(task="inpaint", noise_levels=(1, 2)).fit(train[:50])
    with pytest.raises(ValueError, match="0 <= low <= high"):
        Restorer(task="denoise", noise_levels=(3, 2)).fit(train[:50])
    with pytest.raises(ValueError, match="does not take a noise level"):
        Restorer(task="denoise", **FAST).fit(train[:100]).predict(noisy, sigma=1.0)


def test_push_pull_fill_keeps_known_pixels_and_interpolates_smooth_images():
    from aekit.estimators.restoration_tasks import push_pull_fill

    yy, xx = torch.meshgrid(torch.linspace(0, 1, 37), torch.linspace(0, 1, 53), indexing="ij")
    img = torch.stack([0.2 + 0.5 * xx + 0.3 * yy, 0.5 + 0.4 * torch.sin(3 * xx) * yy])[None]   # (1, 2, 37, 53)
    known = (torch.rand(1, 1, 37, 53, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    known[..., 10:22, 20:40] = 0                                           # and a hole
    filled = push_pull_fill(img * known, known)
    assert torch.equal(filled * known, img * known)                        # known pixels untouched
    missing = known.expand_as(img) == 0
    assert (filled - img)[missing].abs().max() < 0.08                      # a smooth image is filled closely
    assert torch.equal(push_pull_fill(img, torch.ones_like(known)), img)
