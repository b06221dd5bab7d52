"""
Kernel metric learning on concentric spheres
============================================

No linear map separates classes that differ only by their distance from a centre: a linear
metric can stretch and project the space, never bend it. A kernel learner learns the metric in a
kernel's feature space instead. This example embeds two data sets in 2-D -- two concentric
spheres in 3-D and three in 5-D, the class being the radius -- with PCA, with linear
:class:`~fastmetric.learn.NCA` and with
:class:`~fastmetric.learn.KernelNCA` (rbf kernel), and compares 3-NN accuracy on a held-out part
in each 2-D space. (Rings in the plane would not show it: a 2-D embedding can keep the plane
itself, where k-NN already separates them.)
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

from fastmetric.learn import NCA, KernelNCA

rng = np.random.default_rng(0)


def spheres(n, d, n_shells):
    y = rng.integers(0, n_shells, n)
    u = rng.normal(size=(n, d))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return u * (1.0 + y)[:, None] + rng.normal(0, 0.12, (n, d)), y


datasets = {"2 spheres in 3-D": spheres(600, 3, 2), "3 spheres in 5-D": spheres(900, 5, 3)}
learners = {
    "PCA": PCA(n_components=2),
    "linear NCA": NCA(n_components=2, random_state=0),
    "KernelNCA (rbf)": KernelNCA(n_components=2, kernel="rbf", random_state=0),
}

fig, axes = plt.subplots(len(datasets), len(learners), figsize=(10, 6.5))
for r, (dname, (X, y)) in enumerate(datasets.items()):
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.4, stratify=y, random_state=0)
    for c, (lname, est) in enumerate(learners.items()):
        est.fit(Xtr, ytr)
        Ztr, Zte = est.transform(Xtr), est.transform(Xte)
        acc = KNeighborsClassifier(3).fit(Ztr, ytr).score(Zte, yte)
        print(f"{dname:18s} {lname:16s} 3-NN test accuracy {acc:.3f}")
        ax = axes[r, c]
        ax.scatter(Zte[:, 0], Zte[:, 1], c=yte, s=8, cmap="viridis")
        ax.set_title(f"{dname}: {lname}\n3-NN accuracy {acc:.3f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
fig.tight_layout()
plt.show()
