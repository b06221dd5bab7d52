"""Model selection for the kernel learners, on the training part only (``bench_kernel_learn.py``'s
"-cv" rows).

A kernel learner's accuracy depends on the kernel far more than on anything else: on the issue's
circles / moons (2 informative features and 8 noise features) a degree-2 polynomial kernel reaches
1.000 where the default rbf kernel, which weighs the noise features as much as the informative ones,
stays at 0.92-0.99; on the spheres, whose class is a radius, the best embedding is one-dimensional.
A scikit-learn user chooses such settings by cross-validation, and so does this protocol:
``GridSearchCV`` over ``GRID`` with a 3-NN classifier after the learner (a ``Pipeline``), 3-fold
stratified CV (shuffled, random_state = 0) on the training part, then a refit on the whole training
part; the test part is never seen. The grid includes the linear kernel, with which the exact kernel
learner learns the linear learner's metric (tests/test_learn_kernel.py), so the selection can fall
back to it where no kernel helps. The reported time is the whole selection (every CV fit and the
refit).
"""

from __future__ import annotations

import time
import warnings

import numpy as np

#: the grid: kernels x embedding dimensions (None: the learner's default, n_features of the input)
GRID = {
    "kernel": ["rbf", "poly", "linear"],
    "n_components": [1, None],
}
#: fixed settings of the grid's kernels
FIXED = {"degree": 2}


def select(make, Xtr, ytr, grid=None, n_splits=3):
    """(fitted best learner, best parameters, seconds) for ``make()`` over ``grid`` (default ``GRID``)."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline

    grid = GRID if grid is None else grid
    est = make()
    est.set_params(**{k: v for k, v in FIXED.items() if k in est.get_params()})
    pipe = Pipeline([("metric", est), ("knn", KNeighborsClassifier(n_neighbors=3))])
    search = GridSearchCV(
        pipe,
        {f"metric__{k}": v for k, v in grid.items()},
        cv=StratifiedKFold(n_splits, shuffle=True, random_state=0),
        error_score=np.nan,
        n_jobs=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        search.fit(Xtr, ytr)
        seconds = time.perf_counter() - t0
    best = {k.split("__", 1)[1]: v for k, v in search.best_params_.items()}
    return search.best_estimator_.named_steps["metric"], best, seconds


def describe(params):
    """A short text of the chosen parameters, e.g. ``poly2, n_components=1``."""
    kernel = params.get("kernel", "?")
    if kernel == "poly":
        kernel = f"poly{FIXED['degree']}"
    k = params.get("n_components")
    return f"{kernel}, n_components={'n_features' if k is None else k}"
