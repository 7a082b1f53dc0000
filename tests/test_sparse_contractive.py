"""Sparse (L1, KL, TopK + AuxK) and contractive autoencoders: the penalties do what they claim on real data."""
import numpy as np
import pytest
import torch
from torch import nn

from aekit.losses import explained_variance, jacobian_frobenius
from aekit.models import create_model
from aekit.training import TrainConfig, fit
from tests.helpers import digits_split

SHAPE = (1, 8, 8)
# several tests train with strong penalties or few active units on purpose; the trainer's dead-unit
# warning is expected there
pytestmark = pytest.mark.filterwarnings("ignore::aekit.diagnostics.CollapseWarning")


def trained(name, epochs=10, **kw):
    train, _ = digits_split()
    torch.manual_seed(0)
    model = create_model(name, input_shape=train.shape[1:], **kw)
    fit(model, train, config=TrainConfig(epochs=epochs, batch_size=64, lr=3e-3, progress=False))
    return model.eval()


def _digits_test():
    _, test = digits_split()
    return torch.from_numpy(test)


# ------------------------------------------------------------------ sparse
def test_l1_penalty_shrinks_the_code():
    x = _digits_test()
    models = [trained("sparse", latent_dim=32, sparsity_weight=w) for w in (0.0, 1.0)]
    with torch.no_grad():
        free, sparse = (m.encode(x) for m in models)
    assert sparse.abs().mean() < 0.5 * free.abs().mean()
    assert (sparse > 0).float().sum(1).mean() < (free > 0).float().sum(1).mean()


def test_kl_penalty_moves_mean_activation_towards_rho():
    x = _digits_test()
    rho = 0.05
    models = [trained("sparse", latent_dim=32, penalty="kl", beta=beta, rho=rho) for beta in (0.0, 3.0)]
    with torch.no_grad():
        free, kl = (float(m(x).stats["mean_activation"]) for m in models)
    assert abs(kl - rho) < 0.5 * abs(free - rho)
    assert kl < 2 * rho


@pytest.mark.parametrize("name", ["sparse", "sparse-conv"])
def test_topk_has_k_active_units_and_unit_norm_dictionary(name):
    model = trained(name, latent_dim=32, penalty="topk", k=4, epochs=5)
    with torch.no_grad():
        out = model(_digits_test())
    nonzero = (out.code != 0).sum(1)
    assert torch.equal(nonzero, torch.full_like(nonzero, 4))
    assert float(out.stats["l0"]) == 4.0
    atoms = model.dictionary_layer().weight                                   # (out, 32)
    torch.testing.assert_close(atoms.norm(dim=0), torch.ones(32), atol=1e-5, rtol=0)


def test_dead_units_are_tracked_and_auxk_reaches_them():
    torch.manual_seed(0)
    model = create_model("sparse", input_shape=SHAPE, latent_dim=8, penalty="topk", k=2, dead_steps=3)
    with torch.no_grad():
        model.encoder[-1][-1].bias[0] = -100.0                                 # unit 0 can never fire
    x = _digits_test()[:64]
    for _ in range(3):  # not fired for 0, 1, 2 steps before these batches: not dead yet
        assert float(model(x).regularizers["aux_k"]) == 0.0
    assert int(model.steps_since_fired[0]) == 3 and model.dead_units()[0]
    out = model(x)                                                            # now dead: AuxK is on
    dead = model.dead_units()
    assert dead[0] and float(out.stats["dead_fraction"]) == float(dead.float().mean())
    fired = (out.code > 0).any(0)
    assert torch.equal(model.steps_since_fired[fired], torch.zeros(int(fired.sum()), dtype=torch.long))
    out.regularizers["aux_k"].backward()
    assert out.regularizers["aux_k"].item() > 0
    assert model.encoder[-1][-1].weight.grad[0].abs().sum() > 0              # the dead unit gets a gradient
    before = model.steps_since_fired.clone()
    with torch.no_grad():
        out = model.eval()(x)                                                 # evaluation changes nothing
    assert torch.equal(model.steps_since_fired, before) and float(out.regularizers["aux_k"]) == 0.0


def _mnist(limit):
    from aekit.data import DataError, load_dataset

    try:
        ds = load_dataset("mnist", limit=limit, download=False)
    except DataError:
        pytest.skip("real MNIST not available: set AEKIT_DATA_DIR to a folder holding mnist/*-ubyte.gz")
    return (ds.train.X / 255.0).astype(np.float32)


@pytest.mark.quality
def test_auxk_revives_dead_latents_on_mnist():
    x = _mnist(2000)
    dead = []
    for aux_weight in (0.0, 1 / 32):
        torch.manual_seed(0)
        model = create_model("sparse", input_shape=x.shape[1:], latent_dim=128, penalty="topk", k=8,
                             dead_steps=20, aux_weight=aux_weight)
        fit(model, x, config=TrainConfig(epochs=6, batch_size=100, lr=3e-3, progress=False))
        dead.append(float(model.dead_units().float().mean()))
    assert dead[1] < 0.75 * dead[0]


def test_penalty_warms_up():
    model = create_model("sparse", input_shape=SHAPE, latent_dim=8, sparsity_weight=1.0, warmup=0.5)
    x = _digits_test()[:16]
    values = []
    for step in (0, 25, 50, 99):
        model.set_training_progress(step, 100)
        values.append(model(x).regularizers["l1"].item())
    assert values[0] == 0.0 and values[1] > 0
    assert values[2] == pytest.approx(2 * values[1]) and values[3] == pytest.approx(values[2])


@pytest.mark.parametrize("penalty, reg", [("l1", "l1"), ("kl", "kl_sparsity"), ("topk", "aux_k")])
def test_fields_do_not_depend_on_mode(penalty, reg):
    model = create_model("sparse-conv", input_shape=SHAPE, latent_dim=8, channels=(4,), penalty=penalty)
    x = _digits_test()[:16]
    keys = []
    for mode in (True, False):
        out = model.train(mode)(x)
        keys.append((sorted(out.regularizers), sorted(out.stats)))
        assert all(v.dim() == 0 for v in [*out.regularizers.values(), *out.stats.values()])
    assert keys[0] == keys[1] == ([reg], ["dead_fraction", "explained_variance", "l0", "mean_activation"])


def test_explained_variance():
    x = torch.rand(32, 10)
    assert float(explained_variance(x, x)) == pytest.approx(1.0)
    assert float(explained_variance(x, x.mean(0, keepdim=True).expand_as(x))) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("kw, match", [
    (dict(penalty="l2"), r"penalty='l2'; expected one of \('l1', 'kl', 'topk'\)"),
    (dict(penalty="topk", k=9), r"k=9 active units must be an integer between 1 and latent_dim=8"),
    (dict(penalty="topk", k=0), r"k=0 active units"),
    (dict(k_aux=20), r"k_aux=20 must be an integer between 1 and latent_dim=8"),
    (dict(penalty="kl", rho=1.5), r"rho=1.5 must be a number in \(0, 1\)"),
    (dict(sparsity_weight=-1.0), r"sparsity_weight=-1.0 must be a number >= 0"),
    (dict(warmup=2), r"warmup=2 must be a number in \[0, 1\]"),
    (dict(dead_steps=0), r"dead_steps=0 must be a positive integer"),
])
@pytest.mark.parametrize("name", ["sparse", "sparse-conv"])
def test_bad_sparsity_arguments_are_named(name, kw, match):
    with pytest.raises(ValueError, match=rf"model '{name}': {match}"):
        create_model(name, input_shape=SHAPE, latent_dim=8, **kw)


# ------------------------------------------------------------------ contractive
@pytest.mark.parametrize("activation", [nn.Sigmoid, nn.Tanh])
def test_closed_form_jacobian_matches_autograd(activation):
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(64, 6), activation()).double()
    x = _digits_test()[:20].double()
    closed = jacobian_frobenius(encoder, x, method="closed")
    exact = jacobian_frobenius(encoder, x, method="autograd")
    assert closed.shape == (20,)
    assert ((closed - exact).abs() / exact.abs()).max().item() < 1e-5


def test_contractive_model_uses_closed_form_and_its_gradient_matches():
    torch.manual_seed(0)
    model = create_model("contractive", input_shape=SHAPE, latent_dim=6).double()
    x = _digits_test()[:20].double()
    grads = []
    for method in ("auto", "autograd"):
        model.zero_grad()
        jacobian_frobenius(model, x, method=method).sum().backward()
        grads.append(model.encoder[1][0].weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-10)


def test_autograd_jacobian_of_a_deep_encoder():
    torch.manual_seed(0)
    model = create_model("contractive", input_shape=SHAPE, latent_dim=3, hidden=(5,), activation="tanh")
    x = _digits_test()[:4]
    norms = jacobian_frobenius(model, x)                                      # "auto" -> autograd
    for i in range(4):
        jac = torch.autograd.functional.jacobian(lambda v: model.encode(v.unsqueeze(0)).squeeze(0), x[i])
        assert norms[i].item() == pytest.approx(jac.pow(2).sum().item(), rel=1e-5)


def test_contractive_penalty_lowers_the_jacobian_norm():
    x = _digits_test()
    norms = [jacobian_frobenius(trained("contractive", latent_dim=16, lam=lam), x).mean().item() for lam in (0.0, 1.0)]
    assert norms[1] < 0.7 * norms[0]


def test_contractive_penalty_only_in_training():
    model = create_model("contractive", input_shape=SHAPE, latent_dim=6, hidden=(8,))
    x = _digits_test()[:8]
    penalty = model.train()(x).regularizers["contractive"]
    assert penalty.item() > 0 and penalty.requires_grad
    assert float(model.eval()(x).regularizers["contractive"]) == 0.0


def test_contractive_errors_are_named():
    with pytest.raises(ValueError, match=r"jacobian='closed' needs one encoder layer .* hidden=\[8\]"):
        create_model("contractive", input_shape=SHAPE, latent_dim=4, hidden=(8,), jacobian="closed")
    with pytest.raises(ValueError, match=r"jacobian='exact'; expected one of \('auto', 'closed', 'autograd'\)"):
        create_model("contractive", input_shape=SHAPE, latent_dim=4, jacobian="exact")
    with pytest.raises(ValueError, match=r"lam=-0.1 must be a number >= 0"):
        create_model("contractive", input_shape=SHAPE, latent_dim=4, lam=-0.1)
    with pytest.raises(ValueError, match=r"method='closed' needs an encoder made of one Linear layer"):
        jacobian_frobenius(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)), torch.rand(3, 4), "closed")
    with pytest.raises(ValueError, match=r"method='fast'; expected one of"):
        jacobian_frobenius(nn.Linear(4, 2), torch.rand(3, 4), "fast")
