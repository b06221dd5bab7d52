"""MLKR on digits against metric-learn 0.7 at the same ``max_iter``, evaluation by evaluation (issue 12).

Both libraries minimise the same objective (sum of squared leave-one-out errors of Gaussian kernel
regression) from the same start (the identity) with SciPy's L-BFGS-B at the same ``max_iter`` and
``tol``. Their paths agree for the first evaluations and then part by rounding, so "the same
``max_iter``" can mean different amounts of work: this script records every evaluation's loss and
time on both sides and reports

* the fit time ratio at the same ``max_iter`` (the issue's protocol),
* evaluations, iterations and final losses of each,
* the time per evaluation of each and its ratio (the per-evaluation speed-up),
* how long fastmetric takes to reach metric-learn's final loss, and that ratio.

Usage (metric-learn needs scikit-learn < 1.6, so it runs in its own interpreter)::

    python -m venv /tmp/venv_ml && /tmp/venv_ml/bin/pip install "scikit-learn<1.6" metric-learn==0.7.0
    FASTMETRIC_ML_PYTHON=/tmp/venv_ml/bin/python python benchmarks/bench_mlkr_path.py [--max-iter 100]

The same protocol as ``bench_learn.py`` (stratified 70/30 split, random_state=0, StandardScaler on the
training part); the class labels are MLKR's real targets.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time

import numpy as np


def protocol():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    sc = StandardScaler().fit(Xtr)
    return sc.transform(Xtr), sc.transform(Xte), ytr, yte


def traced_fit(make, Xtr, ytr, patch):
    """Fit with scipy.optimize.minimize wrapped to log (seconds since start, loss) per evaluation."""
    import scipy.optimize as so

    orig = so.minimize
    log, res_box = [], {}

    def minimize(fun, x0, *a, **k):
        t0 = time.perf_counter()

        def f(x, *aa):
            r = fun(x, *aa)
            log.append((time.perf_counter() - t0, float(r[0] if isinstance(r, tuple) else r)))
            return r

        res = orig(f, x0, *a, **k)
        res_box["nit"] = int(res.nit)
        return res

    patch(minimize)
    try:
        est = make()
        t = time.perf_counter()
        est.fit(Xtr, ytr.astype(float))
        total = time.perf_counter() - t
    finally:
        patch(orig)
    return est, total, log, res_box.get("nit")


def run_side(side, max_iter, repeat):
    Xtr, Xte, ytr, yte = protocol()
    from sklearn.neighbors import KNeighborsClassifier

    if side == "fastmetric":
        from fastmetric.learn import MLKR

        def patch(fn):
            import scipy.optimize

            scipy.optimize.minimize = fn

        make = lambda: MLKR(max_iter=max_iter)  # noqa: E731
    else:
        import metric_learn.mlkr as mlm

        def patch(fn):
            mlm.minimize = fn

        make = lambda: mlm.MLKR(max_iter=max_iter)  # noqa: E731
    best = None
    for _ in range(repeat):
        est, total, log, nit = traced_fit(make, Xtr, ytr, patch)
        if best is None or total < best[1]:
            best = (est, total, log, nit)
    est, total, log, nit = best
    acc = KNeighborsClassifier(3).fit(est.transform(Xtr), ytr).score(est.transform(Xte), yte)
    return {"side": side, "seconds": total, "log": log, "nit": nit, "accuracy": float(acc)}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-iter", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", choices=["fastmetric", "metric-learn"])
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(run_side(args.child, args.max_iter, args.repeat)))
        return
    fm = run_side("fastmetric", args.max_iter, args.repeat)
    py = os.environ.get("FASTMETRIC_ML_PYTHON", "/tmp/venv_ml/bin/python")
    out = subprocess.run(
        [py, os.path.abspath(__file__), "--child", "metric-learn", "--max-iter", str(args.max_iter), "--repeat", "1"],
        capture_output=True, text=True, check=True,
    )
    ml = json.loads(out.stdout.strip().splitlines()[-1])
    for r in (fm, ml):
        n = len(r["log"])
        print(
            f"{r['side']:12s} max_iter={args.max_iter}: {r['seconds']:.3f} s, {r['nit']} iterations, {n} evaluations, "
            f"{r['seconds'] / n * 1e3:.2f} ms/evaluation, final loss {r['log'][-1][1]:.4f}, 3-NN {r['accuracy']:.4f}"
        )
    target = ml["log"][-1][1]
    fm_best = np.minimum.accumulate([v for _, v in fm["log"]])
    reach = int(np.argmax(fm_best <= target)) if (fm_best <= target).any() else None
    print(f"fit-time ratio at the same max_iter: {ml['seconds'] / fm['seconds']:.1f}x")
    print(
        f"per-evaluation ratio: {(ml['seconds'] / len(ml['log'])) / (fm['seconds'] / len(fm['log'])):.1f}x"
    )
    if reach is not None:
        t_reach = fm["log"][reach][0]
        print(
            f"fastmetric reaches metric-learn's final loss {target:.4f} at evaluation {reach + 1} "
            f"after {t_reach:.3f} s: {ml['seconds'] / t_reach:.1f}x"
        )
    else:
        print(f"fastmetric never reaches metric-learn's final loss {target:.4f}")


if __name__ == "__main__":
    main()
