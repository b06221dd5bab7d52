"""SCML_Supervised on digits (the protocol of ``bench_learn3.py``), phase by phase.

    python benchmarks/bench_scml_phases.py                    # fastmetric's phases
    /tmp/venv_ml/bin/python benchmarks/bench_scml_phases.py   # metric-learn 0.7's (its private steps)

Each phase is timed on its own (best of ``--repeat`` runs, default 5, wall and process CPU time), with
random_state=0 and the defaults (k_genuine 3, k_impostor 10, basis "lda", max_iter 10000). BLAS is
limited to one thread (fastmetric's learners do that themselves; set OPENBLAS_NUM_THREADS=1 for
metric-learn).
"""

from __future__ import annotations

import os
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
from bench_learn import load_protocol  # noqa: E402


def timed(fn, repeat):
    best_wall, best_cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        best_wall = min(best_wall, time.perf_counter() - w)
        best_cpu = min(best_cpu, time.process_time() - c)
    return best_wall, best_cpu, out


def fastmetric_phases(X, y, repeat):
    from fastmetric import _core
    from fastmetric.learn import SCML_Supervised
    from fastmetric.learn import scml as S
    from fastmetric.learn._base import blas_single_thread

    codes = np.searchsorted(np.unique(y), y)
    X = np.ascontiguousarray(X, dtype=np.float64)
    rows = []
    with blas_single_thread():
        rows.append(("fit (all phases)", *timed(lambda: SCML_Supervised(random_state=0).fit(X, y), repeat)[:2]))
        w, c, tri = timed(lambda: S.knn_triplets(X, codes, 3, 10, n_threads=1), repeat)
        rows.append((f"k-NN triplets ({tri.shape[0]})", w, c))
        rows.append(("k-means (72 centres)", *timed(lambda: S.kmeans_centres(X, 72, 0), repeat)[:2]))
        w, c, B = timed(lambda: S.lda_bases(X, codes, 1280, 0, n_threads=1), repeat)
        rows.append((f"LDA bases ({B.shape[0]}, k-means included)", w, c))
        w, c, XB = timed(lambda: np.ascontiguousarray(X @ B.T), repeat)
        rows.append(("XB = X B^T", w, c))
        batches = np.random.RandomState(0).randint(0, tri.shape[0], size=(10000, 10)).astype(np.int64)

        def steps():
            st, wv = _core.ScmlSteps(XB, tri, 10, 1e-5, 5e-3), np.zeros(B.shape[0])
            for s in range(0, 10000, 500):
                st.run(batches[s : s + 500], wv)
            return wv

        w, c, wv = timed(steps, repeat)
        rows.append(("10,000 AdaGrad steps (C++)", w, c))
        est = SCML_Supervised(random_state=0)
        w, c, _ = timed(lambda: est._fit_index_triplets(X, tri, B, np.float64), repeat)
        rows.append(("steps + 20 objective checks + components", w, c))
    return rows


def metric_learn_phases(X, y, repeat):
    import metric_learn
    from metric_learn.constraints import Constraints

    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows.append(("fit (all phases)", *timed(lambda: metric_learn.SCML_Supervised(random_state=0).fit(X, y), 1)[:2]))
        est = metric_learn.SCML_Supervised(random_state=0)
        w, c, tri = timed(lambda: Constraints(y).generate_knntriplets(X, 3, 10), repeat)
        rows.append((f"k-NN triplets ({tri.shape[0]})", w, c))
        w, c, (B, nb) = timed(lambda: est._generate_bases_LDA(X, y), 1)
        rows.append((f"LDA bases ({nb}, k-means included)", w, c))
        rows.append(("_fit: unique points, dist_diff, steps, checks", *timed(lambda: est._fit(X[tri], B, nb), 1)[:2]))
    return rows


def main(argv):
    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 5
    Xtr, _, ytr, _ = load_protocol("digits")
    try:
        import fastmetric  # noqa: F401

        rows, who = fastmetric_phases(Xtr, ytr, repeat), "fastmetric"
    except ImportError:
        rows, who = metric_learn_phases(Xtr, ytr, repeat), "metric-learn 0.7"
    print(f"{who} SCML_Supervised on digits ({Xtr.shape[0]} x {Xtr.shape[1]}); load {os.getloadavg()[0]:.2f}")
    for name, w, c in rows:
        print(f"  {name:<48} wall {w * 1000:8.1f} ms   cpu {c * 1000:8.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1:])
