"""Run a pyDML kernel learner on the kernel protocol of issue 13 and print JSON.

pyDML 0.1.0 needs old numpy / scipy / scikit-learn and Cython < 3, so it runs in its own
environment (no fastmetric there)::

    python3 -m venv /tmp/venv_pydml
    /tmp/venv_pydml/bin/pip install "Cython<3" "numpy<1.24" "scipy<1.12" "scikit-learn<1.4" "pandas<2.2" \
        "matplotlib<3.9" seaborn six wheel "setuptools<70"
    /tmp/venv_pydml/bin/pip install --no-build-isolation --no-deps pydml
    /tmp/venv_pydml/bin/python benchmarks/peers/pydml_runner.py \
        '{"learner": "KDMLMJ", "params": {"kernel": "poly", "degree": 2}, "datasets": ["circles", "moons"]}'

The argument is a JSON object:

* ``learner``: a class name of the ``dml`` package (``KLMNN``, ``KDMLMJ``, ``KDA``, ``KANMM``, ...);
* ``label``: the row's learner name (default ``"pyDML <learner>"``);
* ``params``: keyword arguments of the learner (e.g. ``{"kernel": "rbf"}``), optional;
* ``dims``: ``"n_features"`` (default) sets the learner's output dimension (``num_dims``, or
  ``n_components`` for KDA) to the input's feature count; an int sets it to that; null leaves the
  learner's default;
* ``datasets``: names known to ``benchmarks/kernel_datasets.py`` (default: all seven);
* ``repeat``: fits per data set, the best time is reported (default 1);
* ``timeout``: seconds allowed per fit (default 1800); each fit runs in a forked child process that
  is killed when it overruns, and the row's error says so.

Prints one JSON list of ``{"learner", "dataset", "accuracy", "fit_seconds", "error"}`` rows on stdout
(plus ``"fit_cpu_seconds"``, the CPU time of the fit process -- pyDML runs on one thread when
$OPENBLAS_NUM_THREADS=1, and then this is the figure least affected by a loaded machine --
``"n_components"``, the dimension of the embedding, and ``"load1"``, the one-minute load average
when the fit started). A learner's failure (e.g. complex eigenvectors, a singular matrix)
becomes the row's ``error`` instead of stopping the run. The split, scaling and 3-NN accuracy come
from ``benchmarks/kernel_datasets.py``, so both sides measure exactly the same thing.
"""

from __future__ import annotations

import inspect
import json
import multiprocessing
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kernel_datasets import DATASETS, knn3_accuracy, load_protocol  # noqa: E402


def _make(name, params, dims, n_features):
    import dml

    cls = getattr(dml, name)
    kw = dict(params)
    if dims is not None:
        n = n_features if dims == "n_features" else int(dims)
        accepted = inspect.signature(cls.__init__).parameters
        for key in ("num_dims", "n_components"):
            if key in accepted:
                kw.setdefault(key, n)
                break
    return cls(**kw)


def _fit_once(conn, name, params, dims, dataset, repeat):
    """Child process: fit ``repeat`` times, send back (best seconds, best CPU seconds, accuracy,
    n_components, error)."""
    try:
        Xtr, Xte, ytr, yte = load_protocol(dataset)
        best = cpu = float("inf")
        est = None
        for _ in range(repeat):
            est = _make(name, params, dims, Xtr.shape[1])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                c0, t0 = time.process_time(), time.perf_counter()
                est.fit(Xtr, ytr)
                best = min(best, time.perf_counter() - t0)
                cpu = min(cpu, time.process_time() - c0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Ztr, Zte = est.transform(Xtr), est.transform(Xte)
        ncomp = int(Ztr.shape[1]) if Ztr.ndim == 2 else 1
        try:
            acc = knn3_accuracy(Ztr, ytr, Zte, yte)
        except ValueError as exc:  # complex embedding: the fit time is still a figure worth keeping
            conn.send((best, cpu, None, ncomp, f"ValueError: {exc}"))
            return
        conn.send((best, cpu, acc, ncomp, None if acc == acc else "NaN embedding"))
    except Exception as exc:  # report the peer's failure instead of crashing the benchmark
        conn.send((None, None, None, None, f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def run_one(name, params, dims, dataset, repeat, timeout):
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_fit_once, args=(child, name, params, dims, dataset, repeat))
    proc.start()
    child.close()
    result = None
    if parent.poll(timeout):
        try:
            result = parent.recv()
        except EOFError:
            result = None
    if proc.is_alive():
        proc.kill()
    proc.join()
    if result is None:
        if proc.exitcode not in (0, None) and proc.exitcode > 0:
            return None, None, None, None, f"fit process exited with code {proc.exitcode}"
        return None, None, None, None, f"timeout: fit did not finish in {timeout:g} s"
    return result


def main(argv):
    spec = json.loads(argv[1]) if len(argv) > 1 else {}
    name = spec.get("learner", "KDMLMJ")
    label = spec.get("label", f"pyDML {name}")
    params = spec.get("params", {})
    dims = spec.get("dims", "n_features")
    repeat = max(1, int(spec.get("repeat", 1)))
    timeout = float(spec.get("timeout", 1800))
    rows = []
    for ds in spec.get("datasets", list(DATASETS)):
        load1 = os.getloadavg()[0]
        seconds, cpu, acc, ncomp, error = run_one(name, params, dims, ds, repeat, timeout)
        rows.append(
            {
                "learner": label,
                "dataset": ds,
                "accuracy": acc,
                "fit_seconds": seconds,
                "error": error,
                "fit_cpu_seconds": cpu,
                "n_components": ncomp,
                "load1": round(load1, 2),
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)  # progress of long runs
    json.dump(rows, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
