"""Each SIMD lane's cancellation flag sends its own pair to the exact recompute.

The epilogues turn a vector compare into a bit mask, one bit per lane, and recompute the flagged
pairs directly. A mask that repeats lane 0's bit (as a GCC 12 sanitizer build of the generic ISA
did: bounds + shift checks on a vector subscript) leaves a near-duplicate in any other lane with
the expansion's cancellation error, which no other test pins to a lane. Here the one near pair
takes every column position 0 .. 40 of a tile row, so it lands in every lane of every ISA's width
(4 .. 16 floats), and in the scalar tail.
"""

import numpy as np
import pytest

import fastmetric as fm

N_COLS = 41  # not a multiple of any vector width: the last columns take the scalar tail


def _near_pair_data(pos, dtype, near):
    """x far from the origin, every reference at distance ~1 from it except column pos."""
    rng = np.random.default_rng(pos)
    d = 3
    x = np.full((1, d), 100.0)
    Y = x + rng.choice([-1.0, 1.0], size=(N_COLS, d))
    Y[pos] = x + near * np.array([1.0, -0.5, 0.25])
    return x.astype(dtype), Y.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sqeuclidean_near_pair_recomputed_in_every_lane(isa, dtype):
    near = 1e-3 if dtype == np.float32 else 1e-7
    for pos in range(N_COLS):
        x, Y = _near_pair_data(pos, dtype, near)
        ref = float(((x[0].astype(np.float64) - Y[pos].astype(np.float64)) ** 2).sum())
        got = fm.cdist(x, Y, "sqeuclidean")[0, pos]
        # uncorrected, the expansion is off by ~1e-1 (float32) / ~1e-2 (float64) relative here
        assert abs(float(got) - ref) <= 1e-5 * ref, (isa, pos, float(got), ref)


def test_cosine_near_parallel_pair_recomputed_in_every_lane(isa):
    rng = np.random.default_rng(7)
    x = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    for pos in range(N_COLS):
        Y = rng.standard_normal((N_COLS, 3))
        Y[pos] = x * 3.0 + np.array([1e-3, -2e-3, 1e-3])  # angle ~2e-4: distance ~2e-8
        Y = Y.astype(np.float32)
        u, v = x[0].astype(np.float64), Y[pos].astype(np.float64)
        ref = float(1.0 - u @ v / np.sqrt((u @ u) * (v @ v)))  # float64: ~1e-16 absolute on ~2e-8
        got = fm.cdist(x, Y, "cosine")[0, pos]
        # uncorrected, 1 - x.y in float32 is off by up to ~6e-8 on this ~2e-8
        assert abs(float(got) - ref) <= 1e-3 * ref, (isa, pos, float(got), ref)


def _pair_softmax_oracle(Z, y, objective):
    """loss and dloss/dZ of nca / mlkr with dense n x n float64 matrices."""
    Z = np.asarray(Z, dtype=np.float64)
    D = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    P = np.exp(-(D - D.min(axis=1, keepdims=True)))
    P /= P.sum(axis=1, keepdims=True)
    if objective == "nca":
        m = (y[:, None] == y[None, :]).astype(np.float64)
        p = (P * m).sum(axis=1)
        W = P * (m - p[:, None])
        loss, scale = -p.sum(), 2.0
    else:
        yhat = P @ y
        e = yhat - y
        W = P * e[:, None] * (y[None, :] - yhat[:, None])
        loss, scale = float(e @ e), -4.0
    S = W + W.T
    return loss, scale * (S.sum(axis=1)[:, None] * Z - S @ Z)


@pytest.mark.parametrize("objective", ["nca", "mlkr"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pair_sweep_row_ops_in_every_lane(isa, objective, dtype):
    """The sweep's row ops (fused S rows, selections by compress or branchless stores, gather / scatter
    products with k tails) at every lane position: 101 rows in tiles of 48 (rows and columns end in
    every ISA's scalar tail), k = 5 and 17 (not a multiple of any width), broad and peaked kernels,
    both modes, with and without pass 1's caches, against the float64 oracle."""
    from fastmetric import _core

    rng = np.random.default_rng(11)
    n = 101
    for k in (5, 17):
        for scale in (0.4, 1.5):
            Z = rng.standard_normal((n, k)) * scale / np.sqrt(k / 4)
            labels = rng.integers(0, 4, n)
            y = (labels if objective == "nca" else Z[:, 0] - 0.5 * Z[:, -1]).astype(np.float64)
            ref_loss, ref_G = _pair_softmax_oracle(Z.astype(dtype), y, objective)
            tol = 1e-9 if dtype == np.float64 else 2e-4
            for cache_bytes in (0, 1 << 26):
                sweep = _core.PairSweep(y, objective, cache_bytes=cache_bytes, tile=48)
                for mode in ("dense", "sparse"):
                    loss, G = sweep.evaluate(Z.astype(dtype), 1, False, mode)
                    ctx = (isa, k, scale, cache_bytes, mode)
                    assert loss == pytest.approx(ref_loss, rel=tol, abs=tol), ctx
                    assert np.abs(G - ref_G).max() <= tol * max(1.0, np.abs(ref_G).max()), ctx
