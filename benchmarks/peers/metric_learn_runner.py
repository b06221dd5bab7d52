"""Run a metric-learn 0.7 learner on the fastmetric learner protocol and print JSON.

metric-learn 0.7.0 needs scikit-learn < 1.6, so it runs in its own environment, e.g.::

    python -m venv /tmp/venv_ml && /tmp/venv_ml/bin/pip install "scikit-learn<1.6" metric-learn==0.7.0
    /tmp/venv_ml/bin/python benchmarks/peers/metric_learn_runner.py '{"learner": "LMNN", "datasets": ["digits"]}'

The argument is a JSON object: ``learner`` (a metric_learn class name), ``datasets`` (names known
to ``bench_learn.load_protocol``), ``params`` (keyword arguments of the learner, optional) and
``repeat`` (fits per data set, the best time is reported; default 1). Prints one JSON list of
``{"dataset", "learner", "accuracy", "fit_seconds", "error"}`` rows on stdout. The protocol (split,
scaling, 3-NN accuracy) is imported from ``benchmarks/bench_learn.py``, which needs only numpy and
scikit-learn at import time, so both sides measure exactly the same thing.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_learn import knn3_accuracy, load_protocol  # noqa: E402


def main(argv):
    spec = json.loads(argv[1]) if len(argv) > 1 else {}
    import metric_learn

    name = spec.get("learner", "LMNN")
    params = spec.get("params", {})
    repeat = int(spec.get("repeat", 1))
    rows = []
    for ds in spec.get("datasets", ["iris", "wine", "breast_cancer", "digits"]):
        Xtr, Xte, ytr, yte = load_protocol(ds)
        row = {"dataset": ds, "learner": f"metric-learn {name}", "accuracy": None, "fit_seconds": None, "error": None}
        try:
            best = float("inf")
            for _ in range(repeat):
                est = getattr(metric_learn, name)(**params)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t0 = time.perf_counter()
                    est.fit(Xtr, ytr)
                    best = min(best, time.perf_counter() - t0)
            row["fit_seconds"] = best
            row["accuracy"] = knn3_accuracy(est.transform(Xtr), ytr, est.transform(Xte), yte)
            if not (row["accuracy"] == row["accuracy"]):  # NaN components give NaN accuracy
                row["error"] = "NaN"
        except Exception as exc:  # report the peer's failure instead of crashing the benchmark
            row["error"] = f"{type(exc).__name__}: {exc}"
        rows.append(row)
    json.dump(rows, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
