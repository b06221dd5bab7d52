"""Learned-metric benchmark, group 3 (issue 17): LSML, SDML and SCML (``*_Supervised``) against metric-learn 0.7.

Protocol of ``bench_learn.py`` / ``bench_learn2.py``: scikit-learn's bundled data sets, stratified
70/30 split with ``random_state=0``, StandardScaler fit on the training part, 3-NN test accuracy in
the learned space, best fit time of ``FASTMETRIC_BENCH_REPEAT`` fits (default 3; metric-learn gets
``--peer-repeat`` fits, default 2). Both sides run their defaults (same ``max_iter`` and ``tol``) with
``random_state=0``. metric-learn needs scikit-learn < 1.6, so it runs in its own interpreter::

    python -m venv /tmp/venv_ml && /tmp/venv_ml/bin/pip install "scikit-learn<1.6" metric-learn==0.7.0
    FASTMETRIC_ML_PYTHON=/tmp/venv_ml/bin/python python benchmarks/bench_learn3.py

Options: ``--learners LSML_Supervised`` and ``--datasets digits,iris`` (default: digits) restrict
the table; ``--no-peer`` skips metric-learn; ``--same-iterations`` caps fastmetric's ``max_iter`` at
the number of iterations metric-learn ran on the same data (metric-learn runs first);
``--peer-blas-threads N`` limits metric-learn's BLAS threads
(fastmetric's learners keep BLAS on one thread; on a loaded machine a multi-threaded BLAS slows
metric-learn several-fold, which would flatter the ratio); ``--json FILE`` saves the rows. The last lines give
the fit-time ratio metric-learn / fastmetric against the issue's target (20x) and compare the
accuracies (fastmetric's must be at least metric-learn's).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_learn import print_table, run_learner  # noqa: E402

#: learner name -> (fastmetric keyword arguments, metric-learn keyword arguments)
LEARNERS = {
    "LSML_Supervised": ({"random_state": 0}, {"random_state": 0}),
    "SDML_Supervised": ({"random_state": 0}, {"random_state": 0}),
    "SCML_Supervised": ({"random_state": 0}, {"random_state": 0}),
}

#: issue 17's target: fit-time ratio metric-learn / fastmetric on digits
TARGET = 20.0


def peer_rows(name, datasets, params, repeat, python=None, timeout=3600, blas_threads=None):
    """metric-learn's rows from ``peers/metric_learn_runner3.py`` in its own interpreter
    (``blas_threads``: limit its BLAS / OpenMP threads, as fastmetric's learners limit BLAS to one)."""
    python = python or os.environ.get("FASTMETRIC_ML_PYTHON")
    if not python:
        return []
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if blas_threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(blas_threads)
    runner = os.path.join(HERE, "peers", "metric_learn_runner3.py")
    spec = {"learner": name, "datasets": list(datasets), "params": params, "repeat": repeat}
    out = subprocess.run([python, runner, json.dumps(spec)], capture_output=True, text=True, timeout=timeout, env=env)
    if out.returncode != 0:
        tail = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "runner failed"
        return [{"dataset": d, "learner": f"metric-learn {name}", "error": tail} for d in datasets]
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(learners, datasets, repeat, peer, peer_repeat, peer_threads=None, same_iterations=False):
    """Rows of the table; ``same_iterations`` runs metric-learn first and caps fastmetric's
    ``max_iter`` at the iterations metric-learn ran (the issue's "at the same iterations")."""
    import fastmetric.learn as fl

    rows = []
    for ds in datasets:
        row = run_learner(None, ds, repeat=1)
        row["learner"] = "euclidean"
        rows.append(row)
    for name in learners:
        kw_fm, kw_ml = LEARNERS[name]
        cls = getattr(fl, name)
        peer_got = peer_rows(name, datasets, kw_ml, peer_repeat, blas_threads=peer_threads) if peer else []
        caps = {r["dataset"]: r.get("n_iter") for r in peer_got if same_iterations and r.get("n_iter")}
        for ds in datasets:
            kw = dict(kw_fm, max_iter=int(caps[ds])) if ds in caps else kw_fm
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                row = run_learner(lambda cls=cls, kw=kw: cls(**kw), ds, repeat=repeat)
            row["learner"] = f"fastmetric {name}"
            rows.append(row)
        rows += peer_got
    return rows


def ratio_lines(rows):
    by = {(r["learner"], r["dataset"]): r for r in rows}
    lines = []
    for (learner, ds), a in by.items():
        if not learner.startswith("fastmetric "):
            continue
        name = learner.split(" ", 1)[1]
        b = by.get((f"metric-learn {name}", ds))
        if b is None:
            continue
        if b.get("error") or not b.get("fit_seconds"):
            lines.append(f"{name} on {ds}: metric-learn fails ({b.get('error')}); fastmetric {a['fit_seconds']:.3f}s")
            continue
        ratio = b["fit_seconds"] / a["fit_seconds"]
        met = "met" if ratio >= TARGET else "MISSED"
        acc = "acc >= metric-learn" if a["accuracy"] >= b["accuracy"] else "acc < metric-learn"
        lines.append(
            f"{name} on {ds}: metric-learn {b['fit_seconds']:.3f}s ({b.get('n_iter')} iterations) / fastmetric "
            f"{a['fit_seconds']:.3f}s ({a.get('n_iter')} iterations) = {ratio:.1f}x  target >= {TARGET:.0f}x: {met}  "
            f"{acc} ({a['accuracy']:.4f} vs {b['accuracy']:.4f})"
        )
    return lines


def main(argv):
    def opt(name, default):
        return argv[argv.index(name) + 1] if name in argv else default

    learners = [s for s in opt("--learners", ",".join(LEARNERS)).split(",") if s]
    datasets = [s for s in opt("--datasets", "digits").split(",") if s]
    repeat = int(os.environ.get("FASTMETRIC_BENCH_REPEAT", "3"))
    threads = opt("--peer-blas-threads", None)
    rows = table(
        learners, datasets, repeat, "--no-peer" not in argv, int(opt("--peer-repeat", "2")), threads,
        same_iterations="--same-iterations" in argv,
    )
    print_table(rows, width=30)
    for line in ratio_lines(rows):
        print(line)
    path = opt("--json", None)
    if path:
        with open(path, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
