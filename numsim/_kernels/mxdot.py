"""Kernels of MX DotGeneral (:mod:`numsim.datapath.mx`) that work on exact block or group sums.

* :func:`group_sums`: exact sums of runs of ``g`` element products (integers) for row pairs.
* :func:`group_rows`: the grouped units (``DotUnit.group``, ``group_exponent="scales"``; NVIDIA
  ``kind::mxf4nvf4``): each group sum times its two block scales is one term whose alignment
  exponent is the sum of the scales' exponents; the terms and c go on the grid ``2**(eta - F)``
  through :func:`dotbase._place` (``core.split_round``), are summed exactly in an int64 and the
  block is rounded by :func:`dotbase._round_out`, as the general kernel does with products.
  :func:`numsim.datapath.mx.mx_matmul` computes the group sums of a GEMM with float64 BLAS over
  the group slices (exact: the caller checks the integer bound) and
  :func:`numsim.datapath.mx.mx_dot` with :func:`group_sums`; both feed :func:`group_rows`.
* :func:`scale_blocks`: exact float64 block sums of unscaled elements times ``2**(e_A + e_B)``
  (the MX fast path of the exact units: the block sums from float64 BLAS, the scales as exact
  powers of two).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .core import K_FINITE, K_INF, K_NAN, decode_value
from .dotbase import C_EMIN, NO_FLOOR, _place, _round_out, unpack_in


@njit(parallel=True, cache=True)
def group_sums(qa, qb, ra, rb, g):
    """``G[j, r] = sum(qa[ra[r], j*g:(j+1)*g] * qb[rb[r], j*g:(j+1)*g])`` for int64 rows, as
    float64 (exact: the caller bounds the sums below 2**53)."""
    R = ra.size
    ng = qa.shape[1] // g
    G = np.empty((ng, R), np.float64)
    for r in prange(R):
        x = qa[ra[r]]
        y = qb[rb[r]]
        for j in range(ng):
            s = 0
            for i in range(j * g, (j + 1) * g):
                s += x[i] * y[i]
            G[j, r] = s
    return G


@njit(inline="always")
def _group_block(G, r, j0, j1, ia, ib, sga, sea, sza, sgb, seb, szb, gpa, gpb, c, lsb0, prm):
    """Aligned sum ``(S, lsb, empty)`` of the groups ``j0..j1-1`` of one row and the unpacked c.

    Group ``j`` of a row pairs scale block ``j // gpa`` of a (row ``ia``) with ``j // gpb`` of b;
    its term is ``G * sig_a * sig_b * 2**(e_a + e_b + lsb0)`` at alignment exponent
    ``e_a + e_b`` (a zero scale: ``zero_exp``, or the group is dropped without ``zero_join``).
    """
    ck, cs, cE, csig, cP = c
    eta = NO_FLOOR
    for j in range(j0, j1):
        ba = j // gpa
        bb = j // gpb
        za = sza[ia, ba]
        zb = szb[ib, bb]
        if (za or zb) and not prm.zero_join:
            continue
        ea = prm.zero_exp if za else sea[ia, ba]
        eb = prm.zero_exp if zb else seb[ib, bb]
        eta = max(eta, ea + eb)
    if ck == K_FINITE:
        eta = max(eta, max(cE, C_EMIN))
    elif prm.zero_join:
        eta = max(eta, prm.zero_exp)  # a zero c joins the maximum
    if eta == NO_FLOOR:
        return 0, 0, True
    eta = max(eta, prm.min_exp)
    F = prm.frac_bits
    S = 0
    for j in range(j0, j1):
        ba = j // gpa
        bb = j // gpb
        t = np.int64(G[j, r]) * sga[ia, ba] * sgb[ib, bb]
        if t != 0:
            neg = 1 if t < 0 else 0
            u = _place(abs(t), sea[ia, ba] + seb[ib, bb] + lsb0 - eta + F, neg, prm.term_mode)
            S += -u if neg else u
    if ck == K_FINITE:
        u = _place(csig, cE - cP - eta + F, cs, prm.term_mode)
        S += -u if cs else u
    return S, eta - F, False


@njit(parallel=True, cache=True)
def group_rows(
    G, ra, rb, sga, sea, sza, sna, sgb, seb, szb, snb, g, bsa, bsb, cbits, fc, p, lsb0, prm
):
    """Decoded results of a grouped unit (chain accumulator) for the row pairs ``(ra[r], rb[r])``.

    ``G[:, r]``: the exact group sums of pair ``r`` (integers held in float64, value
    ``G * 2**lsb0`` before the scales' significands); per scale block of a: significand ``sga``
    (value ``sga * 2**(sea - man)``, ``man`` folded into ``lsb0``), exponent ``sea``,
    zero flag ``sza``, NaN flag ``sna`` (the same for b);
    ``g``: products per group, ``bsa``/``bsb``: products per scale block;
    ``cbits``: the caller's c in format ``fc``; ``p``: output format. Blocks of ``prm.n``
    products chain through the rounded result; a NaN scale in a block makes its result NaN.
    """
    R = ra.size
    ng = G.shape[0]
    gpa = bsa // g
    gpb = bsb // g
    gpn = prm.n // g
    out = np.empty(R, np.float64)
    for r in prange(R):
        ia = ra[r]
        ib = rb[r]
        code = cbits[r]
        cf = fc
        for j0 in range(0, ng, gpn):
            j1 = min(j0 + gpn, ng)
            c = unpack_in(code, cf)
            nan = c[0] == K_NAN
            for j in range(j0, j1):
                nan = nan or sna[ia, j // gpa] or snb[ib, j // gpb]
            if nan:
                code = p.nan_code
            elif c[0] == K_INF:
                code = p.inf_code | (p.sign_mask if c[1] else 0)
            else:
                S, lsb, empty = _group_block(
                    G, r, j0, j1, ia, ib, sga, sea, sza, sgb, seb, szb, gpa, gpb, c, lsb0, prm
                )
                code = (
                    0
                    if empty
                    else _round_out(
                        1 if S < 0 else 0, abs(S), lsb, p, prm.out_mode, prm.subnormals_out
                    )
                )
                if prm.underflow_pos and code == p.sign_mask:
                    code = 0
            cf = p
        out[r] = decode_value(code, cf)
    return out


@njit(parallel=True, cache=True)
def scale_blocks(S, ea, eb):
    """``S[i, j] * 2**(ea[i] + eb[j])`` in place (exact: the caller keeps the exponents inside
    float64's normal range)."""
    M, N = S.shape
    for i in prange(M):
        for j in range(N):
            S[i, j] = math.ldexp(S[i, j], int(ea[i] + eb[j]))
    return S
