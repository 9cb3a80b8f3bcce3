"""Fast paths of the AMD matrix-core units (``mi100-*``, ``mi210-*``, ``mi300-*``), each held bit
for bit to the general kernel (:mod:`numsim._kernels.dot`) and to the Fraction reference by
tests/test_fast_paths.py.

* :func:`pairwise_matmul`: FP32 pairwise trees with round-to-nearest-even (CDNA1/CDNA2). Every
  product of two operands of at most 24 significand bits is exact in float64, so its FP32 value
  is one float64-to-float32 conversion (IEEE round to nearest even), and every node of the tree
  is one IEEE binary32 addition, which is round to nearest even of the exact sum with IEEE signed
  zeros and specials: the arithmetic of ``dot._pairwise_f32`` without its round-to-odd detour.
* :func:`late_matmul`: the CDNA3 late-c blocks (``late_frac_bits``) on finite operands over
  cache-sized tiles. With truncated terms, raw product exponents, ``F >= 2 man`` and an FP32
  round-to-nearest-even result (every ``mi300-*`` preset) a block is :func:`_late_block`: the
  branch-free aligned sums of ``fastdot._fast_sum`` per odd/even group (loops from index 0 that
  LLVM vectorizes), the late partials placed by ``dotbase._place`` (floor: an arithmetic right
  shift of the two's-complement partial), and the result rounded by
  the hardware float64-to-float32 conversion of the exact late sum (an integer below ``2**53``
  times a power of two inside float64's normal range, so the conversion is the one rounding of
  the exact value). Other units take the general kernel's block (``dot._late_common``).
* :func:`late_lanes_f32`: the same blocks (every ``mi300-*`` preset without a live product limit)
  with every step across 64 output columns (lanes), as :func:`pairwise_matmul` runs its trees;
  :func:`late_matmul_f32` keeps the GEMMs where some product may reach the limit.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .core import K_FINITE, TOWARD_NEGATIVE, decode_value
from .dot import _late_common, _limit_flags
from .dotbase import NO_DROP, NO_FLOOR, NO_LIMIT, _place, _round_out, _special_code, unpack_in


@njit(inline="always")
def _flush32(v, subnormals):
    """``v`` (float32) with a subnormal flushed to a zero of its sign when ``subnormals == 0``."""
    if subnormals == 0 and abs(v) < np.float32(2.0**-126):
        return np.float32(math.copysign(0.0, v))
    return v


@njit(parallel=True, cache=True)
def pairwise_matmul(A, B, C, n, subnormals):
    """``C + A @ B`` (float64 operand values, B not transposed) on an FP32 pairwise unit with
    round-to-nearest-even: per block of ``n`` products the tree, then ``acc = RNE(acc + tree)``
    (flushed when ``subnormals == 0``), ``acc`` starting at C (float32). Returns float32.

    Each product of two operands of at most 24 significand bits is exact in float64, so its FP32
    value is one conversion; an exactly zero product is +0 (``fma(a, b, +0)``). The tree adds
    products ``2q`` and ``2q + 1`` level by level (an odd last one moves up unchanged). The work
    runs across a tile of ``TJ`` output columns at once: every step is the same IEEE operation
    on ``TJ`` independent lanes (rows of B from index 0), so LLVM vectorizes it.
    """
    M, K = A.shape
    N = B.shape[1]
    out = np.empty((M, N), np.float32)
    TI = 8
    TJ = 64
    nb = max(n, 1)
    tiles_j = (N + TJ - 1) // TJ
    tiles = ((M + TI - 1) // TI) * tiles_j
    for t in prange(tiles):
        i0 = (t // tiles_j) * TI
        j0 = (t % tiles_j) * TJ
        i1 = min(i0 + TI, M)
        w = min(TJ, N - j0)
        acc = np.empty((TI, TJ), np.float32)
        v = np.empty((nb, TJ), np.float32)
        for i in range(i0, i1):
            ci = C[i, j0 : j0 + w]
            ai = acc[i - i0]
            for j in range(w):
                ai[j] = ci[j]
        for lo in range(0, K, nb):
            m0 = min(nb, K - lo)
            for i in range(i0, i1):
                ai = acc[i - i0]
                for q in range(m0):
                    a = A[i, lo + q]
                    bq = B[lo + q, j0 : j0 + w]
                    vq = v[q]
                    for j in range(w):
                        x = a * bq[j]  # exact in float64 (finite operands), IEEE specials else
                        f = _flush32(np.float32(x), subnormals)
                        vq[j] = np.float32(0.0) if x == 0.0 else f
                m = m0
                while m > 1:
                    h = m // 2
                    for q in range(h):
                        v0 = v[2 * q]
                        v1 = v[2 * q + 1]
                        vq = v[q]
                        for j in range(w):
                            vq[j] = _flush32(v0[j] + v1[j], subnormals)
                    if m % 2:
                        vh = v[h]
                        vl = v[m - 1]
                        for j in range(w):
                            vh[j] = vl[j]
                    m -= h
                v0 = v[0]
                for j in range(w):
                    ai[j] = _flush32(ai[j] + v0[j], subnormals)
        for i in range(i0, i1):
            ai = acc[i - i0]
            oi = out[i, j0 : j0 + w]
            for j in range(w):
                oi[j] = ai[j]
    return out


@njit(inline="always")
def _group_sum(am, ae, bm, be, zj, z, sh0):
    """``(S, eta)`` of the products of the slices: truncated terms on the grid
    ``2**(eta - F)`` (``sh0 = F - 2 man``), branch-free; eta is NO_FLOOR for an empty group."""
    n = am.size
    eta = NO_FLOOR
    for i in range(n):
        if zj:
            za = z if am[i] == 0 else 0
            zb = z if bm[i] == 0 else 0
            eta = max(eta, ae[i] + za + be[i] + zb)
        else:
            eta = max(eta, ae[i] + be[i] if am[i] * bm[i] != 0 else NO_FLOOR)
    S = 0
    for i in range(n):
        prod = am[i] * bm[i]
        d = min(max(eta - ae[i] - be[i], 0), 63)
        u = (abs(prod) << sh0) >> d
        S += -u if prod < 0 else u
    return S, eta


@njit(inline="always")
def _signed(S, sh, mode):
    """The signed ``S * 2**sh`` rounded to an integer by ``mode`` (``dotbase._place``); floor
    (``toward_negative``, every ``mi300-*`` preset) is an arithmetic right shift of the
    two's-complement ``S``."""
    if sh >= 0:
        return S << sh
    if mode == TOWARD_NEGATIVE:
        return S >> min(-sh, 63)
    neg = 1 if S < 0 else 0
    u = _place(abs(S), sh, neg, mode)
    return -u if neg else u


def evens_first(x: np.ndarray, n: int) -> np.ndarray:
    """``x`` [R, K] with the columns of every block of ``n`` (the last one may be shorter)
    reordered as the block's even positions, then its odd positions: the odd/even groups of
    :func:`_late_block` become two contiguous slices, whose loops from index 0 LLVM vectorizes
    (strided loops it does not). Exact integer sums and maxima do not depend on the order."""
    K = x.shape[1]
    idx = np.concatenate(
        [
            np.concatenate([np.arange(lo, min(lo + n, K), 2), np.arange(lo + 1, min(lo + n, K), 2)])
            for lo in range(0, K, n)
        ]
        or [np.zeros(0, np.int64)]
    )
    return np.ascontiguousarray(x[:, idx])


@njit(inline="always")
def _late_block(am, ae, bm, be, c, p, prm, sh0):
    """FP32 value (float64) of one late-c block (the arithmetic of ``dot._late_common``) on the
    slices ``am``.. of one block; ``c`` unpacked."""
    ck, cs, cE, csig, cP = c
    F = prm.frac_bits
    zj = prm.zero_join == 1
    z = prm.zero_exp
    if prm.odd_even:  # the block's products come evens first (:func:`evens_first`)
        h = (am.size + 1) // 2
        S0, e0 = _group_sum(am[:h], ae[:h], bm[:h], be[:h], zj, z, sh0)
        S1, e1 = _group_sum(am[h:], ae[h:], bm[h:], be[h:], zj, z, sh0)
        if e0 == NO_FLOOR:
            S, e = S1, e1
        elif e1 == NO_FLOOR:
            S, e = S0, e0
        else:
            e = max(e0, e1)
            S = _signed(S0, e0 - e, prm.oe_mode) + _signed(S1, e1 - e, prm.oe_mode)
    else:
        S, e = _group_sum(am, ae, bm, be, zj, z, sh0)
    if ck == K_FINITE:
        ec = max(cE, prm.c_emin)
    elif zj:
        ec = z
    else:
        ec = NO_FLOOR
    E = max(e, ec)
    if E == NO_FLOOR:
        return 0.0
    fs = prm.late_fs
    fc = prm.late_fc
    G = max(fs, fc)
    T = 0
    if e != NO_FLOOR:
        T = _signed(S, (e - F) - (E - fs), prm.late_mode) << (G - fs)
    if ck == K_FINITE and not (prm.c_drop != NO_DROP and ec < E - prm.c_drop):
        T += _signed(-csig if cs else csig, cE - cP - E + fc, prm.late_mode) << (G - fc)
    lsb = E - G
    if abs(T) < (1 << 53) and -900 < lsb < 900:
        # T * 2**lsb is exact in float64 (normal range); its conversion is one RNE of the sum
        scale = np.int64((lsb + 1023) << 52).view(np.float64)
        return np.float64(np.float32(np.float64(T) * scale))
    code = _round_out(1 if T < 0 else 0, abs(T), lsb, p, prm.out_mode, prm.subnormals_out)
    return decode_value(code, p)


@njit(parallel=True, cache=True)
def late_matmul_f32(am, ae, btm, bte, C, p, prm):
    """:func:`late_matmul` for units that :func:`_late_block` serves (FP32 RNE results, truncated
    terms, raw exponents, ``F >= 2 man``, signed zeros); ``C``: float32 values, ``p``: lowered
    FP32. With ``prm.odd_even`` the operand columns come in :func:`evens_first` order. Returns
    float32."""
    M = am.shape[0]
    N = btm.shape[0]
    K = am.shape[1]
    out = np.empty((M, N), np.float32)
    sh0 = prm.frac_bits - 2 * prm.man_in
    lim = prm.prod_limit
    TI = 8
    TJ = 64
    for t in prange((M + TI - 1) // TI):
        for j0 in range(0, N, TJ):
            for i in range(t * TI, min(t * TI + TI, M)):
                a_m = am[i]
                a_e = ae[i]
                for j in range(j0, min(j0 + TJ, N)):
                    b_m = btm[j]
                    b_e = bte[j]
                    acc = np.float32(C[i, j])
                    for lo in range(0, K, prm.n):
                        if not np.isfinite(acc):  # an Inf or NaN accumulator stays
                            break
                        hi = min(lo + prm.n, K)
                        if lim != NO_LIMIT:
                            lp, ln = _limit_flags(a_m, a_e, b_m, b_e, lo, hi, prm)
                            if lp or ln:
                                code = _special_code(False, lp, ln, p)
                                acc = np.float32(decode_value(code, p))
                                continue
                        c = unpack_in(np.int64(np.float32(acc).view(np.int32)) & 0xFFFFFFFF, p)
                        acc = np.float32(
                            _late_block(
                                a_m[lo:hi], a_e[lo:hi], b_m[lo:hi], b_e[lo:hi], c, p, prm, sh0
                            )
                        )
                    out[i, j] = acc
    return out


@njit(parallel=True, cache=True)
def late_matmul(am, ae, btm, bte, cbits, fc, p, prm):
    """``C + A @ B`` on a chained unit with ``late_frac_bits`` and finite operands (split as
    ``(m, e)``; B transposed); ``cbits``: C as codes of ``fc``. Returns float64 values."""
    M = am.shape[0]
    N = btm.shape[0]
    K = am.shape[1]
    out = np.empty((M, N), np.float64)
    TI = 8
    TJ = 64
    for t in prange((M + TI - 1) // TI):
        for j0 in range(0, N, TJ):
            for i in range(t * TI, min(t * TI + TI, M)):
                a_m = am[i]
                a_e = ae[i]
                for j in range(j0, min(j0 + TJ, N)):
                    b_m = btm[j]
                    b_e = bte[j]
                    code = cbits[i, j]
                    c = unpack_in(code, fc)
                    f = fc
                    for lo in range(0, K, prm.n):
                        if c[0] > K_FINITE:  # an Inf or NaN accumulator stays (finite operands)
                            break
                        hi = min(lo + prm.n, K)
                        if prm.prod_limit != NO_LIMIT:
                            lp, ln = _limit_flags(a_m, a_e, b_m, b_e, lo, hi, prm)
                            if lp or ln:
                                code = _special_code(False, lp, ln, p)
                                c = unpack_in(code, p)
                                f = p
                                continue
                        code = _late_common(a_m, a_e, b_m, b_e, lo, hi, c, p, prm)
                        if prm.underflow_pos and code == p.sign_mask:
                            code = 0
                        c = unpack_in(code, p)
                        f = p
                    out[i, j] = decode_value(code, f)
    return out


@njit(inline="always")
def _lane_group(a_m, a_e, bm, be, q0, q1, step, j0, w, eta, S, sh0):
    """``eta`` and ``S`` (int32 lanes ``0 .. w - 1``) of the products ``q0, q0 + step, .. < q1``
    of the row ``a_m``, ``a_e`` with the rows of ``bm``, ``be`` over the columns ``j0 ..
    j0 + w - 1``: ``eta`` the largest product exponent (a zero operand's exponent included), ``S``
    the truncated terms on ``2**(eta - F)`` (``sh0 = F - 2 man``); every loop runs over the
    lanes from index 0."""
    x = a_e[q0]
    eq = be[q0, j0 : j0 + w]
    for j in range(w):
        eta[j] = x + eq[j]
    for q in range(q0 + step, q1, step):
        x = a_e[q]
        eq = be[q, j0 : j0 + w]
        for j in range(w):
            eta[j] = max(eta[j], x + eq[j])
    for j in range(w):
        S[j] = 0
    for q in range(q0, q1, step):
        a = np.int64(a_m[q])  # int64 products (as Numba promotes; numpy scalars would not)
        x = a_e[q]
        mq = bm[q, j0 : j0 + w]
        eq = be[q, j0 : j0 + w]
        for j in range(w):
            prod = a * mq[j]
            u = (abs(prod) << sh0) >> min(eta[j] - x - eq[j], 31)
            S[j] += -u if prod < 0 else u


@njit(parallel=True, cache=True)
def late_lanes_f32(am, ae, bm, be, C, prm):
    """:func:`late_matmul_f32` with the work of every block across lanes of output columns.

    ``am``, ``ae`` [M, K] and ``bm``, ``be`` [K, N] (B not transposed) are int32 significands and
    exponents, the exponents with ``zero_exp`` already added for a zero operand (the zero-join
    units); ``C``: float32 values. For units with ``zero_join``, floor late (and odd/even)
    roundings, ``F_S >= F`` and ``F_S >= F_c``, no live product limit and bounds that
    :func:`numsim.datapath.api._late_lanes_ok` checks, every step of a block is one integer or
    float64 operation on ``TJ`` independent lanes (rows of B from index 0), so LLVM vectorizes
    it:

    * ``eta = max_i (e_a_i + e_b_i)`` (a zero operand at ``zero_exp`` joins it);
    * ``S = sum_i trunc(a_i b_i 2**(F - 2 man - (eta - e_a_i - e_b_i)))``, below ``n 2**(F + 2)``
      (an int32 when that is below ``2**31``); with ``odd_even`` the even- and odd-indexed
      products as two groups (:func:`_lane_group` with a step of 2), each sum floored onto the
      grid of the larger eta (an arithmetic right shift);
    * c from its FP32 bits: ``e_c = max(e, c_emin)`` (``zero_exp`` for a zero c), ``E =
      max(eta, e_c)``; the product sum floored to ``2**(E - F_S)`` (an arithmetic right shift
      by ``E - eta - (F_S - F)``, or exact when that is not positive), c floored to
      ``2**(E - F_c)`` (a shift of its signed 24-bit significand), c dropped when ``e_c < E -
      c_drop``;
    * the exact late sum ``T 2**(E - F_S)`` (``|T|`` below ``2**53``, ``E - F_S`` inside float64's
      normal range) rounded to FP32 by the float64-to-float32 conversion (round to nearest even
      of the exact value, subnormals and overflow to Inf included), as :func:`_late_block`.

    An Inf or NaN accumulator stays. Returns float32.
    """
    M, K = am.shape
    N = bm.shape[1]
    out = np.empty((M, N), np.float32)
    n = max(prm.n, 1)
    F = prm.frac_bits
    sh0 = F - 2 * prm.man_in
    up = prm.late_fs - F
    fc = prm.late_fc
    cscale = np.float64(1 << (prm.late_fs - fc))
    G = prm.late_fs
    z = prm.zero_exp
    cemin = prm.c_emin
    drop = prm.c_drop
    step = 2 if prm.odd_even else 1
    TI = 8
    TJ = 64
    tiles_j = (N + TJ - 1) // TJ
    tiles = ((M + TI - 1) // TI) * tiles_j
    for t in prange(tiles):
        i0 = (t // tiles_j) * TI
        j0 = (t % tiles_j) * TJ
        i1 = min(i0 + TI, M)
        w = min(TJ, N - j0)
        acc = np.empty((TI, TJ), np.float32)
        eta = np.empty(TJ, np.int32)
        S = np.empty(TJ, np.int32)
        eta1 = np.empty(TJ, np.int32)
        S1 = np.empty(TJ, np.int32)
        for i in range(i0, i1):
            ci = C[i, j0 : j0 + w]
            ai = acc[i - i0]
            for j in range(w):
                ai[j] = ci[j]
        for lo in range(0, K, n):
            m0 = min(n, K - lo)
            for i in range(i0, i1):
                ai = acc[i - i0]
                _lane_group(am[i], ae[i], bm, be, lo, lo + m0, step, j0, w, eta, S, sh0)
                if step == 2 and m0 > 1:  # the odd group, each floored to the larger eta
                    _lane_group(am[i], ae[i], bm, be, lo + 1, lo + m0, 2, j0, w, eta1, S1, sh0)
                    for j in range(w):
                        e = max(eta[j], eta1[j])
                        S[j] = (S[j] >> min(e - eta[j], 31)) + (S1[j] >> min(e - eta1[j], 31))
                        eta[j] = e
                for j in range(w):
                    cv = ai[j]
                    cb = np.int32(np.float32(cv).view(np.int32))
                    f = (cb >> 23) & 0xFF
                    frac = cb & 0x7FFFFF
                    ec = z if (cb & 0x7FFFFFFF) == 0 else max(f - 127, cemin)
                    e = eta[j]
                    E = max(e, ec)
                    D = E - e
                    xs = np.float64(S[j] >> min(max(D - up, 0), 31)) * np.float64(
                        1 << max(up - D, 0)
                    )
                    sig = frac | (0x800000 if f != 0 else 0)
                    sc = -sig if cb < 0 else sig
                    k = max(f, 1) - 150 + fc - E
                    tc = (sc << max(k, 0)) if k >= 0 else (sc >> min(-k, 31))
                    if ec < E - drop:
                        tc = 0
                    scale = np.int64(np.int64(E - G + 1023) << 52).view(np.float64)
                    v = np.float32((xs + np.float64(tc) * cscale) * scale)
                    ai[j] = cv if f == 0xFF else v
        for i in range(i0, i1):
            ai = acc[i - i0]
            oi = out[i, j0 : j0 + w]
            for j in range(w):
                oi[j] = ai[j]
    return out
