"""Issue 16 part 1: braycurtis, canberra and jensenshannon (and scipy's w=), fastmetric against scipy.

python benchmarks/bench_scipy_metrics.py            # 10 x 10, 500 x 500, 2000 x 2000 (d = 128)
python benchmarks/bench_scipy_metrics.py --quick    # without the 2000 x 2000 rows
FM_BENCH_REPS=5 ...                                  # best of 5 for fastmetric (default 3)

Same data, same process: scipy.spatial.distance.cdist on float64 (scipy computes float32 input in
float64 too) against fastmetric.cdist on float64 and on float32. Every timed fastmetric result is
checked against scipy's before its row is printed. The floor column is the micro-kernel's vector
operation count per pair and feature (counted from the generated AVX-512 code) over the two 512-bit
ALU ports of one core, times the core count, at the clock the machine reports: the kernels are
compute-bound (the panels live in L1/L2; the output, 8 or 4 bytes a pair, is written once).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
from scipy.spatial.distance import cdist as scipy_cdist

import fastmetric

# 512-bit vector operations per lane group (8 float64 / 16 float32 pair-features) in the inner loop,
# counted from objdump of cpp/src/isa/avx512.cpp (loads and broadcasts excluded: other ports)
OPS = {
    "braycurtis": (6, 6),  # l1 (sub, abs, add) + l1_sum (add, abs, add)
    "canberra": (15, 12),  # sub, 3 abs, add, max, rcp14 (2 uops), Newton (4 fma f64 / 2 f32), mul, add
    "jensenshannon": (85, 60),  # reciprocal of p+q, two ratios, two logs (reciprocal + 9 / 4-term Estrin), select
}
SCIPY_ISSUE = {"braycurtis": 0.28, "canberra": 0.40, "jensenshannon": 7.3}  # s, 2000 x 2000 x 128 (issue 16)


def best(f, reps):
    t = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        t = min(t, time.perf_counter() - t0)
    return t


def clock_ghz():
    try:
        with open("/proc/cpuinfo") as fh:
            mhz = [float(line.split(":")[1]) for line in fh if line.startswith("cpu MHz")]
        return max(mhz) / 1e3 if mhz else 2.5
    except OSError:
        return 2.5


def data(metric, n, d, rng):
    X = rng.random((n, d))
    if metric != "jensenshannon":
        X = X - 0.3  # mixed signs
    return X


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    reps = int(os.environ.get("FM_BENCH_REPS", "3"))
    cfg = fastmetric.get_config()
    threads = cfg.get("max_threads") or os.cpu_count() or 1
    ghz = clock_ghz()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"fastmetric ISA {cfg['isa']}, {threads} threads, scipy {__import__('scipy').__version__}, "
        f"clock {ghz:.2f} GHz, load average {load:.1f}"
    )
    print()
    print(
        "| metric | n x m x d | scipy (f64) | fastmetric f64 | ratio | fastmetric f32 | ratio | "
        "f64 ns / pair-feature | f64 floor | f64 / floor |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(16)
    sizes = [(10, 10, 128), (500, 500, 128)] + ([] if args.quick else [(2000, 2000, 128)])
    cases = [(m, {}) for m in ("braycurtis", "canberra", "jensenshannon")] + [("braycurtis", {"nonneg": True})]
    cases += [(m, {"w": True}) for m in ("canberra", "braycurtis", "euclidean", "cityblock")]
    for n, m, d in sizes:
        for metric, kw in cases:
            kw = dict(kw)  # the case's own dict is reused by every size
            nonneg = kw.pop("nonneg", False)
            X, Y = data(metric, n, d, rng), data(metric, m, d, rng)
            if nonneg:  # abundances / counts: braycurtis's row-sum denominator
                X, Y = X + 0.3, Y + 0.3
            kw = {"w": rng.random(d)} if kw else {}
            X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
            big = n * m * d > 1e8
            sreps = 1 if (big and metric == "jensenshannon") else (2 if big else 5)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t_sp = best(lambda X=X, Y=Y, kw=kw, metric=metric: scipy_cdist(X, Y, metric, **kw), sreps)
                ref = scipy_cdist(X[:50], Y, metric, **kw)
            t64 = best(lambda X=X, Y=Y, kw=kw, metric=metric: fastmetric.cdist(X, Y, metric, **kw), reps)
            kw32 = {k: v.astype(np.float32) for k, v in kw.items()}
            t32 = best(lambda A=X32, B=Y32, kw32=kw32, metric=metric: fastmetric.cdist(A, B, metric, **kw32), reps)
            np.testing.assert_allclose(fastmetric.cdist(X[:50], Y, metric, **kw), ref, rtol=1e-11, atol=1e-13)
            np.testing.assert_allclose(fastmetric.cdist(X32[:50], Y32, metric, **kw32), ref, rtol=1e-4, atol=1e-5)
            elems = n * m * d
            name = metric + (" (w=)" if kw else "") + (" (x, y >= 0)" if nonneg else "")
            ns = t64 / elems * 1e9
            if metric in OPS and not kw:
                ops = 3 if nonneg else OPS[metric][0]
                floor = elems * ops / 8 / 2 / (ghz * 1e9) / threads
                fl = f"{floor * 1e3:.2f} ms | {t64 / floor:.1f}x"
            else:
                fl = "- | -"
            print(f"| {name} | {n} x {m} x {d} | {t_sp * 1e3:.2f} ms | {t64 * 1e3:.2f} ms | {t_sp / t64:.1f}x | "
                  f"{t32 * 1e3:.2f} ms | {t_sp / t32:.1f}x | {ns:.3f} | {fl} |")
    print()
    print("scipy in issue 16 (2000 x 2000 x 128): " + ", ".join(f"{k} {v} s" for k, v in SCIPY_ISSUE.items()))


if __name__ == "__main__":
    main()
