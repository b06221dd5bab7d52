"""metric-learn 0.7's MLKR on the diabetes regression protocol of ``benchmarks/bench_learn2.py``.

Runs inside metric-learn's own environment (scikit-learn < 1.6, no fastmetric)::

    /tmp/venv_ml2/bin/python benchmarks/peers/metric_learn_runner2.py '{"task": "diabetes"}'

Prints one JSON list of rows ``{"learner", "loo_mse", "test_mse", "fit_seconds", "n_iter"}``. The
split, scaling and error measures are imported from ``bench_learn2.py`` so both sides measure the
same thing. (The classification table reuses ``metric_learn_runner.py``.)
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_learn2 import kernel_regression_errors, load_diabetes_protocol  # noqa: E402


def main(argv):
    spec = json.loads(argv[1]) if len(argv) > 1 else {"task": "diabetes"}
    if spec.get("task") != "diabetes":
        raise SystemExit(f"unknown task {spec.get('task')!r}")
    import metric_learn

    Xtr, Xte, ytr, yte = load_diabetes_protocol()
    rows = []
    for label, kw in (("metric-learn MLKR", {}), ("metric-learn MLKR n_components=2", {"n_components": 2})):
        row = {"learner": label}
        try:
            est = metric_learn.MLKR(**kw)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                est.fit(Xtr, ytr)
                row["fit_seconds"] = time.perf_counter() - t0
            row["loo_mse"], row["test_mse"] = kernel_regression_errors(est.transform(Xtr), ytr, est.transform(Xte), yte)
            row["n_iter"] = int(est.n_iter_)  # metric-learn counts loss evaluations here
        except Exception as exc:  # report the peer's failure instead of crashing the benchmark
            row["error"] = f"{type(exc).__name__}: {exc}"
        rows.append(row)
    json.dump(rows, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
