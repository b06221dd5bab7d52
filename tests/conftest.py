"""Shared fixtures and the one place where tolerances live."""

import os

import numpy as np
import pytest

import fastmetric

# Awkward feature counts: around SIMD widths (4, 8, 16) and the KC=256 feature block.
DIMS = (1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 97)
DIMS_SHORT = (1, 7, 17, 33, 65)

ISAS = fastmetric.get_config()["available_isas"]

# Property tests (hypothesis): the same examples on every run, so that CI's verdict is the code's and
# not the draw's. FASTMETRIC_HYPOTHESIS=explore draws new examples each run (and keeps the failures
# it finds in .hypothesis/), for bug hunting -- the last one found this way is a regression test in
# test_semantics.py.
try:
    from hypothesis import settings as _hyp_settings

    _hyp_settings.register_profile("deterministic", derandomize=True, database=None)
    _hyp_settings.register_profile("explore", derandomize=False)
    _hyp_settings.load_profile(
        "explore" if os.environ.get("FASTMETRIC_HYPOTHESIS", "").lower() == "explore" else "deterministic"
    )
except ImportError:  # pragma: no cover - hypothesis is in the test extra
    pass


def rtol_for(dtype, d=1):
    """Relative tolerance against a float64 reference computed from the same (rounded) inputs.

    float64: 1e-12. float32: 1e-5 (the documented bound of the Euclidean family), loosened as
    sqrt(d/16) for the sum-shaped metrics whose float32 accumulation error grows with d.
    """
    if np.dtype(dtype) == np.float64:
        return 1e-12
    return 1e-5 * max(1.0, np.sqrt(d / 16.0))


def atol_for(dtype, d=1):
    """Absolute tolerance for quantities of order 1 (cosine / correlation distances, kernels)."""
    if np.dtype(dtype) == np.float64:
        return 1e-13 * max(1.0, np.sqrt(d))
    return 2e-6 * max(1.0, np.sqrt(d / 16.0))


def assert_close(actual, expected, dtype, d=1, *, atol=None, rtol=None):
    rtol = rtol_for(dtype, d) if rtol is None else rtol
    atol = 0.0 if atol is None else atol
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected, rtol=rtol, atol=atol)


@pytest.fixture(params=ISAS)
def isa(request):
    """Run a test once per instruction set this machine has (generic is always there)."""
    fastmetric.set_isa(request.param)
    yield request.param
    fastmetric.set_isa(os.environ.get("FASTMETRIC_ISA", "best"))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="module")
def client():
    """A real 2-process Dask cluster (one thread per worker), one per test module that asks for it."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, memory_limit="2GiB"
    )
    c = distributed.Client(cluster, set_as_default=False)
    yield c
    c.close()
    cluster.close()
