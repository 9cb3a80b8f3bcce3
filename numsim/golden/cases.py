"""Input cases, TestFloat style: exhaustive spaces, chosen exponents x significand patterns, and
seeded weighted random values (Berkeley TestFloat-3 ``genCases_*``; STYLE rule 8).

Everything here returns FP32 *bit patterns* (``uint32``), built with integer arithmetic only, so
the cases are the same on every machine. The random stream is SplitMix64 over a counter (a fixed
finalizer, not numpy's generator, whose streams may change between numpy versions).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..formats import FloatFormat, IntFormat

_M64 = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15

#: FP32 values every encoder case set starts with: zeros, the FP32 subnormal/normal boundaries,
#: one, the largest finite, infinities, and quiet/signalling NaNs with several payloads.
FP32_SPECIALS = np.array([
    0x00000000, 0x00000001, 0x00000002, 0x003fffff, 0x00400000, 0x007fffff, 0x00800000, 0x00800001,
    0x00ffffff, 0x3f800000, 0x3f7fffff, 0x3f800001, 0x7f7fffff, 0x7f7ffffe, 0x7f000000, 0x7f800000,
    0x7f800001, 0x7fa00000, 0x7fbfffff, 0x7fc00000, 0x7fc00001, 0x7fffffff,
], dtype=np.uint32)


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def random_u64(seed: int, stream: int, n: int) -> np.ndarray:
    """``n`` SplitMix64 words of stream ``stream`` under ``seed`` (deterministic everywhere)."""
    if not isinstance(seed, int) or not 0 <= seed < (1 << 32):
        raise ValueError(f"seed={seed!r}: expected an int in 0..2**32-1")
    start = int(_mix(np.array([(seed << 16) ^ stream], dtype=np.uint64))[0])
    with np.errstate(over="ignore"):
        ctr = np.arange(1, n + 1, dtype=np.uint64) * np.uint64(_GAMMA) + np.uint64(start)
        return _mix(ctr)


def both_signs(bits: np.ndarray) -> np.ndarray:
    """``bits`` followed by the same patterns with the sign bit set."""
    bits = bits.astype(np.uint32)
    return np.concatenate([bits, bits | np.uint32(0x80000000)])


def fp16_to_fp32_bits(h: np.ndarray) -> np.ndarray:
    """Exact float16 -> float32 on bits (NaN payloads kept, signalling NaNs stay signalling)."""
    h = h.astype(np.uint32)
    sign = (h >> 15) << 31
    e = (h >> 10) & 0x1F
    f = h & 0x3FF
    out = np.where(e == 0x1F, np.uint32(0x7F800000) | (f << 13), ((e + 112) << 23) | (f << 13))
    sub = (e == 0) & (f != 0)
    fs = f[sub]
    lead = (np.frexp(fs.astype(np.float64))[1] - 1).astype(np.uint32)  # exact: frexp reads the exponent
    out[sub] = ((lead + 103) << 23) | ((fs << (23 - lead)) & 0x7FFFFF)
    out[(e == 0) & (f == 0)] = 0
    return (out | sign).astype(np.uint32)


def exhaustive_fp16() -> np.ndarray:
    """Every float16 bit pattern, as the FP32 with the same value."""
    return fp16_to_fp32_bits(np.arange(1 << 16, dtype=np.uint32))


def exhaustive_bf16() -> np.ndarray:
    """Every bfloat16 bit pattern, as the FP32 with the same value."""
    return (np.arange(1 << 16, dtype=np.uint32) << 16).astype(np.uint32)


def significand_patterns(level: int) -> np.ndarray:
    """23-bit FP32 fraction patterns: 0, 1, all ones and all ones - 1, walking ones and zeros,
    leading and trailing runs, adjacent pairs (ties with an odd kept LSB), pairs with the lowest
    bit (just above a tie); level 2 adds every two-bit pattern and its complement."""
    ones = (1 << 23) - 1
    pats = {0, 1, ones, ones - 1}
    for k in range(23):
        pats |= {1 << k, ones ^ (1 << k), ones ^ ((1 << k) - 1), (1 << k) - 1, (1 << k) | 1}
        if k < 22:
            pats |= {(3 << k), (3 << k) | 1, (3 << k) - 1}
    if level >= 2:
        for i in range(23):
            for j in range(i):
                pats |= {(1 << i) | (1 << j), ones ^ ((1 << i) | (1 << j))}
    return np.array(sorted(pats), dtype=np.uint32)


def exponent_range(fmt: Any) -> tuple[int, int]:
    """Unbiased exponents worth crossing with significand patterns: from three binades below the
    smallest subnormal (or integer unit) to three above the largest binade, clipped to FP32."""
    if isinstance(fmt, FloatFormat):
        lo = fmt.emin - fmt.man_bits - 3
    elif isinstance(fmt, IntFormat):
        lo = -fmt.frac_bits - 3
    else:
        raise TypeError(f"format {fmt!r}: expected an element format")
    return max(lo, -126), min(fmt.emax + 3, 127)


def exponent_catalog(fmt: Any, level: int) -> np.ndarray:
    """Chosen exponents x significand patterns (TestFloat's QIn x P), both signs, plus the FP32
    subnormal range crossed with the same patterns."""
    lo, hi = exponent_range(fmt)
    fields = np.arange(lo + 127, hi + 128, dtype=np.uint32)
    fields = np.concatenate([np.array([0], dtype=np.uint32), fields])
    pats = significand_patterns(level)
    grid = (fields[:, None] << np.uint32(23)) | pats[None, :]
    return both_signs(grid.reshape(-1))


def value_catalog(values: np.ndarray) -> np.ndarray:
    """Every representable value of a format, the midpoints between neighbours (exact ties), one
    step past the largest magnitude and the midpoint below it, each with its FP32 neighbours
    (+-1 ulp), both signs. ``values``: the format's finite values as float64."""
    mags = np.unique(np.abs(values[np.isfinite(values)]))
    step = mags[-1] - mags[-2]
    mags = np.concatenate([mags, [mags[-1] + step / 2, mags[-1] + step]])
    mids = (mags[:-1] + mags[1:]) / 2
    pts = np.concatenate([mags, mids]).astype(np.float32)  # exact: at most man_bits + 2 bits
    if not np.array_equal(pts.astype(np.float64), np.concatenate([mags, mids])):
        raise ValueError("format values or midpoints are not exact in FP32")
    b = pts.view(np.uint32)
    near = np.concatenate([b, b + np.uint32(1), b[b > 0] - np.uint32(1)])
    return both_signs(near)


def random_fp32(fmt: Any, n: int, seed: int) -> np.ndarray:
    """``n`` weighted random FP32 patterns: a quarter uniform over all 32-bit patterns, the rest
    with an exponent uniform in :func:`exponent_range` and a fraction that is uniform (half) or
    sparse / dense (a quarter: AND / OR of three random words, near ties and carries)."""
    lo, hi = exponent_range(fmt)
    r = random_u64(seed, 1, n)
    r2 = random_u64(seed, 2, n)
    r3 = random_u64(seed, 3, n)
    kind = (r >> np.uint64(62)).astype(np.uint32)  # 0..3
    raw = (r & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    sign = ((r >> np.uint64(32)) & np.uint64(1)).astype(np.uint32) << np.uint32(31)
    span = np.uint64(hi - lo + 1)
    field = ((r >> np.uint64(33)) % span).astype(np.uint32) + np.uint32(lo + 127)
    m23 = np.uint64((1 << 23) - 1)
    uniform = (r2 & m23).astype(np.uint32)
    a, b, c = r2 & m23, (r2 >> np.uint64(23)) & m23, r3 & m23
    sparse = np.where((r3 >> np.uint64(63)) == 1, a & b & c, a | b | c).astype(np.uint32)
    frac = np.where(kind == 1, sparse, uniform)
    shaped = sign | (field << np.uint32(23)) | frac
    return np.where(kind == 0, raw, shaped).astype(np.uint32)
