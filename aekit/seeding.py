"""Randomness enters once per fit: ``random_state`` -> :class:`Seeds` -> explicit generators.

scikit-learn's meaning of ``random_state``: an int gives the same result every time; a
``numpy.random.RandomState`` is drawn from once per fit (so successive fits differ, reproducibly); ``None``
draws fresh entropy. :func:`resolve_seeds` turns it into one int per consumer (model init, validation split,
training: shuffling, corruption and dropout), and every consumer makes its own generator from its seed.

Where torch takes no generator (layer initialisation, dropout), the work runs inside :func:`torch_seeded`,
which forks torch's global random state, seeds it, and restores the caller's state afterwards: the library
never changes the caller's global random state.
"""
from __future__ import annotations

import contextlib
import numbers
from dataclasses import dataclass

import numpy as np
import torch

MAX_SEED = 2**31 - 1


def resolve_seed(random_state) -> int:
    """An int seed from scikit-learn's ``random_state`` (int, ``RandomState``, ``Generator`` or None)."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if not 0 <= int(random_state) <= 2**32 - 1:
            raise ValueError(f"random_state={random_state!r} must be between 0 and 2**32 - 1")
        return int(random_state)
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0] % MAX_SEED)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, MAX_SEED))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, MAX_SEED))
    raise TypeError(f"random_state={random_state!r}; expected an int, a numpy RandomState / Generator, or None")


@dataclass(frozen=True)
class Seeds:
    """The seeds of one fit, resolved once; ``member(i)`` gives the seeds of the i-th ensemble member."""

    init: int      # model initialisation
    split: int     # validation split, training patches
    train: int     # shuffling, training-time corruption and dropout (TrainConfig.random_state)

    @classmethod
    def of(cls, seed: int) -> "Seeds":
        return cls(init=seed, split=seed, train=seed)

    def member(self, i: int) -> "Seeds":
        """Seeds of ensemble member ``i`` (member 0 keeps this fit's seeds)."""
        return Seeds.of((self.init + 7919 * i) % (2**32))

    def batch(self, k: int) -> "Seeds":
        """Seeds of the k-th ``partial_fit`` call (k = 0: the first fit keeps this fit's seeds)."""
        return Seeds.of((self.init + 104_729 * k) % (2**32))

    def generator(self, what: str = "train", offset: int = 0) -> torch.Generator:
        """A torch generator seeded from one of the seeds (``offset`` tells apart several from one seed)."""
        return torch.Generator().manual_seed(getattr(self, what) + offset)


def resolve_seeds(random_state) -> Seeds:
    """Resolve ``random_state`` once for a fit (see the module docstring)."""
    return Seeds.of(resolve_seed(random_state))


@contextlib.contextmanager
def torch_seeded(seed: int | None):
    """Run the body with torch's global generator seeded (``None``: unseeded), then restore the caller's state."""
    with torch.random.fork_rng():  # CPU and every CUDA device in use: manual_seed seeds them all
        if seed is not None:
            torch.manual_seed(seed)
        yield
