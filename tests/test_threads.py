"""aekit decides its compute threads in one place: the setting, then the environment, then the cores this
process may use (shared among torchrun's local processes), and one thread for small training steps."""
import time

import pytest
import torch

import aekit
from aekit import threads
from aekit.models import create_model


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    for name in ("AEKIT_NUM_THREADS", "OMP_NUM_THREADS", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    yield
    aekit.set_num_threads(None)


def test_rule_order(monkeypatch):
    assert threads.num_threads() == 8
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.num_threads() == 3                         # the environment is respected
    monkeypatch.setenv("AEKIT_NUM_THREADS", "2")
    assert threads.num_threads() == 2                         # aekit's own variable first
    aekit.set_num_threads(5)
    assert threads.num_threads(step_flops=1.0) == 5           # the setting wins, whatever the work


def test_torchrun_processes_share_the_cores(monkeypatch):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert threads.num_threads() == 2


def test_small_steps_run_on_one_thread():
    small = create_model("mlp", input_shape=(8,), latent_dim=2, hidden=[16])
    big = create_model("conv", input_shape=(1, 28, 28), latent_dim=32)
    assert threads.training_threads(small, torch.zeros(8), 256) == 1
    assert threads.training_threads(big, torch.zeros(1, 28, 28), 256) == 8
    assert threads.step_flops(big, torch.zeros(1, 28, 28), 256) > threads.SMALL_STEP_FLOPS


def test_compute_threads_restores_the_callers_count():
    before = torch.get_num_threads()
    with threads.compute_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("bad", ["0", "two"])
def test_bad_environment_is_named(monkeypatch, bad):
    monkeypatch.setenv("AEKIT_NUM_THREADS", bad)
    with pytest.raises(ValueError, match=rf"AEKIT_NUM_THREADS='{bad}' must be a positive integer"):
        threads.num_threads()


def test_bad_setting_is_named():
    with pytest.raises(ValueError, match=r"n=0 must be a positive integer or None"):
        aekit.set_num_threads(0)


def test_training_uses_the_decided_count(monkeypatch):
    seen = []
    real = threads.compute_threads

    def spy(n):
        seen.append(n)
        return real(n)

    monkeypatch.setattr("aekit.training.loop.compute_threads", spy)
    aekit.set_num_threads(1)
    aekit.Reducer(latent_dim=2, epochs=1).fit(torch.rand(40, 6).numpy())
    assert seen == [1]


@pytest.mark.parametrize("others_busy, expected", [(0.0, 2), (0.3, 2), (1.0, 1), (3.0, 1)])
def test_governor_gives_up_the_cores_other_processes_use(monkeypatch, others_busy, expected):
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    gov = threads.ThreadGovernor(2)
    # samples: (wall seconds, this process's CPU seconds, the machine's busy CPU seconds)
    before, after = (0.0, 0.0, 0.0), (1.0, 1.5, 1.5 + others_busy)   # this process kept 1.5 cores busy itself
    assert gov._decide(before, after) == expected


def test_governor_applies_its_decision_between_steps(monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    samples = iter([(0.0, 0.0, 0.0), (2.0, 1.0, 3.0)])   # idle at first, then another process
    gov = threads.ThreadGovernor(2, probe=0.0)
    monkeypatch.setattr(gov, "_sample", lambda: next(samples))
    monkeypatch.setattr(gov, "_running", lambda: 1)      # only this process runs when the fit starts
    monkeypatch.setattr(threads.time, "perf_counter", lambda: 2.0)
    before = torch.get_num_threads()
    try:
        assert gov.start() == 2
        gov.update()
        assert gov.current == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_no_governor_when_the_count_is_fixed(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads.governor(2) is None
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert threads.governor(1) is None and isinstance(threads.governor(2), threads.ThreadGovernor)


def test_governor_starts_at_once_on_an_idle_machine(monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    gov = threads.ThreadGovernor(2)
    monkeypatch.setattr(gov, "_running", lambda: 3)          # three threads running: all three this process's
    monkeypatch.setattr(gov, "_own_running", lambda: 3)
    t0 = time.perf_counter()
    assert gov.start() == 2
    assert time.perf_counter() - t0 < 0.04                   # no sampling pause before the first step


@pytest.mark.parametrize("busy_cores, expected", [(1.0, 1), (1.8, 1), (0.0, 2)])
def test_governor_start_measures_the_others_when_they_seem_to_run(monkeypatch, busy_cores, expected):
    """Another process runs at the instant of the start: its busy time over a short window decides (one that
    only passes, busy 0, leaves both cores to the fit)."""
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    gov = threads.ThreadGovernor(2)
    monkeypatch.setattr(gov, "_running", lambda: 2)
    monkeypatch.setattr(gov, "_own_running", lambda: 1)
    t0 = time.perf_counter()
    monkeypatch.setattr(gov, "_machine", lambda: time.process_time() + busy_cores * (time.perf_counter() - t0))
    assert gov.start() == expected


def test_a_whole_estimator_call_runs_under_one_decision(monkeypatch):
    seen = []
    real = threads.compute_threads

    def spy(n):
        seen.append(n)
        return real(n)

    monkeypatch.setattr(threads, "compute_threads", spy)
    aekit.set_num_threads(1)
    reducer = aekit.Reducer(latent_dim=2, epochs=1).fit(torch.rand(40, 6).numpy())
    assert seen == [1]                               # fit: one decision (its inner calls keep it)
    reducer.transform(torch.rand(5, 6).numpy())
    assert seen == [1, 1]
    with threads.held():                             # a server that set its threads once: no decision
        reducer.transform(torch.rand(5, 6).numpy())
    assert seen == [1, 1]


def test_inference_passes_are_bounded_by_activation_memory_and_give_the_same_outputs():
    import numpy as np

    from aekit.persistence import TrainedAutoencoder

    small = create_model("mlp", input_shape=(1, 8, 8), latent_dim=4)
    big = create_model("conv", input_shape=(3, 128, 128), latent_dim=8)
    assert threads.pass_rows(small, torch.zeros(1, 8, 8), 1024) == 1024          # small samples: the cap
    rows = threads.pass_rows(big, torch.zeros(3, 128, 128), 1024)
    assert 1 <= rows < 1024                                                          # large activations: fewer
    assert threads.pass_rows(big, torch.zeros(3, 128, 128), 1024, budget=threads.PASS_BYTES // 4) < rows
    x = np.random.default_rng(0).random((2 * rows + 3, 3, 128, 128), dtype=np.float32)
    ae = TrainedAutoencoder(big.eval(), None)
    with torch.no_grad():
        whole = big(torch.from_numpy(x)).recon.numpy()                               # one pass of every row
    np.testing.assert_allclose(ae.reconstruct(x), whole, rtol=1e-5, atol=1e-6)      # in passes of `rows`
