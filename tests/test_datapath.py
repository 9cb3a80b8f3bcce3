"""Tests of numsim.datapath: the block-FMA dot unit, its NVIDIA presets and the matmul wrapper.

Expected values come from the test vectors of Fasi et al. (PeerJ CS 7:e330;
north-numerical-computing/tensor-cores-numerical-behavior), from model-regression vectors (the
predictions of the MATLAB V100 model of north-numerical-computing/MATLAB-tensor-core) and from
the independent Fraction reference :mod:`numsim.reference.dot`; never from the kernels under test.
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

import numsim
from numsim import datapath as dp
from numsim import formats as F
from numsim.datapath import DotUnit
from numsim.datapath import _lower as dp_lower
from numsim.policies import RoundMode
from numsim.reference import codec as ref_codec
from numsim.reference import dot as ref_dot

T = 2.0**-24  # fp16 smallest subnormal
UNITS_FP16 = ["v100-fp16", "a100-fp16", "h100-fp16"]


def f32(bits: int) -> float:
    """The FP32 value of ``bits``."""
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def h16(bits: int) -> float:
    """The FP16 value of ``bits``."""
    return float(np.array([bits], np.uint16).view(np.float16)[0])


def bits_of(unit: DotUnit, a: Sequence[float], b: Sequence[float], c: float = 0.0) -> int:
    """FP32 bits of the kernel's dot product of one pair of vectors."""
    d = unit.dot(np.array(a, np.float64), np.array(b, np.float64), np.float32(c))
    return int(np.asarray(d, np.float32).reshape(1).view(np.uint32)[0])


def pad4(v: Sequence[float]) -> list[float]:
    """A vector padded with zeros to 4 entries (the listed entries of a Fasi vector)."""
    return [*v, *([0.0] * (4 - len(v)))]


# --------------------------------------------------------------------------------------------
# (a) Fasi et al. vectors and MATLAB-model regression vectors
# --------------------------------------------------------------------------------------------
m = 1 - 2.0**-11
#: id -> (a, b, c, (V100, A100, H100) expected FP32 bits), Fasi et al. (PeerJ CS 7:e330).
FASI = {
    "B1": ([m], [m], 0.0, (0x3F7FC004,) * 3),
    "B1b": ([m] * 4, [m] * 4, 0.0, (0x407FC004,) * 3),
    "B2": ([0.5] * 4, [T] * 4, 1.0, (0x3F800000, 0x3F800000, 0x3F800001)),
    "C1": ([1.0] * 4, [2.0, 2.0**-23 + T], 0.0, (0x40000000,) * 3),
    "C2": ([1.0] * 4, [-2.0, -(2.0**-23 + T)], 0.0, (0xC0000000,) * 3),
    "D1": ([1.0], [1.0], f32(0xBF7FFFFF), (0x34000000, 0x33800000, 0x33800000)),
    "D2": ([1.0] * 4, [T] * 4, 1 - 2.0**-24, (0x3F800001,) * 3),
    "D3": ([1.0, 1.0], [1.0, -T], -1 + 2.0**-24, (0x34000000, 0, 0)),
    "D4b": ([1.0] * 4, [1.0, 1.5, 1.75, 1.875], 1.875, (0x41000000,) * 3),
    "D4c": ([1.0] * 4, [1.0] * 4, 1 + 2.0**-22 + 2.0**-23, (0x40A00000,) * 3),
    "D4d": ([1.0] * 4, [-1.0] * 4, -(1 + 2.0**-22 + 2.0**-23), (0xC0A00000,) * 3),
    "A1": ([T], [4.0], 0.0, (0x34800000,) * 3),
    "A3": ([0.0], [0.0], 2.0**-149, (0x00000001,) * 3),
    "A5": ([2.0**-14], [0.5], 0.0, (0x38000000,) * 3),
    "D5-V100-c<1": ([1.0] * 4, [T] * 4, 1 - 2.0**-24, (0x3F800001, 0x3F800001, 0x3F800001)),
    "D5-V100-c=1": ([1.0] * 4, [T] * 4, 1.0, (0x3F800000, 0x3F800002, 0x3F800002)),
    "D5-T4-c<1": (
        [0.5] * 4,
        [T, T, T, 2.0**-23 + T],
        1 - 2.0**-24,
        (0x3F800000, 0x3F800001, 0x3F800001),
    ),
    "D5-T4-c=1": ([0.5] * 4, [T, T, T, 2.0**-23 + T], 1.0, (0x3F800000, 0x3F800000, 0x3F800001)),
}


@pytest.mark.parametrize("gpu", range(3), ids=UNITS_FP16)
@pytest.mark.parametrize("vid", list(FASI))
def test_fasi_vectors(vid: str, gpu: int) -> None:
    a, b, c, expected = FASI[vid]
    unit = dp.get(UNITS_FP16[gpu])
    assert bits_of(unit, pad4(a), pad4(b), c) == expected[gpu]


@pytest.mark.parametrize("name", UNITS_FP16)
@pytest.mark.parametrize("rot", range(4))
def test_fasi_d4a_rotated(name: str, rot: int) -> None:
    b = [2.0**-23, 1.0, 1.0, 1.0]
    b = b[rot:] + b[:rot]
    assert bits_of(dp.get(name), [1.0] * 4, b, 1 + 2.0**-22 + 2.0**-23) == 0x40800001


@pytest.mark.parametrize("name", UNITS_FP16)
def test_fasi_c3_fp16_out(name: str) -> None:
    unit = dp.get(name, out="fp16")
    d = unit.dot(np.array(pad4([T, T])), np.array(pad4([0.5, 0.25])))
    assert int(np.float16(d).view(np.uint16)) == 0x0001


def _fp16_vec(codes: Sequence[int]) -> list[float]:
    """FP16 values of the codes."""
    return [h16(x) for x in codes]


@pytest.mark.parametrize(
    "a, b, c, expected",
    [
        ([0x3E00, 0x1000, 0x1000, 0], [0x3E00, 0x0C00, 0x0C00, 0], 0, 0x40100001),  # R1
        (
            [0x3C00, 0x1000, 0x1000, 0],
            [0x4080, 0x0C00, 0x0C00, 0],
            0,
            0x40100000,
        ),  # R1, raw exponent 1
        (
            [0x3E00, 0x3C01, 0x3C01, 0x3C00],
            [0x3E00, 0x3001, 0x3001, 0x3000],
            0x3E000000,
            0x40300801,
        ),  # R2
        ([0x3E00] * 4, [0x3D00] * 4, 0x3F7FFFFF, 0x4107FFFF),  # R3
    ],
    ids=["R1", "R1-raw", "R2", "R3"],
)
def test_regression_vectors_v100(a: list[int], b: list[int], c: int, expected: int) -> None:
    assert bits_of(dp.get("v100-fp16"), _fp16_vec(a), _fp16_vec(b), f32(c)) == expected


def test_fasi_vectors_in_reference() -> None:
    """The reference reproduces the same tables (it is the oracle of the random tests below)."""
    for vid, (a, b, c, expected) in FASI.items():
        for name, want in zip(UNITS_FP16, expected):
            code = ref_dot.dot_code(
                dp.get(name),
                [Fraction(x) for x in pad4(a)],
                [Fraction(x) for x in pad4(b)],
                Fraction(c),
            )
            assert code == want, (vid, name)


# --------------------------------------------------------------------------------------------
# (b) kernel == reference, bit for bit
# --------------------------------------------------------------------------------------------
CUSTOM = [
    DotUnit(
        "custom-rne-terms",
        F.fp16,
        4,
        23,
        term_rounding=RoundMode.nearest_even,
        out_rounding="nearest_even",
    ),
    DotUnit("custom-normalised", F.bf16, 8, 24, raw_product_exponent=False, min_exp=-132),
    DotUnit("custom-late-c", F.fp16, 8, 24, c_inside=False, out_rounding="nearest_even"),
    DotUnit("custom-late-c-fp8", F.fp8_e4m3, 16, 13, c_inside=False, out_format=dp.fp32_m13),
    DotUnit("custom-ftz-bf16-out", F.bf16, 8, 24, out_format=F.bf16, subnormals_out=False),
    DotUnit(
        "custom-e5m2-fp16-out", F.fp8_e5m2, 16, 20, out_format=F.fp16, out_rounding="nearest_even"
    ),
]
ACC = dp.Accumulator
#: Units exercising every knob beyond the NVIDIA table: exact blocks, FTZ, odd/even groups, float /
#: exact accumulators, chunks with float / exact outer accumulators.
KNOBS = [
    DotUnit(
        "custom-exact-late",
        F.fp16,
        4,
        None,
        c_inside=False,
        out_format=F.bf16,
        out_rounding="nearest_even",
    ),
    DotUnit(
        "custom-ftz",
        F.bf16,
        4,
        24,
        subnormals_in=False,
        subnormals_out=False,
        out_rounding="nearest_even",
    ),
    DotUnit("custom-odd-even-exact", F.fp8_e5m2, 8, None, c_inside=False, odd_even=True),
    DotUnit("custom-float-acc-rz", F.fp16, 4, 23, accumulator=ACC.floating(F.bf16, "toward_zero")),
    DotUnit(
        "custom-float-acc-away",
        F.fp8_e4m3,
        4,
        None,
        out_format=F.fp16,
        out_rounding="nearest_even",
        accumulator=ACC.floating(F.fp16, "nearest_away"),
    ),
    DotUnit(
        "custom-exact-acc", F.fp16, 4, 23, accumulator=ACC.exact(), out_rounding="nearest_even"
    ),
    DotUnit("custom-exact-acc-blocks", F.fp8_e5m2, 8, None, accumulator=ACC.exact()),
    DotUnit(
        "custom-chunk-exact-outer",
        F.bf16,
        4,
        24,
        chunk=8,
        outer=ACC.exact(),
        out_rounding="nearest_even",
    ),
    DotUnit(
        "custom-chunk-float",
        F.fp16,
        2,
        None,
        out_format=F.fp16,
        out_rounding="nearest_even",
        accumulator=ACC.floating(F.fp16),
        chunk=6,
        outer=ACC.floating(F.fp32, "toward_zero"),
    ),
    DotUnit(
        "custom-pairwise-odd", F.fp8_e5m2, 5, None, c_inside=False, pairwise=True, out_format=F.fp16
    ),
    DotUnit(
        "custom-pairwise-bf16-float",
        F.bf16,
        8,
        None,
        c_inside=False,
        pairwise=True,
        out_format=F.bf16,
        out_rounding="nearest_even",
        accumulator=ACC.floating(F.fp32, "toward_zero"),
    ),
    DotUnit(
        "custom-late-c-rne-terms",
        F.fp16,
        4,
        11,
        c_inside=False,
        term_rounding="nearest_even",
        out_rounding="nearest_even",
    ),
    DotUnit("custom-late-c-odd-even", F.fp8_e4m3, 8, 10, c_inside=False, odd_even=True),
]
OTHER_PRESETS = [
    "ocp-mx-exact",
    "ocp-mx-fp32acc",
    "mxdotp",
    "fp8-chunked",
    "mi100-fp16",
    "mi100-bf16",
    "mi210-fp16",
    "mi210-bf16",
    "mi210-bf16-n2",
    "mi300-fp16",
    "mi300-bf16",
    "mi300-xf32",
    "mi300-e4m3fnuz",
    "mi300-e5m2fnuz",
    "h100-e4m3-promote128",
]
FAMILIES = [
    *(
        dp.get(n)
        for n in [
            "v100-fp16",
            "a100-fp16",
            "a100-bf16",
            "a100-tf32",
            "ada-e4m3",
            "ada-e5m2",
            "h100-fp16",
            "h100-bf16",
            "h100-tf32",
            "h100-e4m3",
            "h100-e5m2",
            "b200-e4m3",
            "b200-e5m2",
        ]
    ),
    dp.get("v100-fp16", out="fp16"),
    dp.get("a100-bf16", out="fp16"),
    dp.get("h100-fp16", out="fp16"),
    *CUSTOM,
    *KNOBS,
    *(dp.get(n) for n in OTHER_PRESETS),
]


def rand_values(
    rng: random.Random, fmt: F.FloatFormat, k: int, spread: int, center: int | None = None
) -> list[Fraction]:
    """``k`` random finite values of ``fmt`` with exponent fields within ``spread`` of ``center``
    (default: the bias; spread 0: any field)."""
    top = (1 << fmt.exp_bits) - 1
    center = fmt.bias if center is None else center
    out = []
    for _ in range(k):
        if rng.random() < 0.1:
            out.append(Fraction(0))
            continue
        if spread:
            field = min(max(center + rng.randint(-spread, spread), 0), top - 1)
        else:
            field = rng.randint(0, top - 1)
        code = (field << fmt.man_bits) | rng.getrandbits(fmt.man_bits)
        code = min(code, fmt.max_code_magnitude)
        if rng.random() < 0.5 and code:  # (FNUZ formats: the -0 code is NaN)
            code |= fmt.sign_mask
        v = ref_codec.decode(fmt, code)
        assert isinstance(v, Fraction)
        out.append(v)
    return out


def rand_c(rng: random.Random, scale: Fraction) -> Fraction:
    """A random FP32 value: zero, a subnormal, or near ``scale``."""
    r = rng.random()
    if r < 0.15:
        return Fraction(0)
    if r < 0.25:
        return Fraction(rng.randint(-(1 << 23), 1 << 23), 1 << 149)
    return fp32_near(float(scale) * rng.uniform(-4, 4))


def fp32_near(x: float) -> Fraction:
    """An FP32 value near ``x`` (clipped to the finite range)."""
    lim = float(np.finfo(np.float32).max)
    return Fraction(float(np.float32(min(max(x, -lim), lim))))


def cases(unit: DotUnit, seed: int) -> list[tuple[list[Any], list[Any], Any]]:
    """Random and corner cases of one K for ``unit``: (a, b, c) with exact values."""
    out = _cases(unit, seed)
    if unit.c_format == F.fp32:
        return out
    return [(a, b, _c_in(unit.c_format, c)) for a, b, c in out]


def _c_in(fmt: F.FloatFormat, c: Any) -> Any:
    """A finite FP32 ``c`` rounded (RNE, clipped to the finite range) to the unit's ``c_format``."""
    if not isinstance(c, Fraction):
        return c
    top = ref_codec.decode(fmt, fmt.max_code_magnitude)
    v = ref_codec.decode(fmt, ref_codec.encode(fmt, max(min(c, top), -top)))
    assert isinstance(v, Fraction)
    return v


def _cases(unit: DotUnit, seed: int) -> list[tuple[list[Any], list[Any], Any]]:
    """:func:`cases` with FP32 c values."""
    rng = random.Random(seed)
    fmt, n = unit.in_format, unit.n
    fmt_b = unit.operand_b_format
    K = 3 * n + 1 if unit.chunk is None else 2 * unit.chunk + n + 1
    out: list[tuple[list[Any], list[Any], Any]] = []
    for spread in (1, 2, 4, 0):
        for _ in range(12):
            a, b = rand_values(rng, fmt, K, spread), rand_values(rng, fmt_b, K, spread)
            scale = max((abs(x * y) for x, y in zip(a, b)), default=Fraction(1)) or Fraction(1)
            out.append((a, b, rand_c(rng, scale)))
    for _ in range(8):  # cancellation: products cancel pairwise, c cancels what survives
        a = rand_values(rng, fmt, K, 2)
        b = rand_values(rng, fmt_b, K, 2)
        a2 = a[: K // 2] + [x for x in a[: K // 2]] + a[2 * (K // 2) :]
        b2 = b[: K // 2] + [-y for y in b[: K // 2]] + b[2 * (K // 2) :]
        out.append((a2, b2, Fraction(0)))
        out.append((a, b, -fp32_near(float(sum(x * y for x, y in zip(a, b))))))
    floor = unit.min_exp if unit.min_exp is not None else -140
    for below in (2, 10, 30):  # products just under the eta floor (min_exp_limit binds)
        fa = 3
        fb = fmt_b.bias + (floor - below) - (fa - fmt.bias)
        for c in (Fraction(0), Fraction(rng.randint(-99, 99), 1 << 149)):
            out.append((rand_values(rng, fmt, K, 2, fa), rand_values(rng, fmt_b, K, 2, fb), c))
    out_fmt = unit.out_format
    fa = 3  # results around the output's subnormal range (flush, subnormal rounding)
    fb = fmt_b.bias + (out_fmt.emin - 3) - (fa - fmt.bias)
    for _ in range(4):
        out.append(
            (rand_values(rng, fmt, K, 2, fa), rand_values(rng, fmt_b, K, 2, fb), Fraction(0))
        )
    out_max = ref_codec.decode(out_fmt, out_fmt.max_code_magnitude)
    t = Fraction(2) ** min(out_fmt.emax, fmt.emax)
    for sign in (
        1,
        -1,
    ):  # out max + a power of two: the sum reaches 2**(emax + 1) where t is big enough
        out.append(([sign * t] + [Fraction(0)] * (K - 1), [Fraction(1)] * K, sign * out_max))
    big = ref_codec.decode(fmt, fmt.max_code_magnitude)
    big_b = ref_codec.decode(fmt_b, fmt_b.max_code_magnitude)
    f32max = Fraction(float(np.finfo(np.float32).max))
    out.append(([big] * K, [big_b] * K, f32max))  # overflow to +Inf
    out.append(([big] * K, [-big_b] * K, -f32max))  # overflow to -Inf
    one = [Fraction(1)] * K
    specials = [(math.nan, 0), (0, math.nan), (0, math.inf), (0, -math.inf)]
    if fmt.has_inf:
        specials += [(math.inf, 0), (-math.inf, 0)]
    for special, c in specials:
        a = list(one)
        a[K // 2] = special if special != 0 else a[K // 2]
        out.append((a, list(one), c))
    if fmt.has_inf:
        a = list(one)
        a[0], a[-1] = math.inf, -math.inf
        out.append((a, list(one), 0))  # +Inf and -Inf -> NaN
        b = list(one)
        b[1] = Fraction(0)
        a = list(one)
        a[1] = math.inf
        out.append((a, b, 0))  # Inf * 0 -> NaN
        a = list(one)
        a[3] = math.inf
        out.append((a, list(one), -math.inf))  # +Inf and c = -Inf -> NaN
    return out


def _ref_f32_bits(unit: DotUnit, code: int) -> int:
    """FP32 bits of the result code ``code`` (NaN canonicalised to 0x7FC00000)."""
    fmt = ref_dot.result_format(unit)
    assert fmt is not None
    v = ref_codec.decode(fmt, code)
    if isinstance(v, float) and math.isnan(v):
        return 0x7FC00000
    x = np.float32(float(v))
    if v == 0 and code & fmt.sign_mask:
        x = np.float32(-0.0)
    return int(np.array([x], np.float32).view(np.uint32)[0])


def _as_f64(vals: list[Any]) -> list[float]:
    """Exact values (Fraction / special float) as floats."""
    return [float(v) for v in vals]


def check_dot_against_reference(unit: DotUnit) -> tuple[np.ndarray, ...]:
    """``unit.dot`` on the seeded :func:`cases` == the Fraction reference, bit for bit; returns
    the operands ``A, B, C`` and the result bits for further checks."""
    cs = cases(unit, seed=sum(map(ord, unit.name)))
    A = np.array([_as_f64(a) for a, _, _ in cs])
    B = np.array([_as_f64(b) for _, b, _ in cs])
    C = np.array([float(c) for _, _, c in cs], np.float32)
    d = unit.dot(A, B, C)
    got = np.where(np.isnan(d), 0x7FC00000, d.view(np.uint32))
    for i, (a, b, c) in enumerate(cs):
        want = _ref_f32_bits(unit, ref_dot.dot_code(unit, a, b, c))
        assert int(got[i]) == want, (i, hex(int(got[i])), hex(want))
    return A, B, C, got


@pytest.mark.parametrize("unit", FAMILIES, ids=str)
def test_kernel_matches_reference(unit: DotUnit) -> None:
    check_dot_against_reference(unit)


@pytest.mark.parametrize("unit", [dp.get("h100-e4m3"), dp.get("a100-bf16"), CUSTOM[2]], ids=str)
def test_matmul_matches_reference(unit: DotUnit) -> None:
    rng = random.Random(7)
    M, K, N = 3, 2 * unit.n + 3, 4
    A = [rand_values(rng, unit.in_format, K, 3) for _ in range(M)]
    Bt = [rand_values(rng, unit.in_format, K, 3) for _ in range(N)]
    C = [[rand_c(rng, Fraction(4)) for _ in range(N)] for _ in range(M)]
    D = dp.matmul(
        np.array([_as_f64(r) for r in A]),
        np.array([_as_f64(r) for r in Bt]).T,
        unit,
        np.array([[float(x) for x in r] for r in C], np.float32),
    )
    assert D.dtype == np.float32 and D.shape == (M, N)
    for i in range(M):
        for j in range(N):
            want = _ref_f32_bits(unit, ref_dot.dot_code(unit, A[i], Bt[j], C[i][j]))
            assert int(D[i : i + 1, j].view(np.uint32)[0]) == want, (i, j)


def test_dot_broadcasts_and_defaults_c_to_zero() -> None:
    unit = dp.get("h100-fp16")
    a = np.ones((2, 3, 5))
    d = unit.dot(a, np.full(5, 0.5))
    assert d.shape == (2, 3) and d.dtype == np.float32 and np.all(d == 2.5)


def test_chaining_rounds_between_blocks() -> None:
    """K = 2n on v100 (hand derivation): each block truncates its 2^-24 terms, c_{j+1} = d_j.

    A single exact 8-term sum would give 1 + 7 * 2^-24 -> RZ 0x3F800003; chained blocks give 1.0.
    """
    unit = dp.get("v100-fp16")  # n = 4, F = 23, RZ
    # block 1: 1 * 1 + 3 * 2^-24 -> eta = 0, grid 2^-23: 2^-24 terms truncate to 0 -> d_1 = 1
    # block 2: c = 1, 4 * 2^-24 -> 1 again; a single 8-term exact sum would be 1 + 7 * 2^-24.
    a = [1.0] * 8
    b = [1.0, T, T, T, T, T, T, T]
    assert bits_of(unit, a, b) == 0x3F800000


# --------------------------------------------------------------------------------------------
# presets and errors
# --------------------------------------------------------------------------------------------
def test_preset_names_and_aliases() -> None:
    names = dp.names()
    for gpu in ("ada", "l40s", "h100", "h200", "b200"):
        for inp in ("fp16", "bf16", "tf32", "e4m3", "e5m2"):
            assert f"{gpu}-{inp}" in names
    assert {"v100-fp16", "a100-tf32", "a2-bf16"} <= set(names)
    assert dp.get("h200-e4m3") == dataclass_replace_name(dp.get("h100-e4m3"), "h200-e4m3")
    h = dp.get("h100-e4m3")
    assert (h.n, h.frac_bits, h.min_exp, h.out_format.man_bits) == (32, 13, -126, 13)
    v = dp.get("v100-fp16", out="fp16")
    assert (v.min_exp, v.out_format, v.out_rounding, v.c_format) == (
        -126,
        F.fp16,
        RoundMode.nearest_even,
        F.fp16,
    )
    assert hash(h) == hash(dp.get("h100-e4m3")) and str(h) == "h100-e4m3"
    for alias, gpu, inp in [
        ("mi250", "mi210", "fp16"),
        ("mi250x", "mi210", "bf16"),
        ("mi300x", "mi300", "e4m3fnuz"),
        ("mi300a", "mi300", "xf32"),
    ]:
        assert f"{alias}-{inp}" in names
        assert dp.get(f"{alias}-{inp}") == dataclass_replace_name(
            dp.get(f"{gpu}-{inp}"), f"{alias}-{inp}"
        )
    m = dp.get("mi210-bf16")
    assert (m.n, m.pairwise, m.subnormals_in, m.subnormals_out, m.out_rounding) == (
        4,
        True,
        False,
        False,
        RoundMode.nearest_even,
    )
    with pytest.raises(ValueError, match="one output mode"):
        dp.get("mi250-fp16", out="fp16")


def test_hopper_mmasim_variant_keeps_zero_products() -> None:
    # h100-bf16 (N = 16, F = 25, RZ to FP32): a = -0 everywhere, b = 2**127, c = 1.5 * 2**-31.
    # MMA-Sim: each zero product has exponent -126 + 127 = 1, so eta = max(1, -31) = 1 and c is
    # truncated on the grid 2**(1 - 25) = 2**-24, where it is 0: the result is +0. The H200 (and
    # the plain preset) drops the zero products: eta is c's own exponent and the result is c.
    a = np.full(16, -0.0, np.float32)
    b = np.full(16, 2.0**127, np.float32)
    c = np.float32(1.5 * 2.0**-31)
    silicon, model = dp.get("h100-bf16"), dp.get("h100-bf16-mmasim")
    assert model == replace(silicon, name="h100-bf16-mmasim", zero_exponent=-126)
    assert dp.dot(a, b, silicon, c) == c
    out = dp.dot(a, b, model, c)
    assert out == 0 and not np.signbit(out)
    fp16 = dp.get("h200-e4m3-mmasim", out="fp16")
    assert (fp16.name, fp16.zero_exponent, fp16.out_format) == (
        "h200-e4m3-mmasim@fp16",
        -126,
        F.fp16,
    )
    assert "h100-tf32-mmasim" in dp.names()
    with pytest.raises(ValueError, match="only the Hopper presets"):
        dp.get("b200-bf16-mmasim")


def dataclass_replace_name(unit: DotUnit, name: str) -> DotUnit:
    """``unit`` renamed."""
    return replace(unit, name=name)


def test_unknown_preset_lists_close_matches() -> None:
    with pytest.raises(KeyError, match="h100-e4m3"):
        dp.get("h100-e4m4")
    with pytest.raises(ValueError, match="fp16"):
        dp.get("h100-tf32", out="fp16")
    with pytest.raises(ValueError, match="out="):
        dp.get("h100-fp16", out="fp64")


def test_input_errors() -> None:
    unit = dp.get("a100-fp16")
    ok = np.ones(8)
    with pytest.raises(ValueError, match=r"^a\["):
        unit.dot(np.full(8, 1 + 2.0**-11), ok)
    with pytest.raises(ValueError, match=r"^b\["):
        unit.dot(ok, np.full(8, 1e6))
    with pytest.raises(ValueError, match=r"^c"):
        unit.dot(ok, ok, 0.1)
    with pytest.raises(ValueError, match="K mismatch"):
        unit.dot(ok, np.ones(7))
    with pytest.raises(TypeError, match="dtype"):
        unit.dot(np.ones(8, np.int32), ok)
    with pytest.raises(TypeError, match="dtype"):
        unit.dot(ok, np.ones(8, np.complex64))
    with pytest.raises(ValueError, match="Inf"):
        dp.get("h100-e4m3").dot(np.array([np.inf]), np.array([1.0]))
    with pytest.raises(ValueError, match="2-D"):
        dp.matmul(np.ones(4), np.ones((4, 2)), unit)
    with pytest.raises(ValueError, match="K mismatch"):
        dp.matmul(np.ones((2, 4)), np.ones((3, 2)), unit)
    with pytest.raises(ValueError, match="C"):
        dp.matmul(np.ones((2, 4)), np.ones((4, 2)), unit, np.zeros((3, 3), np.float32))
    with pytest.raises(TypeError, match="DotUnit"):
        dp.matmul(np.ones((2, 4)), np.ones((4, 2)), "a100-fp16")


def test_unit_validation() -> None:
    with pytest.raises(ValueError, match="n="):
        DotUnit("x", F.fp16, 0, 23)
    with pytest.raises(ValueError, match="int64"):
        DotUnit("x", F.fp16, 8, 58)
    with pytest.raises(ValueError, match="out_rounding"):
        DotUnit("x", F.fp16, 8, 23, out_rounding="toward_positive")
    with pytest.raises(ValueError, match="out_format"):
        DotUnit("x", F.fp16, 8, 23, out_format=F.fp8_e4m3)
    with pytest.raises(ValueError, match="chunk=12"):
        DotUnit("x", F.fp16, 8, 23, chunk=12, outer=dp.Accumulator.floating())
    with pytest.raises(TypeError, match="min_exp"):
        DotUnit("x", F.fp16, 8, 23, min_exp=1.5)  # type: ignore[arg-type]
    for bad in ({"frac_bits": 24}, {"c_inside": True}):  # pairwise: no grid, c after the tree
        with pytest.raises(ValueError, match="pairwise=True needs"):
            DotUnit("x", F.fp16, 4, **{"frac_bits": None, "c_inside": False, **bad}, pairwise=True)
    with pytest.raises(ValueError, match="pairwise=True with accumulator=exact"):
        DotUnit(
            "x", F.fp16, 4, None, c_inside=False, pairwise=True, accumulator=dp.Accumulator.exact()
        )


def test_public_entry_point() -> None:
    assert numsim.datapath.get is dp.get


# --------------------------------------------------------------------------------------------
# (c) integer units: kernel == reference, overflow counting, the P = 2N + ceil(log2 K) bound
# --------------------------------------------------------------------------------------------
INT_UNITS = [
    dp.get("int8-acc32"),
    dp.get("int8-acc16"),
    dp.get("int8-acc16-sat"),
    DotUnit("int8-blocks-sat", F.int8, 4, None, accumulator=ACC.integer(18, "saturate")),
    DotUnit(
        "int8-two-stage",
        F.int8,
        1,
        None,
        accumulator=ACC.integer(16),
        chunk=8,
        outer=ACC.integer(20),
    ),
    DotUnit(
        "int8-two-stage-sat",
        F.int8,
        2,
        None,
        accumulator=ACC.integer(15, "saturate"),
        chunk=4,
        outer=ACC.integer(17, "saturate"),
    ),
    DotUnit(
        "int8-float-outer",
        F.int8,
        1,
        None,
        accumulator=ACC.integer(17),
        chunk=8,
        outer=ACC.floating(F.bf16, "toward_zero"),
    ),
    DotUnit(
        "int8-exact-outer",
        F.int8,
        1,
        None,
        accumulator=ACC.integer(17),
        chunk=8,
        outer=ACC.exact(),
        out_format=F.fp16,
        out_rounding="nearest_even",
    ),
]


def _int_cases(rng: random.Random, K: int) -> list[tuple[list[int], list[int]]]:
    """Random, adversarial (all +-128 products) and cancelling int8 vectors."""
    out = []
    for _ in range(20):
        out.append(
            ([rng.randint(-128, 127) for _ in range(K)], [rng.randint(-128, 127) for _ in range(K)])
        )
    out.append(([-128] * K, [-128] * K))  # every product +2**14: the largest sum
    out.append(([-128] * K, [127] * K))  # the most negative sum
    out.append(
        ([-128, 127] * (K // 2) + [0] * (K % 2), [-128] * K)
    )  # alternating: overflow then back
    return out


@pytest.mark.parametrize("unit", INT_UNITS, ids=str)
def test_int_unit_matches_reference(unit: DotUnit) -> None:
    rng = random.Random(sum(map(ord, unit.name)))
    K = 37
    cs = _int_cases(rng, K)
    A = np.array([a for a, _ in cs], np.float64)
    B = np.array([b for _, b in cs], np.float64)
    got, over = unit.dot(A, B, return_overflows=True)
    total_over = 0
    for i, (a, b) in enumerate(cs):
        want, want_over = ref_dot.dot_result(
            unit, [Fraction(x) for x in a], [Fraction(y) for y in b]
        )
        fmt = ref_dot.result_format(unit)
        want_v = float(want) if fmt is None else float(ref_codec.decode(fmt, want))
        assert float(got[i]) == want_v, (i, float(got[i]), want_v)
        assert int(over[i]) == want_over, (i, int(over[i]), want_over)
        total_over += want_over
    if unit.name in ("int8-acc16", "int8-acc16-sat", "int8-two-stage-sat"):
        assert total_over > 0  # the cases do overflow these narrow registers


@pytest.mark.parametrize("K", [1, 2, 3, 32, 100, 128, 1024])
@pytest.mark.parametrize("overflow", ["wrap", "saturate"])
def test_int_accumulator_width_bound(K: int, overflow: str) -> None:
    """P = 2N + ceil(log2 K) never overflows; at P - 1 the adversarial inputs overflow and are
    counted."""
    P = 2 * 8 + math.ceil(math.log2(K))
    worst_pos = np.full((1, K), -128.0)  # (-128)**2 = 2**14 per product, K * 2**14 in total
    worst_neg_a, worst_neg_b = np.full((1, K), -128.0), np.full((1, K), 127.0)
    rng = np.random.default_rng(K)
    rand = rng.integers(-128, 128, (50, K)).astype(np.float64)
    ok = dp.int_acc(P, overflow)
    for a, b in [(worst_pos, worst_pos), (worst_neg_a, worst_neg_b), (rand, rand[::-1])]:
        got, over = ok.dot(a, b, return_overflows=True)
        assert not over.any()
        np.testing.assert_array_equal(got, (a * b).sum(axis=-1))  # exact: K * 2**14 < 2**53
    narrow = dp.int_acc(P - 1, overflow)
    got, over = narrow.dot(worst_pos, worst_pos, return_overflows=True)
    exact = K * 2**14
    if exact <= 2 ** (P - 2) - 1:  # K not a power of two: the bound has slack, P - 1 still suffices
        assert K & (K - 1) and not over.any() and got[0] == exact
        return
    assert over[0] >= 1 and got[0] != exact
    if overflow == "saturate":
        assert got[0] == 2 ** (P - 2) - 1  # clamped at the register's maximum
        assert over[0] == K - (2 ** (P - 2) - 1) // 2**14  # every addition past the limit counts
    else:
        assert got[0] == ((exact + 2 ** (P - 2)) % 2 ** (P - 1)) - 2 ** (P - 2)


def test_int_unit_errors() -> None:
    unit = dp.get("int8-acc16")
    with pytest.raises(ValueError, match=r"^a\["):
        unit.dot(np.array([0.5]), np.array([1.0]))
    with pytest.raises(ValueError, match=r"^b\["):
        unit.dot(np.array([1.0]), np.array([128.0]))
    with pytest.raises(ValueError, match="16-bit register"):
        unit.dot(np.array([1.0]), np.array([1.0]), c=2.0**15)
    with pytest.raises(ValueError, match="integer in_format"):
        DotUnit("x", F.int8, 1, None)  # an integer unit needs an int accumulator
    with pytest.raises(ValueError, match="integer in_format"):
        DotUnit("x", F.fp16, 1, None, accumulator=ACC.integer(20))
    with pytest.raises(ValueError, match="bits="):
        ACC.integer(63)
    with pytest.raises(ValueError, match="overflow="):
        ACC.integer(20, "clip")
    with pytest.raises(KeyError, match="int8-acc"):
        dp.get("int8-accx")


# --------------------------------------------------------------------------------------------
# (e) MX Dot / DotGeneral on BlockArrays == the reference with scales factored out
# --------------------------------------------------------------------------------------------
MX_CASES = [
    ("mxfp8_e4m3", "mxdotp"),
    ("mxfp8_e4m3", "ocp-mx-exact"),
    ("mxfp8_e5m2", "h100-e5m2"),
    ("mxfp6_e2m3", "ocp-mx-exact"),
    ("mxfp6_e3m2", "mi100-fp16"),
    ("mxfp4_e2m1", "b200-e4m3"),
    ("mxfp4_e2m1", "h100-e4m3-promote128"),
    ("mx6", "ocp-mx-exact"),
    ("mx9", "a100-bf16"),
    ("mx4", "mxdotp"),
    ("mxfp8_e5m2", "ocp-mx-fp32acc"),
    ("nvfp4", "ocp-mx-exact"),
    ("nvfp4", "h100-e4m3"),
    ("mxint8", "int8-acc32"),
    ("mxint8", "int8-acc16-sat"),
    ("mxfp6_e2m3", "mi210-fp16"),
    ("mxfp8_e4m3", "mi300-fp16"),
    ("mxfp8_e4m3", "b200-mxf8f6f4"),
    ("mxfp8_e5m2", "b200-mxf8f6f4"),
    ("mxfp6_e3m2", "rtxpro6000-mxf8f6f4"),
    ("mxfp4_e2m1", "b200-mxf8f6f4"),
    ("mxfp4_e2m1", "b200-mxf4nvf4"),
    ("nvfp4", "b200-mxf4nvf4"),
]


def _mx_data(rng: np.random.Generator, shape: tuple[int, int], bs: int) -> np.ndarray:
    """Rows of blocks with different magnitudes (scale exponents), zero blocks and one NaN block."""
    x = rng.standard_normal(shape) * 2.0 ** rng.integers(-20, 20, (shape[0], 1))
    x *= np.repeat(2.0 ** rng.integers(-6, 6, (shape[0], -(-shape[1] // bs))), bs, axis=1)[
        :, : shape[1]
    ]
    x[1, :bs] = 0.0
    x[2, bs // 2] = np.nan
    return x.astype(np.float32)


def _ref_scales(blk: numsim.BlockArray) -> list[list[Fraction]]:
    """Per-element scale values (block scale times 2**-micro) of each row, as Fractions."""
    fmt = blk.format
    out = []
    for r in range(blk.codes.shape[0]):
        row = []
        for j in range(blk.codes.shape[1]):
            s = ref_codec.decode(fmt.scale, int(blk.scales[r, j]))
            for i in range(fmt.block_size):
                mu = int(blk.micro[r, j, i // fmt.sub_block_size]) if blk.micro is not None else 0
                row.append(s if isinstance(s, float) else s / 2**mu)
        out.append(row)
    return out


@pytest.mark.parametrize("fmt_name,unit_name", MX_CASES)
def test_mx_matmul_matches_reference(fmt_name: str, unit_name: str) -> None:
    fmt, unit = F.get(fmt_name), dp.get(unit_name)
    rng = np.random.default_rng(sum(map(ord, fmt_name + unit_name)))
    M, K, N = 4, 3 * fmt.block_size + 5, 3
    A = numsim.encode(_mx_data(rng, (M, K), fmt.block_size), fmt, axis=1)
    B = numsim.encode(_mx_data(rng, (N, K), fmt.block_size).T.copy(), fmt, axis=0)
    C = (rng.standard_normal((M, N)) * 4).astype(np.float32)
    D, over = dp.mx_matmul(A, B, unit, C, return_overflows=True)
    av = [[ref_codec.decode(fmt.element, int(c)) for c in row.reshape(-1)] for row in A.codes]
    bv = [[ref_codec.decode(fmt.element, int(c)) for c in row.reshape(-1)] for row in B.codes]
    sa, sb = _ref_scales(A), _ref_scales(B)
    for i in range(M):
        for j in range(N):
            if isinstance(
                unit.in_format, F.IntFormat
            ):  # integer unit: block scales at each MX block
                ref_unit = replace(
                    unit, chunk=fmt.block_size, outer=unit.outer or ACC.floating(F.fp32)
                )
                f = fmt.element.frac_bits
                chunk_scales = [
                    sa[i][k] * sb[j][k] / 2 ** (2 * f) for k in range(0, len(av[i]), fmt.block_size)
                ]
                code, want_over = ref_dot.dot_result(
                    ref_unit,
                    [x * 2**f for x in av[i]],
                    [y * 2**f for y in bv[j]],
                    Fraction(float(C[i, j])),
                    chunk_scales=chunk_scales,
                )
                assert int(over[i, j]) == want_over
            else:
                semin = fmt.scale.emin if not fmt.scale.field0_normal else -(1 << 20)
                own = fmt.element.emin if unit.element_exponents == "own" else None
                code, _ = ref_dot.dot_result(
                    unit,
                    av[i],
                    bv[j],
                    Fraction(float(C[i, j])),
                    sa[i],
                    sb[j],
                    semin,
                    a_emin=own,
                    b_emin=own,
                )
                ref_unit = unit
            want = np.float32(float(ref_codec.decode(ref_dot.result_format(ref_unit), code)))
            if fmt.tensor_scale:
                want = np.float32(np.float32(A.tensor_scale) * np.float32(B.tensor_scale)) * want
            got = D[i, j]
            assert (np.isnan(got) and np.isnan(want)) or got == want, (i, j, got, want)
    assert np.isnan(D[2]).all()  # the NaN block of row 2 of A


# --------------------------------------------------------------------------------------------
# (f) block-scaled NVIDIA instructions (kind::mxf8f6f4, kind::mxf4nvf4): hand-derived cases
# --------------------------------------------------------------------------------------------
def _blocks(values: Sequence[float], scale_codes: Sequence[int], fmt_name: str) -> Any:
    """One row [1, K] of ``fmt_name`` blocks with the given element values and scale codes."""
    fmt = F.get(fmt_name)
    codes = numsim.encode(np.asarray(values, np.float32), fmt.element).astype(np.uint8)
    assert np.array_equal(numsim.decode(codes, fmt.element), np.float32(values)), "not exact"
    nb = len(scale_codes)
    return numsim.BlockArray(
        codes.reshape(1, nb, fmt.block_size),
        np.asarray(scale_codes, np.uint8).reshape(1, nb),
        fmt,
        1,
        (1, nb * fmt.block_size),
        tensor_scale=1.0 if fmt.tensor_scale else None,  # NVFP4: a tensor scale of 1
    )


def _row(head: Sequence[float], k: int) -> list[float]:
    return [*head, *([0.0] * (k - len(head)))]


def _ref_block_scaled(unit: DotUnit, a: Any, b: Any, c: float) -> int:
    """FP32 bits of the Fraction reference for one row pair of ``_blocks`` operands."""
    vals, scales, emins = [], [], []
    for x in (a, b):
        fmt = x.format
        vals.append([ref_codec.decode(fmt.element, int(v)) for v in x.codes.reshape(-1)])
        scales.append(_ref_scales(x)[0])
        emins.append(fmt.element.emin)
    semin = a.format.scale.emin if not a.format.scale.field0_normal else -(1 << 20)
    own = unit.element_exponents == "own"
    code, _ = ref_dot.dot_result(
        unit,
        vals[0],
        vals[1],
        Fraction(c),
        scales[0],
        scales[1],
        semin,
        a_emin=emins[0] if own else None,
        b_emin=emins[1] if own else None,
    )
    return code


def _bits(x: Any) -> int:
    return int(np.float32(x).reshape(-1)[0].view(np.uint32))


def test_mxf8f6f4_zero_product_sets_the_grid() -> None:
    """MMA-Sim rule G2 with scales: ``0 * 448`` under scales 2**127 * 2**127 has exponent
    -126 + 8 + 127 + 127 = 136, so c = 1 + 2**-20 (exponent 0) is truncated on the grid
    2**(136 - 25) to 0 and the result is +0; a unit that drops zero products returns c."""
    unit = dp.get("b200-mxf8f6f4")
    a = _blocks(_row([0.0], 32), [254], "mxfp8_e4m3")
    b = _blocks(_row([448.0], 32), [254], "mxfp8_e4m3")
    c = 1.0 + 2.0**-20
    for u, want in ((unit, 0.0), (replace(unit, zero_exponent=None), c)):
        got = dp.mx_dot(a, b, u, c)
        assert _bits(got) == _bits(want), (u.zero_exponent, got)
        assert _ref_block_scaled(u, a, b, c) == _bits(want)


def test_mxf8f6f4_underflow_to_zero_is_positive() -> None:
    """``-2**-9 * 2**-9`` (E4M3 subnormals, own emin -6) under scales 2**-127 * 2**-5 is
    -2**-150: eta = -126 (c = 0 joins at -126), two units of the grid 2**-151; RZ to FP32 gives
    a zero, +0 with ``underflow_zero="positive"`` (MMA-Sim) and -0 when the sign is kept."""
    unit = dp.get("b200-mxf8f6f4")
    a = _blocks(_row([-(2.0**-9)], 32), [0], "mxfp8_e4m3")
    b = _blocks(_row([2.0**-9], 32), [122], "mxfp8_e4m3")
    for u, want in ((unit, 0x00000000), (replace(unit, underflow_zero="signed"), 0x80000000)):
        assert _bits(dp.mx_dot(a, b, u)) == want
        assert _ref_block_scaled(u, a, b, 0.0) == want


def test_mxf8f6f4_mixed_elements_take_their_own_exponents() -> None:
    """E4M3 x E5M2 (``element_exponents="own"``): a = 2**-9 (E4M3 subnormal: exponent -6,
    significand 2**-3) times b = 2**-16 (E5M2 subnormal: exponent -14, significand 2**-2) is
    2**-25 at exponent -20, so eta = -20 and c = 2**-46 falls below the grid 2**-45: the
    result is 2**-25. Decoded into FP9 E5M3 (``"in_format"``), a is a normal number (exponent
    -9), eta = -23, the grid 2**-48 keeps c: 2**-25 + 2**-46."""
    unit = dp.get("b200-mxf8f6f4")
    a = _blocks(_row([2.0**-9], 32), [127], "mxfp8_e4m3")
    b = _blocks(_row([2.0**-16], 32), [127], "mxfp8_e5m2")
    c = 2.0**-46
    cases = ((unit, 2.0**-25), (replace(unit, element_exponents="in_format"), 2.0**-25 + c))
    for u, want in cases:
        got = dp.mx_matmul(a, _as_b(b), u, np.float32(c))
        assert _bits(got) == _bits(want), (u.element_exponents, got)
        assert _ref_block_scaled(u, a, b, c) == _bits(want)


def _as_b(x: Any) -> Any:
    """A [1, K] row blocked along axis 1 as the [K, 1] column blocked along axis 0."""
    return numsim.BlockArray(x.codes, x.scales, x.format, 0, (x.shape[1], 1), tensor_scale=None)


def test_mxf4nvf4_groups_align_at_the_scales_exponent() -> None:
    """Group 0 (products 0-15) sums 8 * 36 - 8 * 36 = 0 at exponent 0 + 0 (E8M0 scales 2**0);
    group 2 sums 0.5 * 0.5 = 2**-2 under scales 2**-32 * 2**0: the term 2**-34 at exponent -32.
    eta = 0 (zero-sum groups count), F = 35: the term is 2 units of 2**-35 and the result is
    2**-34. Aligning each product on its own (eta = 2 + 2 from the +-6 * 6 products, grid
    2**-31) would truncate it to 0."""
    unit = dp.get("b200-mxf4nvf4")
    a = _blocks([6.0] * 16 + [0.0] * 16 + _row([0.5], 32), [127, 95], "mxfp4_e2m1")
    b = _blocks([6.0] * 8 + [-6.0] * 8 + [0.0] * 16 + _row([0.5], 32), [127, 127], "mxfp4_e2m1")
    want = 2.0**-34
    assert _bits(dp.mx_dot(a, b, unit)) == _bits(want)
    assert _ref_block_scaled(unit, a, b, 0.0) == _bits(want)
    per_product = replace(unit, group=None, group_exponent=None)
    assert _bits(dp.mx_dot(a, b, per_product)) == 0
    assert _ref_block_scaled(per_product, a, b, 0.0) == 0


def test_mxf4nvf4_subnormal_and_zero_scales() -> None:
    """NVFP4 (UE4M3 per 16): group 0 sums 1 - 1 = 0 under a subnormal scale 2**-9 (exponent -6,
    significand 2**-3) and 1.0; groups 1-3 have zero scales (exponent -126). eta = -6, F = 35:
    c = 1.5 * 2**-41 is truncated to 2**-41. Taking the scale's exponent as floor(log2) = -9
    would keep c whole."""
    unit = dp.get("b200-mxf4nvf4")
    a = _blocks(_row([1.0, -1.0], 64), [0x01, 0, 0, 0], "nvfp4")
    b = _blocks(_row([1.0, 1.0], 64), [0x38, 0, 0, 0], "nvfp4")
    c = 1.5 * 2.0**-41
    assert _bits(dp.mx_dot(a, b, unit, c)) == _bits(2.0**-41)
    assert _ref_block_scaled(unit, a, b, c) == _bits(2.0**-41)


def test_block_scaled_knob_validation() -> None:
    base = dp.get("b200-mxf4nvf4")
    with pytest.raises(ValueError, match="group=48"):
        replace(base, group=48)
    with pytest.raises(ValueError, match="group_exponent"):
        replace(base, group_exponent="products")
    with pytest.raises(ValueError, match="group_exponent"):
        replace(base, group=None)
    with pytest.raises(ValueError, match="chain accumulator"):
        replace(base, accumulator=ACC.exact())
    with pytest.raises(ValueError, match="underflow_zero"):
        replace(base, underflow_zero="negative")
    with pytest.raises(ValueError, match="element_exponents"):
        replace(base, element_exponents="element")
    with pytest.raises(TypeError, match="zero_exponent"):
        replace(base, zero_exponent=-126.0)
    x = np.ones((1, 32), np.float32)
    with pytest.raises(ValueError, match="without Inf, NaN"):
        dp.mx_dot(numsim.encode(x, "mxfp8_e4m3"), numsim.encode(x, "mxfp8_e4m3"), base)
    with pytest.raises(ValueError, match="out="):
        dp.get("b200-mxf8f6f4", out="fp16")
    with pytest.raises(ValueError, match="takes MX operands"):
        dp.matmul(np.ones((2, 64)), np.ones((64, 2)), base)
    with pytest.raises(ValueError, match="takes MX operands"):
        dp.dot(np.ones(64), np.ones(64), base)


def test_mx_errors() -> None:
    x = np.ones((2, 32), np.float32)
    a = numsim.encode(x, "mxfp8_e4m3")
    with pytest.raises(TypeError, match="BlockArray"):
        dp.mx_dot(x, a, dp.get("mxdotp"))
    with pytest.raises(ValueError, match="one block format"):  # mixed elements need one block size
        dp.mx_dot(a, numsim.encode(x, "nvfp4"), dp.get("mxdotp"))
    with pytest.raises(ValueError, match="one block format"):  # integer units take one format
        dp.mx_dot(numsim.encode(x, "mxint8"), a, dp.get("int8-acc32"))
    with pytest.raises(ValueError, match="last axis"):
        dp.mx_dot(numsim.encode(x, "mxfp8_e4m3", axis=0), a, dp.get("mxdotp"))
    with pytest.raises(ValueError, match="K mismatch"):
        dp.mx_dot(a, numsim.encode(np.ones((2, 64), np.float32), "mxfp8_e4m3"), dp.get("mxdotp"))
    with pytest.raises(ValueError, match="not exactly representable"):
        dp.mx_dot(a, a, dp.get("h100-fp16").__class__("tiny-in", F.FloatFormat(3, 1), 4, 20))
    with pytest.raises(ValueError, match="integer elements"):
        dp.mx_dot(a, a, dp.get("int8-acc32"))
    with pytest.raises(ValueError, match="axis 1"):
        dp.mx_matmul(a, a, dp.get("mxdotp"))
    with pytest.raises(TypeError, match="DotUnit"):
        dp.mx_dot(a, a, "mxdotp")


def test_fma_fp32_is_sequential_ieee_fma() -> None:
    """fma-fp32 == a loop of correctly rounded FP32 FMAs (float64 products of FP32 values are exact;
    the float64 sum is then rounded once through the exact reference)."""
    rng = random.Random(3)
    unit = dp.get("fma-fp32")
    for _ in range(30):
        a = [fp32_near(rng.uniform(-4, 4) * 2.0 ** rng.randint(-30, 30)) for _ in range(6)]
        b = [fp32_near(rng.uniform(-4, 4) * 2.0 ** rng.randint(-30, 30)) for _ in range(6)]
        acc = Fraction(0)
        for x, y in zip(a, b):  # IEEE FMA: round(acc + x*y) once, nearest even
            acc = ref_codec.decode(
                F.fp32, ref_dot.round_to(F.fp32, acc + x * y, RoundMode.nearest_even)
            )
        assert unit.dot(np.array(_as_f64(a)), np.array(_as_f64(b))) == np.float32(float(acc))


# --------------------------------------------------------------------------------------------
# (f) hypothesis: random units (every knob) and random inputs, kernel == reference
# --------------------------------------------------------------------------------------------
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

IN_FORMATS = [F.fp16, F.bf16, F.fp8_e4m3, F.fp8_e5m2, F.fp6_e3m2, F.fp4_e2m1]
OUT_FORMATS = [F.fp32, F.fp16, F.bf16, dp.fp32_m13]


@st.composite
def units(draw: Any) -> DotUnit:
    """A random float DotUnit over every parameter (valid combinations only)."""
    fin = draw(st.sampled_from(IN_FORMATS))
    n = draw(st.integers(1, 9))
    exact = draw(st.booleans())
    frac = None if exact else draw(st.integers(0, 40))
    c_inside = draw(st.booleans())
    odd_even = not c_inside and draw(st.booleans())
    pairwise = exact and not c_inside and not odd_even and draw(st.booleans())
    acc_kind = draw(
        st.sampled_from(["chain", "float"] if pairwise else ["chain", "float", "exact"])
    )
    acc = {
        "chain": ACC.chain(),
        "exact": ACC.exact(),
        "float": ACC.floating(
            draw(st.sampled_from(OUT_FORMATS[:3])),
            draw(
                st.sampled_from(
                    [
                        "nearest_even",
                        "toward_zero",
                        "nearest_away",
                        "toward_positive",
                        "toward_negative",
                    ]
                )
            ),
        ),
    }[acc_kind]
    chunk = outer = None
    if acc_kind != "exact" and draw(st.booleans()):
        chunk = n * draw(st.integers(1, 3))
        outer = draw(
            st.sampled_from(
                [ACC.exact(), ACC.floating(F.fp32), ACC.floating(F.bf16, "toward_zero")]
            )
        )
    return DotUnit(
        "hyp",
        fin,
        n,
        frac,
        raw_product_exponent=draw(st.booleans()),
        term_rounding=draw(st.sampled_from(["toward_zero", "nearest_even"])),
        c_inside=c_inside,
        min_exp=draw(st.sampled_from([None, -20, -133, 0])),
        out_format=draw(st.sampled_from(OUT_FORMATS)),
        out_rounding=draw(st.sampled_from(["toward_zero", "nearest_even"])),
        subnormals_out=draw(st.booleans()),
        subnormals_in=draw(st.booleans()),
        odd_even=odd_even,
        pairwise=pairwise,
        accumulator=acc,
        chunk=chunk,
        outer=outer,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(unit=units(), data=st.data())
def test_hypothesis_units_match_reference(unit: DotUnit, data: Any) -> None:
    fmt = unit.in_format
    K = data.draw(st.integers(1, 3 * unit.n + 2))
    codes = st.integers(0, (1 << fmt.total_bits) - 1)
    vals = []
    for _ in range(2 * K):
        v = ref_codec.decode(fmt, data.draw(codes))
        vals.append(v)
    a, b = vals[:K], vals[K:]
    c = data.draw(
        st.sampled_from(
            [
                Fraction(0),
                Fraction(5, 1 << 20),
                Fraction(-7, 1 << 140),
                Fraction(3, 1 << 2),
                Fraction(2) ** 127,
                -(Fraction(2) ** 127),
            ]
        )
    )
    code = ref_dot.dot_code(unit, a, b, c)
    want = _ref_f32_bits(unit, code)
    got = unit.dot(np.array(_as_f64(a)), np.array(_as_f64(b)), np.float32(float(c)))
    gb = (
        0x7FC00000
        if np.isnan(got)
        else int(np.asarray(got, np.float32).reshape(1).view(np.uint32)[0])
    )
    assert gb == want, (unit, a, b, c, hex(gb), hex(want))


@pytest.mark.parametrize(
    "unit",
    [
        dp.get("ocp-mx-exact"),
        dp.get("mxdotp"),
        DotUnit("exact-fp16", F.fp16, 4, None, out_rounding="nearest_even"),  # one rounding a block
        dp.get("mi300-fp16"),
        KNOBS[5],
    ],
    ids=str,
)
def test_ties_decided_by_bits_far_below(unit: DotUnit) -> None:
    """A sum exactly half an FP32 ulp above 1 plus a term 2**-34: RNE must round up (the far bit is
    sticky); without the far term it is a tie and stays at 1. Both signs, with c inside or late."""
    one, t12, t17 = (
        Fraction(1),
        Fraction(1, 1 << 12),
        Fraction(1, 1 << 17),
    )  # products 1, 2**-24, 2**-34
    cases_ = []
    for far in (t17, Fraction(0)):
        for sign in (1, -1):
            a, b = [sign * one, sign * t12, sign * far], [one, t12, t17]
            cases_.append((a, b, Fraction(0)))
            cases_.append((a[1:], b[1:], sign * one))  # the 1 arrives as c instead
    for a, b, c in cases_:
        got = unit.dot(np.array(_as_f64(a)), np.array(_as_f64(b)), np.float32(float(c)))
        want = _ref_f32_bits(unit, ref_dot.dot_code(unit, a, b, c))
        assert int(np.asarray(got, np.float32).reshape(1).view(np.uint32)[0]) == want, (a, b, c)
    if (
        unit.frac_bits is None and unit.out_rounding == RoundMode.nearest_even
    ):  # hand-derived answers
        x = np.array([1.0, 2.0**-12, 2.0**-17])
        assert unit.dot(x, np.array([1.0, 2.0**-12, 2.0**-17])) == np.float32(1 + 2.0**-23)
        assert unit.dot(x, np.array([1.0, 2.0**-12, 0.0])) == np.float32(1)


@pytest.mark.parametrize(
    "fmt",
    [
        F.fp8_e4m3,
        F.fp8_e5m2,
        F.fp8_e4m3fnuz,
        F.fp6_e2m3,
        F.fp4_e2m1,
        dp.fp9_e5m3,
        F.FloatFormat(3, 2, subnormals=False),
        F.int8,
        F.get("mxint8").element,
    ],
    ids=str,
)
def test_operand_exactness_check(fmt: Any) -> None:
    """Every value of the format passes; midpoints between neighbours, values past the extremes
    and the next finer grid fail (the oracle: the format's own value list from the reference)."""
    values = sorted(
        {
            float(v)
            for c in range(1 << fmt.total_bits)
            if isinstance(v := ref_codec.decode(fmt, c), Fraction)
        }
    )
    if isinstance(fmt, F.IntFormat):  # symmetric formats never produce the -2**(bits-1) code
        values = [v for v in values if v >= fmt.min_int * 2.0**-fmt.frac_bits]
    dp_lower.check_exact(np.array(values), fmt, "x")  # all pass
    finite = np.array(values)
    bad = list((finite[1:] + finite[:-1]) / 2) + [finite[-1] * 1.0001 + 1, finite[0] * 1.0001 - 1]
    for v in bad:
        with pytest.raises(ValueError, match="not exactly representable"):
            dp_lower.check_exact(np.array([0.0, v]), fmt, "x")


# --------------------------------------------------------------------------------------------
# the FP64 FMA unit (fma-fp64): only that unit takes FP64; FP32 consumers refuse it
# --------------------------------------------------------------------------------------------
def test_fp64_formats_only_on_the_sequential_fma_unit() -> None:
    """FP64 in any format field of a unit that is not the binary64 FMA chain: a ValueError that
    names the argument and the FMA unit; no epilogue (it adds c in FP32)."""
    fma64 = dp.get("fma-fp64")
    assert dp.get("FMA-FP64") == fma64 and fma64.c_placement == "inside"
    with pytest.raises(
        ValueError,
        match=r"in_format=fp64: only the sequential binary64 FMA unit .* n=2 \(expected 1\)",
    ):
        DotUnit("x", F.fp64, 2, None, out_format=F.fp64, c_format=F.fp64, exact_zero="ieee")
    with pytest.raises(ValueError, match=r"out_rounding=toward_zero \(expected nearest_even\)"):
        replace(fma64, out_rounding=RoundMode.toward_zero)
    with pytest.raises(ValueError, match=r"exact_zero=positive \(expected 'ieee'\)"):
        replace(fma64, exact_zero="positive")
    with pytest.raises(ValueError, match=r"out_format=fp32: a unit with an FP64 format"):
        DotUnit("x", F.fp64, 1, None, out_rounding="nearest_even", exact_zero="ieee")
    with pytest.raises(ValueError, match=r"in_format=fp32: a unit with an FP64 format"):
        replace(dp.get("fma-fp32"), out_format="fp64")
    with pytest.raises(ValueError, match=r"b_format=fp16: a unit with an FP64 format"):
        replace(fma64, b_format=F.fp16)
    with pytest.raises(ValueError, match=r"c_entry='epilogue': the FP64 FMA unit has no"):
        replace(fma64, c_entry="epilogue")
    with pytest.raises(ValueError, match=r"c_entry='epilogue'"):
        dp.matmul(np.ones((1, 1)), np.ones((1, 1)), fma64, c_entry="epilogue")
    with pytest.raises(ValueError, match=r"c_entry='epilogue'"):
        dp.get("fma-fp64-epilogue")
    with pytest.raises(ValueError, match=r"format=fp64: expected an IEEE-style format"):
        dp.Accumulator.floating("fp64")


def test_fp64_unit_operand_errors() -> None:
    """Operands: any float dtype (widened exactly), not ints; C must broadcast."""
    fma64 = dp.get("fma-fp64")
    with pytest.raises(TypeError, match="A: dtype int64"):
        dp.matmul(np.ones((2, 2), np.int64), np.ones((2, 2)), fma64)
    with pytest.raises(ValueError, match=r"C: shape \(3,\) does not broadcast"):
        dp.matmul(np.ones((2, 2)), np.ones((2, 2)), fma64, np.ones(3))
    with pytest.raises(ValueError, match="K mismatch"):
        dp.dot(np.ones(3), np.ones(2), fma64)


def test_fp64_unit_refused_by_fp32_consumers() -> None:
    """The consumers that carry FP32 values or codes refuse the FP64 unit instead of narrowing
    its results: MX products, the batched quantized products (PTQ), the scaled products of the
    torch hook, the RTL parameters and the element codec."""
    from numsim import rtl
    from numsim.datapath import torch_hook

    fma64 = dp.get("fma-fp64")
    blk = numsim.encode(np.ones((2, 32), np.float32), "mxfp8_e4m3", axis=1)
    with pytest.raises(ValueError, match="unit=fma-fp64: mx_matmul .* carries FP32"):
        dp.mx_matmul(blk, numsim.encode(np.ones((32, 2), np.float32), "mxfp8_e4m3", axis=0), fma64)
    with pytest.raises(ValueError, match="unit=fma-fp64: mx_dot"):
        dp.mx_dot(blk, blk, fma64)
    with pytest.raises(ValueError, match="unit=fma-fp64: batched_elements"):
        dp.api.batched_elements(np.ones((1, 2, 2)), np.ones((1, 2, 2)), fma64)
    with pytest.raises(ValueError, match="unit=fma-fp64: scaled_matmul"):
        torch_hook.scaled_matmul(
            np.ones((2, 2)), np.ones((2, 1)), np.ones((2, 2)), np.ones((1, 2)), [slice(0, 2)], fma64
        )
    with pytest.raises(ValueError, match="the FP64 FMA unit has no RTL twin"):
        rtl.dot_params("fp32_acc", "fp32", fma64)
    from numsim.golden.units import ParamSet  # golden headers carry the RTL parameters

    with pytest.raises(ValueError, match="the FP64 FMA unit has no RTL twin"):
        ParamSet("fp32_acc", "fp64", F.fp32, dot=fma64).rtl_params()
    with pytest.raises(ValueError, match="format=fp64: the element kernels take codes of at most"):
        numsim.quantize(np.ones(3), "fp64")
    assert "fp64" not in F.names()  # not an element-codec format
