"""Turn a pytest-benchmark JSON (``--benchmark-json``) into PNG bar charts in ``benchmarks/results/``.

    pytest benchmarks --benchmark-only --benchmark-json results.json
    python benchmarks/plot_results.py results.json [more.json ...] [--out benchmarks/results]

One PNG per bench module (``distances.png``, ``kernels.png``, ``neighbors.png``): on the left the median
time of every implementation of every case (log scale), on the right each peer's time divided by
fastmetric's (above 1: fastmetric is faster). Subsampled peers (scipy mahalanobis) are scaled to the
full case by their recorded ``time_scale``. The opt-in memory cases go to ``memory.png``. With several
JSON files (say a timing run and a separate ``-k memory`` run), a later file's result for the same test
replaces an earlier one.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

COLORS = {
    "fastmetric": "#d62728",
    "numpy": "#7f7f7f",
    "scipy": "#1f77b4",
    "scikit-learn": "#ff7f0e",
    "faiss": "#2ca02c",
}


def _color(label: str) -> str:
    return next((c for family, c in COLORS.items() if label.startswith(family)), "#9467bd")


def load(paths):
    """{module: {case: {impl label: median seconds}}} and the list of memory results."""
    by_test = {}
    for path in paths:
        with open(path) as fh:
            by_test.update((b["fullname"], b) for b in json.load(fh)["benchmarks"])
    timings, memory = defaultdict(lambda: defaultdict(dict)), []
    for b in by_test.values():
        info = b.get("extra_info", {})
        if info.get("memory"):
            memory.append(info)
            continue
        if "case" not in info:
            continue
        module = os.path.basename(b["fullname"].split("::")[0]).removeprefix("bench_").removesuffix(".py")
        timings[module][info["case"]][info["impl"]] = b["stats"]["median"] * info.get("time_scale", 1.0)
    return timings, memory


def plot_module(name: str, cases: dict, out_dir: str) -> str:
    labels, times, ratios, colors = [], [], [], []
    for case, impls in cases.items():
        t_fm = impls.get("fastmetric")
        for impl, t in impls.items():
            labels.append(f"{case}\n{impl}")
            times.append(t)
            ratios.append(t / t_fm if t_fm else float("nan"))
            colors.append(_color(impl))
    y = range(len(labels))[::-1]
    fig, (ax_t, ax_r) = plt.subplots(
        1, 2, figsize=(13, 1.2 + 0.36 * len(labels)), sharey=True, gridspec_kw={"width_ratios": [1, 1]}
    )
    ax_t.barh(y, times, color=colors)
    ax_t.set_xscale("log")
    ax_t.set_xlabel("median time (s, log scale)")
    ax_t.set_yticks(list(y), labels, fontsize=6)
    ax_r.barh(y, ratios, color=colors)
    ax_r.axvline(1.0, color="black", lw=0.8)
    finite = [r for r in ratios if r == r]
    if finite:
        ax_r.set_xlim(min(0.5, min(finite) / 1.5), max(finite) * 2.5)  # room for the value labels
    ax_r.set_xscale("log")
    ax_r.set_xlabel("time / fastmetric time (> 1: fastmetric faster; log scale)")
    for yi, r in zip(y, ratios, strict=True):
        if r == r:  # not NaN
            ax_r.text(r, yi, f" {r:.2f}x", va="center", fontsize=6)
    for ax in (ax_t, ax_r):
        ax.grid(axis="x", which="both", alpha=0.3)
        ax.tick_params(axis="x", labelsize=7)
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    fig.suptitle(f"fastmetric benchmarks: {name}", fontsize=10)
    fig.tight_layout()
    path = os.path.join(out_dir, f"{name}.png")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def plot_memory(memory: list, out_dir: str) -> str:
    fig, ax = plt.subplots(figsize=(9, 1.0 + 0.6 * len(memory)))
    y = range(len(memory))[::-1]
    ax.barh(
        [v + 0.2 for v in y],
        [m["peak_mb"] for m in memory],
        height=0.4,
        color=COLORS["fastmetric"],
        label="fastmetric peak RSS",
    )
    ax.barh([v - 0.2 for v in y], [m["budget_mb"] for m in memory], height=0.4, color="#bbbbbb", label="budget")
    ax.set_yticks(list(y), [f"{m['case']}\n(budget: {m['budget']})" for m in memory], fontsize=7)
    ax.set_xlabel("MB")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = os.path.join(out_dir, "memory.png")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("json", nargs="+", help="file(s) written by pytest --benchmark-json")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    timings, memory = load(args.json)
    paths = [plot_module(name, cases, args.out) for name, cases in sorted(timings.items())]
    if memory:
        paths.append(plot_memory(memory, args.out))
    for path in paths:
        print(f"wrote {path} ({os.path.getsize(path) / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
