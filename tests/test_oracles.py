"""ml_dtypes 0.6 as an external oracle for element casts (an external oracle).

``numsim.encode(x, fmt, profile="ml_dtypes")`` must give ml_dtypes' ``x.astype(dtype)`` codes on
all float16 and bfloat16 inputs, ~1M seeded random float32 bit patterns and seeded float64
inputs. The behaviour compared is that of jax-ml/ml_dtypes 0.6.0 itself.

Known differences, each asserted to be *exactly* the set of mismatching inputs (nothing else may
differ), with the exact reference agreeing with numsim there:

(a) NaN payloads: ml_dtypes (and numpy, for float16) keep the input NaN's payload when casting to
    bf16/fp16; numsim emits the canonical quiet NaN with the input's sign. Compared by class and
    sign.
(b) E8M0 from inputs strictly between 2**-127 and 1.5 * 2**-127 (float32/bfloat16 subnormals):
    ml_dtypes rounds them UP to 2**-126 (code 0x01); round to nearest gives 2**-127 (0x00), which
    numsim and the reference return.
(c) E8M0 from float64: ml_dtypes converts through float32 (checked below), so a positive float64
    that float32 flushes to zero (x <= 2**-150) becomes NaN (0xFF, E8M0 has no zero), (b)
    applies to float32(x), and an x just below 1.5 * 2**-127 that float32 rounds onto that tie
    goes up; numsim rounds the float64 itself: the nearest E8M0 value, 2**-127 (0x00).
"""

from __future__ import annotations

import numpy as np
import pytest

import numsim
from conftest import all_bfloat16, all_float16, as_float64, bits_equivalent, ref_encode
from numsim import formats as F
from numsim.policies import NanPolicy, Overflow, RoundMode

ml_dtypes = pytest.importorskip("ml_dtypes")
pytestmark = pytest.mark.oracle

PAIRS = [
    ("fp8_e4m3", "float8_e4m3fn"),
    ("fp8_e5m2", "float8_e5m2"),
    ("fp8_e4m3fnuz", "float8_e4m3fnuz"),
    ("fp8_e5m2fnuz", "float8_e5m2fnuz"),
    ("fp6_e2m3", "float6_e2m3fn"),
    ("fp6_e3m2", "float6_e3m2fn"),
    ("fp4_e2m1", "float4_e2m1fn"),
    ("e8m0", "float8_e8m0fnu"),
    ("bf16", "bfloat16"),
    ("fp16", "float16"),
]
PAIR_IDS = [p[1] for p in PAIRS]


def md_dtype(name: str):
    return np.dtype(np.float16) if name == "float16" else np.dtype(getattr(ml_dtypes, name))


def md_codes(x: np.ndarray, name: str, bits: int) -> np.ndarray:
    """ml_dtypes' codes of ``x`` (sub-byte types are stored one per byte, code in the low bits)."""
    with np.errstate(all="ignore"):
        y = x.astype(md_dtype(name))
    return y.view(np.uint16 if bits > 8 else np.uint8).astype(np.int64)


def inputs(kind: str) -> np.ndarray:
    rng = np.random.default_rng({"float32": 20231201, "float64": 7}.get(kind, 0))
    if kind == "float16":
        return all_float16()
    if kind == "bfloat16":
        return all_bfloat16()
    if kind == "float32":
        return (
            rng.integers(0, 1 << 32, size=1 << 20, dtype=np.uint64)
            .astype(np.uint32)
            .view(np.float32)
        )
    bits = rng.integers(0, 1 << 64, size=1 << 17, dtype=np.uint64, endpoint=False).view(np.float64)
    # values spread over the small formats' ranges and the float32/E8M0 subnormal region
    near = rng.standard_normal(1 << 17) * np.exp2(rng.integers(-160, 20, size=1 << 17))
    return np.concatenate([bits, near])


_INPUTS: dict[str, np.ndarray] = {}


def cached_inputs(kind: str) -> np.ndarray:
    if kind not in _INPUTS:
        _INPUTS[kind] = inputs(kind)
    return _INPUTS[kind]


def expected_difference(
    fmt, kind: str, x: np.ndarray, md: np.ndarray, ns: np.ndarray
) -> np.ndarray:
    """Mask of the inputs where the documented differences (a)-(c) predict a mismatch."""
    vals = as_float64(x)
    pred = np.zeros(x.shape, bool)
    if fmt.name in ("bf16", "fp16"):  # (a): any NaN input may differ in payload
        pred |= np.isnan(vals) & (md != ns)
    if fmt.name == "e8m0":
        with np.errstate(over="ignore"):
            v32 = vals.astype(np.float32) if kind == "float64" else vals  # (c): through float32
        lo, hi = 2.0**-127, 1.5 * 2.0**-127
        pred |= (v32 > lo) & (v32 < hi)  # (b)
        if kind == "float64":
            pred |= (vals > 0) & (v32 == 0)  # (c): flushed to zero by the float32 step
            pred |= (v32 == hi) & (vals < hi)  # (c): double rounding onto the tie, then (b)
    return pred


@pytest.mark.parametrize("kind", ["float16", "bfloat16", "float32", "float64"])
@pytest.mark.parametrize("name,mdname", PAIRS, ids=PAIR_IDS)
def test_encode_matches_ml_dtypes(name, mdname, kind):
    fmt = F.get(name)
    x = cached_inputs(kind)
    md = md_codes(x, mdname, fmt.total_bits)
    ns = numsim.encode(x, fmt, profile="ml_dtypes").astype(np.int64)
    bad = md != ns
    pred = expected_difference(fmt, kind, x, md, ns)
    unexplained = np.flatnonzero(bad & ~pred)
    assert unexplained.size == 0, [
        (float(as_float64(x[i : i + 1])[0]).hex(), hex(md[i]), hex(ns[i])) for i in unexplained[:8]
    ]
    # every predicted difference really is one (the list of differences is exact, not loose)
    assert np.array_equal(bad, pred)
    idx = np.flatnonzero(bad)
    if fmt.name in ("bf16", "fp16"):
        # (a): both NaN (equal by class), same sign
        assert bits_equivalent(fmt, md[idx], ns[idx]).all()
        assert np.array_equal(md[idx] & fmt.sign_mask, ns[idx] & fmt.sign_mask)
        # numsim gives every NaN input the canonical quiet NaN with the input's sign
        vals = as_float64(x)
        nan = np.isnan(vals)
        assert np.array_equal(
            ns[nan], fmt.nan_code | np.where(np.signbit(vals[nan]), fmt.sign_mask, 0)
        )
    elif fmt.name == "e8m0":
        vals = as_float64(x[idx])
        assert np.all(ns[idx] == 0x00)  # numsim: 2**-127, the nearest E8M0 value
        assert np.all((md[idx] == 0x01) | ((md[idx] == 0xFF) & (vals.astype(np.float32) == 0)))
        # the exact reference agrees with numsim on (a sample of) these inputs
        for i in idx[:: max(1, idx.size // 150)]:
            v = float(as_float64(x[i : i + 1])[0])
            assert (
                ref_encode(
                    fmt,
                    v,
                    RoundMode.nearest_even,
                    Overflow.nonsaturate,
                    NanPolicy.zero_sign_inverted,
                )
                == ns[i]
            ), v.hex()
    else:
        assert idx.size == 0


def test_ml_dtypes_e8m0_goes_through_float32():
    """The premise of (c): ml_dtypes' float64 -> E8M0 equals its float64 -> float32 -> E8M0."""
    x = cached_inputs("float64")
    with np.errstate(all="ignore"):
        x32 = x.astype(np.float32)
    assert np.array_equal(md_codes(x, "float8_e8m0fnu", 8), md_codes(x32, "float8_e8m0fnu", 8))


def test_known_differences_are_exercised():
    """The random inputs do hit (b) and (c), so the exactness checks above are not vacuous."""
    fmt = F.get("e8m0")
    for kind, want in (("float32", 0x01), ("float64", 0xFF)):
        x = cached_inputs(kind)
        md = md_codes(x, "float8_e8m0fnu", 8)
        ns = numsim.encode(x, fmt, profile="ml_dtypes").astype(np.int64)
        assert np.count_nonzero((md == want) & (ns == 0)) > 100, kind


@pytest.mark.parametrize("name,mdname", PAIRS, ids=PAIR_IDS)
def test_decode_matches_ml_dtypes(name, mdname):
    fmt = F.get(name)
    codes = np.arange(1 << fmt.total_bits, dtype=np.uint16 if fmt.total_bits > 8 else np.uint8)
    with np.errstate(invalid="ignore"):  # signalling NaN codes
        want = codes.view(md_dtype(mdname)).astype(np.float64)
    got = numsim.decode(codes.astype(fmt.code_dtype), fmt).astype(np.float64)
    nan = np.isnan(want)
    assert np.array_equal(nan, np.isnan(got))
    assert np.array_equal(got[~nan], want[~nan])
    assert np.array_equal(np.signbit(got[~nan]), np.signbit(want[~nan]))


# Element casts without scaling, outputs of ml_dtypes 0.6.0: (format, inputs, codes)
CAST_VECTORS = [
    ("fp8_e4m3", [464.0, 465.0, 1e6, np.inf, -np.inf], [0x7E, 0x7F, 0x7F, 0x7F, 0xFF]),
    ("fp8_e5m2", [60000.0, 61440.0, 1e6], [0x7B, 0x7C, 0x7C]),
    ("fp4_e2m1", [np.nan, np.inf, 7.0, 0.25, 2.5], [0x8, 0x7, 0x7, 0x0, 0x4]),
    ("e8m0", [0.0, 1.5, 3.0, -1.0, np.inf], [0xFF, 0x80, 0x81, 0xFF, 0xFF]),
]


@pytest.mark.parametrize("name,x,codes", CAST_VECTORS, ids=[v[0] for v in CAST_VECTORS])
def test_documented_ml_dtypes_casts(name, x, codes):
    """Hand-written codes of ml_dtypes 0.6.0 casts (e.g. NaN -> -0 = 0x8 in FP4; 1.5 -> 2 and 3 -> 4
    in E8M0: ties round up; 0, negatives and Inf -> NaN 0xFF)."""
    fmt = F.get(name)
    mdname = dict(PAIRS)[name]
    a = np.array(x, np.float32)
    assert md_codes(a, mdname, fmt.total_bits).tolist() == codes  # the oracle says so
    assert numsim.encode(a, fmt, profile="ml_dtypes").tolist() == codes
    assert numsim.encode(a.astype(np.float64), fmt, profile="ml_dtypes").tolist() == codes
