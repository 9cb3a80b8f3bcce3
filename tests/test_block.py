"""Block formats: the fast kernels against the exact reference, decode, layout, spec vectors.

Expected values come from :mod:`numsim.reference.block` (the slow Fraction model), from the OCP MX
v1.0 §6.3 conversion worked by hand, or from hand derivation (MX9/MX6/MX4, arXiv 2302.08007);
never from the kernels under test.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

import numsim
from numsim import formats as F
from numsim import reference as R
from numsim.block import decode_block
from numsim.formats import BlockFormat, IntFormat
from numsim.policies import Overflow, RoundMode, ScaleRule
from numsim.reference.block import fl32


# ---------------------------------------------------------------------------------------------
# Formats and policies under test
# ---------------------------------------------------------------------------------------------
def bf(name: Any) -> BlockFormat:
    """The block format named ``name``."""
    fmt = F.get(name)
    assert isinstance(fmt, BlockFormat)
    return fmt


#: Every registered block format plus two user-built BFP formats (8-bit and 5-bit scales).
BLOCKS: list[BlockFormat] = [bf(n) for n in F.names("block")] + [
    numsim.bfp(16, "int8", 8),
    numsim.bfp(8, "fp4_e2m1", 5),
]
ROUNDINGS = list(RoundMode)
OVERFLOWS = list(Overflow)
RULES = list(ScaleRule)


def _rules(fmt: BlockFormat) -> list[Any]:
    """Scale rules that apply to ``fmt`` (None: the format has no power-of-two scale)."""
    return RULES if fmt.pow2_scale else [None]


def _policy_kwargs(fmt: BlockFormat, rule: Any, rounding: Any, overflow: Any) -> dict[str, Any]:
    kw: dict[str, Any] = {"rounding": rounding, "overflow": overflow}
    if rule is not None:
        kw["scale_rule"] = rule
    return kw


# ---------------------------------------------------------------------------------------------
# Reference wrappers (numsim.reference only; the -0 rule is the element codec's, see below)
# ---------------------------------------------------------------------------------------------
def _fraction_or_special(v: float) -> Any:
    return v if not math.isfinite(v) else Fraction(v)


def _ref_tensor_scale(ts: Any) -> Any:
    return Fraction(ts) if math.isfinite(ts) else ts


def _blocked_rows(x: np.ndarray, axis: int, bs: int) -> tuple[np.ndarray, tuple[int, ...], int]:
    a = np.moveaxis(np.asarray(x), axis, -1)
    pad = -a.shape[-1] % bs
    if pad:
        a = np.concatenate([a, np.zeros(a.shape[:-1] + (pad,), a.dtype)], axis=-1)
    return np.ascontiguousarray(a).reshape(-1, bs), a.shape[:-1], a.shape[-1] // bs


def ref_encode(
    fmt: BlockFormat,
    x: Any,
    *,
    axis: int = -1,
    rounding: Any = "nearest_even",
    overflow: Any = "saturate",
    scale_rule: Any = None,
    random_bits: Any = None,
    sr_bits: int = 32,
    tensor_scale: Any = None,
) -> tuple[np.ndarray, np.ndarray, Any]:
    """(scales, codes, micro) of ``x`` by the reference, in BlockArray layout.

    The reference takes zeros as +0 and its ``fl32`` returns ``Fraction(0)`` for a negative
    quotient that underflows; both zeros are finished here by the reference element codec
    (``-0 / scale = -0`` and ``fl32(-tiny) = -0.0``, encoded as the element's negative zero where
    it has one, as an IEEE float32 division gives).
    """
    bs = fmt.block_size
    rows, rest, nblocks = _blocked_rows(np.asarray(x), axis, bs)
    rand_rows = None
    if random_bits is not None:
        rand_rows, _, _ = _blocked_rows(np.asarray(random_bits), axis, bs)
    mask = (1 << sr_bits) - 1
    ts: Any = None if tensor_scale is None else _ref_tensor_scale(tensor_scale)
    nsub = bs // fmt.sub_block_size if fmt.sub_block_size else 0
    scales = np.zeros(rows.shape[0], np.int64)
    codes = np.zeros(rows.shape, np.int64)
    micro = np.zeros((rows.shape[0], nsub), np.int64)
    rule: Any = scale_rule if scale_rule is not None else "floor"
    for i, row in enumerate(rows):
        vals = [float(v) for v in row]
        randoms = None if rand_rows is None else [int(r) & mask for r in rand_rows[i]]
        sc, cs, mi = R.quantize_block(
            fmt,
            [_fraction_or_special(v) for v in vals],
            rounding=rounding,
            overflow=overflow,
            scale_rule=rule,
            tensor_scale=ts,
            randoms=randoms,
            random_bits=sr_bits if randoms is not None else 0,
        )
        if sc != fmt.scale.nan_code and _element_path(fmt, sc, ts):
            sdec = None if fmt.pow2_scale else fl32(R.decode(fmt.scale, sc) * ts)
            for j, v in enumerate(vals):
                if v == 0 and math.copysign(1.0, v) < 0:
                    cs[j] = R.encode(fmt.element, -0.0)
                elif sdec is not None and v < 0 and fl32(Fraction(-v) / sdec) == 0:
                    # float32 v / sdec underflows to -0.0 (IEEE 754 §6.3: the sign of an exact
                    # quotient); the reference's fl32 returns Fraction(0) and drops that sign
                    cs[j] = R.encode(fmt.element, -0.0)
        scales[i] = sc
        codes[i] = cs
        micro[i, : len(mi)] = mi
    micro_out = micro.reshape(*rest, nblocks, nsub) if nsub else None
    return scales.reshape(*rest, nblocks), codes.reshape(*rest, nblocks, bs), micro_out


def _element_path(fmt: BlockFormat, scale_code: int, ts: Any) -> bool:
    """True when the reference encodes elements (NVFP4 zeroes a block whose scale underflows)."""
    if fmt.pow2_scale:
        return True
    if ts == 0:
        return False
    return fl32(R.decode(fmt.scale, scale_code) * ts) != 0


def ref_decode(blk: numsim.BlockArray) -> list[Any]:
    """Exact decoded values of ``blk`` (reference decode_block), flat in BlockArray order."""
    fmt = blk.format
    bs = fmt.block_size
    codes = blk.codes.reshape(-1, bs)
    scales = blk.scales.reshape(-1)
    micro = blk.micro.reshape(codes.shape[0], -1) if blk.micro is not None else None
    ts = _ref_tensor_scale(blk.tensor_scale) if fmt.tensor_scale else None
    out: list[Any] = []
    for i in range(codes.shape[0]):
        mi = [int(m) for m in micro[i]] if micro is not None else ()
        out.extend(
            R.decode_block(fmt, int(scales[i]), [int(c) for c in codes[i]], mi, tensor_scale=ts)
        )
    return out


def _ref_decode_array(blk: numsim.BlockArray) -> np.ndarray:
    """Reference values as an object array of the original shape (Fractions / floats)."""
    vals = ref_decode(blk)
    fmt = blk.format
    rest = blk.shape[: blk.axis] + blk.shape[blk.axis + 1 :]
    arr = np.empty(len(vals), dtype=object)
    arr[:] = vals
    arr = arr.reshape(*rest, blk.nblocks * fmt.block_size)[..., : blk.shape[blk.axis]]
    return np.moveaxis(arr, -1, blk.axis)


def _same_value(got: float, want: Any) -> bool:
    if isinstance(want, float) and math.isnan(want):
        return math.isnan(got)
    if isinstance(want, float) and math.isinf(want):
        return got == want
    return math.isfinite(got) and Fraction(got) == want


def assert_matches_reference(
    blk: numsim.BlockArray, x: Any, ref: tuple[np.ndarray, np.ndarray, Any], what: str = ""
) -> None:
    """Scale codes, element codes and microexponents equal the reference, with a useful message."""
    scales, codes, micro = ref
    fmt = blk.format
    assert blk.scales.shape == scales.shape, what
    assert blk.codes.shape == codes.shape, what
    bs = fmt.block_size
    rows, _, _ = _blocked_rows(np.asarray(x), blk.axis, bs)
    got_s = blk.scales.reshape(-1).astype(np.int64)
    got_c = blk.codes.reshape(-1, bs).astype(np.int64)
    want_s = scales.reshape(-1)
    want_c = codes.reshape(-1, bs)
    bad = np.nonzero((got_s != want_s) | (got_c != want_c).any(axis=1))[0]
    if micro is not None:
        assert blk.micro is not None and blk.micro.shape == micro.shape, what
        got_m = blk.micro.reshape(got_s.size, -1).astype(np.int64)
        bad = np.union1d(bad, np.nonzero((got_m != micro.reshape(got_s.size, -1)).any(axis=1))[0])
    else:
        assert blk.micro is None, what
    if bad.size:
        i = int(bad[0])
        msg = (
            f"{what} {fmt}: {bad.size} block(s) differ; first block {i}: input {rows[i].tolist()}\n"
            f"  scale got {got_s[i]:#x} want {want_s[i]:#x}\n  codes got {got_c[i].tolist()}\n"
            f"  codes want {want_c[i].tolist()}"
        )
        if micro is not None and blk.micro is not None:
            msg += (
                f"\n  micro got {blk.micro.reshape(got_s.size, -1)[i].tolist()} want "
                f"{micro.reshape(got_s.size, -1)[i].tolist()}"
            )
        pytest.fail(msg)


# ---------------------------------------------------------------------------------------------
# Corner catalog
# ---------------------------------------------------------------------------------------------
def _pad(fmt: BlockFormat, lead: list[float], fill: float = 0.0) -> list[float]:
    bs = fmt.block_size
    vals = list(lead[:bs])
    return vals + [fill] * (bs - len(vals))


def _below32(v: float, n: int) -> float:
    """``v`` minus ``n`` float32 ulps."""
    f = np.float32(v)
    for _ in range(n):
        f = np.nextafter(f, np.float32(0))
    return float(f)


def _elem_ties(fmt: BlockFormat) -> list[float]:
    """Midpoints between neighbouring element values (scale 1), both signs."""
    elem = fmt.element
    out: list[float] = []
    if isinstance(elem, IntFormat):
        unit = 2.0**-elem.frac_bits
        ks = sorted({0, 1, 2, elem.max_int // 2, elem.max_int - 1})
        out = [(2 * k + 1) / 2 * unit for k in ks]
    else:
        m = elem.man_bits
        for e in range(elem.emin, elem.emax + 1):
            for j in sorted({0, (1 << m) - 1}):
                out.append((1 + (2 * j + 1) / 2 ** (m + 1)) * 2.0**e)
        sub = 2.0 ** (elem.emin - m)
        out += [0.5 * sub, 1.5 * sub]
    return out + [-v for v in out]


def _elem_subnormals(fmt: BlockFormat) -> list[float]:
    elem = fmt.element
    if isinstance(elem, IntFormat):
        unit = 2.0**-elem.frac_bits
        return [unit, -unit, 2 * unit, 0.4 * unit, 0.6 * unit, -0.6 * unit, 1.3 * unit, 0.25 * unit]
    sub = 2.0 ** (elem.emin - elem.man_bits)
    vals = [k * sub for k in range(1, 1 << elem.man_bits)]
    return vals + [-v for v in vals] + [0.4 * sub, 0.6 * sub, -0.6 * sub, 1.3 * sub, 0.25 * sub]


def _chunks(fmt: BlockFormat, lead: float, vals: list[float]) -> list[list[float]]:
    """Blocks led by ``lead`` (which fixes the scale) holding ``vals`` in the other slots."""
    per = fmt.block_size - 1
    return [_pad(fmt, [lead] + vals[i : i + per]) for i in range(0, len(vals), per)]


def corner_blocks(fmt: BlockFormat, dtype: Any) -> np.ndarray:
    """The corner catalog as an (nblocks, block_size) array of ``dtype``."""
    elem = fmt.element
    emax = elem.emax
    top = float(elem.max)
    blocks: list[list[float]] = []
    # block max exactly 2**k
    for k in (0, emax, emax + 1, 20, -20, 100, -100, 127, -126):
        blocks.append(_pad(fmt, [2.0**k, -0.3 * 2.0**k, 0.7 * 2.0**k, 1.1 * 2.0 ** (k - 3)]))
    # block max 1 and 3 float32 ulps below 2**k
    for k in (1, 8, 20, 100, -10):
        for n in (1, 3):
            a = _below32(2.0**k, n)
            blocks.append(_pad(fmt, [a, -0.51 * a, 0.3 * 2.0 ** (k - 1), 2.0 ** (k - 5)]))
    # element max boundaries: max, tie above max, past the tie, just below 2**(emax+1), 1.875,
    # 1.9375
    if isinstance(elem, IntFormat):
        unit = 2.0**-elem.frac_bits
        edges = [top, top + unit / 2, top + unit * 3 / 4, top + unit / 4]
    else:
        ulp_top = 2.0 ** (emax - elem.man_bits)
        edges = [
            top,
            top + ulp_top / 2,
            top + ulp_top * 3 / 4,
            (top + 2.0 ** (emax + 1)) / 2,
            1.875 * 2.0**emax,
            1.9375 * 2.0**emax,
        ]
    edges.append(_below32(2.0 ** (emax + 1), 1))
    for j in (0, 5):
        for v in edges:
            blocks.append(_pad(fmt, [v * 2.0**j, -v * 2.0**j, 0.5 * v * 2.0**j, 0.1 * v * 2.0**j]))
    # ties inside blocks and subnormal elements, scale 1 and scale 2**5 (the block max fixes it)
    for j in (0, 5):
        for vals in (_elem_ties(fmt), _elem_subnormals(fmt)):
            blocks += [[v * 2.0**j for v in b] for b in _chunks(fmt, top, vals)]
    # float32-subnormal inputs
    blocks.append(_pad(fmt, [1e-40, -3e-42, 1.4e-45, 2.5e-39, -1e-45]))
    blocks.append(_pad(fmt, [2.0**-120, 1e-40, -1e-41, 2.0**-126]))
    blocks.append(_pad(fmt, [2.0**-126, -(2.0**-127), 2.0**-130]))
    # zeros, -0, a single nonzero
    blocks.append(_pad(fmt, []))
    blocks.append(_pad(fmt, [], fill=-0.0))
    for v in (3.3, -1e-3, 2.0**-140):
        b = _pad(fmt, [])
        b[fmt.block_size // 2] = v
        blocks.append(b)
    blocks.append(_pad(fmt, [1.0, -0.0, 0.0, -0.0, 2.0], fill=-0.0))
    # dynamic range beyond the element's: small members underflow
    blocks.append(_pad(fmt, [2.0**20, 1.0, 2.0**-20, 1e-10, -(2.0**-5), 3.0]))
    blocks.append(_pad(fmt, [-(2.0**-30), 2.0**-60, 2.0**-45]))
    # mixed signs
    blocks.append(_pad(fmt, [-5.5, 4.25, -3.125, 0.0625, -0.01, 7.75, -1.0, 2.5]))
    # NaN / Inf anywhere in a block
    nan, inf = math.nan, math.inf
    blocks.append(_pad(fmt, [nan, 1.0, 2.0]))
    blocks.append(_pad(fmt, [1.0, 2.0, inf]))
    blocks.append(_pad(fmt, [-inf, 1.0, -2.0]))
    b = _pad(fmt, [1.0, -3.0])
    b[-1] = nan
    blocks.append(b)
    blocks.append(_pad(fmt, [inf, -inf]))
    blocks.append(_pad(fmt, [-nan]))
    if np.dtype(dtype) == np.float64:
        blocks += [
            _pad(fmt, [1e300, 1.0, -1e299, 3e298]),
            _pad(fmt, [1e39, 2.0, -5e38]),
            _pad(fmt, [2.0**128, 1.5 * 2.0**127, -(2.0**126)]),
            _pad(fmt, [-1e-300, 1e-310, 5e-324, -3e-301]),
            _pad(fmt, [1e-50, 3e-51, -7e-52]),
            _pad(fmt, [3.4028235677973366e38 * (1 + 2.0**-30), 1.0]),
        ]
        for k in (8, 20, 128, 200, -130):
            a = float(np.nextafter(2.0**k, 0.0))
            blocks.append(_pad(fmt, [a, -0.75 * a, 0.3 * a]))
    if fmt.tensor_scale:
        # NVFP4's FP32 tensor scale needs a tensor amax within float32 range; beyond it see
        # test_nvfp4_tensor_scale_float64_beyond_float32
        limit = float(np.finfo(np.float32).max)
        blocks = [b for b in blocks if not any(math.isfinite(v) and abs(v) > limit for v in b)]
    with np.errstate(over="ignore"):
        return np.array(blocks, dtype=np.float64).astype(dtype)


def _random_bits(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**32, size=shape, dtype=np.uint64)


def _encode_and_ref(
    fmt: BlockFormat,
    x: np.ndarray,
    kw: dict[str, Any],
    *,
    axis: int = -1,
    sr_bits: int = 32,
    seed: int = 0,
) -> tuple[numsim.BlockArray, Any]:
    kw = dict(kw)
    rb = None
    if RoundMode.parse(kw["rounding"], "rounding") == RoundMode.stochastic:
        rb = _random_bits(x.shape, seed)
        kw.update(random_bits=rb, sr_bits=sr_bits)
    blk = numsim.encode(x, fmt, axis=axis, **kw)
    ref = ref_encode(
        fmt,
        x,
        axis=axis,
        rounding=kw["rounding"],
        overflow=kw["overflow"],
        scale_rule=kw.get("scale_rule"),
        random_bits=rb,
        sr_bits=sr_bits,
        tensor_scale=blk.tensor_scale,
    )
    return blk, ref


def _combos() -> list[Any]:
    out = []
    for fmt in BLOCKS:
        for rule in _rules(fmt):
            for rnd in ROUNDINGS:
                for ovf in OVERFLOWS:
                    rid = rule.name if rule is not None else "fp"
                    out.append(
                        pytest.param(fmt, rule, rnd, ovf, id=f"{fmt}-{rid}-{rnd.name}-{ovf.name}")
                    )
    return out


# ---------------------------------------------------------------------------------------------
# Kernel == reference
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt, rule, rounding, overflow", _combos())
def test_corner_catalog_matches_reference(
    fmt: BlockFormat, rule: Any, rounding: RoundMode, overflow: Overflow
) -> None:
    kw = _policy_kwargs(fmt, rule, rounding, overflow)
    for dtype, sr_bits in ((np.float32, 32), (np.float64, 8)):
        x = corner_blocks(fmt, dtype)
        if fmt.tensor_scale and dtype == np.float32:
            # one tensor per block, so that each block is its own tensor maximum
            for i, row in enumerate(x):
                blk, ref = _encode_and_ref(fmt, row, kw, sr_bits=sr_bits, seed=i)
                assert_matches_reference(blk, row, ref, f"{np.dtype(dtype)} block {i}")
            blk, ref = _encode_and_ref(fmt, x, kw, sr_bits=sr_bits)
        else:
            blk, ref = _encode_and_ref(fmt, x, kw, sr_bits=sr_bits)
        assert_matches_reference(blk, x, ref, str(np.dtype(dtype)))


def _random_blocks(fmt: BlockFormat, dtype: Any, nblocks: int, seed: int) -> np.ndarray:
    """Blocks with per-block random exponents, mixed signs, zeros and exact element values."""
    rng = np.random.default_rng(seed)
    bs = fmt.block_size
    lo, hi = {
        np.dtype(np.float16): (-12, 13),
        np.dtype(np.float32): (-135, 125),
        np.dtype(np.float64): (-170, 160),
    }[np.dtype(dtype)]
    if fmt.tensor_scale:
        hi = min(hi, 125)  # keep the FP32 tensor scale amax/2688 finite (as the reference needs)
    base = rng.integers(lo, hi, size=(nblocks, 1))
    spread = rng.integers(0, 14, size=(nblocks, bs))
    mag = rng.uniform(1.0, 2.0, size=(nblocks, bs)) * np.exp2((base - spread).astype(np.float64))
    x = np.where(rng.random((nblocks, bs)) < 0.5, -mag, mag)
    x[rng.random((nblocks, bs)) < 0.08] = 0.0
    # some members are exact element values times the block's power of two (exact and tie cases)
    exact = rng.random((nblocks, bs)) < 0.25
    grid = 2.0 ** (base - 2 - rng.integers(0, 5, size=(nblocks, bs)))
    x = np.where(exact, np.round(x / grid * 4) / 4 * grid, x)
    if np.dtype(dtype) == np.float16:
        x = np.clip(x, -6e4, 6e4)
    return x.astype(dtype)


_RANDOM_POLICIES = [
    (RoundMode.nearest_even, Overflow.saturate),
    (RoundMode.nearest_away, Overflow.nonsaturate),
    (RoundMode.toward_zero, Overflow.saturate),
    (RoundMode.toward_positive, Overflow.nonsaturate),
    (RoundMode.toward_negative, Overflow.saturate),
    (RoundMode.stochastic, Overflow.nonsaturate),
]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64], ids=["f16", "f32", "f64"])
@pytest.mark.parametrize(
    "fmt, rule",
    [
        pytest.param(f, r, id=f"{f}-{r.name if r is not None else 'fp'}")
        for f in BLOCKS
        for r in _rules(f)
    ],
)
def test_random_blocks_match_reference(fmt: BlockFormat, rule: Any, dtype: Any) -> None:
    for k, (rnd, ovf) in enumerate(_RANDOM_POLICIES):
        seed = 1000 * k + BLOCKS.index(fmt) * 10 + (rule or 0)
        x = _random_blocks(fmt, dtype, 6, seed)
        kw = _policy_kwargs(fmt, rule, rnd, ovf)
        blk, ref = _encode_and_ref(fmt, x, kw, sr_bits=(k % 3) * 10 + 3, seed=seed)
        assert_matches_reference(blk, x, ref, f"{rnd.name}/{ovf.name}")


@pytest.mark.parametrize("fmt", [f for f in BLOCKS if f.pow2_scale], ids=str)
def test_floor_log2f_thresholds_match_reference(fmt: BlockFormat) -> None:
    """Block maxima a few float32 ulps below 2**k, where a float32 log2 rounds up to k."""
    blocks = []
    for k in (8, 20, 100):
        for n in (1, 2, 3, 10, 11, 12, 43, 44, 45, 46):
            blocks.append(_pad(fmt, [_below32(2.0**k, n), 0.3 * 2.0 ** (k - 1)]))
    for k in (1, 2, 3, 5, 64, 127, -1, -10, -60, -125):
        for n in (1, 2, 3):
            blocks.append(_pad(fmt, [_below32(2.0**k, n), -0.3 * 2.0 ** (k - 1)]))
    x = np.array(blocks, np.float32)
    for rnd in (RoundMode.nearest_even, RoundMode.nearest_away):
        kw = _policy_kwargs(fmt, ScaleRule.floor_log2f, rnd, Overflow.saturate)
        blk, ref = _encode_and_ref(fmt, x, kw)
        assert_matches_reference(blk, x, ref, rnd.name)


def test_floor_log2f_is_one_binade_high_below_power_of_two() -> None:
    """microsoft/microxcaling: FP4 [nextafter(8, 0), 0.3 ...]: floor_log2f gives scale 2 ([8, 0]),
    floor 1."""
    x = np.full(32, 0.3, np.float32)
    x[0] = np.nextafter(np.float32(8), np.float32(0))
    hi = numsim.encode(x, "mxfp4_e2m1", scale_rule="floor_log2f")
    lo = numsim.encode(x, "mxfp4_e2m1", scale_rule="floor")
    assert int(hi.scales[0]) == 0x80 and int(lo.scales[0]) == 0x7F
    assert numsim.decode(hi)[:2].tolist() == [8.0, 0.0]
    assert numsim.decode(lo)[:2].tolist() == [6.0, 0.5]


# ---------------------------------------------------------------------------------------------
# NVFP4 tensor scale
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64], ids=["f16", "f32", "f64"])
def test_nvfp4_tensor_scale_is_reference(dtype: Any) -> None:
    rng = np.random.default_rng(7)
    for t in range(40):
        x = (rng.standard_normal((3, 48)) * 2.0 ** rng.integers(-8, 9)).astype(dtype)
        if t % 4 == 1:
            x[1, 5] = np.inf  # Inf is not finite: it does not enter the tensor amax
        if t % 4 == 2:
            x[0, 0] = np.nan
        blk = numsim.encode(x, "nvfp4")
        finite = np.abs(x[np.isfinite(x)].astype(np.float64))
        amax = Fraction(float(finite.max())) if finite.size else Fraction(0)
        want = R.nvfp4_tensor_scale(amax)
        assert Fraction(blk.tensor_scale) == want, (t, float(amax), blk.tensor_scale, float(want))


def test_nvfp4_tensor_amax_overrides() -> None:
    x = np.linspace(-3, 5, 64, dtype=np.float32).reshape(2, 32)
    for amax in (10.0, 5.0, 1.0, float(np.float32(1e-3)), 2688.0, 0.0):
        blk = numsim.encode(x, "nvfp4", tensor_amax=amax)
        want = R.nvfp4_tensor_scale(Fraction(amax))
        assert Fraction(blk.tensor_scale) == want
        assert_matches_reference(blk, x, ref_encode(blk.format, x, tensor_scale=blk.tensor_scale))
    # the default is the finite amax of the input (5.0), so 5.0 and the default agree
    assert (
        numsim.encode(x, "nvfp4").tensor_scale
        == numsim.encode(x, "nvfp4", tensor_amax=5.0).tensor_scale
    )
    # the public helper is the same formula
    assert Fraction(numsim.nvfp4_tensor_scale(5.0)) == R.nvfp4_tensor_scale(Fraction(5))


def test_nvfp4_tensor_amax_float64_not_rounded_first() -> None:
    """s2 = fl32(amax / fl32(2688)) on the exact amax (reference; DESIGN: exact input values)."""
    amax = 512.0657138879067  # not a float32: fl32(fl32(amax)/2688) is one float32 ulp off
    want = R.nvfp4_tensor_scale(Fraction(amax))
    x = np.zeros(16)
    x[0] = amax
    assert Fraction(numsim.encode(x, "nvfp4").tensor_scale) == want
    assert Fraction(numsim.encode(np.ones(16), "nvfp4", tensor_amax=amax).tensor_scale) == want
    assert Fraction(numsim.nvfp4_tensor_scale(amax)) == want


def test_nvfp4_tensor_scale_float64_beyond_float32() -> None:
    """A float64 tensor amax above the float32 range still has a finite s2 = fl32(amax / 2688).

    amax = 1e39: s2 = fl32(1e39 / 2688) ~ 3.7e35 (reference). Rounding amax to float32 first
    gives Inf, an infinite tensor scale, and every element of the tensor encodes to zero.
    """
    x = np.zeros(16)
    x[:3] = [1e39, -3e38, 1.0]
    want = R.nvfp4_tensor_scale(Fraction(1e39))
    assert isinstance(want, Fraction)
    blk = numsim.encode(x, "nvfp4")
    assert blk.tensor_scale == float(want)
    assert_matches_reference(blk, x, ref_encode(blk.format, x, tensor_scale=float(want)))


# ---------------------------------------------------------------------------------------------
# Decode, quantize
# ---------------------------------------------------------------------------------------------
def _check_decode(blk: numsim.BlockArray) -> None:
    want = _ref_decode_array(blk)
    finite_big = any(
        isinstance(w, Fraction) and abs(w) > Fraction(float(np.finfo(np.float32).max))
        for w in want.reshape(-1)
    )
    if blk.format.pow2_scale:
        got64 = decode_block(blk, np.float64)
        assert got64.shape == blk.shape
        bad = [
            (i, g, w)
            for i, (g, w) in enumerate(zip(got64.reshape(-1).tolist(), want.reshape(-1)))
            if not _same_value(g, w)
        ]
        assert not bad, f"{blk.format}: float64 decode differs from reference at {bad[:4]}"
        if finite_big:
            with pytest.raises(ValueError, match="float64"):
                numsim.decode(blk)
            return
        got = numsim.decode(blk)
        assert got.dtype == np.float32 and got.shape == blk.shape
        bad = [
            (i, g, w)
            for i, (g, w) in enumerate(zip(got.reshape(-1).tolist(), want.reshape(-1)))
            if not _same_value(g, w)
        ]
        assert not bad, f"{blk.format}: decode differs from reference at {bad[:4]}"
    else:
        # NVFP4: values element*scale*s2 need up to 30 significand bits; float32 output is the
        # correctly rounded value fl32(exact) (NVIDIA's float32 dequantization).
        got = numsim.decode(blk)
        assert got.dtype == np.float32 and got.shape == blk.shape
        for g, w in zip(got.reshape(-1).tolist(), want.reshape(-1)):
            if isinstance(w, float):
                assert _same_value(g, w)
            else:
                assert _same_value(g, fl32(w)), (g, w)


@pytest.mark.parametrize("fmt", BLOCKS, ids=str)
def test_decode_matches_reference(fmt: BlockFormat) -> None:
    for dtype in (np.float32, np.float64):
        x = corner_blocks(fmt, dtype)
        if fmt.tensor_scale:
            for row in x:
                _check_decode(numsim.encode(row, fmt))
        else:
            _check_decode(numsim.encode(x, fmt))
    # Inf / NaN element codes (E5M2, E4M3 under nonsaturate) decode as such under a finite scale
    x = corner_blocks(fmt, np.float32)
    if fmt.tensor_scale:
        for row in x[:8]:
            _check_decode(
                numsim.encode(row, fmt, overflow="nonsaturate", rounding="toward_positive")
            )
    else:
        _check_decode(numsim.encode(x, fmt, overflow="nonsaturate", rounding="toward_positive"))


def test_nan_scale_block_decodes_all_nan() -> None:
    for fmt in BLOCKS:
        x = np.full(2 * fmt.block_size, 0.5, np.float32)
        x[1] = np.nan
        x[fmt.block_size + 2] = -np.inf
        blk = numsim.encode(x, fmt)
        assert blk.scales.tolist() == [fmt.scale.nan_code] * 2, fmt
        assert np.isnan(numsim.decode(blk)).all(), fmt


def test_all_zero_block_takes_smallest_scale() -> None:
    for fmt in BLOCKS:
        if not fmt.pow2_scale:
            continue
        blk = numsim.encode(np.zeros(fmt.block_size, np.float32), fmt)
        assert int(blk.scales[0]) == 0, (
            fmt
        )  # E8M0 0x00 = 2**-127; the smallest code of any ExM0 scale
        assert (blk.codes == 0).all()
        assert (numsim.decode(blk) == 0).all()


def check_quantize(x: np.ndarray, fmt: BlockFormat, **kw: Any) -> None:
    """quantize(x) == decode(encode(x)) in x's dtype, or ValueError when a value does not fit it."""
    want = numsim.decode(numsim.encode(x, fmt, **kw))
    cast = want.astype(x.dtype)
    if np.array_equal(cast.astype(want.dtype), want, equal_nan=True):
        q = numsim.quantize(x, fmt, **kw)
        assert q.dtype == x.dtype and q.shape == x.shape
        np.testing.assert_array_equal(q, cast)
    else:  # e.g. NVFP4 values element*scale*s2 carry more bits than float16/bfloat16 hold
        with pytest.raises(ValueError, match="dtype"):
            numsim.quantize(x, fmt, **kw)


@pytest.mark.parametrize("fmt", BLOCKS, ids=str)
def test_quantize_is_decode_of_encode(fmt: BlockFormat) -> None:
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((5, 70)) * 3).astype(np.float32)
    for kw in (
        {},
        {"rounding": "toward_negative"},
        {"rounding": "stochastic", "seed": 5, "sr_bits": 7},
    ):
        check_quantize(x, fmt, axis=1, **kw)
    check_quantize((rng.standard_normal((4, 40)) * 20).astype(np.float16), fmt, axis=-1)
    check_quantize(rng.standard_normal((3, 33)) * 1e3, fmt, axis=0)


def test_quantize_float64_beyond_float32_range() -> None:
    """quantize keeps x's dtype: a float64 result exact in float64 must not be refused.

    1e39 in MXFP8 E4M3: scale 2**(129-8) = 2**121, element 1e39/2**121 = 376.1 -> 384 (RNE), so
    the quantized value is 384 * 2**121, exact in float64 (beyond float32).
    """
    x = np.zeros(32)
    x[0] = 1e39
    x[1] = 1.0
    q = numsim.quantize(x, "mxfp8_e4m3")
    assert q.dtype == np.float64
    assert q[0] == 384 * 2.0**121 and q[1] == 0.0
    assert decode_block(numsim.encode(x, "mxfp8_e4m3"), np.float64)[0] == 384 * 2.0**121


# ---------------------------------------------------------------------------------------------
# Shapes, axes, padding, input types
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", BLOCKS, ids=str)
def test_any_axis_matches_reference(fmt: BlockFormat) -> None:
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((3, 37, 5)) * np.exp2(rng.integers(-4, 5, size=(3, 37, 5)))).astype(
        np.float32
    )
    kw = _policy_kwargs(
        fmt, ScaleRule.floor if fmt.pow2_scale else None, RoundMode.nearest_even, Overflow.saturate
    )
    for axis in (0, 1, -1, -2):
        blk = numsim.encode(x, fmt, axis=axis, **kw)
        ax = axis % 3
        assert blk.axis == ax and blk.shape == x.shape
        rest = x.shape[:ax] + x.shape[ax + 1 :]
        nb = -(-x.shape[ax] // fmt.block_size)
        assert blk.scales.shape == (*rest, nb)
        assert blk.codes.shape == (*rest, nb, fmt.block_size)
        ref = ref_encode(
            fmt, x, axis=axis, scale_rule=kw.get("scale_rule"), tensor_scale=blk.tensor_scale
        )
        assert_matches_reference(blk, x, ref, f"axis={axis}")
        q = numsim.decode(blk)
        assert q.shape == x.shape
        # moving the axis last by hand gives the same blocks
        blk_last = numsim.encode(np.moveaxis(x, axis, -1), fmt, axis=-1, **kw)
        np.testing.assert_array_equal(blk_last.codes, blk.codes)
        np.testing.assert_array_equal(blk_last.scales, blk.scales)
        np.testing.assert_array_equal(numsim.decode(blk_last), np.moveaxis(q, axis, -1))


@pytest.mark.parametrize("fmt", BLOCKS, ids=str)
def test_padding_never_changes_a_scale(fmt: BlockFormat) -> None:
    rng = np.random.default_rng(5)
    bs = fmt.block_size
    for n in (1, bs - 1, bs + 1, 2 * bs + 3):
        if n < 1:
            continue
        x = (rng.standard_normal((2, n, 3)) * 4).astype(np.float32)
        x[0, -1, 0] = 1e-30  # a tiny last block must keep its own small scale
        padded = np.concatenate([x, np.zeros((2, -n % bs, 3), np.float32)], axis=1)
        a = numsim.encode(x, fmt, axis=1)
        b = numsim.encode(padded, fmt, axis=1)
        np.testing.assert_array_equal(a.scales, b.scales)
        np.testing.assert_array_equal(a.codes, b.codes)
        if fmt.sub_block_size:
            np.testing.assert_array_equal(a.micro, b.micro)
        assert a.tensor_scale == b.tensor_scale
        np.testing.assert_array_equal(numsim.decode(a), numsim.decode(b)[:, :n])


@pytest.mark.parametrize(
    "fmt", [bf("mxfp8_e4m3"), bf("mxfp4_e2m1"), bf("mx6"), bf("nvfp4")], ids=str
)
def test_float16_and_bfloat16_inputs(fmt: BlockFormat) -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    rng = np.random.default_rng(9)
    x32 = (rng.standard_normal((4, 40)) * 50).astype(np.float32)
    for dt in (np.float16, ml_dtypes.bfloat16):
        x = x32.astype(dt)
        blk = numsim.encode(x, fmt)
        assert_matches_reference(blk, x, ref_encode(fmt, x, tensor_scale=blk.tensor_scale), str(dt))
        # the same values in float32 encode identically
        blk32 = numsim.encode(x.astype(np.float32), fmt)
        np.testing.assert_array_equal(blk.codes, blk32.codes)
        np.testing.assert_array_equal(blk.scales, blk32.scales)
        check_quantize(x, fmt)


@pytest.mark.parametrize(
    "fmt", [bf("mxfp8_e4m3"), bf("mxfp4_e2m1"), bf("mx9"), bf("nvfp4")], ids=str
)
def test_torch_inputs(fmt: BlockFormat) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(13)
    x = (rng.standard_normal((3, 40)) * 7).astype(np.float32)
    for tdt, ndt in (
        (torch.float32, np.float32),
        (torch.float16, np.float16),
        (torch.float64, np.float64),
    ):
        xn = x.astype(ndt)
        t = torch.from_numpy(xn.copy())
        assert t.dtype == tdt
        bt = numsim.encode(t, fmt, axis=0)
        bn = numsim.encode(xn, fmt, axis=0)
        np.testing.assert_array_equal(np.asarray(bt.codes), bn.codes)
        np.testing.assert_array_equal(np.asarray(bt.scales), bn.scales)
        _check_torch_quantize(torch, t, xn, fmt, axis=0)
    # bfloat16 tensors: the same values as float32 encode identically
    tb = torch.from_numpy(x).to(torch.bfloat16)
    x_b = tb.to(torch.float32).numpy()
    bb = numsim.encode(tb, fmt)
    b32 = numsim.encode(x_b, fmt)
    np.testing.assert_array_equal(bb.codes, b32.codes)
    np.testing.assert_array_equal(bb.scales, b32.scales)
    assert_matches_reference(bb, x_b, ref_encode(fmt, x_b, tensor_scale=bb.tensor_scale), "bf16")
    want = numsim.decode(b32)
    if torch.equal(
        torch.from_numpy(want).to(torch.bfloat16).to(torch.float32), torch.from_numpy(want)
    ):
        qb = numsim.quantize(tb, fmt)
        assert qb.dtype == torch.bfloat16
        np.testing.assert_array_equal(qb.to(torch.float32).numpy(), want)
    else:
        with pytest.raises(ValueError, match="dtype"):
            numsim.quantize(tb, fmt)


def _check_torch_quantize(torch: Any, t: Any, xn: np.ndarray, fmt: BlockFormat, **kw: Any) -> None:
    try:
        want = numsim.quantize(xn, fmt, **kw)
    except ValueError:
        with pytest.raises(ValueError, match="dtype"):
            numsim.quantize(t, fmt, **kw)
        return
    qt = numsim.quantize(t, fmt, **kw)
    assert isinstance(qt, torch.Tensor) and qt.dtype == t.dtype and tuple(qt.shape) == xn.shape
    np.testing.assert_array_equal(qt.numpy(), want)


# ---------------------------------------------------------------------------------------------
# OCP MX §6.3 conversion vectors (RNE, hand-derived)
# ---------------------------------------------------------------------------------------------
_E8M0_ONE = 0x7F

MX_TABLE = [
    (
        "mxfp8_e4m3",
        [485, 475, 400, -485, -475, -450, 2**-6, -(2**-6)],
        0x7F,
        [448, 448, 384, -448, -448, -448, 2**-6, -(2**-6)],
    ),
    ("mxfp4_e2m1", [7, 1.5, 1.25, 0.25, 0.75, -2.5, 3.5, 5], 0x7F, [6, 1.5, 1, 0, 1, -2, 4, 4]),
    ("mxfp4_e2m1", [3, 1.25, 0.75, 0.125], 0x7E, [3, 1, 0.75, 0]),
    (
        "mxint8",
        [
            1.99609375,
            1.98828125,
            0,
            0.00390625,
            0.0078125,
            0.01171875,
            -0.015625,
            -0.01171875,
            -0.0078125,
            -0.00390625,
        ],
        0x7F,
        [127 / 64, 127 / 64, 0, 0, 0, 1 / 64, -1 / 64, -1 / 64, 0, 0],
    ),
    (
        "mxint8",
        [
            1.015625,
            1.0234375,
            1.03125,
            1.0390625,
            1.25,
            1.2578125,
            1.9375,
            1.9453125,
            1.984375,
            1.9921875,
        ],
        0x7F,
        [1.015625, 1.03125, 1.03125, 1.03125, 1.25, 1.25, 1.9375, 1.9375, 1.984375, 1.984375],
    ),
    (
        "mxint8",
        [
            -1.984375,
            -1.9765625,
            -1.96875,
            -1.9609375,
            -1.9375,
            -1.9296875,
            -1.75,
            -1.7421875,
            -1.0,
            -1.9921875,
        ],
        0x7F,
        [-1.984375, -1.96875, -1.96875, -1.96875, -1.9375, -1.9375, -1.75, -1.75, -1.0, -1.984375],
    ),
    ("mxfp8_e5m2", [60000, 1, 1 / 3], 0x7F, [57344, 1, 5 / 16]),
    ("mxfp6_e3m2", [30, 1 / 16, 3 / 32], 0x7F, [28, 1 / 16, 1 / 8]),
    ("mxfp6_e2m3", [30, 1, 1 / 8], 0x81, [30, 1, 0]),
]


@pytest.mark.parametrize(
    "name, v, scale, want", MX_TABLE, ids=[f"{r[0]}-{i}" for i, r in enumerate(MX_TABLE)]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_ocp_mx_table_rne(
    name: str, v: list[float], scale: int, want: list[float], dtype: Any
) -> None:
    x = np.zeros(32, dtype)
    x[: len(v)] = v
    blk = numsim.encode(x, name, rounding="nearest_even", scale_rule="floor", overflow="saturate")
    assert int(blk.scales[0]) == scale
    got = numsim.decode(blk)
    assert got[: len(v)].tolist() == [float(w) for w in want]
    assert (got[len(v) :] == 0).all()
    # the default policies are the spec's
    blk_default = numsim.encode(x, name)
    np.testing.assert_array_equal(blk_default.codes, blk.codes)
    assert numsim.quantize(x, name)[: len(v)].tolist() == [float(w) for w in want]


@pytest.mark.parametrize(
    "name", ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e2m3", "mxfp6_e3m2", "mxfp4_e2m1", "mxint8"]
)
def test_ocp_mx_all_zero_and_special_blocks(name: str) -> None:
    zeros = numsim.encode(np.zeros(32, np.float32), name)
    assert int(zeros.scales[0]) == 0x00 and (zeros.codes == 0).all()
    for special in (np.nan, np.inf, -np.inf):
        x = np.zeros(32, np.float32)
        x[:4] = [special, 0, 2.0**127, 0]  # microxcaling test_mx_nans
        blk = numsim.encode(x, name)
        assert int(blk.scales[0]) == 0xFF
        assert np.isnan(numsim.decode(blk)).all()


def test_e8m0_scale_clamps_to_minus_127() -> None:
    """A block far below the E8M0 range takes the smallest scale 2**-127 (code 0x00)."""
    x = np.zeros(32, np.float32)
    x[0] = (
        2.0**-130
    )  # floor(log2) - emax = -138 -> -127; 2**-130 / 2**-127 = 2**-3 is exact in E4M3
    x[1] = 2.0**-137  # 2**-10 after scaling: half of E4M3's smallest subnormal 2**-9, a tie -> 0
    blk = numsim.encode(x, "mxfp8_e4m3")
    assert int(blk.scales[0]) == 0
    assert int(blk.codes[0, 0]) == 0x20  # 2**-3 = 1.000 * 2**(4-7): exponent field 4
    assert int(blk.codes[0, 1]) == 0
    assert numsim.decode(blk)[:2].tolist() == [2.0**-130, 0.0]


# ---------------------------------------------------------------------------------------------
# MX9 / MX6 / MX4 microexponents (arXiv 2302.08007), hand derived
# ---------------------------------------------------------------------------------------------
# Block max 1.5 -> shared exponent 0 (element emax 0), scale code 0x7F. A pair whose max lies one or
# more binades below gets tau = 1 and is encoded on a grid twice as fine; an all-zero pair gets tau
# = 1.
MICRO_CASES = [
    # mx9: sign + 7 magnitude bits, value = int/64 (two's complement codes, 8 bits)
    (
        "mx9",
        [1.5, -0.75, 0.375, 0.3046875, 0, 0, 0.5, 0.25, -1.0, 0.0078125],
        [0x60, 0xD0, 0x30, 0x27, 0, 0, 0x40, 0x20, 0xC0, 0x00],
        [0, 1, 1, 1, 0, 1, 1, 1],
        [1.5, -0.75, 0.375, 0.3046875, 0, 0, 0.5, 0.25, -1.0, 0.0],
    ),
    # mx6: sign + 4 magnitude bits, value = int/8 (5-bit codes); without tau, 0.3125 -> 0.25 and
    # -0.4375 -> -0.5
    (
        "mx6",
        [1.5, 0.3125, 0.3125, -0.4375],
        [12, 2, 5, 25],
        [0, 1, 1, 1, 1, 1, 1, 1],
        [1.5, 0.25, 0.3125, -0.4375],
    ),
    # mx4: sign + 2 magnitude bits, value = int/2 (3-bit codes); without tau, 0.75 -> 1.0
    (
        "mx4",
        [1.0, 0.25, 0.75, -0.5],
        [2, 0, 3, 6],
        [0, 1, 1, 1, 1, 1, 1, 1],
        [1.0, 0.0, 0.75, -0.5],
    ),
]


@pytest.mark.parametrize(
    "name, v, codes, micro, want", MICRO_CASES, ids=[c[0] for c in MICRO_CASES]
)
@pytest.mark.parametrize("k", [0, 10, -20])
def test_microexponent_examples(
    name: str, v: list[float], codes: list[int], micro: list[int], want: list[float], k: int
) -> None:
    x = np.zeros(16, np.float32)
    x[: len(v)] = np.array(v) * 2.0**k
    blk = numsim.encode(x, name)
    assert int(blk.scales[0]) == 0x7F + k
    assert blk.codes[0, : len(codes)].tolist() == codes
    assert (blk.codes[0, len(codes) :] == 0).all()
    assert blk.micro is not None and blk.micro[0].tolist() == micro
    got = numsim.decode(blk)
    assert got[: len(want)].tolist() == [w * 2.0**k for w in want]


@pytest.mark.parametrize("name", ["mx9", "mx6", "mx4"])
def test_microexponent_gives_one_more_bit(name: str) -> None:
    """A pair below the block max's binade keeps a value that a single-scale block rounds away."""
    fmt = bf(name)
    assert isinstance(fmt.element, IntFormat)
    frac = fmt.element.frac_bits
    # 3 * 2**-(frac+1) lies below 2**-1 (one binade under the max 1.0) and is an odd multiple of
    # the tau = 1 grid 2**-(frac+1): exact with tau = 1, a tie (rounded to even) on the 2**-frac
    # grid
    v = 3 * 2.0 ** -(frac + 1)
    x = np.zeros(16, np.float32)
    x[0], x[2], x[3] = 1.0, v, -v
    blk = numsim.encode(x, fmt)
    assert blk.micro[0, 1] == 1
    assert numsim.decode(blk)[2:4].tolist() == [v, -v]
    # a single-scale BFP with the same element and scale rounds them away
    bfp = numsim.formats.BlockFormat("bfp_same", fmt.element, 16, fmt.scale)
    assert numsim.decode(numsim.encode(x, bfp))[2:4].tolist() != [v, -v]


@pytest.mark.parametrize(
    "name, bits",
    [
        ("mx9", 9),
        ("mx6", 6),
        ("mx4", 4),
        ("mxfp8_e4m3", 8.25),
        ("mxfp6_e2m3", 6.25),
        ("mxfp4_e2m1", 4.25),
        ("mxint8", 8.25),
        ("nvfp4", 4.5),
        ("b4int3", 4),
    ],
)
def test_bits_per_value(name: str, bits: float) -> None:
    assert bf(name).bits_per_value == bits


# ---------------------------------------------------------------------------------------------
# Stochastic rounding
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", BLOCKS, ids=str)
def test_stochastic_blocks_reproducible(fmt: BlockFormat) -> None:
    rng = np.random.default_rng(17)
    x = (rng.standard_normal((4, 3 * fmt.block_size)) * 3).astype(np.float32)
    a = numsim.encode(x, fmt, rounding="stochastic", seed=123)
    b = numsim.encode(x, fmt, rounding="stochastic", seed=123)
    c = numsim.encode(x, fmt, rounding="stochastic", seed=124)
    np.testing.assert_array_equal(a.codes, b.codes)
    np.testing.assert_array_equal(a.scales, b.scales)
    assert (a.codes != c.codes).any()  # 4*3*bs inexact values: identical streams would be a defect
    np.testing.assert_array_equal(a.scales, c.scales)  # the scale never depends on the random bits
    np.testing.assert_array_equal(
        numsim.quantize(x, fmt, rounding="stochastic", seed=123), numsim.decode(a)
    )


@pytest.mark.parametrize("sr_bits", [1, 5, 32])
def test_stochastic_explicit_bits_extremes(sr_bits: int) -> None:
    """r = 0 rounds every inexact value down in magnitude; r = 2**R - 1 rounds it up (R bits)."""
    x = np.zeros(32, np.float32)
    x[:4] = [4.0, 1.25, -2.5, 0.3]  # E2M1 with scale 1: neighbours (1, 1.5), (-2, -3), (0, 0.5)
    lo = numsim.encode(
        x, "mxfp4_e2m1", rounding="stochastic", sr_bits=sr_bits, random_bits=np.zeros(32, np.uint64)
    )
    hi = numsim.encode(
        x,
        "mxfp4_e2m1",
        rounding="stochastic",
        sr_bits=sr_bits,
        random_bits=np.full(32, 2**sr_bits - 1, np.uint64),
    )
    assert numsim.decode(lo)[:4].tolist() == [4.0, 1.0, -2.0, 0.0]
    assert numsim.decode(hi)[:4].tolist() == [4.0, 1.5, -3.0, 0.5]


def test_stochastic_seed_stream_follows_input_order() -> None:
    """encode(seed=): element i of the C-ordered input draws word i of the stream (encode
    docstring).

    Every block below has max in [4, 6], so the MXFP4 scale is 2**0 and each element is the plain
    E2M1 rounding of its input: the block codes must equal the element codes under the same seed,
    whatever the block axis and padding.
    """
    rng = np.random.default_rng(21)
    x = rng.uniform(-6, 6, size=(40, 3)).astype(np.float32)
    x[0, :] = 5.0
    x[32, :] = -5.0
    elem = numsim.encode(x, "fp4_e2m1", rounding="stochastic", seed=99, sr_bits=16)
    blk = numsim.encode(x, "mxfp4_e2m1", axis=0, rounding="stochastic", seed=99, sr_bits=16)
    assert (blk.scales == 0x7F).all()
    got = np.moveaxis(blk.codes.reshape(3, -1)[:, :40], -1, 0)
    np.testing.assert_array_equal(got, elem)
    xt = np.ascontiguousarray(x.T)  # blocks along the last axis, 40 = 32 + 8 (padded)
    elem_t = numsim.encode(xt, "fp4_e2m1", rounding="stochastic", seed=99, sr_bits=16)
    blk_t = numsim.encode(xt, "mxfp4_e2m1", axis=-1, rounding="stochastic", seed=99, sr_bits=16)
    np.testing.assert_array_equal(blk_t.codes.reshape(3, -1)[:, :40], elem_t)


def test_stochastic_axis_keeps_random_bits_with_their_elements() -> None:
    """Explicit random_bits have x's shape: blocking along axis 0 moves them with the data."""
    fmt = bf("mxfp6_e2m3")
    rng = np.random.default_rng(23)
    x = (rng.standard_normal((45, 2)) * 2).astype(np.float32)
    rb = _random_bits(x.shape, 24)
    blk = numsim.encode(x, fmt, axis=0, rounding="stochastic", random_bits=rb, sr_bits=12)
    ref = ref_encode(fmt, x, axis=0, rounding="stochastic", random_bits=rb, sr_bits=12)
    assert_matches_reference(blk, x, ref)
