"""Format descriptors and the registry: derived properties against hand-checked spec tables.

Expected numbers come from OCP MX v1.0 §5.3 (element tables) and §5.4.1 (E8M0), OCP OFP8 v1.0,
the PTX ISA (NVFP4 UE4M3), the StableHLO FNUZ RFC, arXiv 2302.08007 (MX9/6/4) and IEEE 754
binary16/32 (bf16 and tf32 share
binary32's exponent), written out by hand below; a second table cross-checks against ml_dtypes.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np
import pytest

import numsim
from numsim import formats as F
from numsim import reference as ref
from numsim.formats import BlockFormat, FloatFormat, IntFormat, Specials

T = 2.0**127  # shorthand for the binary32 scale

# name: (total_bits, max, min_normal, smallest_subnormal, emax, has_inf, has_nan, nan_code)
# nan_code None: integer formats (no NaN code attribute).
ELEMENT_TABLE = {
    # OFP8 E4M3: bias 7, max S.1111.110 = 1.75*2^8, NaN S.1111.111 (OCP MX v1.0 §5.3.1, OFP8 v1.0)
    "fp8_e4m3": (8, 448.0, 2.0**-6, 2.0**-9, 8, False, True, 0x7F),
    # OFP8 E5M2: bias 15, max S.11110.11 = 1.75*2^15, Inf S.11111.00, quiet NaN S.11111.10
    "fp8_e5m2": (8, 57344.0, 2.0**-14, 2.0**-16, 15, True, True, 0x7E),
    # FNUZ (openxla/stablehlo rfcs/20230321-fp8_fnuz.md): bias 8 / 16, max 0x7F, NaN only 0x80
    "fp8_e4m3fnuz": (8, 240.0, 2.0**-7, 2.0**-10, 7, False, True, 0x80),
    "fp8_e5m2fnuz": (8, 57344.0, 2.0**-15, 2.0**-17, 15, False, True, 0x80),
    # MX FP6/FP4 (OCP MX v1.0 §5.3.2-§5.3.3): no Inf/NaN
    "fp6_e2m3": (6, 7.5, 1.0, 0.125, 2, False, False, -1),
    "fp6_e3m2": (6, 28.0, 0.25, 0.0625, 4, False, False, -1),
    "fp4_e2m1": (4, 6.0, 1.0, 0.5, 2, False, False, -1),
    # plain two's complement integers: max 2^(b-1)-1, one unit is the smallest value
    "int8": (8, 127.0, 1.0, 1.0, 6, False, False, None),
    "int4": (4, 7.0, 1.0, 1.0, 2, False, False, None),
    # E8M0 (OCP MX v1.0 §5.4.1): 2^(e-127), e in 0..254, 0xFF NaN, no zero, no subnormals
    "e8m0": (8, T, 2.0**-127, 2.0**-127, 127, False, True, 0xFF),
    # UE4M3 (arXiv 2509.25149 App. B; PTX ISA block scaling): 7-bit unsigned E4M3, NaN 0x7F
    "ue4m3": (7, 448.0, 2.0**-6, 2.0**-9, 8, False, True, 0x7F),
    # IEEE-style: bf16 (8, 7), fp16 binary16, tf32 (8, 10), fp32 binary32; quiet NaN: top
    # fraction bit set
    "bf16": (16, (2 - 2.0**-7) * T, 2.0**-126, 2.0**-133, 127, True, True, 0x7FC0),
    "fp16": (16, 65504.0, 2.0**-14, 2.0**-24, 15, True, True, 0x7E00),
    "tf32": (19, (2 - 2.0**-10) * T, 2.0**-126, 2.0**-136, 127, True, True, 0x3FE00),
    "fp32": (32, (2 - 2.0**-23) * T, 2.0**-126, 2.0**-149, 127, True, True, 0x7FC00000),
}


def test_table_covers_registry():
    assert sorted(ELEMENT_TABLE) == sorted(F.names("element"))


@pytest.mark.parametrize("name", sorted(ELEMENT_TABLE))
def test_element_properties(name):
    fmt = F.get(name)
    bits, mx, mn, sub, emax, inf, nan, nan_code = ELEMENT_TABLE[name]
    assert str(fmt) == name
    assert fmt.total_bits == bits
    assert fmt.max == mx
    assert fmt.min_normal == mn
    assert fmt.smallest_subnormal == sub
    assert fmt.emax == emax
    assert fmt.has_inf is inf
    assert fmt.has_nan is nan
    if nan_code is not None:
        assert fmt.nan_code == nan_code
        if nan:
            assert fmt.is_nan_code(nan_code)
    # the code dtype is the narrowest unsigned type holding the bits
    assert fmt.code_dtype == ("uint8" if bits <= 8 else "uint16" if bits <= 16 else "uint32")


# Further hand-checked facts: (bias, inf_code, has_negative_zero, max code magnitude)
FLOAT_DETAILS = {
    "fp8_e4m3": (7, -1, True, 0x7E),
    "fp8_e5m2": (15, 0x7C, True, 0x7B),
    "fp8_e4m3fnuz": (8, -1, False, 0x7F),
    "fp8_e5m2fnuz": (16, -1, False, 0x7F),
    "fp6_e2m3": (1, -1, True, 0x1F),
    "fp6_e3m2": (3, -1, True, 0x1F),
    "fp4_e2m1": (1, -1, True, 0x7),
    "e8m0": (127, -1, False, 0xFE),
    "ue4m3": (7, -1, False, 0x7E),
    "bf16": (127, 0x7F80, True, 0x7F7F),
    "fp16": (15, 0x7C00, True, 0x7BFF),
    "tf32": (127, 0x3FC00, True, 0x3FBFF),
    "fp32": (127, 0x7F800000, True, 0x7F7FFFFF),
}


@pytest.mark.parametrize("name", sorted(FLOAT_DETAILS))
def test_float_details(name):
    fmt = F.get(name)
    bias, inf_code, negzero, maxmag = FLOAT_DETAILS[name]
    assert fmt.bias == bias
    assert fmt.inf_code == inf_code
    assert fmt.has_negative_zero is negzero
    assert fmt.max_code_magnitude == maxmag
    assert fmt.exact_value(maxmag) == Fraction(fmt.max)


def test_e8m0_codes():
    """OCP MX v1.0 §5.4.1 (E8M0): 0x00 = 2^-127, 0x7F = 1, 0xFE = 2^127, 0xFF = NaN."""
    fmt = F.get("e8m0")
    assert fmt.exact_value(0x00) == Fraction(1, 2**127)
    assert fmt.exact_value(0x7F) == 1
    assert fmt.exact_value(0xFE) == 2**127
    assert fmt.is_nan_code(0xFF) and not fmt.is_nan_code(0xFE)
    vals = numsim.decode(np.array([0x00, 0x7F, 0xFE, 0xFF], np.uint8), fmt)
    assert vals[0] == 2.0**-127 and vals[1] == 1.0 and vals[2] == 2.0**127 and np.isnan(vals[3])


def test_e2m1_value_set():
    """MX §5.3.3 Table 5: E2M1 = {0, 0.5, 1, 1.5, 2, 3, 4, 6} with sign."""
    fmt = F.get("fp4_e2m1")
    pos = [float(fmt.exact_value(c)) for c in range(8)]
    assert pos == [0, 0.5, 1, 1.5, 2, 3, 4, 6]
    assert [float(fmt.exact_value(c | 8)) for c in range(1, 8)] == [-v for v in pos[1:]]


def test_e4m3_reclaimed_range():
    """OFP8: codes 0x78..0x7E are 256..448 (an IEEE-like E4M3 would stop at 240)."""
    fmt = F.get("fp8_e4m3")
    assert [float(fmt.exact_value(c)) for c in range(0x78, 0x7F)] == [
        256,
        288,
        320,
        352,
        384,
        416,
        448,
    ]
    assert fmt.exact_value(0x01) == Fraction(1, 2**9)  # min subnormal
    assert fmt.exact_value(0x07) == Fraction(7, 8) / 64  # max subnormal 0.875*2^-6


def test_fnuz_nan_only_at_negative_zero():
    for name in ("fp8_e4m3fnuz", "fp8_e5m2fnuz"):
        fmt = F.get(name)
        nans = [c for c in range(256) if fmt.is_nan_code(c)]
        assert nans == [0x80], name


def _reference_class(fmt: F.ElementFormat, code: int) -> F.CodeClass:
    """The class of ``code`` from the exact reference decoder (``numsim.reference.codec``)."""
    v = ref.codec.decode(fmt, code)
    if isinstance(v, float):
        return F.CodeClass.nan if math.isnan(v) else F.CodeClass.inf
    return F.CodeClass.zero if v == 0 else F.CodeClass.finite


SMALL_FORMATS = [F.get(n) for n in F.names("element") if F.get(n).total_bits <= 16] + [
    FloatFormat(3, 2, subnormals=False, name="e3m2_no_subnormals"),
    FloatFormat(4, 2, specials=Specials.fn, signed=False, name="ue4m2fn"),
    IntFormat(6, signed=False),
    numsim.formats.mxint8_element,
]


@pytest.mark.parametrize("fmt", SMALL_FORMATS, ids=str)
def test_classify_matches_reference(fmt):
    """Every code's class agrees with the exact reference decoder: NaN, Inf, value 0, other."""
    want = np.array([_reference_class(fmt, c) for c in range(1 << fmt.total_bits)], np.int8)
    codes = np.arange(1 << fmt.total_bits)
    np.testing.assert_array_equal(fmt.classify(codes), want)
    np.testing.assert_array_equal(fmt.classify(codes.reshape(2, -1)), want.reshape(2, -1))
    assert [fmt.is_nan_code(c) if isinstance(fmt, FloatFormat) else False for c in codes] == list(
        want == F.CodeClass.nan
    )


def test_fnuz_classes_regression():
    """FP8 E4M3FNUZ (StableHLO FNUZ RFC): 0x80 is the NaN, never a zero; 0x00 is the only zero.
    The golden case builder once counted 0x80 among the zeros (it tested the magnitude only)."""
    from numsim.golden.dot_cases import element_classes

    fmt = F.get("fp8_e4m3fnuz")
    assert fmt.classify(0x80) == F.CodeClass.nan and fmt.classify(0x00) == F.CodeClass.zero
    cls = element_classes(fmt)
    assert cls["nan"].tolist() == [0x80]
    assert cls["zero"].tolist() == [0x00]
    assert cls["inf"].size == 0
    assert cls["finite"].tolist() == [c for c in range(256) if c not in (0x00, 0x80)]


# ml_dtypes finfo as an independent second source (names as in ml_dtypes).
ML_DTYPES_NAMES = {
    "fp8_e4m3": "float8_e4m3fn",
    "fp8_e5m2": "float8_e5m2",
    "fp8_e4m3fnuz": "float8_e4m3fnuz",
    "fp8_e5m2fnuz": "float8_e5m2fnuz",
    "fp6_e2m3": "float6_e2m3fn",
    "fp6_e3m2": "float6_e3m2fn",
    "fp4_e2m1": "float4_e2m1fn",
    "e8m0": "float8_e8m0fnu",
    "bf16": "bfloat16",
}


@pytest.mark.parametrize("name", sorted(ML_DTYPES_NAMES))
def test_properties_match_ml_dtypes_finfo(name):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    fi = ml_dtypes.finfo(getattr(ml_dtypes, ML_DTYPES_NAMES[name]))
    fmt = F.get(name)
    assert fmt.max == float(fi.max)
    assert fmt.min_normal == float(fi.smallest_normal)
    assert fmt.smallest_subnormal == float(fi.smallest_subnormal)
    assert F.get(ML_DTYPES_NAMES[name]) is fmt  # the ml_dtypes spelling is an alias


def test_fp16_fp32_match_numpy_finfo():
    for name, dt in (("fp16", np.float16), ("fp32", np.float32)):
        fi = np.finfo(dt)
        fmt = F.get(name)
        assert fmt.max == float(fi.max)
        assert fmt.min_normal == float(fi.smallest_normal)
        assert fmt.smallest_subnormal == float(fi.smallest_subnormal)


# ---------------------------------------------------------------------------------------------
# Block formats
# ---------------------------------------------------------------------------------------------
# name: (bits_per_value, block_size, element name, scale name, sub_block_size, sub_scale_bits)
BLOCK_TABLE = {
    "mxfp8_e4m3": (8.25, 32, "fp8_e4m3", "e8m0", 0, 0),
    "mxfp8_e5m2": (8.25, 32, "fp8_e5m2", "e8m0", 0, 0),
    "mxfp6_e2m3": (6.25, 32, "fp6_e2m3", "e8m0", 0, 0),
    "mxfp6_e3m2": (6.25, 32, "fp6_e3m2", "e8m0", 0, 0),
    "mxfp4_e2m1": (4.25, 32, "fp4_e2m1", "e8m0", 0, 0),
    "mxint8": (8.25, 32, None, "e8m0", 0, 0),
    "nvfp4": (4.5, 16, "fp4_e2m1", "ue4m3", 0, 0),
    "mx9": (9.0, 16, None, "e8m0", 2, 1),
    "mx6": (6.0, 16, None, "e8m0", 2, 1),
    "mx4": (4.0, 16, None, "e8m0", 2, 1),
    "b4int3": (4.0, 4, None, None, 0, 0),
}


def test_block_table_covers_registry():
    assert sorted(BLOCK_TABLE) == sorted(F.names("block"))
    assert F.names() == F.names("element") + F.names("block")


@pytest.mark.parametrize("name", sorted(BLOCK_TABLE))
def test_block_properties(name):
    fmt = F.get(name)
    bpv, bs, elem, scale, sub, subbits = BLOCK_TABLE[name]
    assert isinstance(fmt, BlockFormat) and str(fmt) == name
    assert fmt.bits_per_value == bpv
    assert fmt.block_size == bs
    if elem is not None:
        assert fmt.element is F.get(elem)
    if scale is not None:
        assert fmt.scale is F.get(scale)
    assert (fmt.sub_block_size, fmt.sub_scale_bits) == (sub, subbits)
    assert fmt.tensor_scale is (name == "nvfp4")
    assert fmt.pow2_scale is (name != "nvfp4")


# Element facts of the integer-element block formats (OCP MX v1.0 §5.3.4 INT8, arXiv
# 2302.08007 MX9/6/4):
# name: (element bits, element max, element smallest, element emax)
BLOCK_INT_ELEMENTS = {
    "mxint8": (8, 127 / 64, 2.0**-6, 0),  # 1.984375, MX §5.3.4: emax_elem 0
    "mx9": (8, 127 / 64, 2.0**-6, 0),  # sign + 7 magnitude bits, 1.xxxxxx
    "mx6": (5, 15 / 8, 2.0**-3, 0),  # sign + 4 magnitude bits, 1.xxx
    "mx4": (3, 3 / 2, 0.5, 0),  # sign + 2 magnitude bits, 1.x
    "b4int3": (3, 3.0, 1.0, 1),  # int3, symmetric: +-3
}


@pytest.mark.parametrize("name", sorted(BLOCK_INT_ELEMENTS))
def test_block_integer_elements(name):
    elem = F.get(name).element
    bits, mx, small, emax = BLOCK_INT_ELEMENTS[name]
    assert isinstance(elem, IntFormat) and elem.symmetric
    assert elem.total_bits == bits
    assert elem.max == mx
    assert elem.smallest_subnormal == small
    assert elem.emax == emax
    assert elem.min_int == -elem.max_int  # the most negative code is unused


def test_block_max_values():
    assert F.get("mxfp8_e4m3").max == 448.0 * 2.0**127
    assert F.get("mxfp4_e2m1").max == 6.0 * 2.0**127
    assert F.get("nvfp4").max == 6.0 * 448.0
    assert F.get("b4int3").scale.max == 2.0**7  # 4-bit exponent, bias 7, 0xF = NaN


def test_bfp_constructor():
    b = F.bfp(16, "int8")
    assert b.block_size == 16 and b.element is F.get("int8") and b.scale is F.get("e8m0")
    assert b.bits_per_value == 8 + 8 / 16
    b5 = F.bfp(8, "fp4_e2m1", scale_bits=5)
    assert b5.scale.total_bits == 5 and b5.scale.bias == 15 and b5.bits_per_value == 4 + 5 / 8
    with pytest.raises(ValueError):
        F.bfp(16, "mxfp8_e4m3")


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------
ALIASES = {
    "e4m3fn": "fp8_e4m3",
    "float8_e4m3fn": "fp8_e4m3",
    "e5m2": "fp8_e5m2",
    "float8_e5m2": "fp8_e5m2",
    "e4m3fnuz": "fp8_e4m3fnuz",
    "float8_e5m2fnuz": "fp8_e5m2fnuz",
    "e2m3fn": "fp6_e2m3",
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
    "FP8_E4M3": "fp8_e4m3",
    " mxfp4_e2m1 ": "mxfp4_e2m1",
}


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_alias_resolves(alias):
    assert F.get(alias) is F.get(ALIASES[alias])
    assert str(F.get(alias)) == ALIASES[alias]


def test_every_name_resolves_to_itself():
    for name in F.names():
        assert str(F.get(name)) == name
    fmt = F.get("fp8_e4m3")
    assert F.get(fmt) is fmt


def test_unknown_name_lists_close_matches():
    with pytest.raises(KeyError, match="fp8_e4m3") as info:
        F.get("fp8_e4m4")
    assert "close matches" in str(info.value)
    with pytest.raises(KeyError, match="mxfp4_e2m1"):
        F.get("mxfp4_e2m2")
    with pytest.raises(KeyError, match="unknown format"):
        F.get("no_such_format_at_all")


def test_get_rejects_non_names():
    with pytest.raises(TypeError):
        F.get(8)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        F.names("scales")


def test_descriptors_frozen_and_hashable():
    for name in F.names():
        fmt = F.get(name)
        with pytest.raises(dataclasses.FrozenInstanceError):
            fmt.name = "x"  # type: ignore[misc]
        assert hash(fmt) == hash(F.get(name))
    # equal fields -> equal and same hash; usable as dict keys
    a = FloatFormat(4, 3, specials=Specials.fn, name="fp8_e4m3")
    assert a == F.get("fp8_e4m3") and hash(a) == hash(F.get("fp8_e4m3"))
    assert len({F.get(n) for n in F.names()}) == len(F.names())
    assert IntFormat(8, name="int8") == F.get("int8")


def test_default_names():
    assert str(FloatFormat(3, 4, bias=5, specials=Specials.fn)) == "e3m4b5fn"
    assert str(FloatFormat(5, 2)) == "e5m2b15"
    assert str(FloatFormat(4, 3, signed=False, specials=Specials.finite)) == "ue4m3b7f"
    assert str(IntFormat(6)) == "int6" and str(IntFormat(6, signed=False)) == "uint6"
    assert str(IntFormat(8, symmetric=True, frac_bits=6)) == "int8_sym_f6"


INVALID_FLOATS = {
    "exp_bits_0": {"exp_bits": 0, "man_bits": 3},
    "exp_bits_12": {"exp_bits": 12, "man_bits": 3},
    "exp_bits_float": {"exp_bits": 4.0, "man_bits": 3},
    "exp_bits_float_with_bias": {"exp_bits": 4.0, "man_bits": 3, "bias": 7},
    "man_bits_neg": {"exp_bits": 4, "man_bits": -1},
    "man_bits_53": {"exp_bits": 4, "man_bits": 53},
    "over_32_bits": {"exp_bits": 8, "man_bits": 24},
    "ieee_without_fraction": {"exp_bits": 5, "man_bits": 0},
    "fnuz_unsigned": {"exp_bits": 4, "man_bits": 3, "signed": False, "specials": Specials.fnuz},
    "no_zero_with_subnormals": {
        "exp_bits": 8,
        "man_bits": 0,
        "signed": False,
        "specials": Specials.fn,
        "has_zero": False,
    },
    "no_finite_nonzero": {
        "exp_bits": 1,
        "man_bits": 0,
        "signed": False,
        "specials": Specials.fn,
        "subnormals": False,
    },
    "beyond_float64": {"exp_bits": 11, "man_bits": 3, "bias": -10},
    "below_float64": {"exp_bits": 4, "man_bits": 3, "bias": 1100},
    "bad_specials": {"exp_bits": 4, "man_bits": 3, "specials": 7},
    # a fractional bias makes non-dyadic "values" (2**-6.5): the bias must be an int
    "bias_float": {"exp_bits": 4, "man_bits": 3, "bias": 7.5},
}


@pytest.mark.parametrize("kwargs", list(INVALID_FLOATS.values()), ids=list(INVALID_FLOATS))
def test_invalid_float_format(kwargs):
    with pytest.raises(ValueError):
        FloatFormat(**kwargs)


INVALID_INTS = {
    "bits_1": {"bits": 1},
    "bits_33": {"bits": 33},
    "bits_float": {"bits": 8.0},
    "symmetric_unsigned": {"bits": 8, "signed": False, "symmetric": True},
}


@pytest.mark.parametrize("kwargs", list(INVALID_INTS.values()), ids=list(INVALID_INTS))
def test_invalid_int_format(kwargs):
    with pytest.raises(ValueError):
        IntFormat(**kwargs)


def _block(**kw):
    base = {"name": "b", "element": F.get("fp8_e4m3"), "block_size": 32, "scale": F.get("e8m0")}
    base.update(kw)
    return BlockFormat(**base)


INVALID_BLOCKS = {
    "block_size_0": {"block_size": 0},
    "block_size_float": {"block_size": 32.0},
    "signed_scale": {"scale": F.get("fp8_e4m3")},
    "int_scale": {"scale": F.get("int8")},
    "block_element": {"element": F.get("mxfp8_e4m3")},
    "sub_block_not_divisor": {"sub_block_size": 3, "sub_scale_bits": 1},
    "sub_block_without_bits": {"sub_block_size": 2, "sub_scale_bits": 0},
    "sub_scale_without_block": {"sub_block_size": 0, "sub_scale_bits": 1},
    "microexponent_fp_scale": {
        "scale": F.get("ue4m3"),
        "block_size": 16,
        "sub_block_size": 2,
        "sub_scale_bits": 1,
    },
    "tensor_scale_pow2": {"tensor_scale": True},
}


@pytest.mark.parametrize("kwargs", list(INVALID_BLOCKS.values()), ids=list(INVALID_BLOCKS))
def test_invalid_block_format(kwargs):
    with pytest.raises(ValueError):
        _block(**kwargs)


def test_valid_block_constructions():
    assert _block().bits_per_value == 8.25
    b = _block(element=F.get("fp4_e2m1"), scale=F.get("ue4m3"), block_size=16, tensor_scale=True)
    assert not b.pow2_scale and b.bits_per_value == 4 + 7 / 16


# ---------------------------------------------------------------------------------------------
# User-built formats, end to end
# ---------------------------------------------------------------------------------------------
E3M4 = FloatFormat(3, 4, bias=5, specials=Specials.fn)  # max 1.875*2^2 = 7.5, NaN 0x7F
E3M4_IEEE = FloatFormat(3, 4, bias=5)  # max 0x6F = 1.9375*2^1 = 3.875, Inf 0x70


def test_user_float_format_properties():
    assert E3M4.total_bits == 8 and E3M4.max == 7.5 and E3M4.emax == 2
    assert E3M4.min_normal == 2.0**-4 and E3M4.smallest_subnormal == 2.0**-8
    assert E3M4.nan_code == 0x7F and not E3M4.has_inf
    assert E3M4_IEEE.max == 3.875 and E3M4_IEEE.inf_code == 0x70 and E3M4_IEEE.nan_code == 0x78


@pytest.mark.parametrize("fmt", [E3M4, E3M4_IEEE], ids=str)
def test_user_float_format_decode_all_codes(fmt):
    codes = np.arange(256, dtype=np.uint8)
    got = numsim.decode(codes, fmt).astype(np.float64)
    want = [ref.decode(fmt, c) for c in range(256)]
    for c, g, w in zip(range(256), got, want):
        if isinstance(w, float) and math.isnan(w):
            assert np.isnan(g), hex(c)
        else:
            assert g == w, hex(c)
            assert bool(np.signbit(g)) == bool(c & 0x80), hex(c)


def test_user_float_format_encode_hand_values():
    # Hand-derived for e3m4 bias 5 "fn": 1.0 = field 5 -> 0x50; max 7.5 = 1.1110b*2^2 = 0x7E; the
    # step in that binade is 0.25, so 7.625 ties between 7.5 (even) and 7.75 (the NaN code's
    # value: beyond max) -> 7.5, anything above overflows; subnormal step 2^-8: 2^-9 ties to 0,
    # 1.5*2^-9 -> 0x01; -0 -> 0x80; NaN -> 0x7F.
    x = np.array(
        [1.0, 7.5, 7.625, 7.63, 7.75, 2.0**-9, 1.5 * 2.0**-9, -0.0, -1.0, np.nan], np.float32
    )
    sat = numsim.encode(x, E3M4)
    assert sat.tolist() == [0x50, 0x7E, 0x7E, 0x7E, 0x7E, 0x00, 0x01, 0x80, 0xD0, 0x7F]
    ovf = numsim.encode(x, E3M4, overflow="nonsaturate")
    assert ovf.tolist() == [0x50, 0x7E, 0x7E, 0x7F, 0x7F, 0x00, 0x01, 0x80, 0xD0, 0x7F]
    assert numsim.encode(x.astype(np.float64), E3M4).tolist() == sat.tolist()
    # IEEE variant: max 3.875 = 1.1111b*2^1 (odd); 3.9375 ties to the even 4.0, which overflows
    # (as binary16's 65520 -> Inf).
    y = np.array([3.875, 3.9375, 3.94, -100.0, np.inf, 2.0**-4], np.float64)
    ieee = numsim.encode(y, E3M4_IEEE, overflow="nonsaturate")
    assert ieee.tolist() == [0x6F, 0x70, 0x70, 0xF0, 0x70, 0x10]
    assert numsim.encode(y, E3M4_IEEE).tolist() == [0x6F, 0x6F, 0x6F, 0xEF, 0x6F, 0x10]
    assert numsim.quantize(np.float32([3.0, 5.0, 5.1]), E3M4).tolist() == [3.0, 5.0, 5.0]


def test_user_int_format_end_to_end():
    fmt = IntFormat(6)  # -32 .. 31
    assert fmt.max == 31 and fmt.total_bits == 6 and fmt.code_dtype == "uint8"
    x = np.array([31.6, -40.0, 2.5, 3.5, -2.5, 0.4, -0.6, 1e30], np.float32)
    codes = numsim.encode(x, fmt)
    # RNE; saturating at 31 / -32; two's complement codes in 6 bits
    assert codes.tolist() == [31, 0x20, 2, 4, 0x3E, 0, 0x3F, 31]
    assert numsim.decode(codes, fmt).tolist() == [31, -32, 2, 4, -2, 0, -1, 31]
    down = numsim.encode(x, fmt, rounding="toward_zero")
    assert down.tolist() == [31, 0x20, 2, 3, 0x3E, 0, 0, 31]
