"""Forked, spawned and forkserver children: every public function works and keeps its threads.

Each scenario of fork_cases.py runs in a fresh interpreter in its own process group with a hard
timeout: a child that hangs (as GNU libgomp's team did after fork) fails the test and the whole
group is killed, so CI never hangs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TIMEOUT = float(os.environ.get("FASTMETRIC_TEST_FORK_TIMEOUT", 120))  # per scenario; each takes 1-5 s

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

CASES = [
    "fork_after_parallel",
    "fork_cold",
    "fork_from_thread",
    "fork_during_call",
    "fork_nested",
    "pool_fork",
    "executor_fork",
    "pool_spawn",
    "pool_forkserver",
]


def run_case(case: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "2"  # a team of two even on a one-core runner
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "fork_cases.py"), case],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group: children included in the kill below
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{case}: no answer within {TIMEOUT} s (a child hung)\nstdout:\n{out}\nstderr:\n{err[-3000:]}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # leftovers (a grandchild) never outlive the test
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("case", CASES)
def test_child_processes(case):
    r = run_case(case)
    detail = f"{case}: exit {r.returncode}\n{r.stdout}\n{r.stderr[-3000:]}"
    assert r.returncode == 0 and f"OK {case}" in r.stdout, detail
