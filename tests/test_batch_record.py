"""The training step's record of named tensors (aekit/training/batch.py): the data side builds it, the augmentation
makes views from it, and an objective reads the fields it needs by name; objectives keep no state."""
import numpy as np
import pytest
import torch

from aekit.losses import LossBreakdown, total_loss
from aekit.models import create_model
from aekit.objectives import JointClassification, Objective, Reconstruction
from aekit.training import TrainConfig, Trainer, fit
from aekit.training.batch import Batch, Corrupt, as_batch

QUICK = dict(batch_size=16, progress=False, device="cpu", early_stopping=None)


class Spy(Objective):
    """Reconstruction that records the fields, dtypes and shapes of every record it is given."""

    name = "mse"

    def __init__(self):
        self.seen = []

    def loss(self, model, batch):
        self.seen.append({k: (v.dtype, tuple(v.shape), v.detach().clone()) for k, v in batch.items()})
        return Reconstruction("mse").loss(model, batch)


def _mlp(seed=0):
    torch.manual_seed(seed)
    return create_model("mlp", input_shape=(6,), latent_dim=2, hidden=[8])


def test_batch_is_a_read_only_record_that_names_what_it_lacks():
    x = torch.rand(4, 3)
    batch = Batch(input=x, label=torch.tensor([0, 1, -1, 2]))
    assert batch.n_samples == 4 and set(batch) == {"input", "label"} and batch.input is x
    more = batch.replace(strong=x + 1)
    assert set(more) == {"input", "label", "strong"} and set(batch) == {"input", "label"}  # a new record
    with pytest.raises(KeyError, match=r"no field 'noise_level'; it has \['input', 'label'\]"):
        batch["noise_level"]
    with pytest.raises(TypeError, match="field 'label' must be a torch.Tensor"):
        Batch(input=x, label=[0, 1])
    assert as_batch((x, x * 2)).target.equal(x * 2) and as_batch(x).target is x   # the target defaults to the input


def test_named_fields_reach_the_objective_with_their_kinds():
    rng = np.random.default_rng(0)
    x = rng.random((40, 6)).astype(np.float32)
    labels = np.where(np.arange(40) % 4 == 0, -1, np.arange(40) % 3)                # int, -1 = unlabelled
    weights = rng.random(40)                                                         # float64 -> float32
    spy = Spy()
    fit(_mlp(), {"input": x, "label": labels, "weight": weights}, config=TrainConfig(epochs=1, **QUICK),
        objective=spy)
    assert len(spy.seen) == 3                                                        # 40 rows in batches of 16
    first = spy.seen[0]
    assert set(first) == {"input", "target", "label", "weight"}
    assert first["label"][0] == torch.int64 and first["weight"][0] == torch.float32
    assert first["input"][0] == first["target"][0] == torch.float32
    seen_labels = torch.cat([s["label"][2] for s in spy.seen])
    assert sorted(seen_labels.tolist()) == sorted(labels.tolist())                   # every row once, -1 kept
    # the rows stay together: each row's label is the one given with its input
    for s in spy.seen:
        rows = [int(np.flatnonzero((x == r.numpy()).all(1))[0]) for r in s["input"][2]]
        assert s["label"][2].tolist() == labels[rows].tolist()


def test_fields_must_have_one_row_per_sample():
    with pytest.raises(ValueError, match=r"sample counts differ \(input 40; label 39\)"):
        fit(_mlp(), {"input": np.zeros((40, 6), np.float32), "label": np.zeros(39, np.int64)},
            config=TrainConfig(epochs=1, **QUICK))


@pytest.mark.filterwarnings("ignore::aekit.diagnostics.CollapseWarning")  # a few steps of noise: not yet trained
def test_augment_gets_one_generator_per_step_and_keeps_the_clean_target():
    x = np.random.default_rng(1).random((32, 6)).astype(np.float32)
    spy, draws = Spy(), []

    def noisy(inp, generator):
        draws.append(generator.initial_seed())
        return inp + torch.randn(inp.shape, generator=generator)

    fit(_mlp(), x, config=TrainConfig(epochs=2, random_state=5, **QUICK), objective=spy, augment=Corrupt(noisy))
    assert draws[0] == 0                                      # one sample made at the start, to check its shape
    assert len(set(draws[1:])) == len(draws[1:]) == 4                                # (seed, epoch, step) seeds
    for s in spy.seen:
        assert not torch.equal(s["input"][2], s["target"][2])                       # corrupted input, clean target
    again = []
    fit(_mlp(), x, config=TrainConfig(epochs=2, random_state=5, **QUICK), corruption=lambda i, g: again.append(
        g.initial_seed()) or i)
    assert again == draws                                                            # corruption= is the same step


def test_an_unlabelled_row_is_minus_one_and_labels_are_int64(monkeypatch):
    """EncoderClassifier (joint): labels travel as the int64 field ``label`` (-1: unlabelled), the augmentation
    adds the ``strong`` view, and the objective runs one forward pass per step."""
    from sklearn.datasets import load_digits

    from aekit import EncoderClassifier

    seen, calls = [], []
    original = JointClassification.loss

    def spy(self, model, batch):
        seen.append({k: v.detach().clone() for k, v in batch.items()})
        forward = model.forward
        model.forward = lambda x: calls.append(len(x)) or forward(x)
        try:
            return original(self, model, batch)
        finally:
            del model.forward

    monkeypatch.setattr(JointClassification, "loss", spy)
    X, y = load_digits(return_X_y=True)
    EncoderClassifier(latent_dim=4, epochs=1, batch_size=64, random_state=0).fit(X[:30], y[:30], X_unlabeled=X[30:130])
    assert seen and len(calls) == len(seen)                                          # one forward pass per step
    labels = torch.cat([s["label"] for s in seen])
    assert labels.dtype == torch.int64
    assert (labels == -1).sum() == 100 and set(labels[labels >= 0].tolist()) <= set(range(10))
    for s, n in zip(seen, calls):
        assert set(s) == {"input", "target", "label", "strong"} and s["strong"].shape == s["input"].shape
        assert n == len(s["label"]) + int((s["label"] < 0).sum())                    # weak views + strong ones


@pytest.mark.parametrize("task, field, kw", [("denoise", "noise_level", {"noise_levels": (0.5, 4.0)}),
                                              ("inpaint", "mask", {})])
def test_a_restorers_side_information_is_a_named_field(monkeypatch, task, field, kw):
    """The noise level (FFDNet) or the missing pixels are fields of the record, made by the task's augmentation,
    which also turns them into the network's extra input channel; the record's target is the clean patch."""
    from sklearn.datasets import load_digits

    from aekit import Restorer

    seen = []
    original = Reconstruction.loss

    def spy(self, model, batch):
        seen.append({k: v.detach().clone() for k, v in batch.items()})
        return original(self, model, batch)

    monkeypatch.setattr(Reconstruction, "loss", spy)
    images = load_digits().images[:40]
    Restorer(task=task, epochs=1, batch_size=16, validation_fraction=0.0, model_params={"channels": [4]},
             **kw).fit(images)
    assert seen
    for s in seen:
        assert set(s) == {"input", "target", field}
        assert s["input"].shape[1] == 2 and s["target"].shape[1] == 1                # image + its side channel
    if field == "noise_level":
        levels = torch.cat([s[field] for s in seen]) * 16                           # back to the images' units
        assert levels.shape == (len(images),) and (levels >= 0.5 - 1e-5).all() and (levels <= 4.0 + 1e-5).all()
        assert all(torch.allclose(s["input"][:, 1], s[field][:, None, None].expand(-1, 8, 8)) for s in seen)
    else:
        assert all(s[field].dtype == torch.bool and torch.equal(s["input"][:, 1], (~s[field]).float()) for s in seen)


def _joint_net(seed):
    from aekit.estimators._classifier_nets import _JointNet, _head

    torch.manual_seed(seed)
    return _JointNet(create_model("mlp", input_shape=(6,), latent_dim=2, hidden=[8]), _head(2, 0, 3, 0.0), 3)


def test_an_objective_keeps_no_state_and_trains_two_models_independently():
    rng = np.random.default_rng(2)
    data = {"input": rng.random((48, 6)).astype(np.float32), "label": np.tile([0, 1, 2, -1], 12)}
    cfg = TrainConfig(epochs=2, random_state=0, **QUICK)
    views = lambda batch, generator: batch.replace(strong=batch.input + 0.1 * torch.randn(  # noqa: E731
        batch.input.shape, generator=generator))

    def trained(net, objective):
        fit(net, data, config=cfg, objective=objective, augment=views)
        return [p.detach().clone() for p in net.parameters()]

    alone_a = trained(_joint_net(0), JointClassification(threshold=0.0))
    alone_b = trained(_joint_net(1), JointClassification(threshold=0.0))
    shared = JointClassification(threshold=0.0)
    before = dict(vars(shared))
    a, b = _joint_net(0), _joint_net(1)
    trainers = [Trainer(net, cfg, objective=shared, augment=views) for net in (a, b)]  # both checked first
    trainers[0].fit(data)
    trainers[1].fit(data)
    assert vars(shared) == before                                                    # check() and loss() keep nothing
    assert all(torch.equal(p, q) for p, q in zip(alone_a, a.parameters()))
    assert all(torch.equal(p, q) for p, q in zip(alone_b, b.parameters()))
    scores = trainers[0].evaluate(data)          # no augmentation: the clean samples stand in for the strong views
    assert set(scores) == {"loss", "ce", "consistency", "mse"} and np.isfinite(scores["loss"])


def test_reconstruction_bce_uses_each_models_own_output_activation():
    """The BCE-on-logits choice is read from the model at each step, not kept from the last check()."""
    x = torch.rand(8, 6)
    sigmoid = create_model("mlp", input_shape=(6,), latent_dim=2, hidden=[8], output_activation="sigmoid")
    objective = Reconstruction("bce")
    objective.check(sigmoid)
    with torch.no_grad():
        out = sigmoid(x)
        got = objective.loss(sigmoid, Batch(input=x, target=x))
    expected = total_loss(out.recon, x, out.regularizers, "bce", logits=out.pre_output)
    assert torch.equal(got.total, expected.total)
    assert isinstance(got, LossBreakdown) and dict(got.stats) == out.stats
