"""Learned-metric benchmark: accuracy and fit time of fastmetric's learners against their peers.

Protocol (issue 5): scikit-learn's bundled data sets (iris, wine, breast_cancer, digits), stratified
70/30 split with ``random_state=0``, StandardScaler fit on the training part, 3-NN test accuracy in
the learned space. Peers run side by side: plain euclidean, scikit-learn's NCA (same process) and
metric-learn 0.7 (its own virtualenv, through ``benchmarks/peers/metric_learn_runner.py``).

Run::

    python benchmarks/bench_learn.py                      # accuracy / time table, four data sets
    python benchmarks/bench_learn.py --scale              # NCA / LMNN time per iteration, 5k .. 50k
    FASTMETRIC_ML_PYTHON=/tmp/venv_ml/bin/python python benchmarks/bench_learn.py   # + metric-learn

Reusing the protocol (e.g. ``benchmarks/bench_learn2.py`` for more learners)::

    from bench_learn import DATASETS, load_protocol, knn3_accuracy, run_learner, metric_learn_rows, print_table

This module imports only numpy and scikit-learn at import time (the metric-learn runner imports it
inside an environment without fastmetric); fastmetric is imported inside the functions that use it.
Environment: ``FASTMETRIC_BENCH_REPEAT`` (fits per cell, best time; default 3),
``FASTMETRIC_BENCH_SIZES`` (scale run sizes, default "5000,10000,20000,50000"),
``FASTMETRIC_BENCH_SCALE_ITERS`` (default 50).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np

DATASETS = ("iris", "wine", "breast_cancer", "digits")
HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------------------- the protocol
def load_protocol(name, dtype=np.float64):
    """(X_train, X_test, y_train, y_test) of a bundled data set: stratified 70/30 split with
    random_state=0, StandardScaler fit on the training part."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    loaders = {
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "digits": datasets.load_digits,
    }
    if name not in loaders:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(loaders)}")
    X, y = loaders[name](return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    scaler = StandardScaler().fit(Xtr)
    return scaler.transform(Xtr).astype(dtype), scaler.transform(Xte).astype(dtype), ytr, yte


def knn3_accuracy(Ztr, ytr, Zte, yte):
    """3-NN test accuracy of embedded training / test points (NaN if the embedding is not finite)."""
    from sklearn.neighbors import KNeighborsClassifier

    Ztr = np.asarray(Ztr, dtype=np.float64)
    Zte = np.asarray(Zte, dtype=np.float64)
    if not (np.isfinite(Ztr).all() and np.isfinite(Zte).all()):
        return float("nan")
    return float(KNeighborsClassifier(n_neighbors=3).fit(Ztr, ytr).score(Zte, yte))


def run_learner(make, dataset, repeat=None, dtype=np.float64):
    """Fit ``make()`` on the protocol's training part ``repeat`` times; returns a result row with the
    best fit time and the 3-NN accuracy of the last fit (``make=None``: plain euclidean)."""
    repeat = int(os.environ.get("FASTMETRIC_BENCH_REPEAT", "3")) if repeat is None else repeat
    Xtr, Xte, ytr, yte = load_protocol(dataset, dtype)
    if make is None:
        return {"dataset": dataset, "accuracy": knn3_accuracy(Xtr, ytr, Xte, yte), "fit_seconds": 0.0, "error": None}
    best = float("inf")
    est = None
    try:
        for _ in range(max(1, repeat)):
            est = make()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                est.fit(Xtr, ytr)
                best = min(best, time.perf_counter() - t0)
        acc = knn3_accuracy(est.transform(Xtr), ytr, est.transform(Xte), yte)
        return {
            "dataset": dataset,
            "accuracy": acc,
            "fit_seconds": best,
            "error": None,
            "n_iter": getattr(est, "n_iter_", None),
        }
    except Exception as exc:
        return {"dataset": dataset, "accuracy": None, "fit_seconds": None, "error": f"{type(exc).__name__}: {exc}"}


def metric_learn_rows(learner, datasets=DATASETS, params=None, repeat=1, python=None, timeout=3600):
    """Rows from metric-learn 0.7 run in its own interpreter (``python`` or $FASTMETRIC_ML_PYTHON);
    [] when no such interpreter is configured."""
    python = python or os.environ.get("FASTMETRIC_ML_PYTHON")
    if not python:
        return []
    spec = {"learner": learner, "datasets": list(datasets), "params": params or {}, "repeat": repeat}
    runner = os.path.join(HERE, "peers", "metric_learn_runner.py")
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    out = subprocess.run([python, runner, json.dumps(spec)], capture_output=True, text=True, timeout=timeout, env=env)
    if out.returncode != 0:
        return [
            {
                "dataset": d,
                "learner": f"metric-learn {learner}",
                "accuracy": None,
                "fit_seconds": None,
                "error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "runner failed",
            }
            for d in datasets
        ]
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_table(rows, file=None, width=24):
    """Print result rows (dicts with learner, dataset, accuracy, fit_seconds, error) as a table."""
    file = file or sys.stdout
    print(f"{'learner':<{width}} {'dataset':<14} {'3-NN acc':>9} {'fit s':>9}  note", file=file)
    for r in rows:
        acc = "" if r.get("accuracy") is None else f"{r['accuracy']:.4f}"
        t = "" if r.get("fit_seconds") is None else f"{r['fit_seconds']:.3f}"
        note = r.get("error") or (f"n_iter={r['n_iter']}" if r.get("n_iter") is not None else "")
        print(f"{r['learner']:<{width}} {r['dataset']:<14} {acc:>9} {t:>9}  {note}", file=file)


# ---------------------------------------------------------------------------- fastmetric learners
def learner_factories(max_iter_nca=50, tol_nca=1e-5):
    """name -> zero-argument factory (None: plain euclidean). NCA uses scikit-learn's max_iter / tol."""
    from sklearn.neighbors import NeighborhoodComponentsAnalysis

    from fastmetric.learn import LMNN, NCA

    return {
        "euclidean": None,
        "sklearn NCA": lambda: NeighborhoodComponentsAnalysis(max_iter=max_iter_nca, tol=tol_nca, random_state=0),
        "fastmetric NCA": lambda: NCA(max_iter=max_iter_nca, tol=tol_nca),
        "fastmetric LMNN": lambda: LMNN(n_neighbors=3),
    }


def accuracy_table(datasets=DATASETS, repeat=None):
    rows = []
    for name, make in learner_factories().items():
        for ds in datasets:
            row = run_learner(make, ds, repeat=repeat)
            row["learner"] = name
            rows.append(row)
    for learner in ("NCA", "LMNN"):
        rows += metric_learn_rows(learner, datasets, repeat=1)
    return rows


def ratios(rows):
    """fit-time ratios peer / fastmetric on each data set (digits is the target)."""
    by = {(r["learner"], r["dataset"]): r for r in rows}
    out = []
    for fm, peer in (
        ("fastmetric NCA", "sklearn NCA"),
        ("fastmetric NCA", "metric-learn NCA"),
        ("fastmetric LMNN", "metric-learn LMNN"),
    ):
        for ds in DATASETS:
            a, b = by.get((fm, ds)), by.get((peer, ds))
            if a and b and a.get("fit_seconds") and b.get("fit_seconds"):
                out.append(f"{peer} / {fm} on {ds}: {b['fit_seconds'] / a['fit_seconds']:.1f}x")
    return out


# ---------------------------------------------------------------------------- scale runs
def peak_rss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def scale_case(learner, n, n_iter, seed=0):
    """Fit NCA (n_components=32, exactly n_iter iterations) or LMNN (k=3, at most n_iter iterations,
    default convergence tolerance) on make_classification (n x 64 float32, 10 classes, standardised)
    in a fresh process; returns a dict with seconds per iteration and the peak resident memory of
    that process."""
    code = f"""
import json, time, resource, warnings
import numpy as np
from sklearn.datasets import make_classification
from fastmetric.learn import NCA, LMNN
X, y = make_classification(n_samples={n}, n_features=64, n_informative=16, n_redundant=8, n_classes=10,
                           n_clusters_per_class=2, class_sep=1.0, random_state={seed})
X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
if {learner!r} == "NCA":
    est = NCA(n_components=32, max_iter={n_iter}, tol=0.0)
else:
    est = LMNN(n_neighbors=3, max_iter={n_iter})  # default convergence_tol: it stops once converged
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
t0 = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    est.fit(X, y)
t = time.perf_counter() - t0
print(json.dumps({{"learner": {learner!r}, "n": {n}, "seconds": t, "n_iter": int(est.n_iter_),
                  "s_per_iter": t / max(1, est.n_iter_),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                  "rss_before_fit_mb": rss0}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        return {"learner": learner, "n": n, "error": out.stderr.strip().splitlines()[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def scale_table():
    sizes = [int(s) for s in os.environ.get("FASTMETRIC_BENCH_SIZES", "5000,10000,20000,50000").split(",")]
    n_iter = int(os.environ.get("FASTMETRIC_BENCH_SCALE_ITERS", "50"))
    rows = []
    for learner in ("NCA", "LMNN"):
        for n in sizes:
            r = scale_case(learner, n, n_iter)
            rows.append(r)
            if "error" in r:
                print(f"{learner:5} n={n:6d}  ERROR {r['error']}", flush=True)
            else:
                print(
                    f"{learner:5} n={n:6d}  {r['n_iter']:3d} it  {r['seconds']:8.1f} s  "
                    f"{r['s_per_iter']:7.3f} s/it  peak RSS {r['peak_rss_mb']:7.0f} MB",
                    flush=True,
                )
    return rows


def main(argv):
    if "--scale" in argv:
        scale_table()
        return
    rows = accuracy_table()
    print_table(rows)
    for line in ratios(rows):
        print(line)


if __name__ == "__main__":
    main(sys.argv[1:])
