"""fastmetric's own symmetric eigensolver (``cpp/src/linalg.cpp``: Householder tridiagonalisation and
implicit QL; LSML's descent in C++ runs on it) against numpy's LAPACK ``eigh`` in float64, over awkward
sizes and spectra: repeated, clustered, zero, negative, rank one, diagonal, already tridiagonal,
widely scaled."""

import numpy as np
import pytest

from fastmetric import _core

SIZES = [1, 2, 3, 7, 17, 33, 64, 65]


def _check(A, w, V=None, rtol=1e-12):
    A = 0.5 * (A + A.T)
    ref = np.linalg.eigvalsh(A)
    scale = max(np.abs(ref).max(), np.finfo(float).tiny)
    d = A.shape[0]
    # backward stable: eigenvalue errors within a few eps * d * ||A||
    np.testing.assert_allclose(w, ref, rtol=0, atol=rtol * d * scale)
    assert np.all(np.diff(w) >= 0)
    if V is not None:
        np.testing.assert_allclose(V.T @ V, np.eye(d), rtol=0, atol=1e-12 * d)
        np.testing.assert_allclose(A @ V, V * w, rtol=0, atol=rtol * d * scale)


@pytest.mark.parametrize("d", SIZES)
@pytest.mark.parametrize("vectors", [False, True])
def test_random_symmetric(d, vectors, rng):
    B = rng.standard_normal((d, d))
    A = B + B.T
    out = _core.symmetric_eigen(A, vectors=vectors)
    if vectors:
        _check(A, *out)
    else:
        _check(A, out)


@pytest.mark.parametrize("d", [1, 5, 33])
def test_positive_definite_and_widely_scaled(d, rng):
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    lam = np.logspace(-8, 4, d)  # LSML's floor 1e-8 next to large eigenvalues
    A = (Q * lam) @ Q.T
    w, V = _core.symmetric_eigen(A, vectors=True)
    _check(A, w, V)
    # the smallest eigenvalue to its own (not the norm's) relative accuracy is not promised; it is
    # within eps * ||A|| of the truth
    assert abs(w[0] - 1e-8) < 1e-11 * d * lam[-1]


@pytest.mark.parametrize(
    "make",
    [
        lambda d, r: np.zeros((d, d)),
        lambda d, r: np.eye(d),
        lambda d, r: np.diag(r.standard_normal(d)),
        lambda d, r: np.ones((d, d)),  # rank one: eigenvalues 0 (d - 1 times) and d
        lambda d, r: np.diag(np.repeat([-2.0, 1.0, 3.0], d)[:d]),  # repeated and negative
        lambda d, r: np.diag(np.full(d, 2.0)) + np.diag(np.ones(d - 1), 1) + np.diag(np.ones(d - 1), -1),
        lambda d, r: 1e150 * np.diag(np.arange(d, dtype=float)),
        lambda d, r: 1e-150 * (np.eye(d) + np.ones((d, d))),
    ],
    ids=["zero", "identity", "diagonal", "ones", "repeated", "tridiagonal", "huge", "tiny"],
)
@pytest.mark.parametrize("d", [1, 2, 7, 17])
def test_structured(make, d, rng):
    A = make(d, rng)
    w, V = _core.symmetric_eigen(A, vectors=True)
    _check(A, w, V)
    np.testing.assert_allclose(_core.symmetric_eigen(A), w, rtol=0, atol=1e-13 * max(1.0, np.abs(w).max()))


def test_reads_the_upper_triangle_and_leaves_input_alone(rng):
    A = rng.standard_normal((6, 6))
    keep = A.copy()
    w = _core.symmetric_eigen(A)
    np.testing.assert_array_equal(A, keep)
    U = np.triu(A)
    _check(U + np.triu(A, 1).T, w)


def test_views_and_fortran_order(rng):
    B = rng.standard_normal((9, 9))
    A = B + B.T
    ref = _core.symmetric_eigen(A)
    np.testing.assert_array_equal(_core.symmetric_eigen(np.asfortranarray(A)), ref)
    big = np.zeros((18, 18))
    big[::2, ::2] = A
    np.testing.assert_array_equal(_core.symmetric_eigen(big[::2, ::2]), ref)
    assert _core.symmetric_eigen(np.zeros((0, 0))).shape == (0,)


def test_bad_input():
    with pytest.raises(ValueError, match="square"):
        _core.symmetric_eigen(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="square"):
        _core.symmetric_eigen(np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        _core.symmetric_eigen(np.array([[1.0, np.nan], [np.nan, 1.0]]))
