"""Number-format descriptors and the one registry of named formats.

A format is a value: a frozen, hashable dataclass holding only primary fields; everything else is a
derived property. Terms used throughout numsim:

* ``man_bits``: stored fraction bits (no hidden bit); ``precision = man_bits + 1``.
* ``emin``: unbiased exponent of the smallest normal; ``emax``: exponent of the largest power of two
  that the format represents (MX's ``emax_elem``: E4M3 8, E5M2 15, E3M2 4, E2M3 2, E2M1 2, INT8 0).
* Codes are unsigned integers holding the format's bits (sign bit on top for signed formats).

Named formats follow the ml_dtypes spelling where one exists (``fp8_e4m3`` alias ``e4m3fn``); block
formats follow OCP MX v1.0 Table 1 (``mxfp8_e4m3`` ...), NVIDIA NVFP4, the shared-microexponent
MX9/MX6/MX4 of Rouhani et al. (ISCA 2023) and generic block floating point. Sources: OCP MX v1.0
§5 (elements, E8M0 scale), OCP OFP8 v1.0, arXiv 2509.25149 (NVFP4), the StableHLO FNUZ RFC and
arXiv 2302.08007 (MX9/MX6/MX4); docs/semantics.md lists them.
"""

from __future__ import annotations

import difflib
import enum
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np


class CodeClass(enum.IntEnum):
    """What a code of a format stands for; :meth:`FloatFormat.classify` maps codes to these.

    The values are the kinds the kernels give unpacked operands (``numsim._kernels.core.K_*``
    are derived from them).
    """

    zero = 0  #: +0 or -0 (every code of value zero)
    finite = 1  #: a finite non-zero number
    inf = 2  #: +Inf or -Inf
    nan = 3  #: a NaN


class Specials(enum.IntEnum):
    """Which codes of a float format are reserved for Inf and NaN."""

    #: IEEE 754: the top exponent field holds Inf (fraction 0) and NaN (fraction != 0).
    ieee = 0
    #: "fn": no Inf; the single all-ones magnitude code is NaN (OFP8 E4M3, E8M0, UE4M3).
    fn = 1
    #: "fnuz": no Inf, no negative zero; the negative-zero code is the single NaN (AMD/Graphcore
    #: FP8).
    fnuz = 2
    #: No Inf and no NaN: every code is a finite number (FP6, FP4).
    finite = 3


@dataclass(frozen=True)
class FloatFormat:
    """A binary floating-point element or scale format.

    Args:
        exp_bits: exponent field width (>= 1).
        man_bits: stored fraction bits (>= 0).
        bias: exponent bias; default ``2**(exp_bits - 1) - 1``.
        signed: whether there is a sign bit (on top of the code).
        specials: which codes are Inf/NaN, see :class:`Specials`.
        subnormals: whether exponent field 0 holds subnormals; if False it holds only zero
            (or, with ``has_zero=False``, normal numbers: E8M0).
        has_zero: whether zero is representable (False only for E8M0-like scale formats).
        name: registry name; also what ``str()`` returns.
    """

    exp_bits: int  #: exponent field width
    man_bits: int  #: stored fraction bits
    bias: int = None  # type: ignore[assignment]  #: exponent bias (default IEEE-style)
    signed: bool = True  #: sign bit present
    specials: Specials = Specials.ieee  #: Inf/NaN encoding
    subnormals: bool = True  #: exponent field 0 holds subnormals
    has_zero: bool = True  #: zero representable
    name: str = ""  #: registry name

    def __post_init__(self) -> None:
        if not _is_int(self.exp_bits) or not 1 <= self.exp_bits <= 11:
            raise ValueError(f"exp_bits={self.exp_bits!r}: expected an int in 1..11")
        if not _is_int(self.man_bits) or not 0 <= self.man_bits <= 52:
            raise ValueError(f"man_bits={self.man_bits!r}: expected an int in 0..52")
        if self.bias is None:
            object.__setattr__(self, "bias", (1 << (self.exp_bits - 1)) - 1)
        elif not _is_int(self.bias):
            raise ValueError(f"bias={self.bias!r}: expected an int")
        object.__setattr__(self, "specials", Specials(self.specials))
        if self.total_bits > 32 and not self.is_binary64:
            raise ValueError(
                f"{self.exp_bits=} + {self.man_bits=} + sign: at most 32 bits expected "
                "(or the IEEE binary64 layout, fp64)"
            )
        if self.specials == Specials.ieee and self.man_bits == 0:
            raise ValueError("specials='ieee' needs man_bits >= 1 to tell Inf from NaN")
        if self.specials == Specials.fnuz and not self.signed:
            raise ValueError("specials='fnuz' needs a sign bit (NaN is the negative-zero code)")
        if not self.has_zero and self.subnormals:
            raise ValueError(
                "has_zero=False needs subnormals=False (exponent field 0 is then normal)"
            )
        if self.max_code_magnitude <= 0:
            raise ValueError(f"{self!r} has no finite nonzero code")
        if not self.is_binary64 and (self.emax + 1 > 1023 or self.emin - self.man_bits < -1074):
            raise ValueError(f"{self!r}: values must be exact in float64")
        if not self.name:
            s = "" if self.signed else "u"
            object.__setattr__(
                self,
                "name",
                f"{s}e{self.exp_bits}m{self.man_bits}b{self.bias}{_SUFFIX[self.specials]}",
            )

    def __str__(self) -> str:
        return self.name

    # -- derived properties -------------------------------------------------------------------
    @property
    def is_binary64(self) -> bool:
        """True for the IEEE 754 binary64 layout (:data:`fp64`): the one format wider than 32
        bits, an FP64 unit's operand format; the element kernels (codes of at most 32 bits) do
        not take it."""
        return (
            self.exp_bits == 11
            and self.man_bits == 52
            and self.bias == 1023
            and self.signed
            and self.specials == Specials.ieee
            and self.subnormals
            and self.has_zero
        )

    @property
    def total_bits(self) -> int:
        """Bits of one code."""
        return int(self.signed) + self.exp_bits + self.man_bits

    @property
    def precision(self) -> int:
        """Significand bits including the hidden bit."""
        return self.man_bits + 1

    @property
    def sign_mask(self) -> int:
        """The sign bit of a code (0 for unsigned formats)."""
        return (1 << (self.exp_bits + self.man_bits)) if self.signed else 0

    @property
    def field0_normal(self) -> bool:
        """True if exponent field 0 encodes normal numbers (E8M0)."""
        return not self.subnormals and not self.has_zero

    @property
    def emin(self) -> int:
        """Unbiased exponent of the smallest normal number."""
        return (0 if self.field0_normal else 1) - self.bias

    @property
    def max_code_magnitude(self) -> int:
        """Code (sign bit clear) of the largest finite value."""
        allones = (1 << (self.exp_bits + self.man_bits)) - 1
        if self.specials == Specials.ieee:
            return allones - (
                1 << self.man_bits
            )  # top field reserved: one field below, all-ones fraction
        if self.specials == Specials.fn:
            return allones - 1
        return allones

    @property
    def emax(self) -> int:
        """Exponent of the largest power of two in the format."""
        return (self.max_code_magnitude >> self.man_bits) - self.bias

    @property
    def max(self) -> float:
        """Largest finite value."""
        return float(self.exact_value(self.max_code_magnitude))

    @property
    def min_normal(self) -> float:
        """Smallest positive normal value, 2**emin."""
        return float(Fraction(2) ** self.emin)

    @property
    def smallest_subnormal(self) -> float:
        """Smallest positive value (the smallest normal when there are no subnormals)."""
        if self.subnormals:
            return float(Fraction(2) ** (self.emin - self.man_bits))
        return self.min_normal

    @property
    def has_inf(self) -> bool:
        """True if +-Inf are representable."""
        return self.specials == Specials.ieee

    @property
    def has_nan(self) -> bool:
        """True if NaN is representable."""
        return self.specials != Specials.finite

    @property
    def has_negative_zero(self) -> bool:
        """True if -0 has its own code."""
        return self.signed and self.has_zero and self.specials != Specials.fnuz

    @property
    def inf_code(self) -> int:
        """Code of +Inf (-1 when the format has none)."""
        if not self.has_inf:
            return -1
        return ((1 << self.exp_bits) - 1) << self.man_bits

    @property
    def nan_code(self) -> int:
        """Canonical code of a positive NaN (-1 when the format has none).

        IEEE: quiet NaN (top fraction bit set); fn: all ones; fnuz: the sign bit alone.
        """
        if self.specials == Specials.ieee:
            return self.inf_code | (1 << (self.man_bits - 1))
        if self.specials == Specials.fn:
            return (1 << (self.exp_bits + self.man_bits)) - 1
        if self.specials == Specials.fnuz:
            return self.sign_mask
        return -1

    def classify(self, codes: Any) -> np.ndarray:
        """The :class:`CodeClass` of each code (an int8 array of ``codes``' shape).

        The one classifier of codes, read from the descriptor's fields (bits above
        ``total_bits`` are ignored): IEEE: the all-ones exponent field is Inf (fraction 0) or NaN;
        fn: the all-ones magnitude is NaN; fnuz: the negative-zero code is NaN; a zero is a code
        of value 0 (exponent field 0 with fraction 0, or any fraction when there are no
        subnormals), never in a format without zero (E8M0).
        """
        c = np.asarray(codes, dtype=np.int64) & ((1 << self.total_bits) - 1)
        allones = (1 << (self.exp_bits + self.man_bits)) - 1
        mag = c & allones
        field = mag >> self.man_bits
        if self.has_zero:
            zero = (field == 0) & ((mag == 0) | (not self.subnormals))
        else:
            zero = np.zeros(c.shape, np.bool_)
        inf = np.zeros(c.shape, np.bool_)
        if self.specials == Specials.ieee:
            nan = mag > self.inf_code
            inf = mag == self.inf_code
        elif self.specials == Specials.fn:
            nan = mag == allones
        elif self.specials == Specials.fnuz:
            nan = c == self.sign_mask
            zero &= ~nan
        else:
            nan = np.zeros(c.shape, np.bool_)
        out = np.full(c.shape, CodeClass.finite, np.int8)
        out[zero] = CodeClass.zero
        out[inf] = CodeClass.inf
        out[nan] = CodeClass.nan
        return out

    def is_nan_code(self, code: int) -> bool:
        """True if ``code`` is a NaN of this format (:meth:`classify`)."""
        return bool(self.classify(code) == CodeClass.nan)

    def exact_value(self, code: int) -> Fraction:
        """Exact value of a finite code (documentation-level helper; kernels decode from bits)."""
        sign = -1 if (code & self.sign_mask) else 1
        mag = code & ~self.sign_mask
        field_ = mag >> self.man_bits
        frac = mag & ((1 << self.man_bits) - 1)
        if field_ == 0 and not self.field0_normal:
            if not self.subnormals:
                return Fraction(0)
            return sign * Fraction(frac) * Fraction(2) ** (self.emin - self.man_bits)
        return (
            sign
            * Fraction((1 << self.man_bits) + frac)
            * Fraction(2) ** (field_ - self.bias - self.man_bits)
        )

    @property
    def decode_dtype(self) -> str:
        """``"float32"`` if every value is exact in float32, else ``"float64"``."""
        fits = (
            self.precision <= 24
            and self.emax <= 127
            and self.emin - (self.man_bits if self.subnormals else 0) >= -149
        )
        return "float32" if fits else "float64"

    @property
    def code_dtype(self) -> str:
        """Smallest unsigned numpy dtype holding a code."""
        return _code_dtype(self.total_bits)


@dataclass(frozen=True)
class IntFormat:
    """A two's-complement (or unsigned) integer element with an implicit scale ``2**-frac_bits``.

    Args:
        bits: code width (2..32).
        signed: two's complement if True, else unsigned.
        symmetric: the most negative code is unused, range +-(2**(bits-1) - 1) (MXINT8).
        frac_bits: value = integer * 2**-frac_bits (MXINT8: 6).
        name: registry name.
    """

    bits: int  #: code width
    signed: bool = True  #: two's complement
    symmetric: bool = False  #: most negative code unused
    frac_bits: int = 0  #: implicit scale 2**-frac_bits
    name: str = ""  #: registry name

    def __post_init__(self) -> None:
        if not _is_int(self.bits) or not 2 <= self.bits <= 32:
            raise ValueError(f"bits={self.bits!r}: expected an int in 2..32")
        if not _is_int(self.frac_bits):
            raise ValueError(f"frac_bits={self.frac_bits!r}: expected an int")
        if self.symmetric and not self.signed:
            raise ValueError("symmetric=True needs signed=True")
        if not self.name:
            base = f"int{self.bits}" if self.signed else f"uint{self.bits}"
            sym = "_sym" if self.symmetric else ""
            frac = f"_f{self.frac_bits}" if self.frac_bits else ""
            object.__setattr__(self, "name", base + sym + frac)

    def __str__(self) -> str:
        return self.name

    @property
    def total_bits(self) -> int:
        """Bits of one code."""
        return self.bits

    @property
    def man_bits(self) -> int:
        """Magnitude bits below the leading one of the largest value (the ``even`` scale rule)."""
        return self.max_int.bit_length() - 1

    @property
    def max_int(self) -> int:
        """Largest integer."""
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def min_int(self) -> int:
        """Smallest integer."""
        if not self.signed:
            return 0
        return -self.max_int if self.symmetric else -(1 << (self.bits - 1))

    @property
    def emax(self) -> int:
        """Exponent of the largest power of two <= max."""
        return self.max_int.bit_length() - 1 - self.frac_bits

    @property
    def max(self) -> float:
        """Largest value."""
        return float(self.max_int * Fraction(2) ** -self.frac_bits)

    @property
    def smallest_subnormal(self) -> float:
        """Smallest positive value (one unit)."""
        return float(Fraction(2) ** -self.frac_bits)

    @property
    def min_normal(self) -> float:
        """Smallest positive value (integers have no subnormals)."""
        return self.smallest_subnormal

    has_inf = False
    has_nan = False
    has_negative_zero = False

    def classify(self, codes: Any) -> np.ndarray:
        """The :class:`CodeClass` of each code: code 0 is the zero, every other code is finite
        (as :meth:`FloatFormat.classify`; bits above ``bits`` are ignored)."""
        c = np.asarray(codes, dtype=np.int64) & ((1 << self.bits) - 1)
        return np.where(c == 0, CodeClass.zero, CodeClass.finite).astype(np.int8)

    def exact_value(self, code: int) -> Fraction:
        """Exact value of a code (two's complement read of the low ``bits`` bits)."""
        c = code & ((1 << self.bits) - 1)
        if self.signed and c >> (self.bits - 1):
            c -= 1 << self.bits
        return Fraction(c) * Fraction(2) ** -self.frac_bits

    @property
    def decode_dtype(self) -> str:
        """``"float32"`` if every value is exact in float32, else ``"float64"``."""
        return (
            "float32"
            if self.bits <= 25 and -149 <= -self.frac_bits and self.emax <= 127
            else "float64"
        )

    @property
    def code_dtype(self) -> str:
        """Smallest unsigned numpy dtype holding a code."""
        return _code_dtype(self.bits)


ElementFormat = FloatFormat | IntFormat


@dataclass(frozen=True)
class BlockFormat:
    """A block-scaled format: ``block_size`` elements share one scale.

    The scale is a power of two when ``scale.man_bits == 0`` (MX, BFP, MX9/6/4; chosen by a
    :class:`~numsim.policies.ScaleRule`), otherwise a floating-point scale computed from the block
    maximum as NVIDIA's NVFP4 reference quantizer does (with an FP32 per-tensor scale when
    ``tensor_scale``).

    Args:
        name: registry name.
        element: element format.
        block_size: elements per scale.
        scale: scale format (unsigned).
        sub_block_size: elements per microexponent (0: none). MX9/6/4 use 2.
        sub_scale_bits: microexponent width: a sub-block may shift its scale down by up to
            ``2**sub_scale_bits - 1`` binades.
        tensor_scale: an FP32 per-tensor scale multiplies every block (NVFP4).
        scale_storage_bits: bits a stored scale occupies when wider than the scale format
            (NVFP4 keeps its 7-bit UE4M3 scale in a byte).
    """

    name: str  #: registry name
    element: ElementFormat  #: element format
    block_size: int  #: elements per scale
    scale: FloatFormat  #: scale format
    sub_block_size: int = 0  #: elements per microexponent (0: none)
    sub_scale_bits: int = 0  #: microexponent width
    tensor_scale: bool = False  #: FP32 per-tensor scale (NVFP4)
    scale_storage_bits: int = 0  #: bits a stored scale occupies (0: the scale format's width)

    def __post_init__(self) -> None:
        if not _is_int(self.block_size) or self.block_size < 1:
            raise ValueError(f"block_size={self.block_size!r}: expected a positive int")
        if not isinstance(self.scale, FloatFormat) or self.scale.signed:
            raise ValueError(f"scale={self.scale!r}: expected an unsigned FloatFormat")
        if not isinstance(self.element, (FloatFormat, IntFormat)):
            raise ValueError(f"element={self.element!r}: expected a FloatFormat or IntFormat")  # noqa: TRY004
        if self.sub_block_size or self.sub_scale_bits:
            if not self.pow2_scale:
                raise ValueError("microexponents need a power-of-two scale")
            if (
                self.sub_block_size < 1
                or self.block_size % self.sub_block_size
                or self.sub_scale_bits < 1
            ):
                raise ValueError(
                    f"sub_block_size={self.sub_block_size}, sub_scale_bits={self.sub_scale_bits}: "
                    "expected a "
                    f"divisor of block_size={self.block_size} and at least one bit"
                )
        if self.tensor_scale and self.pow2_scale:
            raise ValueError(
                "tensor_scale is only defined for floating-point (non power-of-two) scales"
            )

    def __str__(self) -> str:
        return self.name

    @property
    def pow2_scale(self) -> bool:
        """True if the scale is a pure power of two (an ExM0 format)."""
        return self.scale.man_bits == 0

    @property
    def bits_per_value(self) -> float:
        """Storage bits per element, scale and microexponents included (tensor scale excluded)."""
        bits = (
            self.element.total_bits
            + (self.scale_storage_bits or self.scale.total_bits) / self.block_size
        )
        if self.sub_block_size:
            bits += self.sub_scale_bits / self.sub_block_size
        return bits

    @property
    def max(self) -> float:
        """Largest finite value (element max times the largest scale)."""
        return self.element.max * self.scale.max


Format = FloatFormat | IntFormat | BlockFormat

_SUFFIX = {Specials.ieee: "", Specials.fn: "fn", Specials.fnuz: "fnuz", Specials.finite: "f"}


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _code_dtype(bits: int) -> str:
    return (
        "uint8" if bits <= 8 else "uint16" if bits <= 16 else "uint32" if bits <= 32 else "uint64"
    )


# ---------------------------------------------------------------------------------------------
# The registry: every named format is defined here and nowhere else.
# ---------------------------------------------------------------------------------------------
_ieee = Specials.ieee
fp8_e4m3 = FloatFormat(4, 3, specials=Specials.fn, name="fp8_e4m3")
fp8_e5m2 = FloatFormat(5, 2, name="fp8_e5m2")
fp8_e4m3fnuz = FloatFormat(4, 3, bias=8, specials=Specials.fnuz, name="fp8_e4m3fnuz")
fp8_e5m2fnuz = FloatFormat(5, 2, bias=16, specials=Specials.fnuz, name="fp8_e5m2fnuz")
fp6_e2m3 = FloatFormat(2, 3, specials=Specials.finite, name="fp6_e2m3")
fp6_e3m2 = FloatFormat(3, 2, specials=Specials.finite, name="fp6_e3m2")
fp4_e2m1 = FloatFormat(2, 1, specials=Specials.finite, name="fp4_e2m1")
e8m0 = FloatFormat(
    8, 0, signed=False, specials=Specials.fn, subnormals=False, has_zero=False, name="e8m0"
)
ue4m3 = FloatFormat(4, 3, signed=False, specials=Specials.fn, name="ue4m3")
bf16 = FloatFormat(8, 7, name="bf16")
fp16 = FloatFormat(5, 10, name="fp16")
tf32 = FloatFormat(8, 10, name="tf32")
fp32 = FloatFormat(8, 23, name="fp32")
#: IEEE 754 binary64: the operand and result format of the FP64 FMA unit (``fma-fp64``). Not an
#: element-codec format (the codec kernels take codes of at most 32 bits), so it is not among
#: :func:`names`; :func:`get` resolves ``"fp64"``.
fp64 = FloatFormat(11, 52, name="fp64")
int8 = IntFormat(8, name="int8")
int4 = IntFormat(4, name="int4")

#: MXINT8 element: symmetric int8 times 2**-6 (OCP MX §5.3.4; code 0x80 unused, as microxcaling).
mxint8_element = IntFormat(8, symmetric=True, frac_bits=6, name="int8_sym_f6")


def _pow2_scale(bits: int, bias: int | None = None) -> FloatFormat:
    """An unsigned ExM0 scale with NaN at all-ones (E8M0 for 8 bits)."""
    if bits == 8 and bias in (None, 127):
        return e8m0
    return FloatFormat(
        bits,
        0,
        bias=bias,
        signed=False,
        specials=Specials.fn,
        subnormals=False,
        has_zero=False,
        name=f"e{bits}m0" + ("" if bias is None else f"b{bias}"),
    )


def _sign_magnitude(mag_bits: int) -> IntFormat:
    """Sign + ``mag_bits`` magnitude bits, read as 1.(mag_bits-1) fixed point (max just below 2)."""
    return IntFormat(
        mag_bits + 1,
        symmetric=True,
        frac_bits=mag_bits - 1,
        name=f"int{mag_bits + 1}_sym_f{mag_bits - 1}",
    )


def bfp(
    block: int, element: str | ElementFormat, scale_bits: int = 8, scale_bias: int | None = None
) -> BlockFormat:
    """Generic block floating point: ``block`` elements share a ``scale_bits``-bit power-of-two
    scale.

    Args:
        block: elements per shared exponent.
        element: element format or its name (e.g. ``"int8"``, ``"fp4_e2m1"``).
        scale_bits: width of the shared exponent (ExM0, NaN at all ones).
        scale_bias: its bias (default ``2**(scale_bits-1) - 1``).
    """
    elem = get(element) if isinstance(element, str) else element
    if isinstance(elem, BlockFormat):
        raise ValueError(f"element={element!r}: expected an element format, not a block format")  # noqa: TRY004
    sb = "" if scale_bias is None else f"b{scale_bias}"
    return BlockFormat(
        f"bfp{block}_{elem.name}_e{scale_bits}{sb}",
        elem,
        block,
        _pow2_scale(scale_bits, scale_bias),
    )


_ELEMENTS: list[ElementFormat] = [
    fp8_e4m3,
    fp8_e5m2,
    fp8_e4m3fnuz,
    fp8_e5m2fnuz,
    fp6_e2m3,
    fp6_e3m2,
    fp4_e2m1,
    int8,
    int4,
    e8m0,
    ue4m3,
    bf16,
    fp16,
    tf32,
    fp32,
]
_BLOCKS: list[BlockFormat] = [
    BlockFormat("mxfp8_e4m3", fp8_e4m3, 32, e8m0),
    BlockFormat("mxfp8_e5m2", fp8_e5m2, 32, e8m0),
    BlockFormat("mxfp6_e2m3", fp6_e2m3, 32, e8m0),
    BlockFormat("mxfp6_e3m2", fp6_e3m2, 32, e8m0),
    BlockFormat("mxfp4_e2m1", fp4_e2m1, 32, e8m0),
    BlockFormat("mxint8", mxint8_element, 32, e8m0),
    BlockFormat("nvfp4", fp4_e2m1, 16, ue4m3, tensor_scale=True, scale_storage_bits=8),
    BlockFormat("mx9", _sign_magnitude(7), 16, e8m0, sub_block_size=2, sub_scale_bits=1),
    BlockFormat("mx6", _sign_magnitude(4), 16, e8m0, sub_block_size=2, sub_scale_bits=1),
    BlockFormat("mx4", _sign_magnitude(2), 16, e8m0, sub_block_size=2, sub_scale_bits=1),
    # Error Diffusion paper (arXiv 2410.11203): four int3 elements (sign + 2 magnitude bits) share a
    # 4-bit exponent: 16 bits per 4 values. The scale bias (7) is this project's reading.
    BlockFormat("b4int3", IntFormat(3, symmetric=True, name="int3_sym"), 4, _pow2_scale(4)),
]
_ALIASES = {
    "e4m3fn": "fp8_e4m3",
    "float8_e4m3fn": "fp8_e4m3",
    "e5m2": "fp8_e5m2",
    "float8_e5m2": "fp8_e5m2",
    "e4m3fnuz": "fp8_e4m3fnuz",
    "float8_e4m3fnuz": "fp8_e4m3fnuz",
    "e5m2fnuz": "fp8_e5m2fnuz",
    "float8_e5m2fnuz": "fp8_e5m2fnuz",
    "e2m3fn": "fp6_e2m3",
    "float6_e2m3fn": "fp6_e2m3",
    "e3m2fn": "fp6_e3m2",
    "float6_e3m2fn": "fp6_e3m2",
    "e2m1fn": "fp4_e2m1",
    "float4_e2m1fn": "fp4_e2m1",
    "e8m0fnu": "e8m0",
    "float8_e8m0fnu": "e8m0",
    "bfloat16": "bf16",
    "float16": "fp16",
    "half": "fp16",
    "float32": "fp32",
    "single": "fp32",
}
_REGISTRY: dict[str, Format] = {f.name: f for f in [*_ELEMENTS, *_BLOCKS, fp64]}


def names(kind: str = "all") -> list[str]:
    """Canonical names of the registered formats.

    Args:
        kind: ``"all"``, ``"element"`` or ``"block"``.
    """
    if kind == "element":
        return [f.name for f in _ELEMENTS]
    if kind == "block":
        return [f.name for f in _BLOCKS]
    if kind != "all":
        raise ValueError(f"kind={kind!r}: expected 'all', 'element' or 'block'")
    return [f.name for f in [*_ELEMENTS, *_BLOCKS]]


def get(name: str | Format) -> Format:
    """Look a format up by name or alias; a format instance is returned unchanged.

    Raises:
        KeyError: unknown name; the message lists close matches.
        TypeError: ``name`` is neither a string nor a format.
    """
    if isinstance(name, (FloatFormat, IntFormat, BlockFormat)):
        return name
    if not isinstance(name, str):
        raise TypeError(
            f"format={name!r}: expected a format name or a FloatFormat/IntFormat/BlockFormat"
        )
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key in _REGISTRY:
        return _REGISTRY[key]
    close = difflib.get_close_matches(key, [*_REGISTRY, *_ALIASES], n=4, cutoff=0.5)
    hint = f"; close matches: {', '.join(close)}" if close else ""
    raise KeyError(f"unknown format {name!r}{hint}. Known: {', '.join(names())}")
