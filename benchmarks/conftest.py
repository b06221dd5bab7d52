"""pytest-benchmark harness: every case runs fastmetric, the numpy baseline and each installed peer
side by side in one process on the same data.

A bench module defines ``CASES`` (a list of :class:`fastmetric._bench.Case`) and a test taking the
``case_impl`` and ``run_impl`` fixtures; ``pytest_generate_tests`` below parametrises it over every
(case, implementation) pair, so a missing peer skips only its own row. The cases, baselines and data
are the ones of ``python -m fastmetric bench`` (``fastmetric/_bench.py``), so both report the same
thing. Environment variables (sizes, rounds, the opt-in memory cases) are listed in README.md here.
"""

from __future__ import annotations

import os
import re

import pytest

from fastmetric import _bench, get_config

SIZES = _bench.Sizes.from_env()
ROUNDS = int(os.environ.get("FM_BENCH_ROUNDS") or 3)


def pytest_collect_file(file_path, parent):
    """Collect ``bench_*.py`` here as test modules (pytest's default pattern is ``test_*.py``)."""
    if file_path.suffix == ".py" and file_path.name.startswith("bench_") and not parent.session.isinitpath(file_path):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def pytest_report_header(config):
    cfg = get_config()
    return [
        f"fastmetric {cfg['version']}: isa={cfg['isa']} openmp={cfg['openmp']} threads={cfg['max_threads']}; "
        f"numpy BLAS: {_bench.blas_info()}",
        f"bench sizes: {SIZES}; rounds={ROUNDS} (+1 warm-up)",
    ]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_")


def pytest_generate_tests(metafunc):
    if "case_impl" in metafunc.fixturenames:
        cases = metafunc.module.CASES
        params = [
            pytest.param((case, impl), id=f"{_slug(case.name)}-{_slug(impl.label)}")
            for case in cases
            for impl in case.impls
        ]
        metafunc.parametrize("case_impl", params)


@pytest.fixture
def run_impl(benchmark):
    """Time one implementation of one case: warm-up, then ``ROUNDS`` single calls (pytest-benchmark
    reports their median). Skips when the implementation is unavailable (peer not installed)."""

    def run(case, impl):
        try:
            fn = impl.factory()
        except _bench.Unavailable as exc:
            pytest.skip(str(exc))
        benchmark.group = case.name
        # time_scale: the scipy mahalanobis row runs on a subsample; plot_results multiplies by it
        benchmark.extra_info.update({"case": case.name, "impl": impl.label, "time_scale": impl.scale})
        benchmark.pedantic(fn, rounds=ROUNDS, iterations=1, warmup_rounds=1)

    return run


@pytest.fixture
def run_memory(benchmark):
    """Run one peak-memory spec of ``_bench.memory_cases`` in a child process (opt-in: FM_BENCH_MEMORY=1)."""

    def run(spec):
        if not os.environ.get("FM_BENCH_MEMORY"):
            pytest.skip("memory cases are opt-in: set FM_BENCH_MEMORY=1 (pdist 50k x 64 writes a 5 GB output)")
        benchmark.group = "peak memory"
        result = {}
        benchmark.pedantic(lambda: result.update(_bench.measure_memory(spec)), rounds=1, iterations=1)
        benchmark.extra_info.update({"impl": "fastmetric", "memory": True, **result})
        print(
            f"\n{result['case']}: peak {result['peak_mb']:.0f} MB (before call {result['before_mb']:.0f} MB), "
            f"budget {result['budget_mb']:.0f} MB ({result['budget']})"
        )
        return result

    return run
