"""The pair sweep's per-evaluation setup (centring, |z|^2, the micro-panel and feature-panel copies):
large enough for the copies to run on the team, row counts off the 8-row blocks and the panel
widths, every ISA; results bitwise identical across 1, 2, 3 threads, dense and
sparse agreeing to rounding, non-finite Z refused inside C++ and huge finite Z not refused."""

import numpy as np
import pytest

from fastmetric import _core


def _problem(n, k, seed, scale):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, k)) * scale
    labels = rng.integers(0, 4, n).astype(np.float64)
    targets = Z[:, 0] - 0.3 * Z[:, -1]
    return Z, labels, targets


# n x k above 2^18 (the copies on the team) and below (one thread), n % 8 != 0, k off every width
@pytest.mark.parametrize(("n", "k"), [(2100, 127), (1257, 17)])
@pytest.mark.parametrize("objective", ["nca", "mlkr"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_threads_layouts_and_modes(isa, n, k, objective, dtype):
    Z, labels, targets = _problem(n, k, seed=n + k, scale=0.35)
    y = labels if objective == "nca" else targets
    Z = Z.astype(dtype)
    sweep = _core.PairSweep(y, objective)
    out = {}
    for mode in ("dense", "sparse"):
        ref = sweep.evaluate(Z, 1, True, mode)
        for nt in (2, 3):
            got = sweep.evaluate(Z, nt, True, mode)
            assert got[0] == ref[0]
            assert np.array_equal(got[1], ref[1])
            assert np.array_equal(got[2], ref[2])
        out[mode] = ref
    tol = 1e-8 if dtype == np.float64 else 2e-3
    (ld, Gd, pd), (ls, Gs, ps) = out["dense"], out["sparse"]
    assert ls == pytest.approx(ld, rel=tol, abs=tol)
    assert np.abs(Gs - Gd).max() <= tol * max(1.0, np.abs(Gd).max())
    assert np.abs(ps - pd).max() <= tol


def test_shift_invariance_through_the_centring():
    # the sweep centres Z itself: a large common offset changes nothing beyond its rounding
    Z, labels, _ = _problem(300, 7, seed=3, scale=0.5)
    sweep = _core.PairSweep(labels, "nca")
    loss, G = sweep.evaluate(Z, 2)
    loss2, G2 = sweep.evaluate(Z + 1e3, 2)
    assert loss2 == pytest.approx(loss, rel=1e-9)
    assert np.abs(G2 - G).max() <= 1e-7 * max(1.0, np.abs(G).max())


def test_non_finite_refused_and_huge_finite_accepted():
    y = np.arange(10.0)
    sweep = _core.PairSweep(y, "mlkr")
    for bad in (np.inf, -np.inf, np.nan):
        Z = np.ones((10, 3))
        Z[7, 2] = bad
        with pytest.raises(ValueError, match="finite"):
            sweep.evaluate(Z)
    # the sum of squares overflows, no entry does: not an error (each pair's kernel weight is 0 but
    # its own nearest; the loss stays finite)
    Z = np.full((10, 3), 1e200)
    Z[::2] *= -1
    loss, G = sweep.evaluate(Z)
    assert np.isfinite(loss)
    assert G.shape == Z.shape
