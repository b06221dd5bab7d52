"""Ctrl-C stops a long kernel promptly (the GIL is released, so the check is explicit)."""

import os
import signal
import threading
import time

import numpy as np
import pytest

import fastmetric as fm


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize("call", ["pdist", "kneighbors"])
def test_keyboard_interrupt_stops_the_kernel(call):
    assert threading.current_thread() is threading.main_thread()
    X = np.random.default_rng(0).random((30000, 256), dtype=np.float32)
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    start = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            if call == "pdist":
                fm.pdist(X, "cityblock")  # many seconds of work
            else:
                fm.kneighbors(X, X, 5, "cityblock")
    finally:
        timer.cancel()
    assert time.perf_counter() - start < 3.0
    # the library is usable afterwards
    np.testing.assert_allclose(fm.cdist(X[:2], X[:3]), fm.cdist(X[:2], X[:3].copy()))
