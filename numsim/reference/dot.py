"""Exact, slow reference of the dot-product units and their accumulators.

Plain Python on ``Fraction``: every quantity is an exact rational; the alignment grid, the
truncation, the exact sums, the roundings and the integer registers are written as the formulas of
the :mod:`numsim.datapath.unit` docstring, independently of the integer shift-and-add and limb
kernels in ``numsim._kernels.dot``. Never imports numba.

Values are ``Fraction`` or the floats ``math.nan`` / ``+-math.inf``; float results are output
*codes* (so that the sign of a zero is kept) or their decoded values; integer units give the exact
register value. The NVIDIA knobs of :class:`~numsim.datapath.DotUnit` (``zero_exponent``,
``underflow_zero``, ``c_format``, ``b_format``, ``c_entry="epilogue"``) and the AMD CDNA3 ones
(``late_frac_bits``, ``late_rounding``, ``odd_even_rounding``, ``late_c_drop``,
``product_limit``; ``exact_zero``) are modelled here from their definitions (MMA-Sim, arXiv
2511.10909), not from the kernels. A negative zero operand or c is given as the float ``-0.0``
(it matters only with ``exact_zero="ieee"``). Scaled operands (MX
blocks) are given as element values plus per-element scale values: the product is
``a * sa * b * sb`` and its raw exponent ``e(a) + e(sa) + e(b) + e(sb)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction
from typing import TYPE_CHECKING

from numsim.formats import FloatFormat, fp32
from numsim.policies import Overflow, RoundMode
from numsim.reference.codec import decode, encode, floor_log2, pow2

if TYPE_CHECKING:  # the descriptors only; no kernel code is imported
    from numsim.datapath.unit import Accumulator, DotUnit

Value = Fraction | float


def _is_special(v: Value) -> bool:
    return isinstance(v, float) and not math.isfinite(v)


def _exp(x: Fraction, emin: int) -> int:
    """Alignment exponent of a non-zero operand: ``max(floor(log2|x|), emin)``."""
    return max(floor_log2(abs(x)), emin)


def _special_sum(values: Sequence[Value]) -> float | None:
    """NaN / Inf of a sum of terms of which some may be special, or None if all are finite."""
    if any(isinstance(v, float) and math.isnan(v) for v in values):
        return math.nan
    infs = {v > 0 for v in values if isinstance(v, float) and math.isinf(v)}
    if len(infs) == 2:
        return math.nan
    if infs:
        return math.inf if infs.pop() else -math.inf
    return None


def _special(terms: Sequence[tuple[Value, Value]], c: Value) -> float | None:
    """NaN / Inf result of a block, or None when every operand is finite."""
    vals: list[Value] = [c]
    for a, b in terms:
        if any(isinstance(v, float) and math.isnan(v) for v in (a, b)):
            vals.append(math.nan)
        elif any(isinstance(v, float) and math.isinf(v) for v in (a, b)):
            vals.append(
                math.nan if a == 0 or b == 0 else (math.inf if (a > 0) == (b > 0) else -math.inf)
            )
    return _special_sum(vals)


def _on_grid(t: Fraction, q: Fraction, mode: RoundMode) -> Fraction:
    """``t`` rounded to a multiple of ``q``: truncation or ties-to-even of the magnitude, or
    toward minus infinity (``toward_negative``: the largest multiple of ``q`` not above ``t``)."""
    if mode == RoundMode.toward_negative:
        return math.floor(t / q) * q
    units = abs(t) / q
    k = math.floor(units) if mode == RoundMode.toward_zero else round(units)
    return (k * q) if t > 0 else -(k * q)


def _flush(x: Value, fmt: FloatFormat, unit: DotUnit) -> Value:
    """``x`` with a subnormal value of ``fmt`` flushed to zero when the unit has FTZ inputs."""
    if unit.subnormals_in or _is_special(x) or x == 0 or abs(Fraction(x)) >= pow2(fmt.emin):
        return x
    return Fraction(0)


def _aligned(
    unit: DotUnit, prods: list[tuple[Fraction, int]], c: Fraction, c_joins: bool = False
) -> Fraction:
    """Exact sum of one alignment group: terms on the grid ``2**(eta - F)`` (c joins if
    non-zero, at ``max(floor(log2|c|), c_format.emin)``; a zero c joins at ``zero_exponent``
    when ``c_joins``)."""
    exps = [e for _, e in prods]
    if c != 0:
        exps.append(_exp(c, unit.c_format.emin))
    elif c_joins and unit.zero_exponent is not None:
        exps.append(unit.zero_exponent)
    if not exps:
        return Fraction(0)
    if unit.frac_bits is None:
        return sum((t for t, _ in prods), c)
    eta = max(exps)
    if unit.min_exp is not None:
        eta = max(eta, unit.min_exp)
    q = pow2(eta - unit.frac_bits)
    total = sum((_on_grid(t, q, unit.term_rounding) for t, _ in prods), Fraction(0))
    return total + (_on_grid(c, q, unit.term_rounding) if c != 0 else 0)


def block_sum(
    unit: DotUnit,
    a: Sequence[Value],
    b: Sequence[Value],
    c: Value,
    sa: Sequence[Fraction] | None = None,
    sb: Sequence[Fraction] | None = None,
    scale_emin: int = -(1 << 20),
    a_emin: int | None = None,
    b_emin: int | None = None,
) -> Value:
    """Exact value of one block before the output rounding (steps 1-6 of the unit docstring).

    Args:
        unit: the dot unit (at most ``unit.n`` products are expected).
        a: operand values exact in ``unit.in_format`` (already flushed if the unit is FTZ).
        b: operand values exact in ``unit.in_format``.
        c: accumulator value.
        sa: per-element scale values of ``a`` (MX blocks); None for 1.
        sb: per-element scale values of ``b``.
        scale_emin: emin of the scale format (the exponent clamp of a subnormal scale).
        a_emin, b_emin: exponent clamp of a subnormal element of a / b (MX elements in their own
            formats, ``element_exponents="own"``); None: ``unit.in_format.emin``.

    Returns:
        The aligned, rounded-per-term and exactly summed value, or a float NaN / Inf; for a
        ``pairwise`` unit, the tree's rounded value plus c, exactly (the output rounding is the
        tree's last addition).
    """
    sa = sa if sa is not None else [Fraction(1)] * len(a)
    sb = sb if sb is not None else [Fraction(1)] * len(b)
    pairs = list(zip(a, b))
    ieee_tree = unit.pairwise and unit.out_format.name == "fp32"
    if ieee_tree:  # FP32 trees (the AMD units): IEEE specials inside the tree
        return _pairwise_sum(unit, [_leaf(x, y, s, t) for (x, y), s, t in zip(pairs, sa, sb)], c)
    special = _special(pairs, c)  # other pairwise formats settle specials before the tree
    if special is not None:
        return special
    limit = _product_limit(unit, pairs, sa, sb)
    if limit is not None:
        return limit
    if unit.pairwise:  # every position is a leaf of the tree, a zero product included
        return _pairwise_sum(unit, [_leaf(x, y, s, t) for (x, y), s, t in zip(pairs, sa, sb)], c)
    emin_a = unit.in_format.emin if a_emin is None else a_emin
    emin_b = unit.operand_b_format.emin if b_emin is None else b_emin
    z = unit.zero_exponent
    if unit.group is not None:
        return _aligned(unit, _group_terms(unit, pairs, sa, sb, scale_emin), Fraction(c), True)
    groups: list[list[tuple[Fraction, int]]] = [[], []]
    for i, (x, y) in enumerate(pairs):
        fx, fy = Fraction(x), Fraction(y)
        t = fx * sa[i] * fy * sb[i]
        if t == 0 and z is None:
            continue  # zero products are dropped (also those of a zero scale, NVFP4)
        if t == 0:  # zero_exponent: a zero factor has exponent z; the product joins the maximum
            exp = sum(
                z if v == 0 else _exp(v, m)
                for v, m in ((fx, emin_a), (fy, emin_b), (sa[i], scale_emin), (sb[i], scale_emin))
            )
        elif unit.raw_product_exponent:
            exp = (
                _exp(fx, emin_a)
                + _exp(fy, emin_b)
                + _exp(sa[i], scale_emin)
                + _exp(sb[i], scale_emin)
            )
        else:
            exp = floor_log2(abs(t))
        groups[i % 2 if unit.odd_even else 0].append((t, exp))
    fc = Fraction(c)
    if unit.c_inside:
        return _aligned(unit, groups[0], fc, c_joins=True)
    if unit.late_frac_bits is not None:
        return _late_at_common_exponent(unit, groups if unit.odd_even else groups[:1], fc)
    return _late(
        unit, _aligned(unit, groups[0], Fraction(0)) + _aligned(unit, groups[1], Fraction(0)), fc
    )


def _product_limit(
    unit: DotUnit, pairs: list[tuple[Value, Value]], sa: Sequence[Fraction], sb: Sequence[Fraction]
) -> float | None:
    """+-Inf or NaN when a product reaches ``2**product_limit`` in magnitude (both signs: NaN),
    else None (``product_limit``: CDNA3's products beyond the FP32 range)."""
    if unit.product_limit is None:
        return None
    lim = pow2(unit.product_limit)
    signs = set()
    for (x, y), s, t in zip(pairs, sa, sb):
        p = Fraction(x) * s * Fraction(y) * t
        if abs(p) >= lim:
            signs.add(p > 0)
    if not signs:
        return None
    if len(signs) == 2:
        return math.nan
    return math.inf if signs.pop() else -math.inf


def _eta(unit: DotUnit, prods: list[tuple[Fraction, int]]) -> int | None:
    """Alignment exponent of a group of products (step 4, without c), None when it is empty."""
    if not prods:
        return None
    eta = max(e for _, e in prods)
    return eta if unit.min_exp is None else max(eta, unit.min_exp)


def _late_at_common_exponent(
    unit: DotUnit, groups: list[list[tuple[Fraction, int]]], c: Fraction
) -> Fraction:
    """Step 6 with ``late_frac_bits = (F_S, F_c)``: the product sum and c at ``E = max(e, e_c)``.

    Each group is aligned at its own eta ``e_g`` (grid ``2**(e_g - F)``); with
    ``odd_even_rounding`` each group sum is then put on the grid ``2**(max e_g - F)`` by it. The
    sum ``S`` (exponent ``e = max e_g``) goes on ``2**(E - F_S)``, c on ``2**(E - F_c)``, both by
    ``late_rounding`` (``term_rounding`` when None); c counts as zero when ``late_c_drop = d``
    and ``e_c < E - d``. A zero c has exponent ``zero_exponent`` (no exponent when None)."""
    assert unit.late_frac_bits is not None and unit.frac_bits is not None
    fs, fc = unit.late_frac_bits
    etas = [_eta(unit, g) for g in groups]
    sums = [_aligned(unit, g, Fraction(0)) for g in groups]
    known = [e for e in etas if e is not None]
    e = max(known) if known else None
    if e is not None and unit.odd_even_rounding is not None:
        q = pow2(e - unit.frac_bits)
        sums = [_on_grid(t, q, unit.odd_even_rounding) for t in sums]
    S = sum(sums, Fraction(0))
    if c != 0:
        ec: int | None = _exp(c, unit.c_format.emin)
    else:
        ec = unit.zero_exponent
    exps = [x for x in (e, ec) if x is not None]
    if not exps:
        return S + c
    E = max(exps)
    mode = unit.late_rounding if unit.late_rounding is not None else unit.term_rounding
    s_part = _on_grid(S, pow2(E - fs), mode)
    drop = unit.late_c_drop is not None and ec is not None and ec < E - unit.late_c_drop
    c_part = Fraction(0) if drop or c == 0 else _on_grid(c, pow2(E - fc), mode)
    return s_part + c_part


def _is_neg_zero(v: Value) -> bool:
    """True for the float ``-0.0`` (a negative zero operand or c)."""
    return isinstance(v, float) and v == 0 and math.copysign(1.0, v) < 0


def _ieee_zero(a: Sequence[Value], b: Sequence[Value], c: Value) -> bool:
    """True when c and every product ``a_i * b_i`` are zeros of negative sign (the sign of a
    product is the exclusive or of its factors'; ``exact_zero="ieee"``)."""
    if not _is_neg_zero(c):
        return False
    for x, y in zip(a, b):
        if x != 0 and y != 0:
            return False
        neg_x = _is_neg_zero(x) or (x != 0 and x < 0)
        neg_y = _is_neg_zero(y) or (y != 0 and y < 0)
        if neg_x == neg_y:
            return False
    return True


def _group_terms(
    unit: DotUnit,
    pairs: list[tuple[Value, Value]],
    sa: Sequence[Fraction],
    sb: Sequence[Fraction],
    scale_emin: int,
) -> list[tuple[Fraction, int]]:
    """Terms of a grouped unit (``group_exponent="scales"``): per run of ``unit.group`` products,
    the exact sum times the two scales, at the sum of the scales' exponents (a zero scale at
    ``zero_exponent``; a group with a zero scale is dropped when that is None)."""
    g = unit.group
    assert g is not None
    out = []
    for lo in range(0, len(pairs), g):
        s_a, s_b = sa[lo], sb[lo]
        if any(s != s_a for s in sa[lo : lo + g]) or any(s != s_b for s in sb[lo : lo + g]):
            raise ValueError(f"group at {lo}: the scales must be constant within a group")
        if (s_a == 0 or s_b == 0) and unit.zero_exponent is None:
            continue
        total = sum((Fraction(x) * Fraction(y) for x, y in pairs[lo : lo + g]), Fraction(0))
        exp = sum(unit.zero_exponent if s == 0 else _exp(s, scale_emin) for s in (s_a, s_b))
        out.append((total * s_a * s_b, exp))
    return out


def _late(unit: DotUnit, s: Fraction, c: Fraction) -> Fraction:
    """``s + c`` for a late c (step 6): the partial with the smaller exponent (c on a tie) goes on
    the grid ``2**(e - F)`` of the larger one's exponent ``e`` by the term rounding."""
    if unit.frac_bits is None or s == 0 or c == 0:
        return s + c
    es, ec = floor_log2(abs(s)), _exp(c, unit.c_format.emin)
    if ec > es:
        return _on_grid(s, pow2(ec - unit.frac_bits), unit.term_rounding) + c
    return s + _on_grid(c, pow2(es - unit.frac_bits), unit.term_rounding)


def _leaf(x: Value, y: Value, s: Fraction, t: Fraction) -> Value:
    """One product of a pairwise tree: exact, or IEEE's NaN / Inf when an operand is special
    (``Inf * 0`` is NaN). Specials are leaves of the tree, not a verdict on the whole block: MMA-Sim
    ``amd.py`` adds them in the tree, so an Inf meets an overflowed product of the other sign."""
    if (
        isinstance(x, float)
        and not math.isfinite(x)
        or isinstance(y, float)
        and not math.isfinite(y)
    ):
        return float(x) * float(y)
    return Fraction(x) * s * Fraction(y) * t


def _pairwise_sum(unit: DotUnit, prods: list[Value], c: Value) -> Value:
    """Pairwise block before its last rounding: every product rounded to the output format (a
    product beyond its range becomes an Inf), the tree of rounded additions (IEEE specials), then
    ``c`` added exactly (the caller's output rounding is the last addition's)."""

    def rnd(v: Value) -> Value:
        return decode(unit.out_format, round_output(unit, v))

    vals = [rnd(t) for t in prods]
    while len(vals) > 1:
        pairs = [rnd(_exact_add(x, y)) for x, y in zip(vals[::2], vals[1::2])]
        vals = pairs + vals[len(vals) - len(vals) % 2 :]
    return _exact_add(vals[0], c)


def round_to(fmt: FloatFormat, v: Value, rounding: RoundMode, subnormals: bool = True) -> int:
    """Code of an exact value in ``fmt``: one rounding, overflow to Inf.

    An exact zero gives +0; a tiny non-zero value keeps its sign through the rounding; with
    ``subnormals=False`` a subnormal result becomes a zero of the same sign.
    """
    if isinstance(v, float):
        return encode(fmt, v, overflow=Overflow.nonsaturate)
    if v != 0 and floor_log2(abs(v)) > fmt.emax:
        return encode(fmt, math.inf if v > 0 else -math.inf, overflow=Overflow.nonsaturate)
    code = encode(fmt, v, rounding=rounding, overflow=Overflow.nonsaturate)
    if not subnormals:
        r = decode(fmt, code)
        if isinstance(r, Fraction) and r != 0 and abs(r) < pow2(fmt.emin):
            code &= fmt.sign_mask
    return code


def round_output(unit: DotUnit, v: Value) -> int:
    """Output code of an exact block value (step 7): ``round_to`` the unit's output format."""
    return round_to(unit.out_format, v, unit.out_rounding, unit.subnormals_out)


def block_code(unit: DotUnit, v: Value) -> int:
    """Code of a block result (or of the one rounding of an exact accumulator): ``round_output``,
    and a zero is +0 when ``unit.underflow_zero`` is ``"positive"``."""
    code = round_output(unit, v)
    if unit.underflow_zero == "positive" and code == unit.out_format.sign_mask:
        return 0
    return code


def _epilogue(unit: DotUnit, code: int, c: Value) -> int:
    """FP32 code of ``RNE_fp32(d + c)`` (``c_entry="epilogue"``): ``d`` the K loop's result
    ``code`` in the unit's result format, one IEEE binary32 addition (an exact zero sum is -0
    only when both addends are -0; ``c`` is -0 when given as the float ``-0.0``)."""
    d = decode(_loop_format(unit), code)
    special = _special_sum([d, c])
    if special is not None:
        return round_to(fp32, special, RoundMode.nearest_even)
    total = Fraction(d) + Fraction(c)
    if total == 0:
        d_neg = d == 0 and code & _loop_format(unit).sign_mask
        c_neg = isinstance(c, float) and c == 0 and math.copysign(1.0, c) < 0
        return fp32.sign_mask if d_neg and c_neg else 0
    return round_to(fp32, total, RoundMode.nearest_even)


def _loop_format(unit: DotUnit) -> FloatFormat | None:
    """Format of the K loop's result: the last accumulator's (None for an integer result)."""
    last = unit.outer if unit.outer is not None else unit.accumulator
    if last.kind == "float":
        return last.format
    if last.kind == "int":
        return None
    return unit.out_format


def result_format(unit: DotUnit) -> FloatFormat | None:
    """Format of a unit's results: the last accumulator's (None for an integer result), FP32
    for an epilogue unit."""
    if unit.c_placement == "epilogue":
        return fp32
    return _loop_format(unit)


class _Register:
    """A P-bit two's-complement integer register counting its overflows (values in units of
    ``lsb``)."""

    def __init__(self, acc: Accumulator, start: Fraction, lsb: Fraction) -> None:
        self.bits, self.saturate, self.lsb = acc.bits, acc.overflow == "saturate", lsb
        r = start / lsb
        if r.denominator != 1 or not self._fits(int(r)):
            raise ValueError(f"c={start}: not an integer multiple of {lsb} within {self.bits} bits")
        self.r, self.overflows = int(r), 0

    def _fits(self, r: int) -> bool:
        return -(1 << (self.bits - 1)) <= r < (1 << (self.bits - 1))

    def add(self, v: Fraction) -> None:
        r = self.r + v / self.lsb
        assert r.denominator == 1, "integer units add integers"
        r = int(r)
        if not self._fits(r):
            self.overflows += 1
            if self.saturate:
                r = max(min(r, (1 << (self.bits - 1)) - 1), -(1 << (self.bits - 1)))
            else:
                r = ((r + (1 << (self.bits - 1))) % (1 << self.bits)) - (1 << (self.bits - 1))
        self.r = r

    @property
    def value(self) -> Fraction:
        return self.r * self.lsb


def _float_add(acc: Accumulator, x: Value, y: Value) -> int:
    """Code of ``round(x + y)`` in a float accumulator (specials propagate)."""
    special = _special_sum([x, y])
    if special is not None:
        return round_to(acc.format, special, acc.rounding)
    return round_to(acc.format, Fraction(x) + Fraction(y), acc.rounding)


def _exact_add(x: Value, y: Value) -> Value:
    """``x + y`` exactly (specials propagate)."""
    special = _special_sum([x, y])
    return special if special is not None else Fraction(x) + Fraction(y)


def dot_result(
    unit: DotUnit,
    a: Sequence[Value],
    b: Sequence[Value],
    c: Value = 0,
    sa: Sequence[Fraction] | None = None,
    sb: Sequence[Fraction] | None = None,
    scale_emin: int = -(1 << 20),
    chunk_scales: Sequence[Value] | None = None,
    a_emin: int | None = None,
    b_emin: int | None = None,
) -> tuple[int | Fraction, int]:
    """The unit's result for ``c + sum a_i b_i`` over all K and the number of integer overflows.

    Args:
        unit: the unit.
        a, b: operand values; c: the caller's accumulator input.
        sa, sb, scale_emin: per-element scales (see :func:`block_sum`).
        a_emin, b_emin: element exponent clamps of a and b (see :func:`block_sum`).
        chunk_scales: one factor per chunk applied to each chunk result before it joins the outer
            accumulator (MX scales of an integer unit); None for 1.

    Returns:
        ``(result, overflows)``: the result is a code of :func:`result_format` for float results
        and the exact register value (``Fraction``) for integer results.
    """
    if len(a) != len(b) or not a:
        raise ValueError(f"a and b must have the same non-zero length; got {len(a)} and {len(b)}")
    if unit.c_placement == "epilogue":  # the K loop from a zero accumulator, then c in FP32 RNE
        r, over = dot_result(replace(unit, c_entry=None), a, b, 0, sa, sb, scale_emin, chunk_scales)
        assert isinstance(r, int), "an epilogue unit has a float result"
        return _epilogue(unit, r, c), over
    K, n = len(a), unit.n
    sa = sa if sa is not None else [Fraction(1)] * K
    sb = sb if sb is not None else [Fraction(1)] * K
    # a NaN scale makes every product of its block NaN (OCP MX: the whole block is NaN)
    a = [math.nan if _is_special(s) else x for x, s in zip(a, sa)]
    b = [math.nan if _is_special(s) else y for y, s in zip(b, sb)]
    sa = [Fraction(1) if _is_special(s) else s for s in sa]
    sb = [Fraction(1) if _is_special(s) else s for s in sb]
    fin = unit.in_format
    if isinstance(fin, FloatFormat):
        a = [_flush(x, fin, unit) for x in a]
        b = [_flush(y, unit.operand_b_format, unit) for y in b]
        c = _flush(c, fp32, unit)
    acc_def, outer_def = unit.accumulator, unit.outer
    chunk = unit.chunk or K
    int_lsb = pow2(-2 * getattr(fin, "frac_bits", 0))
    overflows = 0
    ieee_zero = unit.exact_zero == "ieee"
    fc: Value = c if _is_special(c) or (ieee_zero and _is_neg_zero(c)) else Fraction(c)
    outer: Value | _Register = fc
    if outer_def is not None and outer_def.kind == "int":
        outer = _Register(outer_def, Fraction(fc), int_lsb)
    code = 0  # code of the last rounded float result
    for ci, lo0 in enumerate(range(0, K, chunk)):
        start: Value = fc if outer_def is None else Fraction(0)
        acc: Value | _Register = (
            _Register(acc_def, Fraction(start), int_lsb) if acc_def.kind == "int" else start
        )
        for lo in range(lo0, min(lo0 + chunk, K), n):
            hi = min(lo + n, K)
            blk = (a[lo:hi], b[lo:hi])
            sc = (sa[lo:hi], sb[lo:hi], scale_emin, a_emin, b_emin)
            if isinstance(acc, _Register):
                acc.add(sum((Fraction(x) * Fraction(y) for x, y in zip(*blk)), Fraction(0)))
            elif acc_def.kind == "chain":
                code = block_code(unit, block_sum(unit, *blk, acc, *sc))
                if ieee_zero and code == 0 and _ieee_zero(*blk, acc):
                    code = unit.out_format.sign_mask  # -0 + -0 = -0 (IEEE 754 section 6.3)
                acc = decode(unit.out_format, code)
                if ieee_zero and code == unit.out_format.sign_mask:
                    acc = -0.0  # the sign of a zero result reaches the next block
            elif acc_def.kind == "float":
                d = decode(
                    unit.out_format, block_code(unit, block_sum(unit, *blk, Fraction(0), *sc))
                )
                code = _float_add(acc_def, acc, d)
                acc = decode(acc_def.format, code)
            else:  # exact
                acc = _exact_add(acc, block_sum(unit, *blk, Fraction(0), *sc))
        if isinstance(acc, _Register):
            overflows += acc.overflows
            part: Value = acc.value
        else:
            part = acc
        if acc_def.kind == "exact":  # the one rounding of an exact accumulator (never chunked)
            code = block_code(unit, acc)
        if outer_def is None:
            return (part if isinstance(acc, _Register) else code), overflows
        if chunk_scales is not None:
            f = chunk_scales[ci]
            part = _special_sum([part, f]) or Fraction(part) * Fraction(f)
        if isinstance(outer, _Register):
            outer.add(Fraction(part))
        elif outer_def.kind == "float":
            code = _float_add(outer_def, outer, part)
            outer = decode(outer_def.format, code)
        else:
            outer = _exact_add(outer, part)
    if isinstance(outer, _Register):
        return outer.value, overflows + outer.overflows
    if outer_def is not None and outer_def.kind == "exact":
        code = block_code(unit, outer)
    return code, overflows


def dot_code(unit: DotUnit, a: Sequence[Value], b: Sequence[Value], c: Value = 0) -> int:
    """Result code of a unit with a float result (see :func:`dot_result`)."""
    r, _ = dot_result(unit, a, b, c)
    assert isinstance(r, int), "dot_code needs a float result"
    return r


def dot(unit: DotUnit, a: Sequence[Value], b: Sequence[Value], c: Value = 0) -> Value:
    """Decoded value of :func:`dot_code` (a ``Fraction``, or float NaN / +-Inf)."""
    fmt = result_format(unit)
    r, _ = dot_result(unit, a, b, c)
    return r if fmt is None else decode(fmt, r)
