"""The fused float32 fake quantization of power-of-two block formats (numsim._kernels.mxfast).

``numsim.quantize`` on float32 input under nearest-even/saturate takes one fused pass for MX
formats. Its expected values come from the general path (``decode(encode(x))``: element codes
and scales by the table/scalar kernels, then decoded), which the block tests hold to the exact
reference, and on a sample directly from :mod:`numsim.reference` (the Fraction model). Equality
is bit for bit: signed zeros and NaN payloads included.

Inputs cover, per format and scale rule: every float16 value moved into many binades (below a
block maximum that fixes the scale, and shuffled into blocks that take their own scale), every
element value times the scale, the midpoints between neighbouring element values and the float32
numbers next to them, the saturation boundary, all-zero blocks, blocks with NaN or Inf, float32
subnormals, block maxima at the top of the float32 range, hypothesis arrays, any axis and lengths
that need padding.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import numsim
from numsim import formats as F
from numsim import reference as R
from numsim._kernels import mxfast
from numsim.block import _mx_fast_params, _pow2_params, quantize_pow2_fast
from numsim.formats import BlockFormat, IntFormat
from numsim.policies import ScaleRule

#: The MX formats of OCP MX v1.0 Table 1 (all take the fused path) and two user-built ones.
MX = [
    F.get(n)
    for n in ("mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e2m3", "mxfp6_e3m2", "mxfp4_e2m1", "mxint8")
]
FAST = [*MX, F.get("b4int3"), numsim.bfp(8, "fp4_e2m1", 5)]
RULES = list(ScaleRule)


def general(x: np.ndarray, fmt: BlockFormat, **kw: Any) -> np.ndarray:
    """The general path: element codes and scales, then decoded to float32."""
    vals = numsim.decode(numsim.encode(x, fmt, **kw))
    assert vals.dtype == np.float32
    return vals


def assert_same_bits(got: np.ndarray, want: np.ndarray, what: str = "") -> None:
    """Equal float32 bit patterns (signed zeros and NaNs included), with the first differences."""
    assert got.dtype == want.dtype == np.float32 and got.shape == want.shape, what
    gb, wb = got.view(np.uint32), want.view(np.uint32)
    bad = np.flatnonzero(gb.reshape(-1) != wb.reshape(-1))
    assert not bad.size, (
        f"{what}: {bad.size} values differ, e.g. at {bad[:4]}: "
        f"got {got.reshape(-1)[bad[:4]]}, want {want.reshape(-1)[bad[:4]]}"
    )


def check(
    x: np.ndarray, fmt: BlockFormat, rule: Any = None, axis: int = -1, what: str = ""
) -> np.ndarray | None:
    """numsim.quantize equals the general path, or both refuse (a value beyond float32: scale rules
    above floor at the top of the range). Returns the quantized values (None if refused)."""
    kw = {} if rule is None else {"scale_rule": rule}
    try:
        want = general(x, fmt, axis=axis, **kw)
    except ValueError as e:
        assert "outside the float32 range" in str(e)
        with pytest.raises(ValueError, match="outside the float32 range"):
            numsim.quantize(x, fmt, axis=axis, **kw)
        return None
    got = numsim.quantize(x, fmt, axis=axis, **kw)
    assert_same_bits(got, want, f"{fmt} {rule} {what}")
    return got


def fused_rows(
    rows: np.ndarray, fmt: BlockFormat, rule: Any = ScaleRule.floor
) -> tuple[np.ndarray, np.ndarray]:
    """The kernel alone on float32 rows of one block each: (values, bad-block flags)."""
    vout = np.full(rows.shape, np.float32(12345.0))
    bad = np.empty(rows.shape[0], np.uint8)
    n = mxfast.quantize_pow2_f32(
        np.ascontiguousarray(rows, np.float32),
        _pow2_params(fmt),
        _mx_fast_params(fmt),
        int(ScaleRule.parse(rule, "scale_rule")),
        vout,
        bad,
    )
    assert n == int(bad.sum())
    return vout, bad.astype(bool)


def check_kernel(
    rows: np.ndarray, fmt: BlockFormat, rule: Any = ScaleRule.floor, what: str = ""
) -> np.ndarray:
    """The blocks the kernel takes equal the general path; numsim.quantize equals it on all blocks.
    Returns the flags of the blocks the kernel leaves."""
    vout, bad = fused_rows(rows, fmt, rule)
    try:
        want = general(rows, fmt, scale_rule=rule)
    except ValueError:  # some block beyond float32: the kernel leaves it; compare the others
        if (~bad).any():
            assert_same_bits(
                vout[~bad], general(rows[~bad], fmt, scale_rule=rule), f"{fmt} {rule} kernel {what}"
            )
        check(rows, fmt, rule, what=what)
        return bad
    assert_same_bits(vout[~bad], want[~bad], f"{fmt} {rule} kernel {what}")
    assert_same_bits(numsim.quantize(rows, fmt, scale_rule=rule), want, f"{fmt} {rule} {what}")
    return bad


def f16_values() -> np.ndarray:
    """Every finite float16 value (both zeros included) as float32."""
    v = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    return v[np.isfinite(v)].astype(np.float32)


def element_values(fmt: BlockFormat) -> np.ndarray:
    """Every finite element value, sorted, as float64 (from the element codec's decode)."""
    elem = fmt.element
    codes = np.arange(1 << elem.total_bits, dtype=elem.code_dtype)
    v = numsim.decode(codes, elem).astype(np.float64)
    return np.unique(v[np.isfinite(v)])


def with_anchor(vals: np.ndarray, anchor: float, bs: int) -> np.ndarray:
    """Rows of one block: ``anchor`` (the block maximum, fixing the scale) then ``bs - 1``
    values."""
    n = -(-vals.size // (bs - 1)) * (bs - 1)
    v = np.concatenate([vals, np.zeros(n - vals.size, np.float32)]).reshape(-1, bs - 1)
    return np.concatenate([np.full((v.shape[0], 1), anchor, np.float32), v], axis=1)


# ---------------------------------------------------------------------------------------------
# Which inputs take the fused path
# ---------------------------------------------------------------------------------------------
def test_fast_params_cover_mx_formats() -> None:
    """Every MX format of OCP MX v1.0 Table 1 takes the fused kernel; MX9/6/4 (microexponents),
    NVFP4 and two's-complement int8 (asymmetric) do not."""
    for fmt in MX:
        assert _mx_fast_params(fmt) is not None, fmt
    for name in ("mx9", "mx6", "mx4", "nvfp4"):
        assert _mx_fast_params(F.get(name)) is None, name
    assert _mx_fast_params(numsim.bfp(16, "int8", 8)) is None


@pytest.mark.parametrize(
    "kw",
    [
        {"rounding": "toward_zero"},
        {"rounding": "stochastic", "seed": 1},
        {"overflow": "nonsaturate"},
        {"tensor_amax": 1.0},
    ],
    ids=str,
)
def test_other_policies_leave_the_fused_path(kw: dict[str, Any]) -> None:
    x = np.linspace(-300, 300, 64, dtype=np.float32)
    full = {
        "axis": -1,
        "rounding": "nearest_even",
        "overflow": "saturate",
        "scale_rule": "floor",
        "nan": "raise",
        "seed": None,
        "random_bits": None,
        "sr_bits": 32,
        "tensor_amax": None,
    } | kw
    fmt = F.get("mxfp8_e4m3")
    assert quantize_pow2_fast(x, fmt, **full) is None
    base = full | {
        "rounding": "nearest_even",
        "overflow": "saturate",
        "seed": None,
        "tensor_amax": None,
    }
    assert quantize_pow2_fast(x, fmt, **base) is not None
    assert quantize_pow2_fast(x.astype(np.float64), fmt, **base) is None


@pytest.mark.parametrize("fmt", MX, ids=str)
def test_fused_path_takes_ordinary_blocks(fmt: BlockFormat) -> None:
    """Blocks with maxima from 2**-90 to 2**100 never leave the kernel (so the tests below test
    it)."""
    rng = np.random.default_rng(3)
    rows = rng.standard_normal((400, 32)).astype(np.float32) * np.float32(2.0) ** rng.integers(
        -90, 100, (400, 1)
    )
    for rule in RULES:
        _, bad = fused_rows(rows.astype(np.float32), fmt, rule)
        assert not bad.any(), (fmt, rule)


# ---------------------------------------------------------------------------------------------
# Fused == general, bit for bit, over the classes of float32 inputs that matter
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FAST, ids=str)
def test_every_float16_value_in_many_binades(fmt: BlockFormat) -> None:
    """All 63,490 finite float16 values times 2**k for 22 shifts k from -130 to 101: below a block
    maximum of 2**(16+k) (one scale; each value lands in every position relative to the element's
    binades, its subnormals and zero), and shuffled (each block takes its own scale, under a scale
    rule that rotates with k)."""
    vals = f16_values()
    rng = np.random.default_rng(0)
    bs = fmt.block_size
    for k in range(-130, 112, 11):
        p = np.float32(2.0**k)
        rows = with_anchor(vals * p, float(np.float32(65536.0) * p), bs)
        bad = check_kernel(rows, fmt, what=f"anchored k={k}")
        if -90 <= k <= 60 and fmt in MX:  # (narrower scale formats clip large maxima: general path)
            assert not bad.any()
        shuffled = rng.permutation(vals * p)
        shuffled = shuffled[: shuffled.size // bs * bs].reshape(-1, bs)
        check_kernel(shuffled, fmt, RULES[k % len(RULES)], f"shuffled k={k}")


@pytest.mark.parametrize("fmt", FAST, ids=str)
@pytest.mark.parametrize("rule", RULES, ids=str)
def test_element_values_midpoints_and_neighbours(fmt: BlockFormat, rule: Any) -> None:
    """Every element value, every midpoint between neighbouring values (ties: nearest-even decides)
    and the float32 numbers just above and below each, both signs, at scales 2**s for every 8th s
    from -120 to the top of float32; the block maximum is the element max times the scale, or the
    float32 just above it."""
    ev = element_values(fmt)
    pos = ev[ev > 0]
    top = float(fmt.element.max)
    mids = (pos[1:] + pos[:-1]) / 2
    over = np.array(
        [top * 1.0625, top * 1.125, top * 1.5, top * 1.9375], np.float64
    )  # above max: saturate
    base = np.concatenate([pos, mids, [pos[0] / 2, pos[0] / 4, pos[0] * 0.75], over, [top]]).astype(
        np.float32
    )
    cand = np.concatenate(
        [base, np.nextafter(base, np.float32(np.inf)), np.nextafter(base, np.float32(0))]
    )
    cand = np.concatenate([cand, -cand])
    bs = fmt.block_size
    for s in range(-120, 126 - fmt.element.emax, 8):
        sc = np.float32(2.0**s)
        for anchor in (top, float(np.nextafter(np.float32(top), np.float32(np.inf)))):
            check_kernel(
                with_anchor(cand * sc, float(np.float32(anchor) * sc), bs), fmt, rule, f"s={s}"
            )


@pytest.mark.parametrize("fmt", FAST, ids=str)
def test_saturation_boundary(fmt: BlockFormat) -> None:
    """Block maxima from just below the element max to just below the next binade (where the
    floor rule clips), every float32 in a window around the rounding boundary of the max."""
    top = np.float32(fmt.element.max)
    hi = np.float32(2.0 ** (math.floor(math.log2(fmt.element.max)) + 1))
    ramp = np.linspace(float(top) * 0.9, float(hi) * 0.999, 3000).astype(np.float32)
    b = int(top.view(np.uint32))
    window = (np.arange(b - 600, b + 600, dtype=np.uint32)).view(np.float32)
    vals = np.concatenate([ramp, window, -ramp, -window])
    bs = fmt.block_size
    for s in (-127, -60, 0, 1, 60, 126 - fmt.element.emax):
        sc = np.float32(2.0**s)
        rows = vals[: vals.size // bs * bs].reshape(-1, bs) * sc
        for rule in RULES:
            check(rows, fmt, rule, what=f"s={s}")


@pytest.mark.parametrize("fmt", FAST, ids=str)
def test_zero_nan_inf_and_subnormal_blocks(fmt: BlockFormat) -> None:
    bs = fmt.block_size
    rng = np.random.default_rng(5)
    rows = []
    zeros = np.zeros(bs, np.float32)
    rows.append(zeros)
    rows.append(-zeros)
    rows.append(
        np.where(rng.random(bs) < 0.5, np.float32(0.0), np.float32(-0.0)).astype(np.float32)
    )
    for special in (np.nan, np.inf, -np.inf):
        for pos in (0, 1, bs // 2, bs - 1):
            r = rng.standard_normal(bs).astype(np.float32)
            r[pos] = special
            rows.append(r)
    sub = (
        rng.integers(1, 1 << 23, (40, bs)).astype(np.uint32)
        | (rng.integers(0, 2, (40, bs)).astype(np.uint32) << 31)
    ).view(np.float32)
    rows.extend(sub)  # all float32 subnormals
    mixed = sub.copy()
    mixed[:, 0] = np.float32(2.0) ** rng.integers(-126, -90, 40)  # a small normal maximum
    rows.extend(mixed)
    for e in (-126, -125, -110, -100, -60, 0):  # maxima of 2**e, subnormal and tiny elements
        r = sub[0].copy()
        r[0] = np.float32(2.0**e)
        r[1:4] = [
            np.float32(2.0**e) * np.float32(2.0**-9),
            -np.float32(2.0**-149),
            np.float32(2.0**-127),
        ]
        rows.append(r)
    x = np.stack(rows).astype(np.float32)
    for rule in RULES:
        got = check(x, fmt, rule, what="special blocks")
        nan_rows = np.isnan(x).any(axis=1) | np.isinf(x).any(axis=1)
        assert np.isnan(got[nan_rows]).all()  # the NaN-scale rule: the whole block is NaN
        assert not np.isnan(got[~nan_rows]).any()
        zero_sign = np.signbit(got[:3])
        want_sign = (
            np.signbit(x[:3]) if not isinstance(fmt.element, IntFormat) else np.zeros((3, bs), bool)
        )
        np.testing.assert_array_equal(zero_sign, want_sign)  # -0 stays -0 where the element has one
        bad = check_kernel(x[~nan_rows], fmt, rule, "subnormal blocks")
        if fmt in MX:  # E8M0 scales: tiny maxima take the general path inside the same call
            assert bad.any() and not bad.all()


@pytest.mark.parametrize("fmt", FAST, ids=str)
@pytest.mark.parametrize("rule", RULES, ids=str)
def test_top_of_float32_range(fmt: BlockFormat, rule: Any) -> None:
    """Block maxima from 2**100 to the largest float32: the scale nears the top of E8M0's range;
    blocks the kernel leaves go to the general path (which refuses values beyond float32)."""
    bs = fmt.block_size
    rng = np.random.default_rng(9)
    fmax = np.finfo(np.float32).max
    maxima = np.concatenate(
        [
            np.float32(2.0) ** np.arange(100, 128, 2).astype(np.float32),
            (np.arange(0x7F7FFFFF - 12, 0x7F800000, dtype=np.uint32)).view(np.float32),
            np.nextafter(
                np.float32(2.0) ** np.arange(101, 128, 2).astype(np.float32), np.float32(0)
            ),
            [float(fmax) * fmt.element.max / 2.0 ** (fmt.element.emax + 1)],
        ]
    ).astype(np.float32)
    rows = (rng.standard_normal((maxima.size, bs)) * maxima[:, None].astype(np.float64) / 8).astype(
        np.float32
    )
    rows[np.arange(maxima.size), rng.integers(bs, size=maxima.size)] = maxima * rng.choice(
        [-1, 1], maxima.size
    )
    check_kernel(rows, fmt, rule, "top of the range")
    for i, m in enumerate(
        maxima
    ):  # one block at a time: the general path refuses some blocks alone
        check(rows[i : i + 1], fmt, rule, what=f"amax={m!r}")


# ---------------------------------------------------------------------------------------------
# hypothesis, axes and padding
# ---------------------------------------------------------------------------------------------
_F32 = st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True)
_BINADE = st.integers(-140, 120)


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    fmt=st.sampled_from(FAST),
    rule=st.sampled_from(RULES),
    x=hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=70), elements=_F32),
    scale=_BINADE,
    axis_seed=st.integers(0, 10),
)
def test_hypothesis_arrays(
    fmt: BlockFormat, rule: Any, x: np.ndarray, scale: int, axis_seed: int
) -> None:
    with np.errstate(over="ignore"):
        y = (x * np.float32(2.0 ** max(scale, -126))).astype(np.float32)
    axis = axis_seed % x.ndim - (axis_seed % 2) * x.ndim
    check(y, fmt, rule, axis=axis, what="hypothesis")


@pytest.mark.parametrize("fmt", MX, ids=str)
def test_axes_and_padding(fmt: BlockFormat) -> None:
    """Every axis (negative too) and lengths 1, 31, 32, 33, 65, 100: equal to the general path,
    which zero-pads the block axis and moves it back."""
    rng = np.random.default_rng(21)
    for shape in [(1,), (31,), (33,), (100,), (3, 65, 2), (32, 5), (2, 3, 33)]:
        x = (rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 4, shape)).astype(np.float32)
        for axis in range(-len(shape), len(shape)):
            got = check(x, fmt, axis=axis, what=f"shape={shape} axis={axis}")
            assert got.shape == x.shape and got.flags.c_contiguous


def test_torch_input_same_as_numpy() -> None:
    torch = pytest.importorskip("torch")
    x = (np.random.default_rng(2).standard_normal((6, 70)) * 50).astype(np.float32)
    got = numsim.quantize(torch.from_numpy(x), "mxfp6_e3m2", axis=0)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    assert_same_bits(got.numpy(), general(x, F.get("mxfp6_e3m2"), axis=0))


# ---------------------------------------------------------------------------------------------
# Held to the exact reference on a sample
# ---------------------------------------------------------------------------------------------
def _ref_values(fmt: BlockFormat, row: np.ndarray, rule: Any) -> list[Any]:
    """Exact quantized values of one block by numsim.reference (zeros as +0: signs checked
    apart)."""
    vals = [v if not math.isfinite(v) else Fraction(v) for v in (float(t) for t in row)]
    sc, codes, micro = R.quantize_block(fmt, vals, scale_rule=rule)
    return R.decode_block(fmt, sc, codes, micro)


@pytest.mark.parametrize("fmt", MX, ids=str)
def test_sample_matches_reference(fmt: BlockFormat) -> None:
    """60 blocks per rule: random magnitudes over 2**-130..2**120, element midpoints, zeros,
    subnormals and a NaN block; each value equal to the reference's exact value, and a zero result
    negative exactly when the input is negative and the element has a negative zero."""
    rng = np.random.default_rng(31)
    bs = fmt.block_size
    ev = element_values(fmt)
    pos = ev[ev > 0]
    mids = ((pos[1:] + pos[:-1]) / 2).astype(np.float32)
    rows = []
    for i in range(60):
        e = int(rng.integers(-130, 121))
        r = (rng.standard_normal(bs) * 2.0**e * 10.0 ** rng.uniform(-3, 0, bs)).astype(np.float32)
        if i % 3 == 0:
            sc = np.float32(2.0 ** max(min(e, 117), -100))
            r[: min(bs, mids.size)] = (
                rng.choice(mids, min(bs, mids.size)) * sc * rng.choice([-1, 1], min(bs, mids.size))
            )
        if i % 7 == 0:
            r[rng.integers(bs, size=4)] = np.float32(-0.0)
        rows.append(r)
    rows.append(np.full(bs, np.float32(1.0)))
    rows[-1][3] = np.nan
    x = np.stack(rows).astype(np.float32)
    signed_zero = not isinstance(fmt.element, IntFormat)
    for rule in RULES:
        got = numsim.quantize(x, fmt, scale_rule=rule)
        for i, row in enumerate(x):
            want = _ref_values(fmt, row, rule)
            for j, w in enumerate(want):
                g = float(got[i, j])
                if isinstance(w, float) and math.isnan(w):
                    assert math.isnan(g), (fmt, rule, i, j)
                    continue
                assert math.isfinite(g) and Fraction(g) == w, (fmt, rule, i, j, row[j], g, w)
                if g == 0:
                    assert math.copysign(1.0, g) == (
                        math.copysign(1.0, row[j]) if signed_zero else 1.0
                    )
