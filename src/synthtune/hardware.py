"""What this machine's CPU can do fast, as far as the choices of a default need to know."""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=1)
def cpu_has_amx() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (Intel AMX tiles). There bfloat16 runs
    several times faster than float32 (benchmarks/RESULTS.md, embed and training); elsewhere torch
    emulates it, no faster than float32."""
    import torch

    try:
        return bool(torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):  # a torch without the probe: assume not
        return False
