"""Every public function of the documented modules carries a numpydoc Examples section, and every
example runs and prints what its docstring says (doctest). The API reference (docs/api.rst) renders
these docstrings, so a stale example fails here before it reaches the site."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

#: modules whose public functions and classes must each have a running example
DOCUMENTED = ["fastmetric.kernels"]


def _public(module):
    for name in getattr(module, "__all__", ()):
        obj = getattr(module, name)
        if callable(obj):
            yield name, obj


@pytest.mark.parametrize("modname", DOCUMENTED)
def test_every_public_name_has_an_example(modname):
    module = importlib.import_module(modname)
    missing = [name for name, obj in _public(module) if "Examples\n    --------" not in (obj.__doc__ or "")]
    assert not missing, f"{modname}: no Examples section in {missing}"


@pytest.mark.parametrize("modname", DOCUMENTED)
def test_examples_run(modname):
    module = importlib.import_module(modname)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    with np.printoptions(legacy=False):
        for name, obj in _public(module):
            for test in finder.find(obj, name, module=module, globs={}):
                runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest lines of {modname} failed (see above)"
