"""The thread team: concurrent callers, odd thread counts, threadpoolctl limits."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import fastmetric as fm


def _data(seed=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(700, 37)), rng.normal(size=(650, 37))


def _calls(X, Y, nt):
    return {
        "cdist": lambda: fm.cdist(X, Y, n_threads=nt),
        "pdist": lambda: fm.pdist(X, "cityblock", n_threads=nt),
        "rbf": lambda: fm.rbf_kernel(X, Y, gamma=0.1, n_threads=nt),
        "knn": lambda: fm.kneighbors(X, Y, k=7, n_threads=nt),
    }


def _equal(a, b):
    a = a if isinstance(a, tuple) else (a,)
    b = b if isinstance(b, tuple) else (b,)
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("nt", [2, 3, 7, 5000])
def test_any_thread_count_gives_the_serial_result(nt):
    # 3 and 7 oversubscribe a small machine; 5000 is beyond the team's cap and runs serially
    X, Y = _data()
    serial = {k: f() for k, f in _calls(X, Y, 1).items()}
    for k, f in _calls(X, Y, nt).items():
        assert _equal(f(), serial[k]), k


def test_concurrent_python_threads():
    # four Python threads call at once: one gets the team, the others run on their own thread;
    # every result must equal the serial one, and nothing may deadlock
    X, Y = _data(5)
    serial = {k: f() for k, f in _calls(X, Y, 1).items()}
    errors = []

    def worker(seed):
        try:
            calls = _calls(X, Y, 2)
            names = list(calls)
            order = np.random.default_rng(seed).permutation(len(names) * 5) % len(names)
            for i in order:
                if not _equal(calls[names[i]](), serial[names[i]]):
                    errors.append(names[i])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a concurrent call did not return"
    assert errors == []


def test_threadpoolctl_limits_the_default_thread_count():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not fm.get_config()["openmp"]:
        pytest.skip("built without OpenMP: the thread count comes from OMP_NUM_THREADS / affinity")
    X, Y = _data()
    ref = fm.cdist(X, Y)
    with threadpoolctl.threadpool_limits(1):
        assert fm.get_config()["max_threads"] == 1
        assert np.array_equal(fm.cdist(X, Y), ref)


@pytest.mark.parametrize("nt", [1, 2, 3, 8])
def test_team_runs_every_tid_once(nt):
    from fastmetric import _core

    seen, err = _core.team_selftest(nt)
    assert seen == list(range(nt)) and err == ""


@pytest.mark.parametrize("nt", [2, 3])
def test_team_exception_is_raised_after_all_tids_ran(nt):
    from fastmetric import _core

    seen, err = _core.team_selftest(nt, throw_tid=nt - 1)
    assert seen == list(range(nt))
    assert err == f"team_selftest failure in tid {nt - 1}"
    # and the team is usable afterwards
    X, Y = _data()
    assert _equal(fm.cdist(X, Y, n_threads=2), fm.cdist(X, Y, n_threads=1))


def test_nested_team_call_runs_on_the_calling_thread():
    from fastmetric import _core

    seen, err = _core.team_selftest(2, nested=True)
    # both outer tids ran, and each ran its inner team of 2 (serially: the team was busy)
    assert err == "" and seen == [0, 1, 1000, 1000, 1001, 1001]
