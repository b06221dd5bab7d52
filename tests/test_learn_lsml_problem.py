"""LSML's comparison work in C++ (``_core.LsmlProblem``, learn/lsml.hpp) against float64 numpy
references: the forms d_M^2 of index pairs into points, the gradient of the comparison loss, the
step losses of the line search and one iteration's fused passes; over awkward feature counts and
point counts that are not tile multiples, pairs with a == b and given in either order, zero
weights, every instruction set and thread count; bad input. The descent (``descend``, its d x d
algebra on fastmetric's own Cholesky and eigensolver) against a step-by-step numpy / LAPACK
reference on the same passes here, and against a naive replay of metric-learn's loop in
test_learn_lsml.py, for both of its paths (the differences of 3-D quadruplets, the points and index
pairs of LSML_Supervised)."""

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from conftest import DIMS_SHORT  # noqa: E402

from fastmetric import _core  # noqa: E402
from fastmetric.learn.lsml import lsml_gradient, lsml_loss  # noqa: E402


def _setup(rng, n, d, m, zero_weights=True):
    P = rng.standard_normal((n, d))
    idx = rng.integers(0, n, size=(m, 4))
    if m:
        idx[0, 1] = idx[0, 0]  # a zero difference (a == b)
        idx[-1, 3] = idx[-1, 2]
    pairs = np.ascontiguousarray(np.concatenate((idx[:, 0:2], idx[:, 2:4])), dtype=np.int64)
    w = rng.random(m) + 0.1
    if zero_weights and m > 2:
        w[1] = 0.0
    w /= max(w.sum(), 1.0)
    A = rng.standard_normal((d, d))
    M = A @ A.T / d + 0.5 * np.eye(d)
    return P, idx, pairs, w, M


def _diffs(P, idx):
    return P[idx[:, 0]] - P[idx[:, 1]], P[idx[:, 2]] - P[idx[:, 3]]


def _ref_forms(V, M):
    return np.einsum("ij,jk,ik->i", V, M, V)


def _ref_comparison_gradient(M, Vab, Vcd, w):
    """lsml_gradient without its LogDet part (prior_inv - M^-1), symmetrised as it is."""
    d = M.shape[0]
    G = lsml_gradient(M, Vab, Vcd, w, np.zeros((d, d)), M_inv=np.zeros((d, d)))
    return G


def _ref_comparison_loss(Q, w, m):
    ab, cd = np.maximum(Q[:m], 0), np.maximum(Q[m:], 0)
    r = np.sqrt(ab) - np.sqrt(cd)
    return float(np.where(Q[:m] > Q[m:], w * r * r, 0.0).sum())


@pytest.mark.parametrize("d", DIMS_SHORT)
@pytest.mark.parametrize("n", [1, 5, 13, 61])
def test_forms_and_gradient_match_numpy(d, n, rng, isa):
    m = 3 * n + 2
    P, idx, pairs, w, M = _setup(rng, n, d, m)
    pb = _core.LsmlProblem(P, pairs, w)
    Vab, Vcd = _diffs(P, idx)
    q = pb.forms(M)
    q_ref = np.concatenate((_ref_forms(Vab, M), _ref_forms(Vcd, M)))
    scale = np.abs(q_ref).max() + 1e-300
    np.testing.assert_allclose(q, q_ref, rtol=1e-12, atol=1e-13 * scale)
    assert q[0] == 0.0 and q[2 * m - 1] == 0.0  # a == b: exactly 0
    G, loss = pb.gradient(q)
    G_ref = _ref_comparison_gradient(M, Vab, Vcd, w)
    np.testing.assert_allclose(G, G_ref, rtol=1e-11, atol=1e-13 * (np.abs(G_ref).max() + 1e-300))
    np.testing.assert_array_equal(G, G.T)  # the mirrored upper triangle
    loss_ref = lsml_loss(M, Vab, Vcd, w, np.zeros((d, d))) + np.linalg.slogdet(M)[1]
    assert loss == pytest.approx(loss_ref, rel=1e-11, abs=1e-14)


@pytest.mark.parametrize("d", [1, 7, 33])
def test_step_losses_and_descent_direction(d, rng, isa):
    n, m = 29, 70
    P, idx, pairs, w, M = _setup(rng, n, d, m)
    pb = _core.LsmlProblem(P, pairs, w)
    q = pb.forms(M)
    B = rng.standard_normal((d, d))
    H = B + 0.01 * B.T  # not symmetric: descent_direction symmetrises H + gradient
    G, g, loss = pb.descent_direction(q, H)
    Gc, loss_c = pb.gradient(q)
    G_ref = 0.5 * ((H + Gc) + (H + Gc).T)
    np.testing.assert_array_equal(G, G_ref)
    np.testing.assert_array_equal(G, G.T)
    assert loss == loss_c
    np.testing.assert_allclose(g, pb.forms(G), rtol=0, atol=0)
    Vab, Vcd = _diffs(P, idx)
    np.testing.assert_allclose(
        g, np.concatenate((_ref_forms(Vab, G), _ref_forms(Vcd, G))), rtol=1e-11, atol=1e-12 * np.abs(g).max()
    )
    ts = np.logspace(-10, 0, 10) / np.linalg.norm(G)
    losses = pb.step_losses(q, g, ts)
    for t, got in zip(ts, losses, strict=True):
        assert got == pytest.approx(_ref_comparison_loss(q - t * g, w, m), rel=1e-12, abs=1e-15)
    # any order of the steps, negative ones and a NaN too (which scores 0)
    odd = np.concatenate((ts[::-1][:4], -ts[:3], [np.nan], ts[4:7]))
    got = pb.step_losses(q, g, odd)
    for t, value in zip(odd, got, strict=True):
        ref = 0.0 if np.isnan(t) else _ref_comparison_loss(q - t * g, w, m)
        assert value == pytest.approx(ref, rel=1e-12, abs=1e-15)
    assert pb.step_losses(q, None, np.zeros(3)) == pytest.approx([loss] * 3, rel=1e-12)
    assert pb.step_losses(q, g, np.zeros(0)).shape == (0,)


def test_results_do_not_depend_on_threads(rng):
    P, idx, pairs, w, M = _setup(rng, 1500, 40, 3000)
    outs = []
    for nt in (1, 2, 3):
        pb = _core.LsmlProblem(P, pairs, w, nt)
        q = pb.forms(M)
        G, g, loss = pb.descent_direction(q, np.eye(40))
        outs.append((q, G, g, loss))
    for q, G, g, loss in outs[1:]:
        np.testing.assert_array_equal(q, outs[0][0])
        np.testing.assert_array_equal(G, outs[0][1])
        np.testing.assert_array_equal(g, outs[0][2])
        assert loss == outs[0][3]


def test_no_comparisons_and_no_violations(rng):
    P = rng.standard_normal((4, 3))
    pb = _core.LsmlProblem(P, np.zeros((0, 2), np.int64), np.zeros(0))
    assert pb.forms(np.eye(3)).shape == (0,)
    G, loss = pb.gradient(np.zeros(0))
    np.testing.assert_array_equal(G, np.zeros((3, 3)))
    assert loss == 0.0
    # every comparison satisfied: zero gradient and loss
    pairs = np.array([[0, 0], [1, 2]], np.int64)
    pb = _core.LsmlProblem(P, pairs, np.ones(1))
    G, loss = pb.gradient(pb.forms(np.eye(3)))
    np.testing.assert_array_equal(G, np.zeros((3, 3)))
    assert loss == 0.0


def test_bad_input(rng):
    P = rng.standard_normal((5, 3))
    good = np.array([[0, 1], [2, 3]], np.int64)
    with pytest.raises(ValueError, match="pair index 5 out of range for 5 points"):
        _core.LsmlProblem(P, np.array([[0, 1], [2, 5]], np.int64), np.ones(1))
    with pytest.raises(ValueError, match="pair index -1 out of range"):
        _core.LsmlProblem(P, np.array([[0, -1], [2, 3]], np.int64), np.ones(1))
    with pytest.raises(ValueError, match="2 m rows"):
        _core.LsmlProblem(P, np.array([[0, 1], [2, 3], [1, 2]], np.int64), np.ones(1))
    with pytest.raises(ValueError, match="w must have length 1"):
        _core.LsmlProblem(P, good, np.ones(2))
    with pytest.raises(ValueError, match="finite and non-negative"):
        _core.LsmlProblem(P, good, np.array([-1.0]))
    with pytest.raises(ValueError, match="finite and non-negative"):
        _core.LsmlProblem(P, good, np.array([np.nan]))
    with pytest.raises(ValueError, match="C-contiguous float64"):
        _core.LsmlProblem(P.astype(np.float32), good, np.ones(1))
    with pytest.raises(ValueError, match="C-contiguous int64"):
        _core.LsmlProblem(P, good.astype(np.int32), np.ones(1))
    with pytest.raises(ValueError, match="non-empty"):
        _core.LsmlProblem(np.zeros((0, 3)), np.zeros((0, 2), np.int64), np.zeros(0))
    pb = _core.LsmlProblem(P, good, np.ones(1))
    with pytest.raises(ValueError, match=r"M must be 3 x 3, got 2 x 2"):
        pb.forms(np.eye(2))
    with pytest.raises(ValueError, match="q must have length 2, got 3"):
        pb.gradient(np.zeros(3))
    with pytest.raises(ValueError, match="g must have length 2"):
        pb.step_losses(np.zeros(2), np.zeros(1), np.ones(2))


def test_one_problem_shared_by_threads(rng):
    """The problem's work buffers are shared by its calls: concurrent Python threads (the GIL is
    released) must get the results of one call at a time."""
    from concurrent.futures import ThreadPoolExecutor

    P, idx, pairs, w, M = _setup(rng, 800, 24, 1500)
    pb = _core.LsmlProblem(P, pairs, w)
    q = pb.forms(M)
    G_ref, g_ref, _ = pb.descent_direction(q, np.eye(24))

    def work(_):
        G, g, _ = pb.descent_direction(pb.forms(M), np.eye(24))
        return np.array_equal(G, G_ref) and np.array_equal(g, g_ref)

    with ThreadPoolExecutor(4) as ex:
        assert all(ex.map(work, range(40)))


def test_isa_switch_between_calls_and_one_shared_point(rng):
    """The panels are packed for the instruction set of the construction: a set_isa before a call
    changes nothing. Many pairs sharing one point (one large bucket of the pair sort) stay exact."""
    import os

    import fastmetric

    P = rng.standard_normal((3, 9))
    idx = rng.integers(0, 3, size=(20000, 4))
    pairs = np.ascontiguousarray(np.concatenate((idx[:, 0:2], idx[:, 2:4])), dtype=np.int64)
    w = np.full(20000, 1.0 / 20000)
    A = rng.standard_normal((9, 9))
    M = A @ A.T / 9 + np.eye(9)
    Vab, Vcd = _diffs(P, idx)
    q_ref = np.concatenate((_ref_forms(Vab, M), _ref_forms(Vcd, M)))
    G_ref = _ref_comparison_gradient(M, Vab, Vcd, w)
    for first in fastmetric.get_config()["available_isas"]:
        for then in fastmetric.get_config()["available_isas"]:
            try:
                fastmetric.set_isa(first)
                pb = _core.LsmlProblem(P, pairs, w)
                fastmetric.set_isa(then)
                q = pb.forms(M)
                G, _ = pb.gradient(q)
            finally:
                fastmetric.set_isa(os.environ.get("FASTMETRIC_ISA", "best"))
            np.testing.assert_allclose(q, q_ref, rtol=1e-12, atol=1e-12 * np.abs(q_ref).max())
            np.testing.assert_allclose(G, G_ref, rtol=1e-10, atol=1e-12 * np.abs(G_ref).max())


_STEPS = np.logspace(-10, 0, 10)


def _ref_descend(pb, M, prior_inv, tol, max_iter, floor=1e-8):
    """The descent LsmlProblem.descend runs, step by step in numpy/LAPACK on the problem's own passes:
    every candidate M - tG scored from its eigendecomposition (projected onto eigenvalues >= floor)
    and the forms q - t g, or a forms pass when the projection changes it."""
    q = pb.forms(M)
    w0 = np.linalg.eigvalsh(M)
    best = pb.step_losses(q, None, np.zeros(1))[0] + np.sum(M * prior_inv) - np.sum(np.log(w0))
    losses, it, converged = [best], 0, False
    for it in range(1, max_iter + 1):  # noqa: B007 - `it` is returned
        G, g, _ = pb.descent_direction(q, prior_inv - np.linalg.inv(M))
        gn = np.linalg.norm(G)
        if gn < tol:
            converged = True
            break
        ts = _STEPS / gn
        comparison = pb.step_losses(q, g, ts)
        found, chosen = None, None
        for i, t in enumerate(ts):
            cand = M - t * G
            wc, U = np.linalg.eigh(cand)
            qc = q - t * g
            if wc[0] < floor:
                wc = np.maximum(wc, floor)
                cand = (U * wc) @ U.T
                qc = pb.forms(cand)
                comparison[i] = pb.step_losses(qc, None, np.zeros(1))[0]
            loss = comparison[i] + np.sum(cand * prior_inv) - np.sum(np.log(wc))
            if loss < best:
                best, found, chosen = loss, i, (cand, qc)
        losses.append(best)
        if found is None:
            converged = True
            break
        M, q = chosen
        M = 0.5 * (M + M.T)
    return M, it, converged, best, np.array(losses)


@pytest.mark.parametrize(("d", "n", "m"), [(1, 13, 40), (7, 29, 70), (33, 61, 150)])
def test_descend_matches_a_step_by_step_reference(d, n, m, rng, isa):
    P, idx, pairs, w, M = _setup(rng, n, d, m)
    P[:, 0] *= 3.0  # a feature to shrink: large steps get projected
    pb = _core.LsmlProblem(P, pairs, w)
    B = rng.standard_normal((d, d))
    prior_inv = B @ B.T / d + np.eye(d)
    # 12 iterations: every decision of the line search is clear of rounding there (the smallest loss
    # decrease is 7e-8); later ones come down to 1e-16, where builds differ (-O1 under the sanitizers)
    for M0 in (np.eye(d), M):
        got = pb.descend(M0, prior_inv, _STEPS, 1e-8, 1e-7, 12)
        M_ref, it_ref, conv_ref, loss_ref, losses_ref = _ref_descend(pb, M0, prior_inv, 1e-7, 12)
        M_got, n_iter, converged, loss, losses, norms = got
        assert n_iter == it_ref and converged == conv_ref
        np.testing.assert_allclose(M_got, M_ref, rtol=1e-8, atol=1e-10 * np.abs(M_ref).max())
        np.testing.assert_array_equal(M_got, M_got.T)
        assert loss == pytest.approx(loss_ref, rel=1e-10)
        np.testing.assert_allclose(losses, losses_ref, rtol=1e-10)
        assert np.isnan(norms[0]) and (norms[1:] > 0).all() and len(norms) == len(losses)
        assert np.linalg.eigvalsh(M_got)[0] >= 1e-8 * (1 - 1e-6)


def test_descend_stops_at_max_iter_and_tol(rng):
    P, idx, pairs, w, M = _setup(rng, 40, 5, 90)
    pb = _core.LsmlProblem(P, pairs, w)
    M0 = np.eye(5)
    M_out, n_iter, converged, loss, losses, _ = pb.descend(M0, np.eye(5), _STEPS, 1e-8, 0.0, 0)
    assert n_iter == 0 and not converged and len(losses) == 1
    np.testing.assert_array_equal(M_out, M0)
    _, n_iter, converged, _, losses, _ = pb.descend(M0, np.eye(5), _STEPS, 1e-8, 0.0, 3)
    assert n_iter == 3 and not converged and len(losses) == 4
    assert np.all(np.diff(losses) < 0)  # every iteration found a lowering step
    _, n_iter, converged, _, losses, _ = pb.descend(M0, np.eye(5), _STEPS, 1e-8, 1e30, 50)
    assert n_iter == 1 and converged and len(losses) == 1  # |G| < tol at once


def test_descend_does_not_depend_on_threads(rng):
    P, idx, pairs, w, M = _setup(rng, 1500, 40, 3000)
    outs = [
        _core.LsmlProblem(P, pairs, w, nt).descend(np.eye(40), np.eye(40), _STEPS, 1e-8, 1e-6, 6) for nt in (1, 2, 3)
    ]
    for o in outs[1:]:
        np.testing.assert_array_equal(o[0], outs[0][0])
        assert o[1:4] == outs[0][1:4]
        np.testing.assert_array_equal(o[4], outs[0][4])


def test_descend_bad_input(rng):
    P, idx, pairs, w, M = _setup(rng, 10, 3, 12)
    pb = _core.LsmlProblem(P, pairs, w)
    I3 = np.eye(3)
    with pytest.raises(ValueError, match="M0 must be 3 x 3, got 2 x 2"):
        pb.descend(np.eye(2), I3, _STEPS, 1e-8, 1e-3, 5)
    with pytest.raises(ValueError, match="prior_inv must be 3 x 3"):
        pb.descend(I3, np.eye(4), _STEPS, 1e-8, 1e-3, 5)
    with pytest.raises(ValueError, match="M0 must be symmetric positive definite"):
        pb.descend(-I3, I3, _STEPS, 1e-8, 1e-3, 5)
    with pytest.raises(ValueError, match="at least one step"):
        pb.descend(I3, I3, np.zeros(0), 1e-8, 1e-3, 5)
    with pytest.raises(ValueError, match="steps must be positive numbers"):
        pb.descend(I3, I3, np.array([1e-3, np.nan]), 1e-8, 1e-3, 5)
    with pytest.raises(ValueError, match="steps must be positive numbers"):
        pb.descend(I3, I3, np.array([-1.0]), 1e-8, 1e-3, 5)
    with pytest.raises(ValueError, match="floor must be a positive number"):
        pb.descend(I3, I3, _STEPS, 0.0, 1e-3, 5)
    with pytest.raises(ValueError, match="floor must be a positive number"):
        pb.descend(I3, I3, _STEPS, np.nan, 1e-3, 5)
    with pytest.raises(ValueError, match="tol must be >= 0"):
        pb.descend(I3, I3, _STEPS, 1e-8, np.nan, 5)
    with pytest.raises(ValueError, match="max_iter must be >= 0"):
        pb.descend(I3, I3, _STEPS, 1e-8, 1e-3, -1)


@pytest.mark.parametrize(("n", "m"), [(300, 20), (12, 400)])
def test_gradient_over_pairs_and_over_points(n, m, rng, isa):
    """The gradient's GEMM runs over the active pairs' differences when they are fewer than the
    points (300 points, <= 40 active pairs), over the points' scattered rows otherwise (12 points,
    hundreds of active pairs): both against the numpy reference, for d around the tile widths."""
    for d in (1, 6, 9, 17):
        P, idx, pairs, w, M = _setup(rng, n, d, m)
        pb = _core.LsmlProblem(P, pairs, w)
        q = pb.forms(M)
        G, _ = pb.gradient(q)
        Vab, Vcd = _diffs(P, idx)
        G_ref = _ref_comparison_gradient(M, Vab, Vcd, w)
        np.testing.assert_allclose(G, G_ref, rtol=1e-11, atol=1e-13 * (np.abs(G_ref).max() + 1e-300))
        n_active = int(np.count_nonzero(q[:m] > q[m:]))
        assert (2 * n_active < n) if n == 300 else (n_active > n)
