"""fastmetric.dask (issue 14) on a 2-worker LocalCluster, side by side with the in-memory calls and dask-ml.

    python benchmarks/bench_dask.py            # the issue's targets at this machine's scale (a few minutes)
    python benchmarks/bench_dask.py --quick    # smaller sizes (a smoke run)

Cluster: ``distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True)``, so each
task's engine runs on one thread and the two workers use the machine's 2 cores; the in-memory
calls run in this process with ``n_threads=2`` on the same 2 cores while the workers idle. Inputs
are generated on the workers (``dask.array.random``) and persisted before any timing; the
in-memory inputs are the same arrays computed into this process. Times are best-of-N wall times
of ``compute`` (k-NN results gathered to the client: n x k) or of a reduction of the result
(pairwise distances: ``.sum()``, so the n x m matrix is never shipped). Peak worker memory is
the largest RSS of each worker process during the run, shown above the worker's RSS just before it
(its persisted share of the data), sampled every 20 ms, against the chunk budget of one task.

Sizes (environment variables override): BENCH_DASK_NQ, BENCH_DASK_NR, BENCH_DASK_RCHUNK,
BENCH_DASK_QCHUNK, BENCH_DASK_NPD, BENCH_DASK_NCA_N.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def best(fn, repeat):
    t, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        t = min(t, time.perf_counter() - t0)
    return t, out


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _trim():
    """Return freed heap pages to the OS (glibc malloc_trim), so the RSS baseline is the live data."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    return _rss_mb()


def _start_sampler(dask_worker):
    """On a worker: sample its RSS every 20 ms in a thread until _stop_sampler (the peak of the run);
    the state lives on the worker object (functions of __main__ travel by value, their globals too)."""
    import threading

    state = {"peak": _rss_mb(), "stop": threading.Event()}
    dask_worker._fm_bench_sampler = state

    def loop():
        while not state["stop"].wait(0.02):
            state["peak"] = max(state["peak"], _rss_mb())

    threading.Thread(target=loop, daemon=True).start()


def _stop_sampler(dask_worker):
    state = dask_worker._fm_bench_sampler
    state["stop"].set()
    return state["peak"]


def env(name, default):
    return int(os.environ.get(name, default))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=["knn", "pairwise", "features", "nca"], default=None)
    args = ap.parse_args()
    import dask
    import dask.array as da
    import distributed

    import fastmetric as fm
    import fastmetric.dask as fmd

    q = args.quick
    nq, nr = env("BENCH_DASK_NQ", 2000 if q else 20000), env("BENCH_DASK_NR", 100000 if q else 1000000)
    rchunk, qchunk = env("BENCH_DASK_RCHUNK", 20000 if q else 100000), env("BENCH_DASK_QCHUNK", 1000 if q else 10000)
    npd = env("BENCH_DASK_NPD", 20000 if q else 200000)
    nca_n = env("BENCH_DASK_NCA_N", 2000 if q else 10000)
    d, k = 64, 10
    rep = env("BENCH_DASK_REPEAT", 1 if q else 2)

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    n_workers = len(client.scheduler_info()["workers"])
    print(f"cluster: {n_workers} workers x 1 thread; fastmetric isa {fm.get_config()['isa']}")
    rows = []

    # ---------------------------------------------------------------- 1. exact k-NN
    if args.only in (None, "knn"):
        Q = da.random.default_rng(1).standard_normal((nq, d), chunks=(qchunk, d), dtype=np.float32)
        R = da.random.default_rng(2).standard_normal((nr, d), chunks=(rchunk, d), dtype=np.float32)
        Q, R = client.persist([Q, R])
        distributed.wait([Q, R])
        base = client.run(_trim)  # before gathering: sending a block leaves serialisation buffers behind
        client.run(_start_sampler)
        t_d, (dd, ii) = best(lambda: client.compute(fmd.kneighbors(Q, R, k), sync=True), rep)
        peak = client.run(_stop_sampler)
        Qn, Rn = client.compute([Q, R], sync=True)
        t_m, (dm, im) = best(lambda: fm.kneighbors(Qn, Rn, k, n_threads=2), rep)
        equal = bool(np.array_equal(ii, im) and np.array_equal(dd, dm))
        if not equal:  # say how: rows that differ, and whether only tied indices swap
            rows_i = int((ii != im).any(axis=1).sum())
            rows_d = int((dd != dm).any(axis=1).sum())
            equal = f"False ({rows_i} rows with other indices, {rows_d} with other distances)"
        budget = (qchunk * d * 4 + rchunk * d * 4 + 2 * qchunk * k * 12) / 2**20
        data_mb = (nq + nr) * d * 4 / 2**20
        peaks = ", ".join(f"{peak[w]:.0f} (from {base[w]:.0f})" for w in sorted(peak))
        rows.append(
            (f"kneighbors k={k}, {nq:,} x {d} f32 queries ({qchunk:,}-row chunks) vs {nr:,} refs "
             f"({rchunk:,}-row chunks)",
             f"{t_d:.2f} s", f"in-memory fm.kneighbors 2 threads {t_m:.2f} s", f"{t_d / t_m:.2f}x",
             f"equal: {equal}; worker peak RSS: {peaks} MB; task budget {budget:.0f} MB, data {data_mb:.0f} MB")
        )
        print(rows[-1])
        del Qn, Rn, dd, ii, dm, im

    # ---------------------------------------------------------------- 2. pairwise distances vs dask-ml
    if args.only in (None, "pairwise"):
        X = da.random.default_rng(3).standard_normal((npd, d), chunks=(max(1, npd // 20), d), dtype=np.float32)
        X = client.persist(X)
        distributed.wait(X)
        Y = np.random.default_rng(4).standard_normal((5000, d)).astype(np.float32)
        t_f, s_f = best(lambda: client.compute(fmd.pairwise_distances(X, Y).sum(dtype=np.float64), sync=True), rep)
        try:
            from dask_ml.metrics import pairwise_distances as dml_pd

            t_p, s_p = best(
                lambda: client.compute(dml_pd(X, Y, metric="euclidean").sum(dtype=np.float64), sync=True), rep
            )
            peer = f"dask-ml pairwise_distances {t_p:.2f} s"
            ratio = f"{t_p / t_f:.2f}x faster"
            same = f"sums agree to {abs(s_f - s_p) / abs(s_p):.1e}"
        except ImportError:
            peer, ratio, same = "dask-ml not installed", "-", "-"
        rows.append((f"pairwise_distances {npd:,} x {d} f32 dask X ({npd // 20:,}-row chunks) vs 5,000 x {d} numpy Y",
                     f"{t_f:.2f} s", peer, ratio, same))
        print(rows[-1])
        client.cancel(X)
        del X

    # ---------------------------------------------------------------- 3. feature chunks: rechunk vs reduce
    if args.only in (None, "features"):
        nf, df_ = (2000, 256) if q else (20000, 1024)
        F = client.persist(da.random.default_rng(5).standard_normal((nf, df_), chunks=(nf // 4, df_ // 4)))
        G = client.persist(da.random.default_rng(6).standard_normal((2000, df_), chunks=(1000, df_ // 4)))
        distributed.wait([F, G])
        t_r, s_r = best(lambda: client.compute(fmd.linear_kernel(F, G).sum(), sync=True), rep)

        def reduced():
            parts = [fmd.linear_kernel(F[:, c:c + df_ // 4], G[:, c:c + df_ // 4]) for c in range(0, df_, df_ // 4)]
            return client.compute(sum(parts[1:], parts[0]).sum(), sync=True)

        t_s, s_s = best(reduced, rep)
        rows.append((f"linear_kernel {nf:,} x {df_} vs 2,000 x {df_} f64, 4 feature chunks", f"rechunked {t_r:.2f} s",
                     f"reduced over feature chunks {t_s:.2f} s", f"{t_s / t_r:.2f}x",
                     f"partials: 4 x the result blocks before the sum (sums agree to {abs(s_r - s_s) / abs(s_r):.0e})"))
        print(rows[-1])
        client.cancel([F, G])

    # ---------------------------------------------------------------- 4. NCA gradient, distributed vs in memory
    if args.only in (None, "nca"):
        try:
            from fastmetric import _core
            from fastmetric.learn._dask_fit import pair_loss_grad

            dn = 32
            rng = np.random.default_rng(7)
            Xn = rng.standard_normal((nca_n, dn))
            yc = rng.integers(0, 10, nca_n).astype(np.float64)
            L = rng.standard_normal((dn, dn)) * 0.3
            Xd = client.persist(da.from_array(Xn, chunks=(max(1, nca_n // 8), dn)))
            distributed.wait(Xd)
            prob = _core.LinearPairProblem(Xn, yc, "nca")
            t_nm, (l0, g0) = best(lambda: prob.loss_grad(L, 2), rep)
            with dask.config.set(scheduler=client.get):
                t_nd, (l1, g1) = best(lambda: pair_loss_grad(Xd, yc, L, "nca"), rep)
            rel = float(np.abs(g1 - g0).max() / np.abs(g0).max())
            rows.append((f"NCA loss+gradient, {nca_n:,} x {dn} f64, 10 classes, {nca_n // 8:,}-row blocks",
                         f"{t_nd:.2f} s", f"in-memory sweep 2 threads {t_nm:.2f} s", f"{t_nd / t_nm:.1f}x slower",
                         f"gradient max rel. diff {rel:.1e}"))
            print(rows[-1])
        except ImportError as exc:
            print("NCA skipped:", exc)

    print("\n| case | fastmetric.dask | peer | ratio | notes |\n|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    client.close()
    cluster.close()


if __name__ == "__main__":
    main()
