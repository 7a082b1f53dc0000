"""The sequence families (aekit.models.sequence) on sine waves: a quality floor against the mean window,
odd window lengths, and the sequence VAE's generation. The generic tests of tests/test_models.py cover
them as registered models."""
import numpy as np
import pytest
import torch

from aekit.models import create_model
from aekit.training import TrainConfig, fit

SEQ_MODELS = ["conv1d-seq", "lstm-seq", "vae-seq"]
# a Gaussian-decoder VAE trained by MSE assumes noise sigma^2 = beta / 2 (aekit.models.vae): ask for sigma 0.1
KW = {"vae-seq": dict(beta=0.02)}
# the recurrent model needs more steps (smaller batches) and a larger, clipped learning rate to find the phase
TRAIN = {"lstm-seq": dict(epochs=30, batch_size=16, lr=1e-2, grad_clip=1.0)}


def sine_windows(n: int, channels: int, length: int = 64, seed: int = 0) -> np.ndarray:
    """(n, C, T) sine windows in [0, 1], random phase per sample, another frequency per channel."""
    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype=np.float32) / length
    freq = np.arange(1, channels + 1, dtype=np.float32)[:, None]              # (C, 1)
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1)).astype(np.float32)           # (n, 1, 1)
    return (0.5 + 0.4 * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)  # (n, C, T)


@pytest.mark.filterwarnings("ignore::aekit.diagnostics.CollapseWarning")
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", SEQ_MODELS)
@pytest.mark.quality
def test_reconstructs_sine_windows_better_than_the_mean_window(name, channels):
    x = sine_windows(320, channels)
    train, test = x[:256], x[256:]
    torch.manual_seed(0)
    model = create_model(name, input_shape=(channels, 64), latent_dim=4, **KW.get(name, {}))
    train_kw = TRAIN.get(name, dict(epochs=15, batch_size=32, lr=3e-3))
    fit(model, train, config=TrainConfig(**train_kw, progress=False, early_stopping=None, random_state=0))
    with torch.no_grad():
        recon = model.eval()(torch.from_numpy(test)).recon.numpy()
    assert recon.shape == test.shape
    assert np.mean((recon - test) ** 2) < 0.5 * np.mean((test - train.mean(0)) ** 2)


@pytest.mark.parametrize("name", SEQ_MODELS)
@pytest.mark.parametrize("shape", [(1, 50), (3, 50), (2, 7)])
def test_odd_window_lengths_round_trip(name, shape):
    model = create_model(name, input_shape=shape, latent_dim=4).eval()
    x = torch.rand(5, *shape)
    with torch.no_grad():
        out = model(x)
        assert out.recon.shape == (5, *shape) and out.code.shape == (5, 4)
        assert model.decode(model.encode(x)).shape == (5, *shape)


def test_vae_seq_samples_and_interpolates_reproducibly():
    torch.manual_seed(0)
    model = create_model("vae-seq", input_shape=(3, 50), latent_dim=4)
    a = model.sample(6, generator=torch.Generator().manual_seed(1))
    b = model.sample(6, generator=torch.Generator().manual_seed(1))
    assert a.shape == (6, 3, 50) and torch.equal(a, b)
    assert model.training  # generation restores the mode
    x = torch.rand(2, 3, 50)
    path = model.interpolate(x[0], x[1], steps=5)
    assert path.shape == (5, 3, 50)
    with torch.no_grad():
        ends = model.eval().decode(model.encode(x))
    assert torch.allclose(path[[0, -1]], ends, atol=1e-6)


@pytest.mark.parametrize("name, kw, match", [
    ("conv1d-seq", dict(input_shape=(1, 8, 8)), r"model 'conv1d-seq' needs sequences"),
    ("lstm-seq", dict(input_shape=(2, 16), hidden=0), r"model 'lstm-seq': hidden=0"),
    ("vae-seq", dict(input_shape=(2, 16), channels=[]), r"model 'vae-seq': channels="),
])
def test_bad_arguments_are_named(name, kw, match):
    with pytest.raises(ValueError, match=match):
        create_model(name, **kw)
