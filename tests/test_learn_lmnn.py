"""LMNN: loss / gradient against a brute-force oracle, finite differences, impostor search, the estimator."""

import io
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from fastmetric import _core  # noqa: E402
from fastmetric.learn import LMNN  # noqa: E402
from fastmetric.learn.lmnn import _ImpostorSearch  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402


def _problem(n, d, n_classes, k, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.sort(rng.integers(0, n_classes, n)).astype(np.int64)
    targets = np.full((n, k), -1, dtype=np.int64)
    for c in range(n_classes):
        idx = np.flatnonzero(y == c)
        D = ((X[idx, None] - X[None, idx]) ** 2).sum(-1)
        np.fill_diagonal(D, np.inf)
        kc = min(k, len(idx) - 1)
        if kc > 0:
            targets[idx, :kc] = idx[np.argsort(D, axis=1, kind="stable")[:, :kc]]
    return X, y, targets, rng


def _oracle(X, y, targets, L, mu):
    Z = X @ L.T
    D = ((Z[:, None] - Z[None]) ** 2).sum(-1)
    n = len(y)
    W = np.zeros((n, n))
    pull = push = 0.0
    active = 0
    other = y[:, None] != y[None, :]
    for i in range(n):
        for j in targets[i]:
            if j < 0:
                continue
            pull += D[i, j]
            W[i, j] += mu
            h = 1.0 + D[i, j] - D[i]
            act = other[i] & (h > 0)
            push += h[act].sum()
            active += act.sum()
            W[i, j] += (1 - mu) * act.sum()
            W[i, act] -= 1 - mu
    dZ = Z[:, None] - Z[None]
    dX = X[:, None] - X[None]
    G = 2 * np.einsum("iq,iqa,iqb->ab", W, dZ, dX)
    return mu * pull + (1 - mu) * push, G, active


def _all_pairs(n):
    rows = np.repeat(np.arange(n), n).astype(np.int64)
    hits = np.tile(np.arange(n), n).astype(np.int64)
    return rows, hits


@pytest.mark.parametrize("mu", [0.5, 0.2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_loss_grad_match_oracle(mu, dtype):
    X, y, targets, rng = _problem(45, 4, 3, 3, 0)
    L = rng.standard_normal((3, 4)) * 0.6
    prob = _core.LmnnProblem(X.astype(dtype), targets, y)
    prob.set_hits(*_all_pairs(len(y)))
    Z = (X.astype(dtype) @ L.astype(dtype).T).astype(dtype)
    loss, grad, n_active, pull, push, _ = prob.loss_grad(np.ascontiguousarray(Z), mu, 2)
    ref_loss, ref_grad, ref_active = _oracle(
        X.astype(dtype).astype(np.float64), y, targets, L.astype(dtype).astype(np.float64), mu
    )
    rtol = 1e-11 if dtype == np.float64 else 1e-5
    assert n_active == ref_active
    assert loss == pytest.approx(ref_loss, rel=rtol)
    np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=rtol * np.abs(ref_grad).max())


def test_finite_differences_where_smooth():
    X, y, targets, rng = _problem(30, 3, 2, 2, 3)
    prob = _core.LmnnProblem(X, targets, y)
    prob.set_hits(*_all_pairs(len(y)))
    for _ in range(50):  # an L whose hinges are all away from their kink
        L = rng.standard_normal((3, 3))
        Z = X @ L.T
        D = ((Z[:, None] - Z[None]) ** 2).sum(-1)
        h = np.array([1 + D[i, j] - D[i] for i in range(len(y)) for j in targets[i] if j >= 0])
        if np.abs(h).min() > 1e-2:
            break
    else:
        pytest.skip("no smooth point found")

    def f(L):
        return prob.loss_grad(np.ascontiguousarray(X @ L.T), 0.5, 1)[0]

    g = prob.loss_grad(np.ascontiguousarray(X @ L.T), 0.5, 1)[1]
    eps = 1e-7
    fd = np.empty_like(L)
    for idx in np.ndindex(L.shape):
        Lp, Lm = L.copy(), L.copy()
        Lp[idx] += eps
        Lm[idx] -= eps
        fd[idx] = (f(Lp) - f(Lm)) / (2 * eps)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6 * np.abs(g).max())


def _impostor_truth(X, y, prob, L):
    Z = X @ L.T
    D = ((Z[:, None] - Z[None]) ** 2).sum(-1)
    m = prob.margins(np.ascontiguousarray(Z), 1)
    rows, cols = np.nonzero((D < m[:, None]) & (y[:, None] != y[None, :]))
    return Z, m, D, set(zip(rows.tolist(), cols.tolist(), strict=True))


@pytest.mark.parametrize("first_topk", [False, True])  # top-k search vs radius search
def test_impostor_search_is_complete_and_reuse_is_safe(first_topk, monkeypatch):
    X, y, targets, rng = _problem(300, 5, 4, 3, 11)
    offsets = np.searchsorted(y, np.arange(5))
    L = np.eye(5) + 0.1 * rng.standard_normal((5, 5))
    prob = _core.LmnnProblem(X, targets, y)
    monkeypatch.setattr(_ImpostorSearch, "radius_max_n", 0 if first_topk else 10**9)
    search = _ImpostorSearch(X, y, offsets, 10**6, None, 0)
    reused = 0
    for step in range(12):
        Z, m, _, truth = _impostor_truth(X, y, prob, L)
        fresh = search.update(L, np.ascontiguousarray(Z), m)
        reused += not fresh
        found = set(zip(search.rows.tolist(), search.hits_.tolist(), strict=False))
        assert truth <= found
        assert search.n_saturated == 0
        L = L + (1e-4 if step % 2 else 2e-2) * rng.standard_normal(L.shape)
    assert reused > 0  # small steps keep the previous search


def test_impostor_cap_keeps_the_nearest():
    X, y, targets, rng = _problem(200, 3, 3, 3, 4)
    offsets = np.searchsorted(y, np.arange(4))
    prob = _core.LmnnProblem(X, targets, y)
    L = 3.0 * np.eye(3)  # wide margins: many impostors per point
    Z, m, D, truth = _impostor_truth(X, y, prob, L)
    cap = 5
    search = _ImpostorSearch(X, y, offsets, cap, None, 0)
    search.update(L, np.ascontiguousarray(Z), m)
    assert search.n_saturated > 0
    found = {}
    for r, h in zip(search.rows.tolist(), search.hits_.tolist(), strict=False):
        found.setdefault(r, []).append(h)
    for i in range(len(y)):
        imp = [b for (a, b) in truth if a == i]
        got = found.get(i, [])
        assert len(got) <= cap or len(imp) <= len(got)
        if len(imp) > cap:  # saturated: exactly the cap nearest differently labelled points
            other = np.flatnonzero(y != y[i])
            nearest = other[np.argsort(D[i, other], kind="stable")[:cap]]
            assert np.isclose(np.sort(D[i, got]), np.sort(D[i, nearest])).all()
        else:
            assert set(imp) <= set(got)
    # a capped fit still runs and reports the saturation
    est = LMNN(max_impostors=cap, max_iter=5).fit(X, y)
    assert np.isfinite(est.components_).all()
    assert est.n_saturated_ >= 0


def test_fit_bitwise_identical_across_threads():
    X, y, _, _ = _problem(300, 6, 4, 3, 5)
    comps = [LMNN(max_iter=20, n_threads=t).fit(X, y).components_ for t in (1, 2, 4)]
    assert np.array_equal(comps[0], comps[1])
    assert np.array_equal(comps[0], comps[2])


def test_small_classes_fallback_and_errors():
    X, y, _, _ = _problem(40, 3, 2, 3, 2)
    y = y.copy()
    y[:2] = 7  # a class of two members (fewer than k + 1 = 4)
    y[2] = 8  # a single-member class
    with pytest.warns(UserWarning, match="fewer than n_neighbors"):
        est = LMNN(max_iter=10).fit(X, y)
    assert np.isfinite(est.components_).all()
    with pytest.raises(ValueError, match="fewer samples than classes"):
        LMNN().fit(X[:3], np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="n_neighbors"):
        LMNN(n_neighbors=0).fit(X, y)
    with pytest.raises(ValueError, match="regularization"):
        LMNN(regularization=1.5).fit(X, y)


def test_float32_fit_keeps_float32_and_learns():
    from sklearn.datasets import load_wine
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    base = KNeighborsClassifier(3).fit(X[::2], y[::2]).score(X[1::2], y[1::2])
    for dtype in (np.float32, np.float64):
        est = LMNN().fit(X[::2].astype(dtype), y[::2])
        assert est.components_.dtype == dtype
        Z = est.transform(X.astype(dtype))
        assert Z.dtype == dtype
        assert KNeighborsClassifier(3).fit(Z[::2], y[::2]).score(Z[1::2], y[1::2]) >= base


def test_verbose_prints_progress():
    X, y, _, _ = _problem(60, 3, 3, 3, 0)
    buf = io.StringIO()
    with redirect_stdout(buf):
        LMNN(max_iter=3, verbose=True).fit(X, y)
    out = buf.getvalue()
    assert "[LMNN]" in out
    assert "active" in out
    assert "impostor searches" in out


def test_metric_learn_parameters_accepted():
    X, y, _, _ = _problem(60, 3, 3, 3, 0)
    est = LMNN(n_neighbors=2, learn_rate=1e-7, min_iter=5, max_iter=5, regularization=0.3).fit(X, y)
    assert est.components_.shape == (3, 3)


@parametrize_with_checks([LMNN(max_iter=20)])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)
