"""Operand kernels of the dot units: float64 bit patterns split into ``(m, e, kind)``
(``x = m * 2**(e - man)``, exponents from the bits), MX block rows scaled into that form, and the
checks that operands are exact in their format (:func:`first_inexact`) and fit one float64 sum
(:func:`lsb_span`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .core import K_FINITE, K_INF, K_NAN, K_ZERO, unpack
from .dotbase import NO_FLOOR, fast_bit_length


@njit(cache=True)
def split_operands(bits, man, emin, ftz):
    """Decompose float64 bit patterns (int64) of values exact in a format with ``man`` fraction
    bits.

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
    """Index of the first float64 value (given by its bits) that a format cannot hold exactly, or
    -1.

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
        k, _s, E, sig, P = unpack(bits[i], 11, 52, 1023)
        if k == K_FINITE:
            top = max(top, E + 1)
            tz = fast_bit_length((sig & -sig) - 1)  # trailing zeros of the significand
            low = min(low, E - P + tz)
    if top == NO_FLOOR:
        return 0, 0
    return top, low
