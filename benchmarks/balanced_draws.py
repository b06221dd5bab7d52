"""class_weight in the constraint drawing of ITML_Supervised / LSML_Supervised on imbalanced digits.

Digits, 70 / 30 stratified split, standardised; classes 0-4 of the training part cut to ~10 %
(11-17 images each against 122-127). 3-NN balanced accuracy on the test part over 5 seeds, for the
uniform draws (class_weight=None, metric-learn's) and the balanced ones. Run:
``python benchmarks/balanced_draws.py`` (about a minute on 2 cores).
"""

import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from fastmetric.learn import ITML_Supervised, LSML_Supervised


def main():
    warnings.simplefilter("ignore")
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    sc = StandardScaler().fit(Xtr)
    Xtr, Xte = sc.transform(Xtr), sc.transform(Xte)
    keep = (ytr >= 5) | (np.random.default_rng(0).random(ytr.size) < 0.1)
    Xtr, ytr = Xtr[keep], ytr[keep]
    print("training images per class", np.bincount(ytr).tolist())

    def accuracy(Ztr, Zte):
        return balanced_accuracy_score(yte, KNeighborsClassifier(3).fit(Ztr, ytr).predict(Zte))

    print(f"euclidean {accuracy(Xtr, Xte):.3f}")
    for cls in (ITML_Supervised, LSML_Supervised):
        for cw in (None, "balanced"):
            t0 = time.perf_counter()
            scores = []
            for seed in range(5):
                m = cls(class_weight=cw, random_state=seed).fit(Xtr, ytr)
                scores.append(accuracy(m.transform(Xtr), m.transform(Xte)))
            print(
                f"{cls.__name__} class_weight={cw}: mean {np.mean(scores):.3f} "
                f"(min {min(scores):.3f}, max {max(scores):.3f}), {time.perf_counter() - t0:.1f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
