"""The NVIDIA datapath knobs that follow MMA-Sim (Xie et al., arXiv:2511.10909;
github.com/microsoft/MMA-Sim, ``mmasim/simulator/arithmetic.py``): ``zero_exponent``,
``underflow_zero``, ``c_format``, ``b_format`` and ``c_entry``.

Every expected value is derived by hand in the test's docstring from the rule it exercises (the
README of ``tests/data/mmasim``, sections G2-G6), and each case is held both to the kernels and to
the Fraction reference :mod:`numsim.reference.dot`; the random cases hold the kernels to that
reference. The MMA-Sim vectors themselves are tests/test_mmasim.py.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_datapath import IN_FORMATS, _ref_f32_bits, check_dot_against_reference, units

from numsim import datapath as dp
from numsim import formats as F
from numsim.datapath import DotUnit
from numsim.reference import codec as ref_codec
from numsim.reference import dot as ref_dot

Q = Fraction(1, 2)


def _bits32(x: Any) -> int:
    return int(np.asarray(x, np.float32).reshape(-1)[0:1].view(np.uint32)[0])


def _bits16(x: Any) -> int:
    return int(np.asarray(x, np.float32).reshape(-1)[0:1].astype(np.float16).view(np.uint16)[0])


def _both(unit: DotUnit, a: list[Fraction], b: list[Fraction], c: Fraction) -> tuple[int, int]:
    """(kernel, reference) result codes of one dot product (FP16 codes for FP16-out units)."""
    d = unit.dot(np.array([float(x) for x in a]), np.array([float(y) for y in b]), float(c))
    code = ref_dot.dot_code(unit, a, b, c)
    fmt = ref_dot.result_format(unit)
    if fmt == F.fp16:
        return _bits16(d), code
    return _bits32(d), _ref_f32_bits(unit, code)


def _pad(v: list[Fraction], k: int) -> list[Fraction]:
    return v + [Fraction(0)] * (k - len(v))


# --------------------------------------------------------------------------------------------
# zero_exponent (README G2): a zero operand has exponent -126 and its product joins the maximum
# --------------------------------------------------------------------------------------------
def test_zero_times_huge_sets_the_grid_tf32() -> None:
    """README G2's ``a100-tf32`` case: ``a = [2**127, -0, 2**127, -0]``, ``b = 0``: the products
    have exponent ``127 - 126 = 1``, so eta = 1 and the grid is ``2**(1 - 24)``; ``c = 1.25 *
    2**-31`` truncates to 0 and the result is +0. With zero products dropped c alone is the
    result: ``1.25 * 2**-31`` = 0x30200000."""
    unit = dp.get("a100-tf32")
    a = [Fraction(2) ** 127, Fraction(0), Fraction(2) ** 127, Fraction(0)]
    b = [Fraction(0)] * 4
    c = Fraction(5, 4) * Fraction(2) ** -31
    assert _both(unit, a, b, c) == (0, 0)
    dropped = replace(unit, zero_exponent=None)
    assert _both(dropped, a, b, c) == (0x30200000, 0x30200000)


def test_zero_times_huge_truncates_c_bf16() -> None:
    """``b200-bf16``: ``a = [0, 1]``, ``b = [2**127, 1.5]``, ``c = -2**-25``. The zero product has
    exponent 1, the grid is ``2**(1 - 25) = 2**-24``, c truncates toward zero to 0 and the result
    is 1.5 (0x3FC00000). Dropped: eta = 0, grid ``2**-25``, ``1.5 - 2**-25`` exactly, RZ to FP32:
    ``1.5 - 2**-23`` (0x3FBFFFFF)."""
    unit = dp.get("b200-bf16")
    a = _pad([Fraction(0), Fraction(1)], 16)
    b = _pad([Fraction(2) ** 127, Fraction(3, 2)], 16)
    c = -(Fraction(2) ** -25)
    assert _both(unit, a, b, c) == (0x3FC00000, 0x3FC00000)
    assert _both(replace(unit, zero_exponent=None), a, b, c) == (0x3FBFFFFF, 0x3FBFFFFF)


def test_zero_c_joins_at_zero_exponent() -> None:
    """No eta floor: ``a = [2**-100]``, ``b = [1.5 * 2**-40]``, product ``1.5 * 2**-140`` with
    exponent -140; a zero c joins at -126, so eta = -126 and with F = 4 the grid is ``2**-130``:
    the product truncates to 0, result +0. Without the knob eta = -140 and the product is exact:
    the FP32 subnormal ``768 * 2**-149`` (0x00000300)."""
    unit = DotUnit("zero-c", F.bf16, 2, 4, zero_exponent=-126)
    a, b = [Fraction(2) ** -100], [Fraction(3, 2) * Fraction(2) ** -40]
    assert _both(unit, a, b, Fraction(0)) == (0, 0)
    assert _both(replace(unit, zero_exponent=None), a, b, Fraction(0)) == (0x300, 0x300)


# --------------------------------------------------------------------------------------------
# underflow_zero (README G6): a result rounded to zero is +0
# --------------------------------------------------------------------------------------------
def test_fp16_result_rounded_to_zero_is_positive() -> None:
    """``t4-fp16`` FP16 out: ``-2**-16 * 2**-16 = -2**-32`` is exact on the grid (eta = -32) and
    rounds (RNE) to a zero in FP16 (half of the smallest subnormal is ``2**-25``): +0 (0x0000);
    with ``underflow_zero="signed"`` -0 (0x8000)."""
    unit = dp.get("t4-fp16", out="fp16")
    a = _pad([-(Fraction(2) ** -16)], 8)
    b = _pad([Fraction(2) ** -16], 8)
    assert _both(unit, a, b, Fraction(0)) == (0x0000, 0x0000)
    signed = replace(unit, underflow_zero="signed")
    assert _both(signed, a, b, Fraction(0)) == (0x8000, 0x8000)


def test_fp32_result_truncated_to_zero_is_positive() -> None:
    """``b200-bf16``: ``-1.5 * 2**-100 * 2**-50 = -3 * 2**-151`` lies on the grid ``2**(-126 -
    25)`` (eta = -126 from the zero c) and RZ to FP32 (smallest subnormal ``2**-149``) gives a
    zero: +0; signed: -0 (0x80000000)."""
    unit = dp.get("b200-bf16")
    a = _pad([-Fraction(3, 2) * Fraction(2) ** -100], 16)
    b = _pad([Fraction(2) ** -50], 16)
    assert _both(unit, a, b, Fraction(0)) == (0, 0)
    signed = replace(unit, underflow_zero="signed")
    assert _both(signed, a, b, Fraction(0)) == (0x80000000, 0x80000000)


# --------------------------------------------------------------------------------------------
# c_format (README G3): a subnormal FP16 c aligns at FP16's emin -14
# --------------------------------------------------------------------------------------------
def test_fp16_subnormal_c_aligns_at_fp16_emin() -> None:
    """N = 1, F = 10, FP16 RNE out. ``a = 1.5 * 2**-11``, ``b = 2**-14``: product ``1.5 * 2**-25``
    with raw exponent -25; ``c = 3 * 2**-24`` (FP16 subnormal). ``c_format=fp16``: c's exponent is
    -14, eta = -14, grid ``2**-24``: the product truncates to 0, the result is c (0x0003).
    ``c_format=fp32``: c's exponent is -23, eta = -23, grid ``2**-33``: the sum ``3.75 * 2**-24``
    is exact and rounds (RNE) to ``4 * 2**-24`` (0x0004)."""
    unit = DotUnit(
        "c16", F.fp16, 1, 10, out_format=F.fp16, out_rounding="nearest_even", c_format=F.fp16
    )
    a, b = [Fraction(3, 2) * Fraction(2) ** -11], [Fraction(2) ** -14]
    c = 3 * Fraction(2) ** -24
    assert _both(unit, a, b, c) == (0x0003, 0x0003)
    assert _both(replace(unit, c_format=F.fp32), a, b, c) == (0x0004, 0x0004)


def test_c_must_be_exact_in_c_format() -> None:
    unit = dp.get("h100-fp16", out="fp16")
    with pytest.raises(ValueError, match=r"c\[0\] = .* not exactly representable in fp16"):
        unit.dot(np.ones((1, 16)), np.ones(16), np.array([1 + 2.0**-20], np.float32))
    with pytest.raises(ValueError, match="C.* not exactly representable in fp16"):
        dp.matmul(np.ones((1, 16)), np.ones((16, 1)), unit, np.full((1, 1), 1e-30, np.float32))


# --------------------------------------------------------------------------------------------
# b_format (README G4): mixed operand formats, each with its own emin
# --------------------------------------------------------------------------------------------
def test_mixed_fp8_subnormals_take_their_own_emin() -> None:
    """N = 1, F = 4, E4M3 x E5M2. ``a = 2**-9`` (E4M3 subnormal: exponent -6), ``b = 2**-16``
    (E5M2 subnormal: exponent -14): the product ``2**-25`` has raw exponent -20, above c's -24
    (``c = 1.5 * 2**-24``), so eta = -20 and the grid is ``2**-24``: the product truncates to 0,
    c to ``2**-24`` (0x33800000). Swapping the operands and the formats gives the same."""
    unit = DotUnit("e4m3xe5m2", F.fp8_e4m3, 1, 4, b_format=F.fp8_e5m2)
    a, b = [Fraction(2) ** -9], [Fraction(2) ** -16]
    c = Fraction(3, 2) * Fraction(2) ** -24
    assert _both(unit, a, b, c) == (0x33800000, 0x33800000)
    swapped = replace(unit, in_format=F.fp8_e5m2, b_format=F.fp8_e4m3)
    assert _both(swapped, b, a, c) == (0x33800000, 0x33800000)


def test_mixed_operands_are_checked_in_their_own_format() -> None:
    unit = dp.get("b200-e4m3xe5m2")
    assert (unit.in_format, unit.b_format) == (F.fp8_e4m3, F.fp8_e5m2)
    e5m2_only = np.full(32, 2.0**-16)  # an E5M2 subnormal; below E4M3's smallest subnormal
    assert unit.dot(np.ones(32), e5m2_only) == np.float32(32 * 2.0**-16)
    with pytest.raises(ValueError, match=r"^a\[0\] .* fp8_e4m3"):
        unit.dot(e5m2_only, np.ones(32))
    with pytest.raises(ValueError, match=r"^B\[0, 0\] .* fp8_e5m2"):
        dp.matmul(np.ones((1, 32)), np.full((32, 1), 1.125), unit)  # E4M3, not E5M2
    bf = dp.get("b200-fp16xbf16")
    assert (bf.in_format, bf.b_format, bf.n) == (F.fp16, F.bf16, 16)
    with pytest.raises(TypeError, match="b_format"):
        DotUnit("bad", F.fp16, 4, 24, b_format=F.int8)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# c_entry (README G3): C inside the block (the instruction) or an FP32 RNE epilogue (a GEMM)
# --------------------------------------------------------------------------------------------
def test_c_inside_and_epilogue_differ_by_hand() -> None:
    """``b200-e4m3`` (N = 32, F = 25, RZ), ``a = b = [1, 0, ...]``, ``c = 2**-24 + 2**-30``.
    Inside: eta = 0, grid ``2**-25``, c truncates to ``2**-24``; ``1 + 2**-24`` RZ to FP32 is 1
    (0x3F800000). Epilogue: the block gives 1, then ``RNE_fp32(1 + 2**-24 + 2**-30)``: above the
    half-ulp ``2**-24``, so ``1 + 2**-23`` (0x3F800001)."""
    inside = dp.get("b200-e4m3")
    late = dp.get("b200-e4m3-epilogue")
    assert (inside.c_placement, late.c_placement) == ("inside", "epilogue")
    assert late == replace(inside, name="b200-e4m3-epilogue", c_entry="epilogue")
    a = _pad([Fraction(1)], 32)
    c = Fraction(2) ** -24 + Fraction(2) ** -30
    assert _both(inside, a, a, c) == (0x3F800000, 0x3F800000)
    assert _both(late, a, a, c) == (0x3F800001, 0x3F800001)
    A = np.array([[float(x) for x in a]])
    C = np.full((1, 1), float(c), np.float32)
    assert _bits32(dp.matmul(A, A.T, late, C)) == 0x3F800001
    assert _bits32(dp.matmul(A, A.T, inside, C)) == 0x3F800000
    assert _bits32(dp.matmul(A, A.T, inside, C, c_entry="epilogue")) == 0x3F800001


def test_epilogue_is_an_ieee_fp32_addition() -> None:
    """The epilogue's signed zeros and specials are IEEE binary32 addition's: a zero K loop (+0)
    plus ``c = -0`` is +0; ``-x + x`` is +0; Inf + -Inf is NaN; a finite c is added exactly
    when the K loop's result is zero."""
    late = dp.get("h100-fp16-epilogue")
    z = np.zeros(16)
    one = np.zeros(16)
    one[0] = 1.0
    assert _bits32(late.dot(z, z, np.float32(-0.0))) == 0
    assert ref_dot.dot_code(late, [Fraction(0)] * 16, [Fraction(0)] * 16, -0.0) == 0
    assert _bits32(late.dot(one, -one, np.float32(1.0))) == 0
    assert _bits32(late.dot(one, one, np.float32(-1.0))) == 0
    big = np.zeros(16)
    big[:2] = 65504.0
    assert late.dot(big, big) == np.float32(2 * 65504.0**2)  # FP32 out: finite
    fp16 = dp.get("h100-fp16-epilogue", out="fp16")
    assert np.isnan(fp16.dot(big, big, np.float32(-np.inf)))  # +Inf (FP16 overflow) + -Inf
    assert _bits32(fp16.dot(z, z, np.float32(3 * 2.0**-24))) == _bits32(3 * 2.0**-24)


def test_c_entry_validation() -> None:
    with pytest.raises(ValueError, match="c_entry='late' needs c_inside=False"):
        DotUnit("x", F.fp16, 4, 24, c_entry="late")
    with pytest.raises(ValueError, match="c_entry='inside' needs c_inside=True"):
        DotUnit("x", F.fp16, 4, 24, c_inside=False, c_entry="inside")
    with pytest.raises(ValueError, match="c_entry='sideways'"):
        DotUnit("x", F.fp16, 4, 24, c_entry="sideways")
    with pytest.raises(ValueError, match="underflow_zero='negative'"):
        DotUnit("x", F.fp16, 4, 24, underflow_zero="negative")
    with pytest.raises(TypeError, match="zero_exponent=1.5"):
        DotUnit("x", F.fp16, 4, 24, zero_exponent=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="only a unit with c inside"):
        dp.get("mi300-fp16-epilogue")
    assert DotUnit("x", F.fp16, 4, 24, c_inside=False).c_placement == "late"


# --------------------------------------------------------------------------------------------
# random and corner cases: kernels == reference for the new presets and knob combinations
# --------------------------------------------------------------------------------------------
NEW_UNITS = [
    *(
        dp.get(n)
        for n in [
            "t4-fp16",
            "rtxpro6000-fp16",
            "rtxpro6000-bf16",
            "rtxpro6000-tf32",
            "rtxpro6000-e4m3",
            "rtxpro6000-e5m2",
            "ada-e4m3xe5m2",
            "h100-e5m2xe4m3",
            "b200-e4m3xe5m2",
            "b200-fp16xbf16",
            "b200-bf16xfp16",
            "b200-e4m3-epilogue",
            "a100-bf16-epilogue",
        ]
    ),
    *(
        dp.get(n, out="fp16")
        for n in ["t4-fp16", "ada-e5m2", "h100-e4m3xe5m2", "b200-e4m3", "rtxpro6000-e5m2xe4m3"]
    ),
    DotUnit("exact-epilogue", F.fp16, 8, None, c_entry="epilogue", out_rounding="nearest_even"),
    DotUnit(
        "late-zero-exp",
        F.bf16,
        4,
        12,
        c_inside=False,
        zero_exponent=-126,
        underflow_zero="positive",
        out_rounding="nearest_even",
    ),
    DotUnit(
        "float-acc-positive",
        F.fp8_e5m2,
        4,
        8,
        b_format=F.fp8_e4m3,
        zero_exponent=-20,
        underflow_zero="positive",
        accumulator=dp.Accumulator.floating(F.bf16, "toward_zero"),
    ),
    DotUnit(
        "exact-acc-positive",
        F.fp16,
        4,
        6,
        zero_exponent=-30,
        underflow_zero="positive",
        accumulator=dp.Accumulator.exact(),
        out_format=F.bf16,
        c_format=F.bf16,
    ),
]


@pytest.mark.parametrize("unit", NEW_UNITS, ids=str)
def test_new_units_match_reference(unit: DotUnit) -> None:
    A, B, C, got = check_dot_against_reference(unit)
    # matmul (fast paths where they apply) == dot (the general kernel)
    D = dp.matmul(A, B.T, unit, np.broadcast_to(C[:, None], (len(C), len(C))))
    diag = np.diagonal(D)
    np.testing.assert_array_equal(np.where(np.isnan(diag), 0x7FC00000, diag.view(np.uint32)), got)


#: c values exact in FP32 / in FP16 (zeros, subnormals, normals, extremes).
C_FP32 = [Fraction(0), Fraction(5, 1 << 20), Fraction(-7, 1 << 140), Fraction(3, 4), Fraction(2)]
C_FP16 = [
    Fraction(0),
    Fraction(5, 1 << 20),
    Fraction(-3, 1 << 24),
    Fraction(3, 4),
    Fraction(-65504),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=units(), data=st.data())
def test_hypothesis_silicon_knobs_match_reference(base: DotUnit, data: Any) -> None:
    """Random units over every knob, with the new ones drawn on top, and random codes: the
    kernels equal the Fraction reference bit for bit."""
    c_format = data.draw(st.sampled_from([F.fp32, F.fp16]))
    unit = replace(
        base,
        zero_exponent=data.draw(st.sampled_from([None, -126, -20, 0])),
        underflow_zero=data.draw(st.sampled_from(["signed", "positive"])),
        b_format=data.draw(st.sampled_from([None, *IN_FORMATS])),
        c_format=c_format,
        c_entry=data.draw(st.sampled_from([None, "epilogue"])),
    )
    K = data.draw(st.integers(1, 3 * unit.n + 2))

    def value(fmt: F.FloatFormat) -> Fraction | float:
        """A random code's value, a zero one time in four (zero products are the point)."""
        code = data.draw(st.integers(0, (1 << fmt.total_bits) - 1))
        return Fraction(0) if data.draw(st.integers(0, 3)) == 0 else ref_codec.decode(fmt, code)

    a = [value(unit.in_format) for _ in range(K)]
    b = [value(unit.operand_b_format) for _ in range(K)]
    c = data.draw(st.sampled_from(C_FP16 if c_format == F.fp16 else C_FP32))
    want = _ref_f32_bits(unit, ref_dot.dot_code(unit, a, b, c))
    got = unit.dot(np.array([float(x) for x in a]), np.array([float(y) for y in b]), float(c))
    gb = 0x7FC00000 if np.isnan(got) else _bits32(got)
    assert gb == want, (unit, a, b, c, hex(gb), hex(want))
