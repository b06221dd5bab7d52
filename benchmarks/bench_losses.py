"""Embedding losses (issue 15 part 2): fastmetric against pytorch-metric-learning, forward + backward.

Same process, same float32 batches (n x 128, 64 classes, N(0, 1) rows, labels uniform), same
threads (``torch.set_num_threads(T)``, fastmetric ``n_threads=T``; T = 2 by default). A "call" is the
loss and d loss / d Z:

- fastmetric: ``triplet_margin_loss(Z, y, miner="semihard")`` / ``multi_similarity_loss(Z, y)`` /
  ``contrastive_loss(Z, y)`` return both;
- PML: ``emb = torch.tensor(Z, requires_grad=True)``; ``loss = TripletMarginLoss()(emb, y,
  TripletMarginMiner(type_of_triplets="semihard")(emb, y))`` (resp. ``MultiSimilarityLoss()(emb,
  y)``, ``ContrastiveLoss()(emb, y)``); ``loss.backward()``. The miner alone is timed too.

Times are the best of ``--repeat`` calls after a warm-up (PML's triplet path: fewer, it takes
seconds); ratio = PML / fastmetric. The table also gives the mined triplets of both and the
difference of the losses (PML computes its distances in float32, fastmetric in float64 from the
float32 input, so triplets within rounding of the miner's bounds may differ). PML's triplet path is
not run at n = 8192: it enumerates every triplet first (8192 * ~127 * ~8064 = 8.4e9, three int64
indices each: ~200 GB).

Work floor of fastmetric's sweep: the batch's distances (2 n^2 d flops, every row in full) and K U
(2 n^2 d), in float32 for these float32 batches: 4 n^2 d flops (0.54 GFLOP at 1024, 34 GFLOP at
8192; ~3 ms and ~180 ms at the ~190 GFLOP/s sgemm rate of 2 cores), plus per anchor about
3 n_pos n_neg compare-adds for the triplet windows (~50 M at 1024 with 64 classes) and one exp per
pair for multi-similarity (n^2); memory: one n x n float32 matrix (4 MiB at 1024, 256 MiB at 8192).

Run: ``python benchmarks/bench_losses.py [--sizes 128,1024,8192] [--threads 2] [--repeat 5]
[--no-pml-8192]``; needs torch and pytorch-metric-learning for the peer rows (fastmetric rows are
printed without them).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def best(f, repeat):
    f()  # warm-up
    ts = []
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        ts.append(time.perf_counter() - t)
    return min(ts), float(np.median(ts)), out


def bench_size(n, Z, y, args, losses, torch, pl, pm):
    """The rows of one batch size: fastmetric and (when installed) PML on the same Z, y."""
    nt = args.threads
    rows = []
    rep = args.repeat if n <= 1024 else max(1, args.repeat // 2)
    prep = max(1, rep // 2) if n >= 1024 else rep
    pml_ok = torch is not None and not (args.no_pml_8192 and n > 4096)

    def fm_tri():
        return losses.triplet_margin_loss(Z, y, miner="semihard", return_counts=True, n_threads=nt)

    def fm_ms():
        return losses.multi_similarity_loss(Z, y, n_threads=nt)

    def fm_con():
        return losses.contrastive_loss(Z, y, n_threads=nt)

    if torch is not None:
        yt = torch.tensor(y)
        tl, mi = pl.TripletMarginLoss(), pm.TripletMarginMiner(type_of_triplets="semihard")
        msl, cl = pl.MultiSimilarityLoss(), pl.ContrastiveLoss()

        def pml(loss_fn, miner=None):
            def run():
                emb = torch.tensor(Z, requires_grad=True)
                idx = miner(emb, yt) if miner is not None else None
                loss = loss_fn(emb, yt, idx)
                loss.backward()
                return loss.item(), (len(idx[0]) if idx is not None else None)

            return run

        def pml_miner():
            return len(mi(torch.tensor(Z), yt)[0])

    t_fm, m_fm, (l_fm, _, cnt) = best(fm_tri, rep)
    row = {"n": n, "case": "triplet + semihard miner", "fm": t_fm, "fm_med": m_fm, "mined_fm": cnt["mined"]}
    if pml_ok and n <= 4096:
        t_p, m_p, (l_p, mined_p) = best(pml(tl, mi), prep)
        t_mi, _, _ = best(pml_miner, prep)
        row.update(pml=t_p, pml_med=m_p, mined_pml=mined_p, dloss=abs(l_p - l_fm), pml_miner=t_mi)
    rows.append(row)
    for case, f, peer in (("multi-similarity", fm_ms, "ms"), ("contrastive", fm_con, "con")):
        t_fm, m_fm, (l_fm, _) = best(f, rep)
        row = {"n": n, "case": case, "fm": t_fm, "fm_med": m_fm}
        if pml_ok:
            t_p, m_p, (l_p, _) = best(pml(msl if peer == "ms" else cl), prep)
            row.update(pml=t_p, pml_med=m_p, dloss=abs(l_p - l_fm))
        rows.append(row)

    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="128,1024,8192")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--classes", type=int, default=64)
    ap.add_argument("--no-pml-8192", action="store_true", help="skip every PML row above n = 4096")
    args = ap.parse_args(argv)

    from fastmetric import get_config, losses

    try:
        import torch
        from pytorch_metric_learning import __version__ as pml_version
        from pytorch_metric_learning import losses as pl
        from pytorch_metric_learning import miners as pm

        torch.set_num_threads(args.threads)
    except ImportError as exc:
        torch = pl = pm = None
        print(f"pytorch-metric-learning rows skipped: {exc}")
    cfg = get_config()
    print(
        f"fastmetric {cfg['version']} isa={cfg['isa']} threads={args.threads}"
        + (f"; torch {torch.__version__}, pytorch-metric-learning {pml_version}" if torch is not None else "")
    )
    rows = []
    rng = np.random.default_rng(0)
    for n in [int(s) for s in args.sizes.split(",")]:
        Z = rng.normal(size=(n, args.d)).astype(np.float32)
        y = rng.integers(0, args.classes, n)
        new = bench_size(n, Z, y, args, losses, torch, pl, pm)
        for r in new:
            print(fmt(r), flush=True)
        rows += new

    print(
        "\n| n | loss (fwd + bwd) | fastmetric ms (median) | PML ms (median) | PML / fastmetric "
        "| mined triplets fastmetric / PML | abs. loss diff |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(fmt(r, md=True))


def fmt(r, md=False):
    fm = f"{1e3 * r['fm']:.1f} ({1e3 * r['fm_med']:.1f})"
    if "pml" in r:
        pml = f"{1e3 * r['pml']:.1f} ({1e3 * r['pml_med']:.1f})"
        if "pml_miner" in r:
            pml += f"; miner alone {1e3 * r['pml_miner']:.1f}"
        ratio = f"{r['pml'] / r['fm']:.1f}x"
        dl = f"{r['dloss']:.1e}"
    else:
        pml, ratio, dl = "not run", "", ""
    mined = ""
    if "mined_fm" in r:
        mined = f"{r['mined_fm']:,} / " + (f"{r['mined_pml']:,}" if "mined_pml" in r else "-")
    cells = [str(r["n"]), r["case"], fm, pml, ratio, mined, dl]
    return ("| " + " | ".join(cells) + " |") if md else "  ".join(cells)


if __name__ == "__main__":
    main()
