"""Child-process scenarios for tests/test_fork.py, each run as `python fork_cases.py CASE`.

Every scenario exits 0 and prints "OK CASE" when every public function gave, in the child, the
same result as in the parent. test_fork.py runs each one in its own process group under a hard
timeout, so a child that hangs (the libgomp-after-fork bug) fails the test instead of hanging CI.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing as mp
import os
import sys
import threading
import traceback

import numpy as np

import fastmetric as fm

NT = 2  # every call below asks for two threads, so the child must start a team of its own


def data():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 33))
    Y = rng.normal(size=(257, 33))
    y = np.arange(300) % 3
    X[y == 1] += 1.5
    X[y == 2] -= 1.5
    return X, Y, y


def public_calls():
    """name -> zero-argument callable returning an array (or a tuple of arrays)."""
    X, Y, y = data()
    X32 = X.astype(np.float32)
    calls = {
        "cdist": lambda: fm.cdist(X, Y, n_threads=NT),
        "cdist_f32_cosine": lambda: fm.cdist(X32, Y.astype(np.float32), "cosine", n_threads=NT),
        "cdist_cityblock": lambda: fm.cdist(X, Y, "cityblock", n_threads=NT),
        "pdist": lambda: fm.pdist(X, n_threads=NT),
        "pairwise_distances": lambda: fm.pairwise_distances(X, metric="mahalanobis", n_threads=NT),
        "rbf_kernel": lambda: fm.rbf_kernel(X, Y, gamma=0.05, n_threads=NT),
        "pairwise_kernels": lambda: fm.pairwise_kernels(X, Y, metric="polynomial", n_threads=NT),
        "kneighbors": lambda: fm.kneighbors(X, Y, k=5, n_threads=NT),
        "kneighbors_self": lambda: fm.kneighbors(X, k=3, n_threads=NT),
        "radius_neighbors": lambda: fm.radius_neighbors(X, Y, radius=6.5, n_threads=NT),
    }
    return calls


def learner_calls():
    """Every learner's fit on a small labelled set; returns the learned components."""
    from fastmetric import learn

    X, _, y = data()
    X = X[:, :8]
    a, b = np.arange(0, 120, 2), np.arange(1, 121, 2)  # 60 pairs of neighbouring rows: labels mixed
    Xp = np.stack([X[a], X[b[::-1]]], axis=1)
    yp = np.where(y[a] == y[b[::-1]], 1, -1)
    fits = {
        "NCA": lambda: learn.NCA(max_iter=20, n_threads=NT).fit(X, y),
        "LMNN": lambda: learn.LMNN(n_neighbors=3, max_iter=20, n_threads=NT).fit(X, y),
        "MLKR": lambda: learn.MLKR(max_iter=20, n_threads=NT).fit(X, y.astype(float)),
        "ITML_Supervised": lambda: learn.ITML_Supervised(random_state=0).fit(X, y),
        "ITML": lambda: learn.ITML().fit(Xp, yp),
        "MMC_Supervised": lambda: learn.MMC_Supervised(random_state=0).fit(X, y),
        "MMC": lambda: learn.MMC().fit(Xp, yp),
        "LFDA": lambda: learn.LFDA(k=3).fit(X, y),
        "RCA_Supervised": lambda: learn.RCA_Supervised(random_state=0).fit(X, y),
        "Covariance": lambda: learn.Covariance().fit(X),
    }
    return {name: (lambda f=f: f().components_) for name, f in fits.items()}


def all_calls(with_learners=True):
    calls = public_calls()
    if with_learners:
        calls.update({f"learn.{k}": v for k, v in learner_calls().items()})
    return calls


def same(a, b):
    """Bitwise equality of results: arrays, tuples of arrays, ragged (object) arrays of arrays."""
    if isinstance(a, (tuple, list)) or isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype == object:
        return all(same(x, y) for x, y in zip(a.ravel(), b.ravel(), strict=True))
    return np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def run_all(expected, calls):
    """Run every call, compare with `expected`; returns the names that differ."""
    bad = [name for name, f in calls.items() if not same(f(), expected[name])]
    return bad


def child_check(expected, calls):
    """Body of a forked child: every call must match, and the child must have run on a team."""
    bad = run_all(expected, calls)
    if bad:
        print("MISMATCH", bad, flush=True)
        return 1
    if fm.get_config()["team_workers"] < 1:
        print("NO TEAM IN CHILD: it ran serially", flush=True)
        return 1
    return 0


def fork_and_wait(body):
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = body()
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


# --------------------------------------------------------------------------------------- scenarios


def case_fork_after_parallel():
    calls = all_calls()
    expected = {name: f() for name, f in calls.items()}  # the parent uses its team for everything
    return fork_and_wait(lambda: child_check(expected, calls))


def case_fork_cold():
    """The parent never ran a parallel call before the fork."""
    calls = all_calls()
    return fork_and_wait(lambda: _reference_in_child(calls))


def _reference_in_child(calls):
    # the child computes the reference on one thread, then every call again on its team
    global NT
    NT = 1
    serial = {name: f() for name, f in calls.items()}
    NT = 2
    return child_check(serial, calls)


def case_fork_from_thread():
    calls = all_calls()
    expected = {name: f() for name, f in calls.items()}
    codes = []
    t = threading.Thread(target=lambda: codes.append(fork_and_wait(lambda: child_check(expected, calls))))
    t.start()
    t.join()
    return codes[0] if codes else 1


def case_fork_during_call():
    """Fork while another thread of the parent is inside a long parallel call."""
    calls = public_calls()
    expected = {name: f() for name, f in calls.items()}
    rng = np.random.default_rng(1)
    big = rng.normal(size=(3000, 64))
    stop = threading.Event()

    def busy():
        while not stop.is_set():
            fm.cdist(big, big, n_threads=NT)

    t = threading.Thread(target=busy)
    t.start()
    try:
        codes = [fork_and_wait(lambda: child_check(expected, calls)) for _ in range(3)]
    finally:
        stop.set()
        t.join()
    return max(codes)


def case_fork_nested():
    """A forked child forks again: the grandchild needs a team of its own too."""
    calls = public_calls()
    expected = {name: f() for name, f in calls.items()}

    def child():
        if child_check(expected, calls):
            return 1
        return fork_and_wait(lambda: child_check(expected, calls))

    return fork_and_wait(child)


# pool workers: module-level functions so that spawn / forkserver can import them
def pool_task(name):
    calls = all_calls()
    return name, calls[name]()


POOL_NAMES = ["cdist", "rbf_kernel", "kneighbors", "learn.NCA"]


def _pool_case(method, use_executor=False):
    calls = all_calls()
    expected = {name: calls[name]() for name in POOL_NAMES}  # warm the parent's team first
    ctx = mp.get_context(method)
    if use_executor:
        with concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=ctx) as ex:
            results = list(ex.map(pool_task, POOL_NAMES * 2))
    else:
        with ctx.Pool(2) as pool:
            results = pool.map(pool_task, POOL_NAMES * 2)
    bad = [name for name, r in results if not same(r, expected[name])]
    if bad:
        print("MISMATCH", bad, flush=True)
        return 1
    return 0


def case_pool_fork():
    return _pool_case("fork")


def case_executor_fork():
    return _pool_case("fork", use_executor=True)


def case_pool_spawn():
    return _pool_case("spawn")


def case_pool_forkserver():
    return _pool_case("forkserver")


CASES = {name[5:]: f for name, f in list(globals().items()) if name.startswith("case_")}


if __name__ == "__main__":
    case = sys.argv[1]
    code = CASES[case]()
    if code == 0:
        print("OK", case, flush=True)
    sys.exit(code)
