"""Compatibility profiles: the policy choices of other libraries, named and documented.

A profile only supplies defaults; any policy passed explicitly to ``encode``/``quantize`` wins.
Each profile reproduces its library's observable behaviour on the targeted vectors of
OCP MX v1.0 §6.3 and of the libraries themselves (tests/test_profiles.py). Known differences that
are not modelled are listed in each profile's ``notes``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from .policies import NanPolicy, Overflow, RoundMode, ScaleRule


@dataclass(frozen=True)
class Profile:
    """Default policies of one library."""

    name: str  #: registry name
    rounding: RoundMode  #: element rounding
    overflow: Overflow  #: element overflow
    scale_rule: ScaleRule  #: power-of-two block scale rule
    nan: NanPolicy  #: NaN into a format without NaN
    notes: str  #: what the profile reproduces and what it does not

    def __str__(self) -> str:
        return self.name


_PROFILES = {
    p.name: p
    for p in [
        Profile(
            "ocp",
            RoundMode.nearest_even,
            Overflow.saturate,
            ScaleRule.floor,
            NanPolicy.raise_error,
            "OCP MX v1.0 §6.3 and OFP8 SAT: RNE elements, floor scale, saturating elements; a NaN "
            "or Inf "
            "in a block makes its scale NaN (0xFF) and the whole block NaN; an all-zero block "
            "takes the "
            "smallest scale (E8M0 0x00).",
        ),
        Profile(
            "microxcaling",
            RoundMode.nearest_away,
            Overflow.saturate,
            ScaleRule.floor_log2f,
            NanPolicy.raise_error,
            "microsoft/microxcaling PyTorch path (round='nearest'): ties away from zero, floor of "
            "a float32 "
            "log2 of the block max (one binade high just below 2**k), saturating elements, whole "
            "block NaN "
            "on NaN/Inf. Its float32 log2 is modelled as correctly rounded: torch's log2 differs "
            "for a few "
            "values (e.g. 3-5 ulps below 2**8).",
        ),
        Profile(
            "torchao-floor",
            RoundMode.nearest_even,
            Overflow.saturate,
            ScaleRule.floor,
            NanPolicy.raise_error,
            "pytorch/ao to_mx ScaleCalculationMode.FLOOR. Not modelled: torchao divides by 2**-126 "
            "instead "
            "of 2**-127 when the scale code is 0x00 (blocks whose max is below 2**(-127+emax)).",
        ),
        Profile(
            "torchao-rceil",
            RoundMode.nearest_even,
            Overflow.saturate,
            ScaleRule.ceil,
            NanPolicy.raise_error,
            "pytorch/ao to_mx ScaleCalculationMode.RCEIL (cuBLAS): scale "
            "2**ceil(log2(amax/max_elem)); equal "
            "to torchao's float32 computation for float32/bfloat16 inputs. Not modelled: torchao's "
            "multiplier 1.0 for scale code 0x00.",
        ),
        Profile(
            "ml_dtypes",
            RoundMode.nearest_even,
            Overflow.nonsaturate,
            ScaleRule.floor,
            NanPolicy.zero_sign_inverted,
            "ml_dtypes 0.6 astype casts: RNE; FP8 overflow to Inf (E5M2) or NaN (E4M3FN, FNUZ); "
            "FP6/FP4 "
            "saturate; NaN into FP6/FP4 gives a zero with the NaN's sign inverted; E8M0 maps zero "
            "and "
            "negatives to NaN. Element formats only (ml_dtypes has no block formats).",
        ),
    ]
}


def names() -> list[str]:
    """Names of the profiles."""
    return list(_PROFILES)


def get(name: str | Profile) -> Profile:
    """Look a profile up by name (a Profile is returned unchanged)."""
    if isinstance(name, Profile):
        return name
    if name in _PROFILES:
        return _PROFILES[name]
    close = difflib.get_close_matches(str(name), list(_PROFILES), n=3, cutoff=0.4)
    hint = f"; close matches: {', '.join(close)}" if close else ""
    raise KeyError(f"unknown profile {name!r}{hint}. Known: {', '.join(_PROFILES)}")
