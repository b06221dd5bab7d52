"""The pair sweep's block-pair entry points (_core.pair_block_lse / pair_block_grad, pair_block.hpp),
the kernels of NCA / MLKR on Dask (issue 14), against a float64 numpy reference of one block pair."""

from __future__ import annotations

import numpy as np
import pytest

from fastmetric import _core


def _d2(A, B):
    return ((A[:, None, :].astype(np.float64) - B[None, :, :].astype(np.float64)) ** 2).sum(-1)


def _w(objective, yr, yc):
    """w(i, j) for rows yr and columns yc."""
    if objective == "nca":
        return (yr[:, None] == yc[None, :]).astype(np.float64)
    return np.broadcast_to(yc[None, :], (yr.shape[0], yc.shape[0])).astype(np.float64)


def _state_ref(objective, A, yA, B, yB, diag):
    """Reference (log-sum-exp -m + log s... as lse = log sum exp(-d), q = w / s) of A's rows over B."""
    D = _d2(A, A if diag else B)
    if diag:
        np.fill_diagonal(D, np.inf)
    m = D.min(axis=1)
    E = np.exp(m[:, None] - D)
    W = _w(objective, yA, yA if diag else yB)
    return np.log(E.sum(1)) - m, (E * W).sum(1) / E.sum(1)


def _check_state(state, ref, tol):
    m, s, w = state
    lse, q = ref
    np.testing.assert_allclose(np.log(s) - m, lse, rtol=0, atol=tol * (1 + np.abs(lse).max()))
    np.testing.assert_allclose(w / s, q, rtol=0, atol=tol * (1 + np.abs(q).max()))


def _problem(rng, objective, nA, nB, d, scale, dtype):
    A = (rng.standard_normal((nA, d)) * scale).astype(dtype)
    B = (rng.standard_normal((nB, d)) * scale + 0.3).astype(dtype)
    if objective == "nca":
        yA, yB = rng.integers(0, 3, nA).astype(np.float64), rng.integers(0, 3, nB).astype(np.float64)
    else:
        yA, yB = rng.standard_normal(nA), rng.standard_normal(nB)
    return A, yA, B, yB


CASES = [(1, 5, 1), (37, 301, 7), (130, 2, 17), (96, 96, 33), (61, 200, 65)]


@pytest.mark.parametrize("objective", ["nca", "mlkr"])
@pytest.mark.parametrize(("nA", "nB", "d"), CASES)
@pytest.mark.parametrize("mode", ["auto", "dense", "sparse"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pass1_states_equal_reference(rng, objective, nA, nB, d, mode, dtype):
    scale = 2.0 / np.sqrt(d)  # mean distance ~8: both modes' screens drop pairs
    A, yA, B, yB = _problem(rng, objective, nA, nB, d, scale, dtype)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    sa, sb = _core.pair_block_lse(objective, A, yA, B, yB, False, 1, mode)
    assert sa.shape == (3, nA) and sb.shape == (3, nB)
    _check_state(sa, _state_ref(objective, A, yA, B, yB, False), tol)
    _check_state(sb, _state_ref(objective, B, yB, A, yA, False), tol)
    if nA >= 2:
        sd, none = _core.pair_block_lse(objective, A, yA, None, None, True, 1, mode)
        assert none is None
        _check_state(sd, _state_ref(objective, A, yA, None, None, True), tol)


def _factors_ref(objective, Z, y, weight):
    """The merged per-row values of the whole Z: (4, n) m, log s - m, alpha, beta."""
    D = _d2(Z, Z)
    np.fill_diagonal(D, np.inf)
    m = D.min(axis=1)
    E = np.exp(m[:, None] - D)
    s = E.sum(1)
    q = (E * _w(objective, y, y)).sum(1) / s
    if objective == "nca":
        alpha, beta = np.ones_like(q), q
    else:
        alpha, beta = q - y, (q - y) * q
    return np.stack([m, np.log(s) - m, alpha * weight, beta * weight])


def _b_ref(objective, ZA, yA, FA, ZB, yB, FB, diag):
    """b_i = sum_j S_ij (z_i - z_j) of A's rows over B's (diag: over A's other rows)."""
    D = _d2(ZA, ZB)
    if diag:
        np.fill_diagonal(D, np.inf)
    P = np.exp(-D - FA[1][:, None])  # p_ij
    PT = np.exp(-D - FB[1][None, :])  # p_ji
    S = P * (FA[2][:, None] * _w(objective, yA, yB) - FA[3][:, None]) + PT * (
        FB[2][None, :] * _w(objective, yB, yA).T - FB[3][None, :]
    )
    return S.sum(1)[:, None] * ZA.astype(np.float64) - S @ ZB.astype(np.float64)


@pytest.mark.parametrize("objective", ["nca", "mlkr"])
@pytest.mark.parametrize(("nA", "nB", "d"), CASES)
@pytest.mark.parametrize("mode", ["auto", "dense", "sparse"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pass2_shares_equal_reference(rng, objective, nA, nB, d, mode, dtype):
    A, yA, B, yB = _problem(rng, objective, nA, nB, d, 2.0 / np.sqrt(d), dtype)
    weight = rng.uniform(0.0, 2.0, nA + nB)
    Z = np.vstack([A, B])
    F = _factors_ref(objective, Z, np.concatenate([yA, yB]), weight)
    FA, FB = np.ascontiguousarray(F[:, :nA]), np.ascontiguousarray(F[:, nA:])
    tol = 1e-10 if dtype == np.float64 else 1e-4
    ba, bb = _core.pair_block_grad(objective, A, yA, FA, B, yB, FB, False, 1, mode)
    ra = _b_ref(objective, A, yA, FA, B, yB, FB, False)
    rb = _b_ref(objective, B, yB, FB, A, yA, FA, False)
    top = max(np.abs(ra).max(), np.abs(rb).max(), 1e-300)
    assert ba.shape == (nA, d) and bb.shape == (nB, d) and ba.dtype == np.float64
    np.testing.assert_allclose(ba, ra, rtol=0, atol=tol * top)
    np.testing.assert_allclose(bb, rb, rtol=0, atol=tol * top)
    bd, none = _core.pair_block_grad(objective, A, yA, FA, None, None, None, True, 1, mode)
    assert none is None
    rd = _b_ref(objective, A, yA, FA, A, yA, FA, True)
    np.testing.assert_allclose(bd, rd, rtol=0, atol=tol * max(np.abs(rd).max(), 1e-300))


@pytest.mark.parametrize("objective", ["nca", "mlkr"])
def test_far_apart_blocks_screen_every_pair_away(rng, objective):
    """Two blocks 1e3 apart: pass 2 (the merged minima from the blocks' own rows) keeps no pair."""
    A, yA, B, yB = _problem(rng, objective, 40, 50, 5, 0.5, np.float64)
    B = B + 1000.0
    Z = np.vstack([A, B])
    F = _factors_ref(objective, Z, np.concatenate([yA, yB]), np.ones(90))
    for mode in ["auto", "dense", "sparse"]:
        ba, bb = _core.pair_block_grad(objective, A, yA, F[:, :40].copy(), B, yB, F[:, 40:].copy(), False, 1, mode)
        assert not ba.any() and not bb.any()
        sa, sb = _core.pair_block_lse(objective, A, yA, B, yB, False, 1, mode)
        assert np.all(sa[1] > 0) and np.all(sb[1] > 0)  # the block-local nearest pair is always kept


@pytest.mark.parametrize("objective", ["nca", "mlkr"])
def test_results_independent_of_threads_and_tiles(rng, objective):
    """Many tiles a side (tile 8): the rectangle's wavefront on 1 or 3 threads gives the same bits."""
    A, yA, B, yB = _problem(rng, objective, 150, 170, 9, 0.6, np.float64)
    F = _factors_ref(objective, np.vstack([A, B]), np.concatenate([yA, yB]), np.ones(320))
    FA, FB = np.ascontiguousarray(F[:, :150]), np.ascontiguousarray(F[:, 150:])
    for mode in ["dense", "sparse"]:
        s1 = _core.pair_block_lse(objective, A, yA, B, yB, False, 1, mode, 8)
        s3 = _core.pair_block_lse(objective, A, yA, B, yB, False, 3, mode, 8)
        g1 = _core.pair_block_grad(objective, A, yA, FA, B, yB, FB, False, 1, mode, 8)
        g3 = _core.pair_block_grad(objective, A, yA, FA, B, yB, FB, False, 3, mode, 8)
        for x, y in zip(s1 + g1, s3 + g3, strict=True):
            np.testing.assert_array_equal(x, y)
        ref = _b_ref(objective, A, yA, FA, B, yB, FB, False)
        np.testing.assert_allclose(g1[0], ref, rtol=0, atol=1e-10 * np.abs(ref).max())


def test_empty_and_single_row_blocks(rng):
    A, yA, B, yB = _problem(rng, "nca", 1, 0, 3, 1.0, np.float64)
    sd, _ = _core.pair_block_lse("nca", A, yA, None, None, True)
    assert np.isinf(sd[0]).all() and not sd[1:].any()  # one row alone: no pair
    sa, sb = _core.pair_block_lse("nca", A, yA, B, yB, False)
    assert sa.shape == (3, 1) and sb.shape == (3, 0) and np.isinf(sa[0]).all()
    F = np.zeros((4, 1))
    ba, bb = _core.pair_block_grad("nca", A, yA, F, B, yB, np.zeros((4, 0)), False)
    assert ba.shape == (1, 3) and bb.shape == (0, 3) and not ba.any()


def test_bad_inputs_raise_clear_errors(rng):
    A, yA, B, yB = _problem(rng, "mlkr", 10, 12, 4, 1.0, np.float64)
    with pytest.raises(TypeError, match="one dtype"):
        _core.pair_block_lse("mlkr", A, yA, B.astype(np.float32), yB, False)
    with pytest.raises(ValueError, match="same number of columns"):
        _core.pair_block_lse("mlkr", A, yA, B[:, :3].copy(), yB, False)
    with pytest.raises(ValueError, match=r"yB must be .* shape \(12,\)"):
        _core.pair_block_lse("mlkr", A, yA, B, yB[:5], False)
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.pair_block_lse("mlkr", np.asfortranarray(A), yA, B, yB, False)
    with pytest.raises(ValueError, match="ZB and yB"):
        _core.pair_block_lse("mlkr", A, yA, None, None, False)
    with pytest.raises(ValueError, match="objective"):
        _core.pair_block_lse("lmnn", A, yA, B, yB, False)
    with pytest.raises(ValueError, match="mode"):
        _core.pair_block_lse("mlkr", A, yA, B, yB, False, 1, "fast")
    with pytest.raises(ValueError, match=r"factors_A must be .* shape \(4, 10\)"):
        _core.pair_block_grad("mlkr", A, yA, np.zeros((3, 10)), B, yB, np.zeros((4, 12)), False)
    with pytest.raises(ValueError, match="finite"):
        _core.pair_block_lse("mlkr", np.full_like(A, np.nan), yA, B, yB, False)


def test_calls_independent_of_earlier_calls(rng):
    """Each thread reuses one driver's buffers: a call gives the same bits after calls of other shapes,
    modes, dtypes and kinds (diagonal / rectangle)."""
    A, yA, B, yB = _problem(rng, "nca", 70, 90, 6, 0.8, np.float64)
    F = _factors_ref("nca", np.vstack([A, B]), np.concatenate([yA, yB]), np.ones(160))
    FA, FB = np.ascontiguousarray(F[:, :70]), np.ascontiguousarray(F[:, 70:])

    def both():
        return _core.pair_block_lse("nca", A, yA, B, yB, False, 1, "sparse") + _core.pair_block_grad(
            "nca", A, yA, FA, B, yB, FB, False, 1, "sparse"
        )

    first = both()
    C, yC, D, yD = _problem(rng, "nca", 300, 11, 6, 3.0, np.float64)
    _core.pair_block_lse("nca", C, yC, None, None, True, 2, "dense", 8)
    _core.pair_block_lse("nca", C, yC, D, yD, False, 1, "dense")
    _core.pair_block_grad("nca", D, yD, np.ones((4, 11)), None, None, None, True, 1, "sparse")
    _core.pair_block_lse("nca", C.astype(np.float32), yC, D.astype(np.float32), yD, False)
    for x, y in zip(first, both(), strict=True):
        np.testing.assert_array_equal(x, y)
