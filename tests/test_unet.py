"""U-Net: image-to-image and segmentation shapes, skip connections, errors; segmentation losses and
mean IoU; a short training on a toy segmentation of digits."""
import numpy as np
import pytest
import torch

from aekit.losses import SEGMENTATION_LOSSES, cross_entropy_loss, dice_loss, segmentation_loss
from aekit.metrics import mean_iou
from aekit.models import create_model
from tests.helpers import digits_split


def test_image_to_image_shapes():
    model = create_model("unet", input_shape=(3, 32, 32), latent_dim=24, channels=(8, 16))
    out = model(torch.rand(2, 3, 32, 32))
    assert out.recon.shape == out.pre_output.shape == (2, 3, 32, 32)
    assert model.code_shape == (24, 8, 8) and out.code.shape == (2, 24, 8, 8)
    assert model.output_activation == "clamp"
    grey = create_model("unet", input_shape=(3, 16, 16), out_channels=1, upsample="nearest", batch_norm=True)
    assert grey(torch.rand(2, 3, 16, 16)).recon.shape == (2, 1, 16, 16)


def test_segmentation_outputs_class_logits():
    model = create_model("unet", input_shape=(1, 8, 8), latent_dim=8, num_classes=3)
    out = model(torch.rand(4, 1, 8, 8))
    assert out.recon.shape == (4, 3, 8, 8)  # num_classes channels, not the input's
    assert torch.equal(out.recon, out.pre_output) and model.output_activation is None
    assert out.code.shape == (4, *model.code_shape) == (4, 8, 2, 2)
    clone = create_model("unet", **model.config)
    assert clone.num_classes == 3 and clone.output_activation is None


def test_unet_cannot_decode_a_code_alone():
    model = create_model("unet", input_shape=(1, 8, 8), latent_dim=4)
    assert model.can_decode is False
    with pytest.raises(TypeError, match=r"unet cannot decode a code alone: its decoder needs the encoder's "
                                        r"skip connections; call model\(x\)"):
        model.decode(model.encode(torch.rand(2, 1, 8, 8)))


def test_skip_connections_matter():
    torch.manual_seed(0)
    model = create_model("unet", input_shape=(1, 16, 16), latent_dim=8, channels=(4, 8)).eval()
    x = torch.rand(3, 1, 16, 16)
    with torch.no_grad():
        code, skips = model.encoder(x)
        assert [tuple(s.shape) for s in skips] == [(3, 4, 16, 16), (3, 8, 8, 8)]
        full = model.decoder(code, skips)
        assert torch.equal(full, model(x).pre_output)
        for i in range(len(skips)):
            cut = [torch.zeros_like(s) if j == i else s for j, s in enumerate(skips)]
            assert (model.decoder(code, cut) - full).abs().mean() > 1e-3


@pytest.mark.parametrize("shape, kw, error", [
    ((1, 30, 30), {}, r"image size 30x30 is not divisible by 4 = 2 \*\* \(levels - 1\) with 3 levels"),
    ((1, 8, 8), dict(channels=(4, 8, 16, 32)), r"image size 8x8 is not divisible by 16 = 2 \*\* \(levels - 1\) with 5"),
    ((64,), {}, r"'unet' needs images shaped \(C, H, W\), got input_shape=\(64,\)"),
    ((1, 8, 8), dict(num_classes=1), r"num_classes=1, expected 0 \(image-to-image\) or >= 2"),
    ((1, 8, 8), dict(num_classes=3, output_activation="sigmoid"), r"outputs logits; output_activation='sigmoid'"),
    ((1, 8, 8), dict(upsample="bicubic"), r"upsample='bicubic'; expected one of \('transpose', 'nearest'\)"),
    ((1, 8, 8), dict(channels=()), r"channels=\(\) must be a non-empty list or tuple"),
])
def test_bad_arguments_are_named(shape, kw, error):
    with pytest.raises(ValueError, match=error):
        create_model("unet", input_shape=shape, **kw)


# ------------------------------------------------------------------ segmentation losses and IoU


def _perfect_logits(target, k):
    return 30.0 * torch.nn.functional.one_hot(target, k).movedim(-1, 1).float()  # (B, K, H, W)


def test_dice_is_zero_for_a_perfect_prediction_and_high_for_a_wrong_one():
    target = torch.randint(0, 3, (4, 8, 8), generator=torch.Generator().manual_seed(0))
    logits = _perfect_logits(target, 3)
    assert float(dice_loss(logits, target)) < 1e-6
    assert float(cross_entropy_loss(logits, target)) < 1e-6
    assert float(dice_loss(_perfect_logits((target + 1) % 3, 3), target)) > 0.95
    # targets as the training loop hands them over: float32, with a channel axis of 1
    assert float(dice_loss(logits, target[:, None].float())) < 1e-6


@pytest.mark.parametrize("kind", SEGMENTATION_LOSSES)
def test_segmentation_loss_names_its_terms(kind):
    target = torch.randint(0, 4, (2, 8, 8))
    logits = torch.randn(2, 4, 8, 8, requires_grad=True)
    lb = segmentation_loss(logits, target, kind)
    assert sorted(lb.terms) == sorted(kind.split("+"))
    assert torch.allclose(lb.total, sum(lb.terms.values()))
    lb.total.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("target, error", [
    (torch.full((2, 8, 8), 3), r"hold class 3, but the logits have 3 classes \(expected 0..2\)"),
    (torch.full((2, 8, 8), -1), r"hold class -1"),
    (torch.full((2, 8, 8), 0.5), r"must hold integer class indices"),
    (torch.zeros(2, 4, 4, dtype=torch.long), r"class maps shaped \(2, 8, 8\).*got \(2, 4, 4\)"),
])
def test_bad_segmentation_targets_are_named(target, error):
    with pytest.raises(ValueError, match=error):
        segmentation_loss(torch.zeros(2, 3, 8, 8), target, "ce+dice")


def test_unknown_segmentation_loss():
    with pytest.raises(ValueError, match=r"unknown segmentation loss 'focal'; expected one of "
                                         r"\('ce', 'dice', 'ce\+dice'\)"):
        segmentation_loss(torch.zeros(1, 2, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long), "focal")


def test_mean_iou():
    pred = np.array([[0, 0, 1, 1]])
    target = np.array([[0, 1, 1, 1]])
    # class 0: 1 / 2, class 1: 2 / 3; class 2 absent from both: left out
    assert mean_iou(pred, target, 3) == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert mean_iou(torch.tensor(target), torch.tensor(target), 3) == 1.0
    with pytest.raises(ValueError, match=r"mean_iou: shapes differ"):
        mean_iou(pred, target[:, :3], 3)
    with pytest.raises(ValueError, match=r"pred_classes holds values in \[0, 1\], expected 0..0"):
        mean_iou(pred, target, 1)


# ------------------------------------------------------------------ a toy segmentation


def _ink_classes(x: np.ndarray) -> torch.Tensor:
    """(N, 1, 8, 8) digits -> (N, 8, 8) classes: 0 background, 1 faint ink, 2 strong ink."""
    v = torch.from_numpy(x[:, 0])
    return (v > 0.2).long() + (v > 0.6).long()


def test_unet_learns_a_toy_segmentation():
    train, test = digits_split()
    x_train, y_train = torch.from_numpy(train), _ink_classes(train)
    x_test, y_test = torch.from_numpy(test), _ink_classes(test)
    torch.manual_seed(0)
    model = create_model("unet", input_shape=(1, 8, 8), latent_dim=16, channels=(8, 16), num_classes=3)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def test_scores():
        model.eval()
        with torch.no_grad():
            logits = model(x_test).recon
        model.train()
        return float(dice_loss(logits, y_test)), mean_iou(logits.argmax(1), y_test, 3)

    dice_before, _ = test_scores()
    gen = torch.Generator().manual_seed(0)
    for _ in range(6):  # epochs
        for idx in torch.randperm(len(x_train), generator=gen).split(64):
            loss = segmentation_loss(model(x_train[idx]).recon, y_train[idx], "ce+dice").total
            opt.zero_grad()
            loss.backward()
            opt.step()
    dice_after, iou = test_scores()
    background_only = mean_iou(torch.zeros_like(y_test), y_test, 3)
    assert dice_after < 0.5 * dice_before
    assert iou > 0.8 > background_only
