"""Rounding, overflow, scale-selection, NaN and accumulation policies.

Every choice a specification leaves open is an explicit argument; nothing here is ambient state.
Members are ``IntEnum``s so that kernels receive plain integers (the kernels' constants, e.g.
``numsim._kernels.core.NEAREST_EVEN``, are derived from these members); the public functions also
accept the member names as strings (``rounding="nearest_even"``).

References: IEEE 754-2019 §4.3 (rounding-direction attributes) and §7.4 (overflow); OCP OFP8 v1.0
(SAT / OVF conversion modes and its conversion table); OCP MX v1.0 §6.3 and arXiv 2310.10537
Algorithm 1 (scale selection); the scale rules of microsoft/microxcaling, pytorch/ao
(torchao/prototype/mx_formats) and jax-ml/ml_dtypes 0.6.0 (library profiles).
"""

from __future__ import annotations

import difflib
import enum


class _Policy(enum.IntEnum):
    @classmethod
    def parse(cls, value: object, argument: str) -> _Policy:
        """Return the member named by ``value`` (a member or its name); raise a clear error."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            try:
                return cls[value.lower().replace("-", "_")]
            except KeyError:
                pass
        names = [m.name for m in cls]
        close = difflib.get_close_matches(str(value), names, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
            f"{argument}={value!r} is not a {cls.__name__}; expected one of {names}{hint}"
        )


class RoundMode(_Policy):
    """How a value between two representable neighbours is rounded."""

    #: roundTiesToEven (IEEE 754 §4.3.1): nearest; a tie goes to the even significand.
    nearest_even = 0
    #: roundTiesToAway (IEEE 754 §4.3.1): nearest; a tie goes away from zero (microxcaling
    #: "nearest").
    nearest_away = 1
    #: roundTowardZero (IEEE 754 §4.3.2): truncate the magnitude.
    toward_zero = 2
    #: roundTowardPositive (IEEE 754 §4.3.2): the smallest representable value >= x.
    toward_positive = 3
    #: roundTowardNegative (IEEE 754 §4.3.2): the largest representable value <= x.
    toward_negative = 4
    #: Up in magnitude iff floor(f * 2**R) + r >= 2**R, with f the discarded fraction of an ulp and
    #: r a uniform R-bit random integer (from ``seed`` or explicit ``random_bits``).
    stochastic = 5


class Overflow(_Policy):
    """What a finite value whose rounded magnitude exceeds the format's maximum becomes."""

    #: Clamp to +-max, preserving the sign (OFP8 "SAT"; Inf inputs also become +-max).
    saturate = 0
    #: OFP8 "OVF" / IEEE 754 §7.4: +-Inf where the format has Inf, else NaN where it has NaN;
    #: directed roundings that point toward zero still give +-max. Formats with neither saturate.
    nonsaturate = 1


class ScaleRule(_Policy):
    """How the power-of-two block scale 2**s is chosen from the block maximum ``amax``.

    ``e`` is floor(log2(amax)) taken from the bits of amax and ``emax`` is the exponent of the
    largest
    power of two in the element format. Scales below the scale format's range are clamped to its
    minimum; an all-zero block takes the minimum scale.
    """

    #: s = e - emax (OCP MX v1.0 §6.3; can clip the block maximum to the element's max).
    floor = 0
    #: s = smallest integer with amax <= max_elem * 2**s, i.e. 2**ceil(log2(amax / max_elem)):
    #: never clips (NVIDIA MXFP8 recipe; torchao RCEIL for float32/bfloat16 inputs).
    ceil = 1
    #: s = floor(log2(r)) - emax, r = amax rounded half-up to the element's mantissa width
    #: (torchao ScaleCalculationMode.EVEN).
    even = 2
    #: microxcaling's PyTorch path: s = floor(fl32(log2(amax))) - emax with a correctly rounded
    #: float32 log2; one binade too high for amax a few ulps below a power of two.
    floor_log2f = 3


class NanPolicy(_Policy):
    """What a NaN input becomes in a format that has no NaN encoding."""

    #: Raise ValueError (the default: NaN never silently becomes a number).
    raise_error = 0
    #: Encode as zero with the NaN's sign bit.
    zero = 1
    #: Encode as zero with the NaN's sign bit inverted (ml_dtypes 0.6 casts to float4/float6).
    zero_sign_inverted = 2


class AccKind(_Policy):
    """How a dot unit combines its block results along K (:class:`numsim.datapath.Accumulator`)."""

    #: Blocks chained through c: each block starts from the previous block's rounded result.
    chain = 0
    #: A floating-point accumulator: one rounding per added block result.
    float = 1
    #: An exact (Kulisch) accumulator: one rounding at the very end.
    exact = 2
    #: A two's-complement integer register that wraps or saturates.
    int = 3


def parse_nan(value: object) -> NanPolicy:
    """Parse the ``nan=`` argument; ``"raise"`` is accepted for ``raise_error``."""
    if value == "raise":
        return NanPolicy.raise_error
    return NanPolicy.parse(value, "nan")  # type: ignore[return-value]
