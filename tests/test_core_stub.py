"""_core.pyi must stay true: the same public names, and each function's parameters in the same order
as the compiled module's own signatures (pybind11 puts them on the first docstring line)."""

import ast
import pathlib
import re

import pytest

import fastmetric
from fastmetric import _core

STUB = pathlib.Path(fastmetric.__file__).with_name("_core.pyi")


def _stub_tree():
    return ast.parse(STUB.read_text())


def _params_from_stub(fn):
    return [a.arg for a in fn.args.args]


def _params_from_doc(obj, name):
    first = (obj.__doc__ or "").strip().splitlines()[0]
    m = re.match(rf"{re.escape(name)}\((.*)\) ->", first)
    assert m, f"no pybind11 signature for {name}: {first!r}"
    inner = m.group(1)
    names = []
    depth = 0
    tok = ""
    for ch in inner + ",":
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            if tok.strip():
                names.append(tok.split(":")[0].strip())
            tok = ""
        else:
            tok += ch
    return names


def test_stub_and_typed_marker_ship_with_the_package():
    assert STUB.is_file()
    assert STUB.with_name("py.typed").is_file()


def test_stub_names_match_module():
    tree = _stub_tree()
    stub_names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    module_names = {n for n in dir(_core) if not n.startswith("_")}
    assert stub_names == module_names


@pytest.mark.parametrize("fn", [n for n in _stub_tree().body if isinstance(n, ast.FunctionDef)], ids=lambda f: f.name)
def test_stub_function_signatures(fn):
    assert _params_from_stub(fn) == _params_from_doc(getattr(_core, fn.name), fn.name)


@pytest.mark.parametrize("cls", [n for n in _stub_tree().body if isinstance(n, ast.ClassDef)], ids=lambda c: c.name)
def test_stub_class_methods(cls):
    real = getattr(_core, cls.name)
    for item in cls.body:
        if not isinstance(item, ast.FunctionDef):
            continue
        attr = getattr(real, item.name)
        if isinstance(attr, property):
            continue
        assert _params_from_stub(item) == _params_from_doc(attr, item.name), (cls.name, item.name)
    public = {n for n in dir(real) if not n.startswith("_")}
    stubbed = {i.name for i in cls.body if isinstance(i, ast.FunctionDef) and not i.name.startswith("_")}
    assert public == stubbed
