"""Class imbalance (issue 17, part 3): does ``class_weight="balanced"`` help the learned metric?

Protocol (the issue's): scikit-learn's digits, stratified 70/30 split with ``random_state=0``;
classes 0-4 cut to 10 % of their training images (about 12 each against about 125 for classes
5-9; the test set untouched); StandardScaler fit on the cut training part; 3-NN on the training
points in the learned space; scores are ``sklearn.metrics.balanced_accuracy_score`` on the test set
and the mean recall of the five minority classes.

One cut decides little: which 12 images a class keeps moves the balanced accuracy by +-0.02, more
than the weighting does. So the table repeats the protocol over ``--cuts`` random cuts (cut ``c``
keeps the images chosen by ``numpy.random.default_rng(c)``; cut 0 is the one of
``examples/plot_class_imbalance.py``) and reports, per learner, the mean over the cuts, the mean
paired difference weighted - unweighted with its standard error, and on how many cuts the weighted
fit is ahead. Learners run their defaults with ``random_state=0``.

Options: ``--cuts N`` (default 10), ``--learners NCA,LMNN`` (any learner of ``fastmetric.learn`` with
``class_weight`` and ``random_state``: also KernelNCA, KernelLMNN, ITML_Supervised, MMC_Supervised,
SDML_Supervised, LSML_Supervised, RCA_Supervised, SCML_Supervised),
``--set KEY=VALUE,...`` (more constructor parameters for both fits, e.g. ``n_components=20`` or
``regularization=0.8``; values are Python literals),
``--max-iter N`` (both fits stopped at N iterations), ``--alpha A`` (NCA's ridge penalty, both fits),
``--weight-power P`` (the weighted fit uses the "balanced" weights to the power P, a dict),
``--saturation`` (also reports, per fit, the share of the minority training images whose
leave-one-out probability of their own class in the learned space, p_i = sum over same-class j != i
of softmax_j(-d_ij^2), is above 0.99 / below 0.01),
``--margins`` (also reports, per fit, LMNN's margin violations in the learned space, triplets
(i, j, l) with j one of i's 3 nearest same-class training images in the input space, l of another
class and d_il^2 < d_ij^2 + 1, anchored at minority / majority images, and the leave-one-out 3-NN
recall of the minority training images),
``--json FILE`` saves the per-cut rows.
"""

from __future__ import annotations

import ast
import json
import sys
import time

import numpy as np


def cut_digits(cut, minority=(0, 1, 2, 3, 4), keep=0.1):
    """(Xtr, ytr, Xte, yte) of the protocol for one cut (standardised on the cut training part)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    rng = np.random.default_rng(cut)
    mask = np.ones(ytr.size, bool)
    for c in minority:
        idx = rng.permutation(np.flatnonzero(ytr == c))
        mask[idx[int(round(keep * idx.size)) :]] = False
    Xtr, ytr = Xtr[mask], ytr[mask]
    scaler = StandardScaler().fit(Xtr)
    return scaler.transform(Xtr), ytr, scaler.transform(Xte), yte


def scores(Ztr, ytr, Zte, yte, minority=(0, 1, 2, 3, 4)):
    """(3-NN balanced accuracy, mean recall of the minority classes) on the test set."""
    from sklearn.metrics import balanced_accuracy_score, recall_score
    from sklearn.neighbors import KNeighborsClassifier

    pred = KNeighborsClassifier(3).fit(Ztr, ytr).predict(Zte)
    return (
        float(balanced_accuracy_score(yte, pred)),
        float(recall_score(yte, pred, labels=list(minority), average="macro")),
    )


def learner(name, class_weight, max_iter=None, alpha=None, params=None):
    import fastmetric.learn as fl

    extra = dict(params or {})
    if max_iter is not None:
        extra["max_iter"] = max_iter
    if alpha is not None:
        extra["alpha"] = alpha
    return getattr(fl, name)(class_weight=class_weight, random_state=0, **extra)


def powered_balanced(y, power):
    """scikit-learn's "balanced" weights n / (n_classes n_c), to the power ``power``, as a dict."""
    classes, counts = np.unique(y, return_counts=True)
    return {c: (y.size / (classes.size * n)) ** power for c, n in zip(classes, counts, strict=True)}


def loo_sq_distances(A):
    """Squared distances between the rows of A, +inf on the diagonal (leave-one-out)."""
    sq = np.einsum("ij,ij->i", A, A)
    D = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (A @ A.T), 0.0)
    np.fill_diagonal(D, np.inf)
    return D


def saturation(Z, y, minority=(0, 1, 2, 3, 4)):
    """(share of the minority training points with p_i > 0.99, with p_i < 0.01): p_i the leave-one-out
    probability of the point's own class under the softmax of -squared distances in the embedding Z."""
    D = loo_sq_distances(Z)
    logits = -D - np.min(D, axis=1, keepdims=True)
    P = np.exp(logits)
    P /= P.sum(axis=1, keepdims=True)
    p = np.where(y[:, None] == y[None, :], P, 0.0).sum(axis=1)
    mino = np.isin(y, minority)
    return float(np.mean(p[mino] > 0.99)), float(np.mean(p[mino] < 0.01))


def margins(X, Z, y, minority=(0, 1, 2, 3, 4), k=3):
    """(margin-violating triplets anchored at minority images, at majority images, leave-one-out 3-NN
    recall of the minority training images) in the embedding Z; targets: the k nearest same-class
    images in the input space X (LMNN's)."""
    same = y[:, None] == y[None, :]
    DX, DZ = loo_sq_distances(X), loo_sq_distances(Z)
    targets = np.argsort(np.where(same, DX, np.inf), axis=1, kind="stable")[:, :k]
    dt = np.take_along_axis(DZ, targets, axis=1)
    other = np.where(same, np.inf, DZ)
    violated = (other[:, None, :] < dt[:, :, None] + 1.0).sum(axis=(1, 2))
    mino = np.isin(y, minority)
    nn = np.argsort(DZ, axis=1, kind="stable")[:, :3]
    votes = np.array([np.bincount(y[r], minlength=y.max() + 1).argmax() for r in nn])
    return int(violated[mino].sum()), int(violated[~mino].sum()), float(np.mean(votes[mino] == y[mino]))


def run(cuts, names, max_iter=None, power=1.0, with_saturation=False, alpha=None, with_margins=False, params=None):
    rows = []
    for cut in range(cuts):
        Xtr, ytr, Xte, yte = cut_digits(cut)
        bal, rec = scores(Xtr, ytr, Xte, yte)
        rows.append(
            {"cut": cut, "learner": "euclidean", "class_weight": None, "balanced_accuracy": bal, "minority_recall": rec}
        )
        for name in names:
            for cw in (None, "balanced"):
                weights = powered_balanced(ytr, power) if cw is not None and power != 1.0 else cw
                t0 = time.perf_counter()
                est = learner(name, weights, max_iter, alpha, params).fit(Xtr, ytr)
                fit_s = time.perf_counter() - t0
                Ztr = est.transform(Xtr)
                bal, rec = scores(Ztr, ytr, est.transform(Xte), yte)
                row = {
                    "cut": cut,
                    "learner": name,
                    "class_weight": cw,
                    "balanced_accuracy": bal,
                    "minority_recall": rec,
                    "fit_s": fit_s,
                }
                if with_saturation:
                    row["minority_p_above_0.99"], row["minority_p_below_0.01"] = saturation(Ztr, ytr)
                if with_margins:
                    row["violations_minority"], row["violations_majority"], row["minority_loo_recall"] = margins(
                        Xtr, Ztr, ytr
                    )
                rows.append(row)
        print(
            f"cut {cut}: "
            + ", ".join(
                f"{r['learner']}{'' if r['class_weight'] is None else ' balanced'} {r['balanced_accuracy']:.4f}"
                for r in rows
                if r["cut"] == cut
            ),
            flush=True,
        )
    return rows


def summary(rows, names):
    def col(name, cw, key):
        return np.array([r[key] for r in rows if r["learner"] == name and r["class_weight"] == cw])

    eu = col("euclidean", None, "balanced_accuracy")
    print()
    print(
        f"| learner (digits, classes 0-4 cut to 10 %, {eu.size} cuts) | balanced accuracy, mean "
        "| minority recall, mean | weighted - unweighted (mean +- s.e.) | cuts where weighted is ahead "
        "| weighted - euclidean |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| euclidean | {eu.mean():.4f} | {col('euclidean', None, 'minority_recall').mean():.4f} | | | |")
    for name in names:
        u, w = col(name, None, "balanced_accuracy"), col(name, "balanced", "balanced_accuracy")
        d = w - u
        se = d.std(ddof=1) / np.sqrt(d.size) if d.size > 1 else float("nan")
        for cw, v in ((None, u), ("balanced", w)):
            label = name if cw is None else f'{name} class_weight="balanced"'
            extra = (
                f"| {d.mean():+.4f} +- {se:.4f} | {int((d > 0).sum())} of {d.size} ({int((d == 0).sum())} equal) "
                f"| {(w - eu).mean():+.4f} |"
                if cw
                else "| | | |"
            )
            print(f"| {label} | {v.mean():.4f} | {col(name, cw, 'minority_recall').mean():.4f} {extra}")
    if rows and "minority_p_above_0.99" in rows[-1]:
        print()
        for name in names:
            for cw in (None, "balanced"):
                hi, lo = col(name, cw, "minority_p_above_0.99"), col(name, cw, "minority_p_below_0.01")
                print(
                    f"{name} {cw}: minority training points with p_i > 0.99: {hi.mean():.3f} "
                    f"(cuts {hi.min():.2f}-{hi.max():.2f}); p_i < 0.01: {lo.mean():.3f} "
                    f"({lo.min():.2f}-{lo.max():.2f})"
                )
    if rows and "violations_minority" in rows[-1]:
        print()
        for name in names:
            for cw in (None, "balanced"):
                vm, vM = col(name, cw, "violations_minority"), col(name, cw, "violations_majority")
                loo, rec = col(name, cw, "minority_loo_recall"), col(name, cw, "minority_recall")
                print(
                    f"{name} {cw}: margin violations anchored at minority images {vm.mean():.0f}, at majority "
                    f"images {vM.mean():.0f}; minority recall leave-one-out on the training images {loo.mean():.3f} "
                    f"(min {loo.min():.3f}), on the test set {rec.mean():.3f}"
                )


def main(argv):
    def opt(flag, default):
        return argv[argv.index(flag) + 1] if flag in argv else default

    cuts = int(opt("--cuts", "10"))
    names = opt("--learners", "NCA,LMNN").split(",")
    max_iter = int(opt("--max-iter", "0")) or None
    alpha = float(opt("--alpha", "nan"))
    power = float(opt("--weight-power", "1"))
    params = {}
    for item in filter(None, opt("--set", "").split(",")):
        key, _, value = item.partition("=")
        params[key.strip()] = ast.literal_eval(value.strip())
    rows = run(
        cuts,
        names,
        max_iter,
        power,
        "--saturation" in argv,
        None if alpha != alpha else alpha,
        "--margins" in argv,
        params,
    )
    summary(rows, names)
    if "--json" in argv:
        with open(opt("--json", ""), "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
