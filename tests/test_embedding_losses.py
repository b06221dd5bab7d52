"""Contrastive, triplet-margin (with miners) and multi-similarity losses on embeddings.

The reference below is a plain float64 numpy transcription of pytorch-metric-learning 2.9's
definitions and default reducers (every triplet enumerated explicitly); its gradient is derived by
hand and itself checked by central finite differences. pytorch-metric-learning itself (in the test
extra, so CI runs the comparison) is compared directly too.
"""

import subprocess
import sys
import zlib

import numpy as np
import pytest

from fastmetric import losses

# ---------------------------------------------------------------------------------------------
# reference (float64, explicit pairs / triplets)


def _unit(Z, normalize):
    Z = np.asarray(Z, dtype=np.float64)
    if not normalize:
        return Z, np.ones(len(Z))
    nrm = np.linalg.norm(Z, axis=1)
    return Z / np.maximum(nrm, 1e-12)[:, None], nrm


def _matrix(U, distance):
    if distance == "euclidean":
        diff = U[:, None, :] - U[None, :, :]
        return np.sqrt((diff * diff).sum(-1))
    return U @ U.T


def _grad_z(U, nrm, M, dM, distance, normalize):
    """dloss/dZ from dloss/dM (M the distance / similarity matrix)."""
    if distance == "euclidean":
        W = np.zeros_like(M)
        off = M > 0
        W[off] = dM[off] / M[off]
        np.fill_diagonal(W, 0.0)
        gU = W.sum(1)[:, None] * U - W @ U + W.sum(0)[:, None] * U - W.T @ U
    else:
        dM = dM.copy()
        np.fill_diagonal(dM, 0.0)
        gU = dM @ U + dM.T @ U
    if not normalize:
        return gU
    return (gU - U * (U * gU).sum(1)[:, None]) / nrm[:, None]


def _masks(labels):
    same = labels[:, None] == labels[None, :]
    pos = same & ~np.eye(len(labels), dtype=bool)
    return pos, ~same


def ref_triplet(Z, labels, margin=0.05, miner=None, miner_margin=0.2, distance="euclidean", normalize=True):
    U, nrm = _unit(Z, normalize)
    M = _matrix(U, distance)
    x = M if distance == "euclidean" else -M
    pos, neg = _masks(np.asarray(labels))
    if miner == "batch_hard":
        A, P, N = [], [], []
        for a in range(len(U)):
            ps, ns = np.flatnonzero(pos[a]), np.flatnonzero(neg[a])
            if len(ps) and len(ns):
                A.append(a)
                P.append(ps[np.argmax(x[a, ps])])
                N.append(ns[np.argmin(x[a, ns])])
        a, p, n = (np.array(v, dtype=np.int64) for v in (A, P, N))
    else:
        a, p, n = np.nonzero(pos[:, :, None] & neg[:, None, :])
        m = x[a, n] - x[a, p]
        if miner == "all":
            keep = m <= miner_margin
        elif miner == "hard":
            keep = (m <= miner_margin) & (m <= 0)
        elif miner == "semihard":
            keep = (m > 0) & (m <= miner_margin)
        else:
            keep = np.ones(len(a), dtype=bool)
        a, p, n = a[keep], p[keep], n[keep]
    viol = (x[a, p] - x[a, n]) + margin
    act = viol > 0
    N_act = int(act.sum())
    dx = np.zeros_like(M)
    if N_act == 0:
        return 0.0, np.zeros(np.shape(Z)), {"triplets": 0, "mined": len(a)}
    loss = viol[act].sum() / N_act
    np.add.at(dx, (a[act], p[act]), 1.0 / N_act)
    np.add.at(dx, (a[act], n[act]), -1.0 / N_act)
    dM = dx if distance == "euclidean" else -dx
    return loss, _grad_z(U, nrm, M, dM, distance, normalize), {"triplets": N_act, "mined": len(a)}


def ref_contrastive(Z, labels, pos_margin=0.0, neg_margin=1.0, distance="euclidean", normalize=True):
    U, nrm = _unit(Z, normalize)
    M = _matrix(U, distance)
    pos, neg = _masks(np.asarray(labels))
    eu = distance == "euclidean"
    lp = np.maximum(M - pos_margin, 0) if eu else np.maximum(pos_margin - M, 0)
    ln = np.maximum(neg_margin - M, 0) if eu else np.maximum(M - neg_margin, 0)
    ap, an = pos & (lp > 0), neg & (ln > 0)
    cp, cn = int(ap.sum()), int(an.sum())
    loss = (lp[ap].sum() / cp if cp else 0.0) + (ln[an].sum() / cn if cn else 0.0)
    dM = np.zeros_like(M)
    if cp:
        dM[ap] = (1.0 if eu else -1.0) / cp
    if cn:
        dM[an] = (-1.0 if eu else 1.0) / cn
    return loss, _grad_z(U, nrm, M, dM, distance, normalize), {"pos_pairs": cp, "neg_pairs": cn}


def _lse1(v, w):
    """(1/w) log(1 + sum exp(w v)) and its derivative in v (0 and nothing for an empty v)."""
    if len(v) == 0:
        return 0.0, v
    t = np.concatenate([w * v, [0.0]])
    mx = t.max()
    e = np.exp(t - mx)
    s = e.sum()
    return (mx + np.log(s)) / w, e[:-1] / s


def ref_multi_similarity(Z, labels, alpha=2.0, beta=50.0, base=0.5, distance="cosine", normalize=True):
    U, nrm = _unit(Z, normalize)
    M = _matrix(U, distance)
    pos, neg = _masks(np.asarray(labels))
    eu = distance == "euclidean"
    n = len(U)
    loss = 0.0
    dM = np.zeros_like(M)
    for a in range(n):
        ps, ns = np.flatnonzero(pos[a]), np.flatnonzero(neg[a])
        lp, wp = _lse1(M[a, ps] - base if eu else base - M[a, ps], alpha)
        ln, wn = _lse1(base - M[a, ns] if eu else M[a, ns] - base, beta)
        loss += lp + ln
        dM[a, ps] = (wp if eu else -wp) / n
        dM[a, ns] = (-wn if eu else wn) / n
    return (
        loss / n,
        _grad_z(U, nrm, M, dM, distance, normalize),
        {"pos_pairs": int(pos.sum()), "neg_pairs": int(neg.sum())},
    )


REFS = {
    "contrastive": (losses.contrastive_loss, ref_contrastive),
    "triplet": (losses.triplet_margin_loss, ref_triplet),
    "ms": (losses.multi_similarity_loss, ref_multi_similarity),
}

# (loss, parameters): defaults and a few non-default settings; cosine margins where they bite
CASES = [
    ("contrastive", {}),
    ("contrastive", {"distance": "cosine", "pos_margin": 0.9, "neg_margin": 0.1}),
    ("contrastive", {"pos_margin": 0.8, "neg_margin": 1.3, "normalize_embeddings": False}),
    ("triplet", {}),
    ("triplet", {"miner": "all"}),
    ("triplet", {"miner": "hard", "margin": 0.3}),
    ("triplet", {"miner": "semihard"}),
    ("triplet", {"miner": "semihard", "margin": 0.5, "miner_margin": 0.4, "distance": "cosine"}),
    ("triplet", {"miner": "batch_hard", "margin": 0.2}),
    ("triplet", {"miner": "batch_hard", "distance": "cosine", "margin": 0.3}),
    ("triplet", {"miner": "all", "distance": "cosine", "margin": 0.1, "miner_margin": 0.05}),
    ("triplet", {"margin": 1.0, "normalize_embeddings": False}),
    ("ms", {}),
    ("ms", {"distance": "euclidean"}),
    ("ms", {"alpha": 1.5, "beta": 7.0, "base": 0.2, "normalize_embeddings": False}),
]


def _batch(rng, n, d, n_classes, dtype=np.float64):
    Z = rng.normal(size=(n, d)).astype(dtype)
    y = rng.integers(0, n_classes, n)
    y[0] = n_classes + 3  # a class of size 1: an anchor without positives
    return Z, y


def _close(got, ref, dtype):
    loss, G = got[:2]
    rl, rG = ref[:2]
    assert G.dtype == dtype
    scale = max(1.0, np.abs(rG).max() * np.sqrt(rG.size))
    if dtype == np.float64:
        assert loss == pytest.approx(rl, rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(G, rG, rtol=1e-10, atol=1e-12 * scale)
    else:
        assert loss == pytest.approx(rl, rel=1e-6, abs=1e-6)
        np.testing.assert_allclose(G, rG, rtol=1e-5, atol=1e-6 * scale)


@pytest.mark.parametrize(("kind", "params"), CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(37, 7, 4), (9, 1, 2), (26, 17, 6), (121, 3, 2)])  # last: classes > 48
def test_against_reference(kind, params, dtype, shape):
    # a fixed seed per case (str hashes vary between processes): float32 results can differ from
    # the float64 reference where a triplet lies within rounding of a miner's bound
    rng = np.random.default_rng(zlib.crc32(repr((kind, sorted(params.items()), shape)).encode()))
    n, d, c = shape
    Z, y = _batch(rng, n, d, c, dtype)
    f, ref = REFS[kind]
    loss, G, counts = f(Z, y, return_counts=True, **params)
    rl, rG, rc = ref(
        Z.astype(np.float64), y, **{k.replace("normalize_embeddings", "normalize"): v for k, v in params.items()}
    )
    _close((loss, G), (rl, rG), dtype)
    if dtype == np.float64:
        assert counts == rc


@pytest.mark.parametrize(("kind", "params"), [c for c in CASES if c[0] != "ms"] + [("ms", {})])
def test_reference_gradient_by_finite_differences(kind, params):
    # the reference's hand-derived gradient (and so ours) against central differences
    rng = np.random.default_rng(7)
    Z, y = _batch(rng, 12, 5, 3)
    f, ref = REFS[kind]
    loss, G = f(Z, y, **params)
    h = 1e-6
    for i, k in [(0, 0), (3, 2), (7, 4), (11, 1)]:
        Zp, Zm = Z.copy(), Z.copy()
        Zp[i, k] += h
        Zm[i, k] -= h
        fd = (f(Zp, y, **params)[0] - f(Zm, y, **params)[0]) / (2 * h)
        assert G[i, k] == pytest.approx(fd, rel=1e-5, abs=1e-7)


def test_every_isa(isa):
    rng = np.random.default_rng(3)
    for dtype in (np.float64, np.float32):
        Z, y = _batch(rng, 41, 33, 5, dtype)
        for kind, params in [("triplet", {"miner": "semihard"}), ("ms", {}), ("contrastive", {})]:
            f, ref = REFS[kind]
            _close(f(Z, y, **params), ref(Z.astype(np.float64), y, **params), dtype)


@pytest.mark.parametrize(
    ("kind", "params"), [("triplet", {"miner": "semihard"}), ("triplet", {}), ("ms", {}), ("contrastive", {})]
)
def test_thread_count_independent(kind, params):
    rng = np.random.default_rng(11)
    Z, y = _batch(rng, 301, 16, 7, np.float32)
    f = REFS[kind][0]
    l1, G1 = f(Z, y, n_threads=1, **params)
    for nt in (2, 3):
        l2, G2 = f(Z, y, n_threads=nt, **params)
        assert l1 == l2
        assert np.array_equal(G1, G2)


def test_ties_at_the_miner_boundaries():
    # an anchor with its positive and a negative at the same point: m = 0 exactly
    rng = np.random.default_rng(5)
    base = rng.normal(size=(4, 6))
    Z = np.vstack([base[0], base[1], base[1], base[2], base[3], base[1] + 1e-3, base[2]])
    y = np.array([0, 0, 1, 0, 1, 1, 1])
    for miner in ("semihard", "hard", "all", None):
        for distance in ("euclidean", "cosine"):
            got = losses.triplet_margin_loss(Z, y, miner=miner, distance=distance, return_counts=True)
            rl, rG, rc = ref_triplet(Z, y, miner=miner, distance=distance)
            assert got[2] == rc
            _close(got[:2], (rl, rG), np.float64)
    # a duplicated point in its own class: D = 0, gradient taken as 0 there
    Zd = np.vstack([base, base[0]])
    yd = np.array([0, 1, 0, 1, 0])
    for kind in ("contrastive", "triplet", "ms"):
        f, ref = REFS[kind]
        _close(f(Zd, yd), ref(Zd, yd)[:2], np.float64)


def test_no_triplet_gives_zero_loss_and_gradient():
    # every class of size 1: no anchor has a positive
    rng = np.random.default_rng(2)
    Z = rng.normal(size=(6, 3))
    loss, G, c = losses.triplet_margin_loss(Z, np.arange(6), miner="semihard", return_counts=True)
    assert loss == 0.0 and not G.any() and c == {"triplets": 0, "mined": 0}
    # well separated classes: the semihard miner finds nothing
    Z = np.vstack([np.tile([1.0, 0.0], (3, 1)), np.tile([0.0, 1.0], (3, 1))]) + 1e-3 * rng.normal(size=(6, 2))
    y = np.array([0, 0, 0, 1, 1, 1])
    loss, G, c = losses.triplet_margin_loss(Z, y, miner="semihard", return_counts=True)
    assert loss == 0.0 and not G.any() and c["mined"] == 0
    loss, G = losses.triplet_margin_loss(Z, y)  # no miner: every triplet satisfies the margin
    assert loss == 0.0 and not G.any()


def test_triplet_counts_beyond_int32():
    # 2 classes of 1050: 2 * 1050 * 1049 * 1050 = 2.31e9 triplets (> INT_MAX, PML's #688)
    rng = np.random.default_rng(4)
    Z = rng.normal(size=(2100, 3)).astype(np.float32)
    y = np.repeat([0, 1], 1050)
    _, _, c = losses.triplet_margin_loss(Z, y, margin=3.0, return_counts=True)  # unit rows: D <= 2
    assert c["mined"] == c["triplets"] == 2 * 1050 * 1049 * 1050 > 2**31
    _, _, c = losses.triplet_margin_loss(Z, y, miner="all", miner_margin=3.0, margin=3.0, return_counts=True)
    assert c["mined"] == c["triplets"] == 2 * 1050 * 1049 * 1050


def test_views_and_dtypes():
    rng = np.random.default_rng(8)
    Z = rng.normal(size=(30, 10))
    y = rng.integers(0, 4, 30).astype(str)  # string labels
    ref = losses.triplet_margin_loss(np.ascontiguousarray(Z[::2, ::3]), y[::2])
    got = losses.triplet_margin_loss(Z[::2, ::3], y[::2])
    assert got[0] == ref[0] and np.array_equal(got[1], ref[1])
    got = losses.multi_similarity_loss(np.asfortranarray(Z), y)
    assert got[1].shape == Z.shape and got[1].flags.c_contiguous
    loss, G = losses.contrastive_loss((10 * Z).astype(np.int64), y)  # ints become float64
    assert G.dtype == np.float64


def test_bad_input():
    rng = np.random.default_rng(9)
    Z = rng.normal(size=(8, 3))
    y = np.array([0, 1] * 4)
    for f in (losses.contrastive_loss, losses.triplet_margin_loss, losses.multi_similarity_loss):
        with pytest.raises(ValueError, match="labels"):
            f(Z, y[:5])
        with pytest.raises(ValueError, match="2 classes"):
            f(Z, np.zeros(8))
        with pytest.raises(ValueError, match="NaN"):
            f(np.where(np.eye(8, 3) > 0, np.nan, Z), y)
        with pytest.raises(ValueError, match="at least 2 rows"):
            f(np.zeros((0, 3)), np.zeros(0))
        with pytest.raises(ValueError, match="at least 2 rows"):
            f(Z[:1], y[:1])
        with pytest.raises(ValueError, match="norm"):
            f(np.vstack([Z[:7], np.zeros(3)]), y)
        with pytest.raises(ValueError, match="distance"):
            f(Z, y, distance="manhattan")
        with pytest.raises(ValueError, match="labels"):
            f(Z, y.reshape(4, 2))
    with pytest.raises(ValueError, match="miner"):
        losses.triplet_margin_loss(Z, y, miner="easy")
    with pytest.raises(ValueError, match="margin"):
        losses.triplet_margin_loss(Z, y, margin=np.nan)
    with pytest.raises(ValueError, match="alpha"):
        losses.multi_similarity_loss(Z, y, alpha=0)
    with pytest.raises(ValueError, match="overflow"):
        losses.contrastive_loss(Z * 1e200, y, normalize_embeddings=False)
    # zero-norm rows are fine without normalisation
    losses.contrastive_loss(np.vstack([Z[:7], np.zeros(3)]), y, normalize_embeddings=False)


def test_against_pytorch_metric_learning():
    torch = pytest.importorskip("torch")
    pml_losses = pytest.importorskip("pytorch_metric_learning.losses")
    pml_miners = pytest.importorskip("pytorch_metric_learning.miners")
    pml_dist = pytest.importorskip("pytorch_metric_learning.distances")
    rng = np.random.default_rng(10)
    for dtype, tdtype in ((np.float64, torch.float64), (np.float32, torch.float32)):
        Z, y = _batch(rng, 48, 16, 5, dtype)
        for distance, D in (("euclidean", pml_dist.LpDistance()), ("cosine", pml_dist.CosineSimilarity())):
            runs = [
                (losses.contrastive_loss, {}, pml_losses.ContrastiveLoss(distance=D), None),
                (losses.multi_similarity_loss, {}, pml_losses.MultiSimilarityLoss(distance=D), None),
                (losses.triplet_margin_loss, {}, pml_losses.TripletMarginLoss(distance=D), None),
                (
                    losses.triplet_margin_loss,
                    {"miner": "batch_hard"},
                    pml_losses.TripletMarginLoss(distance=D),
                    pml_miners.BatchHardMiner(distance=D),
                ),
            ]
            for m in ("all", "hard", "semihard"):
                runs.append(
                    (
                        losses.triplet_margin_loss,
                        {"miner": m},
                        pml_losses.TripletMarginLoss(distance=D),
                        pml_miners.TripletMarginMiner(margin=0.2, type_of_triplets=m, distance=D),
                    )
                )
            for f, kw, pl, pm in runs:
                t = torch.tensor(Z, dtype=tdtype, requires_grad=True)
                lab = torch.tensor(y)
                lt = pl(t, lab, pm(t, lab) if pm is not None else None)
                lt.backward()
                loss, G = f(Z, y, distance=distance, **kw)
                _close((loss, G), (lt.item(), t.grad.numpy().astype(np.float64)), dtype)


def test_import_does_not_import_torch():
    code = "import sys, fastmetric, fastmetric.losses; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
