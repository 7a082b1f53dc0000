"""The default tier's time guard: a default-tier test that takes longer than the limit fails, naming itself.

The default test run (the README's ``python -m pytest``) must stay under 5 minutes on 2 CPU cores, so each of
its tests gets ``LIMIT_S`` seconds, counted as its setup plus its call: a module- or session-scoped fixture
is built in the setup of the first test that asks for it, so the test that triggers a shared training run
pays for it (later users of the fixture then cost only their call). Teardown is not counted, nor is the time
numba spends compiling (UMAP's functions, the first time a process embeds anything: about 15 s, once per run,
whichever test comes first; not a cost of that test).

Tests marked with a tier marker (:data:`TIER_MARKERS`) are not guarded: they run in their own tiers
(``pytest -m quality`` ...), where long runs are expected. ``AEKIT_TEST_TIME_LIMIT=SECONDS`` sets another limit
(a slow or busy machine); ``0`` switches the guard off.
"""
from __future__ import annotations

import os

import pytest

LIMIT_S = 15.0
TIER_MARKERS = ("quality", "e2e", "fuzz", "slow")  # slow: the old name of the quality tier, still honoured
_SETUP = pytest.StashKey[float]()
_COMPILED = pytest.StashKey[float]()


class CompileClock:
    """Seconds numba has spent compiling in this process so far (0 without numba)."""

    def __init__(self):
        try:
            from numba.core import event
        except ImportError:
            self._timer = None
        else:
            self._timer = event.TimingListener()   # counts nested compilations once
            event.register("numba:compile", self._timer)

    def seconds(self) -> float:
        return self._timer.duration if self._timer is not None and self._timer.done else 0.0


def limit_from_env(environ=os.environ) -> float:
    """The limit in seconds: ``AEKIT_TEST_TIME_LIMIT`` when set (``0``: no limit), else :data:`LIMIT_S`."""
    text = environ.get("AEKIT_TEST_TIME_LIMIT", "").strip()
    if not text:
        return LIMIT_S
    try:
        value = float(text)
    except ValueError:
        raise pytest.UsageError(f"AEKIT_TEST_TIME_LIMIT={text!r} is not a number of seconds "
                                f"(expected e.g. 30, or 0 for no limit)") from None
    if value < 0:
        raise pytest.UsageError(f"AEKIT_TEST_TIME_LIMIT={text!r} is negative (expected seconds >= 0; 0: no limit)")
    return value


def in_a_marked_tier(item) -> bool:
    return any(item.get_closest_marker(name) is not None for name in TIER_MARKERS)


class TimeGuard:
    """Pytest plugin: fails a passed default-tier test whose setup + call took over ``limit_s`` seconds."""

    def __init__(self, limit_s: float, compile_clock: CompileClock | None = None):
        self.limit_s = limit_s
        self.compile_clock = compile_clock if compile_clock is not None else CompileClock()

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item):
        item.stash[_COMPILED] = self.compile_clock.seconds()   # before any fixture is built
        yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if call.when == "setup":
            item.stash[_SETUP] = report.duration
            return
        if call.when != "call" or not report.passed or not self.limit_s or in_a_marked_tier(item):
            return
        setup = item.stash.get(_SETUP, 0.0)
        compiled = self.compile_clock.seconds() - item.stash.get(_COMPILED, self.compile_clock.seconds())
        total = setup + report.duration - compiled
        if total > self.limit_s:
            report.outcome = "failed"
            jit = f" - numba compiling {compiled:.1f} s" if compiled >= 0.05 else ""
            report.longrepr = (
                f"{item.nodeid} took {total:.1f} s (setup {setup:.1f} s + call {report.duration:.1f} s{jit}), over "
                f"the default tier's limit of {self.limit_s:g} s per test: mark it quality/e2e/fuzz or make it "
                f"smaller (on a slow or busy machine, AEKIT_TEST_TIME_LIMIT=SECONDS sets another limit; 0: none)")
