"""Picture for issue 13: spheres6 embedded in 2-D by linear NCA and by KernelNCA (rbf).

Protocol (``benchmarks/kernel_datasets.py``): spheres6 (1000 x 16 standard normal, class 1 where the
sum of squares of the first 6 features exceeds 5.348), stratified 70/30 split with ``random_state=0``,
StandardScaler fit on the training part. Both learners get ``n_components=2``; KernelNCA uses
``kernel="rbf"`` with the default gamma (1/n_features) and the exact kernel. The two panels show the
training part's embedding coloured by class; each title gives the 3-NN test accuracy in that
2-D embedding (so it differs from the table of ``bench_kernel_learn.py``, where n_components =
n_features).

Needs matplotlib (Agg backend) besides fastmetric. Run::

    python benchmarks/plot_kernel_embedding.py                    # writes benchmarks/results/kernel_spheres.png
    python benchmarks/plot_kernel_embedding.py --out /tmp/x.png
"""

from __future__ import annotations

import os
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from kernel_datasets import knn3_accuracy, load_protocol  # noqa: E402


def embed(est, Xtr, ytr, Xte, yte):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        est.fit(Xtr, ytr)
        seconds = time.perf_counter() - t0
    Ztr = est.transform(Xtr)
    return Ztr, knn3_accuracy(Ztr, ytr, est.transform(Xte), yte), seconds


def main(argv):
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=os.path.join(HERE, "results", "kernel_spheres.png"))
    args = p.parse_args(argv[1:])

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fastmetric.learn import NCA, KernelNCA

    Xtr, Xte, ytr, yte = load_protocol("spheres6")
    panels = [
        ("linear NCA", NCA(n_components=2)),
        ("KernelNCA (rbf)", KernelNCA(n_components=2, kernel="rbf")),
    ]
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, (title, est) in zip(axes, panels, strict=True):
        Z, acc, seconds = embed(est, Xtr, ytr, Xte, yte)
        for label, colour, name in ((0, "tab:blue", "inside (class 0)"), (1, "tab:orange", "outside (class 1)")):
            m = ytr == label
            ax.scatter(Z[m, 0], Z[m, 1], s=9, alpha=0.7, c=colour, label=name, linewidths=0)
        ax.set_title(f"{title}: 3-NN test accuracy {acc:.3f}")
        ax.set_xlabel("component 1")
        ax.set_ylabel("component 2")
        ax.legend(loc="best", fontsize=8)
        print(f"{title:<16} 3-NN test accuracy {acc:.4f}  fit {seconds:.2f} s")
    fig.suptitle("spheres6 training part (700 x 16) embedded in 2-D, n_components=2")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main(sys.argv)
