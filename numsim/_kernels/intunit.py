"""Integer dot units: products summed exactly into two's-complement registers that wrap or
saturate (:func:`_reg_add`), an optional outer accumulator (int, float or exact) over chunks.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .core import decode_value
from .dotbase import ACC_EXACT, ACC_FLOAT, ACC_INT, _flags
from .kulisch import KUL_SIZE, kul_add, kul_add_code, kul_clear, kul_round


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
    return float(r) * 2.0**prm.int_lsb, over


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
            return float(r) * 2.0**prm.int_lsb, over
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
            ocode = kul_round(k, nan, pinf, ninf, po, prm.outer_mode, np.int64(1))
    if prm.outer_kind == ACC_INT:
        return float(outer) * 2.0**prm.int_lsb, over
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
