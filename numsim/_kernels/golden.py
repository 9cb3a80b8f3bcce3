"""Kernels of the golden-vector writer: the SplitMix64 stream and hex row formatting (private;
called by numsim.golden)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


@njit(inline="always")
def mix64(z):
    """SplitMix64's finalizer of one uint64."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(parallel=True, cache=True)
def splitmix(start, gamma, n):
    """``mix64(start + i * gamma)`` for ``i = 1 .. n`` (uint64 arithmetic wraps)."""
    out = np.empty(n, np.uint64)
    for i in prange(n):
        out[i] = mix64(start + np.uint64(i + 1) * gamma)
    return out


@njit(parallel=True, cache=True)
def splitmix_below(start, gamma, n, mod):
    """``splitmix(start, gamma, n) % mod`` as int64."""
    out = np.empty(n, np.int64)
    for i in prange(n):
        out[i] = np.int64(mix64(start + np.uint64(i + 1) * gamma) % mod)
    return out


@njit(parallel=True, cache=True)
def hex_fill(buf, pos, vals, lane_digits):
    """Write ``vals`` [n, lanes] (uint64) as hex into the columns ``pos ..`` of ``buf`` [n, width]:
    lanes from the last to the first, each lane's digits from the most significant."""
    n, lanes = vals.shape
    for r in prange(n):
        p = pos
        for lane in range(lanes - 1, -1, -1):
            v = vals[r, lane]
            for k in range(lane_digits - 1, -1, -1):
                buf[r, p] = _HEX[(v >> np.uint64(4 * k)) & np.uint64(15)]
                p += 1
