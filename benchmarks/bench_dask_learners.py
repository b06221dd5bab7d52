"""KernelNCA / KernelMLKR (Nystroem) and LMNN fitted on Dask arrays (issue 14) against the in-memory fits.

    python benchmarks/bench_dask_learners.py            # moderate sizes (a few minutes)
    python benchmarks/bench_dask_learners.py --quick    # a smoke run

Cluster: ``distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True)``; the in-memory
fits run in this process with ``n_threads=2`` on the same 2 cores while the workers idle. X is
persisted on the workers before timing; the in-memory input is the same array gathered. One fit each
(wall time, with the same parameters and a fixed iteration budget), then the relative difference of
the components and the iteration counts of both fits. The Client is dask's default scheduler (as in
user code), so the kernel features are persisted on the workers.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main():
    import dask.array as da
    import distributed

    from fastmetric import learn

    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    q = args.quick
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    rng = np.random.default_rng(0)
    print(f"load {open('/proc/loadavg').read().split()[:3]}")
    cases = []
    n, d = (1000, 8) if q else (4000, 16)
    X = rng.standard_normal((n, d))
    y = (np.linalg.norm(X[:, :3], axis=1) > 1.5).astype(int) + 2 * (X[:, 3] > 0)
    t = np.sin(X[:, 0]) + X[:, 1] ** 2
    kw = {"n_components": 4, "n_landmarks": 100 if q else 300, "init": "pca", "max_iter": 10, "random_state": 0}
    cases.append(("KernelNCA rbf", learn.KernelNCA, kw, X, y, n // 4))
    cases.append(("KernelMLKR rbf", learn.KernelMLKR, kw, X, t, n // 4))
    n2, d2 = (4000, 16) if q else (20000, 32)
    X2 = rng.standard_normal((n2, d2)) + np.repeat(rng.standard_normal((10, d2)), n2 // 10, axis=0)
    y2 = np.repeat(np.arange(10), n2 // 10)
    perm = rng.permutation(n2)
    kw2 = {"n_components": 8, "init": "pca", "max_iter": 20 if q else 50}
    cases.append(("LMNN", learn.LMNN, kw2, X2[perm], y2[perm], n2 // 8))
    print(
        "| case | n x d | blocks | Dask fit (2 workers) | in-memory fit (2 threads) | ratio | components rel. diff "
        "| iterations |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for name, cls, kw, Xc, yc, chunk in cases:
        Xd = da.from_array(Xc, chunks=(chunk, Xc.shape[1])).persist()
        distributed.wait(Xd)
        t_mem, ref = _timed(lambda cls=cls, kw=kw, Xc=Xc, yc=yc: cls(n_threads=2, **kw).fit(Xc, yc))
        # the Client is the default scheduler (so the kernel features persist on the workers)
        t_dask, est = _timed(lambda cls=cls, kw=kw, Xd=Xd, yc=yc: cls(**kw).fit(Xd, yc))
        print(
            f"| {name} | {Xc.shape[0]} x {Xc.shape[1]} | {len(Xd.chunks[0])} | {t_dask:.2f} s | {t_mem:.2f} s | "
            f"{t_dask / t_mem:.1f}x | {_rel(est.components_, ref.components_):.1e} | {est.n_iter_} / {ref.n_iter_} |"
        )
    print(f"load {open('/proc/loadavg').read().split()[:3]}")
    client.close()
    cluster.close()


if __name__ == "__main__":
    main()
