"""Per-evaluation time of the NCA / MLKR pair sweep, this build against another build of fastmetric,
side by side in one process.

The other build's compiled ``_core`` is loaded under another package name (``--base PATH``: its
``_core*.so``, e.g. ``/tmp/venv_base/lib/python3.11/site-packages/fastmetric/_core*.so`` of the
commit before the unified sweep, whose API was ``NcaProblem(X_sorted, class_offsets)`` /
``MlkrProblem(X, y)``; a build that has ``LinearPairProblem`` is called through it). Cases: digits
(the issue-5 protocol's training part, 1257 x 64, standardised) and make_classification (n x 64,
10 classes, standardised), n_components = 32, at the PCA initialisation L0 (a peaked kernel: the
sparse mode) and at 0.3 L0 (a broad kernel: the dense mode), float32 and float64; best of
``--repeat`` evaluations after one warm-up.

    python benchmarks/bench_sweep.py --base /tmp/venv_base/.../_core.cpython-311-x86_64-linux-gnu.so
    python benchmarks/bench_sweep.py --sizes 10000,50000 --repeat 3
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import sys
import time

import numpy as np

THREADS = 0
# wall time; --cpu: process CPU time (with --threads 1 the work done, barely moved by other load)
CLOCK = time.perf_counter


def load_base(path):
    spec = importlib.util.spec_from_file_location("fastmetric_base._core", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def datasets(sizes):
    from sklearn.datasets import make_classification

    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from bench_learn import load_protocol

    Xtr, _, ytr, _ = load_protocol("digits")
    yield "digits", Xtr, ytr
    for n in sizes:
        X, y = make_classification(
            n_samples=n, n_features=64, n_informative=16, n_redundant=8, n_classes=10, random_state=0
        )
        X = (X - X.mean(0)) / X.std(0)
        yield f"{n} x 64", X, y


def pca_init(X, k):
    Xc = X - X.mean(0)
    _, _, vt = np.linalg.svd(Xc, full_matrices=False)
    return vt[:k]


def best_times(fns, repeat, warmup=True):
    """Best time of each function, calls interleaved (the machine's load drifts between them)."""
    if warmup:
        for fn in fns:
            fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = CLOCK()
            fn()
            best[i] = min(best[i], CLOCK() - t0)
    return best


def old_problem(base, objective, X, y):
    if hasattr(base, "LinearPairProblem"):  # a build with the unified sweep
        prob = base.LinearPairProblem(X, y.astype(np.float64), objective)
        return lambda L: prob.loss_grad(L, THREADS)
    if objective == "nca":
        order = np.argsort(y, kind="stable")
        ys = y[order]
        offsets = np.searchsorted(ys, np.arange(ys.max() + 2)).astype(np.int64)
        prob = base.NcaProblem(np.ascontiguousarray(X[order]), offsets)
    else:
        prob = base.MlkrProblem(X, y.astype(np.float64))
    return lambda L: prob.loss_grad(L, THREADS)


def new_problem(objective, X, y):
    from fastmetric import _core

    prob = _core.LinearPairProblem(X, y.astype(np.float64), objective)
    return lambda L: prob.loss_grad(L, THREADS), prob


def main(argv=None):
    global THREADS, CLOCK
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", help="_core*.so of the build to compare against")
    ap.add_argument("--sizes", default="10000,50000")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--scales", default="1.0,0.3", help="kernels: multiples of the PCA initialisation L0")
    ap.add_argument("--no-warmup", action="store_true")
    ap.add_argument("--no-digits", action="store_true")
    ap.add_argument("--cpu", action="store_true", help="process CPU time instead of wall time")
    args = ap.parse_args(argv)
    THREADS = args.threads
    if args.cpu:
        CLOCK = time.process_time
    base = load_base(args.base) if args.base else None
    sizes = [int(s) for s in args.sizes.split(",") if s]
    scales = [float(s) for s in args.scales.split(",")]
    head = ["data", "obj", "dtype", "L", "mode", "before ms", "after ms", "ratio"]
    print(" ".join(f"{h:>10}" for h in head))
    for name, X, y in datasets(sizes):
        if args.no_digits and name == "digits":
            continue
        L0 = pca_init(X, args.k)
        for objective in ("nca", "mlkr"):
            for dtype in (np.float32, np.float64):
                Xd = np.ascontiguousarray(X, dtype=dtype)
                new_fn, prob = new_problem(objective, Xd, y)
                old_fn = old_problem(base, objective, Xd, y) if base else None
                for scale in scales:
                    Ld = np.ascontiguousarray(scale * L0, dtype=dtype)
                    fns = [functools.partial(new_fn, Ld)] + ([functools.partial(old_fn, Ld)] if old_fn else [])
                    times = best_times(fns, args.repeat, not args.no_warmup) + [float("nan")]
                    t_new, t_old = times[0], times[1]
                    row = [name, objective, np.dtype(dtype).name, f"{scale:g} L0", prob.last_mode]
                    row += [f"{1e3 * t_old:.1f}", f"{1e3 * t_new:.1f}", f"{t_old / t_new:.2f}"]
                    print(" ".join(f"{c:>10}" for c in row), flush=True)


if __name__ == "__main__":
    main()
