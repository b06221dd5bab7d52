"""Sparse inputs: fastmetric vs scikit-learn in one process on the same scipy.sparse data.

    python benchmarks/bench_sparse.py            # every case (the k-NN target takes a few minutes)
    python benchmarks/bench_sparse.py --quick    # smaller k-NN case

Each row: best-of-N wall time of both, the ratio, the useful multiply-adds of the sparse product
(sum over features c of nnz_X(c) * nnz_Y(c)) and the output size. Peak memory of the two k-NN
searches is measured with tracemalloc (numpy / scipy buffers are traced; the C++ buffers of
fastmetric are one row of m floats per thread and the (n, k) result, listed as "fm extra").
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import pairwise as skp
from sklearn.neighbors import NearestNeighbors

import fastmetric as fm


def best(fn, repeat):
    t = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


def random_csr(n, d, density, seed, dtype=np.float32):
    """Like scipy.sparse.random (uniform positions without replacement, values uniform in [0, 1)),
    but built in seconds at 200,000 x 50,000: scipy's builder took 298 s for 40,000 rows here."""
    rng = np.random.default_rng(seed)
    nnz = int(round(n * d * density))
    pos = np.unique(rng.integers(0, n * d, size=int(nnz * 1.01) + 16, dtype=np.int64))
    pos = rng.permutation(pos)[:nnz]
    pos.sort()
    rows, cols = np.divmod(pos, d)
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    data = rng.random(pos.shape[0], dtype=np.float64).astype(dtype)
    return sp.csr_matrix((data, cols.astype(np.int32), indptr), shape=(n, d))


def useful_madds(X, Y):
    cx = np.bincount(X.tocsr().indices, minlength=X.shape[1]).astype(np.float64)
    cy = np.bincount(Y.tocsr().indices, minlength=Y.shape[1]).astype(np.float64)
    return float(cx @ cy)


def peak(fn):
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    _, p = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return p


def row(name, t_fm, t_sk, madds, out_elems, note=""):
    print(
        f"| {name} | {t_fm * 1e3:.2f} | {t_sk * 1e3:.2f} | {t_sk / t_fm:.2f}x | {madds / 1e6:.1f} M "
        f"| {madds / t_fm / 1e9:.2f} | {out_elems / 1e6:.1f} M | {note} |",
        flush=True,
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    d, density = 50_000, 0.002
    print("| case | fastmetric ms | scikit-learn ms | speed-up | useful madds | fm G madd/s | output | note |")
    print("|---|---|---|---|---|---|---|---|")

    # small
    Xs = sp.random(10, 10, density=0.3, random_state=0, format="csr")
    for metric in ("euclidean", "cosine"):
        t_fm = best(lambda m=metric: fm.pairwise_distances(Xs, metric=m), 50)
        t_sk = best(lambda m=metric: skp.pairwise_distances(Xs, metric=m), 50)
        row(f"pairwise_distances {metric} 10x10 (d=10)", t_fm, t_sk, useful_madds(Xs, Xs), 100)

    # cosine_similarity 2000 x 20000 at 0.2 % of 50,000 features, float32
    Q = sp.random(2000, d, density=density, random_state=1, format="csr", dtype=np.float32)
    R = sp.random(20000, d, density=density, random_state=2, format="csr", dtype=np.float32)
    madds = useful_madds(Q, R)
    t_fm = best(lambda: fm.cosine_similarity(Q, R), args.repeat)
    t_sk = best(lambda: skp.cosine_similarity(Q, R), args.repeat)
    row("cosine_similarity 2000x20000 f32 (target >= 2x)", t_fm, t_sk, madds, 2000 * 20000)
    np.testing.assert_allclose(fm.cosine_similarity(Q[:50], R), skp.cosine_similarity(Q[:50], R), atol=1e-5)

    # mid sizes: euclidean / cityblock / rbf
    Qm, Rm = Q[:1000], R[:5000]
    madds = useful_madds(Qm, Rm)
    for label, f_fm, f_sk in (
        ("pairwise_distances euclidean", lambda: fm.pairwise_distances(Qm, Rm), lambda: skp.pairwise_distances(Qm, Rm)),
        (
            "pairwise_distances cityblock",
            lambda: fm.pairwise_distances(Qm, Rm, metric="cityblock"),
            lambda: skp.pairwise_distances(Qm, Rm, metric="cityblock"),
        ),
        ("rbf_kernel", lambda: fm.rbf_kernel(Qm, Rm), lambda: skp.rbf_kernel(Qm, Rm)),
    ):
        row(
            f"{label} 1000x5000 f32",
            best(f_fm, args.repeat),
            best(f_sk, 1 if "cityblock" in label else args.repeat),
            madds,
            5e6,
        )

    # the k-NN target: cosine top-10 of 2,000 sparse queries among 200,000 x 50,000 rows at 0.2 %
    n_ref = 40_000 if args.quick else 200_000
    t0 = time.perf_counter()
    Rk = random_csr(n_ref, d, density, seed=3)
    build = time.perf_counter() - t0
    Qk = Q
    madds = useful_madds(Qk, Rk)
    nn = NearestNeighbors(n_neighbors=10, metric="cosine", algorithm="brute").fit(Rk)
    t_fm = best(lambda: fm.kneighbors(Qk, Rk, 10, "cosine"), max(1, args.repeat - 1))
    t_sk = best(lambda: nn.kneighbors(Qk), 1)
    mem_fm = peak(lambda: fm.kneighbors(Qk, Rk, 10, "cosine"))
    mem_sk = peak(lambda: nn.kneighbors(Qk))
    d_fm, i_fm = fm.kneighbors(Qk[:200], Rk, 10, "cosine")
    d_sk, _ = nn.kneighbors(Qk[:200])
    np.testing.assert_allclose(d_fm, d_sk, atol=1e-5)
    fm_extra = 2 * n_ref * 4 + 2000 * 10 * 12
    row(
        f"kneighbors cosine k=10, 2000 q x {n_ref} refs f32 (target >= 3x)",
        t_fm,
        t_sk,
        madds,
        2000 * 10,
        f"peak traced MiB: fm {mem_fm / 2**20:.0f} (+{fm_extra / 2**20:.1f} C++), sklearn {mem_sk / 2**20:.0f}; "
        f"matrix built in {build:.1f} s",
    )


if __name__ == "__main__":
    main()
