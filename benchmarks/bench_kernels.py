"""Issue 3: kernel matrices, fastmetric against the numpy baseline and scikit-learn.

pytest benchmarks/bench_kernels.py --benchmark-only
"""

from conftest import SIZES

from fastmetric import _bench

CASES = _bench.kernel_cases(SIZES)


def test_kernels(run_impl, case_impl):
    run_impl(*case_impl)
