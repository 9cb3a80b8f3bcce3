"""Lower format descriptors to tuples of ints that Numba kernels accept.

Kernels never see dataclasses: a :class:`Elem` carries every number an element kernel needs,
computed once here from the descriptor (so kernels cannot drift from ``numsim.formats``).
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

import numpy as np

from ..formats import FloatFormat, IntFormat, Specials


class Elem(NamedTuple):
    """An element format as plain ints (both float and int formats; unused fields are 0)."""

    is_int: int  #: 1 for IntFormat
    man_bits: int  #: fraction bits (float)
    emin: int  #: exponent of the smallest normal (float)
    fe0: int  #: exponent field of emin: 1, or 0 when field 0 is normal (E8M0)
    subnormals: int  #: 1 if field 0 holds subnormals
    has_zero: int  #: 1 if zero is representable
    specials: int  #: Specials value
    signed: int  #: 1 if there is a sign bit
    sign_mask: int  #: sign bit of a code
    max_mag: int  #: code magnitude of the largest finite value
    inf_code: int  #: +Inf code or -1
    nan_code: int  #: positive NaN code or -1
    allones: int  #: all-ones magnitude
    frac_bits: int  #: IntFormat implicit scale
    max_int: int  #: IntFormat largest integer
    neg_max: int  #: IntFormat magnitude of the smallest integer (0 if unsigned)
    bits: int  #: code width
    exp_bias: int  #: exponent bias (float)
    emax: int  #: exponent of the largest power of two


@cache
def lower(fmt: FloatFormat | IntFormat) -> Elem:
    """Lower an element format descriptor (codes of at most 32 bits: ValueError for fp64)."""
    if isinstance(fmt, FloatFormat) and fmt.total_bits > 32:
        raise ValueError(
            f"format={fmt}: the element kernels take codes of at most 32 bits; {fmt} is only the "
            "operand format of the sequential binary64 FMA unit (fma-fp64)"
        )
    if isinstance(fmt, IntFormat):
        return Elem(
            1,
            0,
            0,
            0,
            0,
            1,
            int(Specials.finite),
            int(fmt.signed),
            0,
            fmt.max_int,
            -1,
            -1,
            (1 << fmt.bits) - 1,
            fmt.frac_bits,
            fmt.max_int,
            -fmt.min_int,
            fmt.bits,
            0,
            fmt.emax,
        )
    return Elem(
        0,
        fmt.man_bits,
        fmt.emin,
        0 if fmt.field0_normal else 1,
        int(fmt.subnormals),
        int(fmt.has_zero),
        int(fmt.specials),
        int(fmt.signed),
        fmt.sign_mask,
        fmt.max_code_magnitude,
        fmt.inf_code,
        fmt.nan_code,
        (1 << (fmt.exp_bits + fmt.man_bits)) - 1,
        0,
        0,
        0,
        fmt.total_bits,
        fmt.bias,
        fmt.emax,
    )


class Src(NamedTuple):
    """An IEEE binary input format, read from its bits."""

    exp_bits: int  #: exponent field width
    man_bits: int  #: fraction width
    bias: int  #: exponent bias


#: Input dtypes and their bit layouts. bfloat16 arrives as uint16 bits (from torch).
SOURCES = {
    "float16": (np.uint16, Src(5, 10, 15)),
    "bfloat16": (np.uint16, Src(8, 7, 127)),
    "float32": (np.uint32, Src(8, 23, 127)),
    "float64": (np.uint64, Src(11, 52, 1023)),
}
