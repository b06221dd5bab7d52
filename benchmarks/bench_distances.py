"""Issue 2: pairwise distances, fastmetric against the numpy baseline, scipy and scikit-learn.

pytest benchmarks/bench_distances.py --benchmark-only
FM_BENCH_MEMORY=1 pytest benchmarks/bench_distances.py -k memory --benchmark-only -s   # pdist 50k x 64
"""

from conftest import SIZES

from fastmetric import _bench

CASES = _bench.distance_cases(SIZES)
MEMORY = [spec for spec in _bench.memory_cases(SIZES) if spec["case"] == "pdist"]


def test_distances(run_impl, case_impl):
    run_impl(*case_impl)


def test_pdist_peak_memory(run_memory):
    run_memory(MEMORY[0])
