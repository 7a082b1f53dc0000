"""The test tiers: the default run leaves out the marked tiers, and its time guard fails a test that takes too long,
counting the shared fixtures a test builds (tests/timeguard.py, tests/conftest.py, pyproject.toml)."""
import os
import re
import shlex
import sys
from pathlib import Path

import pytest

from timeguard import TIER_MARKERS, TimeGuard, limit_from_env

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYTEST = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]


def test_every_tier_is_registered_and_left_out_of_the_default_run():
    registered = {line.split(":")[0] for line in PYTEST["markers"]}
    assert set(TIER_MARKERS) <= registered, registered
    argv = shlex.split(PYTEST["addopts"])
    expression = argv[argv.index("-m") + 1]
    for name in TIER_MARKERS:   # every tier is deselected: `not (a or b ...)` names each
        assert name in expression and expression.startswith("not "), expression


def test_the_time_limit_comes_from_the_environment():
    assert limit_from_env({}) == 15
    assert limit_from_env({"AEKIT_TEST_TIME_LIMIT": "40"}) == 40
    assert limit_from_env({"AEKIT_TEST_TIME_LIMIT": "0"}) == 0
    with pytest.raises(pytest.UsageError, match=r"AEKIT_TEST_TIME_LIMIT='soon' is not a number of seconds"):
        limit_from_env({"AEKIT_TEST_TIME_LIMIT": "soon"})


INNER = """
import os
import time
import pytest

@pytest.fixture(scope="module")
def trained():
    time.sleep(0.6)      # a shared fit: paid by the first test that asks for it

def test_quick():
    pass

def test_long():
    time.sleep(0.6)

def test_first_user_of_the_fit(trained):
    pass

def test_second_user_of_the_fit(trained):
    pass

@pytest.mark.quality
def test_long_quality_comparison():
    time.sleep(0.6)

def test_long_only_while_numba_compiles():
    time.sleep(0.6)
    os.environ["INNER_COMPILE_S"] = "0.6"   # what the clock below reads: 0.6 s of it was compiling
"""


class FakeCompileClock:
    def seconds(self):
        return float(os.environ.get("INNER_COMPILE_S", "0"))


class Reports:
    """Pytest plugin: keeps the call reports of a run."""

    def __init__(self):
        self.calls = {}

    def pytest_runtest_logreport(self, report):
        if report.when == "call":
            self.calls[report.nodeid.split("::")[-1]] = report


def test_the_guard_fails_a_default_tier_test_over_the_limit_and_names_it(tmp_path, monkeypatch):
    monkeypatch.setenv("INNER_COMPILE_S", "0")
    (tmp_path / "test_inner.py").write_text(INNER)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    quality: a quality comparison\n")
    reports = Reports()
    code = pytest.main(["-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), "-c", str(tmp_path / "pytest.ini"),
                        str(tmp_path / "test_inner.py")], plugins=[TimeGuard(0.5, FakeCompileClock()), reports])
    assert code == pytest.ExitCode.TESTS_FAILED
    failed = sorted(name for name, report in reports.calls.items() if report.failed)
    # not the second user of the fit, not the quality test, not the test whose time was numba compiling
    assert failed == ["test_first_user_of_the_fit", "test_long"], failed
    message = str(reports.calls["test_long"].longrepr)
    assert re.match(r"test_inner.py::test_long took \d+\.\d s \(setup 0\.\d s \+ call \d+\.\d s\), over the default "
                    r"tier's limit of 0.5 s per test: mark it quality/e2e/fuzz or make it smaller", message), message
    assert "AEKIT_TEST_TIME_LIMIT" in message, message
    message = str(reports.calls["test_first_user_of_the_fit"].longrepr)
    assert re.match(r"test_inner.py::test_first_user_of_the_fit took \d+\.\d s \(setup [1-9]?\d\.\d s \+ call 0\.\d s\)",
                    message) and "(setup 0.0" not in message, message
