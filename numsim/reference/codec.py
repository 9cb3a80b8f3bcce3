"""Exact, slow reference encoder/decoder for element formats (pure Python, Fractions only).

This module is the independent oracle the fast kernels are tested against: it reads bit fields
and rounds with exact rational arithmetic, with no numpy, numba or float arithmetic. Values are
``Fraction`` (finite; the sign of zero travels separately) or the floats ``math.nan``,
``math.inf`` and ``-math.inf``.
"""

from __future__ import annotations

import math
from fractions import Fraction

from numsim.formats import FloatFormat, IntFormat, Specials
from numsim.policies import NanPolicy, Overflow, RoundMode

Value = Fraction | float
ElementFormat = FloatFormat | IntFormat


def pow2(k: int) -> Fraction:
    """Exact ``2**k`` for any integer ``k``."""
    return Fraction(2) ** k


def floor_log2(m: Fraction) -> int:
    """Exact ``floor(log2(m))`` of a positive rational."""
    e = m.numerator.bit_length() - m.denominator.bit_length()
    return e if pow2(e) <= m else e - 1


def max_value(fmt: ElementFormat) -> Fraction:
    """Exact largest finite value of ``fmt``."""
    if isinstance(fmt, IntFormat):
        return fmt.max_int * pow2(-fmt.frac_bits)
    return decode(fmt, fmt.max_code_magnitude)  # type: ignore[return-value]


def decode(fmt: ElementFormat, code: int) -> Value:
    """Exact value of ``code``.

    Args:
        fmt: element format.
        code: unsigned integer holding the format's bits.

    Returns:
        A ``Fraction`` for finite codes (``Fraction(0)`` for both zeros), ``math.nan`` for NaN
        codes and ``+-math.inf`` for infinities.
    """
    if isinstance(fmt, IntFormat):
        n = code & ((1 << fmt.bits) - 1)
        if fmt.signed and n >= 1 << (fmt.bits - 1):
            n -= 1 << fmt.bits
        return n * pow2(-fmt.frac_bits)
    width = fmt.exp_bits + fmt.man_bits
    negative = fmt.signed and bool((code >> width) & 1)
    mag = code & ((1 << width) - 1)
    field, frac = mag >> fmt.man_bits, mag & ((1 << fmt.man_bits) - 1)
    if fmt.specials == Specials.ieee and field == (1 << fmt.exp_bits) - 1:
        if frac:
            return math.nan
        return -math.inf if negative else math.inf
    if fmt.specials == Specials.fn and mag == (1 << width) - 1:
        return math.nan
    if fmt.specials == Specials.fnuz and negative and mag == 0:
        return math.nan
    if field == 0 and not fmt.field0_normal:  # zero or subnormal
        value = frac * pow2(fmt.emin - fmt.man_bits) if fmt.subnormals else Fraction(0)
    else:
        value = ((1 << fmt.man_bits) + frac) * pow2(field - fmt.bias - fmt.man_bits)
    return -value if negative else value


def _policy(cls: type, value: object, name: str):  # type: ignore[no-untyped-def]
    """Accept an enum member, its integer value or its name."""
    if isinstance(value, int) and not isinstance(value, cls):
        return cls(value)
    return cls.parse(value, name)


def _round_units(
    u: Fraction, negative: bool, rounding: RoundMode, random: int, random_bits: int
) -> int:
    """Round a non-negative magnitude ``u`` (in units of the quantum) to an integer.

    Args:
        u: magnitude divided by the quantum.
        negative: sign of the value being rounded (directed modes need it).
        rounding: rounding mode.
        random: the random integer of stochastic rounding, in ``[0, 2**random_bits)``.
        random_bits: its width R.
    """
    n = math.floor(u)
    f = u - n
    if f == 0:
        return n
    if rounding == RoundMode.nearest_even:
        up = f > Fraction(1, 2) or (f == Fraction(1, 2) and n % 2 == 1)
    elif rounding == RoundMode.nearest_away:
        up = f >= Fraction(1, 2)
    elif rounding == RoundMode.toward_zero:
        up = False
    elif rounding == RoundMode.toward_positive:
        up = not negative
    elif rounding == RoundMode.toward_negative:
        up = negative
    else:  # stochastic
        up = math.floor(f * 2**random_bits) + random >= 2**random_bits
    return n + 1 if up else n


def _nan_code(fmt: FloatFormat, negative: bool) -> int:
    """Canonical NaN code of ``fmt`` (which must have NaN), signed where the format allows."""
    width = fmt.exp_bits + fmt.man_bits
    sign = (1 << width) if (negative and fmt.signed) else 0
    if fmt.specials == Specials.ieee:
        return (((1 << fmt.exp_bits) - 1) << fmt.man_bits) | (1 << (fmt.man_bits - 1)) | sign
    if fmt.specials == Specials.fn:
        return ((1 << width) - 1) | sign
    return 1 << width  # fnuz: the negative-zero code


def _zero_code(fmt: ElementFormat, negative: bool) -> int:
    """Code of a zero; formats without zero give their NaN code."""
    if isinstance(fmt, IntFormat):
        return 0
    if not fmt.has_zero:
        return _nan_code(fmt, False) if fmt.has_nan else 0
    return fmt.sign_mask if (negative and fmt.has_negative_zero) else 0


def _overflow_code(fmt: FloatFormat, negative: bool, to_infinity: bool) -> int:
    """Code of a magnitude beyond max: Inf, else NaN, when ``to_infinity``; otherwise +-max."""
    sign = fmt.sign_mask if negative else 0
    if to_infinity and fmt.has_inf:
        return (((1 << fmt.exp_bits) - 1) << fmt.man_bits) | sign
    if to_infinity and fmt.has_nan:
        return _nan_code(fmt, negative)
    return fmt.max_code_magnitude | sign


def _magnitude_code(fmt: FloatFormat, r: Fraction) -> int:
    """Code (sign clear) of a positive representable magnitude ``r``."""
    e = floor_log2(r)
    if e < fmt.emin:  # subnormal
        return int(r / pow2(fmt.emin - fmt.man_bits))
    significand = int(r / pow2(e - fmt.man_bits))  # in [2**man_bits, 2**(man_bits+1))
    return ((e + fmt.bias) << fmt.man_bits) | (significand - (1 << fmt.man_bits))


def encode(
    fmt: ElementFormat,
    x: Value,
    *,
    negative_zero: bool = False,
    nan_negative: bool = False,
    rounding: RoundMode = RoundMode.nearest_even,
    overflow: Overflow = Overflow.saturate,
    nan: NanPolicy = NanPolicy.raise_error,
    random: int = 0,
    random_bits: int = 0,
) -> int:
    """Encode one value exactly.

    Args:
        fmt: element format.
        x: a ``Fraction`` (ints and finite floats are converted exactly) or a float nan/+-inf.
        negative_zero: ``x`` is -0 (only read when ``x == 0``).
        nan_negative: the sign bit of a NaN ``x``.
        rounding: rounding mode (applied to the magnitude, unbounded exponent above).
        overflow: what a magnitude rounding above max becomes (ints always saturate).
        nan: NaN handling for formats without a NaN code.
        random: stochastic rounding's random integer in ``[0, 2**random_bits)``.
        random_bits: R, 1..32, for stochastic rounding.

    Returns:
        The code as an unsigned int.

    Raises:
        ValueError: NaN input, no NaN code and ``nan=raise_error``; bad stochastic arguments.
    """
    rounding = _policy(RoundMode, rounding, "rounding")
    overflow = _policy(Overflow, overflow, "overflow")
    nan = _policy(NanPolicy, nan, "nan")
    if rounding == RoundMode.stochastic and not (
        1 <= random_bits <= 32 and 0 <= random < 2**random_bits
    ):
        raise ValueError(
            f"stochastic rounding needs random_bits in 1..32 and 0 <= random < 2**R, "
            f"got {random_bits=}, {random=}"
        )
    is_int = isinstance(fmt, IntFormat)
    if isinstance(x, float):
        if math.isnan(x):
            if not is_int and fmt.has_nan:
                return _nan_code(fmt, nan_negative)
            if nan == NanPolicy.raise_error:
                raise ValueError(
                    f"NaN input and {fmt.name} has no NaN (pass nan='zero' to map it to 0)"
                )
            return _zero_code(fmt, nan_negative != (nan == NanPolicy.zero_sign_inverted))
        negative_zero = negative_zero or (x == 0 and math.copysign(1.0, x) < 0)
        if math.isinf(x):
            if is_int:
                return (fmt.max_int if x > 0 else fmt.min_int) & ((1 << fmt.bits) - 1)
            if x < 0 and not fmt.signed:
                return _nan_code(fmt, False) if fmt.has_nan else 0
            return _overflow_code(fmt, x < 0, overflow == Overflow.nonsaturate)
    x = Fraction(x)
    if x == 0:
        return _zero_code(fmt, negative_zero)
    negative, m = x < 0, abs(x)

    if is_int:
        n = _round_units(m * pow2(fmt.frac_bits), negative, rounding, random, random_bits)
        k = min(max(-n if negative else n, fmt.min_int), fmt.max_int)
        return k & ((1 << fmt.bits) - 1)

    if negative and not fmt.signed:
        return _nan_code(fmt, False) if fmt.has_nan else 0
    sign = fmt.sign_mask if negative else 0
    if m < pow2(fmt.emin) and not fmt.subnormals:
        if not fmt.has_zero:  # below the smallest value: that value
            return _magnitude_code(fmt, pow2(fmt.emin)) | sign
        quantum = pow2(fmt.emin)  # flush-to-zero: round on {0, 2**emin}
    else:
        quantum = pow2(max(floor_log2(m), fmt.emin) - fmt.man_bits)
    r = _round_units(m / quantum, negative, rounding, random, random_bits) * quantum
    if r == 0:
        return _zero_code(fmt, negative)
    if r > max_value(fmt):
        to_infinity = overflow == Overflow.nonsaturate and (
            rounding in (RoundMode.nearest_even, RoundMode.nearest_away, RoundMode.stochastic)
            or (rounding == RoundMode.toward_positive and not negative)
            or (rounding == RoundMode.toward_negative and negative)
        )
        return _overflow_code(fmt, negative, to_infinity)
    return _magnitude_code(fmt, r) | sign
