"""Kernel metric learners (issue 13): fastmetric's KernelNCA / KernelLMNN / KernelMLKR / KernelLFDA
side by side with their linear counterparts and with pyDML's kernel learners.

Protocol (``benchmarks/kernel_datasets.py``, shared with the pyDML runner): spheres6, spheres10,
circles, moons (synthetic, 1000 points each), digits, wine, breast_cancer; stratified 70/30 split with
``random_state=0``; StandardScaler fit on the training part; 3-NN test accuracy in the learned space
(``transform`` of the training and test parts); best fit time of ``--repeat`` fits.

Rows:

* ``euclidean``: 3-NN on the standardised inputs;
* fastmetric linear ``NCA``, ``LMNN``, ``MLKR`` (fit on the class labels taken as real targets, 3-NN on
  its embedding), ``LFDA``;
* fastmetric ``KernelNCA-rbf``, ``KernelLMNN-rbf``, ``KernelLMNN-poly2``, ``KernelMLKR-rbf``,
  ``KernelLFDA-rbf`` (default ``gamma``, i.e. 1/n_features; poly: degree 2, coef0 1; exact kernels,
  ``n_landmarks=None``);
* fastmetric ``KernelNCA-cv``, ``KernelLMNN-cv``, ``KernelMLKR-cv``, ``KernelLFDA-cv``: the kernel
  ("rbf", "poly" of degree 2, "linear") and n_components (1 or n_features) chosen by 3-fold CV of a
  3-NN pipeline on the training part only (``kernel_selection.py``; on digits the kernel only); the
  fit time is one refit with the chosen parameters, the note gives the choice and the selection time
  (``--no-cv`` leaves these rows out);
* pyDML 0.1.0 ``KLMNN-rbf``, ``KLMNN-poly2``, ``KDMLMJ-poly2``, ``KDA-rbf``, ``KANMM-poly2`` with
  pyDML's defaults except the kernel (same gamma / degree / coef0 as above), run by
  ``benchmarks/peers/pydml_runner.py`` in pyDML's own interpreter ($FASTMETRIC_PYDML_PYTHON).

Output dimension: every learner that takes one gets n_components = n_features of the input, on both
sides (fastmetric ``n_components``, pyDML ``num_dims``). pyDML's KDA caps its ``n_components`` at
n_classes - 1 itself (1 dimension on the binary data sets), and pyDML's KLMNN at n_features.

Speed ratios (column ``pyDML/fm``: pyDML fit time / fastmetric fit time on the same data set):
KernelLMNN-rbf against KLMNN-rbf, KernelLMNN-poly2 against KLMNN-poly2, and KernelLFDA-rbf against
KDA-rbf (both kernel Fisher-type eigenproblems); KernelNCA and KernelMLKR have no pyDML counterpart.

Targets of issue 13 (printed as met / missed after the table):

* KernelNCA-rbf and KernelLMNN-rbf: accuracy >= 0.85 on spheres6 and >= 0.83 on spheres10;
* every rbf kernel learner: >= its linear counterpart + 0.10 on both spheres, >= 0.99 on circles and
  moons, >= its linear counterpart on digits, wine and breast_cancer;
* KernelLMNN (rbf and poly2): >= 100x faster than pyDML KLMNN of the same kernel on circles and moons
  and at least as accurate.

Run::

    python benchmarks/bench_kernel_learn.py --no-peer                 # fastmetric rows only
    FASTMETRIC_PYDML_PYTHON=/tmp/venv_pydml/bin/python \\
        python benchmarks/bench_kernel_learn.py --peer-cache /tmp/pydml_cache.json --json rows.json

Options: ``--datasets circles,moons`` and ``--learners "KernelLMNN-rbf,pyDML KLMNN-rbf"`` restrict the
table (names as in the rows, without the ``fastmetric`` prefix); ``--no-peer`` skips pyDML;
``--peer-cache FILE`` reuses pyDML rows found in FILE and runs (and adds to FILE) only the missing
ones -- pyDML's KLMNN takes ~460 s per data set and its rows do not depend on fastmetric;
``--slow-peers`` also runs KLMNN on digits (> 600 s per kernel, skipped otherwise);
``--peer-timeout S`` (default 1800) bounds each pyDML fit; ``--no-fastmetric-kernel`` leaves out the
fastmetric kernel rows; ``--repeat N`` (default $FASTMETRIC_BENCH_REPEAT or 3) fits per cell;
``--threads 1`` runs fastmetric on one thread and notes its CPU time (single-threaded pyDML's CPU
time is the figure least moved by other jobs: compare like with like);
``--json FILE`` saves all rows (each with its target checks); ``--reuse FILE`` takes the euclidean and
fastmetric rows from such a file instead of fitting again (to add pyDML rows that finished later).
The pyDML environment::

    python3 -m venv /tmp/venv_pydml && /tmp/venv_pydml/bin/pip install "Cython<3" "numpy<1.24" \\
        "scipy<1.12" "scikit-learn<1.4" "pandas<2.2" "matplotlib<3.9" seaborn six wheel "setuptools<70"
    /tmp/venv_pydml/bin/pip install --no-build-isolation --no-deps pydml

This module imports only numpy and scikit-learn at import time; fastmetric is imported where used.
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

from kernel_datasets import DATASETS, knn3_accuracy, load_protocol  # noqa: E402

RBF = {"kernel": "rbf"}
POLY2 = {"kernel": "poly", "degree": 2}

#: fastmetric rows: name -> (class name in fastmetric.learn, keyword arguments, fit on real targets)
FASTMETRIC = {
    "fastmetric NCA": ("NCA", {}, False),
    "fastmetric LMNN": ("LMNN", {}, False),
    "fastmetric MLKR": ("MLKR", {}, True),
    "fastmetric LFDA": ("LFDA", {}, False),
}
FASTMETRIC_KERNEL = {
    "fastmetric KernelNCA-rbf": ("KernelNCA", RBF, False),
    "fastmetric KernelLMNN-rbf": ("KernelLMNN", RBF, False),
    "fastmetric KernelLMNN-poly2": ("KernelLMNN", POLY2, False),
    "fastmetric KernelMLKR-rbf": ("KernelMLKR", RBF, True),
    "fastmetric KernelLFDA-rbf": ("KernelLFDA", RBF, False),
}
#: pyDML rows: name -> (class name in dml, keyword arguments)
PYDML = {
    "pyDML KLMNN-rbf": ("KLMNN", RBF),
    "pyDML KLMNN-poly2": ("KLMNN", POLY2),
    "pyDML KDMLMJ-poly2": ("KDMLMJ", POLY2),
    "pyDML KDA-rbf": ("KDA", RBF),
    "pyDML KANMM-poly2": ("KANMM", POLY2),
}
SLOW_PEER = {("pyDML KLMNN-rbf", "digits"), ("pyDML KLMNN-poly2", "digits")}
#: fastmetric kernel row -> (its linear counterpart, the matching pyDML row or None)
MATCH = {
    "fastmetric KernelNCA-rbf": ("fastmetric NCA", None),
    "fastmetric KernelLMNN-rbf": ("fastmetric LMNN", "pyDML KLMNN-rbf"),
    "fastmetric KernelLMNN-poly2": ("fastmetric LMNN", "pyDML KLMNN-poly2"),
    "fastmetric KernelMLKR-rbf": ("fastmetric MLKR", None),
    "fastmetric KernelLFDA-rbf": ("fastmetric LFDA", "pyDML KDA-rbf"),
}
RBF_KERNEL_ROWS = tuple(f"fastmetric Kernel{n}-rbf" for n in ("NCA", "LMNN", "MLKR", "LFDA"))
#: cross-validated rows (``kernel_selection.py``: kernel and n_components chosen on the training part)
FASTMETRIC_CV = {
    f"fastmetric Kernel{n}-cv": (f"Kernel{n}", real)
    for n, real in (("NCA", False), ("LMNN", False), ("MLKR", True), ("LFDA", False))
}
CV_KERNEL_ROWS = tuple(FASTMETRIC_CV)
MATCH.update({name: (f"fastmetric {cls[6:]}", None) for name, (cls, _) in FASTMETRIC_CV.items()})
#: a smaller grid on digits, whose exact kernel fits take seconds each (1,257 rows): the kernel only
DIGITS_GRID = {"kernel": ["rbf", "poly", "linear"], "n_components": [None]}


#: n_threads of the fastmetric fits (``--threads``; None: every core)
N_THREADS = None


def load1():
    return round(os.getloadavg()[0], 2)


# ---------------------------------------------------------------------------- fastmetric side
def run_fastmetric(name, cls_name, params, real_targets, dataset, repeat, module=None):
    """Fit fastmetric.learn.<cls_name>(n_components=n_features, **params) ``repeat`` times on the
    protocol's training part; the row has the best fit time and the last fit's 3-NN accuracy."""
    Xtr, Xte, ytr, yte = load_protocol(dataset)
    row = {"learner": name, "dataset": dataset, "accuracy": None, "fit_seconds": None, "error": None, "load1": load1()}
    try:
        if module is None:
            import fastmetric.learn as module
        cls = getattr(module, cls_name)
        target = ytr.astype(np.float64) if real_targets else ytr
        best = best_cpu = float("inf")
        est = None
        extra = {}
        if N_THREADS is not None and "n_threads" in cls().get_params():
            extra["n_threads"] = N_THREADS
        for _ in range(max(1, repeat)):
            est = cls(n_components=Xtr.shape[1], **params, **extra)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0, c0 = time.perf_counter(), time.process_time()
                est.fit(Xtr, target)
                best = min(best, time.perf_counter() - t0)
                best_cpu = min(best_cpu, time.process_time() - c0)
        row["fit_seconds"] = best
        row["fit_cpu_seconds"] = best_cpu
        row["accuracy"] = knn3_accuracy(est.transform(Xtr), ytr, est.transform(Xte), yte)
        if row["accuracy"] != row["accuracy"]:
            row["error"] = "NaN embedding"
        if getattr(est, "n_iter_", None) is not None:
            row["n_iter"] = int(est.n_iter_)
    except Exception as exc:  # a failing learner is a row, not a crash
        row["error"] = f"{type(exc).__name__}: {exc}"
    return row


def run_selected(name, cls_name, real_targets, dataset):
    """The kernel and n_components of fastmetric.learn.<cls_name> chosen by 3-fold CV on the training
    part (``kernel_selection.select``); the row's fit time is one refit with the chosen parameters
    (comparable with the other rows), ``select_seconds`` the whole selection."""
    from kernel_selection import describe, select

    Xtr, Xte, ytr, yte = load_protocol(dataset)
    row = {"learner": name, "dataset": dataset, "accuracy": None, "fit_seconds": None, "error": None, "load1": load1()}
    try:
        import fastmetric.learn as module

        cls = getattr(module, cls_name)
        target = ytr.astype(np.float64) if real_targets else ytr
        est, best, seconds = select(cls, Xtr, target, grid=DIGITS_GRID if dataset == "digits" else None)
        refit = cls(**est.get_params())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            refit.fit(Xtr, target)
            row["fit_seconds"] = time.perf_counter() - t0
        row["accuracy"] = knn3_accuracy(refit.transform(Xtr), ytr, refit.transform(Xte), yte)
        row["select_seconds"] = seconds
        row["selected"] = describe(best)
    except Exception as exc:  # a failing learner is a row, not a crash
        row["error"] = f"{type(exc).__name__}: {exc}"
    return row


def euclidean_row(dataset):
    Xtr, Xte, ytr, yte = load_protocol(dataset)
    acc = knn3_accuracy(Xtr, ytr, Xte, yte)
    return {"learner": "euclidean", "dataset": dataset, "accuracy": acc, "fit_seconds": 0.0, "error": None}


# ---------------------------------------------------------------------------- pyDML side
def pydml_run(name, datasets, python, timeout):
    """Rows of one pyDML learner from the runner in pyDML's interpreter."""
    cls_name, params = PYDML[name]
    spec = {"learner": cls_name, "label": name, "params": params, "datasets": list(datasets), "timeout": timeout}
    runner = os.path.join(HERE, "peers", "pydml_runner.py")
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    out = subprocess.run([python, runner, json.dumps(spec)], capture_output=True, text=True, env=env)
    if out.returncode != 0 or not out.stdout.strip():
        err = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "runner failed"
        return [{"learner": name, "dataset": d, "accuracy": None, "fit_seconds": None, "error": err} for d in datasets]
    return json.loads(out.stdout.strip().splitlines()[-1])


def pydml_rows(names, datasets, python=None, cache=None, slow=False, timeout=1800.0):
    """pyDML rows for ``names`` x ``datasets``: taken from ``cache`` (a JSON list of rows) when there,
    otherwise run (and added to the cache file). KLMNN on digits is skipped unless ``slow``."""
    cached = []
    if cache and os.path.exists(cache):
        with open(cache) as f:
            cached = json.load(f)
    have = {(r["learner"], r["dataset"]): r for r in cached}
    python = python or os.environ.get("FASTMETRIC_PYDML_PYTHON")
    rows, new = [], []
    for name in names:
        missing = [d for d in datasets if (name, d) not in have and (slow or (name, d) not in SLOW_PEER)]
        if missing and python:
            print(f"# running {name} on {', '.join(missing)} (load {load1()})", file=sys.stderr, flush=True)
            got = pydml_run(name, missing, python, timeout)
            new += got
            have.update({(r["learner"], r["dataset"]): r for r in got})
        for d in datasets:
            if (name, d) in have:
                rows.append(have[(name, d)])
            elif (name, d) in SLOW_PEER and not slow:
                rows.append(_missing(name, d, "skipped (> 600 s; --slow-peers runs it)"))
            else:
                rows.append(_missing(name, d, "no pyDML interpreter (set FASTMETRIC_PYDML_PYTHON)"))
    if cache and new:
        keep = {(r["learner"], r["dataset"]): r for r in cached}
        # failures of the runner itself (no fit was attempted) are not worth caching
        keep.update({(r["learner"], r["dataset"]): r for r in new if "load1" in r})
        with open(cache, "w") as f:
            json.dump(list(keep.values()), f, indent=1)
    return rows


def _missing(name, dataset, why):
    return {"learner": name, "dataset": dataset, "accuracy": None, "fit_seconds": None, "error": why}


# ---------------------------------------------------------------------------- targets
def target_checks(rows):
    """(learner, dataset, description, met) for every target of issue 13 whose rows are there."""
    by = {(r["learner"], r["dataset"]): r for r in rows}

    def acc(learner, ds):
        r = by.get((learner, ds))
        return None if r is None or r.get("accuracy") is None else r["accuracy"]

    checks = []
    for name in (
        "fastmetric KernelNCA-rbf",
        "fastmetric KernelLMNN-rbf",
        "fastmetric KernelNCA-cv",
        "fastmetric KernelLMNN-cv",
    ):
        for ds, floor in (("spheres6", 0.85), ("spheres10", 0.83)):
            a = acc(name, ds)
            if (name, ds) in by:
                checks.append((name, ds, f"acc >= {floor:.2f}", a is not None and a >= floor))
    for name in (*RBF_KERNEL_ROWS, *CV_KERNEL_ROWS):
        linear = MATCH[name][0]
        for ds in DATASETS:
            if (name, ds) not in by:
                continue
            a, b = acc(name, ds), acc(linear, ds)
            if ds in ("spheres6", "spheres10") and b is not None:
                checks.append((name, ds, f"acc >= {linear} + 0.10 ({b + 0.10:.3f})", a is not None and a >= b + 0.10))
            elif ds in ("circles", "moons"):
                checks.append((name, ds, "acc >= 0.99", a is not None and a >= 0.99))
            elif b is not None:
                checks.append((name, ds, f"acc >= {linear} ({b:.3f})", a is not None and a >= b))
    for name in ("fastmetric KernelLMNN-rbf", "fastmetric KernelLMNN-poly2"):
        peer = MATCH[name][1]
        for ds in ("circles", "moons"):
            mine, theirs = by.get((name, ds)), by.get((peer, ds))
            if mine is None or theirs is None or theirs.get("fit_seconds") is None:
                continue
            r = speed_ratio(mine, theirs)
            checks.append((name, ds, f">= 100x faster than {peer}", r is not None and r >= 100.0))
            a, b = mine.get("accuracy"), theirs.get("accuracy")
            if b is not None:
                checks.append((name, ds, f"acc >= {peer} ({b:.3f})", a is not None and a >= b))
    return checks


def speed_ratio(mine, theirs):
    if not mine or not theirs or not mine.get("fit_seconds") or theirs.get("fit_seconds") is None:
        return None
    return theirs["fit_seconds"] / mine["fit_seconds"]


# ---------------------------------------------------------------------------- table
def print_table(rows, checks, file=None):
    file = file or sys.stdout
    by = {(r["learner"], r["dataset"]): r for r in rows}
    per_row = {}
    for learner, ds, text, ok in checks:
        per_row.setdefault((learner, ds), []).append("met" if ok else f"MISSED {text}")
    head = f"{'learner':<28} {'dataset':<14} {'3-NN acc':>8} {'fit s':>9} {'pyDML/fm':>9}  targets / note"
    print(head, file=file)
    print("-" * len(head), file=file)
    order = {d: i for i, d in enumerate(DATASETS)}
    previous = None
    for r in sorted(rows, key=lambda r: order.get(r["dataset"], len(order))):  # stable: learner order kept
        if previous is not None and r["dataset"] != previous:
            print(file=file)
        previous = r["dataset"]
        acc = "" if r.get("accuracy") is None else f"{r['accuracy']:.4f}"
        t = "" if r.get("fit_seconds") is None else f"{r['fit_seconds']:.3f}"
        ratio = ""
        if r["learner"] in MATCH and MATCH[r["learner"]][1]:
            x = speed_ratio(r, by.get((MATCH[r["learner"]][1], r["dataset"])))
            ratio = "" if x is None else f"{x:.1f}x"
        notes = per_row.get((r["learner"], r["dataset"]), [])
        if notes:
            n_met = sum(n == "met" for n in notes)
            missed = [n for n in notes if n != "met"]
            notes = [f"met {n_met}/{len(notes)}"] + missed
        if r.get("selected"):
            notes.append(f"CV chose {r['selected']} (selection {r['select_seconds']:.1f} s)")
        if r.get("error"):
            notes.append(r["error"])
        if r["learner"].startswith("fastmetric") and r.get("fit_cpu_seconds") is not None and N_THREADS == 1:
            notes.append(f"cpu {r['fit_cpu_seconds']:.2f} s")
        if r["learner"].startswith("pyDML") and r.get("load1") is not None:  # measured at another time
            cpu = r.get("fit_cpu_seconds")
            notes.append(f"load {r['load1']:.1f}" + ("" if cpu is None else f", cpu {cpu:.1f} s"))
        print(f"{r['learner']:<28} {r['dataset']:<14} {acc:>8} {t:>9} {ratio:>9}  {'; '.join(notes)}", file=file)
    if checks:
        n_met = sum(ok for *_, ok in checks)
        print(f"\ntargets of issue 13: {n_met} / {len(checks)} met", file=file)
        for learner, ds, text, ok in checks:
            print(f"  {'met   ' if ok else 'MISSED'}  {learner:<28} {ds:<14} {text}", file=file)


def main(argv):
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--learners", default=None, help="comma-separated row names (default: all)")
    p.add_argument("--no-peer", action="store_true", help="skip pyDML")
    p.add_argument("--peer-cache", default=None, help="reuse / save pyDML rows in this JSON file")
    p.add_argument("--slow-peers", action="store_true", help="also run pyDML KLMNN on digits")
    p.add_argument("--peer-timeout", type=float, default=1800.0, help="seconds per pyDML fit")
    p.add_argument("--no-fastmetric-kernel", action="store_true", help="leave out fastmetric's kernel rows")
    p.add_argument("--no-cv", action="store_true", help="leave out the cross-validated kernel rows")
    p.add_argument("--repeat", type=int, default=int(os.environ.get("FASTMETRIC_BENCH_REPEAT", "3")))
    p.add_argument("--json", default=None, help="save all rows to this file")
    p.add_argument("--reuse", default=None, help="take the non-pyDML rows from this earlier --json file")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="n_threads of the fastmetric fits (1: CPU time comparable with pyDML's)",
    )
    args = p.parse_args(argv[1:])

    global N_THREADS
    N_THREADS = args.threads
    datasets = [d for d in args.datasets.split(",") if d]
    for d in datasets:
        if d not in DATASETS:
            p.error(f"unknown data set {d!r}; known: {', '.join(DATASETS)}")
    fm = dict(FASTMETRIC)
    if not args.no_fastmetric_kernel:
        fm.update(FASTMETRIC_KERNEL)
    cv = {} if (args.no_fastmetric_kernel or args.no_cv) else FASTMETRIC_CV
    known = ["euclidean", *fm, *cv, *PYDML]
    wanted = known if args.learners is None else [s.strip() for s in args.learners.split(",") if s.strip()]
    wanted = [w if w in ("euclidean", *PYDML) or w.startswith("fastmetric ") else f"fastmetric {w}" for w in wanted]
    for w in wanted:
        if w not in known:
            p.error(f"unknown learner {w!r}; known: {', '.join(known)}")

    print(f"# load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    rows = []
    if args.reuse:  # the fastmetric / euclidean rows of an earlier run (pyDML's are added below)
        with open(args.reuse) as f:
            earlier = {(r["learner"], r["dataset"]): r for r in json.load(f)}
        rows = [earlier[(n, d)] for n in wanted for d in datasets if (n, d) in earlier and n not in PYDML]
        wanted = [n for n in wanted if n in PYDML]
    for name in wanted:
        for ds in datasets:
            if name == "euclidean":
                rows.append(euclidean_row(ds))
            elif name in fm:
                cls_name, params, real = fm[name]
                rows.append(run_fastmetric(name, cls_name, params, real, ds, args.repeat))
            elif name in cv:
                rows.append(run_selected(name, *cv[name], ds))
            print(f"# {name} {ds} done (load {load1()})", file=sys.stderr, flush=True)
    peers = [w for w in wanted if w in PYDML]
    if peers and not args.no_peer:
        rows += pydml_rows(peers, datasets, cache=args.peer_cache, slow=args.slow_peers, timeout=args.peer_timeout)
    checks = target_checks(rows)
    print_table(rows, checks)
    print(f"# load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        for r in rows:
            key = (r["learner"], r["dataset"])
            r["targets"] = [{"target": text, "met": bool(ok)} for lr, ds, text, ok in checks if (lr, ds) == key]
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main(sys.argv)
