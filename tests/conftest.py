"""Shared pytest setup: the shared data folder, the test tiers and the default tier's time guard.

Data: when ``AEKIT_DATA_DIR`` is not set and ``<repo>/../shared/data`` exists (developer machines and CI),
``AEKIT_DATA_DIR`` points there so that tests needing real data (MNIST, ADBench, NAB) find it; those tests skip,
saying what they need, when it is absent. ``AEKIT_NO_SHARED_DATA=1`` skips this default, to see the suite as
on a fresh clone that has no shared data.

Tiers (markers registered in pyproject.toml): the default run (``python -m pytest``, the README's test command)
holds the unit and conformance tests and excludes the tests marked ``quality`` (a trained model must beat a
baseline), ``e2e`` (the README's commands, a real browser, crashed processes, building the wheel) and ``fuzz``
(long fuzzing runs); ``python -m pytest -m quality`` (or ``e2e``, ``fuzz``) runs a tier, and ``.ci/run`` runs all
of them. ``slow``, the old name of the quality tier, still works: a test marked slow is in the quality tier.
Each default-tier test gets 15 s (tests/timeguard.py).
"""
import os
from pathlib import Path

import pytest

from timeguard import TimeGuard, limit_from_env

_SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
if (not os.environ.get("AEKIT_DATA_DIR") and os.environ.get("AEKIT_NO_SHARED_DATA", "") in ("", "0")
        and _SHARED_DATA.is_dir()):
    os.environ["AEKIT_DATA_DIR"] = str(_SHARED_DATA)


def pytest_configure(config):
    config.pluginmanager.register(TimeGuard(limit_from_env()), "aekit-time-guard")


@pytest.hookimpl(tryfirst=True)   # before ``-m`` deselects: a test marked slow is selected by ``-m quality``
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("slow") is not None and item.get_closest_marker("quality") is None:
            item.add_marker(pytest.mark.quality)


@pytest.fixture(autouse=True)
def fixed_threads(request, monkeypatch):
    """One compute thread for the fits of the default and fuzz tiers. Many of their tests compare two fits bit
    for bit (the same seed, a resumed run, a reloaded model), which holds at one thread count; the automatic
    count (aekit/threads.py) gives a fit fewer threads when other processes run on the machine (CI runs a test
    beside the processes earlier tests started), and float sums then round differently: CI failed so, once in
    ``test_deterministic_with_seed`` and once in ``test_resume_mid_epoch_equals_uninterrupted_run``. The
    quality and e2e tiers keep the automatic count (trained models against baselines, the README's commands);
    tests/test_threads.py clears the setting to test the rule itself."""
    if request.node.get_closest_marker("quality") is None and request.node.get_closest_marker("e2e") is None:
        monkeypatch.setenv("AEKIT_NUM_THREADS", "1")
