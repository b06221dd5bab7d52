"""Issue 16: the boolean metrics on fingerprints, fastmetric against scipy (bool arrays) and faiss.

python benchmarks/bench_binary.py            # every case, the 1M x 2048-bit search included
python benchmarks/bench_binary.py --quick    # without the 1M-reference search

Same data, same process, best of N (scipy: best of 1-3, it is slow); ratios are against scipy's time
on the bool arrays (and faiss IndexBinaryFlat for the Hamming k-NN). The 1M search runs in a fresh
subprocess so its peak RSS (VmHWM) is its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np

import fastmetric
from fastmetric.distances import cdist
from fastmetric.neighbors import kneighbors


def best(f, reps):
    t = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        t = min(t, time.perf_counter() - t0)
    return t


def fingerprints(rng, n, bits, p=0.1):
    return rng.random((n, bits)) < p


def row(name, t_fm, t_peer, peer, extra=""):
    print(f"| {name} | {t_fm * 1e3:.2f} ms | {peer}: {t_peer * 1e3:.2f} ms | {t_peer / t_fm:.1f}x | {extra} |")


def cdist_cases(rng, quick):
    from scipy.spatial.distance import cdist as scdist

    print("| case | fastmetric | peer | speed-up | note |")
    print("|---|---|---|---|---|")
    sizes = [(10, 10, 64), (500, 500, 256), (2000, 2000, 1024)]
    for n, m, bits in sizes:
        X, Y = fingerprints(rng, n, bits), fingerprints(rng, m, bits)
        P, Q = np.packbits(X, axis=1), np.packbits(Y, axis=1)
        reps_sp = 1 if n * m * bits > 1e9 else 3
        t_sp = best(lambda X=X, Y=Y: scdist(X, Y, "jaccard"), reps_sp)
        t_pk = best(lambda P=P, Q=Q: cdist(P, Q, "jaccard", packed=True), 5)
        t_bo = best(lambda X=X, Y=Y: cdist(X, Y, "jaccard"), 5)
        words = n * m * ((bits + 63) // 64)
        row(
            f"cdist jaccard {n}x{m}x{bits} bits, packed",
            t_pk,
            t_sp,
            "scipy bool",
            f"{words / t_pk / 1e9:.2f} G word-pairs/s",
        )
        row(f"cdist jaccard {n}x{m}x{bits} bits, bool input", t_bo, t_sp, "scipy bool", "packs with np.packbits")
        D1 = cdist(P, Q, "jaccard", packed=True)
        assert np.array_equal(D1[:50], scdist(X[:50], Y, "jaccard"))  # the timed result is scipy's


def knn_faiss(rng, quick):
    import faiss

    faiss.omp_set_num_threads(fastmetric.get_config().get("max_threads", 2) or 2)
    nq, nr, bits, k = (1000, 200_000, 1024, 10) if not quick else (200, 50_000, 1024, 10)
    P = np.packbits(fingerprints(rng, nr, bits, 0.5), axis=1)
    Q = np.packbits(fingerprints(rng, nq, bits, 0.5), axis=1)
    index = faiss.IndexBinaryFlat(bits)
    index.add(P)
    t_fa = best(lambda: index.search(Q, k), 3)
    t_fm = best(lambda: kneighbors(Q, P, k, "hamming", packed=True), 3)
    d_fa, _ = index.search(Q, k)
    d_fm, _ = kneighbors(Q, P, k, "hamming", packed=True)
    same = np.array_equal(np.rint(d_fm * bits).astype(np.int64), d_fa.astype(np.int64))
    row(
        f"hamming k-NN k={k}, {nq} queries x {nr} refs x {bits} bits",
        t_fm,
        t_fa,
        "faiss IndexBinaryFlat",
        f"k-th distances equal: {same}",
    )


def peak_rss_mb():
    """This process's peak RSS: VmHWM (reset by exec, unlike getrusage's ru_maxrss, which a child keeps
    from the parent that forked it), else getrusage."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def big_search_child(nq, nr, bits, k):
    rng = np.random.default_rng(7)
    refs = np.empty((nr, bits // 8), np.uint8)
    for s in range(0, nr, 100_000):  # random fingerprints with 1/8 of the bits set, no float temporaries
        shape = (min(100_000, nr - s), bits // 8)
        refs[s : s + shape[0]] = rng.integers(0, 256, shape, np.uint8) & rng.integers(0, 256, shape, np.uint8)
        refs[s : s + shape[0]] &= rng.integers(0, 256, shape, np.uint8)
    Q = refs[rng.choice(nr, nq, replace=False)] ^ (rng.integers(0, 256, (nq, bits // 8), np.uint8) < 8)
    rss0 = peak_rss_mb()
    t0 = time.perf_counter()
    d, i = kneighbors(Q, refs, k, "jaccard", packed=True)
    t = time.perf_counter() - t0
    rss1 = peak_rss_mb()
    print(json.dumps({"time": t, "rss_before_mb": rss0, "rss_peak_mb": rss1, "refs_mb": refs.nbytes / 2**20}))


def big_search(quick):
    nq, nr, bits, k = (1000, 1_000_000, 2048, 10) if not quick else (100, 100_000, 2048, 10)
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(nq), str(nr), str(bits), str(k)],
        capture_output=True,
        text=True,
        check=True,
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    words = nq * nr * bits // 64
    print(
        f"| Tanimoto top-{k}, {nq} queries x {nr} refs x {bits} bits (packed) | {r['time']:.2f} s | - | - | "
        f"peak RSS {r['rss_peak_mb']:.0f} MB (before the search {r['rss_before_mb']:.0f} MB; references "
        f"{r['refs_mb']:.0f} MB); {words / r['time'] / 1e9:.2f} G word-pairs/s |"
    )


def floor():
    """Popcount words per second of the active kernel on L1-resident rows (no epilogue cost to speak of)."""
    rng = np.random.default_rng(3)
    P = rng.integers(0, 256, (256, 4096 // 8), dtype=np.uint8)  # 64 words per row, 128 KiB
    out = np.empty((256, 256))
    t = best(lambda: fastmetric._core.binary_pairwise(P, P, "hamming", 4096, out, False, 1), 20)
    words = 256 * 256 * 64
    print(f"floor ({fastmetric._core.binary_isa()} popcount table, 1 thread): {words / t / 1e9:.2f} G word-pairs/s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--child", nargs=4, type=int)
    a = ap.parse_args()
    if a.child:
        big_search_child(*a.child)
        return
    rng = np.random.default_rng(0)
    print(f"fastmetric ISA {fastmetric._core.binary_isa()}, threads {fastmetric._core.max_threads()}")
    floor()
    cdist_cases(rng, a.quick)
    knn_faiss(rng, a.quick)
    big_search(a.quick)


if __name__ == "__main__":
    main()
