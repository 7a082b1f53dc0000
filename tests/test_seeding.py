"""random_state follows scikit-learn's meaning, is resolved once per fit, and a fit leaves the caller's
global random state alone."""
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from aekit import Reducer
from aekit.seeding import Seeds, resolve_seed, resolve_seeds, torch_seeded

X = load_digits().data[:200]


def codes(random_state):
    return Reducer(latent_dim=2, model_params={"hidden": [8]}, epochs=1, random_state=random_state).fit(X).transform(X[:5])


def test_int_seed_gives_the_same_result_every_time():
    np.testing.assert_array_equal(codes(3), codes(3))
    assert not np.array_equal(codes(3), codes(4))


def test_random_state_instance_is_drawn_from_once_per_fit():
    rs = np.random.RandomState(0)
    first, second = codes(rs), codes(rs)            # the same instance: successive fits differ
    assert not np.array_equal(first, second)
    again = np.random.RandomState(0)                 # a fresh instance with the same seed: the same sequence
    np.testing.assert_array_equal(codes(again), first)
    np.testing.assert_array_equal(codes(again), second)


def test_none_is_fresh_randomness():
    assert not np.array_equal(codes(None), codes(None))


def test_resolve_seed_rejects_what_is_not_a_seed():
    with pytest.raises(TypeError, match=r"random_state='0'; expected an int, a numpy RandomState"):
        resolve_seed("0")
    with pytest.raises(ValueError, match=r"random_state=-1 must be between 0 and 2\*\*32 - 1"):
        resolve_seed(-1)


def test_seeds_are_resolved_once_and_members_differ():
    s = resolve_seeds(np.random.RandomState(1))
    assert s.init == s.split == s.train                       # one draw, one seed for every consumer
    assert s.member(0) == s and s.member(1) != s
    assert Seeds.of(5).member(2) == Seeds.of(5 + 2 * 7919)


def test_fit_and_torch_seeded_leave_global_state_alone():
    torch.manual_seed(7)
    np.random.seed(7)
    expected = torch.rand(2), np.random.rand(2)
    torch.manual_seed(7)
    np.random.seed(7)
    with torch_seeded(123):
        torch.rand(5)
    codes(0)
    assert torch.equal(torch.rand(2), expected[0]) and np.array_equal(np.random.rand(2), expected[1])
