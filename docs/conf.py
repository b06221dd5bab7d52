"""Sphinx configuration of fastmetric's documentation site.

Build (the README's command): ``pip install ".[docs]" && python -m sphinx -W -b html docs docs/_build/html``.
Warnings are errors; the gallery (``examples/``) is executed on every build, so every example runs.
"""

from __future__ import annotations

import os
import sys

import fastmetric

project = "fastmetric"
author = "the fastmetric developers"
copyright = "2026, the fastmetric developers"
release = fastmetric.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints", "sg_execution_times.rst"]
templates_path = []

autosummary_generate = True
autodoc_default_options = {"members": False, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_validation_checks: set[str] = set()
# the docstrings write `x` for code; keep it code rather than italic references
default_role = "literal"

intersphinx_mapping = {}  # no network at build time: nothing is fetched

myst_heading_anchors = 3

sphinx_gallery_conf = {
    "examples_dirs": os.path.join("..", "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r".*\.py$",  # run every example, not only plot_*
    "ignore_pattern": r"__init__\.py|_helpers\.py",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "matplotlib_animations": False,
    "plot_gallery": "True",
    "reset_modules": ("matplotlib",),
}

html_theme = "alabaster"
html_static_path: list[str] = []
html_title = f"fastmetric {release}"
html_theme_options = {
    "description": "Fast, exact distances, k-NN and metric learning",
    "fixed_sidebar": True,
}

# examples and the benchmarks page read files relative to the repository root
sys.path.insert(0, os.path.abspath(os.path.join("..", "benchmarks")))
os.environ.setdefault("FASTMETRIC_DOCS_BUILD", "1")
# the gallery's metric-layer example: its short settings and the numpy extractor (no CNN training in the
# documentation build, whether or not PyTorch is installed)
os.environ.setdefault("FASTMETRIC_EXAMPLE_QUICK", "1")
os.environ.setdefault("FASTMETRIC_EXAMPLE_EXTRACTOR", "numpy")
