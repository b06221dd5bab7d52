"""Learned-metric benchmark, group 2: ITML, MMC, MLKR, LFDA, RCA and Covariance against metric-learn 0.7.

Protocol (issues 5 and 6, shared with ``bench_learn.py``): scikit-learn's bundled iris, wine,
breast_cancer and digits; stratified 70/30 split with ``random_state=0``; StandardScaler fit on the
training part; 3-NN test accuracy in the learned space; best fit time of ``FASTMETRIC_BENCH_REPEAT``
fits. Learners that draw constraints get ``random_state=0`` on both sides. metric-learn runs in its
own interpreter (it needs scikit-learn < 1.6)::

    python -m venv /tmp/venv_ml2 && /tmp/venv_ml2/bin/pip install "scikit-learn<1.6" metric-learn==0.7.0
    FASTMETRIC_ML_PYTHON=/tmp/venv_ml2/bin/python python benchmarks/bench_learn2.py

Regression (MLKR's own task): ``load_diabetes``, 70/30 split with ``random_state=0``, X and y
standardised on the training part; the Gaussian-kernel regression error exp(-|L(x - x')|^2) in the
learned space against the same kernel on the Euclidean space -- leave-one-out on the training part
(MLKR's objective) and on the test part.

Options: ``--learners ITML_Supervised,MLKR`` and ``--datasets digits`` restrict the table;
``--no-peer`` skips metric-learn; ``--peer-cache FILE`` reuses metric-learn's rows from FILE when it
exists (they take minutes and do not depend on fastmetric) and saves them there otherwise;
``--json FILE`` saves all rows. This module imports only numpy and
scikit-learn at import time (the peer runner imports its protocol functions inside metric-learn's
environment).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_learn import DATASETS, metric_learn_rows, print_table, run_learner  # noqa: E402

#: learner name -> (fastmetric keyword arguments, metric-learn keyword arguments)
LEARNERS = {
    "ITML_Supervised": ({"random_state": 0}, {"random_state": 0}),
    "MMC_Supervised": ({"random_state": 0}, {"random_state": 0}),
    "MLKR": ({}, {}),
    "LFDA": ({}, {}),
    "RCA_Supervised": ({"random_state": 0}, {"random_state": 0}),
    "Covariance": ({}, {}),
}

#: speed targets of issue 6: (learner, data set) -> minimum fit-time ratio metric-learn / fastmetric
TARGETS = {
    ("ITML_Supervised", "digits"): 20.0,
    ("MMC_Supervised", "digits"): 20.0,
    ("MMC_Supervised", "breast_cancer"): 100.0,
    ("MLKR", "digits"): 20.0,
}


# ---------------------------------------------------------------------------- regression protocol
def load_diabetes_protocol():
    """(X_train, X_test, y_train, y_test): 70/30 split (random_state=0), X and y standardised with
    the training part's mean and standard deviation."""
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_diabetes(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0)
    sx = StandardScaler().fit(Xtr)
    mu, sd = ytr.mean(), ytr.std()
    return sx.transform(Xtr), sx.transform(Xte), (ytr - mu) / sd, (yte - mu) / sd


def kernel_regression_errors(Ztr, ytr, Zte, yte):
    """Mean squared errors of Gaussian-kernel regression exp(-|z - z'|^2): leave-one-out on the
    training points and on the test points (numpy only; the sets are small)."""
    Ztr = np.asarray(Ztr, dtype=np.float64)
    Zte = np.asarray(Zte, dtype=np.float64)
    if not (np.isfinite(Ztr).all() and np.isfinite(Zte).all()):
        return float("nan"), float("nan")

    def predict(D, mask_diagonal):
        if mask_diagonal:
            np.fill_diagonal(D, np.inf)
        W = np.exp(-(D - D.min(axis=1, keepdims=True)))
        return W @ ytr / W.sum(axis=1)

    def sq(A, B):
        return np.maximum((A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2 * A @ B.T, 0.0)

    loo = float(np.mean((predict(sq(Ztr, Ztr), True) - ytr) ** 2))
    test = float(np.mean((predict(sq(Zte, Ztr), False) - yte) ** 2))
    return loo, test


def diabetes_fastmetric(repeat):
    from fastmetric.learn import MLKR

    Xtr, Xte, ytr, yte = load_diabetes_protocol()
    rows = []
    loo, test = kernel_regression_errors(Xtr, ytr, Xte, yte)
    rows.append({"learner": "euclidean", "loo_mse": loo, "test_mse": test, "fit_seconds": 0.0})
    for label, kw in (
        ("fastmetric MLKR", {}),
        ("fastmetric MLKR n_components=2", {"n_components": 2}),
        ("fastmetric MLKR alpha=10", {"alpha": 10.0}),
    ):
        best, est = float("inf"), None
        for _ in range(repeat):
            est = MLKR(**kw)
            t0 = time.perf_counter()
            est.fit(Xtr, ytr)
            best = min(best, time.perf_counter() - t0)
        loo, test = kernel_regression_errors(est.transform(Xtr), ytr, est.transform(Xte), yte)
        rows.append({"learner": label, "loo_mse": loo, "test_mse": test, "fit_seconds": best, "n_iter": est.n_iter_})
    return rows


def diabetes_peer(python=None, timeout=3600):
    python = python or os.environ.get("FASTMETRIC_ML_PYTHON")
    if not python:
        return []
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    runner = os.path.join(HERE, "peers", "metric_learn_runner2.py")
    out = subprocess.run(
        [python, runner, json.dumps({"task": "diabetes"})], capture_output=True, text=True, timeout=timeout, env=env
    )
    if out.returncode != 0:
        tail = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "runner failed"
        return [{"learner": "metric-learn MLKR", "error": tail}]
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_regression(rows, file=None):
    file = file or sys.stdout
    print(f"{'learner (diabetes)':<34} {'LOO mse':>9} {'test mse':>9} {'fit s':>8}  note", file=file)
    for r in rows:
        if r.get("error"):
            print(f"{r['learner']:<34} {'':>9} {'':>9} {'':>8}  {r['error']}", file=file)
            continue
        note = f"n_iter={r['n_iter']}" if r.get("n_iter") is not None else ""
        print(f"{r['learner']:<34} {r['loo_mse']:9.4f} {r['test_mse']:9.4f} {r['fit_seconds']:8.3f}  {note}", file=file)


def peer_rows(learners, datasets, cache=None):
    cached = []
    if cache and os.path.exists(cache):
        with open(cache) as f:
            cached = json.load(f)
    have = {(r["learner"], r["dataset"]) for r in cached}
    rows = list(cached)
    for name in learners:
        for ds in datasets:  # one data set per call: a peer's crash or time-out loses one cell
            if (f"metric-learn {name}", ds) in have:
                continue
            got = metric_learn_rows(name, [ds], params=LEARNERS[name][1], repeat=1)
            rows += got
            for r in got:
                print(
                    f"  metric-learn {name:16} {ds:14} acc {r.get('accuracy')} fit {r.get('fit_seconds')} "
                    f"{r.get('error') or ''}",
                    file=sys.stderr,
                    flush=True,
                )
            if cache and got:
                with open(cache, "w") as f:
                    json.dump(rows, f, indent=1)
    keep = {f"metric-learn {n}" for n in learners}
    return [r for r in rows if r["learner"] in keep and r["dataset"] in datasets]


def accuracy_table(learners, datasets, repeat=None, peer=True, cache=None):
    import fastmetric.learn as fl

    rows = []
    for ds in datasets:
        row = run_learner(None, ds, repeat=1)
        row["learner"] = "euclidean"
        rows.append(row)
    for name in learners:
        kw = LEARNERS[name][0]
        cls = getattr(fl, name)
        for ds in datasets:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                row = run_learner(lambda cls=cls, kw=kw: cls(**kw), ds, repeat=repeat)
            row["learner"] = f"fastmetric {name}"
            rows.append(row)
            print(
                f"  fastmetric {name:16} {ds:14} acc {row['accuracy']} fit {row['fit_seconds']}",
                file=sys.stderr,
                flush=True,
            )
    if peer:
        rows += peer_rows(learners, datasets, cache)
    return rows


def ratio_lines(rows):
    by = {(r["learner"], r["dataset"]): r for r in rows}
    lines = []
    for name in LEARNERS:
        for ds in DATASETS:
            a = by.get((f"fastmetric {name}", ds))
            b = by.get((f"metric-learn {name}", ds))
            e = by.get(("euclidean", ds))
            if not a or not b or not a.get("fit_seconds") or not b.get("fit_seconds"):
                continue
            ratio = b["fit_seconds"] / a["fit_seconds"]
            target = TARGETS.get((name, ds))
            acc_note = ""
            if a.get("accuracy") is not None and e and e.get("accuracy") is not None:
                acc_note = "  acc >= euclidean" if a["accuracy"] >= e["accuracy"] else "  acc < euclidean"
            tgt = "" if target is None else (f"  target >= {target:.0f}x: " + ("met" if ratio >= target else "MISSED"))
            lines.append(
                f"{name} on {ds}: metric-learn {b['fit_seconds']:.3f}s / fastmetric {a['fit_seconds']:.3f}s"
                f" = {ratio:.1f}x{tgt}{acc_note}"
            )
    return lines


def main(argv):
    def opt(name, default):
        return argv[argv.index(name) + 1] if name in argv else default

    learners = [s for s in opt("--learners", ",".join(LEARNERS)).split(",") if s]
    datasets = [s for s in opt("--datasets", ",".join(DATASETS)).split(",") if s]
    peer = "--no-peer" not in argv
    repeat = int(os.environ.get("FASTMETRIC_BENCH_REPEAT", "3"))
    rows = accuracy_table(learners, datasets, repeat=repeat, peer=peer, cache=opt("--peer-cache", None))
    print_table(rows, width=30)
    for line in ratio_lines(rows):
        print(line)
    reg = []
    if "MLKR" in learners:
        reg = diabetes_fastmetric(repeat) + (diabetes_peer() if peer else [])
        print()
        print_regression(reg)
    path = opt("--json", None)
    if path:
        with open(path, "w") as f:
            json.dump({"classification": rows, "regression": reg}, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
