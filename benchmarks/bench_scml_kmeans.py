"""SCML_Supervised on digits: how much of the accuracy gap to metric-learn 0.7 is its k-means?

    python benchmarks/bench_scml_kmeans.py [--seeds 10]

metric-learn's "lda" basis starts from scikit-learn's ``KMeans(n_clusters, n_init=10,
algorithm="elkan", random_state=random_state)``, the best of ten greedy k-means++ / Lloyd runs;
fastmetric's ``kmeans_centres`` runs one k-means++ / Lloyd pass. For each ``random_state`` this fits
fastmetric's SCML_Supervised twice, once as it is and once with scikit-learn's centres put in place
of its own (the module function ``fastmetric.learn.scml.kmeans_centres`` swapped for the run), and
prints the 3-NN test accuracy of both (protocol of ``bench_learn3.py``) and the time of each k-means.
If the rest of the pipeline is metric-learn's, the second column equals metric-learn's accuracy at
every seed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
from bench_learn import knn3_accuracy, load_protocol  # noqa: E402


def sklearn_centres(X, k, random_state, **_):
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=10, algorithm="elkan", random_state=random_state).fit(X).cluster_centers_


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits

    from fastmetric.learn import SCML_Supervised
    from fastmetric.learn import scml

    Xtr, Xte, ytr, yte = load_protocol("digits")
    # the "lda" basis' default centre count: n_basis = min(20 d, 2 n r - 1), r = min(n_classes - 1, d)
    n, d = Xtr.shape
    r = min(np.unique(ytr).size - 1, d)
    k = int(np.ceil(min(20 * d, 2 * n * r - 1) / (2 * r)))
    own = scml.kmeans_centres
    print(f"{k} k-means centres")
    print("random_state | fastmetric (own k-means) | with scikit-learn's centres | k-means time own / scikit-learn")
    print("---:|---:|---:|---")
    acc = {"own": [], "sklearn": []}
    for seed in range(args.seeds):
        row = {}
        for name, fn in (("own", own), ("sklearn", sklearn_centres)):
            with threadpool_limits(1, "blas"):
                t0 = time.perf_counter()
                fn(Xtr, k, seed)
                row[name + "_s"] = time.perf_counter() - t0
            scml.kmeans_centres = fn
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    m = SCML_Supervised(random_state=seed).fit(Xtr, ytr)
            finally:
                scml.kmeans_centres = own
            acc[name].append(knn3_accuracy(m.transform(Xtr), ytr, m.transform(Xte), yte))
        print(
            f"{seed} | {acc['own'][-1]:.4f} | {acc['sklearn'][-1]:.4f} | "
            f"{row['own_s'] * 1e3:.0f} ms / {row['sklearn_s'] * 1e3:.0f} ms"
        )
    print(f"mean | {np.mean(acc['own']):.4f} | {np.mean(acc['sklearn']):.4f} |")


if __name__ == "__main__":
    main()
