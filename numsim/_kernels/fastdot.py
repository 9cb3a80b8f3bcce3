"""Fast paths of the float dot units, each held bit for bit to the general kernel
(:mod:`numsim._kernels.dot`) by tests/test_fast_paths.py.

* :func:`matmul_fast`: chained truncating units with raw product exponents, one branch-free
  aligned sum per block (:func:`_fast_sum`) that LLVM vectorizes.
  :func:`bmm_fast` runs the same rows for a batch of small products in one call.
* :func:`chain_lanes_f32`, :func:`chain_lanes_bmm`: the same units (no chunks, RZ block results)
  with every step of a block across output columns, so that the block's scalar work
  vectorizes too; :func:`lane_operands` prepares their int32 operands.
* :func:`combine_blocks`, :func:`combine_f32`: the exact units when float64 BLAS sums every block
  exactly; results are rounded from a round-to-odd float64 sum (:func:`_odd_sum`, :func:`_odd64`,
  :func:`_f32_round`).
* :func:`fma_matmul_f32`: the sequential IEEE FP32 fused multiply-add chain (``fma-fp32``): the
  product of two FP32 values is exact in float64, and ``c + a * b`` rounded to odd in float64
  then to FP32 is the single rounding of the exact ``c + a * b``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .core import (
    K_FINITE,
    K_INF,
    K_NAN,
    K_ZERO,
    NEAREST_EVEN,
    TOWARD_ZERO,
    decode_value,
    unpack,
)
from .dotbase import ACC_CHAIN, NO_FLOOR, _place, _round_out, fast_bit_length, unpack_in
from .kulisch import KUL_SIZE, add_round, kul_clear


# ----------------------------------------------------------------------------------------------
# vectorized chained truncation
# ----------------------------------------------------------------------------------------------
@njit(inline="always")
def _fast_sum(am, ae, bm, be, cin, czero, cs, cE, csig, cP, prm, sh0):
    """Aligned, truncated sum ``(S, lsb, any)`` of one block (the whole of the given slices) of a
    truncating, raw-exponent unit with finite operands; ``any`` is False for an empty block.
    ``cin``: c is finite and non-zero; ``czero``: c is a zero (it joins with ``zero_join``).

    The arithmetic of :func:`_grid_sum` with ``term_mode = toward_zero``, written without branches
    so that LLVM vectorizes it: a term's grid position is ``(|prod| << (F - 2 man)) >> (eta - e_a -
    e_b)`` (the caller checks ``F >= 2 man``). The loops run over slices from index 0, which lets
    LLVM drop numba's negative-index wraparound.
    """
    n = am.size
    eta = NO_FLOOR
    if prm.zero_join:  # a zero operand has exponent zero_exp; every product joins the maximum
        z = prm.zero_exp
        for i in range(n):
            za = z if am[i] == 0 else 0
            zb = z if bm[i] == 0 else 0
            eta = max(eta, ae[i] + za + be[i] + zb)
    else:
        for i in range(n):
            pe = ae[i] + be[i]
            eta = max(eta, pe if am[i] * bm[i] != 0 else NO_FLOOR)
    if cin:
        eta = max(eta, max(cE, prm.c_emin))
    elif czero and prm.zero_join:
        eta = max(eta, prm.zero_exp)  # a zero c joins the maximum too
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
    """Result code and format of one row on the fast chained path (float outer accumulator
    optional).

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
            S, lsb, nonempty = _fast_sum(
                am[lo:hi],
                ae[lo:hi],
                bm[lo:hi],
                be[lo:hi],
                ck == K_FINITE,
                ck == K_ZERO,
                cs,
                cE,
                csig,
                cP,
                prm,
                sh0,
            )
            mag = abs(S)
            if prm.out_mode == TOWARD_ZERO and mag != 0:
                P = fast_bit_length(mag) - 1
                E = P + lsb
                if p.emin <= E <= p.emax:
                    ck, cs, cE, cP = K_FINITE, (1 if S < 0 else 0), E, man
                    csig = mag >> (P - man) if P >= man else mag << (man - P)
                    code = -1  # the code is built from the state at the end
                    continue
            code = (
                _round_out(1 if S < 0 else 0, mag, lsb, p, prm.out_mode, prm.subnormals_out)
                if nonempty
                else 0
            )
            if prm.underflow_pos and code == p.sign_mask:
                code = 0  # underflow_zero="positive": a result rounded to zero is +0
            ck, cs, cE, csig, cP = unpack_in(code, p)
        if code == -1:
            code = (
                ((cE + p.exp_bias) << man) | (csig & ((1 << man) - 1)) | (p.sign_mask if cs else 0)
            )
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
    return add_round(k, x, px, y, py, p, mode, np.int64(1))


@njit(parallel=True, cache=True)
def matmul_fast(am, ae, btm, bte, cbits, fc, p, po, prm):
    """[M, K] @ [K, N] (B given transposed) on the fast chained path; tiles keep operands in
    cache."""
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
                    code, f = _fast_row(
                        am[i], ae[i], btm[j], bte[j], cbits[i, j], fc, p, po, prm, k
                    )
                    out[i, j] = decode_value(code, f)
    return out


@njit(parallel=True, cache=True)
def bmm_fast(am, ae, btm, bte, fc, p, po, prm):
    """A batch of products ``[G, M, K] @ [G, K, N]`` (B given transposed: [G, N, K]) on the fast
    chained path with no accumulator input (c = +0): ``out[g]`` is :func:`matmul_fast` of slice
    ``g`` with zero C bits, output for output (one call for many small products, the attention
    heads of a transformer, say)."""
    G, M, _ = am.shape
    N = btm.shape[1]
    out = np.empty((G, M, N), np.float64)
    for t in prange(G * M):
        g = t // M
        i = t - g * M
        k = np.empty(KUL_SIZE, np.int64)
        kul_clear(k)
        for j in range(N):
            code, f = _fast_row(am[g, i], ae[g, i], btm[g, j], bte[g, j], 0, fc, p, po, prm, k)
            out[g, i, j] = decode_value(code, f)
    return out


# ----------------------------------------------------------------------------------------------
# chained truncation across lanes of output columns
# ----------------------------------------------------------------------------------------------
#: Exponent of a zero operand of a unit whose zero products stay out of the alignment maximum
#: (no ``zero_join``): below every real product exponent, so such a product never sets ``eta``
#: and its alignment shift saturates (its term is zero anyway).
NO_EXP = -(1 << 20)


@njit(parallel=True, cache=True)
def lane_operands(x, man, emin, zexp):
    """``(m, e, finite)`` of a C-contiguous float64 ``x`` [R, C] for the lane kernels in one
    pass: int32 ``m``, ``e`` as :func:`numsim._kernels.operands.split_operands` gives them
    (``x = m 2**(e - man)``, ``e`` clamped to ``emin``), the exponent of a zero ``m`` replaced by
    ``zexp``; ``finite``: no Inf or NaN (else the caller takes another path)."""
    R, C = x.shape
    m = np.empty((R, C), np.int32)
    e = np.empty((R, C), np.int32)
    bad = np.zeros(R, np.bool_)
    for r in prange(R):
        for c in range(C):
            k, s, E, sig, P = unpack(np.float64(x[r, c]).view(np.int64), 11, 52, 1023)
            mag = 0
            ee = zexp
            if k == K_FINITE:
                ee = max(E, emin)
                mag = sig >> (P - man + ee - E)
                ee = ee if mag != 0 else zexp
            elif k != K_ZERO:
                bad[r] = True
            m[r, c] = -mag if s else mag
            e[r, c] = ee
    return m, e, not bad.any()


@njit(inline="always")
def _pow2(k):
    """``2.0**k`` from its float64 bits (``-1022 <= k <= 1023``)."""
    return np.int64((np.int64(k) + 1023) << 52).view(np.float64)


@njit(inline="always")
def _chain_lanes_tile(am, ae, bm, be, acc, i0, i1, j0, w, prm, pmin, pmax, pman, eta, S):
    """Every block of the rows ``i0 .. i1 - 1`` and the columns ``j0 .. j0 + w - 1`` of
    :func:`chain_lanes_f32` (``acc``: the tile's accumulators, values, updated in place)."""
    K = am.shape[1]
    n = prm.n
    F = prm.frac_bits
    sh0 = F - 2 * prm.man_in
    cemin = prm.c_emin
    zc = prm.zero_exp if prm.zero_join else NO_EXP
    floor = max(prm.min_exp, -900)
    upos = prm.underflow_pos
    # Not amdfast._lane_group (nor its scalar form amdfast._group_sum), although the loops look
    # alike: here c is inside the block, so its exponent joins eta BEFORE the products are
    # aligned (every term truncated on the grid of max(products, c, min_exp)), where the CDNA3
    # late-c blocks align the products among themselves and floor the sum onto c's grid after;
    # and these sums reach (n + 2) 2**(F + 2) <= 2**53 (b200-e4m3: F = 25), so S is int64 lanes
    # with shifts capped at 63, where amdfast's bound n 2**(F + 2) < 2**31 lets it keep int32
    # lanes (eight to a vector) with shifts capped at 31.
    for lo in range(0, K, n):
        hi = min(lo + n, K)
        for i in range(i0, i1):
            a_m = am[i]
            a_e = ae[i]
            ai = acc[i - i0]
            x = a_e[lo]
            eq = be[lo, j0 : j0 + w]
            for j in range(w):  # int32 lanes (eight to a vector; the sums stay far inside)
                eta[j] = np.int32(x + eq[j])
            for q in range(lo + 1, hi):
                x = a_e[q]
                eq = be[q, j0 : j0 + w]
                for j in range(w):
                    eta[j] = max(eta[j], np.int32(x + eq[j]))
            for j in range(w):  # c joins the maximum: its exponent from its float64 bits
                cv = ai[j]
                f = (np.float64(cv).view(np.int64) >> 52) & 0x7FF
                ec = zc if cv == 0.0 else max(f - 1023, cemin)
                eta[j] = np.int32(max(max(eta[j], ec), floor))
                S[j] = 0
            for q in range(lo, hi):
                a = np.int64(a_m[q])
                x = a_e[q]
                mq = bm[q, j0 : j0 + w]
                eq = be[q, j0 : j0 + w]
                for j in range(w):
                    prod = a * mq[j]
                    u = (abs(prod) << sh0) >> min(eta[j] - x - eq[j], 63)
                    S[j] += -u if prod < 0 else u
            for j in range(w):
                cv = ai[j]
                e = eta[j]
                # c truncated onto the grid 2**(e - F) (|c| < 2**(e + 1): below 2**(F + 1))
                s = np.float64(S[j]) + np.trunc(cv * _pow2(F - e))
                E = ((np.float64(s).view(np.int64) >> 52) & 0x7FF) - 1023 + e - F
                g = max(E, pmin) - pman  # the result's grid: normal or subnormal
                r = np.trunc(s * _pow2(e - F - g)) * _pow2(g)
                r = math.copysign(math.inf, s) if E > pmax else r
                r = r + 0.0 if upos else r  # a result truncated to zero is +0
                ai[j] = r if np.isfinite(cv) else cv  # Inf and NaN stay


@njit(inline="always")
def _chain_lanes_out(am, ae, bm, be, C, out, t, TI, TJ, prm, pmin, pmax, pman):
    """Tile ``t`` (tiles of ``TI`` rows by ``TJ`` columns of ``out`` [M, N], row-major) of
    :func:`chain_lanes_f32`: its accumulators from ``C`` (+0 when ``C`` has no rows), every
    block by :func:`_chain_lanes_tile`, the float32 results into ``out``. The tile set-up shared
    by :func:`chain_lanes_f32` and :func:`chain_lanes_bmm`."""
    M, N = out.shape
    tiles_j = (N + TJ - 1) // TJ
    i0 = (t // tiles_j) * TI
    j0 = (t % tiles_j) * TJ
    i1 = min(i0 + TI, M)
    w = min(TJ, N - j0)
    acc = np.zeros((TI, TJ), np.float64)
    if C.shape[0]:
        for i in range(i0, i1):
            acc[i - i0, :w] = C[i, j0 : j0 + w]
    eta = np.empty(TJ, np.int32)
    S = np.empty(TJ, np.int64)
    _chain_lanes_tile(am, ae, bm, be, acc, i0, i1, j0, w, prm, pmin, pmax, pman, eta, S)
    for i in range(i0, i1):
        out[i, j0 : j0 + w] = acc[i - i0, :w]


@njit(parallel=True, cache=True)
def chain_lanes_f32(am, ae, bm, be, C, prm, pmin, pmax, pman):
    """:func:`matmul_fast` for chained truncating units with a truncating (RZ) block result,
    every step of a block across lanes of output columns (128 to a tile).

    ``am``, ``ae`` [M, K] and ``bm``, ``be`` [K, N] (B not transposed) are int32 significands and
    exponents of :func:`numsim.datapath._lower.split`, the exponent of a zero operand replaced by
    ``zero_exp`` (units with ``zero_join``) or :data:`NO_EXP`; ``C`` [M, N] float64 values of
    the accumulator input; ``pmin``, ``pmax``, ``pman``: emin, emax and fraction bits of the
    block result format. The caller checks the bounds (:func:`numsim.datapath.api
    ._chain_lanes_ok`): no chunks or outer accumulator, subnormal results kept, ``(n + 2)
    2**(F + 2) <= 2**53`` and a result format inside float64. Each block, on ``TJ`` independent
    lanes (rows of B from index 0, so LLVM vectorizes every loop):

    * ``eta = max(max_i (e_a_i + e_b_i), e_c, min_exp)``: a zero operand at its replaced
      exponent, ``e_c`` the exponent of c from its float64 bits clamped to ``c_emin``
      (``zero_exp`` or nothing for a zero c), as :func:`_fast_sum` takes it;
    * ``S = sum_i trunc(a_i b_i 2**(F - 2 man - (eta - e_a_i - e_b_i)))`` in int64 lanes, plus c
      truncated onto the grid ``2**(eta - F)``: the float64 ``trunc(c 2**(F - eta))``, exact;
    * the result ``S 2**(eta - F)`` truncated to the format's grid (``2**(E - man)`` for a
      result of exponent ``E``, ``2**(emin - man)`` below the normal range): float64 ``trunc``
      of the exact ``S`` (``|S| < 2**53``) scaled by powers of two, Inf above ``emax``, and +0 for
      a result truncated to zero when ``underflow_zero="positive"``; this is what
      :func:`numsim._kernels.dotbase._round_out` codes.

    An Inf or NaN accumulator stays (the operands are finite). Returns the float32 results.
    """
    M = am.shape[0]
    N = bm.shape[1]
    out = np.empty((M, N), np.float32)
    TI = 8
    TJ = 128  # 128 lanes measured about 10% faster than 64 on MiniLM's shapes
    for t in prange(((M + TI - 1) // TI) * ((N + TJ - 1) // TJ)):
        _chain_lanes_out(am, ae, bm, be, C, out, t, TI, TJ, prm, pmin, pmax, pman)
    return out


@njit(parallel=True, cache=True)
def chain_lanes_bmm(am, ae, bm, be, prm, pmin, pmax, pman):
    """A batch ``[G, M, K] @ [G, K, N]`` on :func:`chain_lanes_f32` with c = +0: ``out[g]`` is
    ``chain_lanes_f32`` of slice ``g`` with zero C, output for output (operands as there, with a
    leading batch axis; B not transposed)."""
    G, M, _ = am.shape
    N = bm.shape[2]
    out = np.empty((G, M, N), np.float32)
    no_c = np.zeros((0, 0), np.float64)  # c = +0: the tiles start from zeros
    TI = 8
    TJ = 64
    per = ((M + TI - 1) // TI) * ((N + TJ - 1) // TJ)
    for t in prange(G * per):
        g = t // per
        _chain_lanes_out(
            am[g], ae[g], bm[g], be[g], no_c, out[g], t - g * per, TI, TJ, prm, pmin, pmax, pman
        )
    return out


# ----------------------------------------------------------------------------------------------
# round-to-odd float64 sums
# ----------------------------------------------------------------------------------------------
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
        f32 = np.float32(math.copysign(math.inf, x)) if abs(x) >= 2.0**128 else f32
    f = np.float64(f32)
    if subnormals == 0:
        f = math.copysign(0.0, f) if abs(f) < 2.0**-126 else f
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
            d = s
            # an exact zero sum is +0 (float64 sums are zero exactly when the exact sum is)
            if chain:
                x = _odd64(a, s)
                v = _f32_round(x, prm.out_mode, prm.subnormals_out) if x != 0.0 else 0.0
            else:
                d = _f32_round(s, prm.out_mode, prm.subnormals_out) if s != 0.0 else 0.0
                x = _odd64(a, d)
                v = _f32_round(x, prm.acc_mode, 1) if x != 0.0 else 0.0
                v = v if np.isfinite(d) else d + a  # a block that overflowed: Inf (a is finite)
            # Inf / NaN stay (the exact sums are finite); an Inf meets a block that overflowed
            # to the other Inf: NaN
            ar[j] = v if np.isfinite(a) else a + d
    return acc


@njit(cache=True)
def combine_blocks(acc, S, p, pa, prm):
    """One block of the float64-BLAS exact path: ``acc`` (values) updated in place from exact sums
    ``S``.

    Chain: ``acc = round_out(acc + S)``; float accumulator: ``acc = round_acc(acc + round_out(S))``.
    Serial, like :func:`combine_f32`.
    """
    R, N = S.shape
    for r in range(R):
        for j in range(N):
            a = acc[r, j]
            if not np.isfinite(a) and prm.acc_kind == ACC_CHAIN:
                continue  # Inf stays Inf (the exact sums are finite); NaN stays NaN
            if prm.acc_kind == ACC_CHAIN:
                sign, mag, lsb = _odd_sum(a, S[r, j])
                acc[r, j] = decode_value(
                    _round_out(sign, mag, lsb, p, prm.out_mode, prm.subnormals_out), p
                )
            else:
                sign, mag, lsb = _odd_sum(0.0, S[r, j])
                d = decode_value(_round_out(sign, mag, lsb, p, prm.out_mode, prm.subnormals_out), p)
                if not (np.isfinite(d) and np.isfinite(a)):
                    acc[r, j] = d + a  # Inf / NaN: IEEE addition (Inf + -Inf is NaN)
                    continue
                sign, mag, lsb = _odd_sum(a, d)
                acc[r, j] = decode_value(
                    _round_out(sign, mag, lsb, pa, prm.acc_mode, np.int64(1)), pa
                )


# ----------------------------------------------------------------------------------------------
# sequential FP32 fused multiply-add
# ----------------------------------------------------------------------------------------------
@njit(parallel=True, cache=True)
def fma_matmul_f32(A, B, C):
    """``C + A @ B`` as a chain of IEEE FP32 fused multiply-adds along K (round to nearest even).

    ``acc = fl32(acc + a_k * b_k)`` for k = 0 .. K - 1 from ``acc = C``: the product of two FP32
    values (24-bit significands, exponents -149 .. 127) is exact in float64 and the TwoSum of
    ``acc + a_k b_k`` is exact (the magnitudes stay far inside float64's range), so the sum rounded
    to odd at 53 bits (:func:`_odd64`) and then to FP32 by the hardware conversion is the one
    rounding of the exact sum (Boldo & Melquiond 2008: 53 >= 24 + 2), subnormal results and
    overflow to Inf included. Signed zeros follow IEEE addition in float64 (an exact zero sum is
    +0 unless both terms are -0) and so does a product with Inf or NaN (``acc + a_k b_k`` in
    float64, then rounded; Inf - Inf is NaN). A NaN result is the canonical quiet NaN.

    Args:
        A: [M, K] float64 values exact in FP32.
        B: [K, N] float64 values exact in FP32.
        C: [M, N] float32 accumulator inputs.

    Returns:
        [M, N] float32 results.
    """
    M, K = A.shape
    N = B.shape[1]
    out = np.empty((M, N), np.float32)
    TI = 8  # rows per tile: each row of B is read once per tile
    TJ = 256  # columns per tile: the tile's accumulators stay in L1
    for t in prange((M + TI - 1) // TI):
        i0 = t * TI
        i1 = min(i0 + TI, M)
        acc = np.empty((TI, TJ), np.float64)
        for j0 in range(0, N, TJ):
            j1 = min(j0 + TJ, N)
            w = j1 - j0
            for i in range(i0, i1):
                ar = acc[i - i0]
                cr = C[i]
                for j in range(w):
                    ar[j] = np.float64(cr[j0 + j])
            for k in range(K):
                br = B[k, j0:j1]
                for i in range(i0, i1):
                    a = A[i, k]
                    ar = acc[i - i0]
                    for j in range(w):
                        x = ar[j]
                        p = a * br[j]
                        s = _odd64(x, p)
                        # a non-finite operand makes s non-finite (finite sums cannot overflow)
                        ar[j] = np.float64(np.float32(s if np.isfinite(s) else x + p))
            for i in range(i0, i1):
                ar = acc[i - i0]
                for j in range(w):
                    v = ar[j]
                    out[i, j0 + j] = np.float32(np.nan) if np.isnan(v) else np.float32(v)
    return out
