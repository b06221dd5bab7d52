"""metric-learn 0.7's LSML / SDML / SCML on the learner protocol of ``benchmarks/bench_learn3.py``.

Runs inside metric-learn's own environment (scikit-learn < 1.6, no fastmetric)::

    /tmp/venv_ml/bin/python benchmarks/peers/metric_learn_runner3.py '{"learner": "LSML_Supervised"}'

The argument is a JSON object: ``learner`` (a metric_learn class name), ``datasets``, ``params``
(keyword arguments) and ``repeat`` (fits per data set; the best time is reported). Prints one JSON
list of ``{"dataset", "learner", "accuracy", "fit_seconds", "n_iter", "error"}`` rows. The split,
scaling and 3-NN accuracy come from ``bench_learn.py``, as for the other peer runners.
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

    name = spec.get("learner", "LSML_Supervised")
    params = spec.get("params", {})
    repeat = int(spec.get("repeat", 1))
    rows = []
    for ds in spec.get("datasets", ["digits"]):
        Xtr, Xte, ytr, yte = load_protocol(ds)
        row = {"dataset": ds, "learner": f"metric-learn {name}", "accuracy": None, "fit_seconds": None}
        row.update({"n_iter": None, "error": None})
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
            row["n_iter"] = getattr(est, "n_iter_", None)
            row["accuracy"] = knn3_accuracy(est.transform(Xtr), ytr, est.transform(Xte), yte)
            if not (row["accuracy"] == row["accuracy"]):
                row["error"] = "NaN"
        except Exception as exc:  # report the peer's failure instead of crashing the benchmark
            row["error"] = f"{type(exc).__name__}: {str(exc)[:160]}"
        rows.append(row)
    json.dump(rows, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
