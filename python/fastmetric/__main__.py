"""``python -m fastmetric``: configuration, an accuracy showcase and a benchmark table against the peers.

    python -m fastmetric                  # the main job: moderate sizes, under a minute
    python -m fastmetric bench            # the issues' full sizes (several minutes)
    python -m fastmetric bench --full     # ... plus the peak-memory cases (pdist 50k x 64: 5 GB output)
    python -m fastmetric bench --json results.json --repeat 5 --only kernels,neighbors
    python -m fastmetric bench --only memory                 # just the peak-memory cases

Sizes also follow the FM_BENCH_* environment variables of ``fastmetric._bench.Sizes.from_env``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from . import _bench, get_config

GROUPS = {"distances": _bench.distance_cases, "kernels": _bench.kernel_cases, "neighbors": _bench.neighbor_cases}


def _fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} us"
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def _print_table(headers, rows, file=sys.stdout) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=True)]
    right = [i > 0 and h != "peer" for i, h in enumerate(headers)]  # text columns left, numbers right

    def line(cells):
        padded = (str(c).rjust(w) if r else str(c).ljust(w) for c, w, r in zip(cells, widths, right, strict=True))
        return " | ".join(padded)

    print(line(headers), file=file)
    print("-+-".join("-" * w for w in widths), file=file)
    for row in rows:
        print(line(row), file=file)


def print_accuracy(rows, file=sys.stdout) -> None:
    print(
        "\nfloat32 accuracy, issue 2's near-duplicates far from the origin "
        "(X = 100 + N(0,1), 500x64; Y = X + 0.01 N(0,1)):",
        file=file,
    )
    _print_table(("method", "max rel. error vs float64"), [(name, f"{err:.2e}") for name, err in rows], file)


def print_timings(rows, notes, file=sys.stdout) -> None:
    if not rows and not notes:
        return
    print("\nratio = peer time / fastmetric time (> 1: fastmetric is faster); medians after a warm-up", file=file)
    table, last = [], None
    for r in rows:
        first = r.case != last
        table.append(
            (
                r.case if first else "",
                _fmt_time(r.fastmetric_s) if first else "",
                r.peer,
                _fmt_time(r.peer_s),
                f"{r.ratio:.2f}x",
            )
        )
        last = r.case
    if table:
        _print_table(("case", "fastmetric", "peer", "time", "ratio"), table, file)
    for note in notes:
        print(f"  note: {note}", file=file)


def print_memory(results, file=sys.stdout) -> None:
    print("\npeak memory (fresh child process, whole-process peak RSS):", file=file)
    _print_table(
        ("case", "fastmetric peak", "before call", "time", "budget", "within"),
        [
            (
                m["case"],
                f"{m['peak_mb']:.0f} MB",
                f"{m['before_mb']:.0f} MB",
                _fmt_time(m["seconds"]),
                f"{m['budget_mb']:.0f} MB ({m['budget']})",
                "yes" if m["within_budget"] else "NO",
            )
            for m in results
        ],
        file,
    )


def _learned_metric_section(file=sys.stdout) -> None:
    """The digits and spheres demos of ``fastmetric.learn`` when it (and scikit-learn) is there; else nothing."""
    try:
        from .learn import _demo

        rows = _demo.digits_demo()
        kernel_rows = _demo.spheres_demo()
    except ImportError:
        return
    print("\nlearned metric (scikit-learn digits, 3-NN test accuracy in the learned space):", file=file)
    _print_table(("metric", "3-NN accuracy", "fit"), [(n, f"{a:.4f}", f"{s:.2f} s") for n, a, s in rows], file)
    print(
        "\nkernel metric learning (spheres: a class no linear map separates, 1000 x 16, 3-NN test accuracy):", file=file
    )
    _print_table(("metric", "3-NN accuracy", "fit"), [(n, f"{a:.4f}", f"{s:.2f} s") for n, a, s in kernel_rows], file)


def _parse(argv):
    p = argparse.ArgumentParser(prog="python -m fastmetric", description=__doc__.split("\n")[0])
    p.add_argument(
        "mode",
        nargs="?",
        choices=("main", "bench"),
        default="main",
        help="main: moderate sizes, under a minute (default); bench: the issues' full sizes",
    )
    p.add_argument("--full", action="store_true", help="bench: add the peak-memory cases (needs ~6 GB)")
    p.add_argument("--json", metavar="PATH", help="save every result as JSON")
    p.add_argument("--repeat", type=int, help="timed runs per implementation, median taken (main: 5, bench: 3)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every row count (e.g. 0.1)")
    p.add_argument("--only", help=f"comma-separated subset of {','.join(GROUPS)},memory (default: all timing groups)")
    p.add_argument("--no-learn", action="store_true", help="main: skip the learned-metric demo")
    return p.parse_args(argv)


def main(argv=None, file=sys.stdout) -> dict:
    args = _parse(argv)
    groups = [g.strip() for g in args.only.split(",") if g.strip()] if args.only else [*GROUPS]
    if args.full and args.mode == "bench" and "memory" not in groups:
        groups.append("memory")
    unknown = sorted(set(groups) - {*GROUPS, "memory"})
    if unknown:
        raise SystemExit(f"--only: unknown group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}, memory")
    sizes = _bench.Sizes.from_env(_bench.QUICK if args.mode == "main" else None).scaled(args.scale)
    t_start = time.perf_counter()

    config = {**get_config(), "numpy BLAS": _bench.blas_info()}
    for key, value in config.items():  # show_config() plus numpy's BLAS, printed to `file`
        print(f"{key:>15}: {value}", file=file)
    result = {"mode": args.mode, "config": config, "sizes": sizes.__dict__}

    if args.mode == "main":
        result["accuracy"] = _bench.accuracy_rows()
        print_accuracy(result["accuracy"], file)

    rows, notes = [], []
    for g in (g for g in groups if g in GROUPS):
        for case in GROUPS[g](sizes):
            r, n = _bench.run_case(case, repeat=args.repeat or (5 if args.mode == "main" else 3))
            rows += r
            notes += n
    print_timings(rows, notes, file)
    result["timings"], result["notes"] = [r.as_dict() for r in rows], notes

    if "memory" in groups:
        result["memory"] = [_bench.measure_memory(spec) for spec in _bench.memory_cases(sizes)]
        print_memory(result["memory"], file)

    if args.mode == "main" and not args.no_learn:
        _learned_metric_section(file)

    print(f"\ntotal {time.perf_counter() - t_start:.1f} s", file=file)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)
        print(f"saved {args.json}", file=file)
    return result


if __name__ == "__main__":
    main()
