"""Issue 4: exact k-NN, fastmetric against faiss.IndexFlatL2 and scikit-learn's brute force.

pytest benchmarks/bench_neighbors.py --benchmark-only
FM_BENCH_MEMORY=1 pytest benchmarks/bench_neighbors.py -k memory --benchmark-only -s   # 1M references
"""

from conftest import SIZES

from fastmetric import _bench

CASES = _bench.neighbor_cases(SIZES)
MEMORY = [spec for spec in _bench.memory_cases(SIZES) if spec["case"] == "kneighbors"]


def test_neighbors(run_impl, case_impl):
    run_impl(*case_impl)


def test_kneighbors_peak_memory(run_memory):
    run_memory(MEMORY[0])
