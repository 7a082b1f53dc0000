"""Corruptions: shape, range, determinism and purity for every registered kind; each kind's statistics;
spec round trips and errors; a denoising autoencoder beats a plain one on noisy digits."""
import pytest
import torch

from aekit.corruption import Corruption, list_corruptions, make_corruption, to_spec
from aekit.metrics import psnr
from aekit.models import create_model
from aekit.training import TrainConfig, fit
from tests.helpers import digits_split

TABLE_KINDS = {"gaussian", "salt_pepper", "mask"}


def gen(seed):
    return torch.Generator().manual_seed(seed)


def images(b=6, c=3, h=16, w=16, seed=0):
    return torch.rand(b, c, h, w, generator=gen(seed))


def test_registry_lists_the_kinds():
    assert {"gaussian", "salt_pepper", "mask", "block", "watermark"} <= set(list_corruptions())


@pytest.mark.parametrize("name", list_corruptions())
def test_keeps_shape_and_range_and_leaves_input_alone(name):
    corruption = make_corruption(name)  # every option has a default
    x = images()
    before = x.clone()
    y = corruption(x, gen(0))
    assert y.shape == x.shape and y.dtype == x.dtype and y.data_ptr() != x.data_ptr()
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    assert torch.equal(x, before)
    assert not torch.equal(y, x)


@pytest.mark.parametrize("name", list_corruptions())
def test_deterministic_for_a_generator_and_differs_between_generators(name):
    corruption = make_corruption(name)
    x = images()
    assert torch.equal(corruption(x, gen(3)), corruption(x, gen(3)))
    if not corruption.deterministic:  # grey and downsample draw no random numbers
        assert not torch.equal(corruption(x, gen(3)), corruption(x, gen(4)))


@pytest.mark.parametrize("name", list_corruptions())
def test_tables_work_or_are_refused_clearly(name):
    corruption = make_corruption(name)
    x = torch.rand(8, 20, generator=gen(0))
    if name in TABLE_KINDS:
        y = corruption(x, gen(1))
        assert y.shape == x.shape and not torch.equal(y, x)
    else:
        with pytest.raises(ValueError, match=rf"{name!r} works on images shaped \(B, C, H, W\), got a batch "
                                             r"shaped \(8, 20\); for tables and other data use one of"):
            corruption(x, gen(1))


def test_inputs_are_checked():
    with pytest.raises(TypeError, match="needs a floating-point torch.Tensor"):
        make_corruption("mask")(torch.zeros(2, 3, dtype=torch.int64), gen(0))
    with pytest.raises(TypeError, match="needs a torch.Generator"):
        make_corruption("mask")(torch.zeros(2, 3), 0)


def test_gaussian_noise_has_the_asked_std_before_clipping():
    x = torch.full((64, 1, 32, 32), 0.5)
    raw = make_corruption("gaussian:0.3,clip=false")(x, gen(0))
    assert abs(float((raw - x).std()) - 0.3) < 0.01 and abs(float((raw - x).mean())) < 0.01
    assert float(raw.min()) < 0 and float(raw.max()) > 1
    clipped = make_corruption("gaussian:0.3")(x, gen(0))
    assert torch.equal(clipped, raw.clamp(0, 1))


def test_salt_pepper_fraction_and_balance():
    x = torch.full((64, 3, 32, 32), 0.5)
    y = make_corruption("salt_pepper:0.2")(x, gen(0))
    hit = y != 0.5
    assert abs(float(hit.float().mean()) - 0.2) < 0.01
    assert torch.equal(hit, hit[:, :1].expand_as(hit))  # a pixel is hit in all its channels
    assert abs(float((y == 1).float().mean()) - 0.1) < 0.01 and abs(float((y == 0).float().mean()) - 0.1) < 0.01


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_mask_fraction(p):
    x = torch.rand(64, 1, 32, 32, generator=gen(0)) * 0.9 + 0.1
    y = make_corruption(f"mask:{p}")(x, gen(1))
    assert abs(float((y == 0).float().mean()) - p) < 0.01
    kept = y != 0
    assert torch.equal(y[kept], x[kept])


def test_block_is_one_square_of_the_asked_size():
    x = torch.ones(32, 2, 20, 20)
    y = make_corruption("block:5")(x, gen(0))
    for img in y[:, 0]:
        rows, cols = torch.nonzero(img == 0, as_tuple=True)
        assert len(rows) == 25
        assert int(rows.max() - rows.min()) == 4 and int(cols.max() - cols.min()) == 4
    assert torch.equal(y[:, 0], y[:, 1])
    tops = {int(torch.nonzero(img == 0)[0, 0]) for img in y[:, 0]}
    assert len(tops) > 5  # positions vary


def test_several_blocks_and_fill_value():
    x = torch.zeros(32, 1, 20, 20)
    y = make_corruption("block:4,n=3,value=1")(x, gen(0))
    counts = (y == 1).flatten(1).sum(1)
    assert int(counts.min()) >= 16 and int(counts.max()) <= 48 and int(counts.max()) > 16


def test_block_larger_than_the_image_is_refused():
    with pytest.raises(ValueError, match=r"block: size=12 is larger than the 8x8 images"):
        make_corruption("block:12")(torch.rand(2, 1, 8, 8), gen(0))


@pytest.mark.parametrize("style", ["text", "marks"])
def test_watermark_changes_pixels_visibly(style):
    x = torch.zeros(16, 1, 28, 28)
    y = make_corruption(f"watermark:{style},alpha=0.6")(x, gen(0))
    changed = (y > 0.05).flatten(1).float().mean(1)
    assert float(changed.min()) > 0.02                    # every image carries a mark
    assert float(y.flatten(1).amax(1).min()) > 0.5        # at nearly full opacity somewhere: visible
    assert float(y.max()) <= 0.6 + 1e-6
    dark = make_corruption(f"watermark:{style},color=black,n=2")(torch.ones(4, 3, 32, 32), gen(0))
    assert float(dark.min()) < 0.6


def test_watermark_random_colours_differ_per_image():
    y = make_corruption("watermark:marks,alpha=1,color=random")(torch.zeros(8, 3, 32, 32), gen(0))
    brightest = y.flatten(2).amax(2)  # (B, C)
    assert len({tuple(v.tolist()) for v in brightest}) == 8


SPECS = {
    "gaussian:0.5": "gaussian:0.5",
    "gaussian:sigma=0.25,clip=no": "gaussian:0.25,clip=false",
    "salt_pepper:0.2": "salt_pepper:0.2",
    "mask:0.5": "mask:0.5",
    "block:12": "block:12",
    "block:8,n=3": "block:8,n=3",
    " Block : 8 , value = 1 ": "block:8,value=1.0",
    "watermark:text": "watermark:text",
    "watermark:marks,alpha=0.6": "watermark:marks,alpha=0.6",
    "watermark:style=text,n=2,color=random,scale=0.3": "watermark:text,n=2,scale=0.3,color=random",
}


@pytest.mark.parametrize("spec", SPECS)
def test_spec_round_trip(spec):
    corruption = make_corruption(spec)
    assert isinstance(corruption, Corruption)
    assert to_spec(corruption) == SPECS[spec]
    assert make_corruption(to_spec(corruption)) == corruption
    assert make_corruption(corruption) is corruption


def test_affine_moves_ink_without_adding_any_and_chains_apply_in_turn():
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, 10:18, 12:16] = 1.0
    moved = make_corruption("affine:0,scale=0")(x, gen(0))                 # a shift of up to 2 pixels only
    assert not torch.equal(moved, x)
    assert torch.allclose(moved.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=0.02)  # the stroke stays inside
    chain = make_corruption("affine:0,scale=0+mask:0.5")
    assert to_spec(chain) == "affine:0.0,scale=0.0+mask:0.5" and make_corruption(to_spec(chain)) == chain
    g1, g2 = gen(5), gen(5)
    by_hand = chain.parts[1](chain.parts[0](x, g1), g1)
    assert torch.equal(chain(x, g2), by_hand)
    with pytest.raises(ValueError, match=r"'affine\+' has an empty or 'none' part"):
        make_corruption("affine+")
    with pytest.raises(ValueError, match=r"'affine\+mask' works on images shaped \(B, C, H, W\)"):
        chain(torch.rand(3, 20), gen(0))


@pytest.mark.parametrize("spec", [None, "none", "None", ""])
def test_no_corruption(spec):
    assert make_corruption(spec) is None
    assert to_spec(None) == "none"


@pytest.mark.parametrize("spec, error", [
    ("gausian:0.5", r"unknown corruption 'gausian' in spec 'gausian:0.5'; valid kinds: \['affine', 'block', 'downsample', "),
    ("gaussian:abc", r"gaussian option sigma='abc' must be a number"),
    ("gaussian:-1", r"sigma=-1.0 must be a finite number >= 0"),
    ("gaussian:0.5,clip=maybe", r"clip='maybe' must be true or false"),
    ("block:8,m=3", r"block has no option 'm'; its options are \['size', 'n', 'value'\]"),
    ("block:8.5", r"block option size='8.5' must be an integer"),
    ("block:0", r"size=0 must be a positive integer"),
    ("mask:1.5", r"mask: p=1.5 must be a number in \[0, 1\]"),
    ("watermark:neon", r"watermark: style='neon'; expected one of \('text', 'marks'\)"),
    ("watermark:text,alpha=0", r"alpha=0.0 must be a number in \(0, 1\]"),
    ("gaussian:0.5,0.3", r"only the first option of gaussian may be given without a name"),
    ("block:n=2,8", r"the value '8' without a name comes after a named option"),
    ("gaussian:0.5,", r"has an empty option"),
    ("gaussian:sigma=1,sigma=2", r"sets gaussian option 'sigma' twice"),
])
def test_bad_specs_name_the_bad_part(spec, error):
    with pytest.raises(ValueError, match=error):
        make_corruption(spec)


def test_spec_must_be_a_string():
    with pytest.raises(TypeError, match="must be a string such as 'gaussian:0.5', got int"):
        make_corruption(3)


@pytest.mark.quality
def test_denoising_autoencoder_denoises_better_than_a_plain_one():
    """Vincent et al. 2008: trained on x + 0.5 N(0, 1) against clean x, the same conv AE restores noisy
    test digits better (higher PSNR against the clean digits) than one trained on clean inputs.

    The noise is strong for 8x8 digits (noisy 9.4 dB, mean image 11.4 dB); the plain AE's bottleneck already
    removes some of it (about 13.4 dB), the denoiser's gain needs ~25 epochs to show (+1.1 to +1.8 dB over
    seeds 0-3; 12 epochs gave only +0.1 to +1.0)."""
    train, test = digits_split()
    noisy = make_corruption("gaussian:0.5")(torch.from_numpy(test), gen(123))
    scores = {}
    for spec in (None, "gaussian:0.5"):
        torch.manual_seed(0)
        model = create_model("conv", input_shape=(1, 8, 8), latent_dim=16)
        fit(model, train, config=TrainConfig(epochs=25, batch_size=64, progress=False, random_state=0),
            corruption=make_corruption(spec))
        with torch.no_grad():
            scores[spec] = psnr(model.eval()(noisy).recon.numpy(), test)
    noisy_psnr = psnr(noisy.numpy(), test)
    assert scores["gaussian:0.5"] > scores[None] + 0.75, scores
    assert scores["gaussian:0.5"] > noisy_psnr + 4.0, (scores, noisy_psnr)
