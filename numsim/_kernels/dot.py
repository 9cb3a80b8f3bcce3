"""The general kernel of the float dot units: blocks, accumulators, chunks (every unit knob).

Operands arrive pre-decomposed (:func:`operands.split_operands`): ``x = m * 2**(e - man)`` with
``m`` a signed integer significand and ``e = max(floor(log2|x|), emin)``, plus a kind (zero, finite,
Inf, NaN). A block on an alignment grid costs integer multiplies, shifts and adds: every term is
placed on the grid ``2**(eta - F)`` through :func:`core.split_round` and summed exactly in an int64.
Everything that must be exact beyond one int64 (exact blocks, a late c, two alignment groups, float
and exact accumulators) goes through a Kulisch accumulator of 32-bit limbs (:mod:`kulisch`). Every
rounding of a result goes through :func:`core.encode_value`, except the FP32 pairwise tree
(:func:`_pairwise_f32`, float64 round-to-odd) and a late c rounded in the accumulator
(:func:`kulisch.kul_round_at`); see the package docstring.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .core import K_FINITE, K_INF, K_NAN, K_ZERO, bit_length, decode_value
from .dotbase import (
    ACC_CHAIN,
    ACC_EXACT,
    ACC_FLOAT,
    K_NEG_ZERO,
    NO_DROP,
    NO_FLOOR,
    NO_LIMIT,
    _flags,
    _place,
    _round_out,
    _special_code,
    unpack_in,
)
from .fastdot import _f32_round, _odd64
from .kulisch import (
    _MASK32,
    KUL_LIMBS,
    KUL_LO,
    KUL_SIZE,
    add_round,
    kul_add,
    kul_add_code,
    kul_clear,
    kul_norm,
    kul_round,
    kul_round_at,
    kul_sign,
)


# ----------------------------------------------------------------------------------------------
# one block
# ----------------------------------------------------------------------------------------------
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
    """Alignment exponent of product i (NO_FLOOR for a zero product, unless ``zero_join``: then
    ``e_a + e_b`` with ``zero_exp`` added to the exponent of a zero operand, which is 0 for a
    plain zero and its block scale's exponent for a scaled one)."""
    prod = am[i] * bm[i]
    if prod == 0:
        if prm.zero_join:
            za = prm.zero_exp if am[i] == 0 else 0
            zb = prm.zero_exp if bm[i] == 0 else 0
            return ae[i] + za + be[i] + zb
        return NO_FLOOR
    if prm.raw:
        return ae[i] + be[i]
    return bit_length(abs(prod)) - 1 + ae[i] + be[i] - 2 * prm.man_in


@njit(cache=True)
def _grid_sum(am, ae, bm, be, lo, hi, step, cin, c, prm):
    """Aligned sum of products lo, lo+step, .. < hi (and c if ``cin``): ``(S, lsb)``; S == 0 if
    empty."""
    ck, cs, cE, csig, cP = c
    eta = NO_FLOOR
    for i in range(lo, hi, step):
        eta = max(eta, _prod_exp(am, ae, bm, be, i, prm))
    if cin:
        eta = max(eta, max(cE, prm.c_emin))
    elif prm.zero_join and prm.c_inside and ck == K_ZERO:
        eta = max(eta, prm.zero_exp)  # a zero c inside the block joins the maximum
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


@njit(inline="always")
def _has_terms(am, bm, lo, hi, step, prm):
    """True when products lo, lo+step, .. < hi have an alignment exponent (any product with
    ``zero_join``; else a non-zero one)."""
    for i in range(lo, hi, step):
        if prm.zero_join or am[i] * bm[i] != 0:
            return True
    return False


@njit(cache=True)
def _late_common(am, ae, bm, be, lo, hi, c, p, prm):
    """Output code of a block with ``late_frac_bits`` (unit step 6, CDNA3): the product sum and
    c placed at ``E = max(e, e_c)``, the sum on ``2**(E - F_S)``, c on ``2**(E - F_c)``.

    Every partial is an int64: a group sum on its grid ``2**(e_g - F)`` (:func:`_grid_sum`, at
    most ``F + 2 + log2 n`` bits); the odd/even sums on the grid of the larger eta by the
    unit's ``odd_even_rounding`` (the unit requires one with ``odd_even``); the sum on
    ``2**(E - F_S)`` and c on ``2**(E - F_c)`` by ``late_rounding`` (:func:`dotbase._place`), then
    added on the finer of the two grids (the unit bounds it to 62 bits)."""
    ck, cs, cE, csig, cP = c
    F = prm.frac_bits
    step = 2 if prm.odd_even else 1
    S = 0
    e = NO_FLOOR
    e0 = NO_FLOOR
    S0 = 0
    for g in range(step):
        if not _has_terms(am, bm, lo + g, hi, step, prm):
            continue
        Sg, lsb = _grid_sum(am, ae, bm, be, lo + g, hi, step, np.bool_(False), c, prm)
        eg = lsb + F
        if e == NO_FLOOR:
            S, e = Sg, eg
        else:  # two groups: each on the grid of the larger eta (odd_even_rounding)
            e0, S0 = e, S
            e = max(e0, eg)
            S = _signed_place(S0, e0 - e, prm.oe_mode) + _signed_place(Sg, eg - e, prm.oe_mode)
    if ck == K_FINITE:
        ec = max(cE, prm.c_emin)
    elif prm.zero_join:
        ec = prm.zero_exp  # a zero c has the exponent of a zero operand
    else:
        ec = NO_FLOOR
    E = max(e, ec)
    if E == NO_FLOOR:
        return 0
    fs = prm.late_fs
    fc = prm.late_fc
    G = max(fs, fc)
    T = 0
    if e != NO_FLOOR:
        T = _signed_place(S, (e - F) - (E - fs), prm.late_mode) << (G - fs)
    if ck == K_FINITE and not (prm.c_drop != NO_DROP and ec < E - prm.c_drop):
        u = _place(csig, cE - cP - E + fc, cs, prm.late_mode)
        T += (-u if cs else u) << (G - fc)
    return _round_out(1 if T < 0 else 0, abs(T), E - G, p, prm.out_mode, prm.subnormals_out)


@njit(inline="always")
def _signed_place(S, sh, mode):
    """The signed integer ``S * 2**sh`` rounded to an integer by ``mode`` (sign-magnitude; a
    negative ``S`` rounds its magnitude up under ``toward_negative``)."""
    neg = 1 if S < 0 else 0
    u = _place(abs(S), sh, neg, mode)
    return -u if neg else u


@njit(inline="always")
def _limit_flags(am, ae, bm, be, lo, hi, prm):
    """(pos, neg): some product ``|a_i b_i| >= 2**product_limit`` is positive / negative."""
    pos = False
    neg = False
    for i in range(lo, hi):
        prod = am[i] * bm[i]
        if prod != 0:
            E = bit_length(abs(prod)) - 1 + ae[i] + be[i] - 2 * prm.man_in
            if E >= prm.prod_limit:
                if prod > 0:
                    pos = True
                else:
                    neg = True
    return pos, neg


@njit(inline="always")
def _all_negative_zeros(am, ak, bm, bk, lo, hi, ck, cs):
    """True when c and every product lo..hi-1 are zeros of negative sign (a product's sign is
    the exclusive or of its factors'; a -0 operand has kind ``K_NEG_ZERO``)."""
    if ck != K_ZERO or cs != 1:
        return False
    for i in range(lo, hi):
        if am[i] * bm[i] != 0:
            return False
        na = ak[i] == K_NEG_ZERO or am[i] < 0
        nb = bk[i] == K_NEG_ZERO or bm[i] < 0
        if na == nb:
            return False
    return True


@njit(cache=True)
def _block_to_kul(a, b, lo, hi, c, k, prm):
    """Add the exact pre-rounding block value (unit steps 2-6) to the Kulisch accumulator ``k``."""
    am, ae, _ = a
    bm, be, _ = b
    ck, cs, cE, csig, cP = c
    cfin = ck == K_FINITE
    if prm.exact:
        for i in range(lo, hi):
            prod = am[i] * bm[i]
            if prod != 0:
                kul_add(k, 1 if prod < 0 else 0, abs(prod), ae[i] + be[i] - 2 * prm.man_in)
        if cfin:
            kul_add(k, cs, csig, cE - cP)
        return
    cin = prm.c_inside != 0 and cfin  # a bool, as the other _grid_sum calls pass
    step = 2 if prm.odd_even else 1
    for g in range(step):
        S, lsb = _grid_sum(am, ae, bm, be, lo + g, hi, step, cin, c, prm)
        kul_add(k, 1 if S < 0 else 0, abs(S), lsb)
    if cfin and not cin:
        _late_c(k, c, prm)


@njit(cache=True)
def _late_c(k, c, prm):
    """Add a late c to the block sum held in ``k`` (unit step 6): the partial with the smaller
    exponent (c on a tie) goes on the grid of the larger one's exponent by the term rounding."""
    _, cs, cE, csig, cP = c
    sign, t = kul_norm(k)
    if t >= k[KUL_LIMBS]:
        eS = KUL_LO + 32 * t + bit_length(k[t]) - 1
        ec = max(cE, prm.c_emin)
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
    """FP32 ``round(a + b)`` of two FP32 values held in float64 (one rounding through round-to-odd).

    IEEE 754-2019 section 6.3: an exact zero sum of non-zero terms is +0, two zeros add as IEEE
    does (``-0 + -0 = -0``); NaN and Inf as IEEE addition gives them (``+Inf + -Inf`` is NaN).
    """
    if not (np.isfinite(a) and np.isfinite(b)):
        return a + b
    if a == 0.0 and b == 0.0:
        return a + b
    x = _odd64(a, b)
    return _f32_round(x, prm.out_mode, prm.subnormals_out) if x != 0.0 else 0.0


@njit(inline="always")
def _special_f64(m, kind):
    """float64 value of a non-finite operand (the sign of an Inf travels in ``m``)."""
    if kind == K_NAN:
        return math.nan
    return math.copysign(math.inf, np.float64(m))


@njit(cache=True)
def _pairwise_f32(a, b, lo, hi, c, p, prm):
    """:func:`_pairwise` for FP32 results, in float64 arithmetic: every product is exact in float64
    and every addition is one rounding of the exact sum (:func:`_add_f32`).

    Specials travel through the tree as IEEE values (MMA-Sim ``amd.py``, ``pairwise_dot``): a
    product beyond the FP32 range is an Inf leaf, so ``+Inf + -Inf`` within the tree, or against
    an infinite c, is NaN; an input Inf times a zero is NaN. An exactly zero product is +0 (the
    hardware's ``fma(a, b, +0)``).
    """
    am, ae, ak = a
    bm, be, bk = b
    ck, cs, cE, csig, cP = c
    m = hi - lo
    v = np.empty(m, np.float64)
    for i in range(m):
        ka = ak[lo + i]
        kb = bk[lo + i]
        if ka == K_INF or ka == K_NAN or kb == K_INF or kb == K_NAN:
            va = _special_f64(am[lo + i], ka) if ka == K_INF or ka == K_NAN else am[lo + i]
            vb = _special_f64(bm[lo + i], kb) if kb == K_INF or kb == K_NAN else bm[lo + i]
            v[i] = np.float64(va) * np.float64(vb)  # Inf * 0 = NaN; only signs and kinds matter
            continue
        prod = am[lo + i] * bm[lo + i]
        x = math.ldexp(np.float64(prod), int(ae[lo + i] + be[lo + i] - 2 * prm.man_in))
        v[i] = _f32_round(x, prm.out_mode, prm.subnormals_out) if prod != 0 else 0.0
    while m > 1:
        h = m // 2
        for j in range(h):
            v[j] = _add_f32(v[2 * j], v[2 * j + 1], prm)
        if m % 2:
            v[h] = v[m - 1]
        m -= h
    if ck == K_FINITE:
        cv = math.ldexp(np.float64(-csig if cs else csig), int(cE - cP))
    elif ck == K_INF:
        cv = -math.inf if cs else math.inf
    elif ck == K_NAN:
        cv = math.nan
    else:
        cv = -0.0 if cs else 0.0
    r = _add_f32(v[0], cv, prm)
    if np.isnan(r):
        return p.nan_code
    return np.int64(np.float32(r).view(np.int32)) & _MASK32


@njit(cache=True)
def _pairwise(a, b, lo, hi, c, p, prm, k):
    """Output code of a pairwise block (products rounded, a tree of rounded additions, c last)."""
    if p.bits == 32 and p.man_bits == 23:  # FP32 results: float64 arithmetic, no accumulator
        return _pairwise_f32(a, b, lo, hi, c, p, prm)
    am, ae, _ = a
    bm, be, _ = b
    ck, cs, cE, csig, cP = c
    m = hi - lo
    v = np.empty(m, np.int64)
    no = np.bool_(False)  # not a literal (one kul_round specialization; see the package doc)
    for i in range(m):
        prod = am[lo + i] * bm[lo + i]
        if prod != 0:
            kul_add(k, 1 if prod < 0 else 0, abs(prod), ae[lo + i] + be[lo + i] - 2 * prm.man_in)
        v[i] = kul_round(k, no, no, no, p, prm.out_mode, prm.subnormals_out)
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
def _block(a, b, lo, hi, c, p, prm, k):
    """Output code of one block ``c + sum_{i=lo..hi-1} a_i b_i``.

    ``a``, ``b``: operand rows ``(m, e, kind)`` (:func:`operands.split_operands`); ``c`` unpacked
    (kind, sign, E, sig, P) as :func:`dotbase.unpack_in` gives it.
    """
    am, ae, ak = a
    bm, be, bk = b
    ck, cs = c[0], c[1]
    if prm.pairwise and p.bits == 32 and p.man_bits == 23:
        return _pairwise_f32(a, b, lo, hi, c, p, prm)  # IEEE specials inside the tree
    nan, pinf, ninf = _scan(am, ak, bm, bk, lo, hi)
    if nan or pinf or ninf or ck == K_NAN or ck == K_INF:
        n2, p2, m2 = _flags(ck, cs)
        return _special_code(nan or n2, pinf or p2, ninf or m2, p)
    if prm.prod_limit != NO_LIMIT:
        lp, ln = _limit_flags(am, ae, bm, be, lo, hi, prm)
        if lp or ln:
            return _special_code(False, lp, ln, p)
    if prm.pairwise:
        code = _pairwise(a, b, lo, hi, c, p, prm, k)
    elif prm.late_fs >= 0:
        code = _late_common(am, ae, bm, be, lo, hi, c, p, prm)
    elif not prm.exact and not prm.odd_even and (prm.c_inside or ck != K_FINITE):
        S, lsb = _grid_sum(am, ae, bm, be, lo, hi, np.int64(1), ck == K_FINITE, c, prm)
        code = _round_out(1 if S < 0 else 0, abs(S), lsb, p, prm.out_mode, prm.subnormals_out)
    else:
        _block_to_kul(a, b, lo, hi, c, k, prm)
        no = np.bool_(False)
        code = kul_round(k, no, no, no, p, prm.out_mode, prm.subnormals_out)
    code = _zero_sign(code, p, prm)
    if prm.ieee_zero and code == 0 and _all_negative_zeros(am, ak, bm, bk, lo, hi, ck, cs):
        return p.sign_mask  # -0 + -0 = -0 (IEEE 754 section 6.3)
    return code


@njit(inline="always")
def _zero_sign(code, p, prm):
    """``code`` with a negative zero made +0 when the unit's ``underflow_zero`` is positive."""
    if prm.underflow_pos and code == p.sign_mask:
        return 0
    return code


# ----------------------------------------------------------------------------------------------
# one row: blocks, accumulators, chunks
# ----------------------------------------------------------------------------------------------
@njit(cache=True)
def float_row(a, b, cbits, fc, p, pa, po, prm, k, kx):
    """Result code of one row of a float unit; ``cbits``: the caller's c in format ``fc``.

    ``p``: block output format, ``pa``: float inner accumulator format, ``po``: outer format (or
    the result format for exact accumulators); ``k``, ``kx``: two Kulisch scratch arrays; ``a``,
    ``b``: operand rows ``(m, e, kind)``.
    """
    am, _, ak = a
    bm, _, bk = b
    K = am.size
    chunk = prm.chunk if prm.chunk > 0 else K
    # the outer (or only) accumulator starts at c; its code lives in format fc until first rounded
    ocode = cbits
    of = fc
    onan = False
    opinf = False
    oninf = False
    kul_clear(kx)
    # a zero c typed as unpack_in's tuple (int64, not literal zeros), so _block and
    # _block_to_kul compile once for both kinds of call (a cold-cache compile-time saving)
    zero_c = (np.int64(K_ZERO), np.int64(0), np.int64(0), np.int64(0), np.int64(0))
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
                code = _block(a, b, lo, hi, unpack_in(code, cf), p, prm, k)
                cf = p
            elif prm.acc_kind == ACC_FLOAT:
                d = _block(a, b, lo, hi, zero_c, p, prm, k)
                code = add_round(k, code, cf, d, p, pa, prm.acc_mode, np.int64(1))
                cf = pa
            else:
                n2, p2, m2 = _scan(am, ak, bm, bk, lo, hi)
                nan, pinf, ninf = nan or n2, pinf or p2, ninf or m2
                _block_to_kul(a, b, lo, hi, zero_c, k, prm)
        if prm.acc_kind == ACC_EXACT:  # the one rounding of an exact accumulator
            code = kul_round(k, nan, pinf, ninf, p, prm.out_mode, prm.subnormals_out)
            code = _zero_sign(code, p, prm)
            cf = p
        if prm.chunk == 0:
            return code, cf
        if prm.outer_kind == ACC_FLOAT:
            ocode = add_round(k, ocode, of, code, cf, po, prm.outer_mode, np.int64(1))
            of = po
        else:  # exact outer: the chunk's rounded value joins exactly
            kd, s = kul_add_code(kx, code, cf)
            n2, p2, m2 = _flags(kd, s)
            onan, opinf, oninf = onan or n2, opinf or p2, oninf or m2
    if prm.outer_kind == ACC_EXACT:
        code = kul_round(kx, onan, opinf, oninf, po, prm.out_mode, prm.subnormals_out)
        return _zero_sign(code, po, prm), po
    return ocode, of


@njit(parallel=True, cache=True)
def float_rows(am, ae, ak, bm, be, bk, ra, rb, cbits, fc, p, pa, po, prm):
    """Decoded results of float-unit rows: row r pairs row ``ra[r]`` of a with row ``rb[r]`` of
    b."""
    R = ra.size
    out = np.empty(R, np.float64)
    for r in prange(R):
        k = np.empty(KUL_SIZE, np.int64)
        kx = np.empty(KUL_SIZE, np.int64)
        kul_clear(k)
        i, j = ra[r], rb[r]
        code, f = float_row(
            (am[i], ae[i], ak[i]), (bm[j], be[j], bk[j]), cbits[r], fc, p, pa, po, prm, k, kx
        )
        out[r] = decode_value(code, f)
    return out
