"""Generating time-series windows with the sequence VAE (Generator(model="vae-seq")) and the discriminative
score that benchmarks/series_generation.py rates them with (aekit.metrics.discriminative_score)."""
import os
from pathlib import Path

import numpy as np
import pytest

import aekit
from aekit import Generator
from aekit.data.series import read_series, sliding_windows
from aekit.estimators.generator import NOISE_LEVELS
from aekit.metrics import discriminative_score

NAB_FILE = Path(os.environ.get("AEKIT_DATA_DIR", "")) / "nab" / "artificialNoAnomaly" / "art_daily_small_noise.csv"
FAST = dict(epochs=4, batch_size=32, random_state=0)
# a few epochs leave the VAE near the mean window (CollapseWarning): these tests check shapes, noise, persistence
pytestmark = pytest.mark.filterwarnings("ignore::aekit.diagnostics.CollapseWarning")


def noisy_sine_windows(n: int = 96, channels: int = 2, length: int = 32, seed: int = 0,
                       noise: float = 0.3) -> np.ndarray:
    """(n, C, T) windows of a noisy sine, random phase per window, another frequency per channel."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / length
    freq = np.arange(1, channels + 1)[:, None]                                  # (C, 1)
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))                                # (n, 1, 1)
    x = 10 + 3 * np.sin(2 * np.pi * freq * t + phase) + noise * rng.standard_normal((n, channels, length))
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def fitted():
    X = noisy_sine_windows()
    return X, Generator(4, model="vae-seq", density="gmm", n_components=3, noise="residual",
                        model_params={"beta": 1e-3}, **FAST).fit(X)


def test_vae_seq_generator_reads_windows_as_sequences_and_samples_them(fitted):
    X, gen = fitted
    assert gen.layout_.kind == "sequence" and gen.autoencoder_.model.name == "vae-seq"
    s = gen.sample(7, random_state=3)
    assert s.shape == (7, 2, 32) and s.dtype == np.float32 and np.isfinite(s).all()
    np.testing.assert_array_equal(s, gen.sample(7, random_state=3))
    assert not np.array_equal(s, gen.sample(7, random_state=4))
    assert gen.interpolate(X[0], X[1], steps=5).shape == (5, 2, 32)
    assert gen.noise_quantiles_.shape == (NOISE_LEVELS, 2)


def test_residual_noise_is_added_to_the_decoded_windows(fitted):
    X, gen = fitted
    noise_q = gen.noise_quantiles_
    gen.noise_quantiles_ = None  # what noise="none" fits: the same model's samples without the noise step
    try:
        smooth = gen.sample(200, random_state=1)
    finally:
        gen.noise_quantiles_ = noise_q
    noisy = gen.sample(200, random_state=1)
    diff = noisy - smooth                                   # the noise alone, per channel within the quantiles
    assert diff.std() > 0
    assert (diff.min(axis=(0, 2)) >= noise_q[0] - 1e-5).all() and (diff.max(axis=(0, 2)) <= noise_q[-1] + 1e-5).all()
    # white noise roughens the windows: larger step-to-step differences than the decoder's smooth output
    assert np.abs(np.diff(noisy, axis=-1)).mean() > np.abs(np.diff(smooth, axis=-1)).mean()


def test_save_load_round_trip_gives_identical_samples(fitted, tmp_path):
    X, gen = fitted
    gen.save(tmp_path / "g")
    back = aekit.load(tmp_path / "g")
    assert isinstance(back, Generator) and back.layout_.kind == "sequence" and back.noise == "residual"
    np.testing.assert_array_equal(back.sample(5, random_state=11), gen.sample(5, random_state=11))
    np.testing.assert_array_equal(back.interpolate(X[2], X[3], steps=3), gen.interpolate(X[2], X[3], steps=3))


def test_single_channel_windows_without_a_channel_axis_keep_their_layout():
    X = noisy_sine_windows(channels=1)[:, 0]                                    # (n, T)
    gen = Generator(2, model="vae-seq", **FAST).fit(X)
    # sequence defaults: a mixture over the codes, residual noise, beta 1e-4
    assert gen.density_ == "gmm" and gen.noise_ == "residual" and gen.noise_quantiles_.shape == (129, 1)
    assert gen.autoencoder_.model.beta == 1e-4
    assert gen.sample(3).shape == (3, 32)
    assert gen.interpolate(X[0], X[1], steps=4).shape == (4, 32)


@pytest.mark.skipif(not NAB_FILE.is_file(), reason="needs AEKIT_DATA_DIR with nab/artificialNoAnomaly/"
                                                     "art_daily_small_noise.csv")
def test_vae_seq_generator_on_nab_sliding_windows():
    values = read_series(NAB_FILE).values                                       # (4032, 1)
    z = (values - values.mean(0)) / values.std(0)
    W = np.ascontiguousarray(sliding_windows(z, 48, stride=16))                 # (250, 1, 48)
    gen = Generator(8, model="vae-seq", density="gmm", noise="residual", **FAST).fit(W)
    s = gen.sample(16, random_state=0)
    assert s.shape == (16, 1, 48) and np.isfinite(s).all()
    assert gen.interpolate(W[0], W[-1], steps=6).shape == (6, 1, 48)


def test_discriminative_score_is_near_half_for_one_distribution_and_near_one_for_two():
    a = noisy_sine_windows(400, 1, 24, seed=1)
    b = noisy_sine_windows(400, 1, 24, seed=2)                                  # the same distribution
    assert 0.38 <= discriminative_score(a, b) <= 0.62
    assert discriminative_score(a, b + 1.5) >= 0.95                              # shifted
    assert discriminative_score(a, noisy_sine_windows(400, 1, 24, seed=2, noise=0.0)) >= 0.95  # without noise
    assert discriminative_score(a, b, random_state=0) == discriminative_score(a, b, random_state=0)


def test_discriminative_score_rejects_bad_input():
    a = np.zeros((20, 1, 8))
    with pytest.raises(ValueError, match="sample shapes differ"):
        discriminative_score(a, np.zeros((20, 1, 9)))
    with pytest.raises(ValueError, match="at least 10 samples"):
        discriminative_score(a, np.zeros((5, 1, 8)))
    with pytest.raises(ValueError, match="NaN or infinite"):
        discriminative_score(a, np.full((20, 1, 8), np.nan))
