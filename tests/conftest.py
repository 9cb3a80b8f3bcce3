"""Shared test helpers: the format lists, exact source values and a cached reference encoder.

Golden values in the tests come from the specs (OCP MX v1.0, OCP OFP8 v1.0), from hand derivation,
from ml_dtypes, or from :mod:`numsim.reference` (the slow Fraction model) through
:class:`RefCache` below; never from the kernels under test.

The reference costs tens of microseconds a call, so :class:`RefCache` calls it once per distinct
input *value* and applies three exact reductions taken from the rounding definitions
(IEEE 754 §4.3, §7.4; OFP8 v1.0 SAT/OVF conversion table):

* every finite ``|x| >= 2**(emax+1)`` rounds (any mode, unbounded exponent) to a magnitude
  ``>= 2**(emax+1) > max``, so its code depends only on the sign and the policies: it is
  encoded as ``+-2**(emax+1)``;
* every nonzero ``|x| < smallest/2`` lies strictly between 0 and half the smallest step, so under
  a non-stochastic mode its code depends only on the sign: it is encoded as ``+-smallest/4``;
* the overflow policy only changes a result whose saturating code is +-max (it acts on
  magnitudes that round above max), so ``nonsaturate`` is asked of the reference only then.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from numsim import formats as F
from numsim import reference as ref
from numsim.formats import FloatFormat
from numsim.policies import NanPolicy, Overflow, RoundMode
from numsim.reference import codec as ref_codec

#: Every registered element format, in registry order.
ELEMENTS: list[Any] = [F.get(n) for n in F.names("element")]
#: Element formats of at most 8 bits (exhaustive over 16-bit inputs).
SMALL: list[Any] = [f for f in ELEMENTS if f.total_bits <= 8]
#: Element formats of at most 16 bits (exhaustive over their codes).
UPTO16: list[Any] = [f for f in ELEMENTS if f.total_bits <= 16]
#: The deterministic rounding modes.
MODES = [
    RoundMode.nearest_even,
    RoundMode.nearest_away,
    RoundMode.toward_zero,
    RoundMode.toward_positive,
    RoundMode.toward_negative,
]
OVERFLOWS = [Overflow.saturate, Overflow.nonsaturate]


def sign_mask(fmt: Any) -> int:
    """Sign bit of a code (0 for unsigned and integer formats: their zero has no sign)."""
    return fmt.sign_mask if isinstance(fmt, FloatFormat) else 0


# ---------------------------------------------------------------------------------------------
# Exact source values
# ---------------------------------------------------------------------------------------------
def all_float16() -> np.ndarray:
    """All 65536 float16 bit patterns as float16."""
    return np.arange(1 << 16, dtype=np.uint16).view(np.float16)


def all_bfloat16() -> np.ndarray:
    """All 65536 bfloat16 bit patterns as an ml_dtypes bfloat16 array."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    return np.arange(1 << 16, dtype=np.uint16).view(ml_dtypes.bfloat16)


def as_float64(x: np.ndarray) -> np.ndarray:
    """Exact float64 values of a float16/bfloat16/float32/float64 array, NaN signs kept.

    bfloat16 is widened from its bits (bits << 16 is the float32 with the same value), not through
    a library cast.
    """
    if x.dtype.name == "bfloat16":
        x = (x.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    with np.errstate(invalid="ignore"):  # signalling NaNs
        out = x.astype(np.float64)
    nan = np.isnan(out)
    out[nan] = np.copysign(np.nan, np.where(np.signbit(x[nan]), -1.0, 1.0))
    return out


# ---------------------------------------------------------------------------------------------
# Reference encoder with a cache
# ---------------------------------------------------------------------------------------------
def ref_encode(
    fmt: Any,
    v: float,
    mode: RoundMode,
    ovf: Overflow,
    nan: NanPolicy,
    random: int = 0,
    random_bits: int = 0,
) -> int:
    """numsim.reference.encode of the Python float ``v`` (NaN sign taken from its sign bit)."""
    if math.isnan(v):
        return ref.encode(
            fmt,
            math.nan,
            nan_negative=math.copysign(1.0, v) < 0,
            rounding=mode,
            overflow=ovf,
            nan=nan,
            random=random,
            random_bits=random_bits,
        )
    return ref.encode(
        fmt, v, rounding=mode, overflow=ovf, nan=nan, random=random, random_bits=random_bits
    )


def ref_stochastic_pair(fmt: Any, v: float, r: int, rbits: int, nan: NanPolicy) -> tuple[int, int]:
    """Reference codes of ``v`` under stochastic rounding with random integer ``r`` (``rbits``
    bits): (saturate, nonsaturate); the second is computed only if the first is +-max."""
    sat = ref_encode(fmt, v, RoundMode.stochastic, Overflow.saturate, nan, r, rbits)
    if not _is_extreme(fmt, sat):
        return sat, sat
    return sat, ref_encode(fmt, v, RoundMode.stochastic, Overflow.nonsaturate, nan, r, rbits)


_EXTREME: dict[tuple[Any, int], bool] = {}


def _is_extreme(fmt: Any, code: int) -> bool:
    """True if ``code`` decodes (reference) to a magnitude >= max: a possible overflow result."""
    hit = _EXTREME.get((fmt, code))
    if hit is None:
        v = ref.decode(fmt, code)
        hit = not (isinstance(v, float) and math.isnan(v)) and abs(v) >= ref_codec.max_value(fmt)
        _EXTREME[(fmt, code)] = hit
    return hit


class RefCache:
    """Reference codes per (format, mode, overflow, nan policy) and input value."""

    def __init__(self) -> None:
        self._codes: dict[tuple[Any, ...], dict[int, int]] = {}

    def code(self, fmt: Any, v: float, mode: RoundMode, ovf: Overflow, nan: NanPolicy) -> int:
        """Reference code of the (already reduced) float value ``v``."""
        return self._code(fmt, int(np.float64(v).view(np.uint64)), v, mode, ovf, nan)

    def _code(
        self, fmt: Any, key: int, v: float, mode: RoundMode, ovf: Overflow, nan: NanPolicy
    ) -> int:
        table = self._codes.setdefault((fmt, mode, ovf, nan), {})
        c = table.get(key)
        if c is None:
            if ovf == Overflow.nonsaturate:
                c = self._code(fmt, key, v, mode, Overflow.saturate, nan)
                if _is_extreme(fmt, c):
                    c = ref_encode(fmt, v, mode, ovf, nan)
            else:
                c = ref_encode(fmt, v, mode, ovf, nan)
            table[key] = c
        return c

    def codes(
        self,
        fmt: Any,
        vals: np.ndarray,
        mode: RoundMode,
        ovf: Overflow,
        nan: NanPolicy,
        check: np.ndarray | None = None,
    ) -> np.ndarray:
        """Reference codes of float64 values ``vals`` (-1 where ``check`` is False)."""
        red, _ = reduce_values(fmt, vals)
        keys = red.view(np.uint64)
        sel = np.ones(vals.shape, bool) if check is None else check
        uniq, inv = np.unique(keys[sel], return_inverse=True)
        got = np.array(
            [
                self._code(fmt, k, v, mode, ovf, nan)
                for k, v in zip(uniq.tolist(), uniq.view(np.float64).tolist())
            ],
            dtype=np.int64,
        )
        out = np.full(vals.shape, -1, dtype=np.int64)
        out[sel] = got[inv.reshape(-1)]
        return out


def reduce_values(fmt: Any, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply the module docstring's two value classes (non-stochastic modes only).

    Returns the reduced float64 values (NaNs canonical, signs kept) and the mask of values that
    were replaced by a class representative.
    """
    out = vals.astype(np.float64, copy=True)
    nan = np.isnan(out)
    out[nan] = np.copysign(np.nan, np.where(np.signbit(vals[nan]), -1.0, 1.0))
    a = np.abs(out)
    fin = np.isfinite(out) & (out != 0)
    hi = 2.0 ** (fmt.emax + 1)
    lo = fmt.smallest_subnormal / 2
    big = fin & (a >= hi)
    tiny = fin & (a < lo)
    out[big] = np.copysign(hi, out[big])
    out[tiny] = np.copysign(lo / 2, out[tiny])
    return out, big | tiny


def assert_codes_equal(
    fmt: Any,
    inputs: np.ndarray,
    expected: np.ndarray,
    got: np.ndarray,
    what: str,
    check: np.ndarray | None = None,
) -> None:
    """Assert ``got == expected`` where ``check``; the message lists the first mismatches."""
    got = np.asarray(got).astype(np.int64).reshape(-1)
    expected = np.asarray(expected).astype(np.int64).reshape(-1)
    sel = np.ones(got.shape, bool) if check is None else check.reshape(-1)
    bad = np.flatnonzero(sel & (got != expected))
    if bad.size:
        flat = np.asarray(inputs).reshape(-1)
        if flat.dtype.name == "bfloat16":
            shown = [
                f"bf16 0x{int(b):04x}={float(v)!r}"
                for b, v in zip(flat.view(np.uint16)[bad[:8]], as_float64(flat[bad[:8]]))
            ]
        else:
            shown = [f"{flat[i]!r} ({float(flat[i]).hex()})" for i in bad[:8]]
        detail = "; ".join(
            f"{s}: expected 0x{expected[i]:x}, got 0x{got[i]:x}" for s, i in zip(shown, bad[:8])
        )
        pytest.fail(f"{fmt} {what}: {bad.size} mismatches of {int(sel.sum())}: {detail}")


def bits_equivalent(fmt: Any, expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Elementwise: equal codes, or both NaN codes of ``fmt`` (NaNs compared by class)."""
    expected = np.asarray(expected).astype(np.int64)
    actual = np.asarray(actual).astype(np.int64)
    same = expected == actual
    if isinstance(fmt, FloatFormat) and fmt.has_nan:
        same |= nan_code_mask(fmt, expected) & nan_code_mask(fmt, actual)
    return same


def nan_code_mask(fmt: Any, codes: np.ndarray) -> np.ndarray:
    """Vectorised :meth:`FloatFormat.is_nan_code`."""
    codes = np.asarray(codes).astype(np.int64)
    if not isinstance(fmt, FloatFormat) or not fmt.has_nan:
        return np.zeros(codes.shape, bool)
    lut = (
        np.array([fmt.is_nan_code(c) for c in range(1 << fmt.total_bits)])
        if fmt.total_bits <= 16
        else None
    )
    if lut is not None:
        return lut[codes]
    return np.array([fmt.is_nan_code(int(c)) for c in codes.reshape(-1)]).reshape(codes.shape)
