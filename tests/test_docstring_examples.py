"""Every name of the API reference (docs/api.rst) carries a numpydoc Examples section, and every
example runs and prints what its docstring says (doctest). The site renders these docstrings, so a
stale example fails here before it reaches the documentation."""

from __future__ import annotations

import doctest
import importlib
import os
import re

import pytest

API_RST = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "api.rst")


def _api_names():
    """(module, name) of every autosummary entry of docs/api.rst, in order."""
    names, module, in_summary = [], None, False
    with open(API_RST, encoding="utf-8") as fh:
        for line in fh:
            m = re.match(r"\.\. currentmodule:: (\S+)", line)
            if m:
                module = m.group(1)
                continue
            if line.startswith(".. autosummary::"):
                in_summary = True
                continue
            if in_summary:
                if line.strip().startswith(":") or not line.strip():
                    continue
                if line.startswith("   "):
                    names.append((module, line.strip()))
                    continue
                in_summary = False
    return names


API = _api_names()


def _object(module, name):
    return getattr(importlib.import_module(module), name)


def test_the_api_page_lists_the_public_names():
    listed = {f"{m}.{n}" for m, n in API}
    import fastmetric

    for name in fastmetric.__all__:
        obj = getattr(fastmetric, name)
        if callable(obj) and not isinstance(obj, type(fastmetric)):
            assert f"fastmetric.{name}" in listed, f"fastmetric.{name} is public but not in docs/api.rst"
    assert len(API) > 30


@pytest.mark.parametrize(("module", "name"), API, ids=[f"{m}.{n}" for m, n in API])
def test_example_runs(module, name):
    obj = _object(module, name)
    doc = obj.__doc__ or ""
    assert "Examples\n    --------" in doc, f"{module}.{name} has no Examples section"
    tests = doctest.DocTestFinder(exclude_empty=True, recurse=False).find(obj, name, globs={})
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    for t in tests:
        runner.run(t)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of {result.attempted} example lines of {module}.{name} failed"
