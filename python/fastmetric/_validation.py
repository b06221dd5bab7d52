"""Input checks shared by every public function.

The C++ core trusts what it is given: 2-D float32/float64 arrays whose strides are whole items.
Everything else -- dtype promotion, shapes, finiteness, keyword checks -- is decided here, and every
message names the argument and the shapes involved.
"""

from __future__ import annotations

import numbers
import os

import numpy as np

from . import _core

__all__ = [
    "new_output",
    "check_int",
    "as_float_2d",
    "common_dtype",
    "check_finite",
    "resolve_n_threads",
    "plain_threads",
    "check_out",
    "same_array",
    "validate_pair",
    "sample_weights",
]


def _shape(a) -> str:
    return str(getattr(a, "shape", "?"))


def as_float_2d(X, name: str, *, dtype=None, allow_empty_features: bool = False) -> np.ndarray:
    """Return X as a 2-D float32/float64 ndarray, copying only when it must.

    ints, bools and float16 become float64; float32 stays float32 unless ``dtype`` asks for float64.
    Strided, negative-stride, Fortran-ordered and read-only arrays are used as they are (the core
    reads any stride); non-native byte order is converted.
    """
    if hasattr(X, "toarray") and hasattr(X, "nnz"):
        raise TypeError(f"{name}: sparse matrices are not supported; convert with {name}.toarray()")
    if isinstance(X, np.ndarray):
        arr = X
    else:
        try:
            arr = np.asarray(X)
        except Exception as exc:  # ragged lists and the like
            raise ValueError(f"{name} could not be converted to a numeric array: {exc}") from None
    kind = arr.dtype.kind
    if kind in "OSUVMm":
        if kind == "O":
            raise TypeError(f"{name} has dtype object; pass a numeric array (float32, float64, int or bool)")
        raise TypeError(f"{name} has non-numeric dtype {arr.dtype}; pass a float32, float64, int or bool array")
    if kind == "c":
        raise TypeError(f"{name} is complex ({arr.dtype}); distances are defined for real data only")
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, n_features); got {arr.ndim}-D shape {arr.shape}"
        )
    if arr.shape[1] == 0 and not allow_empty_features:
        raise ValueError(f"{name} has 0 features (shape {arr.shape}); at least one column is required")
    if dtype is None:
        dtype = np.float32 if _is_f32(arr.dtype) else np.float64
    dtype = np.dtype(dtype)
    if arr.dtype != dtype or not arr.dtype.isnative:
        arr = arr.astype(dtype.newbyteorder("="))
    if any(s % arr.itemsize for s in arr.strides):
        arr = np.ascontiguousarray(arr)
    return arr


def _is_f32(dt) -> bool:
    return dt.kind == "f" and dt.itemsize == 4  # any byte order


def common_dtype(*arrays) -> np.dtype:
    """float32 only when every input is float32; anything else computes in float64."""
    for a in arrays:
        if a is None:
            continue
        dt = np.asarray(a).dtype if not hasattr(a, "dtype") else a.dtype
        if not _is_f32(np.dtype(dt)):
            return np.dtype(np.float64)
    return np.dtype(np.float32)


def check_finite(arr: np.ndarray, name: str) -> None:
    if arr.size and not np.isfinite(arr).all():
        bad = "NaN" if np.isnan(arr).any() else "infinity"
        raise ValueError(
            f"{name} (shape {arr.shape}) contains {bad}; clean the data or pass check_finite=False "
            "(results involving non-finite values are then undefined)"
        )


def check_int(value, name: str, minimum: int = 1) -> int:
    """``value`` as an int, or ValueError naming the parameter when it is not an integer >= minimum
    (bools are rejected: ``True`` is an int to Python, never a count to a user)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_real(value, name: str, *, low=None, high=None, low_open=False, finite=False, allow_none=False):
    """``value`` as a float, or ValueError naming the parameter and the range it must lie in: at
    least ``low`` (above it when ``low_open``), at most ``high``, finite when ``finite``; NaN and
    bools are rejected; None passes through when ``allow_none``."""
    if value is None and allow_none:
        return None
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and not np.isnan(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high
    if ok and finite:
        ok = bool(np.isfinite(value))
    if not ok:
        bounds = []
        if low is not None:
            bounds.append(f"{'>' if low_open else '>='} {low}")
        if high is not None:
            bounds.append(f"<= {high}")
        kind = "a finite number" if finite else "a number"
        where = f" {' and '.join(bounds)}" if bounds else ""
        none = " or None" if allow_none else ""
        raise ValueError(f"{name} must be {kind}{where}{none}, got {value!r}")
    return float(value)


def resolve_n_threads(n_threads) -> int:
    """None or -1: every core the runtime allows; -k: all but k-1 (scikit-learn's n_jobs rule)."""
    if n_threads is None:
        return 0
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral):
        raise TypeError(f"n_threads must be an int or None, got {type(n_threads).__name__}")
    n = int(n_threads)
    if n == 0:
        raise ValueError("n_threads=0 is not allowed: use None for all cores or a positive count")
    if n < 0:
        total = _core.max_threads() or (os.cpu_count() or 1)
        return max(1, total + 1 + n)
    return n


def plain_threads(n_threads):
    """The core's thread count for the fast path (None -> 0, a positive int as it is), or None when
    ``n_threads`` needs :func:`resolve_n_threads` (negative counts, errors): the full path then decides."""
    if n_threads is None:
        return 0
    if type(n_threads) is int and n_threads > 0:
        return n_threads
    return None


def check_out(out, shape, dtype, inputs=()) -> np.ndarray:
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"out has shape {out.shape}; expected {tuple(shape)}")
    if out.dtype != dtype:
        raise ValueError(f"out has dtype {out.dtype}; expected {np.dtype(dtype)} for these inputs")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    if not out.flags.aligned:  # an unaligned out cannot be copied into place: refuse it
        raise ValueError("out is not aligned to its item size (e.g. np.frombuffer at an odd offset)")
    if out.ndim == 2 and out.shape[1] > 1 and out.strides[1] != out.itemsize:
        raise ValueError("out must have contiguous rows (C order)")
    if out.ndim == 1 and out.shape[0] > 1 and out.strides[0] != out.itemsize:
        raise ValueError("out must be contiguous")
    for a in inputs:
        if a is not None and np.shares_memory(out, a):
            raise ValueError("out must not overlap the inputs")
    return out


def same_array(a, b) -> bool:
    """True when a and b are the same memory with the same layout (X is Y, or an identical view)."""
    if a is b:
        return True
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
        return False
    return (
        a.shape == b.shape
        and a.strides == b.strides
        and a.dtype == b.dtype
        and a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    )


def validate_pair(X, Y, check_finite_: bool, names=("X", "Y")):
    """Validate X and optional Y together: common dtype, equal feature counts, finiteness.

    Returns (A, B, alias) where alias is True when Y is None or the same array as X (B is A then).
    """
    nx, ny = names
    A = as_float_2d(X, nx)
    if Y is None:
        if check_finite_:
            check_finite(A, nx)
        return A, A, True
    alias = same_array(X, Y)
    B = A if alias else as_float_2d(Y, ny)
    dtype = common_dtype(A, B)
    if A.dtype != dtype:
        A = A.astype(dtype)
    if B.dtype != dtype:
        B = B.astype(dtype)
    if alias:
        B = A
    if A.shape[1] != B.shape[1]:
        raise ValueError(
            f"{nx} and {ny} must have the same number of features (columns); "
            f"got {nx}.shape={A.shape}, {ny}.shape={B.shape}"
        )
    if check_finite_:
        check_finite(A, nx)
        if not alias:
            check_finite(B, ny)
    return A, B, alias


_POOL_MIN_BYTES = 4 << 20


def new_output(shape, dtype) -> np.ndarray:
    """An uninitialised C-ordered result array; large ones come from the output-buffer pool.

    The pool (``fastmetric.set_output_pool``) reuses the memory of freed large results, already
    faulted in; small arrays are left to numpy's allocator, which caches them well.
    """
    dtype = np.dtype(dtype)
    nbytes = dtype.itemsize
    for s in shape:
        nbytes *= int(s)
    if nbytes < _POOL_MIN_BYTES:
        return np.empty(shape, dtype=dtype)
    try:
        return _core.empty_output(tuple(int(s) for s in shape), dtype)
    except MemoryError:
        raise MemoryError(
            f"unable to allocate {nbytes / 2**30:.3g} GiB for the {tuple(shape)} {dtype} result"
        ) from None


def real_vector(v, name: str, d: int, per: str = "") -> np.ndarray:
    """A finite real vector of length d as contiguous float64 (seuclidean's V, the weights w and
    sample_weight); ``per`` says what its entries match in the shape error (default n_features)."""
    arr = np.asarray(v)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] != d:
        raise ValueError(f"{name} must have shape ({d},) {per or f'to match n_features={d}'}; got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


def sample_weights(sample_weight, n: int, rows: str = "sample"):
    """``sample_weight`` as n finite weights >= 0, not all 0 (float64, contiguous); None for None."""
    if sample_weight is None:
        return None
    w = real_vector(sample_weight, "sample_weight", n, f"(one weight per {rows})")
    if (w < 0).any():
        raise ValueError("sample_weight must be >= 0")
    if not w.any():
        raise ValueError(f"sample_weight is zero for every {rows}")
    return w
