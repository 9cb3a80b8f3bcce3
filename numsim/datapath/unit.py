"""The generic block-FMA dot-product unit descriptor (shared/references/datapaths.md §1.1, §5.3).

One invocation of a unit computes ``d = c + sum(a_i * b_i)`` over a block of ``n`` products:

1. Inputs are exact in ``in_format``; zero products are dropped. NaN anywhere gives NaN; +Inf and
   -Inf together, or Inf * 0, give NaN; otherwise an Inf gives that Inf.
2. Each operand is ``x = sig * 2**e`` with ``e = max(floor(log2|x|), in_format.emin)``. Products are
   exact; their exponent is ``e_a + e_b`` (``raw_product_exponent``, NVIDIA) or
   ``floor(log2|a*b|)``.
3. ``c`` (an FP32 value; its exponent from the bits, an FP32 subnormal counting as -126) joins the
   alignment only if it is non-zero and ``c_inside``.
4. ``eta = max(product exponents, exp(c))``, then ``eta = max(eta, min_exp)``.
5. Every term is put on the grid ``2**(eta - frac_bits)`` by ``term_rounding`` applied to its
   magnitude (``toward_zero``: truncation in sign-magnitude, no guard/round/sticky bits).
6. The terms are summed exactly; with ``c_inside=False`` the exact ``c`` is added to that sum.
7. The exact sum is rounded once to ``out_format`` by ``out_rounding``; a result whose exponent
   exceeds the format's ``emax`` (or rounds beyond max) is +-Inf. Subnormal results are kept
   unless ``subnormals_out`` is False (then they become a zero of the same sign). An exact zero
   sum is +0.
8. For K > n the blocks are chained: ``c_{j+1} = d_j`` (the rounded block result).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from .. import formats as _formats
from ..formats import FloatFormat
from ..policies import RoundMode

#: Largest significand width of an accumulator word: the block sum is an int64.
_SUM_BITS = 62
#: Widest block sum for a late c (the kernel's exact late addition relies on it).
_LATE_SUM_BITS = 36
#: Input formats a unit accepts (the product of two significands must fit an int64 comfortably).
_MAX_IN_PRECISION = 24


def _as_float_format(value: Any, argument: str) -> FloatFormat:
    """Resolve a format name or FloatFormat, or raise naming ``argument``."""
    fmt = _formats.get(value) if isinstance(value, str) else value
    if not isinstance(fmt, FloatFormat):
        raise TypeError(f"{argument}={value!r}: expected a FloatFormat or a float format name")
    return fmt


@dataclass(frozen=True)
class DotUnit:
    """A block-FMA dot-product unit (datapaths.md §1.1); a frozen, hashable value.

    Args:
        name: label; what ``str()`` returns.
        in_format: element format of ``a`` and ``b`` (fp16, bf16, tf32, fp8_e4m3, fp8_e5m2, ...).
        n: products per block (one hardware invocation).
        frac_bits: F, fractional bits kept below the alignment exponent eta (grid ``2**(eta-F)``).
        raw_product_exponent: True: product exponent ``e_a + e_b`` of the unnormalised significand
            product (NVIDIA); False: ``floor(log2|a*b|)``.
        term_rounding: how a term is put on the alignment grid: ``toward_zero`` (sign-magnitude
            truncation) or ``nearest_even``.
        c_inside: True: a non-zero ``c`` joins the alignment like a product; False: ``c`` is
            added exactly to the aligned product sum just before the final rounding ("late").
        min_exp: floor of eta (the models' ``min_exp_limit``); None for no floor.
        out_format: result format (fp32, fp16, bf16 or a reduced FloatFormat such as
            ``FloatFormat(8, 13)``); results are returned as float32 values.
        out_rounding: final rounding, ``toward_zero`` or ``nearest_even``.
        subnormals_out: False flushes subnormal results to a zero of the same sign.
    """

    name: str  #: label, returned by ``str()``
    in_format: FloatFormat  #: element format of a and b
    n: int  #: products per block
    frac_bits: int  #: F: alignment grid 2**(eta - F)
    raw_product_exponent: bool = True  #: product exponent e_a + e_b (else floor(log2|ab|))
    term_rounding: RoundMode = RoundMode.toward_zero  #: rounding of each term onto the grid
    c_inside: bool = True  #: c joins the alignment (else added after the block sum)
    min_exp: Optional[int] = None  #: floor of eta; None for none
    out_format: FloatFormat = _formats.fp32  #: result format (decoded into float32)
    out_rounding: RoundMode = RoundMode.toward_zero  #: final rounding
    subnormals_out: bool = True  #: False: subnormal results flush to zero

    def __post_init__(self) -> None:
        object.__setattr__(self, "in_format", _as_float_format(self.in_format, "in_format"))
        object.__setattr__(self, "out_format", _as_float_format(self.out_format, "out_format"))
        object.__setattr__(self, "term_rounding", RoundMode.parse(self.term_rounding, "term_rounding"))
        object.__setattr__(self, "out_rounding", RoundMode.parse(self.out_rounding, "out_rounding"))
        self._check_ints()
        self._check_formats()
        for arg in ("term_rounding", "out_rounding"):
            if getattr(self, arg) not in (RoundMode.toward_zero, RoundMode.nearest_even):
                raise ValueError(f"{arg}={getattr(self, arg).name}: expected toward_zero or nearest_even")
        if self.sum_bits > _SUM_BITS:
            raise ValueError(f"frac_bits={self.frac_bits}, n={self.n}: the block sum needs {self.sum_bits} bits, "
                             f"more than the {_SUM_BITS} of the int64 accumulator")
        if not self.c_inside and self.sum_bits > _LATE_SUM_BITS:
            raise ValueError(f"c_inside=False needs sum_bits <= {_LATE_SUM_BITS} (frac_bits={self.frac_bits}, "
                             f"n={self.n} give {self.sum_bits})")

    def _check_ints(self) -> None:
        """Types and ranges of the scalar fields."""
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name={self.name!r}: expected a non-empty string")
        for arg in ("n", "frac_bits"):
            v = getattr(self, arg)
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(f"{arg}={v!r}: expected an int")
        if self.n < 1:
            raise ValueError(f"n={self.n}: expected >= 1")
        if self.frac_bits < 0:
            raise ValueError(f"frac_bits={self.frac_bits}: expected >= 0")
        if self.min_exp is not None and (not isinstance(self.min_exp, int) or isinstance(self.min_exp, bool)):
            raise TypeError(f"min_exp={self.min_exp!r}: expected an int or None")
        for arg in ("raw_product_exponent", "c_inside", "subnormals_out"):
            if not isinstance(getattr(self, arg), bool):
                raise TypeError(f"{arg}={getattr(self, arg)!r}: expected a bool")

    def _check_formats(self) -> None:
        """The input and output formats are within what the kernels represent exactly."""
        fin, fout = self.in_format, self.out_format
        if not fin.signed or fin.precision > _MAX_IN_PRECISION or not fin.has_zero or fin.field0_normal:
            raise ValueError(f"in_format={fin}: expected a signed float format with zero and at most "
                             f"{_MAX_IN_PRECISION} significand bits")
        if fin.emax > 127 or fin.emin - fin.man_bits < -149:
            raise ValueError(f"in_format={fin}: values must be exact in float32")
        f32 = _formats.fp32
        if (fout.specials != _formats.Specials.ieee or not fout.signed or fout.man_bits > f32.man_bits
                or fout.emax > f32.emax or fout.emin < f32.emin or fout.emin - fout.man_bits < f32.emin - f32.man_bits):
            raise ValueError(f"out_format={fout}: expected an IEEE-style format whose values are exact in float32")

    def __str__(self) -> str:
        return self.name

    @property
    def sum_bits(self) -> int:
        """Magnitude bits of the block sum: ``F + 2`` per term plus carries for ``n + 1`` terms."""
        return self.frac_bits + 2 + self.n.bit_length()  # n.bit_length() == ceil(log2(n + 1))

    def dot(self, a: Any, b: Any, c: Any = None) -> Any:
        """Dot products over the last axis; see :func:`numsim.datapath.dot`."""
        from .api import dot

        return dot(a, b, self, c)
