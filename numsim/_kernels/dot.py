"""Numba kernels of the generic block-FMA dot unit (shared/references/datapaths.md §1.1).

Operands arrive pre-decomposed (:func:`split_operands`): ``x = m * 2**(e - man)`` with ``m`` a signed
integer significand and ``e = max(floor(log2|x|), emin)``, plus a kind (finite, Inf, NaN). A block
then costs integer multiplies, shifts and adds: every term is placed on the grid
``2**(eta - F)`` through :func:`core.split_round` and summed exactly in an int64; the sum is rounded
once through :func:`core.encode_value` into the output format. Blocks chain through the output code.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from .core import (K_FINITE, K_INF, K_NAN, NONSATURATE, TOWARD_ZERO, bit_length, decode_value, encode_value,
                   split_round, unpack)

#: eta floor standing for "no floor" (below any reachable exponent).
NO_FLOOR = -(1 << 20)
#: Emin of the FP32 c operand: an FP32 subnormal c aligns at exponent -126.
C_EMIN = -126


class DotParams(NamedTuple):
    """A :class:`numsim.datapath.DotUnit` as plain ints."""

    n: int  #: products per block
    frac_bits: int  #: F
    raw: int  #: 1: product exponent e_a + e_b
    term_mode: int  #: RoundMode of the terms
    c_inside: int  #: 1: c joins the alignment
    min_exp: int  #: eta floor (NO_FLOOR for none)
    man_in: int  #: fraction bits of the input format
    out_exp_bits: int  #: output exponent field
    out_man_bits: int  #: output fraction bits
    out_bias: int  #: output bias
    out_mode: int  #: RoundMode of the result
    subnormals_out: int  #: 0: flush subnormal results


@njit(cache=True)
def split_operands(bits, man, emin):
    """Decompose float64 bit patterns (int64) of values exact in a format with ``man`` fraction bits.

    Returns ``(m, e, kind)``: signed significand, exponent clamped to ``emin``, and the kind
    (K_ZERO, K_FINITE, K_INF, K_NAN).
    """
    m = np.zeros(bits.size, np.int64)
    e = np.zeros(bits.size, np.int64)
    kind = np.zeros(bits.size, np.int64)
    for i in range(bits.size):
        k, s, E, sig, P = unpack(bits[i], 11, 52, 1023)
        kind[i] = k
        if k == K_INF:
            m[i] = -1 if s else 1  # the sign of an Inf travels in m
        elif k == K_FINITE:
            ee = max(E, emin)
            mag = sig >> (P - man + ee - E)
            m[i] = -mag if s else mag
            e[i] = ee
    return m, e, kind


@njit(inline="always")
def _place(sig, sh, sign, mode):
    """``sig * 2**sh`` rounded to an integer by ``mode`` (sig > 0)."""
    if sh >= 0:
        return sig << sh
    return split_round(sig, -sh, sign, mode, 0, 0)


@njit(inline="always")
def _special_code(nan, pinf, ninf, p):
    """Output code for the special cases (nan / both infinities -> NaN, else the Inf)."""
    if nan or (pinf and ninf):
        return p.nan_code
    if pinf:
        return p.inf_code
    return p.inf_code | p.sign_mask


@njit(inline="always")
def _round_out(sign, mag, lsb, p, prm):
    """Output code of ``(-1)**sign * mag * 2**lsb`` (mag >= 0)."""
    if mag == 0:
        return 0
    P = bit_length(mag) - 1
    E = P + lsb
    if E > p.emax:
        return p.inf_code | (p.sign_mask if sign else 0)
    code = encode_value(sign, E, mag, P, p, prm.out_mode, NONSATURATE, 0, 0)
    if prm.subnormals_out == 0 and (code & p.allones) < (1 << p.man_bits):
        code &= p.sign_mask
    return code


@njit(inline="always")
def _on_grid(v, vlsb, w):
    """``v * 2**vlsb`` truncated toward zero to a multiple of ``2**w``: ``(units of 2**w, remainder sign)``.

    The remainder sign is 0 (exact), 1 (a positive remainder was dropped) or -1 (a negative one).
    """
    if vlsb >= w:
        return v << (vlsb - w), 0
    sh = w - vlsb
    mag = abs(v)
    kept = split_round(mag, sh, 0, TOWARD_ZERO, 0, 0)
    exact = sh < 62 and (kept << sh) == mag
    if exact:
        return (-kept if v < 0 else kept), 0
    return (-kept if v < 0 else kept), (-1 if v < 0 else 1)


@njit(inline="always")
def _late_add(S, lsb, csign, cE, csig, cP):
    """``S * 2**lsb + c`` as ``(sign, mag, lsb)``: exact, or a stand-in that rounds identically.

    Precondition: ``|S| < 2**36`` (DotUnit validates ``sum_bits <= 36`` for late c), so when the two
    span more than 60 bits at most one of them has bits below ``w = hi - 40``; that part is
    replaced by half of ``2**w`` with its sign. The kept high part H has its top bit at or above
    ``w + 39``, so every rounding boundary of a result of at most 24 bits, every power of two and
    the flush threshold near H are multiples of ``2**w``; none lies strictly between H and
    ``H +- 2**w``, where both the exact sum and the stand-in lie.
    """
    cv = -csig if csign else csig
    clsb = cE - cP
    if S == 0:
        return csign, csig, clsb
    top_s = bit_length(abs(S)) - 1 + lsb
    hi = max(top_s, cE)
    lo = min(lsb, clsb)
    if hi - lo <= 60:
        v = (S << (lsb - lo)) + (cv << (clsb - lo))
        return (1 if v < 0 else 0), abs(v), lo
    w = hi - 40
    hs, rs = _on_grid(S, lsb, w)
    hc, rc = _on_grid(cv, clsb, w)
    v = 2 * (hs + hc) + rs + rc
    return (1 if v < 0 else 0), abs(v), w - 1


@njit(cache=True)
def _block(am, ae, ak, bm, be, bk, lo, hi, ck, cs, cE, csig, cP, p, prm):
    """Output code of one block ``c + sum_{i=lo..hi-1} a_i b_i``; c given unpacked (kind, sign, E, sig, P)."""
    nan = ck == K_NAN
    pinf = ck == K_INF and cs == 0
    ninf = ck == K_INF and cs == 1
    eta = NO_FLOOR
    nterms = 0
    for i in range(lo, hi):
        ka = ak[i]
        kb = bk[i]
        if ka == K_NAN or kb == K_NAN:
            nan = True
        elif ka == K_INF or kb == K_INF:
            if (ka != K_INF and am[i] == 0) or (kb != K_INF and bm[i] == 0):
                nan = True  # Inf * 0
            else:
                # sign of an Inf or finite operand: Inf entries keep their sign in m (+-1)
                if (am[i] < 0) != (bm[i] < 0):
                    ninf = True
                else:
                    pinf = True
        elif am[i] != 0 and bm[i] != 0:
            if prm.raw:
                pe = ae[i] + be[i]
            else:
                pe = bit_length(abs(am[i] * bm[i])) - 1 + ae[i] + be[i] - 2 * prm.man_in
            eta = max(eta, pe)
            nterms += 1
    if nan or pinf or ninf:
        return _special_code(nan, pinf, ninf, p)
    c_nonzero = ck == K_FINITE
    cexp = max(cE, C_EMIN)
    if prm.c_inside and c_nonzero:
        eta = max(eta, cexp)
        nterms += 1
    S = 0
    F = prm.frac_bits
    if nterms > 0:
        eta = max(eta, prm.min_exp)
        for i in range(lo, hi):
            if ak[i] == K_FINITE and bk[i] == K_FINITE and am[i] != 0 and bm[i] != 0:
                prod = am[i] * bm[i]
                neg = 1 if prod < 0 else 0
                u = _place(abs(prod), ae[i] + be[i] - 2 * prm.man_in - eta + F, neg, prm.term_mode)
                S += -u if neg else u
        if prm.c_inside and c_nonzero:
            u = _place(csig, cE - cP - eta + F, cs, prm.term_mode)
            S += -u if cs else u
    if prm.c_inside or not c_nonzero:
        return _round_out(1 if S < 0 else 0, abs(S), eta - F, p, prm)
    sign, mag, lsb = _late_add(S, eta - F, cs, cE, csig, cP)
    return _round_out(sign, mag, lsb, p, prm)


@njit(cache=True)
def _chain(am, ae, ak, bm, be, bk, cbits, p, prm):
    """Decoded result of the chained blocks over one row of K products; c as FP32 bits."""
    K = am.size
    ck, cs, cE, csig, cP = unpack(cbits, 8, 23, 127)
    code = 0
    for lo in range(0, K, prm.n):
        hi = min(lo + prm.n, K)
        code = _block(am, ae, ak, bm, be, bk, lo, hi, ck, cs, cE, csig, cP, p, prm)
        ck, cs, cE, csig, cP = unpack(code, prm.out_exp_bits, prm.out_man_bits, prm.out_bias)
    return decode_value(code, p)


@njit(parallel=True, cache=True)
def dot_rows(am, ae, ak, bm, be, bk, cbits, p, prm):
    """Chained dot product of each row pair of [R, K] operands; ``cbits``: [R] FP32 bits (int64)."""
    R = am.shape[0]
    out = np.empty(R, np.float64)
    for r in prange(R):
        out[r] = _chain(am[r], ae[r], ak[r], bm[r], be[r], bk[r], cbits[r], p, prm)
    return out


@njit(parallel=True, cache=True)
def matmul_rows(am, ae, ak, btm, bte, btk, cbits, p, prm):
    """[M, K] @ [K, N] with B given transposed ([N, K]); ``cbits``: [M, N] FP32 bits (int64)."""
    M = am.shape[0]
    N = btm.shape[0]
    out = np.empty((M, N), np.float64)
    for i in prange(M):
        for j in range(N):
            out[i, j] = _chain(am[i], ae[i], ak[i], btm[j], bte[j], btk[j], cbits[i, j], p, prm)
    return out
