"""Benchmark cases shared by ``python -m fastmetric`` and the pytest-benchmark suite in ``benchmarks/``.

A :class:`Case` is one computation (say euclidean float32 4000x4000, d=128) done by several
implementations on the same data in the same process: fastmetric first, then the numpy baseline and
each peer (scipy, scikit-learn, faiss). An :class:`Impl` holds a *factory*: calling it imports what the
implementation needs, builds indexes and returns the zero-argument callable that is timed. A factory
raises :class:`Unavailable` when its library (or a fastmetric function) is missing, so callers can skip
that implementation with a reason. Input arrays are generated once per size and cached (read-only), so
every implementation of a case sees the same data.

Ratios are ``peer time / fastmetric time``: above 1 means fastmetric is faster.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace

import numpy as np

__all__ = [
    "Case",
    "Impl",
    "Row",
    "Sizes",
    "QUICK",
    "Unavailable",
    "accuracy_rows",
    "blas_info",
    "distance_cases",
    "small_distance_cases",
    "small_kernel_cases",
    "small_neighbor_cases",
    "kernel_cases",
    "neighbor_cases",
    "median_time",
    "memory_cases",
    "measure_memory",
    "run_case",
]


class Unavailable(Exception):
    """An implementation cannot run here (peer not installed, fastmetric function not there yet)."""


# ----------------------------------------------------------------------------- sizes
@dataclass(frozen=True)
class Sizes:
    """Problem sizes; the defaults are the ones the issues set their targets at."""

    n: int = 4000  # rows of X and of Y for the distance and kernel cases
    d: int | None = None  # when set, replaces every case's own feature count
    n_ref: int = 100_000  # k-NN references
    n_query: int = 10_000  # k-NN queries
    k: int = 10
    k_large: int = 1000
    n_query_large_k: int = 2000  # queries of the k=1000 case
    n_sub: int = 400  # scipy mahalanobis runs on an n_sub x n_sub subsample (it takes ~90 s at 4000)
    pdist_n: int = 50_000  # memory case: pdist of pdist_n x 64 float32 (5 GB condensed output)
    mem_ref: int = 1_000_000  # memory case: k-NN with mem_ref references ...
    mem_query: int = 1000  # ... and mem_query queries
    calls: int = 1000  # small-call cases: calls per timed loop at 10 x 8 (fewer at larger sizes, slower peers)

    def scaled(self, factor: float) -> Sizes:
        """Every row count times ``factor`` (feature counts and k are kept, k capped by the references)."""
        if factor == 1:
            return self

        def rows(v):
            return max(2, round(v * factor))

        new = replace(
            self,
            n=rows(self.n),
            n_ref=rows(self.n_ref),
            n_query=rows(self.n_query),
            n_query_large_k=rows(self.n_query_large_k),
            n_sub=min(rows(self.n_sub), rows(self.n)),
            pdist_n=rows(self.pdist_n),
            mem_ref=rows(self.mem_ref),
            mem_query=rows(self.mem_query),
            calls=max(1, round(self.calls * factor)),
        )
        return replace(new, k=min(self.k, new.n_ref - 1), k_large=min(self.k_large, new.n_ref - 1))

    def dim(self, default: int) -> int:
        return self.d if self.d is not None else default

    @classmethod
    def from_env(cls, base: Sizes | None = None) -> Sizes:
        """``base`` (default: issue sizes) overridden by FM_BENCH_N, FM_BENCH_D, FM_BENCH_NREF,
        FM_BENCH_NQUERY, FM_BENCH_K, FM_BENCH_PDIST_N, FM_BENCH_MEM_NREF, then scaled by FM_BENCH_SCALE."""
        s = base or cls()
        env = {
            "FM_BENCH_N": "n",
            "FM_BENCH_D": "d",
            "FM_BENCH_NREF": "n_ref",
            "FM_BENCH_NQUERY": "n_query",
            "FM_BENCH_K": "k",
            "FM_BENCH_PDIST_N": "pdist_n",
            "FM_BENCH_MEM_NREF": "mem_ref",
        }
        s = replace(s, **{attr: int(os.environ[var]) for var, attr in env.items() if os.environ.get(var)})
        return s.scaled(float(os.environ.get("FM_BENCH_SCALE") or 1))


#: Moderate sizes for the main job (``python -m fastmetric``), which must finish in under a minute.
QUICK = Sizes(n=2000, n_ref=20_000, n_query=2000, n_query_large_k=500, n_sub=200)


# ----------------------------------------------------------------------------- data
@functools.lru_cache(maxsize=16)
def _gaussian(n, d, dtype, seed):
    """n x d standard normal rows (cached: the implementations of a case share them; read-only)."""
    a = np.random.default_rng(seed).standard_normal((n, d), dtype=np.dtype(dtype).type)
    a.flags.writeable = False
    return a


def _pair(n, m, d, dtype):
    return _gaussian(n, d, np.dtype(dtype).name, 1), _gaussian(m, d, np.dtype(dtype).name, 2)


@functools.lru_cache(maxsize=4)
def _spd(d, seed=3):
    """A well-conditioned d x d symmetric positive definite VI (float64, as np.linalg.inv(np.cov) gives)."""
    a = np.random.default_rng(seed).standard_normal((d, d)) / np.sqrt(d)
    return a @ a.T + 0.5 * np.eye(d)


@functools.lru_cache(maxsize=4)
def _linear_map(k, d, seed=4):
    """A k x d map L, e.g. a metric learner's components_."""
    return np.random.default_rng(seed).standard_normal((k, d)) / np.sqrt(d)


def _require(module: str, pip_name: str | None = None):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise Unavailable(f"{pip_name or module.split('.')[0]} is not installed") from None


def _fm(name: str):
    import fastmetric

    fn = getattr(fastmetric, name, None)
    if fn is None:
        raise Unavailable(f"fastmetric.{name} is not available in this build")
    return fn


# ----------------------------------------------------------------------------- numpy baselines
def numpy_sqeuclidean(X, Y):
    """xx + yy - 2 X Y^T clamped at 0, in place on the GEMM output (numpy's own BLAS)."""
    G = X @ Y.T
    G *= -2
    G += np.einsum("ij,ij->i", X, X)[:, None]
    G += np.einsum("ij,ij->i", Y, Y)[None, :]
    return np.maximum(G, 0, out=G)


def numpy_euclidean(X, Y):
    """The baseline of issue 2: sqrt(max(xx + yy - 2 X Y^T, 0))."""
    D = numpy_sqeuclidean(X, Y)
    return np.sqrt(D, out=D)


def numpy_rbf(X, Y, gamma=None):
    """The baseline of issue 3: exp(-gamma max(xx + yy - 2 X Y^T, 0))."""
    gamma = 1.0 / X.shape[1] if gamma is None else gamma
    K = numpy_sqeuclidean(X, Y)
    K *= -gamma
    return np.exp(K, out=K)


def numpy_polynomial(X, Y, degree=3, gamma=None, coef0=1):
    gamma = 1.0 / X.shape[1] if gamma is None else gamma
    K = X @ Y.T
    K *= gamma
    K += coef0
    return np.power(K, degree, out=K)


def numpy_mahalanobis(X, Y, VI):
    """Cholesky-factor VI = C C^T, transform both sides by C, then the GEMM trick."""
    C = np.linalg.cholesky(VI).astype(X.dtype)
    D = numpy_sqeuclidean(X @ C, Y @ C)
    return np.sqrt(D, out=D)


# ----------------------------------------------------------------------------- cases
@dataclass
class Impl:
    label: str
    factory: object  # () -> (() -> result); may raise Unavailable
    scale: float = 1.0  # reported time = measured time x scale (subsample extrapolation)


@dataclass
class Case:
    name: str
    impls: list = field(default_factory=list)  # impls[0] is fastmetric


def _lazy(resolve, *args, **kwargs):
    """Factory for ``resolve()(*args, **kwargs)`` where resolve imports the function (may raise Unavailable)."""

    def factory():
        f = resolve()
        return lambda: f(*args, **kwargs)

    return factory


def _sk(name):
    return lambda: getattr(_require("sklearn.metrics.pairwise", "scikit-learn"), name)


def _scipy_cdist():
    return _require("scipy.spatial.distance").cdist


def _fmf(name):
    return lambda: _fm(name)


def _fm_without_pool(name):
    """fastmetric's ``name`` with the output-buffer pool off: every result in fresh memory."""

    def resolve():
        f = _fm(name)
        set_pool = _fm("set_output_pool")
        get_config = _fm("get_config")

        def call(*args, **kwargs):
            previous = get_config()["output_pool"]["max_bytes"]
            set_pool(0)
            try:
                return f(*args, **kwargs)
            finally:
                set_pool(previous)

        return call

    return resolve


# ----------------------------------------------------------------------------- small calls
#: (rows, features) of the small-call cases (issue 11: trackers and batch loops call these sizes).
SMALL = ((10, 8), (100, 32))


def _per_call(label, factory, calls):
    """An Impl timing ``calls`` back-to-back calls of what ``factory`` gives, reported per call."""

    def looped():
        fn = factory()

        def loop():
            for _ in range(calls):
                fn()

        return loop

    return Impl(label, looped, scale=1.0 / calls)


def _small_calls(s: Sizes, n: int, slow: float = 1.0) -> int:
    """Calls per timed loop: s.calls at 10 rows, fewer for larger inputs and for peers ``slow`` times slower."""
    return max(1, round(s.calls * 10 / n / slow))


def _nearest_neighbors_fit_query(Y, X, k):
    def factory():
        neighbors = _require("sklearn.neighbors", "scikit-learn")
        return lambda: neighbors.NearestNeighbors(n_neighbors=k).fit(Y).kneighbors(X)

    return factory


def _ckdtree_build_query(Y, X, k):
    def factory():
        tree = _require("scipy.spatial").cKDTree
        return lambda: tree(Y).query(X, k)

    return factory


def small_distance_cases(s: Sizes = Sizes()) -> list[Case]:
    """cdist, pdist and pairwise_distances of small float64 inputs, time per call."""
    cases = []
    for n, d in SMALL:
        X, Y = _pair(n, n, d, np.float64)
        c, sk = _small_calls(s, n), _small_calls(s, n, slow=50)
        head = f"f64 {n}x{n} d={d}, per call"
        cases += [
            Case(
                f"small cdist {head}",
                [
                    _per_call("fastmetric", _lazy(_fmf("cdist"), X, Y), c),
                    _per_call("scipy cdist", _lazy(_scipy_cdist, X, Y), c),
                ],
            ),
            Case(
                f"small pdist f64 {n}x{d}, per call",
                [
                    _per_call("fastmetric", _lazy(_fmf("pdist"), X), c),
                    _per_call("scipy pdist", _lazy(lambda: _require("scipy.spatial.distance").pdist, X), c),
                ],
            ),
            Case(
                f"small pairwise_distances {head}",
                [
                    _per_call("fastmetric", _lazy(_fmf("pairwise_distances"), X, Y), c),
                    _per_call("scikit-learn", _lazy(_sk("pairwise_distances"), X, Y), sk),
                ],
            ),
        ]
    return cases


def small_kernel_cases(s: Sizes = Sizes()) -> list[Case]:
    """rbf_kernel of small float64 inputs, time per call."""
    cases = []
    for n, d in SMALL:
        X, Y = _pair(n, n, d, np.float64)
        cases.append(
            Case(
                f"small rbf f64 {n}x{n} d={d}, per call",
                [
                    _per_call("fastmetric", _lazy(_fmf("rbf_kernel"), X, Y), _small_calls(s, n)),
                    _per_call("scikit-learn", _lazy(_sk("rbf_kernel"), X, Y), _small_calls(s, n, slow=50)),
                ],
            )
        )
    return cases


def small_neighbor_cases(s: Sizes = Sizes()) -> list[Case]:
    """k=3 neighbours of n queries among n references (float64), index construction included, per call."""
    cases = []
    for n, d in SMALL:
        X, Y = _pair(n, n, d, np.float64)
        cases.append(
            Case(
                f"small kneighbors f64 {n} refs x {n} queries d={d} k=3, per call",
                [
                    _per_call("fastmetric", _lazy(_fmf("kneighbors"), X, Y, k=3), _small_calls(s, n)),
                    _per_call(
                        "scikit-learn NearestNeighbors fit + kneighbors",
                        _nearest_neighbors_fit_query(Y, X, 3),
                        _small_calls(s, n, slow=200),
                    ),
                    _per_call(
                        "scipy cKDTree build + query", _ckdtree_build_query(Y, X, 3), _small_calls(s, n, slow=10)
                    ),
                ],
            )
        )
    return cases


def distance_cases(s: Sizes = Sizes()) -> list[Case]:
    """Issue 2: euclidean f32/f64 d=128, euclidean f32 d=16, cityblock, mahalanobis with VI."""
    n = s.n
    cases = []
    for dtype, d in ((np.float32, s.dim(128)), (np.float64, s.dim(128)), (np.float32, s.dim(16))):
        X, Y = _pair(n, n, d, dtype)
        tag = "f32" if dtype == np.float32 else "f64"
        impls = [
            Impl("fastmetric", _lazy(_fmf("cdist"), X, Y)),
            Impl("numpy GEMM trick", _lazy(lambda: numpy_euclidean, X, Y)),
            Impl("scikit-learn", _lazy(_sk("euclidean_distances"), X, Y)),
        ]
        if d >= 64:
            impls.append(Impl("numpy X@Y.T only (GEMM floor)", _lazy(lambda: np.matmul, X, Y.T)))
        if dtype == np.float32:  # what a first call (or a pool-less build) gets: page faults included
            impls.append(Impl("fastmetric, output pool off", _lazy(_fm_without_pool("cdist"), X, Y)))
        cases.append(Case(f"euclidean {tag} {n}x{n} d={d}", impls))

    d = s.dim(128)
    X, Y = _pair(n, n, d, np.float32)
    cases.append(
        Case(
            f"cityblock f32 {n}x{n} d={d}",
            [
                Impl("fastmetric", _lazy(_fmf("cdist"), X, Y, "cityblock")),
                Impl("scipy cdist", _lazy(_scipy_cdist, X, Y, "cityblock")),
            ],
        )
    )

    VI = _spd(d)
    m = min(s.n_sub, n)
    cases.append(
        Case(
            f"mahalanobis f32 {n}x{n} d={d} VI",
            [
                Impl("fastmetric", _lazy(_fmf("cdist"), X, Y, "mahalanobis", VI=VI)),
                Impl("numpy Cholesky + GEMM trick", _lazy(lambda: numpy_mahalanobis, X, Y, VI)),
                Impl(
                    f"scipy cdist ({m}x{m} subsample, time x{(n / m) ** 2:g})",
                    _lazy(_scipy_cdist, X[:m], Y[:m], "mahalanobis", VI=VI),
                    scale=(n / m) ** 2,
                ),
            ],
        )
    )
    return cases + small_distance_cases(s)


def kernel_cases(s: Sizes = Sizes()) -> list[Case]:
    """Issue 3: rbf f32/f64, polynomial, sigmoid, laplacian (d=64) and the Mahalanobis-RBF with L."""
    n, d = s.n, s.dim(128)
    cases = []
    for dtype, tag in ((np.float32, "f32"), (np.float64, "f64")):
        X, Y = _pair(n, n, d, dtype)
        cases.append(
            Case(
                f"rbf {tag} {n}x{n} d={d}",
                [
                    Impl("fastmetric", _lazy(_fmf("rbf_kernel"), X, Y)),
                    Impl("numpy exp(-g*GEMM trick)", _lazy(lambda: numpy_rbf, X, Y)),
                    Impl("scikit-learn", _lazy(_sk("rbf_kernel"), X, Y)),
                ],
            )
        )
    X, Y = _pair(n, n, d, np.float32)
    cases.append(
        Case(
            f"polynomial f32 {n}x{n} d={d}",
            [
                Impl("fastmetric", _lazy(_fmf("polynomial_kernel"), X, Y)),
                Impl("numpy (g*XY^T+c)^3", _lazy(lambda: numpy_polynomial, X, Y)),
                Impl("scikit-learn", _lazy(_sk("polynomial_kernel"), X, Y)),
            ],
        )
    )
    cases.append(
        Case(
            f"sigmoid f32 {n}x{n} d={d}",
            [
                Impl("fastmetric", _lazy(_fmf("sigmoid_kernel"), X, Y)),
                Impl("scikit-learn", _lazy(_sk("sigmoid_kernel"), X, Y)),
            ],
        )
    )
    d64 = s.dim(64)
    X64, Y64 = _pair(n, n, d64, np.float32)
    cases.append(
        Case(
            f"laplacian f32 {n}x{n} d={d64}",
            [
                Impl("fastmetric", _lazy(_fmf("laplacian_kernel"), X64, Y64)),
                Impl("scikit-learn", _lazy(_sk("laplacian_kernel"), X64, Y64)),
            ],
        )
    )
    L = _linear_map(d, d)

    def sklearn_rbf_on_transformed():
        rbf = _sk("rbf_kernel")()
        L32 = L.astype(np.float32)
        return lambda: rbf(X @ L32.T, Y @ L32.T, gamma=1.0 / d)

    cases.append(
        Case(
            f"mahalanobis-rbf f32 {n}x{n} d={d} L {d}x{d}",
            [
                Impl("fastmetric", _lazy(_fmf("rbf_kernel"), X, Y, L=L)),
                Impl("fastmetric plain rbf (target: ratio >= 0.77)", _lazy(_fmf("rbf_kernel"), X, Y)),
                Impl("scikit-learn rbf of X L^T, Y L^T", sklearn_rbf_on_transformed),
            ],
        )
    )
    return cases + small_kernel_cases(s)


def _threads() -> int:
    import fastmetric

    return int(fastmetric.get_config()["max_threads"]) or (os.cpu_count() or 1)


def _faiss_search(R, Q, k, L=None):
    def factory():
        faiss = _require("faiss", "faiss-cpu")
        faiss.omp_set_num_threads(_threads())
        Lt = None if L is None else np.ascontiguousarray(L.T, dtype=np.float32)
        refs = R if Lt is None else R @ Lt
        index = faiss.IndexFlatL2(refs.shape[1])
        index.add(np.ascontiguousarray(refs))
        if Lt is None:
            return lambda: index.search(Q, k)
        return lambda: index.search(Q @ Lt, k)

    return factory


def _sklearn_brute(R, Q, k):
    def factory():
        neighbors = _require("sklearn.neighbors", "scikit-learn")
        nn = neighbors.NearestNeighbors(n_neighbors=k, algorithm="brute").fit(R)
        return lambda: nn.kneighbors(Q)

    return factory


def _count(n: int) -> str:
    """100000 -> "100k", 1000000 -> "1M" (other counts as they are)."""
    for unit, size in (("M", 10**6), ("k", 10**3)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def neighbor_cases(s: Sizes = Sizes()) -> list[Case]:
    """Issue 4: exact k-NN euclidean vs faiss / scikit-learn, with a learned L, and k=1000."""
    d = s.dim(64)
    R = _gaussian(s.n_ref, d, "float32", 5)
    Q = _gaussian(s.n_query, d, "float32", 6)
    k = s.k
    head = f"{_count(s.n_ref)} refs x {_count(s.n_query)} queries"
    cases = [
        Case(
            f"kneighbors f32 {head} d={d} k={k}",
            [
                Impl("fastmetric", _lazy(_fmf("kneighbors"), Q, R, k=k)),
                Impl("faiss IndexFlatL2 (squared distances)", _faiss_search(R, Q, k)),
                Impl("scikit-learn brute", _sklearn_brute(R, Q, k)),
            ],
        )
    ]
    L = _linear_map(d, d)
    cases.append(
        Case(
            f"kneighbors f32 {head} d={d} k={k} L {d}x{d}",
            [
                Impl("fastmetric", _lazy(_fmf("kneighbors"), Q, R, k=k, metric="mahalanobis", L=L)),
                Impl("fastmetric euclidean (target: ratio >= 0.83)", _lazy(_fmf("kneighbors"), Q, R, k=k)),
                Impl("faiss on pre-transformed refs (+ Q L^T)", _faiss_search(R, Q, k, L=L)),
            ],
        )
    )
    kl, Ql = s.k_large, Q[: s.n_query_large_k]
    cases.append(
        Case(
            f"kneighbors f32 {_count(s.n_ref)} refs x {_count(len(Ql))} queries d={d} k={kl}",
            [
                Impl("fastmetric", _lazy(_fmf("kneighbors"), Ql, R, k=kl)),
                Impl("faiss IndexFlatL2 (squared distances)", _faiss_search(R, Ql, kl)),
                Impl("scikit-learn brute", _sklearn_brute(R, Ql, kl)),
            ],
        )
    )
    return cases + small_neighbor_cases(s)


# ----------------------------------------------------------------------------- timing
def median_time(fn, repeat: int = 3, warmup: int = 1) -> float:
    """Median wall time of ``repeat`` calls of ``fn()`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@dataclass
class Row:
    case: str
    fastmetric_s: float
    peer: str
    peer_s: float

    @property
    def ratio(self) -> float:
        return self.peer_s / self.fastmetric_s

    def as_dict(self) -> dict:
        return {
            "case": self.case,
            "fastmetric_s": self.fastmetric_s,
            "peer": self.peer,
            "peer_s": self.peer_s,
            "ratio": self.ratio,
        }


def run_case(case: Case, repeat: int = 3, warmup: int = 1) -> tuple[list[Row], list[str]]:
    """Time every implementation of ``case``: one row per peer, plus notes for what was skipped."""
    rows, notes = [], []
    try:
        t_fm = median_time(case.impls[0].factory(), repeat, warmup) * case.impls[0].scale
    except Unavailable as exc:
        return [], [f"{case.name}: skipped ({exc})"]
    for impl in case.impls[1:]:
        try:
            fn = impl.factory()
        except Unavailable as exc:
            notes.append(f"{case.name}: {impl.label} skipped ({exc})")
            continue
        rows.append(Row(case.name, t_fm, impl.label, median_time(fn, repeat, warmup) * impl.scale))
        del fn  # frees a faiss index / fitted estimator before the next peer
    return rows, notes


# ----------------------------------------------------------------------------- accuracy showcase
def _direct_euclidean(X, Y, chunk=64):
    """float64 reference sqrt(sum((x - y)^2)), computed directly (no expansion), in row chunks."""
    out = np.empty((X.shape[0], Y.shape[0]))
    for i in range(0, X.shape[0], chunk):
        diff = X[i : i + chunk, None, :] - Y[None, :, :]
        out[i : i + chunk] = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    return out


def accuracy_rows(n: int = 500, d: int = 64, seed: int = 0) -> list[tuple[str, float]]:
    """Issue 2's near-duplicates far from the origin: X = 100 + N(0,1) (n x d float32), Y = X + 0.01 N(0,1).

    Rows ``(method, max relative error vs float64)``; the float64 reference is computed directly, as
    sqrt(sum((x - y)^2)), from the same float32 inputs. The worst pairs are the near-duplicates.
    """
    rng = np.random.default_rng(seed)
    X = (100 + rng.standard_normal((n, d))).astype(np.float32)
    Y = (X + 0.01 * rng.standard_normal((n, d))).astype(np.float32)
    ref = _direct_euclidean(Y.astype(np.float64), X.astype(np.float64))
    methods = [("numpy GEMM trick (float32)", lambda: numpy_euclidean(Y, X))]
    try:
        sk = _sk("euclidean_distances")()
        methods.append(("scikit-learn euclidean_distances", lambda: sk(Y, X)))
    except Unavailable:
        pass
    methods.append(("fastmetric cdist (float32)", lambda: _fm("cdist")(Y, X)))
    rows = []
    for name, fn in methods:
        D = np.asarray(fn(), dtype=np.float64)
        rows.append((name, float(np.max(np.abs(D - ref) / ref))))
    return rows


def blas_info() -> str:
    """numpy's BLAS and its thread count, via threadpoolctl when installed (read only, nothing changed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    mine = [p for p in blas if "numpy" in p.get("filepath", "")] or blas
    if not mine:
        return "not detected"
    p = mine[0]
    return f"{p.get('internal_api')} {p.get('version') or ''} ({p.get('num_threads')} threads)"


# ----------------------------------------------------------------------------- memory (child process)
_CHILD = r"""
import json, resource, sys, time
import numpy as np
import fastmetric

def peak_mb():
    # Linux: VmHWM, the peak RSS of this process image. ru_maxrss is not used there: exec records
    # the parent's RSS at fork (vfork) time into it, so a child of a big parent would look big.
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return r / 2**20 if sys.platform == "darwin" else r / 1024

a = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
if a["case"] == "pdist":
    X = rng.standard_normal((a["n"], a["d"]), dtype=np.float32)
    before = peak_mb()
    t0 = time.perf_counter()
    out = fastmetric.pdist(X)
    data_mb = out.nbytes / 2**20
else:
    R = rng.standard_normal((a["n"], a["d"]), dtype=np.float32)
    Q = rng.standard_normal((a["q"], a["d"]), dtype=np.float32)
    before = peak_mb()
    t0 = time.perf_counter()
    out = fastmetric.kneighbors(Q, R, k=a["k"])
    data_mb = R.nbytes / 2**20
print(json.dumps({"seconds": time.perf_counter() - t0, "before_mb": before, "peak_mb": peak_mb(),
                  "data_mb": data_mb}))
"""


def memory_cases(s: Sizes = Sizes()) -> list[dict]:
    """Issue 2's pdist and issue 4's 1M-reference k-NN, as arguments for :func:`measure_memory`."""
    d = s.dim(64)
    knn = f"kneighbors f32 {_count(s.mem_ref)} refs x {_count(s.mem_query)} queries d={d} k={s.k}"
    return [
        {
            "name": f"pdist f32 {s.pdist_n}x{d} peak RSS",
            "case": "pdist",
            "n": s.pdist_n,
            "d": d,
            "budget": "condensed output + 10%",
        },
        {
            "name": f"{knn} peak RSS",
            "case": "kneighbors",
            "n": s.mem_ref,
            "q": s.mem_query,
            "d": d,
            "k": s.k,
            "budget": "references + 200 MB",
        },
    ]


def measure_memory(spec: dict, timeout: float = 1800) -> dict:
    """Run ``spec`` in a fresh Python and return its peak RSS (MB) against the issue's budget.

    The peak is the child's whole process (interpreter, numpy, inputs, output); ``before_mb`` is the
    peak before the call, so ``peak_mb - before_mb`` is what the call itself added.
    """
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(spec)], capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{spec['name']}: child failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    budget = res["data_mb"] * 1.1 if spec["case"] == "pdist" else res["data_mb"] + 200
    return {
        "case": spec["name"],
        "budget": spec["budget"],
        "budget_mb": budget,
        **res,
        "within_budget": res["peak_mb"] <= budget,
    }
