"""The Examples sections of the estimators' docstrings run and show what they print (stdlib doctest).

Every docstring with ``>>>`` lines in the modules of :mod:`aekit.estimators` is one test, and every registered
task estimator must have such an Examples section (numpydoc, STYLE.md rule 9).
"""
import doctest
import importlib
import inspect
import pkgutil
import re

import pytest

import aekit.estimators
from aekit.estimators import estimator_class, list_estimators

MODULES = [importlib.import_module(f"{aekit.estimators.__name__}.{info.name}")
           for info in pkgutil.iter_modules(aekit.estimators.__path__)]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _doctests():
    finder = doctest.DocTestFinder(exclude_empty=True)
    return sorted((test for module in MODULES for test in finder.find(module) if test.examples),
                  key=lambda test: test.name)


@pytest.mark.parametrize("test", _doctests(), ids=lambda test: test.name)
def test_docstring_examples_run(test):
    report = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    result = runner.run(test, out=report.append)
    assert result.attempted and not result.failed, "".join(report)


@pytest.mark.parametrize("name", list_estimators())
def test_every_task_estimator_has_an_examples_section(name):
    doc = inspect.getdoc(estimator_class(name)) or ""
    section = re.search(r"^Examples\n-{3,}\n(.*?)(?:^\S.*\n-{3,}\n|\Z)", doc, re.S | re.M)
    assert section and ">>> " in section.group(1), f"{name} has no numpydoc Examples section with >>> lines"
