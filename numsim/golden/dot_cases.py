"""Input cases of the datapath units (``mx_dot``, ``fp32_acc``, ``int_mac``), TestFloat style:
exhaustive where the space allows (every element code pair, every int8 pair), catalogs of
specials, scales, cancellations and rounding boundaries, and seeded weighted random cases.

Everything is built from integer bit patterns with the SplitMix64 stream of
:mod:`numsim.golden.cases`, so the cases are the same on every machine.
"""

from __future__ import annotations

import numpy as np

from .._tables import codes_of_class
from ..formats import CodeClass, FloatFormat, IntFormat
from .cases import random_below, random_u64

#: One MX dot-product section: (a_codes [N, bs], a_scale [N], b_codes [N, bs], b_scale [N], c [N]
#: FP32 bits).
DotRows = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _u(seed: int, stream: int, n: int, mod: int) -> np.ndarray:
    return random_below(seed, stream, n, mod)


def element_classes(fmt: FloatFormat | IntFormat) -> dict[str, np.ndarray]:
    """The element codes of ``fmt`` by class, ascending: finite non-zero, zero, nan, inf (an
    integer format: code 0 and every other code), as :meth:`numsim.formats.FloatFormat.classify`
    tells them."""
    return {
        name: codes_of_class(fmt, cls)
        for name, cls in (
            ("finite", CodeClass.finite),
            ("zero", CodeClass.zero),
            ("nan", CodeClass.nan),
            ("inf", CodeClass.inf),
        )
    }


def _random_codes(
    fmt: FloatFormat | IntFormat, seed: int, stream: int, shape: tuple[int, int], zero_frac: int = 8
) -> np.ndarray:
    """Finite codes, about 1/zero_frac of them zero (uniform over the finite codes otherwise)."""
    cls = element_classes(fmt)
    n = shape[0] * shape[1]
    fin = cls["finite"][_u(seed, stream, n, cls["finite"].size)]
    zero = _u(seed, stream + 1, n, zero_frac) == 0
    return np.where(zero, cls["zero"][0], fin).reshape(shape)


def _fp32(sign: np.ndarray, field: np.ndarray, frac: np.ndarray) -> np.ndarray:
    return (
        (sign.astype(np.uint64) << 31)
        | (np.clip(field, 0, 254).astype(np.uint64) << 23)
        | (frac.astype(np.uint64) & 0x7FFFFF)
    ).astype(np.uint32)


def _c_near(seed: int, stream: int, scale_sum: np.ndarray, spread: int) -> np.ndarray:
    """Random FP32 c whose exponent lies within +-spread binades of the block's scale
    2**scale_sum."""
    n = scale_sum.size
    e = scale_sum + _u(seed, stream, n, 2 * spread + 1) - spread
    frac = _u(seed, stream + 1, n, 1 << 23)
    sign = _u(seed, stream + 2, n, 2)
    return _fp32(sign, e + 127, frac)


def mx_dot_pairs(fmt: FloatFormat | IntFormat, bs: int) -> DotRows:
    """Every element code pair exactly once, ``bs`` pairs per block (pair ``k`` in row
    ``k // bs``, lane ``k % bs``; a's code runs slowest), scales 1, c 0."""
    n = 1 << fmt.total_bits
    ca, cb = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    ca, cb = ca.reshape(-1), cb.reshape(-1)
    rows = -(-ca.size // bs)
    pad = rows * bs - ca.size
    a = np.concatenate([ca, np.zeros(pad, np.int64)]).reshape(rows, bs)
    b = np.concatenate([cb, np.zeros(pad, np.int64)]).reshape(rows, bs)
    s = np.full(rows, 127, np.int64)
    return a, s, b, s.copy(), np.zeros(rows, np.uint32)


def mx_dot_specials(fmt: FloatFormat | IntFormat, bs: int, seed: int) -> DotRows:
    """NaN scales, NaN and Inf elements at every position, Inf * 0, +Inf with -Inf, NaN/Inf c."""
    cls = element_classes(fmt)
    base = 2 * bs + 12
    a = _random_codes(fmt, seed, 100, (base, bs))
    b = _random_codes(fmt, seed, 102, (base, bs))
    sa = 120 + _u(seed, 104, base, 16)
    sb = 120 + _u(seed, 105, base, 16)
    c = _c_near(seed, 106, sa + sb - 254, 4)
    r = 0
    for sc in ((255, None), (None, 255), (255, 255), (0, 255), (255, 254)):  # NaN scales
        if sc[0] is not None:
            sa[r] = sc[0]
        if sc[1] is not None:
            sb[r] = sc[1]
        r += 1
    c[r] = 0x7FC00000
    r += 1  # NaN c
    c[r] = 0x7F800001
    r += 1  # signalling NaN c
    c[r] = 0x7F800000
    r += 1  # +Inf c
    c[r] = 0xFF800000
    r += 1  # -Inf c
    a[r] = cls["zero"][0]
    b[r] = cls["zero"][0]
    c[r] = 0xFF800000
    r += 1  # zeros and -Inf c
    sa[r] = 255
    a[r] = cls["zero"][0]
    r += 1  # NaN scale on a zero block
    r0 = r
    nan_codes = cls["nan"] if cls["nan"].size else cls["finite"]
    for i in range(bs):  # a NaN element at every position
        a[r0 + i, i] = nan_codes[i % nan_codes.size]
    r0 += bs
    inf_codes = cls["inf"] if cls["inf"].size else cls["finite"]
    for i in range(bs):  # an Inf element at every position
        b[r0 + i, i] = inf_codes[i % inf_codes.size]
    rows = [a, sa, b, sb, c]
    if cls["inf"].size:  # Inf * 0, +Inf with -Inf, Inf with opposite c
        extra = 6
        ea = _random_codes(fmt, seed, 110, (extra, bs))
        eb = _random_codes(fmt, seed, 112, (extra, bs))
        pos, neg = int(cls["inf"].min()), int(cls["inf"].max())
        one = int(cls["finite"][0])
        ea[0, 3], eb[0, 3] = pos, cls["zero"][0]  # Inf * 0
        ea[1, 3], eb[1, 3], ea[1, 9], eb[1, 9] = pos, one, neg, one  # +Inf and -Inf
        ea[2, 3], eb[2, 3] = pos, one  # + Inf with c = -Inf
        ea[3, 3], eb[3, 3], ea[3, 4], eb[3, 4] = pos, pos, neg, neg  # Inf * Inf twice: +Inf
        ea[4, 3], eb[4, 3] = neg, one  # -Inf with c = +Inf
        ea[5, 3], eb[5, 3] = neg, one  # -Inf alone
        ec = np.zeros(extra, np.uint32)
        ec[2], ec[4] = 0xFF800000, 0x7F800000
        es = np.full(extra, 127, np.int64)
        rows = [np.concatenate([x, y]) for x, y in zip(rows, (ea, es, eb, es.copy(), ec))]
    return tuple(rows)  # type: ignore[return-value]


def mx_dot_scales(fmt: FloatFormat | IntFormat, bs: int, seed: int) -> DotRows:
    """Every scale of a against six scales of b (both clamps, 1, the middle), random blocks, and
    c near the block's magnitude, 0, or an FP32 subnormal: overflow to Inf, results in the FP32
    subnormal range and below it."""
    sa = np.repeat(np.arange(255, dtype=np.int64), 6)
    sb = np.tile(np.array([0, 1, 64, 127, 190, 254], np.int64), 255)
    n = sa.size
    a = _random_codes(fmt, seed, 120, (n, bs))
    b = _random_codes(fmt, seed, 122, (n, bs))
    c = _c_near(seed, 124, np.clip(sa + sb - 254, -140, 127), 6)
    kind = _u(seed, 127, n, 4)
    c = np.where(kind == 0, np.uint32(0), c)
    c = np.where(kind == 1, (random_u64(seed, 128, n) & np.uint64(0x807FFFFF)).astype(np.uint32), c)
    return a, sa, b, sb, c.astype(np.uint32)


def mx_dot_cancel(fmt: FloatFormat | IntFormat, bs: int, seed: int, n: int) -> DotRows:
    """Products that cancel in pairs (x*y and -x*y) plus a few small residual products, and c
    zero, +-0 or tiny: catastrophic cancellation, exact zero sums (+0) and sticky residues."""
    cls = element_classes(fmt)
    half = bs // 2
    a = _random_codes(fmt, seed, 130, (n, bs), zero_frac=64)
    b = _random_codes(fmt, seed, 132, (n, bs), zero_frac=64)
    if isinstance(fmt, IntFormat):  # second half: the negatives of the first
        a[:, half:] = -a[:, :half] & ((1 << fmt.total_bits) - 1)  # (two's complement; -128 stays)
    else:
        a[:, half:] = a[:, :half] ^ (1 << (fmt.total_bits - 1))
    b[:, half:] = b[:, :half]
    k = _u(seed, 134, n, 4)  # 0..3 lanes replaced by small residues
    small = cls["finite"][_u(seed, 135, n * 3, max(1, cls["finite"].size // 8))].reshape(n, 3)
    for j in range(3):
        use = k > j
        a[use, j * 5] = small[use, j]
    sa = 127 + _u(seed, 136, n, 9) - 4
    sb = 127 + _u(seed, 137, n, 9) - 4
    ck = _u(seed, 138, n, 4)
    c = np.where(ck == 0, np.uint32(0x80000000), np.uint32(0))
    c = np.where(ck == 3, _c_near(seed, 139, sa + sb - 254 - 2 * fmt.man_bits - 6, 6), c)
    return a, sa, b, sb, c.astype(np.uint32)


def mx_dot_random(fmt: FloatFormat | IntFormat, bs: int, seed: int, n: int) -> DotRows:
    """Weighted random blocks: codes uniform over the finite codes (1/8 zero), scales mostly
    within 2**+-8 of 1 (1/8 anywhere), c near the block's magnitude (1/8 zero, 1/16 raw bits)."""
    a = _random_codes(fmt, seed, 140, (n, bs))
    b = _random_codes(fmt, seed, 142, (n, bs))
    wide = _u(seed, 144, n, 8) == 0
    sa = np.where(wide, _u(seed, 145, n, 255), 127 + _u(seed, 146, n, 17) - 8)
    sb = np.where(wide, _u(seed, 147, n, 255), 127 + _u(seed, 148, n, 17) - 8)
    emax = fmt.emax
    c = _c_near(seed, 150, np.clip(sa + sb - 254 + 2 * emax, -150, 127), 2 * emax + 8)
    ck = _u(seed, 153, n, 16)
    raw = (random_u64(seed, 154, n) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    c = np.where(ck < 2, np.uint32(0), np.where(ck == 2, raw, c))
    return a, sa, b, sb, c.astype(np.uint32)


# ---------------------------------------------------------------------------------------------
# FP32 accumulator
# ---------------------------------------------------------------------------------------------
def fp32_corners() -> np.ndarray:
    """FP32 corner values (positive; both signs are added by the caller): zero, subnormal
    boundaries, normal boundaries, 1 and its neighbours, walking significands at chosen
    exponents, the largest finite, Inf, NaNs."""
    v = [
        0x00000000,
        0x00000001,
        0x00000002,
        0x00000003,
        0x003FFFFF,
        0x00400000,
        0x007FFFFF,
        0x00800000,
        0x00800001,
        0x00FFFFFF,
        0x01000000,
        0x0C000000,
        0x33800000,
        0x33800001,
        0x34000000,
        0x3F000000,
        0x3F7FFFFF,
        0x3F800000,
        0x3F800001,
        0x3F800002,
        0x3FC00000,
        0x3FFFFFFF,
        0x40000000,
        0x4B000000,
        0x4B7FFFFF,
        0x4B800000,
        0x4C000001,
        0x5F000000,
        0x7E800000,
        0x7F000000,
        0x7F7FFFFE,
        0x7F7FFFFF,
        0x7F800000,
        0x7FC00000,
        0x7F800001,
    ]
    return np.array(v, np.uint32)


def fp32_pairs_catalog() -> tuple[np.ndarray, np.ndarray]:
    """Every pair of corner values with both signs (c, d)."""
    v = fp32_corners()
    v = np.concatenate([v, v | np.uint32(0x80000000)])
    c, d = np.meshgrid(v, v, indexing="ij")
    return c.reshape(-1), d.reshape(-1)


def fp32_pairs_random(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(c, d) with exponent differences weighted to 0..30 (every rounding case: ties, carries,
    cancellation), a quarter of them with sparse or dense significands, some subnormal."""
    ec = _u(seed, 200, n, 254) + 1
    diff = np.where(_u(seed, 201, n, 4) == 0, _u(seed, 202, n, 80), _u(seed, 203, n, 31)) - 2
    ed = np.clip(ec - diff, 0, 254)
    fc = _u(seed, 204, n, 1 << 23)
    fd = _u(seed, 205, n, 1 << 23)
    shape = _u(seed, 206, n, 4)
    fd = np.where(shape == 1, fd & _u(seed, 207, n, 1 << 23) & _u(seed, 208, n, 1 << 23), fd)
    fd = np.where(shape == 2, fd | _u(seed, 209, n, 1 << 23) | _u(seed, 210, n, 1 << 23), fd)
    c = _fp32(_u(seed, 211, n, 2), ec, fc)
    d = _fp32(_u(seed, 212, n, 2), ed, fd)
    swap = _u(seed, 213, n, 2) == 1
    return np.where(swap, d, c), np.where(swap, c, d)


def fp32_chains(seed: int, chains: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Chains of FP32 addends: per chain a start c and ``length`` addends d whose exponents lie
    within 24 binades of a per-chain base (so that every addition rounds), mixed signs; 1/64 of
    the addends anywhere, 1/256 Inf or NaN."""
    base = _u(seed, 220, chains, 200) + 20
    c = _fp32(
        _u(seed, 221, chains, 2),
        base + _u(seed, 222, chains, 9) - 4,
        _u(seed, 223, chains, 1 << 23),
    )
    n = chains * length
    e = np.repeat(base, length) - _u(seed, 224, n, 25)
    anywhere = _u(seed, 225, n, 64) == 0
    e = np.where(anywhere, _u(seed, 226, n, 255), e)
    d = _fp32(_u(seed, 227, n, 2), e, _u(seed, 228, n, 1 << 23))
    sp = _u(seed, 229, n, 256) == 0
    d = np.where(
        sp,
        np.where(
            _u(seed, 230, n, 3) == 0,
            np.uint32(0x7FC00000),
            np.uint32(0x7F800000) | (_u(seed, 231, n, 2).astype(np.uint32) << 31),
        ),
        d,
    )
    return c, d.reshape(chains, length).astype(np.uint32)


# ---------------------------------------------------------------------------------------------
# Integer MAC
# ---------------------------------------------------------------------------------------------
def int_pairs(bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of ``bits``-bit signed integers."""
    v = np.arange(-(1 << (bits - 1)), 1 << (bits - 1), dtype=np.int64)
    a, b = np.meshgrid(v, v, indexing="ij")
    return a.reshape(-1), b.reshape(-1)


def int_chains(
    seed: int, bits: int, acc_bits: int, chains: int, length: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chains of (a, b) pairs from a start c: elements weighted to the extremes (-2**(b-1),
    2**(b-1) - 1) and to one sign per chain, so that P-bit registers overflow, wrap back and
    saturate; c anywhere in the register's range (1/4 of the chains start at 0)."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    n = chains * length
    a = _u(seed, 240, n, 1 << bits) + lo
    b = _u(seed, 241, n, 1 << bits) + lo
    ext = _u(seed, 242, n, 4)
    a = np.where(ext == 0, np.where(_u(seed, 243, n, 2) == 0, lo, hi), a)
    b = np.where(ext == 1, np.where(_u(seed, 244, n, 2) == 0, lo, hi), b)
    lean = np.repeat(
        _u(seed, 245, chains, 3), length
    )  # 0: mixed, 1: positive, 2: negative products
    flip = ((lean == 1) & (a * b < 0)) | ((lean == 2) & (a * b > 0))
    a = np.where(flip & (a != lo), -a, a)
    c = _u(seed, 246, chains, 1 << acc_bits) - (1 << (acc_bits - 1))
    c = np.where(_u(seed, 247, chains, 4) == 0, 0, c)
    return c, a.reshape(chains, length), b.reshape(chains, length)
