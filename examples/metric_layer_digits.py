"""
A metric layer on CNN features: handwritten digits
==================================================

The seed project's recipe for image recognition is a feature extractor followed by a *metric layer*:
a Mahalanobis metric ``d(x, y) = |L (x - y)|`` learned on the frozen features, so that nearest-neighbour
retrieval and classification use distances that mean "same class". This example runs it end to end
on scikit-learn's bundled 8 x 8 digits (1,797 images, nothing downloaded):

1. **Features.** With PyTorch installed, a small CNN (two 3 x 3 convolutions, a 64-unit layer) is
   trained with cross-entropy on the training split and its penultimate layer is the feature vector.
   Without PyTorch, a fixed numpy extractor stands in: histograms of gradient orientations on 4 x 4
   cells (HOG-like) and a fixed random ReLU projection of the pixels. Nothing of it is learned.
2. **Metric layer.** ``fastmetric.learn``'s NCA, LMNN and KernelNCA (rbf, Nystroem landmarks) learn
   a map on the frozen, standardised training features.
3. **Evaluation** on the held-out split, queries = test images, references = training images:
   3-NN accuracy and MAP@R (:func:`fastmetric.retrieval.map_at_r`, pytorch-metric-learning's
   definition), first with the euclidean distance on the features, then with each learned metric.
4. **Imbalance.** The same with classes 0-4 cut to 10 % of their training images; the scores are then
   macro averages (per-class means, averaged), so the rare classes weigh as much as the common ones.

Run ``python examples/metric_layer_digits.py`` (``FASTMETRIC_EXAMPLE_QUICK=1`` for fewer iterations;
``FASTMETRIC_EXAMPLE_EXTRACTOR=numpy`` forces the numpy extractor). It takes a few seconds to about
half a minute on two cores. The printed numbers of one run of each path are in the closing note
at the end of this file.

The seed's own claim -- a metric layer on CNN features lifting CIFAR-10 accuracy from 85.3 % to
90.1 % -- needs CIFAR-10 and a trained CNN, which this offline example does not have: it is not
checked here, and the digits numbers below are not a substitute for it.
"""

from __future__ import annotations

import os
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import fastmetric
from fastmetric import retrieval
from fastmetric.learn import LMNN, NCA, KernelNCA

# %%
# Feature extractors
# ------------------


def numpy_features(images, seed=0):
    """A fixed extractor: 6-bin gradient-orientation histograms on four 4 x 4 cells (and on the whole
    image), plus 128 random ReLU projections of the pixels. No parameter is fitted to data."""
    imgs = images.astype(np.float64) / 16.0
    gy, gx = np.gradient(imgs, axis=(1, 2))
    mag = np.hypot(gx, gy)
    ang = np.mod(np.arctan2(gy, gx), np.pi)  # unsigned orientation in [0, pi)
    bins = np.minimum((ang / np.pi * 6).astype(int), 5)
    hog = []
    for r0, c0, size in [(0, 0, 4), (0, 4, 4), (4, 0, 4), (4, 4, 4), (0, 0, 8)]:
        b = bins[:, r0 : r0 + size, c0 : c0 + size].reshape(len(imgs), -1)
        m = mag[:, r0 : r0 + size, c0 : c0 + size].reshape(len(imgs), -1)
        h = np.stack([(m * (b == j)).sum(axis=1) for j in range(6)], axis=1)
        hog.append(h / (np.linalg.norm(h, axis=1, keepdims=True) + 1e-6))
    rng = np.random.default_rng(seed)
    flat = imgs.reshape(len(imgs), -1)
    P = rng.normal(size=(flat.shape[1], 128)) / np.sqrt(flat.shape[1])
    proj = np.maximum(flat @ P + rng.normal(scale=0.3, size=128), 0.0)
    return np.hstack(hog + [proj])


def cnn_features(images, train_idx, y_train, epochs=15, seed=0):
    """A small CNN trained with cross-entropy on the training images; returns the 64-d penultimate
    features of every image (the network frozen after training)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a network this small gains nothing from threads, and loses much on a busy machine
    x = torch.tensor(images[:, None].astype(np.float32) / 16.0)
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(),
    )
    head = nn.Linear(64, 10)
    opt = torch.optim.Adam(list(net.parameters()) + list(head.parameters()), lr=2e-3)
    xt, yt = x[train_idx], torch.tensor(y_train, dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(xt), generator=g).split(64):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(head(net(xt[batch])), yt[batch])
            loss.backward()
            opt.step()
    with torch.no_grad():
        feats = net.eval()(x).numpy().astype(np.float64)
    torch.set_num_threads(threads)
    return feats


def have_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


# %%
# Scores: 3-NN accuracy and MAP@R, micro or macro
# -----------------------------------------------


def knn_accuracy(Z_train, y_train, Z_test, y_test, average="micro"):
    """3-NN majority vote (the nearest neighbour decides when all three differ)."""
    ind = fastmetric.kneighbors(Z_test, Z_train, k=3, return_distance=False)
    lab = y_train[ind]
    pred = lab[:, 0].copy()
    two = lab[:, 1] == lab[:, 2]
    pred[two] = lab[two, 1]
    hit = pred == y_test
    if average == "micro":
        return float(hit.mean())
    return float(np.mean([hit[y_test == c].mean() for c in np.unique(y_test)]))


def scores(Z_train, y_train, Z_test, y_test, average):
    acc = knn_accuracy(Z_train, y_train, Z_test, y_test, average)
    mapr = retrieval.map_at_r(Z_test, y_test, Z_train, y_train, average=average)
    return acc, mapr


def learners(n_features, quick, seed):
    """The metric layers, 32-d embeddings. KernelNCA's rbf width is set by hand: scikit-learn's default
    gamma = 1 / n_features is too narrow on these standardised features (it scored below the
    euclidean baseline), gamma = 1 / (3 n_features) is not."""
    it = 30 if quick else 100
    return {
        "NCA": NCA(n_components=32, max_iter=it, random_state=seed),
        "LMNN": LMNN(n_neighbors=3, n_components=32, max_iter=it if quick else 300, random_state=seed),
        "KernelNCA": KernelNCA(
            n_components=32, kernel="rbf", gamma=1.0 / (3 * n_features), n_landmarks=300, max_iter=it,
            random_state=seed,
        ),
    }


def run_variant(F, y, train_idx, test_idx, average, quick, seed):
    """The euclidean baseline and each metric layer on one split: {method: (3-NN acc, MAP@R, seconds)}."""
    scaler = StandardScaler().fit(F[train_idx])
    Ftr, Fte = scaler.transform(F[train_idx]), scaler.transform(F[test_idx])
    ytr, yte = y[train_idx], y[test_idx]
    out = {"euclidean": (*scores(Ftr, ytr, Fte, yte, average), 0.0)}
    for name, est in learners(F.shape[1], quick, seed).items():
        t0 = time.perf_counter()
        est.fit(Ftr, ytr)
        secs = time.perf_counter() - t0
        out[name] = (*scores(est.transform(Ftr), ytr, est.transform(Fte), yte, average), secs)
    return out


def imbalanced_train(train_idx, y, rare=(0, 1, 2, 3, 4), keep=0.10, seed=0):
    """The training indices with each class in ``rare`` cut to ``keep`` of its images (at least 3)."""
    rng = np.random.default_rng(seed)
    parts = []
    for c in np.unique(y[train_idx]):
        idx = train_idx[y[train_idx] == c]
        if c in rare:
            idx = np.sort(rng.choice(idx, size=max(3, int(round(keep * len(idx)))), replace=False))
        parts.append(idx)
    return np.sort(np.concatenate(parts))


def main(quick=False, extractor="auto", seed=0, verbose=True):
    """Run both variants; returns {"extractor": ..., "balanced": {...}, "imbalanced": {...}} with
    (3-NN accuracy, MAP@R, fit seconds) per method."""
    digits = load_digits()
    images, y = digits.images, digits.target
    idx = np.arange(len(y))
    train_idx, test_idx = train_test_split(idx, test_size=0.25, stratify=y, random_state=seed)
    if extractor == "auto":
        extractor = "cnn" if have_torch() else "numpy"
    if extractor not in ("cnn", "numpy"):
        raise ValueError(f"extractor must be 'auto', 'cnn' or 'numpy', got {extractor!r}")
    imb_idx = imbalanced_train(train_idx, y, seed=seed)
    results = {"extractor": extractor}
    for variant, tr, average in (("balanced", train_idx, "micro"), ("imbalanced", imb_idx, "macro")):
        t0 = time.perf_counter()
        if extractor == "cnn":
            F = cnn_features(images, tr, y[tr], epochs=5 if quick else 15, seed=seed)
        else:
            F = numpy_features(images, seed=seed)
        t_feat = time.perf_counter() - t0
        res = run_variant(F, y, tr, test_idx, average, quick, seed)
        results[variant] = res
        if verbose:
            counts = np.bincount(y[tr], minlength=10)
            print(f"\n{variant}: {len(tr)} training images (per class {counts.min()}-{counts.max()}), "
                  f"{len(test_idx)} test images, {extractor} features {F.shape[1]}-d ({t_feat:.1f} s), "
                  f"{average} averages")
            print(f"{'metric':<12} {'3-NN acc':>9} {'MAP@R':>7} {'fit s':>6}")
            for name, (acc, mapr, secs) in res.items():
                print(f"{name:<12} {acc:9.4f} {mapr:7.4f} {secs:6.1f}")
    return results


def plot(results):
    """MAP@R of each method on both variants, as grouped bars."""
    import matplotlib.pyplot as plt

    names = list(results["balanced"])
    pos = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(7, 3))
    for off, variant in ((-0.2, "balanced"), (0.2, "imbalanced")):
        ax.bar(pos + off, [results[variant][m][1] for m in names], width=0.4, label=variant)
    ax.set_xticks(pos, names)
    ax.set_ylabel("MAP@R (test images)")
    ax.set_title(f"metric layers on {results['extractor']} features of the digits", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    res = main(
        quick=os.environ.get("FASTMETRIC_EXAMPLE_QUICK") == "1",
        extractor=os.environ.get("FASTMETRIC_EXAMPLE_EXTRACTOR", "auto"),
    )
    plot(res)
    import matplotlib.pyplot as plt

    plt.show()

# %%
# Closing note
# ------------
# One run of each path on this machine (2 shared cores, seed 0, the default settings; 450 test
# images, so one image is 0.0022 of accuracy). 3-NN accuracy / MAP@R:
#
# **numpy features** (158-d, nothing learned):
#
# ===========  ================  ==================
# metric       balanced (micro)  imbalanced (macro)
# ===========  ================  ==================
# euclidean    0.9689 / 0.4484   0.8569 / 0.4063
# NCA          0.9667 / 0.5239   0.8564 / 0.4623
# LMNN         0.9933 / 0.8078   0.9336 / 0.7925
# KernelNCA    0.9689 / 0.6705   0.8851 / 0.6376
# ===========  ================  ==================
#
# **CNN features** (64-d; torch 2.13 CPU, 15 epochs of cross-entropy):
#
# ===========  ================  ==================
# metric       balanced (micro)  imbalanced (macro)
# ===========  ================  ==================
# euclidean    0.9867 / 0.7743   0.9205 / 0.7073
# NCA          0.9733 / 0.7210   0.9181 / 0.6458
# LMNN         0.9822 / 0.8354   0.9336 / 0.7483
# KernelNCA    0.9800 / 0.7553   0.9139 / 0.6799
# ===========  ================  ==================
#
# On the fixed features a metric layer is a large gain for retrieval (MAP@R 0.45 -> 0.81 with
# LMNN) and, on the imbalanced split, for the rare classes' accuracy (macro 0.857 -> 0.934). On the
# CNN's features, already trained for these classes, there is little left to learn: LMNN still
# lifts MAP@R (0.774 -> 0.835) and the imbalanced macro accuracy (0.921 -> 0.934), while NCA and
# KernelNCA, whose objectives look only at close neighbours, lower MAP@R; every metric layer's
# accuracy stays within six test images (0.013) of the baseline's. The seed's CIFAR-10 figures
# (85.3 % -> 90.1 %) were not reproduced or checked: that needs data and training this offline
# example does not have.
