"""Weight quantizers: fixed-state rounding against numsim's own encoding, element scales against
hand-computed ones, export round trips, padding, integer steps and argument errors.

Expected values come from ``numsim.quantize`` / ``numsim.encode`` of the whole matrix (the codec
the quantizer must agree with), from scales computed here with numpy float32 casts and exact
fractions, or from hand derivation; never from the quantizer's own output.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import pytest

import numsim
from numsim import formats as F
from numsim.block import decode_block
from numsim.formats import FloatFormat, Specials
from numsim.ptq.quantizers import weight_quantizer

#: Every registered block format and two user-built BFP formats.
BLOCKS: list[Any] = [F.get(n) for n in F.names("block")] + [
    numsim.bfp(16, "int8", 8),
    numsim.bfp(8, "fp4_e2m1", 5),
]
#: Minifloats of 3, 5 and 8 bits (finite: every code a number).
MINIFLOATS = [
    FloatFormat(1, 1, specials=Specials.finite),
    FloatFormat(2, 2, specials=Specials.finite),
    FloatFormat(3, 4, specials=Specials.finite),
]


def _weights(seed: int, shape: tuple[int, int] = (6, 70)) -> np.ndarray:
    """Weights over several binades, with some exact block-grid midpoints (ties)."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal(shape) * np.exp2(rng.integers(-3, 3, shape))
    W[:, ::7] = rng.integers(-12, 12, (shape[0], len(range(0, shape[1], 7)))) / 8 + 1 / 16  # ties
    return W


def _round_by_columns(q: Any, W: np.ndarray) -> np.ndarray:
    out = np.empty_like(W)
    for g in q.groups(W.shape[1]):
        st = q.fit(W[:, g])
        for j in range(g.stop - g.start):
            out[:, g.start + j] = q.round(W[:, g.start + j], st, j)
    return out


@pytest.mark.parametrize("fmt", BLOCKS, ids=str)
@pytest.mark.parametrize("seed", [0, 1])
def test_block_round_with_fitted_state_is_numsim_quantize(fmt: Any, seed: int) -> None:
    W = _weights(seed)
    q = weight_quantizer(fmt).for_tensor(W)
    expected = np.asarray(numsim.quantize(W, fmt, axis=1), np.float64)  # d_in = 70: padded blocks
    np.testing.assert_array_equal(_round_by_columns(q, W), expected)
    np.testing.assert_array_equal(q.quantize(W), expected)


@pytest.mark.parametrize("fmt", BLOCKS, ids=str)
def test_block_export_reproduces_rtn_and_stale_states(fmt: Any) -> None:
    W = _weights(3)
    q = weight_quantizer(fmt).for_tensor(W)
    Q = q.quantize(W)
    blk = q.export(Q)
    ref = numsim.encode(W, fmt, axis=1)
    np.testing.assert_array_equal(blk.codes, ref.codes)
    np.testing.assert_array_equal(blk.scales, ref.scales)
    # values rounded on states fitted from OTHER values (a shrunken group keeps the old scale)
    stale = np.empty_like(W)
    for g in q.groups(W.shape[1]):
        st = q.fit(W[:, g])
        stale[:, g] = q.round_group(0.3 * W[:, g], st)
    np.testing.assert_array_equal(decode_block(q.export(stale), np.float64), stale)


@pytest.mark.parametrize("fmt", ["mxfp4_e2m1", "mx6", "nvfp4"])
def test_partial_block_is_fitted_as_numsim_pads(fmt: str) -> None:
    W = _weights(4, (5, 40))  # 40 = 32 + 8 or 2 * 16 + 8
    q = weight_quantizer(fmt).for_tensor(W)
    last = q.groups(40)[-1]
    assert last.stop == 40 and last.stop - last.start == 40 % q.format.block_size
    padded = np.concatenate([W[:, last], np.zeros((5, q.format.block_size - 8))], axis=1)
    a, b = q.fit(W[:, last]), q.fit(padded)
    np.testing.assert_array_equal(a.scale_codes, b.scale_codes)
    np.testing.assert_array_equal(a.step, b.step)
    blk = q.export(q.quantize(W))
    assert blk.codes.shape == (5, -(-40 // q.format.block_size), q.format.block_size)
    assert not np.any(numsim.decode(blk.codes[:, -1, 8:], q.element))  # the padding is zero


def _float_scale(amax: np.ndarray, fmax: float) -> np.ndarray:
    s = (amax / fmax).astype(np.float32).astype(np.float64)  # numpy's own RNE cast
    return np.where(amax > 0, s, 1.0)


def _pow2_scale(amax: float, fmax: float) -> float:
    if amax == 0:
        return 1.0
    k = 0
    r = Fraction(amax) / Fraction(fmax)
    while Fraction(2) ** k < r:
        k += 1
    while Fraction(2) ** (k - 1) >= r:
        k -= 1
    return float(Fraction(2) ** k)


@pytest.mark.parametrize("fmt", ["int4", "int8", "fp8_e4m3", "fp4_e2m1", *MINIFLOATS], ids=str)
@pytest.mark.parametrize("gran", ["tensor", "channel", "group"])
@pytest.mark.parametrize("kind", ["float", "pow2"])
def test_element_quantize_is_scale_times_numsim_code(fmt: Any, gran: str, kind: str) -> None:
    W = _weights(5)
    W[2] = 0.0  # an all-zero row
    q = weight_quantizer(
        fmt, granularity=gran, group_size=16 if gran == "group" else None, scale=kind
    )
    elem = F.get(fmt)
    expected = np.empty_like(W)
    cols = (
        [slice(a, min(a + 16, 70)) for a in range(0, 70, 16)] if gran == "group" else [slice(0, 70)]
    )
    for g in cols:
        amax = (
            np.max(np.abs(W[:, g]), axis=1) if gran != "tensor" else np.full(6, np.max(np.abs(W)))
        )
        if kind == "float":
            s = _float_scale(amax, elem.max)
        else:
            s = np.array([_pow2_scale(a, elem.max) for a in amax])
        codes = numsim.encode(W[:, g] / s[:, None], elem)
        expected[:, g] = np.asarray(numsim.decode(codes, elem), np.float64) * s[:, None]
    np.testing.assert_array_equal(q.quantize(W), expected)
    np.testing.assert_array_equal(_round_by_columns(q, W), expected)
    codes, scales = q.export(expected)
    got = np.asarray(numsim.decode(codes, elem), np.float64) * np.repeat(
        scales, [g.stop - g.start for g in cols], axis=1
    )
    np.testing.assert_array_equal(got, expected)


def test_pow2_scale_never_clips() -> None:
    # amax / 7 is just above 1: the smallest power of two at or above it is 2
    amax = 7.0 * (1 + 2.0**-52)
    W = np.array([[amax, 1.0]])
    q = weight_quantizer("int4", scale="pow2")
    assert q.fit(W).step[0, 0] == 2.0
    assert q.quantize(W)[0, 0] == 8.0  # 7.000...01 / 2 = 3.5000...: rounds to 4


def test_element_export_of_stale_state() -> None:
    W = _weights(6)
    q = weight_quantizer("int4")
    st = q.fit(W)
    Q = q.round_group(0.2 * W, st)
    codes, scales = q.export(Q)
    np.testing.assert_array_equal(np.asarray(numsim.decode(codes, "int4"), np.float64) * scales, Q)


@pytest.mark.parametrize(
    "fmt,kw",
    [
        ("int4", {}),
        ("int8", {"granularity": "group", "group_size": 8}),
        ("fp4_e2m1", {}),
        ("mxint8", {}),
        ("mxfp4_e2m1", {}),
        ("b4int3", {}),
    ],
)
def test_integer_scale_makes_integers(fmt: str, kw: dict[str, Any]) -> None:
    W = _weights(7)
    q = weight_quantizer(fmt, **kw)
    for g in q.groups(70):
        st = q.fit(W[:, g])
        Qg = q.round_group(W[:, g], st)
        k = Qg / q.integer_scale(st)[:, None]
        np.testing.assert_array_equal(k, np.rint(k))
    # hand check: int4 per channel, row amax 7 -> scale 1, step 1
    st = weight_quantizer("int4").fit(np.array([[7.0, -3.0]]))
    assert weight_quantizer("int4").integer_scale(st)[0] == 1.0
    # fp4 e2m1: every value is a multiple of 0.5 (smallest subnormal) times the scale
    st = weight_quantizer("fp4_e2m1").fit(np.array([[6.0, 1.0]]))
    assert weight_quantizer("fp4_e2m1").integer_scale(st)[0] == 0.5


@pytest.mark.parametrize("fmt", ["mx6", "nvfp4"])
def test_integer_scale_refused_where_the_step_is_not_one_number(fmt: str) -> None:
    q = weight_quantizer(fmt)
    with pytest.raises(ValueError, match="not integers times one step"):
        q.integer_scale(q.fit(_weights(8)[:, :16]))


def test_nvfp4_export_needs_the_tensor_scale() -> None:
    W = _weights(9)
    q = weight_quantizer("nvfp4")
    with pytest.raises(ValueError, match="for_tensor"):
        q.export(q.quantize(W))


@pytest.mark.parametrize(
    "args,kw,exc,match",
    [
        (("nosuchfmt",), {}, KeyError, "unknown format"),
        (("mxfp4_e2m1",), {"granularity": "channel"}, ValueError, "granularity"),
        (("mxfp4_e2m1",), {"scale": "pow2"}, ValueError, "scale='pow2'"),
        (("int4",), {"granularity": "row"}, ValueError, "granularity='row'"),
        (("int4",), {"granularity": "group"}, ValueError, "group_size=None"),
        (("int4",), {"group_size": 8}, ValueError, "group_size=8"),
        (("int4",), {"scale": "log"}, ValueError, "scale='log'"),
        (("e8m0",), {}, ValueError, "signed element format"),
        (("fp32",), {}, ValueError, "at most 16 bits"),
    ],
)
def test_weight_quantizer_errors(args: tuple, kw: dict, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        weight_quantizer(*args, **kw)


def test_bad_weights_refused() -> None:
    q = weight_quantizer("int4")
    W = _weights(10)
    W[1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        q.quantize(W)
    with pytest.raises(ValueError, match="2-D"):
        q.quantize(np.ones(4))
    with pytest.raises(TypeError, match="float"):
        q.quantize(np.ones((2, 2), dtype=np.int32))
    with pytest.raises(ValueError, match="at most 32"):
        weight_quantizer("mxfp4_e2m1").fit(np.ones((2, 33)))
    st = q.fit(np.ones((3, 4)))
    with pytest.raises(ValueError, match="j=4"):
        q.round(np.ones(3), st, 4)
    with pytest.raises(ValueError, match="shape"):
        q.round(np.ones(2), st, 0)


@pytest.mark.parametrize(
    "fmt,kw",
    [(f, {}) for f in BLOCKS]
    + [
        (f, {"granularity": g})
        for f in ["int4", "int8", "fp8_e4m3", "fp4_e2m1", *MINIFLOATS]
        for g in ["channel", "tensor"]
    ],
    ids=str,
)
def test_round_column_equals_numsim_quantize_of_the_column(fmt: Any, kw: dict[str, Any]) -> None:
    """The methods' unchecked per-column entry gives numsim.quantize's values on the state's
    step (states fitted on other values, so columns saturate and round at the grid's ends)."""
    q = weight_quantizer(fmt, **kw)
    W = _weights(3, (9, 70))
    V = 3 * _weights(4, (9, 70))  # up to 3x the fitted range: saturation
    V[:, 5] = 0.0
    for g in q.groups(W.shape[1]):
        state = q.fit(W[:, g])
        for j in range(g.stop - g.start):
            v = V[:, g.start + j]
            want = q.round(v, state, j)  # numsim.quantize (NVFP4: its float32 quotient)
            if state.block_scale is None:
                step = state.step[:, j]
                want = np.asarray(numsim.quantize(v / step, q.element), np.float64) * step
            np.testing.assert_array_equal(q.round_column(v, state, j), want)
    with pytest.raises(ValueError, match="NaN or Inf"):
        q.round_column(np.full(9, np.nan), q.fit(W[:, q.groups(70)[0]]), 0)


def _fp32_rne(x: Fraction) -> Fraction:
    """``x`` rounded to FP32, nearest even, by hand (normal and subnormal range; the callers
    stay below FP32's largest value)."""
    a = abs(x)
    if a == 0:
        return a
    e = a.numerator.bit_length() - a.denominator.bit_length()  # 2**e <= a < 2**(e+2)
    while Fraction(2) ** (e + 1) <= a:
        e += 1
    while Fraction(2) ** e > a:
        e -= 1
    ulp = Fraction(2) ** (max(e, -126) - 23)
    assert a < Fraction(2) ** 128
    return (1 if x > 0 else -1) * round(a / ulp) * ulp  # Fraction rounds half to even


def _nvfp4_reference(v: np.ndarray, state: Any) -> np.ndarray:
    """NVIDIA's NVFP4 quantizer on a fixed state, from exact fractions: E2M1(FP32(v / step))
    (E2M1 by numsim's codec, of an FP32 value), then FP32(element * block scale * s2); a step of
    0 (the scale underflowed) gives 0."""
    step = state.step[:, 0]
    out = np.zeros(v.shape)
    for r in range(v.size):
        if step[r] == 0:
            continue
        quot = float(_fp32_rne(Fraction(v[r]) / Fraction(step[r])))
        e = float(numsim.quantize(np.array([quot]), "fp4_e2m1")[0])
        prod = Fraction(e) * Fraction(state.block_scale[r]) * Fraction(state.tensor_scale)
        out[r] = float(_fp32_rne(prod))
    return out


def _check_nvfp4_column(q: Any, v: np.ndarray, state: Any, j: int) -> None:
    got = q.round_column(v, state, j)
    np.testing.assert_array_equal(got, _nvfp4_reference(v, state))
    np.testing.assert_array_equal(got, q.round(v, state, j))  # numsim.quantize's roundings


@pytest.mark.parametrize("scale", [1.0, 2.0**100, 2.0**-100, 2.0**-120])
def test_round_column_nvfp4_against_exact_fractions(scale: float) -> None:
    """NVFP4's per-column rounding (its own FP32 and E2M1 roundings without numsim.quantize's
    checks) against a hand reference: random columns up to 3x the fitted range (saturation), a
    zero column, rows fitted on zeros, at large and small tensor scales."""
    W = scale * _weights(6, (9, 48))
    W[4] = 0.0
    V = 3 * scale * _weights(7, (9, 48))
    V[:, 3] = 0.0
    q = weight_quantizer("nvfp4").for_tensor(W)
    for g in q.groups(W.shape[1]):
        state = q.fit(W[:, g])
        for j in range(g.stop - g.start):
            _check_nvfp4_column(q, V[:, g.start + j], state, j)


def test_round_column_nvfp4_zero_steps_of_an_underflowing_scale() -> None:
    """A tensor scale so small that the FP32 product of some block scales with it underflows to
    0: those rows round to 0, the others on their (subnormal) step."""
    W = 2.0**-136 * _weights(8, (9, 16)) * np.exp2(-3.0 * np.arange(9))[:, None]
    q = weight_quantizer("nvfp4").for_tensor(W)
    state = q.fit(W)
    assert np.any(state.step[:, 0] == 0) and np.any(state.step[:, 0] > 0)
    for j in range(16):
        _check_nvfp4_column(q, 1.5 * W[:, j], state, j)


def test_round_column_nvfp4_quotients_on_fp32_midpoints() -> None:
    """Quotients by the step exactly on an FP32 midpoint (ties to even) and one float64 ulp of
    the value above or below it (FP32 must round to that side), among them midpoints next to
    E2M1 ties, where the FP32 rounding decides the element; random midpoints in E2M1's range."""
    rng = np.random.default_rng(11)
    W = _weights(12, (64, 16)) * np.exp2(rng.integers(-6, 6, (64, 1)))
    q = weight_quantizer("nvfp4").for_tensor(W)
    state = q.fit(W)
    step = state.step[:, 0]
    near_ties = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0]
    for j in range(16):
        v = np.empty(64)
        for r in range(64):
            t = near_ties[(r + j) % len(near_ties)]
            if (r + j) % 3 == 0:
                t = float(np.float32(rng.uniform(0.2, 6.5)))
            side = np.float32(np.inf if (r + j) % 2 else -np.inf)
            m = (t + float(np.nextafter(np.float32(t), side))) / 2  # an FP32 midpoint next to t
            exact = m * step[r]  # 25 + 24 bits: exact in float64
            v[r] = exact if r % 4 == 0 else np.nextafter(exact, np.inf if r % 4 == 1 else -np.inf)
            if (r + j) % 5 == 0:
                v[r] = -v[r]
        _check_nvfp4_column(q, v, state, j)
    # by hand: 2.5 + 2**-23 is the FP32 midpoint of 2.5 and 2.5 + 2**-22; on it FP32 rounds to
    # the even 2.5, which E2M1 rounds to the even 2; just above it to 2.5 + 2**-22, E2M1 to 3
    m = 2.5 + 2.0**-23
    v = m * step
    on_tie, above = q.round_column(v, state, 0), q.round_column(np.nextafter(v, np.inf), state, 0)
    s = state.block_scale * state.tensor_scale  # exact: 4 + 24 bits
    np.testing.assert_array_equal(on_tie, (2 * s).astype(np.float32))  # one rounding of exact
    np.testing.assert_array_equal(above, (3 * s).astype(np.float32))


@pytest.mark.parametrize("scale", [1.0, 2.0**-130, 2.0**100, -1.0])
def test_nvfp4_float32_weights_encode_as_their_float64_values(scale: float) -> None:
    """Weights that float32 holds exactly (a float32 model's) are encoded from float32 (numsim's
    NVFP4 fast path): the values and codes are numsim's encoding of the float64 matrix (the
    general encoder); scale -1: one value float32 cannot hold (the float64 path)."""
    W = (abs(scale) * _weights(13, (8, 40))).astype(np.float32).astype(np.float64)
    if scale < 0:
        W[3, 5] *= 1 + 2.0**-40
    q = weight_quantizer("nvfp4").for_tensor(W)
    amax = float(np.max(np.abs(W)))
    expected = numsim.quantize(W, "nvfp4", axis=1, tensor_amax=amax)
    assert expected.dtype == np.float64  # the general float64 encoder
    np.testing.assert_array_equal(q.quantize(W), expected)
    ref = numsim.encode(W, "nvfp4", axis=1, tensor_amax=amax)
    blk = q.export(q.quantize(W))
    np.testing.assert_array_equal(blk.codes, ref.codes)
    np.testing.assert_array_equal(blk.scales, ref.scales)
    assert blk.tensor_scale == ref.tensor_scale
