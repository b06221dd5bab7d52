"""Learned-metric demo on scikit-learn's digits, used by ``python -m fastmetric``.

``digits_demo()`` follows the benchmark protocol of ``benchmarks/bench_learn.py``: stratified 70/30
split (random_state=0), StandardScaler fit on the training part, 3-NN test accuracy in the learned
space. It takes a few seconds on two cores.
"""

from __future__ import annotations

import time
import warnings

__all__ = ["digits_demo", "format_rows", "spheres_demo"]


def _protocol_rows(X, y, learners):
    """Rows ``(name, 3-NN test accuracy, fit seconds)``: euclidean, then each ``(name, estimator)``
    fitted on a stratified 70 % (random_state=0, StandardScaler fit on it), scored on the rest."""
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    scaler = StandardScaler().fit(Xtr)
    Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)

    def accuracy(Ztr, Zte):
        return float(KNeighborsClassifier(n_neighbors=3).fit(Ztr, ytr).score(Zte, yte))

    rows = [("euclidean", accuracy(Xtr, Xte), 0.0)]
    for name, est in learners:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            est.fit(Xtr, ytr)
            seconds = time.perf_counter() - t0
        rows.append((name, accuracy(est.transform(Xtr), est.transform(Xte)), seconds))
    return rows


def digits_demo(n_threads=None):
    """Rows ``(name, 3-NN test accuracy, fit seconds)`` for euclidean, NCA and LMNN on digits."""
    from sklearn.datasets import load_digits

    from .lmnn import LMNN
    from .nca import NCA

    X, y = load_digits(return_X_y=True)
    return _protocol_rows(
        X,
        y,
        (
            ("NCA", NCA(max_iter=50, tol=1e-5, n_threads=n_threads)),
            ("LMNN", LMNN(n_neighbors=3, n_threads=n_threads)),
        ),
    )


def spheres_demo(n_threads=None):
    """Rows ``(name, 3-NN test accuracy, fit seconds)`` on issue 13's spheres: X = N(0, 1) of shape
    (1000, 16), y = 1 when the squared norm of the first 6 features exceeds the median of chi-square(6);
    a class no linear map separates. euclidean, linear NCA, exact KernelNCA and Nystroem KernelNCA."""
    import numpy as np

    from .kernel import KernelNCA
    from .nca import NCA

    X = np.random.default_rng(0).standard_normal((1000, 16))
    y = (np.sum(X[:, :6] ** 2, axis=1) > 5.348).astype(int)
    return _protocol_rows(
        X,
        y,
        (
            ("NCA", NCA(max_iter=100, n_threads=n_threads)),
            ("KernelNCA rbf", KernelNCA(n_threads=n_threads)),
            ("KernelNCA rbf, 200 landmarks", KernelNCA(n_landmarks=200, random_state=0, n_threads=n_threads)),
        ),
    )


def format_rows(rows):
    """The demo rows as a small text table."""
    lines = [f"{'metric':<10} {'3-NN accuracy':>13} {'fit (s)':>8}"]
    for name, acc, sec in rows:
        lines.append(f"{name:<10} {acc:>13.4f} {sec:>8.2f}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(format_rows(digits_demo()))
