"""Scale of the Nystroem kernel learner (issue 13): KernelNCA on 10,000 to 100,000 rows.

Data: ``make_classification(n, n_features=32, n_informative=10, n_classes=10, random_state=0)``,
StandardScaler, float32. Learner: ``KernelNCA(kernel="rbf", n_landmarks=1000, n_components=16,
max_iter=50, random_state=0)``. Each size runs in its own process, so that its peak resident memory
(``ru_maxrss``) is its own; the table gives the feature-map time (kernel tiles n x 1000 against the
landmarks, the eigendecomposition of K_mm and the n x 1000 x r product), the fit time, the L-BFGS
iterations, the time of one evaluation at the learned map and its sweep mode, the fit time per
iteration (without the feature map), and the peak memory of the fit.

Floor of one evaluation: the NCA sweep visits n^2 pairs; per pair a 16-term distance, one exp and
the S Z products (2 x 16 multiply-adds on both sides), plus Z = Phi L^T and G^T Phi (2 n r k
multiply-adds each). The figures are printed next to that count.

    python benchmarks/bench_kernel_scale.py                 # 10k, 20k, 50k, 100k
    python benchmarks/bench_kernel_scale.py --sizes 10000,30000 --max-iter 20 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings

import numpy as np


def child(n, max_iter, n_landmarks, n_components):
    from sklearn.datasets import make_classification
    from sklearn.preprocessing import StandardScaler

    from fastmetric import _core
    from fastmetric.learn import KernelNCA
    from fastmetric.learn._kernel_features import KernelFeatureMap

    X, y = make_classification(n, n_features=32, n_informative=10, n_classes=10, random_state=0)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    est = KernelNCA(n_components=n_components, n_landmarks=n_landmarks, max_iter=max_iter, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        est.fit(X, y)
        t_fit = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # the parts of the fit, timed again on the fitted state: the feature map, one evaluation at the
    # learned map (the sweep plus Z = Phi L^T and G^T Phi)
    fmap = KernelFeatureMap("rbf", est.kernel_params_)
    t0 = time.perf_counter()
    Phi = fmap.fit(X, n_landmarks, np.unique(y, return_inverse=True)[1], 0)
    t_map = time.perf_counter() - t0
    problem = _core.LinearPairProblem(Phi, np.unique(y, return_inverse=True)[1].astype(np.float64), "nca")
    L = np.ascontiguousarray(est.feature_components_)
    t0 = time.perf_counter()
    problem.loss_grad(L, 0)
    t_eval = time.perf_counter() - t0
    return {
        "n": n,
        "rank": int(est.rank_),
        "map_s": t_map,
        "fit_s": t_fit,
        "n_iter": int(est.n_iter_),
        "eval_s": t_eval,
        "iter_s": (t_fit - t_map) / max(est.n_iter_, 1),
        "mode": problem.last_mode,
        "peak_mb": peak / 1024.0,
        "ns_per_pair": 1e9 * t_eval / (float(n) * n),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,20000,50000,100000")
    ap.add_argument("--max-iter", type=int, default=50)
    ap.add_argument("--landmarks", type=int, default=1000)
    ap.add_argument("--components", type=int, default=16)
    ap.add_argument("--json", default=None)
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child is not None:
        print(json.dumps(child(a.child, a.max_iter, a.landmarks, a.components)))
        return 0
    rows = []
    print(
        f"KernelNCA rbf, n_landmarks={a.landmarks}, n_components={a.components}, max_iter={a.max_iter}, float32, "
        f"{os.cpu_count()} cores"
    )
    print(
        f"{'n':>8} {'rank':>5} {'map s':>7} {'fit s':>8} {'iter':>5} {'s/eval':>7} {'s/iter':>7} "
        f"{'ns/pair':>8} {'mode':>7} {'peak MB':>8}"
    )
    for n in [int(s) for s in a.sizes.split(",")]:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", str(n), "--max-iter", str(a.max_iter)]
        cmd += ["--landmarks", str(a.landmarks), "--components", str(a.components)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{n:>8} failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(r)
        print(
            f"{r['n']:>8} {r['rank']:>5} {r['map_s']:>7.2f} {r['fit_s']:>8.1f} {r['n_iter']:>5} "
            f"{r['eval_s']:>7.2f} {r['iter_s']:>7.2f} {r['ns_per_pair']:>8.3f} {r['mode']:>7} {r['peak_mb']:>8.0f}",
            flush=True,
        )
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
