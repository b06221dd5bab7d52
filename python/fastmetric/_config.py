"""Build and run-time configuration: which instruction set runs, OpenMP, threads."""

from __future__ import annotations

from . import _core

__all__ = ["get_config", "show_config", "set_isa"]


def get_config() -> dict:
    """Return a dict with the version, the ISA in use, the ISAs available and the thread setup."""
    from . import __version__

    return {
        "version": __version__,
        "isa": _core.isa(),
        "available_isas": list(_core.available_isas()),
        "openmp": bool(_core.have_openmp()),
        "max_threads": int(_core.max_threads()),
    }


def show_config() -> None:
    """Print :func:`get_config` as a short table."""
    for key, value in get_config().items():
        print(f"{key:>15}: {value}")


def set_isa(name: str) -> None:
    """Force the instruction set used by every kernel: "generic", "avx2", "avx512" or "best".

    Process-wide; meant for testing and benchmarking. The environment variable FASTMETRIC_ISA sets
    the initial choice (it can only lower it below what the CPU supports).
    """
    _core.set_isa(str(name))
