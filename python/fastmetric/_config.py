"""Build and run-time configuration: which instruction set runs, the thread team, the output pool."""

from __future__ import annotations

from . import _core

__all__ = ["get_config", "show_config", "set_isa", "set_output_pool"]


def get_config() -> dict:
    """Return a dict with the version, the ISA in use, the ISAs available and the thread setup.

    Examples
    --------
    >>> import fastmetric as fm
    >>> cfg = fm.get_config()
    >>> cfg["isa"] in cfg["available_isas"]
    True
    """
    from . import __version__

    return {
        "version": __version__,
        "isa": _core.isa(),
        "available_isas": list(_core.available_isas()),
        "openmp": bool(_core.have_openmp()),
        "max_threads": int(_core.max_threads()),
        # worker threads of this process's team (0 until the first parallel call; a forked child
        # starts its own), and how many times a fork has replaced an inherited team
        "team_workers": int(_core.team_workers()),
        "team_resets_after_fork": int(_core.team_resets_after_fork()),
        "output_pool": dict(_core.output_pool()),
    }


def show_config() -> None:
    """Print :func:`get_config` as a short table.

    Examples
    --------
    >>> import fastmetric as fm
    >>> fm.show_config()  # doctest: +ELLIPSIS
            version: ...
                isa: ...
    """
    for key, value in get_config().items():
        print(f"{key:>15}: {value}")


def set_isa(name: str) -> None:
    """Force the instruction set used by every kernel: "generic", "avx2", "avx512" or "best".

    Process-wide; meant for testing and benchmarking. The environment variable FASTMETRIC_ISA sets
    the initial choice (it can only lower it below what the CPU supports).

    Examples
    --------
    >>> import fastmetric as fm
    >>> before = fm.get_config()["isa"]
    >>> fm.set_isa("generic")  # the portable kernels, e.g. to compare results
    >>> fm.get_config()["isa"]
    'generic'
    >>> fm.set_isa(before)
    """
    _core.set_isa(str(name))


def set_output_pool(max_bytes: int) -> dict:
    """Bound the cache of freed output buffers (bytes; 0 disables it and frees what it holds).

    Dense results of 4 MiB and more (distance and kernel matrices) are allocated from a small pool:
    when such an array is freed its memory is kept (up to 4 buffers and ``max_bytes`` in total,
    default 512 MiB, or ``FASTMETRIC_OUTPUT_POOL_BYTES``) and reused by the next call of a similar
    size, which then skips the page faults of fresh memory -- on the machines we measured those cost
    ~10 ms per 64 MB, as much as computing a 4000 x 4000 euclidean matrix. Returns the pool's
    statistics (held_bytes, held_buffers, max_bytes, hits, misses).

    Examples
    --------
    >>> import fastmetric as fm
    >>> old = fm.set_output_pool(0)  # no pooling: every result gets fresh memory
    >>> fm.get_config()["output_pool"]["max_bytes"]
    0
    >>> _ = fm.set_output_pool(512 << 20)
    """
    from ._validation import check_int

    return dict(_core.output_pool(check_int(max_bytes, "max_bytes", 0)))
