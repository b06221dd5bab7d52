"""Hypothesis properties of the distances: symmetry, non-negativity, zero diagonal, triangle inequality."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import fastmetric as fm

finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def matrices(draw):
    n = draw(st.integers(1, 12))
    d = draw(st.integers(1, 20))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    X = draw(arrays(np.float64, (n, d), elements=finite)).astype(dtype)
    return X


TRUE_METRICS = [("euclidean", {}), ("cityblock", {}), ("chebyshev", {}), ("minkowski", {"p": 3.0})]


@settings(max_examples=60, deadline=None)
@given(X=matrices(), which=st.sampled_from(TRUE_METRICS + [("sqeuclidean", {}), ("cosine", {})]))
def test_symmetry_nonnegativity_zero_diagonal(X, which):
    metric, kw = which
    D = fm.pairwise_distances(X, metric=metric, **kw)
    assert np.array_equal(D, D.T)
    assert np.all(D >= 0)
    assert np.all(np.diag(D) == 0)
    D2 = fm.cdist(X, X.copy(), metric, **kw)  # two distinct arrays: the general path
    tol = 1e-4 if X.dtype == np.float32 else 1e-10
    scale = max(1.0, float(np.abs(D).max()))
    np.testing.assert_allclose(D2, D2.T, atol=tol * scale)
    assert np.all(D2 >= 0)


@settings(max_examples=60, deadline=None)
@given(X=matrices(), which=st.sampled_from(TRUE_METRICS))
def test_triangle_inequality(X, which):
    metric, kw = which
    D = fm.pairwise_distances(X.astype(np.float64), metric=metric, **kw)
    slack = 1e-9 * max(1.0, float(D.max()))
    # D[i, k] <= D[i, j] + D[j, k] for all triples
    assert np.all(D[:, None, :] <= D[:, :, None] + D[None, :, :] + slack)
