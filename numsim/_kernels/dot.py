"""Numba kernels of the dot-product units and their accumulators (shared/references/datapaths.md §1.1, §2).

Operands arrive pre-decomposed (:func:`split_operands`): ``x = m * 2**(e - man)`` with ``m`` a signed
integer significand and ``e = max(floor(log2|x|), emin)``, plus a kind (zero, finite, Inf, NaN). A
block on an alignment grid costs integer multiplies, shifts and adds: every term is placed on the
grid ``2**(eta - F)`` through :func:`core.split_round` and summed exactly in an int64. Everything
that must be exact beyond one int64 (exact blocks, a late c, two alignment groups, float and exact
accumulators) goes through a Kulisch accumulator of 32-bit limbs (:func:`kul_add`,
:func:`kul_round`). Every rounding of a result goes through :func:`core.encode_value`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from llvmlite import ir
from numba import config, njit, prange, types
from numba.core.extending import intrinsic

from ..policies import AccKind
from .core import (
    K_FINITE,
    K_INF,
    K_NAN,
    K_ZERO,
    NEAREST_EVEN,
    NONSATURATE,
    TOWARD_ZERO,
    bit_length,
    decode_value,
    encode_value,
    split_round,
    unpack,
)

#: eta floor standing for "no floor" (below any reachable exponent).
NO_FLOOR = -(1 << 20)
#: Emin of the FP32 c operand: an FP32 subnormal c aligns at exponent -126.
C_EMIN = -126
#: Kulisch accumulator: exponent of the lsb of limb 0, number of 32-bit limbs (the two slots after
#: them hold the lowest and highest limb touched). Covers 2**-704 .. 2**1088: every product of two
#: scaled operands (|exponent| < 600, checked by the wrappers) and every FP32 value, with carries.
KUL_LO = -704
KUL_LIMBS = 56
KUL_SIZE = KUL_LIMBS + 2
_MASK32 = (1 << 32) - 1

#: Accumulator kinds (numsim.policies.AccKind).
ACC_CHAIN, ACC_FLOAT, ACC_EXACT, ACC_INT = (
    int(AccKind.chain), int(AccKind.float), int(AccKind.exact), int(AccKind.int))


class DotParams(NamedTuple):
    """A :class:`numsim.datapath.DotUnit` as plain ints."""

    n: int  #: products per block
    frac_bits: int  #: F (ignored when exact)
    exact: int  #: 1: exact terms (frac_bits None)
    raw: int  #: 1: product exponent e_a + e_b
    term_mode: int  #: RoundMode of the terms
    c_inside: int  #: 1: c joins the alignment
    odd_even: int  #: 1: even/odd products aligned as two groups
    pairwise: int  #: 1: products rounded and summed in a tree of rounded additions
    min_exp: int  #: eta floor (NO_FLOOR for none)
    man_in: int  #: fraction bits of the (scaled) operands
    out_mode: int  #: RoundMode of the block result
    subnormals_out: int  #: 0: flush subnormal block results
    acc_kind: int  #: ACC_* of the inner accumulator
    acc_mode: int  #: rounding of a float inner accumulator
    chunk: int  #: products per chunk (0: none)
    outer_kind: int  #: ACC_* of the outer accumulator (-1: none)
    outer_mode: int  #: rounding of a float outer accumulator
    int_bits: int  #: width of an int inner accumulator
    int_sat: int  #: 1: the int inner accumulator saturates
    outer_bits: int  #: width of an int outer accumulator
    outer_sat: int  #: 1: the int outer accumulator saturates
    int_lsb: int  #: exponent of an int register's lsb (-2 * frac_bits of the int format)


# ----------------------------------------------------------------------------------------------
# operands
# ----------------------------------------------------------------------------------------------
@njit(cache=True)
def split_operands(bits, man, emin, ftz):
    """Decompose float64 bit patterns (int64) of values exact in a format with ``man`` fraction bits.

    Returns ``(m, e, kind)``: signed significand, exponent clamped to ``emin``, and the kind
    (K_ZERO, K_FINITE, K_INF, K_NAN). With ``ftz`` values below ``2**emin`` become zeros.
    """
    m = np.zeros(bits.size, np.int64)
    e = np.zeros(bits.size, np.int64)
    kind = np.zeros(bits.size, np.int64)
    for i in range(bits.size):
        k, s, E, sig, P = unpack(bits[i], 11, 52, 1023)
        if k == K_FINITE and ftz and E < emin:
            k = K_ZERO
        kind[i] = k
        if k == K_INF:
            m[i] = -1 if s else 1  # the sign of an Inf travels in m
        elif k == K_FINITE:
            ee = max(E, emin)
            mag = sig >> (P - man + ee - E)
            m[i] = -mag if s else mag
            e[i] = ee
    return m, e, kind


@njit(parallel=True, cache=True)
def scaled_rows(codes, mt, et, kt, ssig, sexp, snan, micro, sub):
    """Scaled operand rows of MX blocks: element ``(m, e, kind)`` looked up per code in ``mt``,
    ``et``, ``kt`` (:func:`split_operands` of the code table), times the scale ``ssig * 2**sexp``
    of its block (``ssig.shape[1]`` blocks a row), minus the microexponent ``micro`` of every
    ``sub`` elements (``sub == 0``: none). A NaN scale makes its block's elements NaN; a zero
    scale makes them zeros."""
    R, K = codes.shape
    nb = ssig.shape[1]
    bs = K // nb
    m = np.empty((R, K), np.int64)
    e = np.empty((R, K), np.int64)
    kind = np.empty((R, K), np.int64)
    for r in prange(R):
        for b in range(nb):
            sg = ssig[r, b]
            se = sexp[r, b]
            sn = snan[r, b]
            for j in range(b * bs, (b + 1) * bs):
                c = codes[r, j]
                mm = mt[c] * sg
                kk = kt[c]
                if sn:
                    kk = K_NAN
                elif kk == K_FINITE and mm == 0:
                    kk = K_ZERO
                m[r, j] = mm
                e[r, j] = et[c] + se - (micro[r, j // sub] if sub > 0 else 0)
                kind[r, j] = kk
    return m, e, kind


@njit(cache=True)
def first_inexact(bits, is_int, man, emin, subnormals, max_pos, max_neg, has_nan, has_inf, lsb_min):
    """Index of the first float64 value (given by its bits) that a format cannot hold exactly, or -1.

    Float formats: ``man`` fraction bits, normal range from ``2**emin``, subnormals or not;
    integer formats: multiples of ``2**lsb_min``. Both: magnitudes up to ``max_pos`` (positive)
    and ``max_neg`` (negative); NaN / Inf only with ``has_nan`` / ``has_inf``.
    """
    for i in range(bits.size):
        k, s, E, sig, P = unpack(bits[i], 11, 52, 1023)
        if k == K_ZERO:
            continue
        if k == K_NAN or k == K_INF:
            if (k == K_NAN and has_nan) or (k == K_INF and has_inf):
                continue
            return i
        mag = np.int64(bits[i] & 0x7FFFFFFFFFFFFFFF).view(np.float64)
        if mag > (max_neg if s else max_pos):
            return i
        low = E - P + fast_bit_length((sig & -sig) - 1)  # exponent of the lowest set bit
        if is_int:
            if low < lsb_min:
                return i
        elif (E < emin and not subnormals) or low < max(E, emin) - man:
            return i
    return -1


@njit(cache=True)
def lsb_span(bits):
    """``(top, low)`` over the non-zero finite float64 values whose bits are ``bits``: every one is
    a multiple of ``2**low`` below ``2**top`` in magnitude; ``(0, 0)`` when there are none."""
    top = NO_FLOOR
    low = -NO_FLOOR
    for i in range(bits.size):
        k, s, E, sig, P = unpack(bits[i], 11, 52, 1023)
        if k == K_FINITE:
            top = max(top, E + 1)
            tz = fast_bit_length((sig & -sig) - 1)  # trailing zeros of the significand
            low = min(low, E - P + tz)
    if top == NO_FLOOR:
        return 0, 0
    return top, low


# ----------------------------------------------------------------------------------------------
# Kulisch accumulator: int64 limbs of 32-bit digits (signed, carries resolved when rounding)
# ----------------------------------------------------------------------------------------------
@njit(inline="always")
def kul_clear(k):
    """Empty accumulator (all limbs zero, no limb touched)."""
    k[:KUL_LIMBS] = 0
    k[KUL_LIMBS] = KUL_LIMBS
    k[KUL_LIMBS + 1] = -1


@njit(inline="always")
def kul_add(k, sign, mag, lsb):
    """Add ``(-1)**sign * mag * 2**lsb`` exactly (``0 <= mag < 2**62``)."""
    if mag == 0:
        return
    pos = lsb - KUL_LO
    j = pos >> 5
    off = pos & 31
    v0 = (mag & ((1 << (32 - off)) - 1)) << off
    rest = mag >> (32 - off)
    v1 = rest & _MASK32
    v2 = rest >> 32
    if sign:
        k[j] -= v0
        k[j + 1] -= v1
        k[j + 2] -= v2
    else:
        k[j] += v0
        k[j + 1] += v1
        k[j + 2] += v2
    k[KUL_LIMBS] = min(k[KUL_LIMBS], j)
    k[KUL_LIMBS + 1] = max(k[KUL_LIMBS + 1], j + 2)


@njit(inline="always")
def unpack_in(code, p):
    """``unpack`` of a code of the IEEE-style lowered format ``p``."""
    return unpack(code, p.bits - p.man_bits - 1, p.man_bits, p.exp_bias)


@njit(inline="always")
def kul_add_code(k, code, p):
    """Add the value of a code of the IEEE-style lowered format ``p``; returns its ``(kind, sign)``."""
    kd, s, E, sig, P = unpack_in(code, p)
    if kd == K_FINITE:
        kul_add(k, s, sig, E - P)
    return kd, s


@njit(cache=True)
def kul_norm(k):
    """Resolve the accumulator into sign and magnitude: every touched limb becomes a 32-bit digit
    of ``|total|``. Returns ``(sign, t)``, ``t`` the highest non-zero limb (below the lowest touched
    limb ``k[KUL_LIMBS]`` when the total is zero)."""
    lo = k[KUL_LIMBS]
    hi = k[KUL_LIMBS + 1]
    if lo > hi:
        return 0, lo - 1
    for j in range(lo, hi):  # resolve carries upward; the top limb keeps the sign
        c = k[j] >> 32
        k[j] -= c << 32
        k[j + 1] += c
    sign = 0
    if k[hi] < 0:
        sign = 1
        for j in range(lo, hi + 1):
            k[j] = -k[j]
        for j in range(lo, hi):
            c = k[j] >> 32
            k[j] -= c << 32
            k[j + 1] += c
    while k[hi] >> 32 != 0:  # split an oversized top limb
        k[hi + 1] = k[hi] >> 32
        k[hi] &= _MASK32
        hi += 1
    k[KUL_LIMBS + 1] = hi
    t = hi
    while t >= lo and k[t] == 0:
        t -= 1
    return sign, t


@njit(cache=True)
def kul_take(k):
    """The exact total as ``(sign, mag, lsb)`` rounding-equivalent for results of at most 60 bits.

    ``mag`` holds the top 31 to 62 bits of the total and, in its lowest bit, a sticky bit standing
    for everything below (so one rounding of ``mag * 2**lsb`` to at most 29 bits equals the
    rounding of the exact total). A zero total gives ``mag == 0``. Clears the accumulator.
    """
    sign, t = kul_norm(k)
    lo = k[KUL_LIMBS]
    if t < lo:
        kul_clear(k)
        return 0, 0, 0
    below = k[t - 1] if t - 1 >= lo else 0
    sticky = (below & 3) != 0
    for j in range(lo, t - 1):
        if k[j] != 0:
            sticky = True
    w = (k[t] << 30) | (below >> 2)
    mag = (w << 1) | (1 if sticky else 0)
    kul_clear(k)
    return sign, mag, KUL_LO + 32 * (t - 1) + 1


@njit(inline="always")
def _kul_bit(k, lo, t, q):
    """Bit ``q`` (counted from ``2**KUL_LO``) of a normalised accumulator's magnitude."""
    j = q >> 5
    if q < 0 or j < lo or j > t:
        return 0
    return (k[j] >> (q & 31)) & 1


@njit(cache=True)
def kul_round_at(k, pos, sign, mode):
    """Round the total of an accumulator normalised by :func:`kul_norm` (``sign`` from it) to a
    multiple of ``2**pos`` in magnitude by ``mode`` (truncation or ties-to-even), and give it back
    its sign."""
    lo = k[KUL_LIMBS]
    hi = k[KUL_LIMBS + 1]
    q = pos - KUL_LO
    half = _kul_bit(k, lo, hi, q - 1) == 1
    sticky = False
    for j in range(lo, hi + 1):  # every digit below bit q - 1: sticky, then cleared
        lim = q - 1 - 32 * j  # bits of limb j below bit q - 1
        if lim <= 0:
            break
        if lim >= 32:
            sticky = sticky or k[j] != 0
            k[j] = 0
        else:
            sticky = sticky or (k[j] & ((1 << lim) - 1)) != 0
            k[j] &= ~((1 << lim) - 1)
    if q >= 1 and (q - 1) >> 5 >= lo and (q - 1) >> 5 <= hi:  # clear the half bit too
        k[(q - 1) >> 5] &= ~(1 << ((q - 1) & 31))
    if mode == NEAREST_EVEN and half and (sticky or _kul_bit(k, lo, hi, q) == 1):
        kul_add(k, 0, 1, pos)
    kul_sign(k, sign)


@njit(inline="always")
def kul_sign(k, sign):
    """Give a magnitude left by :func:`kul_norm` back its ``sign``."""
    if sign:
        for j in range(k[KUL_LIMBS], k[KUL_LIMBS + 1] + 1):
            k[j] = -k[j]


@njit(cache=True)
def _round_out(sign, mag, lsb, p, mode, subnormals):
    """Code of ``(-1)**sign * mag * 2**lsb`` (mag >= 0) in ``p``; zero is +0, overflow is Inf."""
    if mag == 0:
        return 0
    P = bit_length(mag) - 1
    E = P + lsb
    if E > p.emax:
        return p.inf_code | (p.sign_mask if sign else 0)
    code = encode_value(sign, E, mag, P, p, mode, NONSATURATE, 0, 0)
    if subnormals == 0 and (code & p.allones) < (1 << p.man_bits):
        code &= p.sign_mask
    return code


@njit(inline="always")
def _special_code(nan, pinf, ninf, p):
    """Code for the special cases (NaN / both infinities -> NaN, else the Inf)."""
    if nan or (pinf and ninf):
        return p.nan_code
    if pinf:
        return p.inf_code
    return p.inf_code | p.sign_mask


@njit(inline="always")
def _flags(kd, s):
    """(nan, pinf, ninf) of one value kind and sign."""
    return kd == K_NAN, kd == K_INF and s == 0, kd == K_INF and s == 1


@njit(cache=True)
def kul_round(k, nan, pinf, ninf, p, mode, subnormals):
    """Code in ``p`` of the Kulisch total rounded once by ``mode``, or of the special value that the
    flags give (NaN, +-Inf); clears the accumulator."""
    if nan or pinf or ninf:
        kul_clear(k)
        return _special_code(nan, pinf, ninf, p)
    sign, mag, lsb = kul_take(k)
    return _round_out(sign, mag, lsb, p, mode, subnormals)


@njit(cache=True)
def add_round(k, x, px, y, py, p, mode, subnormals=1):
    """Code in ``p`` of ``round(x + y)``: codes ``x`` (format ``px``) and ``y`` (``py``), one rounding."""
    kx, sx = kul_add_code(k, x, px)
    ky, sy = kul_add_code(k, y, py)
    n1, p1, m1 = _flags(kx, sx)
    n2, p2, m2 = _flags(ky, sy)
    return kul_round(k, n1 or n2, p1 or p2, m1 or m2, p, mode, subnormals)


# ----------------------------------------------------------------------------------------------
# one block
# ----------------------------------------------------------------------------------------------
@njit(inline="always")
def _place(sig, sh, sign, mode):
    """``sig * 2**sh`` rounded to an integer by ``mode`` (sig > 0)."""
    if sh >= 0:
        return sig << sh
    return split_round(sig, -sh, sign, mode, 0, 0)


@njit(inline="always")
def _scan(am, ak, bm, bk, lo, hi):
    """(nan, pinf, ninf) of the products lo..hi-1 (Inf * 0 is NaN; Inf signs travel in m)."""
    nan = False
    pinf = False
    ninf = False
    for i in range(lo, hi):
        ka = ak[i]
        kb = bk[i]
        if ka == K_NAN or kb == K_NAN:
            nan = True
        elif ka == K_INF or kb == K_INF:
            if (ka != K_INF and am[i] == 0) or (kb != K_INF and bm[i] == 0):
                nan = True
            elif (am[i] < 0) != (bm[i] < 0):
                ninf = True
            else:
                pinf = True
    return nan, pinf, ninf


@njit(inline="always")
def _prod_exp(am, ae, bm, be, i, prm):
    """Alignment exponent of product i (NO_FLOOR for a zero product)."""
    prod = am[i] * bm[i]
    if prod == 0:
        return NO_FLOOR
    if prm.raw:
        return ae[i] + be[i]
    return bit_length(abs(prod)) - 1 + ae[i] + be[i] - 2 * prm.man_in


@njit(cache=True)
def _grid_sum(am, ae, bm, be, lo, hi, step, cin, cs, cE, csig, cP, prm):
    """Aligned sum of products lo, lo+step, .. < hi (and c if ``cin``): ``(S, lsb)``; S == 0 if empty."""
    eta = NO_FLOOR
    for i in range(lo, hi, step):
        eta = max(eta, _prod_exp(am, ae, bm, be, i, prm))
    if cin:
        eta = max(eta, max(cE, C_EMIN))
    if eta == NO_FLOOR:
        return 0, 0
    eta = max(eta, prm.min_exp)
    F = prm.frac_bits
    S = 0
    base = eta - F + 2 * prm.man_in
    for i in range(lo, hi, step):
        prod = am[i] * bm[i]
        if prod != 0:
            neg = 1 if prod < 0 else 0
            u = _place(abs(prod), ae[i] + be[i] - base, neg, prm.term_mode)
            S += -u if neg else u
    if cin:
        u = _place(csig, cE - cP - eta + F, cs, prm.term_mode)
        S += -u if cs else u
    return S, eta - F


@njit(cache=True)
def _block_to_kul(am, ae, bm, be, lo, hi, ck, cs, cE, csig, cP, k, prm):
    """Add the exact pre-rounding block value (unit steps 2-6) to the Kulisch accumulator ``k``."""
    cfin = ck == K_FINITE
    if prm.exact:
        for i in range(lo, hi):
            prod = am[i] * bm[i]
            if prod != 0:
                kul_add(k, 1 if prod < 0 else 0, abs(prod), ae[i] + be[i] - 2 * prm.man_in)
        if cfin:
            kul_add(k, cs, csig, cE - cP)
        return
    cin = prm.c_inside and cfin
    step = 2 if prm.odd_even else 1
    for g in range(step):
        S, lsb = _grid_sum(am, ae, bm, be, lo + g, hi, step, cin, cs, cE, csig, cP, prm)
        kul_add(k, 1 if S < 0 else 0, abs(S), lsb)
    if cfin and not cin:
        _late_c(k, cs, cE, csig, cP, prm)


@njit(cache=True)
def _late_c(k, cs, cE, csig, cP, prm):
    """Add a late c to the block sum held in ``k`` (unit step 6): the partial with the smaller
    exponent (c on a tie) goes on the grid of the larger one's exponent by the term rounding."""
    sign, t = kul_norm(k)
    if t >= k[KUL_LIMBS]:
        eS = KUL_LO + 32 * t + bit_length(k[t]) - 1
        ec = max(cE, C_EMIN)
        if ec > eS:
            kul_round_at(k, ec - prm.frac_bits, sign, prm.term_mode)
        else:
            kul_sign(k, sign)
            g = eS - prm.frac_bits
            kul_add(k, cs, _place(csig, cE - cP - g, cs, prm.term_mode), g)
            return
    kul_add(k, cs, csig, cE - cP)


@njit(inline="always")
def _add_f32(a, b, prm):
    """FP32 ``round(a + b)`` of two FP32 values held in float64 (one rounding through round-to-odd;
    an exact zero is +0; NaN and Inf as IEEE addition gives them)."""
    if not (np.isfinite(a) and np.isfinite(b)):
        return a + b
    x = _odd64(a, b)
    return _f32_round(x, prm.out_mode, prm.subnormals_out) if x != 0.0 else 0.0


@njit(cache=True)
def _pairwise_f32(am, ae, bm, be, lo, hi, ck, cs, cE, csig, cP, p, prm):
    """:func:`_pairwise` for FP32 results, in float64 arithmetic: every product is exact in float64
    and every addition is one rounding of the exact sum (:func:`_add_f32`)."""
    m = hi - lo
    v = np.empty(m, np.float64)
    for i in range(m):
        prod = am[lo + i] * bm[lo + i]
        x = math.ldexp(np.float64(prod), ae[lo + i] + be[lo + i] - 2 * prm.man_in)
        v[i] = _f32_round(x, prm.out_mode, prm.subnormals_out) if prod != 0 else 0.0
    while m > 1:
        h = m // 2
        for j in range(h):
            v[j] = _add_f32(v[2 * j], v[2 * j + 1], prm)
        if m % 2:
            v[h] = v[m - 1]
        m -= h
    c = math.ldexp(np.float64(-csig if cs else csig), cE - cP) if ck == K_FINITE else 0.0
    r = _add_f32(v[0], c, prm)
    if np.isnan(r):
        return p.nan_code
    return np.int64(np.float32(r).view(np.int32)) & _MASK32


@njit(cache=True)
def _pairwise(am, ae, bm, be, lo, hi, ck, cs, cE, csig, cP, p, prm, k):
    """Output code of a pairwise block (products rounded, a tree of rounded additions, c last)."""
    if p.bits == 32 and p.man_bits == 23:  # FP32 results: float64 arithmetic, no accumulator
        return _pairwise_f32(am, ae, bm, be, lo, hi, ck, cs, cE, csig, cP, p, prm)
    m = hi - lo
    v = np.empty(m, np.int64)
    for i in range(m):
        prod = am[lo + i] * bm[lo + i]
        if prod != 0:
            kul_add(k, 1 if prod < 0 else 0, abs(prod), ae[lo + i] + be[lo + i] - 2 * prm.man_in)
        v[i] = kul_round(k, False, False, False, p, prm.out_mode, prm.subnormals_out)
    while m > 1:
        h = m // 2
        for j in range(h):
            v[j] = add_round(k, v[2 * j], p, v[2 * j + 1], p, p, prm.out_mode, prm.subnormals_out)
        if m % 2:
            v[h] = v[m - 1]
        m -= h
    if ck == K_FINITE:
        kul_add(k, cs, csig, cE - cP)
    kd, s = kul_add_code(k, v[0], p)
    nan, pinf, ninf = _flags(kd, s)
    return kul_round(k, nan, pinf, ninf, p, prm.out_mode, prm.subnormals_out)


@njit(cache=True)
def _block(am, ae, ak, bm, be, bk, lo, hi, ck, cs, cE, csig, cP, p, prm, k):
    """Output code of one block ``c + sum_{i=lo..hi-1} a_i b_i``; c given unpacked (kind, sign, E, sig, P)."""
    nan, pinf, ninf = _scan(am, ak, bm, bk, lo, hi)
    if nan or pinf or ninf or ck == K_NAN or ck == K_INF:
        n2, p2, m2 = _flags(ck, cs)
        return _special_code(nan or n2, pinf or p2, ninf or m2, p)
    if prm.pairwise:
        return _pairwise(am, ae, bm, be, lo, hi, ck, cs, cE, csig, cP, p, prm, k)
    if not prm.exact and not prm.odd_even and (prm.c_inside or ck != K_FINITE):
        S, lsb = _grid_sum(am, ae, bm, be, lo, hi, 1, ck == K_FINITE, cs, cE, csig, cP, prm)
        return _round_out(1 if S < 0 else 0, abs(S), lsb, p, prm.out_mode, prm.subnormals_out)
    _block_to_kul(am, ae, bm, be, lo, hi, ck, cs, cE, csig, cP, k, prm)
    return kul_round(k, False, False, False, p, prm.out_mode, prm.subnormals_out)


# ----------------------------------------------------------------------------------------------
# one row: blocks, accumulators, chunks
# ----------------------------------------------------------------------------------------------
@njit(cache=True)
def float_row(am, ae, ak, bm, be, bk, cbits, fc, p, pa, po, prm, k, kx):
    """Result code of one row of a float unit; ``cbits``: the caller's c in format ``fc``.

    ``p``: block output format, ``pa``: float inner accumulator format, ``po``: outer format (or
    the result format for exact accumulators); ``k``, ``kx``: two Kulisch scratch arrays.
    """
    K = am.size
    chunk = prm.chunk if prm.chunk > 0 else K
    # the outer (or only) accumulator starts at c; its code lives in format fc until first rounded
    ocode = cbits
    of = fc
    onan = False
    opinf = False
    oninf = False
    kul_clear(kx)
    if prm.outer_kind == ACC_EXACT:
        kd, s = kul_add_code(kx, cbits, fc)
        onan, opinf, oninf = _flags(kd, s)
    for lo0 in range(0, K, chunk):
        hi0 = min(lo0 + chunk, K)
        if prm.chunk > 0:
            code = 0  # the inner accumulator restarts from +0 (in format p / pa)
            cf = pa if prm.acc_kind == ACC_FLOAT else p
        else:
            code = ocode
            cf = of
        nan = False
        pinf = False
        ninf = False
        if prm.acc_kind == ACC_EXACT:
            kul_clear(k)
            kd, s = kul_add_code(k, code, cf)
            nan, pinf, ninf = _flags(kd, s)
        for lo in range(lo0, hi0, prm.n):
            hi = min(lo + prm.n, hi0)
            if prm.acc_kind == ACC_CHAIN:
                ck, cs, cE, csig, cP = unpack_in(code, cf)
                code = _block(am, ae, ak, bm, be, bk, lo, hi, ck, cs, cE, csig, cP, p, prm, k)
                cf = p
            elif prm.acc_kind == ACC_FLOAT:
                d = _block(am, ae, ak, bm, be, bk, lo, hi, K_ZERO, 0, 0, 0, 0, p, prm, k)
                code = add_round(k, code, cf, d, p, pa, prm.acc_mode)
                cf = pa
            else:
                n2, p2, m2 = _scan(am, ak, bm, bk, lo, hi)
                nan, pinf, ninf = nan or n2, pinf or p2, ninf or m2
                _block_to_kul(am, ae, bm, be, lo, hi, K_ZERO, 0, 0, 0, 0, k, prm)
        if prm.acc_kind == ACC_EXACT:  # the one rounding of an exact accumulator
            code = kul_round(k, nan, pinf, ninf, p, prm.out_mode, prm.subnormals_out)
            cf = p
        if prm.chunk == 0:
            return code, cf
        if prm.outer_kind == ACC_FLOAT:
            ocode = add_round(k, ocode, of, code, cf, po, prm.outer_mode)
            of = po
        else:  # exact outer: the chunk's rounded value joins exactly
            kd, s = kul_add_code(kx, code, cf)
            n2, p2, m2 = _flags(kd, s)
            onan, opinf, oninf = onan or n2, opinf or p2, oninf or m2
    if prm.outer_kind == ACC_EXACT:
        return kul_round(kx, onan, opinf, oninf, po, prm.out_mode, prm.subnormals_out), po
    return ocode, of


@njit(parallel=True, cache=True)
def float_rows(am, ae, ak, bm, be, bk, ra, rb, cbits, fc, p, pa, po, prm):
    """Decoded results of float-unit rows: row r pairs row ``ra[r]`` of a with row ``rb[r]`` of b."""
    R = ra.size
    out = np.empty(R, np.float64)
    for r in prange(R):
        k = np.empty(KUL_SIZE, np.int64)
        kx = np.empty(KUL_SIZE, np.int64)
        kul_clear(k)
        i, j = ra[r], rb[r]
        code, f = float_row(am[i], ae[i], ak[i], bm[j], be[j], bk[j], cbits[r], fc, p, pa, po, prm, k, kx)
        out[r] = decode_value(code, f)
    return out


# ----------------------------------------------------------------------------------------------
# integer units
# ----------------------------------------------------------------------------------------------
@njit(inline="always")
def _reg_add(r, v, bits, sat):
    """``r + v`` in a ``bits``-bit two's-complement register: ``(new value, overflowed)``."""
    t = r + v
    lim = 1 << (bits - 1)
    if -lim <= t < lim:
        return t, 0
    if sat:
        return (lim - 1 if t > 0 else -lim), 1
    return ((t + lim) & ((1 << bits) - 1)) - lim, 1


@njit(cache=True)
def _wrap_row(a, b, c, prm):
    """A wrapping register without chunks: ``(value, overflows)`` from the exact running sum.

    With ``T`` the exact running sum (an int64: the wrappers bound ``K * max|a_i b_i|``), the
    register holds ``wrap(T)`` and an addition overflows exactly when it changes
    ``q = floor((T + 2**(P-1)) / 2**P)``, the number of wraps: ``wrap(T_prev) + s`` leaves the
    register's range iff ``T_prev + s`` crosses a multiple of ``2**P`` offset by ``2**(P-1)``.
    """
    K = a.size
    P = prm.int_bits
    half = 1 << (P - 1)
    T = c
    qp = (T + half) >> P
    over = 0
    for lo in range(0, K, prm.n):
        hi = min(lo + prm.n, K)
        x = a[lo:hi]
        y = b[lo:hi]
        s = 0
        for i in range(x.size):
            s += x[i] * y[i]
        T += s
        q = (T + half) >> P
        over += 1 if q != qp else 0
        qp = q
    r = ((T + half) & ((1 << P) - 1)) - half
    return float(r) * 2.0 ** prm.int_lsb, over


@njit(cache=True)
def int_row(a, b, c, sexp, snan, pc, po, prm, k):
    """One row of an integer unit: ``(value, overflows)``.

    ``a``, ``b``: integer codes; ``c``: the caller's start, a register integer (no chunks, or an
    int outer accumulator) or the bits of a value of format ``pc`` (float / exact outer);
    ``sexp``, ``snan``: per-chunk scale exponent and NaN flag (MX blocks; zeros otherwise).
    """
    K = a.size
    chunk = prm.chunk if prm.chunk > 0 else K
    over = 0
    outer = c
    ocode = c
    of = pc
    nan = False
    pinf = False
    ninf = False
    kul_clear(k)
    if prm.chunk == 0 and prm.int_sat == 0:
        return _wrap_row(a, b, c, prm)
    if prm.outer_kind == ACC_EXACT:
        kd, s = kul_add_code(k, c, pc)
        nan, pinf, ninf = _flags(kd, s)
    for ci, lo0 in enumerate(range(0, K, chunk)):
        hi0 = min(lo0 + chunk, K)
        r = c if prm.chunk == 0 else 0
        for lo in range(lo0, hi0, prm.n):
            s = 0
            for i in range(lo, min(lo + prm.n, hi0)):
                s += a[i] * b[i]
            r, o = _reg_add(r, s, prm.int_bits, prm.int_sat)
            over += o
        if prm.chunk == 0:
            return float(r) * 2.0 ** prm.int_lsb, over
        if prm.outer_kind == ACC_INT:
            outer, o = _reg_add(outer, r, prm.outer_bits, prm.outer_sat)
            over += o
            continue
        nan = nan or snan[ci]
        if prm.outer_kind == ACC_FLOAT:
            kd, s = kul_add_code(k, ocode, of)
            n2, p2, m2 = _flags(kd, s)
            nan, pinf, ninf = nan or n2, pinf or p2, ninf or m2
        kul_add(k, 1 if r < 0 else 0, abs(r), prm.int_lsb + sexp[ci])
        if prm.outer_kind == ACC_FLOAT:  # round(outer + r * scale): one rounding
            of = po
            ocode = kul_round(k, nan, pinf, ninf, po, prm.outer_mode, 1)
    if prm.outer_kind == ACC_INT:
        return float(outer) * 2.0 ** prm.int_lsb, over
    if prm.outer_kind == ACC_EXACT:
        ocode = kul_round(k, nan, pinf, ninf, po, prm.out_mode, prm.subnormals_out)
    return decode_value(ocode, po), over


@njit(parallel=True, cache=True)
def int_rows(a, b, ra, rb, c, sexp_a, snan_a, sexp_b, snan_b, pc, po, prm):
    """Integer-unit rows: ``(values, overflow counts)``; row r pairs a[ra[r]] with b[rb[r]]."""
    R = ra.size
    out = np.empty(R, np.float64)
    over = np.empty(R, np.int64)
    for r in prange(R):
        k = np.empty(KUL_SIZE, np.int64)
        i, j = ra[r], rb[r]
        sexp = sexp_a[i] + sexp_b[j]
        snan = snan_a[i] | snan_b[j]
        v, o = int_row(a[i], b[j], c[r], sexp, snan, pc, po, prm, k)
        out[r] = v
        over[r] = o
    return out, over


# ----------------------------------------------------------------------------------------------
# fast paths
# ----------------------------------------------------------------------------------------------
if config.DISABLE_JIT:  # plain Python (tox -e nojit): intrinsics do not run
    fast_bit_length = bit_length
else:
    @intrinsic
    def _ctlz(typingctx, x):
        """LLVM's count-leading-zeros of an int64 (one instruction, no branches)."""
        sig = types.int64(types.int64)

        def codegen(context, builder, signature, args):
            return builder.ctlz(args[0], ir.Constant(ir.IntType(1), 0))
        return sig, codegen

    @njit(inline="always")
    def fast_bit_length(v):
        """Number of bits of a non-negative int64 (0 for 0)."""
        return 64 - _ctlz(v)


@njit(inline="always")
def _fast_sum(am, ae, bm, be, cin, cs, cE, csig, cP, prm, sh0):
    """Aligned, truncated sum ``(S, lsb, any)`` of one block (the whole of the given slices) of a
    truncating, raw-exponent unit with finite operands; ``any`` is False for an empty block.

    The arithmetic of :func:`_grid_sum` with ``term_mode = toward_zero``, written without branches
    so that LLVM vectorizes it: a term's grid position is ``(|prod| << (F - 2 man)) >> (eta - e_a -
    e_b)`` (the caller checks ``F >= 2 man``). The loops run over slices from index 0, which lets
    LLVM drop numba's negative-index wraparound.
    """
    n = am.size
    eta = NO_FLOOR
    for i in range(n):
        pe = ae[i] + be[i]
        eta = max(eta, pe if am[i] * bm[i] != 0 else NO_FLOOR)
    if cin:
        eta = max(eta, max(cE, C_EMIN))
    if eta == NO_FLOOR:
        return 0, 0, False
    eta = max(eta, prm.min_exp)
    S = 0
    for i in range(n):
        prod = am[i] * bm[i]
        d = min(max(eta - ae[i] - be[i], 0), 63)
        u = (abs(prod) << sh0) >> d
        S += -u if prod < 0 else u
    F = prm.frac_bits
    if cin:
        u = _place(csig, cE - cP - eta + F, cs, TOWARD_ZERO)
        S += -u if cs else u
    return S, eta - F, True


@njit(cache=True)
def _fast_row(am, ae, bm, be, cbits, fc, p, po, prm, k):
    """Result code and format of one row on the fast chained path (float outer accumulator optional).

    Between blocks the accumulator stays unpacked; a truncated result in the normal range is
    unpacked directly (its significand is the top ``man + 1`` bits of the sum), every other result
    goes through :func:`_round_out` and back through ``unpack``.
    """
    K = am.size
    chunk = prm.chunk if prm.chunk > 0 else K
    sh0 = prm.frac_bits - 2 * prm.man_in
    man = p.man_bits
    ocode = cbits
    of = fc
    for lo0 in range(0, K, chunk):
        hi0 = min(lo0 + chunk, K)
        code = 0 if prm.chunk > 0 else ocode
        ck, cs, cE, csig, cP = unpack_in(code, p if prm.chunk > 0 else of)
        for lo in range(lo0, hi0, prm.n):
            if ck == K_NAN or ck == K_INF:  # Inf stays Inf (operands are finite); NaN stays NaN
                code = p.nan_code if ck == K_NAN else p.inf_code | (p.sign_mask if cs else 0)
                break
            hi = min(lo + prm.n, hi0)
            S, lsb, nonempty = _fast_sum(am[lo:hi], ae[lo:hi], bm[lo:hi], be[lo:hi], ck == K_FINITE, cs, cE, csig,
                                         cP, prm, sh0)
            mag = abs(S)
            if prm.out_mode == TOWARD_ZERO and mag != 0:
                P = fast_bit_length(mag) - 1
                E = P + lsb
                if p.emin <= E <= p.emax:
                    ck, cs, cE, cP = K_FINITE, (1 if S < 0 else 0), E, man
                    csig = mag >> (P - man) if P >= man else mag << (man - P)
                    code = -1  # the code is built from the state at the end
                    continue
            code = _round_out(1 if S < 0 else 0, mag, lsb, p, prm.out_mode, prm.subnormals_out) if nonempty else 0
            ck, cs, cE, csig, cP = unpack_in(code, p)
        if code == -1:
            code = ((cE + p.exp_bias) << man) | (csig & ((1 << man) - 1)) | (p.sign_mask if cs else 0)
        if prm.chunk == 0:
            return code, p
        ocode = _outer_add(k, ocode, of, code, p, po, prm.outer_mode)
        of = po
    return ocode, of


@njit(inline="always")
def _outer_add(k, x, px, y, py, p, mode):
    """:func:`add_round`, through float64 round-to-odd when the result format is FP32 (fast)."""
    if p.bits == 32 and p.man_bits == 23 and (mode == NEAREST_EVEN or mode == TOWARD_ZERO):
        a = decode_value(x, px)
        b = decode_value(y, py)
        if np.isfinite(a) and np.isfinite(b):
            s = _odd64(a, b)
            v = _f32_round(s, mode, 1) if s != 0.0 else 0.0  # an exact zero sum is +0
            return np.int64(np.float32(v).view(np.int32)) & 0xFFFFFFFF
    return add_round(k, x, px, y, py, p, mode)


@njit(parallel=True, cache=True)
def matmul_fast(am, ae, btm, bte, cbits, fc, p, po, prm):
    """[M, K] @ [K, N] (B given transposed) on the fast chained path; tiles keep operands in cache."""
    M = am.shape[0]
    N = btm.shape[0]
    out = np.empty((M, N), np.float64)
    TI = 8
    TJ = 64
    for t in prange((M + TI - 1) // TI):
        k = np.empty(KUL_SIZE, np.int64)
        kul_clear(k)
        for j0 in range(0, N, TJ):
            for i in range(t * TI, min(t * TI + TI, M)):
                for j in range(j0, min(j0 + TJ, N)):
                    code, f = _fast_row(am[i], ae[i], btm[j], bte[j], cbits[i, j], fc, p, po, prm, k)
                    out[i, j] = decode_value(code, f)
    return out


@njit(inline="always")
def _odd_sum(a, b):
    """``a + b`` (finite float64) as ``(sign, mag, lsb)`` rounded to odd at 53 bits.

    TwoSum gives ``s = fl(a + b)`` and the exact error; when the error is non-zero and ``s`` is
    even, ``s`` moves one ulp toward the error (round to odd). Rounding the odd result once more to
    at most 51 bits, by any mode, equals rounding the exact ``a + b`` (Boldo & Melquiond 2008).
    Operands are far from float64's subnormal and overflow ranges (|exponent| < 700).
    """
    s = _odd64(a, b)
    if s == 0.0:
        return 0, 0, 0  # a + b == 0 exactly
    bits = np.float64(s).view(np.int64)
    E = (bits >> 52) & 0x7FF
    return (bits >> 63) & 1, (bits & ((1 << 52) - 1)) | (1 << 52), E - 1075


@njit(inline="always")
def _odd64(a, b):
    """``a + b`` rounded to odd in float64 (see :func:`_odd_sum`), as a float64; branch-free so
    that loops over it vectorize (the result is meaningless for non-finite operands)."""
    s = a + b
    bb = s - a
    err = (a - (s - bb)) + (b - bb)
    bits = np.float64(s).view(np.int64)
    step = 1 if (err > 0.0) == (s > 0.0) else -1
    bits += step if (err != 0.0 and (bits & 1) == 0) else 0
    return np.int64(bits).view(np.float64)


@njit(inline="always")
def _f32_round(x, mode, subnormals):
    """The FP32 result of the unit's rounding of a round-to-odd float64 ``x`` (RNE or RZ).

    The hardware conversion rounds to nearest even; RZ steps a result that moved away from zero
    one ulp back (the odd ``x`` is never an FP32 value unless exact). Overflow follows the model:
    an exponent above 127 is Inf, under RZ too. Branch-free (selects) so that loops vectorize.
    """
    f32 = np.float32(x)
    if mode == TOWARD_ZERO:  # loop-invariant: LLVM unswitches it
        down = np.int32(np.float32(f32).view(np.int32) - 1).view(np.float32)
        f32 = down if abs(np.float64(f32)) > abs(x) else f32
        f32 = np.float32(math.copysign(math.inf, x)) if abs(x) >= 2.0 ** 128 else f32
    f = np.float64(f32)
    if subnormals == 0:
        f = math.copysign(0.0, f) if abs(f) < 2.0 ** -126 else f
    return f


@njit(cache=True)
def combine_f32(acc, S, prm):
    """:func:`combine_blocks` for FP32 block results and an FP32 accumulator (float conversions).

    Serial on purpose: it alternates with multithreaded BLAS calls, and two thread pools that
    spin-wait on the same cores slow each other down many times over. The inner loop has no
    branches and vectorizes.
    """
    R, N = S.shape
    chain = prm.acc_kind == ACC_CHAIN
    for r in range(R):
        ar = acc[r]
        sr = S[r]
        for j in range(N):
            a = ar[j]
            s = sr[j]
            # an exact zero sum is +0 (float64 sums are zero exactly when the exact sum is)
            if chain:
                x = _odd64(a, s)
                v = _f32_round(x, prm.out_mode, prm.subnormals_out) if x != 0.0 else 0.0
            else:
                d = _f32_round(s, prm.out_mode, prm.subnormals_out) if s != 0.0 else 0.0
                x = _odd64(a, d)
                v = _f32_round(x, prm.acc_mode, 1) if x != 0.0 else 0.0
                v = v if np.isfinite(d) else d + a  # a block that overflowed: Inf (a is finite)
            ar[j] = v if np.isfinite(a) else a  # Inf / NaN stay (the exact sums are finite)
    return acc


@njit(cache=True)
def combine_blocks(acc, S, p, pa, prm):
    """One block of the float64-BLAS exact path: ``acc`` (values) updated in place from exact sums ``S``.

    Chain: ``acc = round_out(acc + S)``; float accumulator: ``acc = round_acc(acc + round_out(S))``.
    Serial, like :func:`combine_f32`.
    """
    R, N = S.shape
    for r in range(R):
        for j in range(N):
            a = acc[r, j]
            if not np.isfinite(a):
                continue  # Inf stays Inf (the exact sums are finite); NaN stays NaN
            if prm.acc_kind == ACC_CHAIN:
                sign, mag, lsb = _odd_sum(a, S[r, j])
                acc[r, j] = decode_value(_round_out(sign, mag, lsb, p, prm.out_mode, prm.subnormals_out), p)
            else:
                sign, mag, lsb = _odd_sum(0.0, S[r, j])
                d = decode_value(_round_out(sign, mag, lsb, p, prm.out_mode, prm.subnormals_out), p)
                if not np.isfinite(d):
                    acc[r, j] = d + a  # Inf from the block (a is finite)
                    continue
                sign, mag, lsb = _odd_sum(a, d)
                acc[r, j] = decode_value(_round_out(sign, mag, lsb, pa, prm.acc_mode, 1), pa)
