"""Exact, slow reference of the generic block-FMA dot unit (shared/references/datapaths.md §1.1).

Plain Python on ``Fraction``: every quantity is an exact rational; the alignment grid, the
truncation, the exact sum and the single output rounding are written as the formulas of §1.1,
independently of the integer shift-and-add kernels in ``numsim._kernels.dot``. Never imports numba.

Values are ``Fraction`` or the floats ``math.nan`` / ``+-math.inf``; results are output *codes*
(so that the sign of a zero is kept) or their decoded values.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING, Optional, Sequence, Union

from numsim.policies import Overflow, RoundMode
from numsim.reference.codec import decode, encode, floor_log2, pow2

if TYPE_CHECKING:  # the descriptor only; no kernel code is imported
    from numsim.datapath.unit import DotUnit

Value = Union[Fraction, float]
#: The c operand is FP32: a subnormal c aligns at FP32's emin.
C_EMIN = -126


def _exp(x: Fraction, emin: int) -> int:
    """Alignment exponent of a non-zero operand: ``max(floor(log2|x|), emin)``."""
    return max(floor_log2(abs(x)), emin)


def _special(terms: list[tuple[Value, Value]], c: Value) -> Optional[float]:
    """NaN / Inf result of a block, or None when every operand is finite."""
    infs = set()
    nan = isinstance(c, float) and math.isnan(c)
    if isinstance(c, float) and math.isinf(c):
        infs.add(c > 0)
    for a, b in terms:
        if any(isinstance(v, float) and math.isnan(v) for v in (a, b)):
            nan = True
            continue
        if any(isinstance(v, float) and math.isinf(v) for v in (a, b)):
            if a == 0 or b == 0:
                nan = True
            else:
                infs.add((a > 0) == (b > 0))
    if nan or len(infs) == 2:
        return math.nan
    if infs:
        return math.inf if infs.pop() else -math.inf
    return None


def _on_grid(t: Fraction, q: Fraction, mode: RoundMode) -> Fraction:
    """``t`` rounded in magnitude to a multiple of ``q``: truncation or ties-to-even."""
    units = abs(t) / q
    k = math.floor(units) if mode == RoundMode.toward_zero else round(units)
    return (k * q) if t > 0 else -(k * q)


def block_sum(unit: DotUnit, a: Sequence[Value], b: Sequence[Value], c: Value) -> Value:
    """Exact value of one block before the output rounding (§1.1 steps 1-6).

    Args:
        unit: the dot unit (at most ``unit.n`` products are expected).
        a: operand values exact in ``unit.in_format``.
        b: operand values exact in ``unit.in_format``.
        c: accumulator value (exact in FP32).

    Returns:
        The aligned, truncated and exactly summed value, or a float NaN / Inf.
    """
    pairs = list(zip(a, b))
    special = _special(pairs, c)
    if special is not None:
        return special
    emin = unit.in_format.emin
    prods: list[tuple[Fraction, int]] = []
    for x, y in pairs:
        fx, fy = Fraction(x), Fraction(y)
        if fx == 0 or fy == 0:
            continue  # zero products are dropped
        t = fx * fy
        exp = _exp(fx, emin) + _exp(fy, emin) if unit.raw_product_exponent else floor_log2(abs(t))
        prods.append((t, exp))
    fc = Fraction(c)
    exps = [e for _, e in prods]
    if unit.c_inside and fc != 0:
        exps.append(_exp(fc, C_EMIN))
    if not exps:
        return fc
    eta = max(exps)
    if unit.min_exp is not None:
        eta = max(eta, unit.min_exp)
    q = pow2(eta - unit.frac_bits)
    total = sum((_on_grid(t, q, unit.term_rounding) for t, _ in prods), Fraction(0))
    if unit.c_inside:
        return total + (_on_grid(fc, q, unit.term_rounding) if fc != 0 else 0)
    return total + fc


def round_output(unit: DotUnit, v: Value) -> int:
    """Output code of an exact block value (§1.1 step 7): one rounding, overflow to Inf.

    An exact zero gives +0; a tiny non-zero value keeps its sign through the rounding.
    """
    fmt = unit.out_format
    if isinstance(v, float):
        return encode(fmt, v, overflow=Overflow.nonsaturate)
    if v != 0 and floor_log2(abs(v)) > fmt.emax:
        return encode(fmt, math.inf if v > 0 else -math.inf, overflow=Overflow.nonsaturate)
    code = encode(fmt, v, rounding=unit.out_rounding, overflow=Overflow.nonsaturate)
    if not unit.subnormals_out:
        r = decode(fmt, code)
        if isinstance(r, Fraction) and r != 0 and abs(r) < pow2(fmt.emin):
            code &= fmt.sign_mask
    return code


def dot_code(unit: DotUnit, a: Sequence[Value], b: Sequence[Value], c: Value = 0) -> int:
    """Output code of the chained dot product ``c + sum a_i b_i`` (blocks of ``unit.n``, §1.1 step 8)."""
    if len(a) != len(b) or not a:
        raise ValueError(f"a and b must have the same non-zero length; got {len(a)} and {len(b)}")
    acc: Value = c if isinstance(c, float) and not math.isfinite(c) else Fraction(c)
    code = 0
    for lo in range(0, len(a), unit.n):
        code = round_output(unit, block_sum(unit, a[lo:lo + unit.n], b[lo:lo + unit.n], acc))
        acc = decode(unit.out_format, code)
    return code


def dot(unit: DotUnit, a: Sequence[Value], b: Sequence[Value], c: Value = 0) -> Value:
    """Decoded value of :func:`dot_code` (a ``Fraction``, or float NaN / +-Inf)."""
    return decode(unit.out_format, dot_code(unit, a, b, c))
