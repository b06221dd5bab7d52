"""metric-learn 0.7's answers to the preprocessor cases of ``tests/test_learn_preprocessor.py``.

Runs in metric-learn's own environment (scikit-learn < 1.6), e.g.::

    /tmp/venv_ml/bin/python benchmarks/peers/metric_learn_preprocessor_cases.py

and prints one line per case: ``OK <shape of the result>`` or the exception's type and message.
The tests quote these outcomes as explicit expectations (metric-learn is not a test dependency).
"""

import warnings

import numpy as np


def main():
    warnings.simplefilter("ignore")
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline

    import metric_learn as ml

    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    y = np.arange(30) % 3
    ids = np.arange(30)
    names = np.array([f"p{i}" for i in range(30)])
    rows = {s: X[i] for i, s in enumerate(names)}

    def lookup(a):
        return np.array([rows[s] for s in a])

    def broken(a):
        raise ZeroDivisionError("division by zero")

    pairs = np.array([[0, 3], [1, 4], [0, 1], [2, 4]])
    py = np.array([1, 1, -1, -1])
    quads = np.array([[0, 3, 0, 1], [1, 4, 2, 4]])
    nca = {"max_iter": 5}
    cases = {
        "NCA on identifiers": lambda: ml.NCA(preprocessor=X, **nca).fit(ids, y).transform(ids[:4]),
        "NCA on points with a preprocessor": lambda: ml.NCA(preprocessor=X, **nca).fit(X, y).transform(X[:4]),
        "NCA on 1-D X, no preprocessor": lambda: ml.NCA(**nca).fit(ids, y),
        "index out of range": lambda: ml.NCA(preprocessor=X, **nca).fit(np.r_[ids[:-1], 30], y),
        "negative index": lambda: ml.NCA(preprocessor=X, **nca).fit(np.r_[ids[:-1], -1], y),
        "float identifiers": lambda: ml.NCA(preprocessor=X, **nca).fit(ids.astype(float), y),
        "bool identifiers": lambda: ml.NCA(preprocessor=X, **nca).fit(ids % 2 == 0, y),
        "string identifiers, callable": lambda: ml.NCA(preprocessor=lookup, **nca).fit(names, y).transform(names[:3]),
        "string identifiers, array": lambda: ml.NCA(preprocessor=X, **nca).fit(names, y),
        "callable returns 1-D": lambda: ml.NCA(preprocessor=lambda a: X[a].ravel(), **nca).fit(ids, y),
        "callable returns too few rows": lambda: ml.NCA(preprocessor=lambda a: X[a][:-1], **nca).fit(ids, y),
        "callable raises": lambda: ml.NCA(preprocessor=broken, **nca).fit(ids, y),
        "preprocessor of a bad type": lambda: ml.NCA(preprocessor=3, **nca).fit(ids, y),
        "3-D X with a preprocessor": lambda: ml.NCA(preprocessor=X, **nca).fit(X[None], y),
        "1-D array preprocessor": lambda: ml.NCA(preprocessor=X[:, 0], **nca).fit(ids, y),
        "Covariance on identifiers": lambda: ml.Covariance(preprocessor=X).fit(ids).transform(ids),
        "ITML_Supervised on identifiers": lambda: (
            ml.ITML_Supervised(preprocessor=X, max_iter=5).fit(ids, y).transform(ids)
        ),
        "ITML on index pairs": lambda: ml.ITML(preprocessor=X, max_iter=5).fit(pairs, py).predict(pairs),
        "ITML on 3-D pairs with a preprocessor": lambda: (
            ml.ITML(preprocessor=X, max_iter=5).fit(X[pairs], py).predict(X[pairs])
        ),
        "ITML transform of identifiers": lambda: ml.ITML(preprocessor=X, max_iter=5).fit(pairs, py).transform(ids),
        "index pairs, no preprocessor": lambda: ml.ITML(max_iter=5).fit(pairs, py),
        "pairs of 3 identifiers": lambda: ml.ITML(preprocessor=X, max_iter=5).fit(np.c_[pairs, pairs[:, :1]], py),
        "1-D pairs": lambda: ml.ITML(preprocessor=X, max_iter=5).fit(pairs[:, 0], py),
        "no pairs": lambda: ml.ITML(preprocessor=X, max_iter=5).fit(np.zeros((0, 2), int), np.zeros(0)),
        "string pairs, callable": lambda: (
            ml.ITML(preprocessor=lookup, max_iter=5).fit(names[pairs], py).decision_function(names[pairs])
        ),
        "pair callable returns 1-D": lambda: ml.ITML(preprocessor=lambda a: X[a, 0], max_iter=5).fit(pairs, py),
        "NCA pair_distance of index pairs": lambda: ml.NCA(preprocessor=X, **nca).fit(ids, y).pair_distance(pairs),
        "LSML on index quadruplets": lambda: ml.LSML(preprocessor=X, max_iter=5).fit(quads).predict(quads),
        "LSML on 3-D quadruplets with a preprocessor": lambda: (
            ml.LSML(preprocessor=X, max_iter=5).fit(X[quads]).predict(X[quads])
        ),
        "LSML on pairs": lambda: ml.LSML(preprocessor=X, max_iter=5).fit(pairs),
        "pipeline on identifiers": lambda: cross_val_score(
            make_pipeline(ml.NCA(preprocessor=X, **nca), KNeighborsClassifier(3)), ids, y, cv=3
        ),
    }
    for name, run in cases.items():
        try:
            out = np.asarray(run())
            print(f"{name}: OK {out.shape}")
        except Exception as exc:  # noqa: BLE001 - the point is to print whatever metric-learn raises
            print(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0][:150]}")


if __name__ == "__main__":
    main()
