"""Input cases, TestFloat style: exhaustive spaces, chosen exponents x significand patterns, and
seeded weighted random values (Berkeley TestFloat-3 ``genCases_*``; STYLE rule 8).

Everything here returns FP32 *bit patterns* (``uint32``), built with integer arithmetic only, so
the cases are the same on every machine. The random stream is SplitMix64 over a counter (a fixed
finalizer, not numpy's generator, whose streams may change between numpy versions).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._kernels.golden import splitmix, splitmix_below
from ..formats import FloatFormat, IntFormat

_M64 = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15

#: FP32 values every encoder case set starts with: zeros, the FP32 subnormal/normal boundaries,
#: one, the largest finite, infinities, and quiet/signalling NaNs with several payloads.
FP32_SPECIALS = np.array(
    [
        0x00000000,
        0x00000001,
        0x00000002,
        0x003FFFFF,
        0x00400000,
        0x007FFFFF,
        0x00800000,
        0x00800001,
        0x00FFFFFF,
        0x3F800000,
        0x3F7FFFFF,
        0x3F800001,
        0x7F7FFFFF,
        0x7F7FFFFE,
        0x7F000000,
        0x7F800000,
        0x7F800001,
        0x7FA00000,
        0x7FBFFFFF,
        0x7FC00000,
        0x7FC00001,
        0x7FFFFFFF,
    ],
    dtype=np.uint32,
)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer, in place on ``z`` (uint64; three times faster than temporaries)."""
    t = z >> np.uint64(30)
    z ^= t
    z *= np.uint64(0xBF58476D1CE4E5B9)
    np.right_shift(z, np.uint64(27), out=t)
    z ^= t
    z *= np.uint64(0x94D049BB133111EB)
    np.right_shift(z, np.uint64(31), out=t)
    z ^= t
    return z


def random_u64(seed: int, stream: int, n: int) -> np.ndarray:
    """``n`` SplitMix64 words of stream ``stream`` under ``seed`` (deterministic everywhere)."""
    return splitmix(_start(seed, stream), np.uint64(_GAMMA), n)


def random_below(seed: int, stream: int, n: int, mod: int) -> np.ndarray:
    """``random_u64(seed, stream, n) % mod`` as int64."""
    return splitmix_below(_start(seed, stream), np.uint64(_GAMMA), n, np.uint64(mod))


def _start(seed: int, stream: int) -> np.uint64:
    if not isinstance(seed, int) or not 0 <= seed < (1 << 32):
        raise ValueError(f"seed={seed!r}: expected an int in 0..2**32-1")
    return _mix(np.array([(seed << 16) ^ stream], dtype=np.uint64))[0]


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
    lead = (np.frexp(fs.astype(np.float64))[1] - 1).astype(
        np.uint32
    )  # exact: frexp reads the exponent
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
    (+-1 ulp), both signs. ``values``: the format's finite values as float64
    (:func:`numsim._tables.finite_values`)."""
    mags = np.unique(np.abs(values))
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


# ---------------------------------------------------------------------------------------------
# Blocks (MX encoder): rows of ``block`` FP32 patterns
# ---------------------------------------------------------------------------------------------
FP32_NAN_INF = np.array(
    [0x7FC00000, 0xFFC00000, 0x7F800001, 0x7F800000, 0xFF800000], dtype=np.uint32
)


def _pow2_bits(e: np.ndarray) -> np.ndarray:
    """FP32 bits of 2**e for integer e in [-149, 127] (subnormals below -126)."""
    e = np.asarray(e, dtype=np.int64)
    normal = (np.clip(e, -126, 127) + 127).astype(np.uint32) << np.uint32(23)
    sub = (np.uint32(1) << np.clip(e + 149, 0, 22).astype(np.uint32)).astype(np.uint32)
    return np.where(e >= -126, normal, sub).astype(np.uint32)


def _fill_rows(values: np.ndarray, width: int, pad: np.uint32) -> np.ndarray:
    """``values`` cut into rows of ``width`` (the last row padded with ``pad``)."""
    n = -(-values.size // width)
    out = np.full(n * width, pad, dtype=np.uint32)
    out[: values.size] = values
    return out.reshape(n, width)


def block_specials(block: int, seed: int) -> np.ndarray:
    """One NaN or Inf (quiet/signalling NaN of either sign, +-Inf) at every position of a block of
    random finite values; a block of NaNs and a block of infinities."""
    fill = (random_u64(seed, 11, block).astype(np.uint32) & np.uint32(0x3FFFFFFF)) | np.uint32(
        0x30000000
    )
    rows = []
    for special in FP32_NAN_INF:
        for pos in range(block):
            r = fill.copy()
            r[pos] = special
            rows.append(r)
    rows.append(np.full(block, 0x7FC00000, dtype=np.uint32))
    rows.append(np.full(block, 0x7F800000, dtype=np.uint32))
    return np.array(rows, dtype=np.uint32)


def block_zeros(block: int) -> np.ndarray:
    """All +0, all -0, alternating signs, and zeros with the smallest FP32 subnormal on each
    side of the block."""
    z = np.zeros(block, dtype=np.uint32)
    alt = np.where(np.arange(block) % 2 == 1, np.uint32(0x80000000), np.uint32(0)).astype(np.uint32)
    first, last, neg = z.copy(), z.copy(), z | np.uint32(0x80000000)
    first[0], last[-1] = 1, 0x80000001
    return np.array([z, neg, alt, first, last], dtype=np.uint32)


def block_scale_sweep(fmt: Any, block: int) -> np.ndarray:
    """For every block maximum exponent e from -149 to 127: a block whose largest magnitude is
    2**e x (1, 1.5 or just below 2), at a rotating position, the other elements spread over the
    binades below it (down past the element's smallest subnormal) with walking significand
    patterns and alternating signs. Covers every scale, both clamps and the overflow of the
    largest element under the floor rule."""
    man = getattr(fmt, "man_bits", 0)
    span = (fmt.emax - (fmt.emin if isinstance(fmt, FloatFormat) else -fmt.frac_bits)) + man + 4
    e = np.repeat(np.arange(-149, 128), 3)  # one row per (exponent, top pattern)
    k = np.tile(np.arange(3), 277)
    top = np.array([0, 1 << 22, (1 << 23) - 1], dtype=np.uint32)[k]
    i = np.arange(block)
    d = 1 + (i * span) // block  # binades below the maximum, per lane
    el_e = np.maximum(e[:, None] - d[None, :], -149)
    walk = (np.uint32(1) << ((i[None, :] + k[:, None]) % 23).astype(np.uint32)) | (
        (np.uint32(1) << (i % 7).astype(np.uint32)) - np.uint32(1)
    )[None, :]
    rows = _pow2_bits(el_e.reshape(-1)).reshape(el_e.shape)
    rows = np.where(el_e >= -126, rows | walk, rows).astype(np.uint32)
    rows |= np.where(i % 2 == 1, np.uint32(0x80000000), np.uint32(0)).astype(np.uint32)[None, :]
    amax = _pow2_bits(e) | np.where(e >= -126, top, np.uint32(0)).astype(np.uint32)
    amax |= np.where(e % 3 == 0, np.uint32(0x80000000), np.uint32(0)).astype(np.uint32)
    rows[np.arange(e.size), (e + k) % block] = amax
    return rows.astype(np.uint32)


def block_value_catalog(fmt: Any, block: int, values: np.ndarray) -> np.ndarray:
    """The element's value catalog (:func:`value_catalog`, magnitudes below 2**(emax+1)) at
    chosen scales 2**s: the first element of each block is 2**(emax + s), which fixes the scale
    to s, the others run through the catalog times 2**s (rounded by FP32 first: the +-1 ulp
    neighbours are taken after scaling)."""
    cat = value_catalog(values).view(np.float32).astype(np.float64)
    cat = cat[np.abs(cat) < 2.0 ** (fmt.emax + 1)]
    rows = []
    for s in (-127, -126, -100, -fmt.emax - 1, -1, 0, 1, 17, 100, 127 - fmt.emax):
        scaled = np.ldexp(cat, s).astype(np.float32)
        bits = np.unique(
            np.concatenate([scaled.view(np.uint32), scaled.view(np.uint32) + np.uint32(1)])
        )
        bits = bits[
            (bits & np.uint32(0x7FFFFFFF)) < np.uint32(_pow2_bits(np.array([fmt.emax + 1 + s]))[0])
        ]
        r = _fill_rows(bits, block - 1, np.uint32(0))
        anchor = np.full((r.shape[0], 1), _pow2_bits(np.array([fmt.emax + s]))[0], dtype=np.uint32)
        rows.append(np.concatenate([anchor, r], axis=1))
    return np.concatenate(rows)


def random_blocks(fmt: Any, n: int, block: int, seed: int) -> np.ndarray:
    """``n`` weighted random blocks: a block exponent (3/4 within 2**+-40, 1/4 anywhere in FP32
    including subnormals), each element a few binades below it (uniform over the element's range
    plus margins) with a uniform, sparse or dense fraction and a random sign; 1/32 of the
    elements zero, 1/64 of the blocks with one NaN or Inf."""
    lo, hi = exponent_range(fmt)
    span = hi - lo + 2
    rb = random_u64(seed, 21, n)
    wide = (rb & np.uint64(3)) == 0
    e_wide = ((rb >> np.uint64(2)) % np.uint64(277)).astype(np.int64) - 149  # -149..127
    e_narrow = ((rb >> np.uint64(2)) % np.uint64(81)).astype(np.int64) - 40  # -40..40
    e_blk = np.where(wide, e_wide, e_narrow)
    r1 = random_u64(seed, 22, n * block).reshape(n, block)
    r2 = random_u64(seed, 23, n * block).reshape(n, block)
    d = (r1 % np.uint64(span)).astype(np.int64)
    e = np.maximum(e_blk[:, None] - d, -149)
    m23 = np.uint64((1 << 23) - 1)
    a, b, c = r2 & m23, (r2 >> np.uint64(23)) & m23, (r1 >> np.uint64(20)) & m23
    kind = (r1 >> np.uint64(60)) & np.uint64(3)
    frac = np.where(kind == 1, a & b & c, np.where(kind == 2, a | b | c, a)).astype(np.uint32)
    base = _pow2_bits(e.reshape(-1)).reshape(n, block)
    bits = np.where(e >= -126, base | frac, base | (frac & (base - np.uint32(1)))).astype(np.uint32)
    bits |= (r2 >> np.uint64(63)).astype(np.uint32) << np.uint32(31)
    bits[((r1 >> np.uint64(47)) & np.uint64(31)) == 0] &= np.uint32(0x80000000)
    special = ((rb >> np.uint64(40)) & np.uint64(63)) == 0
    pos = ((rb >> np.uint64(46)) % np.uint64(block)).astype(np.int64)
    which = ((rb >> np.uint64(52)) % np.uint64(FP32_NAN_INF.size)).astype(np.int64)
    rows = np.flatnonzero(special)
    bits[rows, pos[rows]] = FP32_NAN_INF[which[rows]]
    return bits
