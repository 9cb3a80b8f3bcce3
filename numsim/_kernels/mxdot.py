"""Kernels of MX DotGeneral (:mod:`numsim.datapath.mx`) that work on exact block or group sums.

* :func:`group_rows` / :func:`group_matmul`: the grouped units (``DotUnit.group``,
  ``group_exponent="scales"``; NVIDIA ``kind::mxf4nvf4``): each group sum times its two block
  scales is one term whose alignment exponent is the sum of the scales' exponents; the terms
  and c go on the grid ``2**(eta - F)`` (truncation, or :func:`dotbase._place`), are summed
  exactly in an int64 and the block is rounded by :func:`dotbase._round_out` (an RZ result in
  the normal range is packed directly, as ``fastdot._fast_row`` does). The group sums come from
  the element rows as int32 (or exact integers in float64; the caller checks that every partial
  sum is exact), in a loop that LLVM vectorizes; the GEMM kernel tiles the output so
  that the operand rows stay in cache. Twin: the Fraction reference (there is no other kernel
  for groups); :func:`group_rows` and :func:`group_matmul` share :func:`_group_row`.
* :func:`chain_blocks`, :func:`group_blocks`: one block of the BLAS fast paths of the
  truncating chained units (``b200-mxf8f6f4``) and the grouped units (``b200-mxf4nvf4``): the
  block's exact sums come from BLAS; where cheap exponent bounds show that the truncation to
  ``F`` fractional bits removes nothing, the result is c plus the sums rounded once, and the
  other blocks run through the kernels above (``fastdot._fast_row``'s block, :func:`_group_block`)
  on the same operands. Twins: ``fastdot.matmul_fast`` / :func:`group_matmul` and the general
  kernel, held by tests/test_fast_paths.py.
* :func:`exact_total`: the exact accumulator of the MX fast path of the exact units: per output,
  c plus the exact float64 block sums (from float64 BLAS over the scale blocks, times the exact
  power-of-two scales) summed exactly, in one int64 when their bits span at most 62 (the sum of
  the integers ``t * 2**-low`` is exact), else in a Kulisch accumulator, and rounded once by
  :func:`dotbase._round_out` (or :func:`kulisch.kul_round`). Twin: the exact accumulator of the
  general kernel (``dot.float_row``, Kulisch); held by tests/test_fast_paths.py.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .core import K_FINITE, K_INF, K_NAN, K_ZERO, TOWARD_ZERO, decode_value
from .dotbase import C_EMIN, NO_FLOOR, _place, _round_out, fast_bit_length, unpack_in
from .fastdot import _f32_round, _fast_row, _fast_sum
from .kulisch import KUL_SIZE, kul_add, kul_clear, kul_round

#: Alignment exponent of a group that does not join the maximum (a zero scale without
#: ``zero_join``): two of them still sum far below any real exponent.
DROPPED = -(1 << 40)


@njit(inline="always")
def _group_block(Gs, j0, j1, ia, ib, sa, sb, c, lsb0, prm):
    """Aligned sum ``(S, lsb, empty)`` of the groups ``j0..j1-1`` of one row and the unpacked c.

    ``Gs[j - j0]``: the exact sum of group ``j``; per group of a (row ``ia``; the same for b,
    row ``ib``): the scale significand ``sa[0]``, its exponent ``sa[1]`` and the exponent with
    which the group joins the maximum ``sa[2]`` (``zero_exp`` for a zero scale, or ``DROPPED``).
    The term is ``G * sig_a * sig_b * 2**(e_a + e_b + lsb0)``.
    """
    sga, sea, sza = sa[0], sa[1], sa[2]
    sgb, seb, szb = sb[0], sb[1], sb[2]
    ck, cs, cE, csig, cP = c
    eta = NO_FLOOR
    for j in range(j0, j1):
        eta = max(eta, sza[ia, j] + szb[ib, j])
    eta = max(eta, NO_FLOOR)  # only dropped groups: none joined
    if ck == K_FINITE:
        eta = max(eta, max(cE, C_EMIN))
    elif prm.zero_join:
        eta = max(eta, prm.zero_exp)  # a zero c joins the maximum
    if eta == NO_FLOOR:
        return 0, 0, True
    eta = max(eta, prm.min_exp)
    F = prm.frac_bits
    S = 0
    base = lsb0 - eta + F
    for j in range(j0, j1):
        t = np.int64(Gs[j - j0]) * sga[ia, j] * sgb[ib, j]
        if t != 0:
            neg = 1 if t < 0 else 0
            sh = sea[ia, j] + seb[ib, j] + base
            if prm.term_mode == TOWARD_ZERO:  # truncation of the magnitude, as _place does it
                u = abs(t) << sh if sh >= 0 else abs(t) >> min(-sh, 63)
            else:
                u = _place(abs(t), sh, neg, prm.term_mode)
            S += -u if neg else u
    if ck == K_FINITE:
        u = _place(csig, cE - cP - eta + F, cs, prm.term_mode)
        S += -u if cs else u
    return S, eta - F, False


@njit(inline="always")
def _f32_parts(a):
    """Of the FP32 value ``a`` (held in a float64), from its bits: the unbiased exponent ``E``,
    whether it is normal, and ``tz``, the exponent of the lowest set bit of its 24-bit
    significand (trailing zeros, exact: a power of two converts exactly)."""
    bits = np.int64(np.float32(a).view(np.int32))
    ef = (bits >> 23) & 0xFF
    sig = (bits & 0x7FFFFF) | 0x800000
    tz = ((np.int64(np.float32(sig & -sig).view(np.int32)) >> 23) & 0xFF) - 127
    return ef - 127, (ef > 0) & (ef < 255), tz


@njit(inline="always")
def _round_rz(S, lsb, p, prm):
    """Code of ``S * 2**lsb``: a truncated (RZ) result in the normal range packed directly from
    its top ``man + 1`` bits (as ``fastdot._fast_row`` does), everything else by
    :func:`dotbase._round_out`."""
    mag = abs(S)
    if prm.out_mode == TOWARD_ZERO and mag != 0:
        P = fast_bit_length(mag) - 1
        E = P + lsb
        if p.emin <= E <= p.emax:
            man = p.man_bits
            sig = mag >> (P - man) if P >= man else mag << (man - P)
            return (
                ((E + p.exp_bias) << man) | (sig & ((1 << man) - 1)) | (p.sign_mask if S < 0 else 0)
            )
    return _round_out(1 if S < 0 else 0, mag, lsb, p, prm.out_mode, prm.subnormals_out)


@njit(inline="always")
def _group_row(x, y, ia, ib, code, cf, sa, sb, g, gpn, Gs, p, lsb0, prm):
    """Result code and format of one row pair: the element rows ``x`` (of a, row ``ia``) and
    ``y`` (of b, row ``ib``) as exact float values, blocks of ``gpn`` groups of ``g`` products
    chained through the rounded result, starting from ``code`` in format ``cf``; ``sa[3]``,
    ``sb[3]``: NaN flags per group."""
    sna = sa[3]
    snb = sb[3]
    ng = x.size // g
    for j0 in range(0, ng, gpn):
        j1 = min(j0 + gpn, ng)
        c = unpack_in(code, cf)
        nan = c[0] == K_NAN
        for j in range(j0, j1):
            nan = nan or sna[ia, j] or snb[ib, j]
            acc = x[0] * 0
            for k in range(j * g, (j + 1) * g):
                acc += x[k] * y[k]  # exact: the caller bounds the sums
            Gs[j - j0] = acc
        if nan:
            code = p.nan_code
        elif c[0] == K_INF:
            code = p.inf_code | (p.sign_mask if c[1] else 0)
        else:
            S, lsb, empty = _group_block(Gs, j0, j1, ia, ib, sa, sb, c, lsb0, prm)
            code = 0 if empty else _round_rz(S, lsb, p, prm)
            if prm.underflow_pos and code == p.sign_mask:
                code = 0
        cf = p
    return code, cf


@njit(parallel=True, cache=True)
def group_rows(qa, qb, ra, rb, sa, sb, g, cbits, fc, p, lsb0, prm):
    """Decoded results of a grouped unit (chain accumulator) for the row pairs ``(ra[r], rb[r])``.

    ``qa``, ``qb``: element rows as integers (int32, or exact in float64; value ``q * 2**-fe``,
    ``fe`` folded into ``lsb0``); ``sa = (sig, exp, join, nan)`` per group of a (the group's
    scale ``sig * 2**(exp - man)``, ``man`` folded into ``lsb0``; ``join``: the exponent with
    which it joins the maximum; the same for b); ``g``: products per group; ``cbits``: the
    caller's c in format ``fc``;
    ``p``: output format. A NaN scale in a block makes its result NaN.
    """
    R = ra.size
    gpn = prm.n // g
    out = np.empty(R, np.float64)
    for r in prange(R):
        Gs = np.empty(gpn, qa.dtype)
        code, f = _group_row(
            qa[ra[r]],
            qb[rb[r]],
            ra[r],
            rb[r],
            cbits[r],
            fc,
            sa,
            sb,
            g,
            gpn,
            Gs,
            p,
            lsb0,
            prm,
        )
        out[r] = decode_value(code, f)
    return out


@njit(parallel=True, cache=True)
def group_matmul(qa, qb, sa, sb, g, cbits, fc, p, lsb0, prm):
    """:func:`group_rows` for every pair of a row of ``qa`` [M, K] and a row of ``qb`` [N, K]
    (B transposed), as an [M, N] array; tiles keep the operand rows in cache."""
    M = qa.shape[0]
    N = qb.shape[0]
    gpn = prm.n // g
    out = np.empty((M, N), np.float64)
    TI = 8
    TJ = 64
    for t in prange((M + TI - 1) // TI):
        Gs = np.empty(gpn, qa.dtype)
        for j0 in range(0, N, TJ):
            for i in range(t * TI, min(t * TI + TI, M)):
                for j in range(j0, min(j0 + TJ, N)):
                    code, f = _group_row(
                        qa[i],
                        qb[j],
                        i,
                        j,
                        cbits[i, j],
                        fc,
                        sa,
                        sb,
                        g,
                        gpn,
                        Gs,
                        p,
                        lsb0,
                        prm,
                    )
                    out[i, j] = decode_value(code, f)
    return out


@njit(inline="always")
def _f64_parts(t):
    """``(sign, mag, lsb)`` of a finite non-zero float64 in the normal range: ``t = +-mag *
    2**lsb`` with ``mag`` odd."""
    bits = np.float64(t).view(np.int64)
    mag = (bits & ((1 << 52) - 1)) | (1 << 52)
    tz = fast_bit_length((mag & -mag) - 1)  # trailing zeros
    return (bits >> 63) & 1, mag >> tz, ((bits >> 52) & 0x7FF) - 1075 + tz


@njit(parallel=True, cache=True)
def exact_total(S, c, p, mode, subnormals):
    """Codes of ``round(c[i, j] + sum_b S[b, i, j])`` in ``p`` (one rounding by ``mode``), decoded.

    ``S``: exact float64 block sums (normal range or zero), ``c``: the caller's c as float64 (a
    NaN or an Inf is the result: the block sums are finite). An exact zero total is +0.
    """
    nb, M, N = S.shape
    window = 62 - fast_bit_length(nb + 1)  # nb + 1 terms below 2**window: the int64 sum fits
    out = np.empty((M, N), np.float64)
    for i in prange(M):
        k = np.empty(KUL_SIZE, np.int64)
        for j in range(N):
            cv = c[i, j]
            if not np.isfinite(cv):
                out[i, j] = cv
                continue
            top = NO_FLOOR
            low = -NO_FLOOR
            for b in range(nb + 1):
                t = S[b, i, j] if b < nb else cv
                if t != 0.0:
                    _, mag, lsb = _f64_parts(t)
                    low = min(low, lsb)
                    top = max(top, lsb + 53)
            if top == NO_FLOOR:
                out[i, j] = 0.0
                continue
            if top - low <= window:  # the int64 sum is exact
                T = 0
                for b in range(nb + 1):
                    t = S[b, i, j] if b < nb else cv
                    if t != 0.0:
                        sg, mag, lsb = _f64_parts(t)
                        u = mag << (lsb - low)
                        T += -u if sg else u
                code = _round_out(1 if T < 0 else 0, abs(T), low, p, mode, subnormals)
            else:
                kul_clear(k)
                for b in range(nb + 1):
                    t = S[b, i, j] if b < nb else cv
                    if t != 0.0:
                        sg, mag, lsb = _f64_parts(t)
                        kul_add(k, sg, mag, lsb)
                code = kul_round(k, False, False, False, p, mode, subnormals)
            out[i, j] = decode_value(code, p)
    return out


@njit(cache=True)
def chain_blocks(acc, S, ua, la, ub, lb, am, ae, btm, bte, i0, lo, p, prm, k):
    """One block of the BLAS fast path of a truncating chained unit, ``acc`` updated in place.

    ``acc`` [R, N]: the running results (FP32 values as float64) of rows ``i0 .. i0 + R - 1``;
    ``S``: the exact float64 sums of their block ``lo .. lo + n - 1``. Per row of a (and of b,
    ``ub``, ``lb``): ``ua`` bounds the block's product exponents from above (zero elements at
    ``zero_exp`` when zeros join the maximum) and ``la`` is the lowest ``e + tz(m)`` over its
    non-zero elements, so that every product of the block is a multiple of
    ``2**(la + lb - 2 man_in)``. The alignment maximum ``eta`` of the block is at most
    ``ehi = max(ua + ub, c's exponent, min_exp)``; when ``ehi <= la + lb + F - 2 man_in`` and c
    (a zero or a normal FP32 value; its lowest set bit from its bits) is a multiple of
    ``2**(ehi - F)``, no term loses a bit to
    the truncation, so the block's sum on the grid ``2**(eta - F)`` is ``c + S`` exactly (the
    caller checks that it fits 53 bits) and the result is that sum rounded once
    (:func:`fastdot._f32_round`; a result rounded to zero is +0 with ``underflow_pos``). The
    other blocks (and non-finite accumulators) run through the chain kernel itself
    (``fastdot._fast_row`` on the block's elements). The first loop over a row has no branches
    and vectorizes. Serial: it alternates with BLAS calls (:func:`fastdot.combine_f32`).
    """
    R, N = S.shape
    F = prm.frac_bits
    sh0 = F - 2 * prm.man_in
    cshift = F - p.man_bits
    hi = lo + prm.n
    zterm = prm.zero_exp if prm.zero_join else NO_FLOOR
    slow = np.empty(N, np.bool_)
    for r in range(R):
        i = i0 + r
        ar = acc[r]
        sr = S[r]
        uar = ua[i]
        lar = la[i]
        nslow = 0
        for j in range(N):
            a = ar[j]
            E, normal, tz = _f32_parts(a)
            ct = max(E, prm.c_emin) if normal else zterm
            ehi = max(max(uar + ub[j], ct), prm.min_exp)
            ok = (ehi <= lar + lb[j] + sh0) & ((a == 0.0) | (normal & (ehi <= E + tz + cshift)))
            x = a + sr[j]  # exact where ok
            v = _f32_round(x, prm.out_mode, prm.subnormals_out) if x != 0.0 else 0.0
            v = v + 0.0 if prm.underflow_pos else v
            ar[j] = v if ok else a
            slow[j] = not ok
            nslow += not ok
        if nslow:
            ami, aei = am[i, lo:hi], ae[i, lo:hi]
            for j in range(N):
                if slow[j]:
                    code = np.int64(np.float32(ar[j]).view(np.int32)) & 0xFFFFFFFF
                    ar[j] = _chain_block(ami, aei, btm[j, lo:hi], bte[j, lo:hi], code, p, prm, k)
    return acc


@njit(inline="always")
def _chain_block(am, ae, bm, be, code, p, prm, k):
    """One block of ``fastdot._fast_row`` (its chain accumulator, no chunk) from the
    accumulator's code in ``p``: the aligned, truncated sum of ``fastdot._fast_sum`` rounded
    as ``_fast_row`` rounds it, decoded; a NaN or Inf accumulator goes to ``_fast_row``."""
    ck, cs, cE, csig, cP = unpack_in(code, p)
    if ck == K_NAN or ck == K_INF:
        c2, f = _fast_row(am, ae, bm, be, code, p, p, p, prm, k)
        return decode_value(c2, f)
    sh0 = prm.frac_bits - 2 * prm.man_in
    S, lsb, nonempty = _fast_sum(
        am, ae, bm, be, ck == K_FINITE, ck == K_ZERO, cs, cE, csig, cP, prm, sh0
    )
    mag = abs(S)
    if prm.out_mode == TOWARD_ZERO and mag != 0:
        P = fast_bit_length(mag) - 1
        E = P + lsb
        if p.emin <= E <= p.emax:
            man = p.man_bits
            sig = mag >> (P - man) if P >= man else mag << (man - P)
            out = (
                ((E + p.exp_bias) << man) | (sig & ((1 << man) - 1)) | (p.sign_mask if S < 0 else 0)
            )
            return decode_value(out, p)
    out = (
        _round_out(1 if S < 0 else 0, mag, lsb, p, prm.out_mode, prm.subnormals_out)
        if nonempty
        else 0
    )
    if prm.underflow_pos and out == p.sign_mask:
        out = 0
    return decode_value(out, p)


@njit(cache=True)
def group_blocks(acc, G, sa, sb, pa, pb, i0, j0, lsb0, p, prm):
    """One block of ``gpn`` groups of the BLAS fast path of a grouped unit, ``acc`` updated in
    place.

    ``acc`` [R, N]: the running results (FP32 values as float64) of rows ``i0 .. i0 + R - 1``;
    ``G`` [gpn, R, N]: the exact group sums (from BLAS) of groups ``j0 .. j0 + gpn - 1``;
    ``sa``, ``sb``: ``(sig, exp, join, nan)`` per row and group as for :func:`group_rows`; ``pa``,
    ``pb``: ``2**exp`` as float64. The block's alignment maximum ``eta`` comes from the joins and
    c as in :func:`_group_block`; when every non-zero group term (a multiple of
    ``2**(exp_a + exp_b + lsb0)``) and c (a zero or a normal FP32 value) are multiples of
    ``2**(eta - F)``, the truncation removes nothing and the result is c plus the terms, summed
    exactly in float64 (the caller checks that the sum fits 53 bits on that grid) and rounded
    once (``fastdot._f32_round``; +0 for a result rounded to zero with ``underflow_pos``). The
    other blocks (NaN scales, Inf / NaN / subnormal c, a truncated term) run through
    :func:`_group_block` on the same group sums. The loops over a row's outputs run per group
    on contiguous arrays without branches on data, so that they vectorize; serial, as it
    alternates with BLAS calls."""
    gpn, R, N = G.shape
    sga, sea, sza, sna = sa
    sgb, seb, szb, snb = sb
    F = prm.frac_bits
    zterm = prm.zero_exp if prm.zero_join else NO_FLOOR
    scale = 2.0**lsb0
    # b's per-group values for this block, group-major (contiguous along the outputs)
    zb = np.empty((gpn, N), np.int64)
    eb = np.empty((gpn, N), np.int64)
    fb = np.empty((gpn, N), np.float64)
    wb = np.empty((gpn, N), np.float64)
    badb = np.zeros(N, np.bool_)
    for g in range(gpn):
        for j in range(N):
            zb[g, j] = szb[j, j0 + g]
            eb[g, j] = seb[j, j0 + g]
            fb[g, j] = sgb[j, j0 + g]
            wb[g, j] = pb[j, j0 + g] * scale
            badb[j] |= snb[j, j0 + g]
    eta = np.empty(N, np.int64)
    ok = np.empty(N, np.bool_)
    tot = np.empty(N, np.float64)
    Gs = np.empty(gpn, np.int64)
    for r in range(R):
        i = i0 + r
        ar = acc[r]
        bada = False
        for g in range(gpn):
            bada |= sna[i, j0 + g]
        for j in range(N):
            eta[j] = NO_FLOOR
        for g in range(gpn):
            za = sza[i, j0 + g]
            zr = zb[g]
            for j in range(N):
                eta[j] = max(eta[j], za + zr[j])
        for j in range(N):
            a = ar[j]
            E, normal, tz = _f32_parts(a)
            et = max(eta[j], NO_FLOOR)
            et = max(et, max(E, C_EMIN) if normal else (zterm if a == 0.0 else NO_FLOOR))
            empty = et == NO_FLOOR
            et = max(et, prm.min_exp)
            eta[j] = et
            ok[j] = ((a == 0.0) | (normal & (et - F <= E - 23 + tz))) & ~empty & ~badb[j]
            tot[j] = a
        for g in range(gpn):
            ea = sea[i, j0 + g] + lsb0
            fa = np.float64(sga[i, j0 + g])
            wa = pa[i, j0 + g]
            Gr = G[g, r]
            er, fr, wr = eb[g], fb[g], wb[g]
            for j in range(N):
                t = np.float64(Gr[j]) * (fa * fr[j])
                ok[j] &= (t == 0.0) | (ea + er[j] >= eta[j] - F)
                tot[j] += t * (wa * wr[j])
        nslow = 0
        for j in range(N):
            x = tot[j]
            v = _f32_round(x, prm.out_mode, prm.subnormals_out) if x != 0.0 else 0.0
            v = v + 0.0 if prm.underflow_pos else v
            good = ok[j] and not bada
            ar[j] = v if good else ar[j]
            ok[j] = good
            nslow += not good
        if nslow:
            for j in range(N):
                if not ok[j]:
                    ar[j] = _group_slow(ar[j], G, r, j, i, sa, sb, j0, Gs, lsb0, p, prm)
    return acc


@njit(inline="always")
def _group_slow(a, G, r, j, i, sa, sb, j0, Gs, lsb0, p, prm):
    """The result of one block of :func:`_group_row` from the accumulator value ``a`` and the
    group sums ``G[:, r, j]`` (decoded)."""
    gpn = G.shape[0]
    code = np.int64(np.float32(a).view(np.int32)) & 0xFFFFFFFF
    c = unpack_in(code, p)
    nan = c[0] == K_NAN
    for g in range(gpn):
        nan = nan or sa[3][i, j0 + g] or sb[3][j, j0 + g]
        Gs[g] = np.int64(G[g, r, j])
    if nan:
        out = p.nan_code
    elif c[0] == K_INF:
        out = p.inf_code | (p.sign_mask if c[1] else 0)
    else:
        S, lsb, empty = _group_block(Gs, j0, j0 + gpn, i, j, sa, sb, c, lsb0, prm)
        out = 0 if empty else _round_rz(S, lsb, p, prm)
        if prm.underflow_pos and out == p.sign_mask:
            out = 0
    return decode_value(out, p)
