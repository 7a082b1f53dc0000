"""Variational (vae, vae-conv) and vector-quantised (vq-vae) models: schedules, likelihood bounds,
codebook mechanics, the code prior and argument errors. Small real data (scikit-learn's digits)."""
import numpy as np
import pytest
import torch

import aekit
from aekit.models import create_model
from aekit.models.vae import importance_weighted_nll, negative_elbo
from aekit.persistence import save_model
from aekit.training import ModelSpec, TrainConfig, fit, fit_prior, train_autoencoder
from tests.helpers import digits_split

SHAPE = (1, 8, 8)
VAES = ["vae", "vae-conv"]


def binarised_digits():
    train, test = digits_split()
    return (train > 0.5).astype(np.float32), (test > 0.5).astype(np.float32)


# ------------------------------------------------------------------ VAE
@pytest.mark.parametrize("name", VAES)
def test_kl_warmup_schedule(name):
    model = create_model(name, input_shape=SHAPE, latent_dim=4, beta=2.0, kl_warmup_steps=10)
    x = torch.rand(16, *SHAPE)
    for step, expected in [(0, 0.0), (5, 1.0), (10, 2.0), (50, 2.0)]:
        model.set_training_progress(step, 100)
        assert model.beta_eff == pytest.approx(expected)
        out = model.train()(x)
        assert out.regularizers["kl"].item() == pytest.approx(expected * out.stats["kl_nats"].item() / 64, abs=1e-7)
    model.set_training_progress(0, 100)  # evaluation reports the full objective, whatever the schedule
    out = model.eval()(x)
    assert out.regularizers["kl"].item() == pytest.approx(2.0 * out.stats["kl_nats"].item() / 64)


@pytest.mark.filterwarnings("ignore::aekit.diagnostics.CollapseWarning")  # 2 short epochs: not yet trained
def test_kl_warmup_is_applied_by_the_training_loop():
    train, _ = digits_split()
    model = create_model("vae", input_shape=SHAPE, latent_dim=4, hidden=[32], kl_warmup_steps=8)
    steps = []
    original = model.set_training_progress
    model.set_training_progress = lambda step, total: (steps.append((step, total)), original(step, total))
    fit(model, train[:128], config=TrainConfig(epochs=2, batch_size=32, progress=False))
    assert steps == [(s, 8) for s in range(8)]
    assert model.beta_eff == pytest.approx(7 / 8)


@pytest.mark.parametrize("name", VAES)
def test_eval_is_deterministic_training_samples(name):
    model = create_model(name, input_shape=SHAPE, latent_dim=4)
    x = torch.rand(8, *SHAPE)
    with torch.no_grad():
        for p in model.parameters():  # the decoder's first layer starts at zero: use every latent direction
            p.add_(0.1 * torch.randn_like(p))
        a, b = model.eval()(x), model(x)
        assert torch.equal(a.recon, b.recon) and torch.equal(a.code, model.encode(x))
        assert torch.equal(a.recon, model.decode(a.code))
        assert not torch.equal(model.train()(x).recon, model(x).recon)


@pytest.mark.parametrize("name", VAES)
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_sample_and_interpolate_shapes(name, likelihood):
    model = create_model(name, input_shape=SHAPE, latent_dim=4, likelihood=likelihood).train()
    s1 = model.sample(5, generator=torch.Generator().manual_seed(1))
    s2 = model.sample(5, generator=torch.Generator().manual_seed(1))
    assert s1.shape == (5, *SHAPE) and torch.equal(s1, s2)
    assert 0 <= s1.min() and s1.max() <= 1  # the decoder's mean: sigmoid, or clamped
    assert model.training  # the mode is restored
    x = torch.rand(2, *SHAPE)
    path = model.interpolate(x[0], x[1:], steps=6)
    assert path.shape == (6, *SHAPE)
    with torch.no_grad():
        ends = model.eval().decode(model.encode(x))
    torch.testing.assert_close(path[[0, -1]], ends)


def test_importance_weighted_nll_bounds_and_training():
    train, test = binarised_digits()
    test = test[:100]
    torch.manual_seed(0)
    model = create_model("vae", input_shape=SHAPE, latent_dim=8, hidden=[128], likelihood="bernoulli")
    before = importance_weighted_nll(model, test, n_samples=50, generator=torch.Generator().manual_seed(0))
    fit(model, train, config=TrainConfig(epochs=30, batch_size=64, progress=False), objective="bce")
    gen = torch.Generator().manual_seed(0)
    after = importance_weighted_nll(model, test, n_samples=50, batch_size=512, generator=gen)
    elbo = negative_elbo(model, test, n_samples=50, generator=gen)
    assert after.shape == (100,) and torch.isfinite(before).all() and torch.isfinite(after).all()
    assert after.mean() < before.mean() - 5  # nats per digit
    assert after.mean() <= elbo.mean()  # the K=50 bound is tighter than the ELBO
    assert (after > 0).all()  # -log of a probability of binary data
    # K=1 is the ELBO itself (a noisy estimate of it)
    k1 = importance_weighted_nll(model, test, n_samples=1, generator=gen)
    assert abs(k1.mean() - elbo.mean()) < 0.05 * elbo.mean()


def test_importance_weighted_nll_checks_inputs():
    model = create_model("vae", input_shape=SHAPE, latent_dim=4, likelihood="bernoulli")
    with pytest.raises(ValueError, match=r"data in \[0, 1\]"):
        importance_weighted_nll(model, torch.full((2, *SHAPE), 2.0), n_samples=2)
    with pytest.raises(ValueError, match=r"n_samples=0 must be a positive integer"):
        importance_weighted_nll(model, torch.rand(2, *SHAPE), n_samples=0)
    with pytest.raises(TypeError, match=r"needs a variational model"):
        importance_weighted_nll(create_model("mlp", input_shape=SHAPE, latent_dim=4), torch.rand(2, *SHAPE))


@pytest.mark.parametrize("name", VAES)
@pytest.mark.parametrize("kw, match", [
    (dict(likelihood="poisson"), r"likelihood='poisson'; expected one of \('bernoulli', 'gaussian'\)"),
    (dict(beta=-1.0), r"beta=-1.0 must be a finite number >= 0"),
    (dict(kl_warmup_steps=-3), r"kl_warmup_steps=-3 must be an integer >= 0"),
])
def test_vae_bad_arguments(name, kw, match):
    with pytest.raises(ValueError, match=match):
        create_model(name, input_shape=SHAPE, latent_dim=4, **kw)


def test_vae_conv_errors_name_the_model():
    with pytest.raises(ValueError, match=r"model 'vae-conv': image size 30x30 is not divisible"):
        create_model("vae-conv", input_shape=(1, 30, 30), latent_dim=4)


def test_vae_interpolate_checks_shapes():
    model = create_model("vae", input_shape=SHAPE, latent_dim=4)
    with pytest.raises(ValueError, match=r"steps=1 must be an integer >= 2"):
        model.interpolate(torch.rand(*SHAPE), torch.rand(*SHAPE), steps=1)
    with pytest.raises(ValueError, match=r"x_b must be shaped"):
        model.interpolate(torch.rand(*SHAPE), torch.rand(3, *SHAPE))


# ------------------------------------------------------------------ VQ-VAE
def small_vq(**kw):
    torch.manual_seed(0)
    kw = {"latent_dim": 4, "codebook_size": 16, "channels": 8, "residual_blocks": 1, **kw}
    return create_model("vq-vae", input_shape=SHAPE, **kw)


def digits_batch(n=64):
    return torch.from_numpy(digits_split()[0][:n])


def test_vq_code_grid_and_indices():
    model = small_vq().eval()
    x = digits_batch()
    out = model(x)
    assert model.code_shape == (4, 2, 2) and out.code.shape == (64, 4, 2, 2)
    idx = model.encode_indices(x)
    assert idx.shape == (64, 2, 2) and idx.dtype == torch.long
    assert torch.equal(model.decode_indices(idx), out.recon)
    assert torch.equal(model.encode(x), out.code)
    assert torch.equal(model.quantizer.lookup(idx), out.code)


def test_vq_straight_through_gradient_reaches_encoder():
    model = small_vq().train()
    x = digits_batch()
    out = model(x)
    ((out.recon - x) ** 2).mean().backward()  # the reconstruction alone: no commitment term
    grad = model.encoder[0][0].weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_vq_without_ema_trains_the_codebook_by_gradient():
    model = small_vq(ema=False).train()
    out = model(digits_batch())
    assert set(out.regularizers) == {"commitment", "codebook"}
    sum(out.regularizers.values()).backward()
    assert model.quantizer.embedding.grad.abs().sum() > 0


def test_vq_ema_updates_in_training_only():
    model = small_vq()
    x = digits_batch()
    model.train()(x)  # k-means initialisation + first EMA step
    before = model.quantizer.embedding.clone()
    model.eval()(x)
    assert torch.equal(model.quantizer.embedding, before)
    model.train()(x)
    assert not torch.equal(model.quantizer.embedding, before)
    assert set(model(x).regularizers) == {"commitment"}


def test_vq_kmeans_initialisation_happens_once_and_survives_loading(tmp_path):
    model = small_vq()
    calls = []
    original = model.quantizer._kmeans_init
    model.quantizer._kmeans_init = lambda flat: (calls.append(len(flat)), original(flat))
    x = digits_batch()
    assert not bool(model.quantizer.initialised)
    model.eval()(x)
    assert calls == []  # evaluation never initialises
    model.train()
    for _ in range(3):
        model(x)
    assert calls == [64 * 4] and bool(model.quantizer.initialised)
    with torch.no_grad():  # the codes are centroids of the batch's encoder outputs: every code is used
        assert model.eval()(x).stats["usage"].item() > 0.5
    save_model(tmp_path, model)
    loaded = aekit.load(tmp_path).model
    assert bool(loaded.quantizer.initialised)
    assert torch.equal(loaded.quantizer.embedding, model.quantizer.embedding)


def test_vq_kmeans_with_fewer_vectors_than_codes():
    model = small_vq(codebook_size=64).train()
    out = model(digits_batch(4))  # 16 vectors for 64 codes
    assert torch.isfinite(model.quantizer.embedding).all() and 1 <= out.stats["perplexity"].item() <= 64


def test_vq_dead_codes_are_restarted():
    model = small_vq(restart_after=2).train()
    x = digits_batch()
    model(x)  # initialise
    with torch.no_grad():
        model.quantizer.embedding[0] = 1e3  # far from every encoder output: never chosen
        model.quantizer.embed_sum[0] = 1e3 * model.quantizer.cluster_size[0]  # (the EMA state behind it)
    restarts = model.quantizer.n_restarts
    model(x)
    assert model.quantizer.embedding[0, 0].item() > 100  # unused for one step only
    model(x)
    assert model.quantizer.n_restarts > restarts
    with torch.no_grad():
        flat = model.encoder(x).permute(0, 2, 3, 1).reshape(-1, 4)
        distance = (flat - model.quantizer.embedding[0]).norm(dim=1).min()
    assert distance.item() < 1e-5  # restarted at one of the batch's encoder outputs


@pytest.mark.parametrize("training", [True, False])
def test_vq_perplexity_and_usage_ranges(training):
    model = small_vq().train(training)
    with torch.no_grad():
        stats = model(digits_batch()).stats
    assert set(stats) == {"perplexity", "usage"} and all(v.dim() == 0 for v in stats.values())
    assert 1.0 <= stats["perplexity"].item() <= 16.0 + 1e-4
    assert 0.0 < stats["usage"].item() <= 1.0


def test_vq_prior_fits_samples_and_is_saved(tmp_path):
    train, _ = digits_split()
    model = small_vq(prior_channels=16, prior_heads=2, prior_epochs=0)  # prior left to fit_prior below
    fit(model, train[:512], config=TrainConfig(epochs=10, batch_size=64, progress=False))
    with pytest.raises(ValueError, match=r"no fitted prior.*fit_prior\(model, X\)"):
        model.sample(2)
    history = fit_prior(model, train[:512], epochs=8)
    assert len(history) == 8 and history[-1] < history[0]
    samples = model.sample(6, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (6, *SHAPE) and torch.isfinite(samples).all()
    assert not any(p.requires_grad for p in model.prior.parameters())  # frozen outside fit_prior
    save_model(tmp_path, model)
    loaded = aekit.load(tmp_path).model
    torch.testing.assert_close(loaded.sample(6, generator=torch.Generator().manual_seed(0)), samples)


def _fit_vq_with_prior(x, seed: int, resume: bool = False, **train):
    from aekit.seeding import resolve_seeds

    spec = ModelSpec("vq-vae", 4, dict(codebook_size=16, channels=8, residual_blocks=1, kmeans_iters=2,
                                       prior_channels=16, prior_heads=2, prior_epochs=2))
    return train_autoencoder(x, model=spec, seeds=resolve_seeds(seed), resume=resume,
                             config=TrainConfig(epochs=1, batch_size=64, progress=False, device="cpu", **train))


def test_training_fits_the_prior_by_default():
    """The prior is a later stage of the fit, trained through the same Trainer: it has its history and seeds."""
    train, _ = digits_split()
    fitted = _fit_vq_with_prior(train[:256], seed=0)
    model = fitted.model
    assert bool(model.prior.fitted) and not any(p.requires_grad for p in model.prior.parameters())
    assert model.sample(3, generator=torch.Generator().manual_seed(0)).shape == (3, *SHAPE)
    history = fitted.stages["prior"].history
    assert [h["epoch"] for h in history] == [1, 2] and all(h["train_nll"] == h["train_loss"] > 0 for h in history)
    assert fitted.stages["prior"].steps == 2 * 4                 # 256 code grids in batches of 64, two epochs


def test_prior_stage_follows_the_seed():
    """Same seed: the same prior; another seed: another (the prior is not always trained with seed 0)."""
    train, _ = digits_split()

    def prior_weights(seed):
        return [p.detach().clone() for p in _fit_vq_with_prior(train[:128], seed).model.prior.parameters()]

    a, b, c = prior_weights(3), prior_weights(3), prior_weights(4)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, z) for x, z in zip(a, c))


def test_prior_stage_resumes_from_its_own_checkpoint(tmp_path):
    from aekit.training.checkpoint import load_checkpoint

    train, _ = digits_split()
    first = _fit_vq_with_prior(train[:128], 5, checkpoint_dir=str(tmp_path))
    assert load_checkpoint(tmp_path / "prior")["finished"]
    again = _fit_vq_with_prior(train[:128], 5, resume=True, checkpoint_dir=str(tmp_path))  # nothing left to train
    assert again.stages["prior"].elapsed == first.stages["prior"].elapsed                   # read, not retrained
    for x, y in zip(first.model.prior.parameters(), again.model.prior.parameters()):
        assert torch.equal(x, y)
    assert bool(again.model.prior.fitted)


def test_fit_prior_trains_through_the_trainer_with_its_seed():
    train, _ = digits_split()
    model = small_vq(prior_channels=16, prior_heads=2, prior_epochs=0)
    fit(model, train[:128], config=TrainConfig(epochs=1, batch_size=64, progress=False))
    state = {k: v.clone() for k, v in model.prior.state_dict().items()}
    first = fit_prior(model, train[:128], epochs=2, random_state=1)
    model.prior.load_state_dict(state)
    assert fit_prior(model, train[:128], epochs=2, random_state=1) == first
    model.prior.load_state_dict(state)
    assert fit_prior(model, train[:128], epochs=2, random_state=2) != first


@pytest.mark.parametrize("kw, match", [
    (dict(codebook_size=0), r"codebook_size=0 must be a positive integer"),
    (dict(restart_after=0), r"restart_after=0 must be a positive integer or None"),
    (dict(decay=1.0), r"decay=1.0 must be a number in \(0, 1\)"),
    (dict(prior_channels=10, prior_heads=4), r"prior_channels=10 must be divisible by prior_heads=4"),
    (dict(downsample=4), r"8x8 is not divisible by the down-sampling factor 16"),
])
def test_vq_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        create_model("vq-vae", input_shape=SHAPE, latent_dim=4, **kw)


def test_vq_needs_images():
    with pytest.raises(ValueError, match=r"\(C, H, W\).*\(64,\)"):
        create_model("vq-vae", input_shape=(64,), latent_dim=4)


@pytest.mark.filterwarnings("ignore::aekit.diagnostics.CollapseWarning")  # one epoch: not yet trained
def test_aekit_train_fits_the_prior_as_a_stage_with_its_history_and_resumes_it(tmp_path):
    """``aekit train`` (aekit/run.py) trains the prior through the shared training function: its history is
    written beside the model's, and ``--resume`` of a finished run changes nothing."""
    import json

    from aekit.run import RunOptions, train_run

    opts = RunOptions(data="digits", out=str(tmp_path / "vq"), model="vq-vae", latent_dim=4, limit=300,
                      model_params=dict(codebook_size=16, channels=8, residual_blocks=1, kmeans_iters=2,
                                        prior_channels=16, prior_heads=2, prior_epochs=2),
                      train={"epochs": 1, "batch_size": 64, "progress": False, "random_state": 1},
                      report=False, verbose=False)
    train_run(opts)
    history = json.loads((tmp_path / "vq" / "history_prior.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2] and history[-1]["train_nll"] > 0
    weights = (tmp_path / "vq" / "model.safetensors").read_bytes()
    train_run(RunOptions(**{**opts.__dict__, "resume": True}))
    assert (tmp_path / "vq" / "model.safetensors").read_bytes() == weights
    assert bool(aekit.load(tmp_path / "vq").model.prior.fitted)
