"""Block-format kernels: shared scale selection, microexponents, element encoding, decoding.

Inputs arrive as a 2-D array of IEEE bits, one block per row (the block axis moved last and zero
padded by the wrapper). Blocks are independent, so the kernels run ``prange`` over blocks.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from ..formats import fp32
from ..policies import ScaleRule
from .codec import stochastic_bits, table_index
from .core import K_FINITE, K_ZERO, bit_length, decode_value, encode_special, encode_value, unpack
from .lower import lower

# ScaleRule values (numsim.policies.ScaleRule)
FLOOR, CEIL, EVEN, FLOOR_LOG2F = (
    int(ScaleRule.floor),
    int(ScaleRule.ceil),
    int(ScaleRule.even),
    int(ScaleRule.floor_log2f),
)


class Pow2(NamedTuple):
    """A power-of-two block format as ints."""

    emax: int  #: element's emax
    man_bits: int  #: element's mantissa width (rule ``even``)
    max_sig62: int  #: element max's significand with its leading one at bit 62 (rule ``ceil``)
    scale_emin: int  #: smallest scale exponent
    scale_emax: int  #: largest scale exponent
    scale_nan: int  #: NaN scale code
    sub_size: int  #: elements per microexponent (0: none)
    sub_max: int  #: largest microexponent


@njit(inline="always")
def amax_bits(row, j0, j1, absmask):
    """Largest magnitude, as IEEE bits, of ``row[j0:j1]`` (NaN and Inf compare above every
    number)."""
    m = 0
    for j in range(j0, j1):
        v = np.int64(row[j]) & absmask
        m = max(m, v)
    return m


@njit(inline="always")
def _log2f_rounds_up(k, a62):
    """True if float32(log2(a)) >= k for a = a62 * 2**(k - 63) in [2**(k-1), 2**k), correctly
    rounded.

    log2(a) = k - d rounds up to k when d is below half a float32 ulp at k - d. The threshold
    2**-h is transcendental, so a float64 comparison decides it (microxcaling's bug, modelled).
    """
    if k == 0:
        return False
    if k > 0:
        bl = bit_length(k)
        h = math.ldexp(1.0, int(bl - 26)) if (k & (k - 1)) == 0 else math.ldexp(1.0, int(bl - 25))
    else:
        h = math.ldexp(1.0, int(bit_length(-k) - 25))
    gap = float((1 << 62) - (a62 >> 1)) * 2.0**-62  # 1 - a / 2**k
    return gap <= -math.expm1(-h * math.log(2.0))


@njit(inline="always")
def shared_exponent(amax, se, sm, sbias, rule, bp):
    """Scale exponent of a block whose largest magnitude has IEEE bits ``amax`` (finite,
    nonzero)."""
    _kind, _sign, e, sig, pos = unpack(amax, se, sm, sbias)
    a62 = sig << (62 - pos)
    if rule == FLOOR:
        s = e - bp.emax
    elif rule == CEIL:
        s = e - bp.emax + (1 if a62 > bp.max_sig62 else 0)
    elif rule == EVEN:
        man = bp.man_bits
        frac = a62 & ((1 << 62) - 1)
        carry = (frac >> (62 - man - 1)) == (1 << (man + 1)) - 1
        s = e + (1 if carry else 0) - bp.emax
    else:
        s = e + (1 if _log2f_rounds_up(e + 1, a62) else 0) - bp.emax
    if s < bp.scale_emin:
        return bp.scale_emin
    if s > bp.scale_emax:
        return bp.scale_emax
    return s


@njit(inline="always")
def _put_values(codes, out, i, j0, j1, p, values, off):
    """``out[i, j] = value(codes[i, j]) * 2**off`` for j in [j0, j1); returns how many are not exact
    in ``out``'s dtype. ``values`` is the element's value table, or empty (decode from the bits)."""
    factor = math.ldexp(1.0, int(off))  # exact: |off| stays far inside float64's exponent range
    inexact = 0
    for j in range(j0, j1):
        c = codes[i, j]
        v = (values[c] if values.size else decode_value(np.int64(c), p)) * factor
        out[i, j] = v
        if out[i, j] != v and v == v:  # noqa: PLR0124 (NaN test inside numba)  # NaN elements (non-saturating FP8) are exact
            inexact += 1
    return inexact


@njit(cache=True)
def _encode_scalar(b, se, sm, sbias, off, p, mode, ovf, nanpol, seed, rand, index, rbits):
    """Code of input bits ``b`` divided by ``2**off`` (the scalar path; kept out of line)."""
    kind, sign, e, sig, pos = unpack(b, se, sm, sbias)
    if kind == K_FINITE:
        r = stochastic_bits(mode, seed, rand, index, rbits)
        return encode_value(sign, e - off, sig, pos, p, mode, ovf, r, rbits)
    return encode_special(K_ZERO, sign, p, ovf, nanpol)  # a block with NaN/Inf never gets here


@njit(parallel=True, cache=True)
def encode_pow2(
    bits,
    src,
    p,
    bp,
    rule,
    mode,
    ovf,
    nanpol,
    seed,
    rbits,
    rand,
    table,
    codes,
    scales,
    micro,
    values,
    vout,
):
    """Encode blocks (rows of ``bits``) with power-of-two scales.

    ``table`` (non-empty for float32 input and non-stochastic rounding) is the element's float32
    encoding table; other inputs take the scalar path. ``rand`` holds explicit random bits per
    element (row-major) or is empty. If ``vout`` is non-empty the quantized values
    (``values[code] * 2**(s - tau)``) are written there too (fused fake quantization); the return
    value counts those not exact in ``vout``'s dtype.
    """
    se, sm, sbias = src
    absmask = (1 << (se + sm)) - 1
    special = ((1 << se) - 1) << sm
    nblk, bs = bits.shape
    use_table = table.size > 0
    fused = vout.size > 0
    inexact = 0
    for i in prange(nblk):
        row = bits[i]
        m = amax_bits(row, 0, bs, absmask)
        if m >= special:  # a NaN or an Inf: the block is NaN
            scales[i] = bp.scale_nan
            codes[i, :] = 0
            if micro.shape[1]:
                micro[i, :] = 0
            if fused:
                vout[i, :] = np.nan
            continue
        s = bp.scale_emin if m == 0 else shared_exponent(m, se, sm, sbias, rule, bp)
        scales[i] = s - bp.scale_emin
        width = bp.sub_size if bp.sub_size else bs
        for k in range(bs // width):
            tau = 0
            if bp.sub_size:
                ms = amax_bits(row, k * width, (k + 1) * width, absmask)
                if ms == 0:
                    tau = bp.sub_max
                else:
                    t = unpack(ms, se, sm, sbias)[2] - bp.emax
                    tau = min(bp.sub_max, max(0, s - t))
                micro[i, k] = tau
            off = s - tau
            j0 = k * width
            for j in range(j0, j0 + width):
                b = np.int64(row[j])
                f = (b >> sm) & ((1 << se) - 1)
                if use_table and f != 0 and 0 < f - off < 255:  # x / 2**off is a normal float32
                    codes[i, j] = table[table_index(b - (off << sm))]
                elif use_table and (b & absmask) == 0:
                    codes[i, j] = table[table_index(b)]  # +-0
                else:
                    codes[i, j] = _encode_scalar(
                        b, se, sm, sbias, off, p, mode, ovf, nanpol, seed, rand, i * bs + j, rbits
                    )
            if fused:
                inexact += _put_values(codes, vout, i, j0, j0 + width, p, values, off)
    return inexact


@njit(inline="always")
def _rne_code(b, s, p):
    """Code of float32 bits ``b`` (sign-extended int64) divided by ``2**s``, rounded to nearest even
    and saturated, in a float element format with subnormals (not fnuz); ``b`` is a zero or a
    normal float32. Branch-free arithmetic, so LLVM vectorizes the loop around it. Same result as
    :func:`core.encode_value` (tests hold both to the reference).
    """
    a = b & 0x7FFFFFFF
    eb = a >> 23
    mant = (a & 0x7FFFFF) | (0x800000 if eb != 0 else 0)
    e = eb - 127 - s  # exponent of the scaled value
    t = max(e, p.emin)  # exponent of its binade in the format (subnormals at emin)
    d = min(23 - p.man_bits + (t - e), 31)  # fraction bits dropped; >= 25 leaves nothing
    q = mant >> d
    rem = mant & ((1 << d) - 1)
    half = 1 << (d - 1)
    q += 1 if (rem > half) or (rem == half and (q & 1) == 1) else 0
    code = min(((t - p.emin) << p.man_bits) + q, p.max_mag)  # a carry moves into the exponent field
    code = code if mant != 0 else 0  # +-0 (t - emin can be large for a zero)
    return code | (p.sign_mask if b < 0 else 0)


@njit(inline="always")
def _rne_int_code(b, s, p):
    """:func:`_rne_code` for an integer element (value = integer * 2**-frac_bits, saturating)."""
    a = b & 0x7FFFFFFF
    eb = a >> 23
    mant = (a & 0x7FFFFF) | (0x800000 if eb != 0 else 0)
    d = 23 - p.frac_bits - (eb - 127 - s)  # fraction bits below the integer's LSB
    dd = min(max(d, 1), 31)
    q = mant >> dd
    rem = mant & ((1 << dd) - 1)
    half = 1 << (dd - 1)
    q += 1 if (rem > half) or (rem == half and (q & 1) == 1) else 0
    limit = p.neg_max if b < 0 else p.max_int
    mag = min(q, limit) if d >= 1 else (limit if mant != 0 else 0)  # d < 1: at least 2**23 units
    return ((-mag) & p.allones) if b < 0 else mag


@njit(parallel=True, cache=True)
def encode_pow2_f32(bits, p, bp, rule, mode, ovf, nanpol, rne, table, codes, scales, values, vout):
    """:func:`encode_pow2` specialised for the common case: float32 input, a non-stochastic element
    table and no microexponents. With ``rne`` (nearest-even, saturating, a float element with
    subnormals) blocks without float32 subnormals take the vectorizable :func:`_rne_code`; other
    blocks use the table, and the rare elements the table cannot take the scalar path.
    """
    nblk, bs = bits.shape
    empty = np.empty(0, np.uint64)
    fused = vout.size > 0
    inexact = 0
    for i in prange(nblk):
        row = bits[i]
        m = 0
        tiny = False
        for j in range(bs):
            v = np.int64(row[j]) & 0x7FFFFFFF
            m = max(m, v)
            tiny |= 0 < v < 0x800000  # a float32 subnormal
        if m >= 0x7F800000:  # a NaN or an Inf: the block is NaN
            scales[i] = bp.scale_nan
            codes[i, :] = 0
            if fused:
                vout[i, :] = np.nan
            continue
        s = bp.scale_emin if m == 0 else shared_exponent(m, 8, 23, 127, rule, bp)
        scales[i] = s - bp.scale_emin
        if rne and not tiny:
            if p.is_int:
                for j in range(bs):
                    codes[i, j] = _rne_int_code(np.int64(np.int32(row[j])), s, p)
            else:
                for j in range(bs):
                    codes[i, j] = _rne_code(np.int64(np.int32(row[j])), s, p)
        else:
            shift = s << 23
            for j in range(bs):
                b = np.int64(row[j])
                f = (b >> 23) & 0xFF
                if f != 0 and 0 < f - s < 255:  # x / 2**s is a normal float32
                    codes[i, j] = table[table_index(b - shift)]
                elif (b & 0x7FFFFFFF) == 0:
                    codes[i, j] = table[table_index(b)]  # +-0
                else:
                    codes[i, j] = _encode_scalar(
                        b, 8, 23, 127, s, p, mode, ovf, nanpol, 0, empty, 0, 1
                    )
        if fused:
            inexact += _put_values(codes, vout, i, 0, bs, p, values, s)
    return inexact


@njit(parallel=True, cache=True)
def decode_pow2(codes, scales, micro, p, values, scale_emin, scale_nan, sub_size, out):
    """Decode power-of-two-scaled blocks into ``out`` (float32 or float64).

    ``values`` holds every element code's value (float64) or is empty (decode from the bits).
    Returns the number of values not exact in ``out``'s dtype (overflow or underflow).
    """
    nblk, bs = codes.shape
    width = sub_size if sub_size else bs
    inexact = 0
    for i in prange(nblk):
        sc = np.int64(scales[i])
        if sc == scale_nan:
            out[i, :] = np.nan
            continue
        for k in range(bs // width):
            tau = np.int64(micro[i, k]) if sub_size else 0
            inexact += _put_values(
                codes, out, i, k * width, (k + 1) * width, p, values, sc + scale_emin - tau
            )
    return inexact


class FpScale(NamedTuple):
    """A floating-point-scaled (NVFP4-style) block format as ints and floats."""

    elem_max: float  #: element max (6 for E2M1)
    scale_nan: int  #: NaN scale code
    one_code: int  #: scale code of 1.0


@njit(inline="always")
def f32(v):
    """Round a float64 to float32 (RNE) and back: one float32 operation's rounding."""
    return np.float64(np.float32(v))


_FP32 = lower(fp32)


@njit(cache=True)
def div_f32(a, b):
    """float32(a / b), correctly rounded (RNE), for finite float64 ``a`` and a float32 value
    ``b > 0``.

    A float64 division followed by a float32 rounding could round twice when ``a`` has more than
    24 significant bits, so the quotient is formed from the integer significands with a sticky
    remainder and rounded once through the common encoder.
    """
    if a == 0.0:
        return a
    _ka, sa, ea, ma, pa = unpack(np.float64(a).view(np.int64), 11, 52, 1023)
    _kb, _sb, eb, mb, pb = unpack(np.float64(b).view(np.int64), 11, 52, 1023)
    num = ma << (61 - pa)  # leading one at bit 61
    den = mb >> (pb - 23) if pb >= 23 else mb << (23 - pb)  # b's 24-bit significand (exact)
    q = num // den
    sig = (q << 1) | (1 if num % den != 0 else 0)
    pos = bit_length(sig) - 1
    e = pos + (ea - 61) - (eb - 23) - 1
    code = encode_value(sa, e, sig, pos, _FP32, 0, 1, 0, 1)
    return decode_value(code, _FP32)


@njit(parallel=True, cache=True)
def tensor_amax(x):
    """Largest finite magnitude of ``x`` (a 1-D array) as float64 (0 if none)."""
    m = 0.0
    for i in prange(x.size):
        a = abs(np.float64(x[i]))
        if a < np.inf:
            m = max(m, a)
    return m


@njit(cache=True)
def _quotient_bits(v, sdec, wide):
    """float32 bits of float32(v / sdec)."""
    if wide:
        return np.int64(np.float32(div_f32(v, sdec)).view(np.uint32))
    # float32 v and sdec: a float64 division then a float32 rounding is exact (innocuous double
    # rounding)
    return np.int64(np.float32(v / sdec).view(np.uint32))


@njit(cache=True)
def _fpscale_block(
    x, i, wide, s2, den, p, sp, scale_p, mode, ovf, nanpol, seed, rbits, rand, table, codes, scales
):
    """Encode block (row) ``i`` of ``x``: the body of :func:`encode_fpscale` (also the fallback of
    :func:`encode_nvfp4_f32` for the blocks its fast path leaves)."""
    bs = x.shape[1]
    amax = 0.0
    special = False
    for j in range(bs):
        a = abs(np.float64(x[i, j]))
        if not (a < np.inf):
            special = True
        elif a > amax:
            amax = a
    if special:
        scales[i] = sp.scale_nan
        codes[i, :] = 0
        return
    if s2 == 0.0:
        scales[i] = sp.one_code
        codes[i, :] = 0
        return
    r = (
        div_f32(amax, den) if wide else f32(amax / den)
    )  # float32 operands: innocuous double rounding
    if r == 0.0:
        r = 1.0
    kind, sign, e, sig, pos = unpack(np.int64(np.float32(r).view(np.uint32)), 8, 23, 127)
    if kind == K_FINITE:
        sc = encode_value(sign, e, sig, pos, scale_p, 0, 0, 0, 1)
    else:
        # r overflowed float32 (a tensor_amax far below the block's): Inf saturates to the largest
        # scale
        sc = encode_special(kind, sign, scale_p, 0, 0)
    scales[i] = sc
    sdec = f32(decode_value(sc, scale_p) * s2)
    if sdec == 0.0:  # the scale underflowed: every element decodes to zero
        codes[i, :] = 0
        return
    use_table = table.size > 0
    for j in range(bs):
        b = _quotient_bits(np.float64(x[i, j]), sdec, wide)
        if use_table:
            codes[i, j] = table[table_index(b)]
            continue
        kind, sign, e, sig, pos = unpack(b, 8, 23, 127)
        if kind == K_FINITE:
            rr = stochastic_bits(mode, seed, rand, i * bs + j, rbits)
            codes[i, j] = encode_value(sign, e, sig, pos, p, mode, ovf, rr, rbits)
        else:
            codes[i, j] = encode_special(kind, sign, p, ovf, nanpol)


@njit(parallel=True, cache=True)
def encode_fpscale(
    x, wide, s2, p, sp, scale_p, mode, ovf, nanpol, seed, rbits, rand, table, codes, scales
):
    """Encode blocks (rows of float array ``x``) as NVIDIA's NVFP4 reference quantizer does.

    All scale arithmetic is float32, one rounding per operation applied to the exact inputs, as in
    TensorRT-Model-Optimizer ``nvfp4_tensor.py``: ``r = amax_b / (6 * s2)`` (1.0 if zero) rounded
    to the scale format; element = E2M1(float32(x / float32(scale * s2))). ``s2`` is the float32
    tensor scale. ``wide`` says ``x`` has more than float32 precision (float64), so the element
    quotient needs :func:`div_f32`. The quotient is a float32, so ``table`` (the element's float32
    table, empty for stochastic rounding) encodes it.
    """
    den = f32(sp.elem_max * s2)
    for i in prange(x.shape[0]):
        _fpscale_block(
            x,
            i,
            wide,
            s2,
            den,
            p,
            sp,
            scale_p,
            mode,
            ovf,
            nanpol,
            seed,
            rbits,
            rand,
            table,
            codes,
            scales,
        )


# --- NVFP4 fast path: float32 input, nearest-even, saturating E2M1 elements, UE4M3 scales --------
#
# Every step is the general path's operation on the same float32 operands, done in float32:
#
# * r = amax / den and x / sdec: the general path divides in float64 and rounds to float32. For
#   float32 operands that double rounding is innocuous (a float64 quotient carries 53 >= 2*24 + 2
#   bits, Figueroa 1995; it also holds on the float32 subnormal grid, coarser still, and at the
#   overflow threshold, the midpoint above the largest float32), so it equals one IEEE float32
#   division. Numba compiles without fast-math, so the division is IEEE and subnormals are kept.
# * sdec = scale * s2 and the decoded value (element * scale) * s2: a product of a UE4M3 value (4
#   significant bits) and a float32 is exact in float64 and rounded once by the general path; a
#   float32 multiplication rounds the same exact product once. element * scale (at most 2 + 4
#   bits, at least 2**-10) is exact in float32.
# * The scale code is _rne_code of r's bits (nearest-even, saturating to 448), which equals
#   core.encode_value for a finite r (tests hold both to the reference); a float32-subnormal r
#   (far below UE4M3's 2**-10 rounding threshold) gives code 0 there, as it should.
# * E2M1 nearest-even with saturation is the count of decision thresholds a quotient's magnitude
#   passes (_e2m1_mag). Blocks with NaN/Inf, a scale that rounds to zero, an infinite r or a zero
#   sdec take _fpscale_block instead.

_E2M1_T1, _E2M1_T2, _E2M1_T3, _E2M1_T4, _E2M1_T5, _E2M1_T6, _E2M1_T7 = (
    np.float32(0.25),
    np.float32(0.75),
    np.float32(1.25),
    np.float32(1.75),
    np.float32(2.5),
    np.float32(3.5),
    np.float32(5.0),
)
_F32_ZERO = np.float32(0.0)
_F32_HALF = np.float32(0.5)
_F32_TWO = np.float32(2.0)
_NV_CHUNK = 512  # blocks per work item: the chunk's scratch stays in L1


@njit(cache=True)
def _f32_of_bits(b):
    """The float32 whose bits are ``b`` (int64 holding 32 bits)."""
    return np.int32(b).view(np.float32)


@njit(cache=True)
def _bits_of_f32(v):
    """The bits of float32 ``v`` as a non-negative int64."""
    return np.int64(np.float32(v).view(np.uint32))


@njit(inline="always")
def _e2m1_mag(q):
    """E2M1 code magnitude of float32 ``q`` (not NaN), nearest-even and saturating.

    The grid is 0, 0.5, 1, 1.5, 2, 3, 4, 6 (magnitudes 0..7); the code is the number of midpoints
    |q| passes. At a midpoint the tie goes to the even magnitude: down at 0.25 (0|1), 1.25 (2|3),
    2.5 (4|5) and 5 (6|7), so those compare with '>'; up at 0.75 (1|2), 1.75 (3|4) and 3.5 (5|6),
    compared with '>='. Everything above 5, Inf included, saturates to 7 (6.0).
    """
    a = abs(q)
    return (
        np.int64(a > _E2M1_T1)
        + np.int64(a >= _E2M1_T2)
        + np.int64(a > _E2M1_T3)
        + np.int64(a >= _E2M1_T4)
        + np.int64(a > _E2M1_T5)
        + np.int64(a >= _E2M1_T6)
        + np.int64(a > _E2M1_T7)
    )


@njit(inline="always")
def _e2m1_value(q):
    """The value of :func:`_e2m1_mag` ``(q)`` as a float32 (0, 0.5, ... 4, 6), from the same
    compares."""
    a = abs(q)
    half = (
        np.float32(a > _E2M1_T1)
        + np.float32(a >= _E2M1_T2)
        + np.float32(a > _E2M1_T3)
        + np.float32(a >= _E2M1_T4)
    ) * _F32_HALF
    return (
        half
        + np.float32(a > _E2M1_T5)
        + np.float32(a >= _E2M1_T6)
        + _F32_TWO * np.float32(a > _E2M1_T7)
    )


@njit(cache=True)
def _nv_amax(u, am):
    """``am[b]`` = largest magnitude bits of row ``b`` of float32 bits ``u`` (NaN/Inf above every
    number).

    A runtime-length inner loop: LLVM vectorizes it as a reduction (a fixed 16 unrolls into compare
    and branch chains)."""
    nb, bs = u.shape
    for b in range(nb):
        m = 0
        for j in range(bs):
            m = max(m, np.int64(u[b, j]) & 0x7FFFFFFF)
        am[b] = m


@njit(cache=True, error_model="numpy")
def _nv_scales(am, den, s2, sp, scales, sdec, sval):
    """Scale code, decoded scale ``sval`` and ``sdec = float32(sval * s2)`` of each block (float32
    ``den``, ``s2``); ``sval[b] = 0`` marks a block for the general path (its ``sdec`` is 1, so
    that the element pass never divides by zero). Returns how many."""
    nbad = 0
    for b in range(am.size):
        m = am[b]
        r = _f32_of_bits(m) / den
        rb = _bits_of_f32(r)
        rb = rb if rb != 0 else np.int64(0x3F800000)  # r = 0 (an all-zero block) -> 1.0
        c = (
            _rne_code(rb, 0, sp) if rb < 0x7F800000 else 0
        )  # Inf: general path (NaN blocks are caught below)
        # UE4M3 value: normal codes move into float32's fields (exponent bias 7 -> 127); subnormals
        # c * 2**-9
        sv = (
            _f32_of_bits((c << 20) + (120 << 23)) if c >= 8 else np.float32(c) * np.float32(2.0**-9)
        )
        d = sv * s2
        ok = (m < 0x7F800000) & (c != 0) & (d != _F32_ZERO)
        scales[b] = c
        sval[b] = sv if ok else _F32_ZERO
        sdec[b] = d if ok else np.float32(1.0)
        nbad += 0 if ok else 1
    return nbad


@njit(cache=True, error_model="numpy")
def _nv_codes(x, u, sdec, codes):
    """E2M1 codes of ``x[b, j] / sdec[b]`` (rows of 16); the sign is the input's (``sdec > 0``)."""
    for b in range(sdec.size):
        d = sdec[b]
        xr = x[b]
        ur = u[b]
        cr = codes[b]
        for j in range(16):
            cr[j] = _e2m1_mag(xr[j] / d) | ((np.int64(ur[j]) >> 28) & 8)  # E2M1 sign bit 8


@njit(cache=True, error_model="numpy")
def _nv_codes_values(x, u, sdec, sval, s2, codes, vout):
    """:func:`_nv_codes` and the decoded values ``float32(element * scale * s2)`` into ``vout``."""
    for b in range(sdec.size):
        d = sdec[b]
        sv = sval[b]
        xr = x[b]
        ur = u[b]
        cr = codes[b]
        vr = vout[b]
        for j in range(16):
            q = xr[j] / d
            neg = (np.int64(ur[j]) >> 31) & 1
            cr[j] = _e2m1_mag(q) | (neg << 3)
            v = (_e2m1_value(q) * sv) * s2
            vr[j] = -v if neg else v


@njit(parallel=True, cache=True)
def encode_nvfp4_f32(x, s2, p, sp, scale_p, nanpol, table, codes, scales, vout):
    """:func:`encode_fpscale` for float32 rows of 16 with E2M1 elements, UE4M3 scales, a finite
    ``s2 > 0`` and nearest-even/saturate (``table`` is the element's table for those policies).

    Three vectorized passes per chunk of blocks (block amax, scales, elements); blocks with
    NaN/Inf, a scale that rounds to zero, an infinite r or a zero ``sdec`` take
    :func:`_fpscale_block`. If ``vout`` is non-empty the decoded values (as
    :func:`decode_fpscale`) are written there too. The comment above says why every step equals
    the general path.
    """
    nblk = x.shape[0]
    u = x.view(np.uint32)
    s2f = np.float32(s2)
    den = f32(sp.elem_max * s2)
    denf = np.float32(den)
    fused = vout.size > 0
    nch = (nblk + _NV_CHUNK - 1) // _NV_CHUNK
    empty = np.empty(0, np.uint64)
    for c in prange(nch):
        i0 = c * _NV_CHUNK
        i1 = min(nblk, i0 + _NV_CHUNK)
        am = np.empty(i1 - i0, np.int64)
        sdec = np.empty(i1 - i0, np.float32)
        sval = np.empty(i1 - i0, np.float32)
        _nv_amax(u[i0:i1], am)
        nbad = _nv_scales(am, denf, s2f, scale_p, scales[i0:i1], sdec, sval)
        if fused:
            _nv_codes_values(x[i0:i1], u[i0:i1], sdec, sval, s2f, codes[i0:i1], vout[i0:i1])
        else:
            _nv_codes(x[i0:i1], u[i0:i1], sdec, codes[i0:i1])
        if nbad:
            for b in range(i1 - i0):
                if sval[b] == 0.0:
                    _fpscale_block(
                        x,
                        i0 + b,
                        False,
                        s2,
                        den,
                        p,
                        sp,
                        scale_p,
                        0,
                        0,
                        nanpol,
                        0,
                        1,
                        empty,
                        table,
                        codes,
                        scales,
                    )
                    if fused:
                        _decode_fp_row(codes, scales, i0 + b, s2, p, scale_p, sp.scale_nan, vout)


@njit(parallel=True, cache=True)
def tensor_amax_f32(u):
    """:func:`tensor_amax` of float32 values given as their bits ``u`` (1-D, contiguous uint32),
    by a vectorizable integer maximum."""
    n = u.size
    nch = 64
    step = (n + nch - 1) // nch
    part = np.zeros(nch, np.int64)
    for c in prange(nch):
        part[c] = _finite_max_bits(u[c * step : min(n, (c + 1) * step)])
    m = 0
    for c in range(nch):
        m = max(m, part[c])
    return np.float64(_f32_of_bits(m))


@njit(cache=True)
def _finite_max_bits(u):
    """Largest magnitude bits among the finite float32 values with bits ``u`` (0 if none)."""
    m = 0
    for k in range(u.size):
        a = np.int64(u[k]) & 0x7FFFFFFF
        m = max(m, a if a < 0x7F800000 else 0)
    return m


@njit(inline="always")
def _decode_fp_row(codes, scales, i, s2, p, scale_p, scale_nan, out):
    """Row ``i`` of :func:`decode_fpscale`."""
    sc = np.int64(scales[i])
    if sc == scale_nan:
        out[i, :] = np.nan
        return
    scale = decode_value(sc, scale_p)
    for j in range(codes.shape[1]):
        out[i, j] = f32(decode_value(np.int64(codes[i, j]), p) * scale * s2)


@njit(parallel=True, cache=True)
def decode_fpscale(codes, scales, s2, p, scale_p, scale_nan, out):
    """Decode NVFP4-style blocks: float32(element * scale * s2), one float32 rounding."""
    for i in prange(codes.shape[0]):
        _decode_fp_row(codes, scales, i, s2, p, scale_p, scale_nan, out)
