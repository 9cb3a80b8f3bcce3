"""The AMD CDNA3 datapath knobs that follow MMA-Sim (Xie et al., arXiv:2511.10909;
github.com/microsoft/MMA-Sim, ``mmasim/simulator/arithmetic.py``, ``amd_fused_dot_rd_add``, and
``mmasim/simulator/amd.py``): ``late_frac_bits``, ``late_rounding``, ``odd_even_rounding``,
``late_c_drop``, ``product_limit``, and ``exact_zero`` (the IEEE signed zero of the sequential
FMA of ``fma-fp32``).

Every expected value is derived by hand in the test's docstring from the rule it exercises (the
README of ``tests/data/mmasim``, sections A3, A4 and G6), and each case is held both to the
kernels and to the Fraction reference :mod:`numsim.reference.dot`; the random cases hold the
kernels to that reference. The MMA-Sim vectors themselves are tests/test_mmasim.py.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_datapath import _ref_f32_bits, check_dot_against_reference

from numsim import datapath as dp
from numsim import formats as F
from numsim.datapath import DotUnit
from numsim.reference import codec as ref_codec
from numsim.reference import dot as ref_dot

P = Fraction(2)


def _ref_value(v: Any) -> Any:
    """A Fraction for a finite non-zero float, the float itself for zeros (their sign) and
    specials."""
    return Fraction(v) if np.isfinite(v) and v != 0 else float(v)


def _both(unit: DotUnit, a: list[Any], b: list[Any], c: Any = 0.0) -> tuple[int, int]:
    """(kernel, reference) FP32 result bits of one dot product; ``a``, ``b``, ``c`` are floats or
    Fractions (a float -0.0 is a negative zero)."""
    fa = np.array([float(x) for x in a])
    fb = np.array([float(y) for y in b])
    d = unit.dot(fa, fb, np.float32(float(c)))
    got = int(np.asarray(d, np.float32).reshape(1).view(np.uint32)[0])
    if np.isnan(d):
        got = 0x7FC00000
    ra = [_ref_value(x) for x in fa]
    rb = [_ref_value(y) for y in fb]
    want = _ref_f32_bits(unit, ref_dot.dot_code(unit, ra, rb, _ref_value(float(c))))
    return got, want


def _pad(v: list[Any], k: int) -> list[Any]:
    return list(v) + [0.0] * (k - len(v))


# --------------------------------------------------------------------------------------------
# late_frac_bits / late_rounding (README A3): S floored to 31, c to 24 bits below max(e, e_c)
# --------------------------------------------------------------------------------------------
def test_late_sum_keeps_31_bits_below_the_common_exponent() -> None:
    """``mi300-fp16``, ``a = b = [2**-12, 2**-15]``: products ``2**-24`` and ``2**-30``, e = -24,
    exact on their grid ``2**-48``; ``c = 1`` (e_c = 0) so E = 0 and S goes on ``2**-31``, where
    ``2**-24 + 2**-30`` is exact. ``1 + 2**-24 + 2**-30`` rounds (RNE) up to ``1 + 2**-23``
    (0x3F800001); negated, 0xBF800001. The former rule (the smaller partial truncated onto the
    larger one's grid ``2**-24``) leaves a tie that rounds to 1 (0x3F800000)."""
    unit = dp.get("mi300-fp16")
    a = _pad([2.0**-12, 2.0**-15], 8)
    assert _both(unit, a, a, 1.0) == (0x3F800001, 0x3F800001)
    assert _both(unit, [-x for x in a], a, -1.0) == (0xBF800001, 0xBF800001)
    former = replace(unit, late_frac_bits=None, late_rounding=None)
    assert _both(former, a, a, 1.0) == (0x3F800000, 0x3F800000)


def test_late_sum_is_floored_not_truncated() -> None:
    """``mi300-fp16``, products ``-2**-15`` (``2**-8 * -2**-7``) and ``-2**-30`` (``2**-15 *
    -2**-15``): e = -15, S = ``-(2**-15 + 2**-30)`` exact. ``c = 1024`` (e_c = 10) makes E = 10
    and the grid of S ``2**-21``: floor gives ``-(2**-15 + 2**-21)``, and ``1024 - 2**-15 -
    2**-21`` is below the midpoint ``1024 - 2**-15`` of the FP32 neighbours ``1024 - 2**-14`` and
    1024: RNE gives ``1024 - 2**-14`` (0x447FFFFF). Truncation toward zero leaves ``-2**-15``, an
    exact tie that goes to the even 1024 (0x44800000)."""
    unit = dp.get("mi300-fp16")
    a = _pad([2.0**-8, 2.0**-15], 8)
    b = _pad([-(2.0**-7), -(2.0**-15)], 8)
    assert _both(unit, a, b, 1024.0) == (0x447FFFFF, 0x447FFFFF)
    rz = replace(unit, late_rounding="toward_zero")
    assert _both(rz, a, b, 1024.0) == (0x44800000, 0x44800000)


def test_late_c_is_floored_to_24_bits() -> None:
    """``mi300-bf16``: one product ``1 * 1`` (e = 0) and ``c = -2**-30`` (e_c = -30): E = 0, c on
    the grid ``2**-24`` floors to ``-2**-24``; ``1 - 2**-24`` is an FP32 value (0x3F7FFFFF). With
    truncation c becomes 0 and the result is 1 (0x3F800000)."""
    unit = dp.get("mi300-bf16")
    a = _pad([1.0], 8)
    assert _both(unit, a, a, -(2.0**-30)) == (0x3F7FFFFF, 0x3F7FFFFF)
    assert _both(replace(unit, late_rounding="toward_zero"), a, a, -(2.0**-30)) == (
        0x3F800000,
        0x3F800000,
    )


def test_zero_products_join_the_maximum_on_cdna3() -> None:
    """``mi300-bf16`` (``zero_exponent=-126``, README G2): ``a = [0, 2**-12]``, ``b = [2**127,
    2**-12 * (1 + 2**-7)]``. The zero product has exponent ``-126 + 127 = 1``, so e = 1 and the
    other product ``2**-24 + 2**-31`` truncates to 0 on the grid ``2**(1 - 24)``: with c = 0 the
    sum is an exact zero, +0. With zero products dropped e = -24, the product is exact and is the
    result, ``2**-24 * (1 + 2**-7)`` (0x33810000)."""
    unit = dp.get("mi300-bf16")
    a = _pad([0.0, 2.0**-12], 8)
    b = _pad([2.0**127, 2.0**-12 * (1 + 2.0**-7)], 8)
    assert _both(unit, a, b) == (0, 0)
    assert _both(replace(unit, zero_exponent=None), a, b) == (0x33810000, 0x33810000)


# --------------------------------------------------------------------------------------------
# odd_even_rounding and late_c_drop (README A4, CDNA3 FP8)
# --------------------------------------------------------------------------------------------
def test_odd_group_sum_is_floored_onto_the_even_grid() -> None:
    """``mi300-e5m2fnuz`` (E5M2 FNUZ: emin -15, smallest subnormal ``2**-17``): even product
    ``1 * 1`` (e_0 = 0), odd product ``2**-17 * -2**-17 = -2**-34`` (subnormals: e_1 = -15 - 15
    = -30, exact on its grid ``2**-54``). On the common grid ``2**(0 - 24)`` the odd sum floors
    to ``-2**-24``; c = 0 (exponent -126) leaves E = 0 and ``1 - 2**-24`` is an FP32 value
    (0x3F7FFFFF). Truncating the group sums instead drops the odd one: 1 (0x3F800000)."""
    unit = dp.get("mi300-e5m2fnuz")
    a = _pad([1.0, 2.0**-17], 16)
    b = _pad([1.0, -(2.0**-17)], 16)
    assert _both(unit, a, b) == (0x3F7FFFFF, 0x3F7FFFFF)
    rz = replace(unit, odd_even_rounding="toward_zero")
    assert _both(rz, a, b) == (0x3F800000, 0x3F800000)


def test_fp8_late_c_below_e_minus_25_is_dropped() -> None:
    """``mi300-e4m3fnuz``: product ``1 * 1`` (E = 0). ``c = -2**-26`` has e_c = -26 < E - 25:
    dropped, result 1 (0x3F800000); without the drop it floors to ``-2**-24`` on the grid
    ``2**-24``: ``1 - 2**-24`` (0x3F7FFFFF). ``c = -2**-25`` (e_c = -25) is kept and floors to
    ``-2**-24`` (0x3F7FFFFF)."""
    unit = dp.get("mi300-e4m3fnuz")
    a = _pad([1.0], 16)
    assert _both(unit, a, a, -(2.0**-26)) == (0x3F800000, 0x3F800000)
    assert _both(replace(unit, late_c_drop=None), a, a, -(2.0**-26)) == (0x3F7FFFFF, 0x3F7FFFFF)
    assert _both(unit, a, a, -(2.0**-25)) == (0x3F7FFFFF, 0x3F7FFFFF)


def test_mixed_fp8_operands_take_their_own_emin() -> None:
    """``mi300-e4m3fnuzxe5m2fnuz``: a = E4M3 FNUZ ``2**-10`` (subnormal, exponent -7), b = E5M2
    FNUZ ``2**-17`` (subnormal, exponent -15); the product ``2**-27`` has exponent -22 and
    significand ``2**-3 * 2**-2``, exact on its group's grid ``2**-46``. The even product 1 gives
    E = 0; on the grid ``2**-24`` the positive odd sum floors to 0, and with c = 0 the result is
    1 (0x3F800000). With b negated the odd sum floors to ``-2**-24``: ``1 - 2**-24``
    (0x3F7FFFFF)."""
    unit = dp.get("mi300-e4m3fnuzxe5m2fnuz")
    assert unit.b_format == F.fp8_e5m2fnuz and unit.in_format == F.fp8_e4m3fnuz
    a = _pad([1.0, 2.0**-10], 16)
    assert _both(unit, a, _pad([1.0, 2.0**-17], 16)) == (0x3F800000, 0x3F800000)
    assert _both(unit, a, _pad([1.0, -(2.0**-17)], 16)) == (0x3F7FFFFF, 0x3F7FFFFF)


# --------------------------------------------------------------------------------------------
# product_limit (README A3 step 1)
# --------------------------------------------------------------------------------------------
def test_product_beyond_fp32_range_is_inf_whatever_the_sum() -> None:
    """``mi300-bf16``: products ``2**127 * 2 = 2**128`` and ``2**127 * -1.5 = -1.5 * 2**127``: the
    exact sum ``2**126`` is finite (0x7E800000 without the limit), but a product reaches
    ``2**128``: +Inf (0x7F800000); with the signs swapped -Inf (0xFF800000). Products ``2**128``
    and ``-2**128`` (exact sum 0): NaN."""
    unit = dp.get("mi300-bf16")
    a = _pad([2.0**127, 2.0**127], 8)
    assert _both(unit, a, _pad([2.0, -1.5], 8), 1.0) == (0x7F800000, 0x7F800000)
    assert _both(unit, a, _pad([-2.0, 1.5], 8), 1.0) == (0xFF800000, 0xFF800000)
    assert _both(unit, a, _pad([2.0, -2.0], 8)) == (0x7FC00000, 0x7FC00000)
    free = replace(unit, product_limit=None)
    assert _both(free, a, _pad([2.0, -1.5], 8)) == (0x7E800000, 0x7E800000)


# --------------------------------------------------------------------------------------------
# exact_zero (README G6): the IEEE sign of an exact zero sum in the sequential FMA
# --------------------------------------------------------------------------------------------
def test_fma_exact_zero_follows_ieee_signs() -> None:
    """``fma-fp32`` is ``acc = RNE(acc + a_i b_i)`` from ``acc = c``. IEEE 754 §6.3: an exact
    zero sum is -0 only for ``-0 + -0``. ``-0 * 1 + (-0)`` = -0 (0x80000000); with ``c = +0``,
    +0. ``c = -1``, ``a = [1, -0]``, ``b = [1, 1]``: ``-1 + 1`` is an exact zero of non-zero terms,
    +0, then ``+0 + -0`` = +0. ``c = +0``, ``a = [-2**-100, -0]``, ``b = [2**-100, 1]``: the first
    sum ``-2**-200`` rounds to -0 (its sign kept), then ``-0 + -0`` = -0. With
    ``exact_zero="positive"`` every exact zero sum is +0."""
    unit = dp.get("fma-fp32")
    assert unit.exact_zero == "ieee"
    pos = replace(unit, exact_zero="positive")
    assert _both(unit, [-0.0], [1.0], -0.0) == (0x80000000, 0x80000000)
    assert _both(unit, [-0.0], [1.0], 0.0) == (0, 0)
    assert _both(pos, [-0.0], [1.0], -0.0) == (0, 0)
    assert _both(unit, [1.0, -0.0], [1.0, 1.0], -1.0) == (0, 0)
    tiny = [-(2.0**-100), -0.0]
    assert _both(unit, tiny, [2.0**-100, 1.0], 0.0) == (0x80000000, 0x80000000)
    assert _both(pos, tiny, [2.0**-100, 1.0], 0.0) == (0, 0)
    # matmul (not the float64 BLAS path, which makes exact zeros +0), c = -0: row [-0, 1] times
    # column [1, -0] adds -0 then -0: -0; row [1, -0]: 1 then 1 + (+0) = 1; row [1, -1] times
    # [1, 1]: -0 + 1 = 1, then 1 - 1 = +0
    A = np.array([[-0.0, 1.0], [1.0, -0.0], [1.0, -1.0]])
    d = dp.matmul(A, np.array([[1.0], [-0.0]]), unit, np.float32(-0.0))
    assert list(d.reshape(-1).view(np.uint32)[:2]) == [0x80000000, 0x3F800000]
    d = dp.matmul(A, np.array([[1.0], [1.0]]), unit, np.float32(-0.0))
    assert int(d.reshape(-1).view(np.uint32)[2]) == 0


# --------------------------------------------------------------------------------------------
# random cases against the reference; validation
# --------------------------------------------------------------------------------------------
CDNA3 = [
    "mi300-fp16",
    "mi300-bf16",
    "mi300-xf32",
    "mi300-e4m3fnuz",
    "mi300-e5m2fnuz",
    "mi300-e4m3fnuzxe5m2fnuz",
    "mi300-e5m2fnuzxe4m3fnuz",
    "fma-fp32",
]


@pytest.mark.parametrize("name", CDNA3)
def test_cdna3_presets_match_reference(name: str) -> None:
    check_dot_against_reference(dp.get(name))


@st.composite
def late_units(draw: Any) -> DotUnit:
    """A random unit with the CDNA3 late knobs (valid combinations only)."""
    fin = draw(st.sampled_from([F.fp16, F.bf16, F.fp8_e4m3, F.fp8_e5m2fnuz]))
    n = draw(st.integers(1, 9))
    odd_even = draw(st.booleans())
    modes = ["toward_zero", "nearest_even", "toward_negative"]
    return DotUnit(
        "hyp-late",
        fin,
        n,
        draw(st.integers(0, 30)),
        raw_product_exponent=draw(st.booleans()),
        term_rounding=draw(st.sampled_from(["toward_zero", "nearest_even"])),
        c_inside=False,
        min_exp=draw(st.sampled_from([None, -20, -126])),
        out_rounding=draw(st.sampled_from(["toward_zero", "nearest_even"])),
        subnormals_out=draw(st.booleans()),
        odd_even=odd_even,
        zero_exponent=draw(st.sampled_from([None, -126])),
        late_frac_bits=(draw(st.integers(0, 40)), draw(st.integers(0, 40))),
        late_rounding=draw(st.sampled_from([None, *modes])),
        odd_even_rounding=draw(st.sampled_from(modes)) if odd_even else None,
        late_c_drop=draw(st.sampled_from([None, 0, 3, 25])),
        product_limit=draw(st.sampled_from([None, 0, 10, 128])),
        exact_zero=draw(st.sampled_from(["positive", "ieee"])),
    )


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(unit=late_units(), data=st.data())
def test_hypothesis_late_units_match_reference(unit: DotUnit, data: Any) -> None:
    """Random codes (every exponent, signed zeros included) and c through the kernel and the
    reference, bit for bit, K up to three blocks (chained through the rounded result)."""
    fmt = unit.in_format
    K = data.draw(st.integers(1, 3 * unit.n + 2))
    codes = st.integers(0, (1 << fmt.total_bits) - 1)

    def vals() -> list[Any]:
        out = []
        for code in data.draw(st.lists(codes, min_size=K, max_size=K)):
            v = ref_codec.decode(fmt, code)
            if isinstance(v, float) and not np.isfinite(v):
                v = Fraction(1)  # finite operands here; specials are covered by the presets
            if v == 0 and code & fmt.sign_mask:
                v = -0.0
            out.append(v)
        return out

    a, b = vals(), vals()
    cbits = data.draw(st.integers(0, 0xFFFFFFFF))
    c = float(np.array([cbits], np.uint32).view(np.float32)[0])
    if not np.isfinite(c):
        c = 1.5
    got, want = _both(unit, a, b, c)
    assert got == want, (unit, a, b, c, hex(got), hex(want))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"late_frac_bits": (31,)}, "late_frac_bits"),
        ({"late_frac_bits": (31, 49)}, "late_frac_bits"),
        ({"late_frac_bits": [31, 24]}, "late_frac_bits"),
        ({"late_frac_bits": (31, 24), "c_inside": True}, "c_inside"),
        ({"late_rounding": "toward_negative"}, "late_rounding"),
        ({"late_frac_bits": (31, 24), "late_rounding": "stochastic"}, "late_rounding"),
        ({"odd_even": True, "odd_even_rounding": "toward_negative"}, "odd_even_rounding"),
        ({"odd_even": True, "late_frac_bits": (31, 24)}, "odd_even_rounding"),
        ({"late_c_drop": 25}, "late_c_drop"),
        ({"late_frac_bits": (31, 24), "late_c_drop": -1}, "late_c_drop"),
        ({"product_limit": 1.5}, "product_limit"),
        ({"exact_zero": "negative"}, "exact_zero"),
    ],
)
def test_amd_knobs_are_validated(kwargs: dict[str, Any], match: str) -> None:
    base: dict[str, Any] = {"c_inside": False}
    with pytest.raises((ValueError, TypeError), match=match):
        DotUnit("bad", F.fp16, 8, 24, **{**base, **kwargs})


def test_exact_zero_ieee_rejects_mx_operands() -> None:
    import numsim

    a = numsim.encode(np.ones((1, 32), np.float32), "mxfp8_e4m3", axis=1)
    b = numsim.encode(np.ones((32, 1), np.float32), "mxfp8_e4m3", axis=0)
    unit = DotUnit("fma-mx", F.fp16, 1, None, out_rounding="nearest_even", exact_zero="ieee")
    with pytest.raises(ValueError, match="exact_zero"):
        dp.mx_matmul(a, b, unit)
