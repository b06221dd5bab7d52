"""The kernel-learner protocol of issue 13, shared by fastmetric's side and pyDML's runner.

Data sets (``load_protocol(name)``):

* ``spheres6``: X = ``np.random.default_rng(0).standard_normal((1000, 16))``, y = 1 where the sum of
  squares of the first 6 features exceeds 5.348 (about the chi-square(6) median), else 0;
* ``spheres10``: X = ``np.random.default_rng(0).standard_normal((1000, 20))``, y = 1 where the sum of
  squares of the first 10 features exceeds 9.342 (about the chi-square(10) median);
* ``circles``: ``make_circles(n_samples=1000, noise=0.05, factor=0.5, random_state=0)`` followed by 8
  standard-normal noise columns drawn from ``np.random.default_rng(0)`` (10 features);
* ``moons``: ``make_moons(1000, noise=0.1, random_state=0)`` with 8 noise columns the same way;
* ``digits``, ``wine``, ``breast_cancer``: scikit-learn's bundled loaders.

Protocol: stratified 70/30 split ``train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)``,
StandardScaler fit on the training part (and applied to both parts), 3-NN test accuracy
(``KNeighborsClassifier(3)``) of the transformed training / test parts (``knn3_accuracy``).

This module imports only numpy and scikit-learn, so it runs unchanged in pyDML's environment
(scikit-learn 1.3) and in fastmetric's. Check the euclidean baselines::

    python benchmarks/kernel_datasets.py            # 3-NN euclidean accuracy of every data set
"""

from __future__ import annotations

import numpy as np

DATASETS = ("spheres6", "spheres10", "circles", "moons", "digits", "wine", "breast_cancer")


def _spheres(n_features, n_informative, threshold):
    X = np.random.default_rng(0).standard_normal((1000, n_features))
    y = ((X[:, :n_informative] ** 2).sum(axis=1) > threshold).astype(int)
    return X, y


def _with_noise(X2, y, n_noise=8):
    noise = np.random.default_rng(0).standard_normal((X2.shape[0], n_noise))
    return np.hstack([X2, noise]), y


def load_dataset(name):
    """(X, y) of one data set, before the split."""
    from sklearn import datasets

    if name == "spheres6":
        return _spheres(16, 6, 5.348)
    if name == "spheres10":
        return _spheres(20, 10, 9.342)
    if name == "circles":
        return _with_noise(*datasets.make_circles(n_samples=1000, noise=0.05, factor=0.5, random_state=0))
    if name == "moons":
        return _with_noise(*datasets.make_moons(1000, noise=0.1, random_state=0))
    loaders = {
        "digits": datasets.load_digits,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
    }
    if name not in loaders:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    return loaders[name](return_X_y=True)


def load_protocol(name, dtype=np.float64):
    """(X_train, X_test, y_train, y_test): stratified 70/30 split with random_state=0, StandardScaler
    fit on the training part."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_dataset(name)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    scaler = StandardScaler().fit(Xtr)
    return scaler.transform(Xtr).astype(dtype), scaler.transform(Xte).astype(dtype), ytr, yte


def knn3_accuracy(Ztr, ytr, Zte, yte):
    """3-NN test accuracy of embedded training / test points; NaN if the embedding is not finite.
    Complex embeddings are refused (ValueError) rather than silently cut to their real part."""
    from sklearn.neighbors import KNeighborsClassifier

    Ztr, Zte = np.asarray(Ztr), np.asarray(Zte)
    if np.iscomplexobj(Ztr) or np.iscomplexobj(Zte):
        raise ValueError("complex embedding (the learner's eigenvectors are complex)")
    Ztr = Ztr.astype(np.float64).reshape(len(Ztr), -1)
    Zte = Zte.astype(np.float64).reshape(len(Zte), -1)
    if not (np.isfinite(Ztr).all() and np.isfinite(Zte).all()):
        return float("nan")
    return float(KNeighborsClassifier(n_neighbors=3).fit(Ztr, ytr).score(Zte, yte))


def main():
    print(f"{'dataset':<14} {'n_train':>7} {'n_test':>6} {'d':>4} {'classes':>7} {'3-NN euclidean':>15}")
    for name in DATASETS:
        Xtr, Xte, ytr, yte = load_protocol(name)
        acc = knn3_accuracy(Xtr, ytr, Xte, yte)
        print(f"{name:<14} {len(Xtr):>7} {len(Xte):>6} {Xtr.shape[1]:>4} {len(np.unique(ytr)):>7} {acc:>15.4f}")


if __name__ == "__main__":
    main()
