"""Per-format code tables: the one place a format's codes are enumerated.

Every table is computed once per format (and policies), cached and read-only:

* :func:`value_table`: every code's value, decoded by the kernels (formats of at most 16 bits);
  :func:`float64_values` the same as float64 (what the datapath and the block kernels read),
  :func:`finite_values` those of the zero and finite codes;
* :func:`code_classes`: every code's :class:`~numsim.formats.CodeClass` (zero, finite, inf,
  nan), from :meth:`~numsim.formats.FloatFormat.classify`, and :func:`codes_of_class`;
* :func:`encode_table`: the float32 -> code table of a small format under non-stochastic
  policies, and :func:`quantize_value_table`, the same composed with decoding.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from ._kernels import codec as _k
from ._kernels.lower import lower
from .formats import CodeClass, FloatFormat, IntFormat
from .policies import NanPolicy, Overflow, RoundMode

ElementFormat = FloatFormat | IntFormat


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _check_small(fmt: ElementFormat) -> None:
    if fmt.total_bits > 16:
        raise ValueError(
            f"format {fmt}: {fmt.total_bits}-bit codes are too many to tabulate (at most 16)"
        )


@cache
def value_table(fmt: ElementFormat) -> np.ndarray:
    """Every code's value in ``fmt.decode_dtype`` (read-only), for formats of at most 16 bits."""
    _check_small(fmt)
    # uint32 codes for every format: one decode_array specialization per value dtype (each is
    # seconds of Numba compilation on a cold cache), whatever the format's code dtype
    codes = np.arange(1 << fmt.total_bits, dtype=np.uint32)
    table = np.empty(codes.size, dtype=fmt.decode_dtype)
    _k.decode_array(codes, lower(fmt), table)
    return _frozen(table)


@cache
def float64_values(fmt: ElementFormat) -> np.ndarray:
    """:func:`value_table` as float64 (exact: every decode dtype widens exactly)."""
    return _frozen(value_table(fmt).astype(np.float64))


@cache
def code_classes(fmt: ElementFormat) -> np.ndarray:
    """Every code's :class:`~numsim.formats.CodeClass` (int8, read-only), at most 16 bits."""
    _check_small(fmt)
    return _frozen(fmt.classify(np.arange(1 << fmt.total_bits, dtype=np.int64)))


@cache
def finite_values(fmt: ElementFormat) -> np.ndarray:
    """The float64 values of the zero and finite codes, in code order (read-only)."""
    return _frozen(float64_values(fmt)[code_classes(fmt) <= CodeClass.finite])


def codes_of_class(fmt: ElementFormat, cls: CodeClass) -> np.ndarray:
    """The codes of ``fmt`` in class ``cls``, ascending (int64)."""
    return np.flatnonzero(code_classes(fmt) == cls).astype(np.int64)


def table_ok(fmt: ElementFormat) -> bool:
    """True if float32 inputs can be encoded into ``fmt`` through a 2**17-entry table."""
    return fmt.total_bits <= 8 and fmt.man_bits <= 7 and fmt.smallest_subnormal >= 2.0**-124


@cache
def encode_table(
    fmt: ElementFormat, mode: RoundMode, overflow: Overflow, nan: NanPolicy
) -> np.ndarray:
    """The float32 encoding table of ``fmt`` under non-stochastic policies (read-only)."""
    return _frozen(_k.build_table(lower(fmt), int(mode), int(overflow), int(nan)))


@cache
def quantize_value_table(
    fmt: ElementFormat, mode: RoundMode, overflow: Overflow, nan: NanPolicy
) -> np.ndarray:
    """:func:`encode_table` composed with decoding: the quantized float32 value of every index."""
    codes = encode_table(fmt, mode, overflow, nan)
    vals = value_table(fmt)[np.maximum(codes, 0)].astype(np.float32)
    vals[codes < 0] = np.nan  # refused NaNs (formats without NaN only)
    return _frozen(vals)
