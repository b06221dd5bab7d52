"""Smoke test of the benchmark code path of ``python -m fastmetric`` at tiny sizes (no timing assertions)."""

import io
import json
import math

import pytest

from fastmetric import __main__ as cli
from fastmetric import _bench

TINY = _bench.QUICK.scaled(0.01)


def _check_rows(rows):
    assert rows
    for row in rows:
        for t in (row.fastmetric_s, row.peer_s):
            assert math.isfinite(t)
            assert t > 0
        assert row.ratio > 0


@pytest.mark.parametrize("group", sorted(cli.GROUPS))
def test_cases_give_finite_positive_timings(group):
    rows, notes = [], []
    for case in cli.GROUPS[group](TINY):
        assert case.impls[0].label == "fastmetric"
        r, n = _bench.run_case(case, repeat=1, warmup=0)
        rows += r
        notes += n
    _check_rows(rows)
    # every case has a numpy baseline or a fastmetric reference row that needs no optional peer
    assert not any("fastmetric." in note for note in notes), notes


def test_accuracy_rows():
    rows = _bench.accuracy_rows(n=60, d=16)
    assert "fastmetric cdist (float32)" in [name for name, _ in rows]
    for _, err in rows:
        assert math.isfinite(err)
        assert err >= 0


def test_main_job_prints_a_table(tmp_path):
    out, path = io.StringIO(), tmp_path / "bench.json"
    cli.main(["--scale", "0.01", "--repeat", "1", "--no-learn", "--json", str(path)], file=out)
    text = out.getvalue()
    assert "max rel. error vs float64" in text
    assert "case" in text
    assert "ratio" in text
    saved = json.loads(path.read_text())
    assert saved["timings"]
    assert all(r["fastmetric_s"] > 0 and r["peer_s"] > 0 for r in saved["timings"])


def test_memory_child_reports_peak_rss():
    sizes = _bench.Sizes(pdist_n=300, mem_ref=2000, mem_query=10)
    for spec in _bench.memory_cases(sizes):
        res = _bench.measure_memory(spec, timeout=120)
        assert res["peak_mb"] >= res["before_mb"] > 0
        assert res["data_mb"] > 0
        assert res["seconds"] >= 0
