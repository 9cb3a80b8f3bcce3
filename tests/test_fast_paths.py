"""Fast paths == their general twins, bit for bit: the kernels that round without core.split_round.

The package docstring of :mod:`numsim._kernels` lists every fast rounding, its general twin and
the tests here that hold it there; whoever changes the general rounding (``core.split_round``,
``core.encode_value``, ``dotbase._round_out``) runs this module and changes the fast paths with it.

Expected values come from the general kernels (held to the exact Fraction reference by
test_codec.py, test_block.py and test_datapath.py), from :mod:`numsim.reference` or from hand
derivation; never from the fast path under test.
"""

from __future__ import annotations

import random
from dataclasses import replace
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_block import assert_matches_reference, bf, ref_encode
from test_datapath import _ref_f32_bits

import numsim
from numsim import datapath as dp
from numsim import formats as F
from numsim.datapath import DotUnit
from numsim.datapath import _lower as dp_lower
from numsim.datapath import api as dp_api
from numsim.policies import Overflow, RoundMode
from numsim.reference import dot as ref_dot

ACC = dp.Accumulator


# ---------------------------------------------------------------------------------------------
# (a) element encoders: float32 arithmetic (block._rne_code, _rne_int_code)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e2m3", "mxfp6_e3m2", "mxfp4_e2m1", "mxint8"]
)
def test_float32_arithmetic_path_equals_scalar_path(name):
    """Float32 input under nearest-even/saturate takes a branch-free arithmetic path; float64 input
    of the same values takes the scalar path (held to the reference above). Random bit patterns over
    every exponent, blocks mixing binades, float32 subnormals and zeros."""
    rng = np.random.default_rng(20261122)
    bits = rng.integers(0, 2**32, size=(4096, 32), dtype=np.uint64).astype(np.uint32)
    exps = rng.integers(1, 255, size=(4096, 1), dtype=np.uint32)  # one binade per block ...
    spread = rng.integers(0, 40, size=(4096, 32), dtype=np.uint32)  # ... and 0..39 below it
    e = np.clip(exps.astype(np.int64) - spread, 0, 254).astype(np.uint32)
    bits = (bits & np.uint32(0x807FFFFF)) | (e << np.uint32(23))
    bits[::7, 3] = 0  # zeros
    bits[::11, 5] = np.uint32(0x80000000)  # negative zeros
    x32 = bits.view(np.float32)
    blk32 = numsim.encode(x32, name)
    blk64 = numsim.encode(x32.astype(np.float64), name)
    np.testing.assert_array_equal(blk32.scales, blk64.scales)
    np.testing.assert_array_equal(blk32.codes, blk64.codes)


# ---------------------------------------------------------------------------------------------
# NVFP4 float32 fast path (vectorized passes) == general kernel == reference
# ---------------------------------------------------------------------------------------------
def _nvfp4_general(x: np.ndarray, tensor_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(codes, scales) of float32 rows of 16 from the general NVFP4 kernel (the path that float64
    input, other policies and other formats take), under the default policies."""
    from numsim._kernels import block as kb
    from numsim._kernels.lower import lower
    from numsim._tables import encode_table
    from numsim.block import _fp_params
    from numsim.policies import NanPolicy

    fmt = bf("nvfp4")
    xb = np.ascontiguousarray(x, np.float32).reshape(-1, 16)
    codes = np.empty(xb.shape, np.uint8)
    scales = np.empty(xb.shape[0], np.uint8)
    table = encode_table(
        fmt.element, RoundMode.nearest_even, Overflow.saturate, NanPolicy.raise_error
    )
    kb.encode_fpscale(
        xb,
        False,
        float(tensor_scale),
        lower(fmt.element),
        _fp_params(fmt),
        lower(fmt.scale),
        0,
        0,
        int(NanPolicy.raise_error),
        0,
        1,
        np.empty(0, np.uint64),
        table,
        codes,
        scales,
    )
    return codes, scales


def _check_nvfp4_fast(x: np.ndarray, what: str, tensor_amax: Any = None) -> numsim.BlockArray:
    """float32 ``x`` (rows of 16): the fast path's codes, scales, tensor scale and fused quantized
    values equal the general kernel's, float64 input's (general path, exact division) and decode."""
    x = np.ascontiguousarray(x, np.float32)
    kw = {} if tensor_amax is None else {"tensor_amax": tensor_amax}
    blk = numsim.encode(x, "nvfp4", **kw)
    codes, scales = _nvfp4_general(x, blk.tensor_scale)
    np.testing.assert_array_equal(
        blk.scales.reshape(-1), scales, err_msg=f"{what}: scales vs general kernel"
    )
    np.testing.assert_array_equal(
        blk.codes.reshape(-1, 16), codes, err_msg=f"{what}: codes vs general kernel"
    )
    blk64 = numsim.encode(x.astype(np.float64), "nvfp4", **kw)
    assert blk64.tensor_scale == blk.tensor_scale, what
    np.testing.assert_array_equal(
        blk.scales, blk64.scales, err_msg=f"{what}: scales vs float64 input"
    )
    np.testing.assert_array_equal(blk.codes, blk64.codes, err_msg=f"{what}: codes vs float64 input")
    q = numsim.quantize(x, "nvfp4", **kw)
    np.testing.assert_array_equal(
        q, numsim.decode(blk), err_msg=f"{what}: fused quantize vs decode"
    )
    return blk


def _nvfp4_distributions(rng: Any) -> list[tuple[str, np.ndarray]]:
    n = 16 * 4096
    out = []
    for k in (-130, -100, -40, -10, 0, 7, 40, 100, 120):
        out.append((f"normal*2^{k}", rng.standard_normal(n) * 2.0**k))
    out.append(("cauchy", rng.standard_cauchy(n)))
    out.append(("student-t(1.5)*1e3", rng.standard_t(1.5, n) * 1e3))
    out.append(("lognormal(0,8)", rng.lognormal(0, 8, n) * rng.choice([-1, 1], n)))
    # per-block scales spread over the whole float32 range (blocks far below the tensor amax
    # underflow the UE4M3 scale and take the general path)
    out.append(
        (
            "block exponents",
            (
                rng.standard_normal((n // 16, 16)) * np.exp2(rng.integers(-149, 127, (n // 16, 1)))
            ).reshape(-1),
        )
    )
    tiny = rng.integers(1, 2**23, n).astype(np.uint32).view(np.float32)  # float32 subnormals
    out.append(("subnormals", np.where(rng.random(n) < 0.5, -tiny, tiny)))
    near = rng.uniform(0.5, 4.0, n) * 2.0**-126 * rng.choice([-1, 1], n)
    out.append(("near the subnormal boundary", near))
    z = rng.standard_normal(n)
    z[rng.random(n) < 0.6] = 0.0
    z[rng.random(n) < 0.1] = -0.0
    z.reshape(-1, 16)[::5] = 0.0  # all-zero blocks
    z.reshape(-1, 16)[1::7] = -0.0
    out.append(("zeros", z))
    grid = rng.choice(
        [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 7.0], n
    )
    out.append(
        ("E2M1 grid and midpoints", grid * rng.choice([-1, 1], n) * 2.0 ** rng.integers(-3, 4))
    )
    return [(name, v.astype(np.float32)) for name, v in out]


def test_nvfp4_float32_fast_path_equals_general_path() -> None:
    rng = np.random.default_rng(20261123)
    for name, x in _nvfp4_distributions(rng):
        _check_nvfp4_fast(x, name)
        _check_nvfp4_fast(x.reshape(-1, 64), f"{name} (2-D)")


def test_nvfp4_float32_fast_path_exact_element_ties() -> None:
    """Elements whose float32 quotient x / sdec is exactly an E2M1 midpoint (and one ulp either
    side): the quotient, not the input, is rounded to E2M1, so these decide ties."""
    rng = np.random.default_rng(5)
    nblk = 2048
    lead = (rng.uniform(1, 2, nblk) * np.exp2(rng.integers(-20, 21, nblk))).astype(np.float32)
    x = np.zeros((nblk, 16), np.float32)
    x[:, 0] = lead
    x[0, 0] = lead.max() * 2  # the tensor amax, kept as it is below
    blk = numsim.encode(x, "nvfp4")
    sdec = numsim.decode(blk.scales.reshape(-1), "ue4m3").astype(np.float32) * np.float32(
        blk.tensor_scale
    )
    mids = np.array([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0], np.float32)
    with np.errstate(under="ignore"):
        t = (mids[rng.integers(0, 7, (nblk, 15))] * sdec[:, None]).astype(np.float32)
    t *= rng.choice(np.array([-1, 1], np.float32), t.shape)
    step = rng.integers(-1, 2, t.shape)
    away = np.copysign(np.float32(np.inf), t)
    t = np.where(
        step < 0, np.nextafter(t, np.float32(0)), np.where(step > 0, np.nextafter(t, away), t)
    )
    x[:, 1:] = t
    with np.errstate(
        divide="ignore", invalid="ignore"
    ):  # blocks whose scale underflows have sdec = 0
        ties = np.isin(np.abs(x[:, 1:] / sdec[:, None]), mids)
    assert ties.sum() > 5000  # many quotients land exactly on a midpoint
    blk2 = _check_nvfp4_fast(x, "ties")
    np.testing.assert_array_equal(blk2.scales, blk.scales)  # the lead still fixes every scale
    sub = x[::97]
    blk_sub = numsim.encode(sub, "nvfp4", tensor_amax=float(x[0, 0]))
    assert_matches_reference(
        blk_sub, sub, ref_encode(bf("nvfp4"), sub, tensor_scale=blk_sub.tensor_scale), "ties"
    )


def test_nvfp4_float32_fast_path_scale_sweep() -> None:
    """One nonzero per block over every float32 binade, under tensor scales that make the UE4M3
    scale saturate, go subnormal, round to zero, overflow r to Inf or underflow sdec (the
    blocks the fast path hands to the general path), held to the general path and the reference."""
    rng = np.random.default_rng(8)
    exps = np.arange(-149, 128)
    v = (rng.uniform(1, 2, (exps.size, 4)) * np.exp2(exps)[:, None]).reshape(-1)
    v = np.concatenate([v, np.exp2(exps.astype(np.float64)), [np.finfo(np.float32).max, 1.4e-45]])
    with np.errstate(over="ignore"):
        v = v.astype(np.float32)
    v = v[np.isfinite(v) & (v > 0)]
    x = np.zeros((v.size, 16), np.float32)
    x[:, 3] = v
    x[:, 7] = -v / 3
    x[:, 11] = v * np.float32(0.4)
    ref_rows = x[::23]
    for amax in (None, 1.0, 2688.0, 1e-30, 3e-40, 1.4e-45, 1e30, 3e38, 1e-3):
        blk = _check_nvfp4_fast(x, f"tensor_amax={amax}", amax)
        kw = {} if amax is None else {"tensor_amax": amax}
        sub = numsim.encode(ref_rows, "nvfp4", **(kw or {"tensor_amax": float(np.abs(x).max())}))
        assert_matches_reference(
            sub,
            ref_rows,
            ref_encode(bf("nvfp4"), ref_rows, tensor_scale=sub.tensor_scale),
            f"tensor_amax={amax}",
        )
        assert blk.scales.size == v.size


def test_nvfp4_float32_fast_path_special_blocks() -> None:
    """NaN/Inf blocks (general path inside the fast kernel) among ordinary ones; a zero tensor."""
    rng = np.random.default_rng(12)
    x = (rng.standard_normal((512, 16)) * 10).astype(np.float32)
    x[::9, 4] = np.nan
    x[3::11, 15] = np.inf
    x[5::13, 0] = -np.inf
    blk = _check_nvfp4_fast(x, "specials")
    special = ~np.isfinite(x).all(axis=1)
    assert special.sum() > 80
    np.testing.assert_array_equal(blk.scales.reshape(-1) == bf("nvfp4").scale.nan_code, special)
    q = numsim.quantize(x, "nvfp4")
    assert np.isnan(q[special]).all() and not np.isnan(q[~special]).any()
    _check_nvfp4_fast(np.zeros((4, 16), np.float32), "zero tensor")  # s2 = 0: the general kernel
    _check_nvfp4_fast(np.full((4, 16), -0.0, np.float32), "-0 tensor")
    assert numsim.encode(np.zeros(0, np.float32), "nvfp4").codes.size == 0


def test_nvfp4_float32_default_policies_take_the_fast_path(monkeypatch: Any) -> None:
    """The general kernel is not called for float32 input under the default policies (so the
    tests above compare two different implementations), and is called for other policies."""
    from numsim._kernels import block as kb

    calls = []
    general = kb.encode_fpscale

    def spy(*args: Any) -> Any:
        calls.append(1)
        return general(*args)

    monkeypatch.setattr(kb, "encode_fpscale", spy)
    x = np.random.default_rng(1).standard_normal((8, 48)).astype(np.float32)
    numsim.encode(x, "nvfp4")
    numsim.quantize(x, "nvfp4")
    numsim.encode(x.astype(np.float16), "nvfp4")
    assert not calls
    numsim.encode(x, "nvfp4", rounding="nearest_away")
    numsim.encode(x.astype(np.float64), "nvfp4")
    assert len(calls) == 2


def test_nvfp4_e2m1_compares_equal_the_element_table() -> None:
    """The fast path's E2M1 rounding (threshold compares) equals the element codec on every
    table class of float32 inputs (each 2**15-ulp cell, with and without low bits), Inf included."""
    from numsim._kernels import block as kb

    idx = np.arange(1 << 17, dtype=np.uint32)
    bits = np.concatenate(
        [
            idx << np.uint32(15),
            (idx << np.uint32(15)) | np.uint32(1),
            (idx << np.uint32(15)) | np.uint32(0x7FFF),
        ]
    )
    x = bits.view(np.float32)
    x = x[~np.isnan(x)]
    x = x[: x.size // 16 * 16]
    codes = np.empty(x.size, np.uint8)
    kb._nv_codes(
        x.reshape(-1, 16),
        x.view(np.uint32).reshape(-1, 16),
        np.ones(x.size // 16, np.float32),
        codes.reshape(-1, 16),
    )
    want = numsim.encode(x, "fp4_e2m1", rounding="nearest_even", overflow="saturate")
    np.testing.assert_array_equal(codes, want)


def test_nvfp4_tensor_amax_float32_kernel() -> None:
    from numsim._kernels import block as kb

    rng = np.random.default_rng(4)
    for n in (0, 1, 5, 63, 64, 65, 1000, 100003):
        x = (rng.standard_normal(n) * 2.0 ** rng.integers(-140, 120, n)).astype(np.float32)
        if n > 3:
            x[1], x[2], x[3] = np.nan, np.inf, -np.inf
        want = kb.tensor_amax(x)
        assert kb.tensor_amax_f32(x.view(np.uint32)) == want, n
    assert kb.tensor_amax_f32(np.array([np.nan, -np.inf], np.float32).view(np.uint32)) == 0.0
    assert kb.tensor_amax_f32(np.array([-0.0, 1e-45], np.float32).view(np.uint32)) == float(
        np.float32(1e-45)
    )


# ---------------------------------------------------------------------------------------------
# (b) dot units: fast paths (fastdot) == the general kernel (itself == the reference)
# ---------------------------------------------------------------------------------------------
def _random_values(
    rng: np.random.Generator, fmt: F.FloatFormat, shape: tuple[int, ...], wide: bool
) -> np.ndarray:
    """Values of ``fmt``: random codes over the whole range (``wide``) or quantized normals; 10%
    zeros."""
    if wide:
        codes = rng.integers(0, 1 << fmt.total_bits, shape)
        x = numsim.decode(
            codes.astype(
                np.uint32 if fmt.total_bits > 16 else np.uint16 if fmt.total_bits > 8 else np.uint8
            ),
            fmt,
        ).astype(np.float64)
        x[~np.isfinite(x)] = 0.0
    else:
        x = numsim.quantize(rng.standard_normal(shape) * 4, fmt).astype(np.float64)
    x[rng.random(shape) < 0.1] = 0.0
    return x


def _c_matrix(
    rng: np.random.Generator, shape: tuple[int, int], specials: bool, fp16: bool = False
) -> np.ndarray:
    """FP32 C values: normals, subnormals, zeros, near-max values (and Inf / NaN with
    ``specials``); with ``fp16`` all of them FP16 values (FP16 subnormals and maximum)."""
    dt = np.float16 if fp16 else np.float32
    c = (rng.standard_normal(shape) * 8).astype(dt).astype(np.float32)
    pick = rng.random(shape)
    c[pick < 0.1] = 0.0
    c[(pick >= 0.1) & (pick < 0.2)] = np.float32(np.float16(3e-7)) if fp16 else np.float32(3e-40)
    c[(pick >= 0.2) & (pick < 0.25)] = np.float32(-65504.0 if fp16 else -3.3e38)
    if specials:
        c[(pick >= 0.25) & (pick < 0.27)] = np.inf
        c[(pick >= 0.27) & (pick < 0.29)] = np.nan
    return c


def _same_bits(x: np.ndarray, y: np.ndarray) -> None:
    """Equal float32 arrays bit for bit (every NaN counts as one value)."""
    xb = np.where(np.isnan(x), 0x7FC00000, x.view(np.uint32))
    yb = np.where(np.isnan(y), 0x7FC00000, y.view(np.uint32))
    bad = np.argwhere(xb != yb)
    assert bad.size == 0, (
        f"{len(bad)} differences, first at {bad[0]}: {x[tuple(bad[0])]!r} vs {y[tuple(bad[0])]!r}"
    )


FAST_CHAIN = [
    *(
        dp.get(n)
        for n in [
            "v100-fp16",
            "a100-bf16",
            "a100-tf32",
            "ada-e5m2",
            "h100-fp16",
            "h100-e4m3",
            "h100-e5m2",
            "b200-e4m3",
            "h100-e4m3-promote128",
        ]
    ),
    dp.get("h100-bf16", out="fp16"),
    dp.get("v100-fp16", out="fp16"),
    replace(dp.get("a100-fp16"), name="a100-fp16-ftz", subnormals_in=False, subnormals_out=False),
    # zero operands at -126 joining the maximum, +0 underflow, FP16 C, mixed operand formats
    *(dp.get(n) for n in ["t4-fp16", "rtxpro6000-tf32", "ada-e4m3xe5m2", "b200-fp16xbf16"]),
    dp.get("h100-e5m2xe4m3", out="fp16"),
    dp.get("rtxpro6000-e4m3", out="fp16"),
    dp.get("b200-bf16-epilogue"),
    replace(dp.get("a100-bf16"), name="a100-bf16-zero-signed", underflow_zero="signed"),
    replace(dp.get("h100-fp16"), name="h100-fp16-zero-dropped", zero_exponent=None),
]


@pytest.mark.parametrize("wide", [True, False], ids=["wide", "normal"])
@pytest.mark.parametrize("unit", FAST_CHAIN, ids=str)
def test_fast_chain_path_equals_general(unit: DotUnit, wide: bool) -> None:
    assert dp_api._chain_fast_ok(unit)
    rng = np.random.default_rng(sum(map(ord, unit.name)) + wide)
    M, K, N = 13, 3 * (unit.chunk or unit.n) + 5, 11
    A = _random_values(rng, unit.in_format, (M, K), wide)
    B = _random_values(rng, unit.operand_b_format, (K, N), wide)
    if wide:  # zeros facing the largest values: zero products win the alignment maximum
        A[0, :] = 0.0
        B[:, 0] = float(unit.operand_b_format.max)
    C = _c_matrix(rng, (M, N), specials=True, fp16=unit.c_format == F.fp16)
    fast = dp.matmul(A, B, unit, C)
    general, _ = dp_api._matmul_general(unit, A, B, C)
    _same_bits(fast, general)


@pytest.mark.parametrize("wide", [True, False], ids=["wide", "normal"])
@pytest.mark.parametrize(
    "name", ["h100-e4m3", "b200-e4m3", "h100-fp16", "t4-fp16", "ada-e4m3xe5m2", "mi300-fp16"]
)
def test_batched_products_equal_matmul_per_slice(name: str, wide: bool) -> None:
    """``api.batched_elements`` (one ``bmm_fast`` call for the chained truncating units, the loop
    for others such as ``mi300-fp16``) == ``matmul`` of each slice, bit for bit."""
    unit = dp.get(name)
    rng = np.random.default_rng(sum(map(ord, name)) + wide)
    G, M, K, N = 5, 7, 2 * unit.n + 3, 6
    A = _random_values(rng, unit.in_format, (G, M, K), wide)
    B = _random_values(rng, unit.operand_b_format, (G, K, N), wide)
    if wide:
        A[0, 0, :] = 0.0
        B[1, :, 0] = float(unit.operand_b_format.max)
    got = dp_api.batched_elements(A, B, unit)
    assert got.shape == (G, M, N) and got.dtype == np.float32
    for g in range(G):
        _same_bits(got[g], dp.matmul(A[g], B[g], unit))


BLAS_UNITS = [
    dp.get("ocp-mx-exact"),
    dp.get("ocp-mx-fp32acc"),
    dp.get("mxdotp"),
    DotUnit("exact-fp16-rne", F.fp16, 4, None, out_rounding="nearest_even"),
    DotUnit("exact-chain-rz", F.fp16, 16, None),
    DotUnit(
        "exact-chain-ftz",
        F.bf16,
        8,
        None,
        out_rounding="nearest_even",
        subnormals_in=False,
        subnormals_out=False,
    ),
    DotUnit(
        "exact-fp16-acc",
        F.fp8_e4m3,
        32,
        None,
        out_format=F.bf16,
        out_rounding="nearest_even",
        accumulator=ACC.floating(F.fp16, "toward_zero"),
    ),
    DotUnit(
        "exact-bf16-out", F.fp8_e4m3, 32, None, out_format=F.bf16, accumulator=ACC.floating(F.fp32)
    ),
    DotUnit("exact-epilogue", F.fp16, 16, None, c_entry="epilogue"),
]


@pytest.mark.parametrize("elem", ["fp8_e4m3", "fp6_e3m2", "fp4_e2m1"])
@pytest.mark.parametrize("unit", BLAS_UNITS, ids=str)
def test_blas_exact_path_equals_general(unit: DotUnit, elem: str) -> None:
    fmt = F.get(elem)
    rng = np.random.default_rng(sum(map(ord, unit.name + elem)))
    M, K, N = 17, 4 * unit.n + 3, 9
    A = _random_values(rng, fmt, (M, K), wide=True)
    B = _random_values(rng, fmt, (K, N), wide=False)
    assert dp_api._blas_exact_ok(unit, A, B)
    C = _c_matrix(rng, (M, N), specials=False)
    if elem == "fp8_e4m3":  # D[0, 0] = 448 * 16 * K: FP16 accumulators overflow to Inf
        A[0, :], B[:, 0] = 448.0, 16.0
    fast = dp.matmul(A, B, unit, C)
    general, _ = dp_api._matmul_general(unit, A, B, C)
    _same_bits(fast, general)
    _same_bits(dp.matmul(A, B, unit), dp_api._matmul_general(unit, A, B, None)[0])  # C absent
    if unit.accumulator.format == F.fp16 and elem == "fp8_e4m3":
        assert np.isinf(fast[0]).any()


def test_blas_exact_path_bypassed_for_positive_underflow() -> None:
    """The BLAS combine kernels keep the sign of a result rounded to zero: a unit whose
    ``underflow_zero`` is positive takes the general kernel, which gives +0 (hand derivation:
    ``-2**-75 * 2**-75`` truncates to -0 in FP32, made +0)."""
    unit = DotUnit("exact-positive-zero", F.bf16, 8, None, underflow_zero="positive")
    A = np.array([[-(2.0**-75), 0.0]])
    B = np.array([[2.0**-75], [2.0**-75]])
    assert not dp_api._blas_exact_ok(unit, A, B)
    d = dp.matmul(A, B, unit)
    assert d[0, 0].view(np.uint32) == 0
    signed = replace(unit, underflow_zero="signed")
    assert dp_api._blas_exact_ok(signed, A, B)
    assert dp.matmul(A, B, signed)[0, 0].view(np.uint32) == 0x80000000


def test_blas_exact_path_refuses_wide_spans() -> None:
    unit = dp.get("ocp-mx-exact")
    A = np.array([[2.0**60, 2.0**-60]])
    B = np.array([[1.0], [1.0]])
    assert not dp_api._blas_exact_ok(unit, A, B)  # 2**60 + 2**-60 needs 121 bits
    assert dp.matmul(A, B, unit)[0, 0] == np.float32(2.0**60)
    assert dp_api._blas_exact_ok(unit, A[:, :1], B[:1])


@pytest.mark.parametrize(
    "unit",
    [
        dp.get("ocp-mx-exact"),
        dp.get("mxdotp"),
        dp.get("h100-e4m3"),
        dp.get("h100-e4m3-promote128"),
        dp.get("fma-fp32"),
    ],
    ids=str,
)
def test_signed_zeros_on_every_path(unit: DotUnit) -> None:
    """Exact zero sums give +0 (the model's rule), whatever the signs of zero operands and of C;
    with ``exact_zero="ieee"`` (``fma-fp32``) -0 when C and every product are -0 (the reference
    gets the zeros' signs as floats)."""
    K = 2 * (unit.chunk or unit.n) + 1
    A = np.array([[-0.0] * K, [0.0] * K, [1.0, -1.0] * (K // 2) + [-0.0]])
    B = np.full((K, 2), -0.0)
    B[:, 1] = 1.0
    C = np.full((3, 2), -0.0, np.float32)
    fast = dp.matmul(A, B, unit, C)
    general, _ = dp_api._matmul_general(unit, A, B, C)
    _same_bits(fast, general)
    _same_bits(dp.matmul(A, B, unit), dp_api._matmul_general(unit, A, B, None)[0])  # C absent

    def signed(x: float) -> Any:
        return Fraction(x) if x != 0 else float(x)

    for i in range(3):
        for j in range(2):
            want = _ref_f32_bits(
                unit,
                ref_dot.dot_code(
                    unit, [signed(x) for x in A[i]], [signed(y) for y in B[:, j]], -0.0
                ),
            )
            assert int(fast[i : i + 1, j].view(np.uint32)[0]) == want, (i, j)


# ---------------------------------------------------------------------------------------------
# fma-fp32: sequential IEEE FP32 fused multiply-add through float64 round-to-odd
# ---------------------------------------------------------------------------------------------
FMA = dp.get("fma-fp32")
#: FP32 corner values: signed zeros, the smallest subnormal, the largest subnormal, the smallest
#: normal, 1 and its neighbours, the largest finite value, Inf and NaN.
_FMA_CORNERS = np.array(
    [0.0, -0.0, 2.0**-149, -(2.0**-149), 2.0**-126 - 2.0**-149, 2.0**-126, 1.0, -1.0]
    + [1.0 + 2.0**-23, 1.0 - 2.0**-24, 2.0**64, -(2.0**-64), float(np.finfo(np.float32).max)]
    + [-float(np.finfo(np.float32).max), np.inf, -np.inf, np.nan]
)


def _fp32_codes(rng: np.random.Generator, shape: tuple[int, ...], finite: bool) -> np.ndarray:
    """Random FP32 bit patterns over every exponent (Inf / NaN become 0 when ``finite``)."""
    x = rng.integers(0, 2**32, size=shape, dtype=np.uint64).astype(np.uint32).view(np.float32)
    with np.errstate(invalid="ignore"):  # signaling-NaN patterns raise "invalid" as they widen
        x = x.astype(np.float64)
    if finite:
        x[~np.isfinite(x)] = 0.0
    return x


def _fma_catalog(rng: np.random.Generator, what: str, shape: tuple[int, int]) -> np.ndarray:
    """FP32 operand values for one catalog entry."""
    if what == "codes":  # every binade: products under- and overflow FP32, cancellation is rare
        return _fp32_codes(rng, shape, finite=True)
    if what == "specials":
        return rng.choice(_FMA_CORNERS, shape)
    if what == "cancel":  # exact zero sums, signed zeros
        return rng.choice(np.array([0.0, -0.0, 1.0, -1.0, 2.0**-149, 0.5]), shape)
    if what == "subnormal":  # products and sums below 2**-126
        return (rng.standard_normal(shape) * 2.0**-70).astype(np.float32).astype(np.float64)
    if what == "overflow":  # partial sums near 2**128
        vals = np.array([float(np.finfo(np.float32).max), -(2.0**127), 2.0**64, 1.5, 2.0**-30])
        return rng.choice(vals, shape)
    return (rng.standard_normal(shape) * 4).astype(np.float32).astype(np.float64)  # "normal"


def _fma_reference_bits(A: np.ndarray, B: np.ndarray, C: np.ndarray, i: int, j: int) -> int:
    """FP32 bits of output (i, j) from the Fraction reference (zeros and specials as floats)."""

    def v(x: float) -> Any:
        return Fraction(x) if x != 0 and np.isfinite(x) else float(x)

    code = ref_dot.dot_code(FMA, [v(x) for x in A[i]], [v(y) for y in B[:, j]], v(float(C[i, j])))
    return _ref_f32_bits(FMA, code)


@pytest.mark.parametrize("what", ["codes", "specials", "cancel", "subnormal", "overflow", "normal"])
def test_fma_fast_path_equals_general_and_reference(what: str) -> None:
    """``fma-fp32`` takes the float64 round-to-odd kernel; it equals the general kernel bit for bit
    on every catalog, and the Fraction reference on a sample of outputs."""
    assert dp_api._fma_fast_ok(FMA)
    rng = np.random.default_rng(sum(map(ord, what)))
    M, K, N = 9, 37, 11
    A = _fma_catalog(rng, what, (M, K))
    B = _fma_catalog(rng, what, (K, N))
    C = _c_matrix(rng, (M, N), specials=True)
    C[0] = -0.0
    fast = dp.matmul(A, B, FMA, C)
    general, _ = dp_api._matmul_general(FMA, A, B, C)
    _same_bits(fast, general)
    _same_bits(dp.matmul(A, B, FMA), dp_api._matmul_general(FMA, A, B, None)[0])  # C absent
    for i, j in [(0, 0), (1, 3), (4, 7), (8, 10)]:
        got = 0x7FC00000 if np.isnan(fast[i, j]) else int(fast[i : i + 1, j].view(np.uint32)[0])
        assert got == _fma_reference_bits(A, B, C, i, j), (what, i, j)


def test_fma_fast_path_rounds_once() -> None:
    """Hand derivation: ``c = 1 + 2**-23``, ``a * b = 2**-24 * (1 + 2**-23) * (1 - 2**-23) =
    2**-24 - 2**-70``. The exact ``c + a * b`` lies 2**-70 below the midpoint between
    ``1 + 2**-23`` and ``1 + 2**-22``, so one rounding gives ``1 + 2**-23`` (0x3F800001); rounding
    first to float64 lands on the midpoint and then ties to even, ``1 + 2**-22`` (0x3F800002)."""
    A = np.array([[(1.0 + 2.0**-23) * 2.0**-12]])
    B = np.array([[(1.0 - 2.0**-23) * 2.0**-12]])
    C = np.array([[1.0 + 2.0**-23]], np.float32)
    assert np.float32(C[0, 0] + A[0, 0] * B[0, 0]).view(np.uint32) == 0x3F800002  # two roundings
    assert dp.matmul(A, B, FMA, C).view(np.uint32)[0, 0] == 0x3F800001
    assert _fma_reference_bits(A, B, C, 0, 0) == 0x3F800001


def test_fma_fast_path_overflow_and_nan() -> None:
    """Hand derivations, C = 0 unless given: ``max + max`` is 2**129 - 2**105, above
    2**128 - 2**103 (the midpoint above FP32 max), so RNE overflows to +Inf; ``max - max`` is an
    exact zero, +0; ``Inf * 1 + 1`` is Inf; a NaN C stays NaN; ``Inf * 0`` is NaN; and the fused
    step ``-max + max * 2 = max`` stays finite although ``max * 2`` alone would overflow."""
    big = float(np.finfo(np.float32).max)
    A = np.array([[big, big], [big, -big], [np.inf, 1.0], [1.0, 1.0]])
    B = np.array([[1.0], [1.0]])
    C = np.array([[0.0], [0.0], [0.0], [np.nan]], np.float32)
    d = dp.matmul(A, B, FMA, C)
    assert d[0, 0] == np.inf and d[2, 0] == np.inf and np.isnan(d[3, 0])
    assert d[1:2, 0].view(np.uint32)[0] == 0  # +0
    assert np.isnan(dp.matmul(np.array([[np.inf, 0.0]]), np.array([[0.0], [1.0]]), FMA)[0, 0])
    fused = dp.matmul(np.array([[big]]), np.array([[2.0]]), FMA, np.array([[-big]], np.float32))
    assert fused[0, 0] == np.float32(big)


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    shape=st.tuples(st.integers(1, 5), st.integers(1, 40), st.integers(1, 5)),
)
def test_hypothesis_fma_fast_path(data: Any, shape: tuple[int, int, int]) -> None:
    """Any FP32 operands (subnormals, signed zeros, Inf, NaN): fast path == general kernel."""
    M, K, N = shape
    f32 = st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True)
    A = data.draw(hnp.arrays(np.float32, (M, K), elements=f32)).astype(np.float64)
    B = data.draw(hnp.arrays(np.float32, (K, N), elements=f32)).astype(np.float64)
    C = data.draw(hnp.arrays(np.float32, (M, N), elements=f32))
    _same_bits(dp.matmul(A, B, FMA, C), dp_api._matmul_general(FMA, A, B, C)[0])


# ---------------------------------------------------------------------------------------------
# (b2) the binary64 fused multiply-add chain (fma-fp64: _kernels.fma64, llvm.fma.f64 or, with
# NUMBA_DISABLE_JIT=1, its exact Python evaluation)
# ---------------------------------------------------------------------------------------------
FMA64 = dp.get("fma-fp64")
_MAX64 = float(np.finfo(np.float64).max)
_TINY64 = 2.0**-1074
#: FP64 corner values: signed zeros, the smallest and largest subnormals, the smallest normal,
#: 1 and its neighbours, FP32's range ends, the largest finite value, Inf and NaN.
_FMA64_CORNERS = np.array(
    [0.0, -0.0, _TINY64, -_TINY64, 2.0**-1022 - _TINY64, 2.0**-1022, 1.0, -1.0, 2.0]
    + [1.0 + 2.0**-52, 1.0 - 2.0**-53, -(1.0 + 2.0**-52), 2.0**-53, 2.0**-149, 2.0**128, 3.0]
    + [2.0**512, -(2.0**-512), _MAX64, -_MAX64, np.inf, -np.inf, np.nan]
)


def _bits64(x: Any) -> np.ndarray:
    """float64 bit patterns (uint64), every NaN as the canonical quiet NaN."""
    x = np.asarray(x, np.float64)
    return np.where(np.isnan(x), np.uint64(0x7FF8000000000000), x.view(np.uint64))


def _fma64_1(a: float, b: float, c: float) -> np.ndarray:
    """Bits of one ``fma-fp64`` step ``RNE_64(a * b + c)`` through ``matmul``."""
    d = dp.matmul(np.array([[a]]), np.array([[b]]), FMA64, np.array([[c]]))
    assert d.dtype == np.float64
    return _bits64(d)[0, 0]


def _ref64(a: list[float], b: list[float], c: float) -> int:
    """Bits of the Fraction reference's ``fma-fp64`` result (NaN canonical)."""

    def v(x: float) -> Any:
        return Fraction(x) if x != 0 and np.isfinite(x) else float(x)

    code = ref_dot.dot_code(FMA64, [v(x) for x in a], [v(y) for y in b], v(c))
    return int(_bits64(np.array([code], np.uint64).view(np.float64))[0])


def test_fma64_unit_is_the_fp64_twin_of_fma_fp32() -> None:
    """The preset is fma-fp32's description in binary64 (the validation admits it)."""
    assert FMA64 == replace(
        FMA,
        name="fma-fp64",
        in_format=F.fp64,
        out_format=F.fp64,
        c_format=F.fp64,
    )
    assert F.get("fp64") is F.fp64 and (F.fp64.emin, F.fp64.emax, F.fp64.man_bits) == (
        -1022,
        1023,
        52,
    )


def test_fma64_rounds_once() -> None:
    """Hand derivations. (1) ``(1 + 2**-52)(1 - 2**-52) = 1 - 2**-104``, so ``a * b - 1`` is
    exactly ``-2**-104`` (a binary64 value): the fused step gives it, while a rounded product is
    1 (the nearest binary64 of ``1 - 2**-104``) and then ``1 - 1 = 0``. (2) Double rounding:
    ``c = 1 + 2**-52`` and ``a * b = (1 + 2**-52) 2**-27 * (1 - 2**-52) 2**-26 = 2**-53 -
    2**-157``; the exact sum lies 2**-157 below the midpoint ``1 + 2**-52 + 2**-53`` between
    ``1 + 2**-52`` and ``1 + 2**-51``, so one rounding gives ``1 + 2**-52``; rounding the product
    first gives 2**-53, the sum is then the midpoint and ties to the even ``1 + 2**-51``."""
    a, b = 1.0 + 2.0**-52, 1.0 - 2.0**-52
    assert a * b - 1.0 == 0.0  # unfused: two roundings
    assert _fma64_1(a, b, -1.0) == np.float64(-(2.0**-104)).view(np.uint64)
    a, b, c = (1.0 + 2.0**-52) * 2.0**-27, (1.0 - 2.0**-52) * 2.0**-26, 1.0 + 2.0**-52
    assert c + a * b == 1.0 + 2.0**-51  # unfused
    assert _fma64_1(a, b, c) == np.float64(1.0 + 2.0**-52).view(np.uint64)
    assert _ref64([a], [b], c) == np.float64(1.0 + 2.0**-52).view(np.uint64)


def test_fma64_signed_zeros() -> None:
    """IEEE 754 §6.3: an exact zero sum is -0 only when both addends are -0 (the product's sign is
    the exclusive or of its factors'): ``(-0)(+1) + (-0) = -0``, ``(+0)(-1) + (-0) = -0``,
    ``(+0)(-1) + (+0) = +0``, ``(-0)(+1) + (+0) = +0``, ``1 * 1 + (-1) = +0``; a non-zero sum that
    underflows keeps its sign (``-2**-1076`` rounds to -0)."""
    neg, pos = np.uint64(1 << 63), np.uint64(0)
    assert _fma64_1(-0.0, 1.0, -0.0) == neg
    assert _fma64_1(0.0, -1.0, -0.0) == neg
    assert _fma64_1(0.0, -1.0, 0.0) == pos
    assert _fma64_1(-0.0, 1.0, 0.0) == pos
    assert _fma64_1(1.0, 1.0, -1.0) == pos
    assert _fma64_1(-(2.0**-538), 2.0**-538, 0.0) == neg
    # C absent is +0 (as fma-fp32's): (+0)(-1) + (+0) = +0; with C = -0 it is -0
    a, b = np.array([[0.0]]), np.array([[-1.0]])
    assert dp.matmul(a, b, FMA64).view(np.uint64)[0, 0] == pos
    assert dp.matmul(a, b, FMA64, -0.0).view(np.uint64)[0, 0] == neg


def test_fma64_subnormal_and_overflow() -> None:
    """Hand derivations. Subnormals: ``1.5 * 2**-537 * 2**-538 = 0.75 * 2**-1074`` rounds to the
    smallest subnormal 2**-1074; ``2**-1075`` is the midpoint between 0 and 2**-1074 and ties to
    even, +0; ``2**-1022 - 2**-1074`` (the largest subnormal) is exact. Overflow: ``max + 2**969``
    (a quarter ulp of max, 2**971) rounds back to max; ``max + 2**970`` is the midpoint between max
    (odd significand) and 2**1024 and ties to the even one, beyond the range: +Inf; the fused
    ``max * 2 - max = max`` stays finite although ``max * 2`` alone overflows."""
    assert _fma64_1(1.5 * 2.0**-537, 2.0**-538, 0.0) == np.uint64(1)
    assert _fma64_1(2.0**-537, 2.0**-538, 0.0) == np.uint64(0)
    assert _fma64_1(2.0**-1022, 1.0, -_TINY64) == np.float64(2.0**-1022 - _TINY64).view(np.uint64)
    max_bits = np.float64(_MAX64).view(np.uint64)
    assert _fma64_1(2.0**969, 1.0, _MAX64) == max_bits
    assert _fma64_1(2.0**970, 1.0, _MAX64) == np.float64(np.inf).view(np.uint64)
    assert _fma64_1(-(2.0**970), 1.0, -_MAX64) == np.float64(-np.inf).view(np.uint64)
    assert _fma64_1(_MAX64, 2.0, -_MAX64) == max_bits
    assert _ref64([_MAX64], [2.0], -_MAX64) == max_bits


def test_fma64_specials() -> None:
    """IEEE specials: ``Inf * 0`` is NaN, ``Inf - Inf`` is NaN, a NaN C stays NaN, ``Inf * 1 +
    1`` is +Inf, ``1 * 1 + (-Inf)`` is -Inf; once the chain holds Inf, a finite step keeps it."""
    nan = np.uint64(0x7FF8000000000000)
    assert _fma64_1(np.inf, 0.0, 1.0) == nan
    assert _fma64_1(np.inf, 1.0, -np.inf) == nan
    assert _fma64_1(1.0, 1.0, np.nan) == nan
    assert _fma64_1(np.inf, 1.0, 1.0) == np.float64(np.inf).view(np.uint64)
    assert _fma64_1(1.0, 1.0, -np.inf) == np.float64(-np.inf).view(np.uint64)
    d = dp.matmul(np.array([[_MAX64, _MAX64, -_MAX64]]), np.array([[1.0], [1.0], [1.0]]), FMA64)
    assert d[0, 0] == np.inf  # max + max = Inf; Inf - max = Inf


def test_fma64_chain_order_matters() -> None:
    """The chain runs k = 0 .. K - 1, one rounding per step. ``[1, 2**-53, 2**-53]`` (B = 1):
    ``1 + 2**-53`` is a tie and rounds to the even 1, twice: 1. Reversed, ``2**-53 + 2**-53 =
    2**-52`` is exact and ``2**-52 + 1 = 1 + 2**-52``. The exact sum is ``1 + 2**-52``."""
    ones = np.ones((3, 1))
    fwd = dp.matmul(np.array([[1.0, 2.0**-53, 2.0**-53]]), ones, FMA64)
    rev = dp.matmul(np.array([[2.0**-53, 2.0**-53, 1.0]]), ones, FMA64)
    assert fwd[0, 0] == 1.0 and rev[0, 0] == 1.0 + 2.0**-52
    assert dp.dot([2.0**-53, 2.0**-53, 1.0], [1.0, 1.0, 1.0], FMA64) == 1.0 + 2.0**-52


def test_fma64_narrow_operands_widen_exactly() -> None:
    """float32 (and float16) operands and C are widened exactly; results are float64."""
    rng = np.random.default_rng(64)
    A = rng.standard_normal((5, 7)).astype(np.float32)
    B = rng.standard_normal((7, 3)).astype(np.float16)
    C = rng.standard_normal((5, 3)).astype(np.float32)
    got = dp.matmul(A, B, FMA64, C)
    assert got.dtype == np.float64
    want = dp.matmul(A.astype(np.float64), B.astype(np.float64), FMA64, C.astype(np.float64))
    np.testing.assert_array_equal(_bits64(got), _bits64(want))
    d, over = dp.dot(A, B.T[:1], FMA64, 0.5, return_overflows=True)
    assert d.dtype == np.float64 and d.shape == (5,) and not over.any()


@pytest.mark.parametrize("what", ["corners", "cancel", "subnormal", "overflow", "normal"])
def test_fma64_matches_reference(what: str) -> None:
    """Every output of small catalogs, matmul and dot (broadcast rows), against the Fraction
    reference (numsim.reference.dot, which rounds with its own encoder)."""
    rng = np.random.default_rng(sum(map(ord, what)) + 64)
    M, K, N = 4, 6, 3

    def draw(shape: tuple[int, ...]) -> np.ndarray:
        if what == "corners":
            return rng.choice(_FMA64_CORNERS, shape)
        if what == "cancel":
            return rng.choice(np.array([0.0, -0.0, 1.0, -1.0, _TINY64, 0.5, 2.0**-53]), shape)
        if what == "subnormal":
            return rng.standard_normal(shape) * 2.0**-530
        if what == "overflow":
            return rng.choice(np.array([_MAX64, -_MAX64, 2.0**1000, 1.5, -(2.0**-30)]), shape)
        return rng.standard_normal(shape) * 2.0 ** rng.integers(-60, 60, shape)

    A, B, C = draw((M, K)), draw((K, N)), draw((M, N))
    got = _bits64(dp.matmul(A, B, FMA64, C))
    for i in range(M):
        for j in range(N):
            assert got[i, j] == _ref64(list(A[i]), list(B[:, j]), float(C[i, j])), (what, i, j)
    rows = _bits64(dp.dot(A[:, None, :], B.T[None, :, :], FMA64, C))
    np.testing.assert_array_equal(rows, got)


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    shape=st.tuples(st.integers(1, 3), st.integers(1, 8), st.integers(1, 3)),
)
def test_hypothesis_fma64_matches_reference(data: Any, shape: tuple[int, int, int]) -> None:
    """Any float64 operands (subnormals, signed zeros, Inf, NaN; half the draws from the corner
    catalog): ``fma-fp64`` == the Fraction reference, bit for bit."""
    M, K, N = shape
    f64 = st.one_of(
        st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
        st.sampled_from([float(x) for x in _FMA64_CORNERS]),
    )
    A = data.draw(hnp.arrays(np.float64, (M, K), elements=f64))
    B = data.draw(hnp.arrays(np.float64, (K, N), elements=f64))
    C = data.draw(hnp.arrays(np.float64, (M, N), elements=f64))
    got = _bits64(dp.matmul(A, B, FMA64, C))
    for i in range(M):
        for j in range(N):
            assert got[i, j] == _ref64(list(A[i]), list(B[:, j]), float(C[i, j]))


# ---------------------------------------------------------------------------------------------
# (c) roundings inside the general kernel: FP32 pairwise tree, late c (kul_round_at)
# ---------------------------------------------------------------------------------------------
def _f32_bits(x: Any) -> int:
    return int(np.asarray(x, np.float32).reshape(1).view(np.uint32)[0])


def test_mi210_pairwise_hand_derived() -> None:
    """The pairwise tree rounds every addition to FP32 (RNE), so the order of the products shows;
    products beyond FP32 are Inf; subnormal products and results flush. Answers derived by hand."""
    unit = dp.get("mi210-fp16")
    t = 2.0**-12  # t * t = 2**-24: half an FP32 ulp of 1
    # (1 + 2**-24) ties to 1; (2**-24 + 0) = 2**-24; 1 + 2**-24 ties to 1 again
    assert _f32_bits(unit.dot(np.array([1.0, t, t, 0.0]), np.array([1.0, t, t, 1.0]))) == 0x3F800000
    # (2**-24 + 2**-24) = 2**-23 is exact, 1 + 2**-23 too: the next FP32 number above 1
    assert _f32_bits(unit.dot(np.array([t, t, 1.0, 0.0]), np.array([t, t, 1.0, 1.0]))) == 0x3F800001
    # an exact unit gives 1 + 2**-23 for both orders (exact block sum, one rounding)
    exact = DotUnit("exact-fp16", F.fp16, 4, None, out_rounding="nearest_even")
    assert (
        _f32_bits(exact.dot(np.array([1.0, t, t, 0.0]), np.array([1.0, t, t, 1.0]))) == 0x3F800001
    )
    # mi100-fp16 is the same tree (MMA-Sim amd.py), subnormals kept: 1 again
    assert (
        _f32_bits(dp.get("mi100-fp16").dot(np.array([1.0, t, t, 0.0]), np.array([1.0, t, t, 1.0])))
        == 0x3F800000
    )
    # c joins after the tree: c = 1, products 2**-24 and 2**-24 sum to 2**-23 first
    assert (
        _f32_bits(unit.dot(np.array([t, t, 0.0, 0.0]), np.array([t, t, 0.0, 0.0]), np.float32(1.0)))
        == 0x3F800001
    )
    bf = dp.get("mi250x-bf16")
    big = 2.0**127  # bf16 value; big * big = 2**254 is beyond FP32: +Inf, and with -Inf, NaN
    assert np.isposinf(bf.dot(np.array([big, 1.0, 0.0, 0.0]), np.array([big, 1.0, 0.0, 0.0])))
    assert np.isnan(bf.dot(np.array([big, 0.0, big, 0.0]), np.array([big, 0.0, -big, 0.0])))
    # mi100-bf16 is a tree too (pairs): two overflowed products are +Inf and -Inf leaves, NaN
    assert np.isnan(dp.get("mi100-bf16").dot(np.array([big, big]), np.array([big, -big])))
    tiny = 2.0**-70  # tiny * tiny = 2**-140, an FP32 subnormal: flushed, the sum is +0
    assert _f32_bits(bf.dot(np.array([tiny, 0.0, 0.0, 0.0]), np.array([tiny, 0.0, 0.0, 0.0]))) == 0
    assert (
        _f32_bits(bf.dot(np.array([-tiny, 1.0, 0.0, 0.0]), np.array([tiny, 1.0, 0.0, 0.0])))
        == 0x3F800000
    )
    # two normal products whose sum 2**-125 - 1.5 * 2**-126 = 2**-127 is subnormal: that sum flushes
    lo = 2.0**-63
    a, b = np.array([2 * lo, -1.5 * lo, 0.0, 0.0]), np.array([lo, lo, 0.0, 0.0])
    assert _f32_bits(bf.dot(a, b)) == 0
    keep = DotUnit(
        "mi210-bf16-subnormals",
        F.bf16,
        4,
        None,
        c_inside=False,
        out_rounding="nearest_even",
        subnormals_in=False,
        pairwise=True,
    )
    assert _f32_bits(keep.dot(a, b)) == 0x00400000  # 2**-127 kept


def test_amd_pairwise_trees_hand_derived() -> None:
    """CDNA1 / CDNA2 trees (MMA-Sim ``amd.py``, ``pairwise_dot``): IEEE specials inside the tree,
    subnormals kept on MI100, IEEE signed zeros, and the block size of ``mi210-bf16-n2``. Derived
    by hand from IEEE 754 addition and the tree ``(p0 + p1) + (p2 + p3)``, c added last."""
    big = 2.0**127  # a BF16 value; big * big = 2**254 overflows FP32 to an Inf leaf
    for name in ("mi210-bf16", "mi210-bf16-n2", "mi100-bf16"):
        unit = dp.get(name)
        # c = +Inf meets the tree's -Inf (an overflowed product, not an Inf input): NaN
        assert np.isnan(
            unit.dot(np.array([big, 0.0, 0.0, 0.0]), np.array([-big, 0.0, 0.0, 0.0]), np.inf)
        )
        # an Inf input times a zero is a NaN leaf
        assert np.isnan(unit.dot(np.array([np.inf, 1.0]), np.array([0.0, 1.0])))
    m1 = dp.get("mi100-bf16")
    tiny = 2.0**-70  # tiny * tiny = 2**-140 = 2**9 FP32 subnormal ulps: kept on MI100
    assert _f32_bits(m1.dot(np.array([tiny, 0.0]), np.array([tiny, 0.0]))) == 0x00000200
    assert _f32_bits(m1.dot(np.array([-tiny, 0.0]), np.array([tiny, 0.0]))) == 0x80000200
    # -2**-200 rounds to -0; -0 + -0 = -0 in the tree and with c = -0 (IEEE 754 section 6.3)
    u = 2.0**-100
    assert _f32_bits(m1.dot(np.array([-u, -u]), np.array([u, u]), np.float32(-0.0))) == 0x80000000
    # an exactly zero product is +0 whatever its sign (fma(a, b, +0)): +0 + -0 = +0
    assert _f32_bits(m1.dot(np.array([-1.0, 0.0]), np.array([0.0, 1.0]), np.float32(-0.0))) == 0
    # pairs vs quads: c = 1 and products 2**-24, 0, 2**-24, 0. Pairs: 1 + 2**-24 ties to 1, twice;
    # quads: the tree makes 2**-23 first and 1 + 2**-23 is exact
    t = 2.0**-12
    a = np.array([t, 0.0, t, 0.0])
    assert _f32_bits(dp.get("mi210-bf16-n2").dot(a, a, np.float32(1.0))) == 0x3F800000
    assert _f32_bits(dp.get("mi210-bf16").dot(a, a, np.float32(1.0))) == 0x3F800001


def test_mi300_late_c_truncates_the_smaller_partial() -> None:
    """A late c (``c_inside=False`` without ``late_frac_bits``: the rule the MI300 presets had
    before they followed MMA-Sim) is added after the product sum, the smaller partial truncated
    onto the larger one's grid 2**(e - 24); RNE then sees a tie where the exact sum has a sticky
    bit. Derived by hand."""
    unit = DotUnit(
        "late-smaller-partial", F.fp16, 8, 24, c_inside=False, out_rounding="nearest_even"
    )
    a = np.array([2.0**-12, 2.0**-15] + [0.0] * 6)  # products 2**-24 and 2**-30
    for sign in (1.0, -1.0):
        # S = 2**-24 + 2**-30 < c = 1: S on the grid 2**-24 is 2**-24, 1 + 2**-24 ties to 1
        assert unit.dot(sign * a, a, np.float32(sign)) == sign
        # exact late addition (exact block sum with c) rounds 1 + 2**-24 + 2**-30 up
        exact = DotUnit("exact-fp16", F.fp16, 4, None, out_rounding="nearest_even")
        assert exact.dot(sign * a[:4], a[:4], np.float32(sign)) == np.float32(sign * (1 + 2.0**-23))
    # the other way round: S = 1 (one product) > c = 2**-24 + 2**-30: c on the grid 2**-24, a tie
    one = np.array([1.0] + [0.0] * 7)
    assert unit.dot(one, one, np.float32(2.0**-24 + 2.0**-30)) == 1.0
    # the larger partial is kept whole: S = 2 + 2**-24 (eta = 0, a carry to 2**1) keeps its bit
    # below 2**(1 - 24); c = 2**-23 is on that grid; 2 + 3 * 2**-24 rounds up to 2 + 2**-22
    # (truncating S too would leave 2 + 2**-23, a tie that rounds to 2)
    s = np.array([1.0, 1.0, 2.0**-12, 0, 0, 0, 0, 0])
    assert unit.dot(s, s, np.float32(2.0**-23)) == np.float32(2 + 2.0**-22)


def _round_int(x: Fraction, pos: int, mode: str) -> Fraction:
    """``x`` rounded to a multiple of ``2**pos`` in magnitude (sign kept), by hand: truncation
    drops the low part; nearest-even adds one unit when the low part is above half a unit, or
    exactly half with an odd kept part."""
    unit = Fraction(2) ** pos
    q, low = divmod(abs(x), unit)  # q: kept units, low: dropped part, 0 <= low < unit
    if mode == "nearest_even" and (2 * low > unit or (2 * low == unit and q % 2 == 1)):
        q += 1
    return q * unit if x >= 0 else -q * unit


def test_kul_round_at_is_integer_rounding() -> None:
    """kulisch.kul_round_at (a late c's rounding of the block sum, in the Kulisch accumulator; its
    twin for an int64 partial is dotbase._place through core.split_round) equals rounding the
    exact total by hand: random sums of terms of both signs (carries and borrows across limbs),
    ties with and without a sticky bit far below, grids above the total and below its lowest bit."""
    from numsim._kernels.core import NEAREST_EVEN, TOWARD_ZERO
    from numsim._kernels.kulisch import (
        KUL_LIMBS,
        KUL_LO,
        KUL_SIZE,
        kul_add,
        kul_clear,
        kul_norm,
        kul_round_at,
    )

    modes = {"nearest_even": NEAREST_EVEN, "toward_zero": TOWARD_ZERO}
    rng = random.Random(20261204)
    k = np.empty(KUL_SIZE, np.int64)
    for trial in range(1500):
        pos = rng.randint(-300, 300)
        terms = []  # (sign, mag, lsb) with 0 <= mag < 2**62
        for _ in range(rng.randint(1, 4)):
            terms.append(
                (
                    rng.randint(0, 1),
                    rng.getrandbits(rng.randint(1, 62)),
                    pos + rng.randint(-120, 60),
                )
            )
        if trial % 3 == 0:  # a tie: an odd or even number of units plus exactly half a unit ...
            s = rng.randint(0, 1)
            terms = [(s, rng.getrandbits(40), pos), (s, 1, pos - 1)]
            if trial % 2:  # ... and a sticky bit far below, of either sign
                terms.append((rng.randint(0, 1), 1, pos - rng.randint(2, 200)))
        exact = sum((Fraction(-m if s else m) * Fraction(2) ** e for s, m, e in terms), Fraction(0))
        for name, mode in modes.items():
            kul_clear(k)
            for s, m, e in terms:
                kul_add(k, s, m, e)
            sign, _ = kul_norm(k)
            kul_round_at(k, pos, sign, mode)
            got = sum(
                (Fraction(int(k[j])) * Fraction(2) ** (KUL_LO + 32 * j) for j in range(KUL_LIMBS)),
                Fraction(0),
            )
            assert got == _round_int(exact, pos, name), (terms, pos, name)


# ---------------------------------------------------------------------------------------------
# (c) MX DotGeneral fast paths (numsim.datapath.mx, numsim._kernels.mxdot) == the general kernel
#     and the Fraction reference
# ---------------------------------------------------------------------------------------------
from hypothesis import HealthCheck
from test_datapath import _ref_scales

from numsim.datapath import mx as dp_mx
from numsim.reference import codec as ref_codec


def _mx_operand(
    rng: np.random.Generator, fmt: F.BlockFormat, rows: int, K: int, mode: str, axis: int
) -> numsim.BlockArray:
    """A BlockArray of ``rows`` rows of K elements from codes: ``mode`` "bits" (every finite
    element code, 10 % zeros) or "normal" (N(0, 1) values encoded); scale codes near 2**0
    ("narrow") or over the whole scale range (E8M0 0-254 with 2**-127 and 2**127; UE4M3 0-126
    with zero and subnormal scales) with ``mode`` "wide"; random microexponents."""
    nb = -(-K // fmt.block_size)
    if mode == "normal":
        x = rng.standard_normal((rows, K)).astype(np.float32)
        blk = numsim.encode(x if axis == 1 else x.T.copy(), fmt, axis=axis)
        codes, scales, micro = blk.codes, blk.scales, blk.micro
    else:
        elem = fmt.element
        table = numsim.decode(np.arange(1 << elem.total_bits, dtype=np.uint8), elem)
        finite = np.flatnonzero(np.isfinite(table)).astype(np.uint8)
        codes = rng.choice(finite, (rows, nb, fmt.block_size))
        codes[rng.random(codes.shape) < 0.1] = 0
        if fmt.scale.name == "e8m0":
            top = 255 if mode == "wide" else 130
            scales = rng.integers(0 if mode == "wide" else 124, top, (rows, nb))
        else:
            scales = (
                rng.integers(0, 127, (rows, nb))
                if mode == "wide"
                else rng.integers(0x30, 0x48, (rows, nb))
            )
        micro = None
        if fmt.sub_block_size:
            micro = rng.integers(0, 2, (rows, nb, fmt.block_size // fmt.sub_block_size))
            micro = micro.astype(np.uint8)
    shape = (rows, nb * fmt.block_size) if axis == 1 else (nb * fmt.block_size, rows)
    return numsim.BlockArray(
        codes.astype(np.uint8),
        scales.astype(np.uint8),
        fmt,
        axis,
        shape,
        micro=micro,
        tensor_scale=1.0 if fmt.tensor_scale else None,
    )


def _mx_general(unit: DotUnit, A: Any, B: Any, C: Any) -> np.ndarray:
    """mx_matmul on the general kernel (row pairs, no fast path)."""
    M, N = A.shape[0], B.shape[1]
    ra = np.repeat(np.arange(M, dtype=np.int64), N)
    rb = np.tile(np.arange(N, dtype=np.int64), M)
    out, _ = dp_mx._dispatch(unit, A, B, ra, rb, C, (M, N), "C")
    return out


def _mx_reference(unit: DotUnit, A: Any, B: Any, C: np.ndarray, i: int, j: int) -> int:
    """FP32 bits of the Fraction reference for output (i, j)."""
    a = [ref_codec.decode(A.format.element, int(c)) for c in A.codes[i].reshape(-1)]
    b = [ref_codec.decode(B.format.element, int(c)) for c in B.codes[j].reshape(-1)]
    sa, sb = _ref_scales(A)[i], _ref_scales(B)[j]
    scale = A.format.scale
    semin = scale.emin if not scale.field0_normal else -(1 << 20)
    own = unit.element_exponents == "own"
    c = float(C[i, j])
    code, _ = ref_dot.dot_result(
        unit,
        a,
        b,
        Fraction(c) if np.isfinite(c) else c,
        sa,
        sb,
        semin,
        a_emin=A.format.element.emin if own else None,
        b_emin=B.format.element.emin if own else None,
    )
    return _ref_f32_bits(unit, code)


#: (operand format, unit, path): every MX unit of the benchmark and a few more.
MX_FAST = [
    ("mxfp8_e4m3", "b200-mxf8f6f4", "chain"),
    ("mxfp8_e5m2", "b200-mxf8f6f4", "chain"),
    ("mxfp6_e3m2", "b200-mxf8f6f4", "chain"),
    ("mxfp4_e2m1", "b200-mxf8f6f4", "chain"),
    ("mxfp4_e2m1", "b200-e4m3", "chain"),
    ("nvfp4", "h100-e4m3", "chain"),
    ("mxfp4_e2m1", "b200-mxf4nvf4", "group"),
    ("nvfp4", "b200-mxf4nvf4", "group"),
    ("mxfp8_e4m3", "ocp-mx-exact", "blas"),
    ("mxfp8_e4m3", "ocp-mx-fp32acc", "blas"),
    ("mxfp8_e4m3", "mxdotp", "blas"),
    ("mxfp4_e2m1", "ocp-mx-exact", "blas"),
    ("nvfp4", "ocp-mx-exact", "blas"),
    ("mx9", "ocp-mx-exact", "blas"),
    ("mx6", "ocp-mx-exact", "blas"),
    ("mx4", "mxdotp", "blas"),
]


def _fast_taken(unit: DotUnit, path: str, A: Any, B: Any, C: np.ndarray) -> np.ndarray:
    """The fast path's result, asserting that it is taken."""
    if path == "group":
        return dp.mx_matmul(A, B, unit, C)  # the grouped units have one kernel for GEMMs
    if path == "chain":
        a = dp_mx._float_operand(A, unit)
        assert dp_mx._chain_fast_ok(unit, a[3])
    cbits = dp_mx.c_bits(C, (A.shape[0], B.shape[1]), "C")
    if path == "blas":
        fast = dp_mx._blas_blocks(unit, A, B, cbits)
        assert fast is not None, "the BLAS path refused"
        return fast
    out = dp.mx_matmul(A, B, unit, C)
    return out


@pytest.mark.parametrize("mode", ["normal", "bits", "wide"])
@pytest.mark.parametrize("fmt_name,unit_name,path", MX_FAST)
def test_mx_fast_paths_equal_general_and_reference(
    fmt_name: str, unit_name: str, path: str, mode: str
) -> None:
    """Fast == general kernel on every output, == the reference on a sample. "wide" scales
    spread the block exponents over the whole scale range (the BLAS path then takes its
    per-slice GEMMs, or refuses when a slice cannot sum exactly)."""
    fmt, unit = F.get(fmt_name), dp.get(unit_name)
    rng = np.random.default_rng(sum(map(ord, fmt_name + unit_name + mode)))
    M, N, K = 9, 7, 4 * 64 + 32
    A = _mx_operand(rng, fmt, M, K, mode, 1)
    B = _mx_operand(rng, fmt, N, K, mode, 0)
    C = _c_matrix(rng, (M, N), specials=path != "group")
    general = _mx_general(unit, A, B, C)
    if path == "blas" and mode != "normal":
        fast = dp_mx._blas_blocks(unit, A, B, dp_mx.c_bits(C, (M, N), "C"))
        if fast is None:  # refused (a slice too wide for float64): the general kernel ran
            _same_bits(dp.mx_matmul(A, B, unit, C), general)
            return
    else:
        fast = _fast_taken(unit, path, A, B, C)
    _same_bits(fast, general)
    _same_bits(dp.mx_matmul(A, B, unit, C), general)
    for i, j in [(0, 0), (M - 1, N - 1), (M // 2, 1)]:
        assert int(general[i, j].view(np.uint32)) == _mx_reference(unit, A, B, C, i, j) or (
            np.isnan(general[i, j])
        ), (i, j)


def test_mx_blas_per_slice_path_is_taken_and_exact() -> None:
    """Scales 2**-60 and 2**60 on alternate rows defeat the whole-operand proof; the per-slice
    GEMMs (unscaled elements, exact powers of two) and ``exact_total`` still give the general
    kernel's results, including a total that cancels to a value far below its terms."""
    unit, fmt = dp.get("ocp-mx-exact"), F.get("mxfp8_e4m3")
    rng = np.random.default_rng(7)
    A = _mx_operand(rng, fmt, 6, 96, "normal", 1)
    B = _mx_operand(rng, fmt, 5, 96, "normal", 0)
    A.scales[::2] = 127 + 60
    A.scales[1::2] = 127 - 60
    A.codes[0, 1] = A.codes[0, 0] ^ 0x80  # block 1 of row 0 cancels block 0 of row 0 ...
    A.scales[0, 1] = A.scales[0, 0]
    A.codes[0, 2] = 0
    A.codes[0, 2, 0] = 0x01  # ... and block 2 holds one tiny element under a tiny scale
    A.scales[0, 2] = 1
    B.codes[:, 1] = B.codes[:, 0]
    Ad = numsim.decode(A)
    Bd = numsim.decode(B)
    assert not dp_api._blas_exact_ok(unit, Ad.astype(np.float64), Bd.astype(np.float64))
    C = np.zeros((6, 5), np.float32)
    fast = dp_mx._blas_blocks(unit, A, B, dp_mx.c_bits(C, (6, 5), "C"))
    assert fast is not None
    general = _mx_general(unit, A, B, C)
    _same_bits(fast, general)
    for j in range(5):
        assert int(general[0, j].view(np.uint32)) == _mx_reference(unit, A, B, C, 0, j)


def test_mx_fast_specials_fall_back_or_agree() -> None:
    """NaN scales (E8M0 0xFF) and Inf / NaN elements (E5M2): every path gives the general
    kernel's NaN / Inf."""
    rng = np.random.default_rng(11)
    for unit in (dp.get("b200-mxf8f6f4"), dp.get("ocp-mx-exact"), dp.get("ocp-mx-fp32acc")):
        fmt = F.get("mxfp8_e5m2")
        A = _mx_operand(rng, fmt, 4, 64, "normal", 1)
        B = _mx_operand(rng, fmt, 3, 64, "normal", 0)
        A.scales[1, 0] = 0xFF
        A.codes[2, 1, 3] = 0x7C  # +Inf
        B.codes[2, 0, 5] = 0x7F  # NaN
        C = _c_matrix(rng, (4, 3), specials=True)
        general = _mx_general(unit, A, B, C)
        _same_bits(dp.mx_matmul(A, B, unit, C), general)
        assert np.isnan(general[1]).all() and np.isnan(general[:, 2]).all()


#: Element format pairs of ``kind::mxf8f6f4`` (A x B, mixed ones included).
CHAIN_PAIRS = [
    ("mxfp8_e4m3", "mxfp8_e4m3"),
    ("mxfp8_e5m2", "mxfp4_e2m1"),
    ("mxfp6_e3m2", "mxfp6_e2m3"),
    ("mxfp4_e2m1", "mxfp8_e4m3"),
]


def _mx_matmul_and_reference_agree(unit: Any, A: Any, B: Any, C: np.ndarray, general: Any) -> None:
    """``mx_matmul`` (whatever path it takes) equals the general kernel's ``general`` bit for
    bit, and the general kernel equals the Fraction reference on four sampled outputs."""
    M, N = general.shape
    _same_bits(dp.mx_matmul(A, B, unit, C), general)
    for i, j in [(0, 0), (1, N - 1), (2, 3), (M - 1, 2)]:
        assert int(general[i, j].view(np.uint32)) == _mx_reference(unit, A, B, C, i, j) or (
            np.isnan(general[i, j])
        ), (i, j)


@pytest.mark.parametrize("mode", ["normal", "bits", "wide"])
@pytest.mark.parametrize("fa,fb", CHAIN_PAIRS)
def test_mx_chain_lanes_path_equals_general(fa: str, fb: str, mode: str) -> None:
    """``b200-mxf8f6f4`` on the lane kernel (``mx._chain_lanes``: scaled MX operands through
    ``fastdot.chain_lanes_f32``) == the general kernel on every output and the reference on a
    sample, with C's catalog of :func:`_c_matrix` (zeros, FP32 subnormals, near-max values, Inf,
    NaN), large and tiny c rows, and "wide" scales over the whole E8M0 range; ``mx_matmul``
    takes this path."""
    unit = dp.get("b200-mxf8f6f4")
    rng = np.random.default_rng(sum(map(ord, "lanes" + fa + fb + mode)))
    M, N, K = 8, 7, 3 * 32 + 5  # K padded to whole blocks
    A = _mx_operand(rng, F.get(fa), M, K, mode, 1)
    B = _mx_operand(rng, F.get(fb), N, K, mode, 0)
    C = _c_matrix(rng, (M, N), specials=True)
    C[0] = np.float32(2.0**20) * rng.standard_normal(N).astype(np.float32)
    C[1] = np.float32(2.0**-20) * rng.standard_normal(N).astype(np.float32)
    a = dp_mx._float_operand(A, unit)
    b = dp_mx._float_operand(B, unit)
    assert dp_mx._chain_lanes_ok(unit, a[:3], b[:3])
    fast = dp_mx._chain_lanes(unit, a[:3], b[:3], a[3], dp_mx.c_bits(C, (M, N), "C"))
    general = _mx_general(unit, A, B, C)
    _same_bits(fast, general)
    _mx_matmul_and_reference_agree(unit, A, B, C, general)


@pytest.mark.parametrize("mode", ["normal", "bits", "wide"])
@pytest.mark.parametrize("fa,fb", CHAIN_PAIRS)
def test_mx_chain_blas_path_equals_general(fa: str, fb: str, mode: str) -> None:
    """``b200-mxf8f6f4`` from float64 block sums (``mx._chain_blas``) == the general kernel on
    every output and the reference on a sample. C holds the catalog of :func:`_c_matrix` (zeros,
    FP32 subnormals, near-max values, Inf, NaN) and rows of values 2**20 and 2**-20 times the
    products' size, so that blocks take both branches of ``mxdot.chain_blocks``: the exact sum
    (nothing truncated) and the chain kernel (c's grid truncates small products, or c itself
    is cut by a larger product)."""
    unit = dp.get("b200-mxf8f6f4")
    rng = np.random.default_rng(sum(map(ord, fa + fb + mode)))
    M, N, K = 8, 7, 4 * 32
    A = _mx_operand(rng, F.get(fa), M, K, mode, 1)
    B = _mx_operand(rng, F.get(fb), N, K, mode, 0)
    C = _c_matrix(rng, (M, N), specials=True)
    C[0] = np.float32(2.0**20) * rng.standard_normal(N).astype(np.float32)
    C[1] = np.float32(2.0**-20) * rng.standard_normal(N).astype(np.float32)
    C[2] = np.float32(np.pi)
    a = dp_mx._float_operand(A, unit)
    b = dp_mx._float_operand(B, unit)
    cbits = dp_mx.c_bits(C, (M, N), "C")
    fast = dp_mx._chain_blas(unit, A, B, a[:3], b[:3], a[3], cbits)
    general = _mx_general(unit, A, B, C)
    # E5M2 blocks of every code span 2**-16 .. 2**16, more than a slice's float64 budget
    if mode == "normal" or (mode == "bits" and "e5m2" not in fa + fb):
        assert fast is not None, "the chain BLAS path refused"
    if fast is not None:
        _same_bits(fast, general)
    _mx_matmul_and_reference_agree(unit, A, B, C, general)


def test_mx_chain_blas_truncation_hand_derived() -> None:
    """One block of 32 E4M3 products under unit scales on ``b200-mxf8f6f4`` (F = 25): a = [1,
    2**-9, 0, ...] and b = [1, 1, 0, ...] with c = 2**20. The alignment maximum is c's exponent
    20, the grid 2**(20 - 25) = 2**-5: the product 2**-9 truncates to 0, so the result is
    RZ(2**20 + 1) = 2**20 + 1 (exact in FP32); with c = 2**10 the grid is 2**-15 and the result
    RZ(2**10 + 1 + 2**-9) = 2**10 + 1 (FP32 keeps 2**-13 at 2**10: 2**-9 stays, so it is
    2**10 + 1 + 2**-9). Both from the BLAS path, the general kernel and by hand."""
    unit = dp.get("b200-mxf8f6f4")
    fmt = F.get("mxfp8_e4m3")
    x = np.zeros((1, 32), np.float32)
    x[0, :2] = [1.0, 2.0**-9]
    y = np.zeros((32, 1), np.float32)
    y[:2, 0] = [1.0, 1.0]
    A = numsim.encode(x, fmt, axis=1)
    B = numsim.encode(y, fmt, axis=0)
    assert numsim.decode(A)[0, 1] == 2.0**-9  # the smallest E4M3 subnormal under scale 2**0
    for c, want in [(2.0**20, 2.0**20 + 1), (2.0**10, 2.0**10 + 1 + 2.0**-9)]:
        C = np.full((1, 1), c, np.float32)
        a = dp_mx._float_operand(A, unit)
        b = dp_mx._float_operand(B, unit)
        fast = dp_mx._chain_blas(unit, A, B, a[:3], b[:3], a[3], dp_mx.c_bits(C, (1, 1), "C"))
        assert fast is not None
        assert fast[0, 0] == np.float32(want)
        _same_bits(fast, _mx_general(unit, A, B, C))


@pytest.mark.parametrize("mode", ["normal", "bits", "wide"])
@pytest.mark.parametrize("fmt_name", ["mxfp4_e2m1", "nvfp4", "mxfp6_e3m2"])
def test_mx_group_blas_path_equals_general(fmt_name: str, mode: str) -> None:
    """``b200-mxf4nvf4`` from BLAS group sums (``mx._group_blas``, ``mxdot.group_blocks``) ==
    the row-pair kernel (``group_rows``, held to the reference) on every output and the
    reference on a sample. K = 160 leaves a last block of two groups; C holds the catalog of
    :func:`_c_matrix` (Inf, NaN, FP32 subnormals, near-max values) and rows of 2**30 and
    2**-30 times the terms' size (c's grid truncates the terms, or a term cuts c); a NaN scale
    and a zero scale; "wide" scales spread the groups' exponents so that terms truncate one
    another. Both branches of ``group_blocks`` run: the exact float64 sum and
    ``_group_block``."""
    unit, fmt = dp.get("b200-mxf4nvf4"), F.get(fmt_name)
    rng = np.random.default_rng(sum(map(ord, fmt_name + mode)))
    M, N, K = 8, 7, 160
    A = _mx_operand(rng, fmt, M, K, mode, 1)
    B = _mx_operand(rng, fmt, N, K, mode, 0)
    nan_scale = 0xFF if fmt.scale.name == "e8m0" else 0x7F
    A.scales[3, 1] = nan_scale
    B.scales[4, 2] = 0
    C = _c_matrix(rng, (M, N), specials=True)
    C[0] = np.float32(2.0**30) * rng.standard_normal(N).astype(np.float32)
    C[1] = np.float32(2.0**-30) * rng.standard_normal(N).astype(np.float32)
    calls = []
    orig = dp_mx._group_blas

    def spy(*args: Any) -> Any:
        out = orig(*args)
        calls.append(out is not None)
        return out

    dp_mx._group_blas = spy
    try:
        fast = dp.mx_matmul(A, B, unit, C)
    finally:
        dp_mx._group_blas = orig
    # FP6 E3M2 terms need up to 51 bits each on the grid: the sum check refuses (group_matmul)
    assert calls == [fmt_name != "mxfp6_e3m2"], "the group BLAS path refused or was taken"
    general = _mx_general(unit, A, B, C)
    _same_bits(fast, general)
    assert np.isnan(general[3]).all()
    for i, j in [(0, 0), (1, N - 1), (2, 4), (M - 1, 2)]:
        assert int(general[i, j].view(np.uint32)) == _mx_reference(unit, A, B, C, i, j) or (
            np.isnan(general[i, j])
        ), (i, j)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=st.sampled_from(MX_FAST),
    seed=st.integers(0, 2**32 - 1),
    mode=st.sampled_from(["normal", "bits", "wide"]),
    shape=st.tuples(st.integers(1, 5), st.integers(1, 4), st.integers(1, 3)),
)
def test_hypothesis_mx_fast_paths(case: tuple[str, str, str], seed: int, mode: str, shape: Any):
    """Random formats, units, shapes (K of 1-3 units of 64 elements, padded) and operand modes:
    mx_matmul (fast where it applies) == the general kernel == the reference at (0, 0)."""
    fmt_name, unit_name, _ = case
    fmt, unit = F.get(fmt_name), dp.get(unit_name)
    rng = np.random.default_rng(seed)
    M, N, kb = shape
    K = 64 * kb - int(rng.integers(0, 16))
    A = _mx_operand(rng, fmt, M, K, mode, 1)
    B = _mx_operand(rng, fmt, N, K, mode, 0)
    C = _c_matrix(rng, (M, N), specials=False)
    general = _mx_general(unit, A, B, C)
    _same_bits(dp.mx_matmul(A, B, unit, C), general)
    assert int(general[0, 0].view(np.uint32)) == _mx_reference(unit, A, B, C, 0, 0) or np.isnan(
        general[0, 0]
    )


# (e) integer register units: float64 BLAS where the register cannot overflow (_lower.int_matmul)

INT_GEMM_UNITS = [
    dp.get("int8-acc32"),
    dp.get("int8-acc16"),
    dp.get("int8-acc16-sat"),
    dp.get("int8-acc20"),
    dp.get("int8-acc20-sat"),
    DotUnit("int8-blocks-sat", F.int8, 4, None, accumulator=ACC.integer(18, "saturate")),
]


def _int_catalog(rng: np.random.Generator, K: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of A and columns of B: the extremes (every product +-2**14), alternating signs that
    overflow and come back, zeros, small values (registers that never overflow) and random int8."""
    alt = np.resize([-128.0, 127.0], K)
    rows = [
        np.full(K, -128.0),
        np.full(K, 127.0),
        alt,
        np.zeros(K),
        rng.integers(-3, 4, K).astype(np.float64),
        rng.integers(-128, 128, K).astype(np.float64),
        rng.integers(-20, 21, K).astype(np.float64),
    ]
    cols = [np.full(K, -128.0), np.full(K, 127.0), np.resize([127.0, -128.0], K), np.ones(K)] + [
        rng.integers(-128, 128, K).astype(np.float64) for _ in range(3)
    ]
    return np.array(rows), np.array(cols).T


def _int_general(unit: DotUnit, A: np.ndarray, B: np.ndarray, C: Any) -> tuple[Any, Any]:
    """The register kernel on every output (no BLAS)."""
    M, N = A.shape[0], B.shape[1]
    ra = np.repeat(np.arange(M, dtype=np.int64), N)
    rb = np.tile(np.arange(N, dtype=np.int64), M)
    return dp_lower.run(unit, A, np.ascontiguousarray(B.T), ra, rb, C, (M, N), cname="C")


@pytest.mark.parametrize("K", [1, 5, 64, 300])
@pytest.mark.parametrize("unit", INT_GEMM_UNITS, ids=str)
def test_int_gemm_path_equals_register_kernel_and_reference(unit: DotUnit, K: int) -> None:
    """Values and overflow counts of the BLAS path == the register kernel == the Fraction
    reference, on outputs that overflow (adversarial rows) and outputs that cannot, from c = 0 and
    from starts at the register's edges."""
    assert dp_lower.int_gemm_ok(unit, np.zeros((1, K)), np.zeros((K, 1)))
    rng = np.random.default_rng(K + sum(map(ord, unit.name)))
    A, B = _int_catalog(rng, K)
    M, N = A.shape[0], B.shape[1]
    lim = 2 ** (unit.accumulator.bits - 1)
    C = rng.integers(-lim, lim, (M, N)).astype(np.float64)
    C[0, :2], C[1, :2] = lim - 1, -lim
    C[2, :] = 0.0
    for c in (None, C):
        got, over = dp.matmul(A, B, unit, c, return_overflows=True)
        want, want_over = _int_general(unit, A, B, c)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(over, want_over)
        for i in range(M):
            for j in range(N):
                ci = Fraction(0) if c is None else Fraction(int(c[i, j]))
                ref, ref_over = ref_dot.dot_result(
                    unit, [Fraction(int(x)) for x in A[i]], [Fraction(int(y)) for y in B[:, j]], ci
                )
                assert float(got[i, j]) == float(ref), (i, j)
                assert int(over[i, j]) == ref_over, (i, j)
    if unit.accumulator.bits < 2 * 8 + K.bit_length():  # narrow registers: some outputs overflow
        assert over.any() and not over.all()


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(
    data=st.data(),
    P=st.integers(2, 40),
    sat=st.booleans(),
    n=st.sampled_from([1, 2, 4]),
    shape=st.tuples(st.integers(1, 6), st.integers(1, 80), st.integers(1, 6)),
    hi=st.sampled_from([1, 8, 128]),
)
def test_int_gemm_path_hypothesis(
    data: Any, P: int, sat: bool, n: int, shape: Any, hi: int
) -> None:
    """Random widths, group sizes and operand ranges (small ranges: registers that rarely
    overflow; full int8: most overflow): BLAS path == register kernel, values and counts."""
    M, K, N = shape
    unit = DotUnit(
        "int8-h", F.int8, n, None, accumulator=ACC.integer(P, "saturate" if sat else "wrap")
    )
    elems = st.integers(-min(hi, 128), min(hi, 127)).map(float)
    A = data.draw(hnp.arrays(np.float64, (M, K), elements=elems))
    B = data.draw(hnp.arrays(np.float64, (K, N), elements=elems))
    lim = 2 ** (P - 1)
    C = data.draw(hnp.arrays(np.float64, (M, N), elements=st.integers(-lim, lim - 1).map(float)))
    got, over = dp.matmul(A, B, unit, C, return_overflows=True)
    want, want_over = _int_general(unit, A, B, C)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(over, want_over)


# ---------------------------------------------------------------------------------------------
# AMD matrix-core fast paths (_kernels/amdfast.py): pairwise FP32 trees and CDNA3 late c
# ---------------------------------------------------------------------------------------------
AMD_FAST = [
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
    "mi300-e4m3fnuzxe5m2fnuz",
    "mi300-e5m2fnuzxe4m3fnuz",
]


def _amd_operands(unit: DotUnit, finite: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """``A`` [R, K], ``B`` [K, R] and ``C`` [R, R] from the random and corner rows of
    ``test_datapath.cases`` (row ``i`` of A with column ``i`` of B and ``C[i, i]`` is case ``i``;
    the other entries pair rows of different cases); with ``finite``, the cases without NaN or
    Inf operands."""
    from test_datapath import _as_f64, cases

    cs = cases(unit, seed=sum(map(ord, unit.name)) + 7)
    if finite:
        cs = [t for t in cs if all(np.isfinite(_as_f64(t[0]))) and all(np.isfinite(_as_f64(t[1])))]
    A = np.array([_as_f64(a) for a, _, _ in cs])
    B = np.array([_as_f64(b) for _, b, _ in cs]).T
    c = np.array([float(t[2]) for t in cs], np.float32)
    C = np.tile(c[:, None], (1, len(cs)))
    return A, np.ascontiguousarray(B), C, cs


#: Late units outside ``late_matmul_f32`` (RZ result, nearest-even terms, flushed results with
#: FP16 output): they take ``amdfast.late_matmul``, the general kernel's block function.
AMD_LATE_OTHERS = [
    replace(dp.get("mi300-fp16"), name="late-rz", out_rounding="toward_zero"),
    replace(dp.get("mi300-e4m3fnuz"), name="late-rne-terms", term_rounding="nearest_even"),
    replace(dp.get("mi300-bf16"), name="late-fp16-out", out_format=F.fp16, subnormals_out=False),
]


@pytest.mark.parametrize("unit", [dp.get(n) for n in AMD_FAST] + AMD_LATE_OTHERS, ids=str)
def test_amd_fast_paths_equal_general_and_reference(unit: DotUnit) -> None:
    """``amdfast.pairwise_matmul`` / ``late_matmul_f32`` / ``late_matmul`` (taken:
    ``_matmul_fast`` returns a result on finite operands) equal the general kernel on every pair
    of random and corner rows (specials included: the late path hands those to the general
    kernel), and the Fraction reference on the matching pairs."""
    A, B, C, cs = _amd_operands(unit, finite=True)
    fast = dp_api._matmul_fast(unit, A, B, C)
    assert fast is not None
    general, _ = dp_api._matmul_general(unit, A, B, C)
    _same_bits(fast, general)
    got = np.where(np.isnan(fast), 0x7FC00000, fast.view(np.uint32))  # NaN as the reference's
    for i, (a, b, c) in enumerate(cs):
        want = _ref_f32_bits(unit, ref_dot.dot_code(unit, a, b, c))
        assert int(got[i, i]) == want, (i, a, b, c)
    A, B, C, _ = _amd_operands(unit, finite=False)
    _same_bits(dp.matmul(A, B, unit, C), dp_api._matmul_general(unit, A, B, C)[0])


def test_evens_first_order() -> None:
    """``amdfast.evens_first`` puts each block's even positions before its odd ones (hand
    written: blocks of 4 over K = 7 are 0 1 2 3 | 4 5 6), rows alike; K = 0 stays empty."""
    from numsim._kernels.amdfast import evens_first

    x = np.arange(14).reshape(2, 7)
    np.testing.assert_array_equal(evens_first(x, 4)[0], [0, 2, 1, 3, 4, 6, 5])
    np.testing.assert_array_equal(evens_first(x, 4)[1], [7, 9, 8, 10, 11, 13, 12])
    np.testing.assert_array_equal(evens_first(x, 16)[0], [0, 2, 4, 6, 1, 3, 5])
    assert evens_first(np.zeros((3, 0), np.int64), 16).shape == (3, 0)


@pytest.mark.parametrize("name", ["mi300-bf16", "mi300-xf32"])
def test_amd_late_fast_path_product_limit(name: str) -> None:
    """Products at and beyond 2**128 on the fast late path (the limit check is skipped only when
    max|A| max|B| < 2**128): +Inf, -Inf and NaN as the general kernel and the reference give
    them, also when a later block of the chain is ordinary."""
    unit = dp.get(name)
    K = 3 * unit.n
    big = 2.0**127
    A = np.zeros((3, K))
    A[:, 0] = big
    A[:, 1] = big
    A[:, -1] = 1.0
    B = np.zeros((K, 3))
    B[0] = [2.0, -2.0, 2.0]
    B[1] = [-1.5, 1.5, -2.0]
    B[-1] = 1.0
    C = np.full((3, 3), 1.0, np.float32)
    fast = dp_api._matmul_fast(unit, A, B, C)
    assert fast is not None
    _same_bits(fast, dp_api._matmul_general(unit, A, B, C)[0])
    assert fast[0, 0] == np.inf and fast[0, 1] == -np.inf and np.isnan(fast[0, 2])


@pytest.mark.parametrize(
    "name", ["mi300-fp16", "mi300-bf16", "mi300-xf32", "mi300-e4m3fnuz", "mi300-e5m2fnuzxe4m3fnuz"]
)
def test_amd_late_lanes_equal_general(name: str) -> None:
    """``amdfast.late_lanes_f32`` (the block's work across lanes of 64 output columns; the FP8
    presets with odd/even groups) is taken for these presets and equals the general kernel bit
    for bit over two column tiles (the second partial), a partial row tile, a short last block,
    operands over many binades with zeros, and C with zeros of both signs, subnormals, huge
    values, infinities and NaN; products below ``2**-126`` against subnormal and zero c (bf16,
    tf32); products near ``2**127`` whose sums overflow FP32 to Inf (below the product limit)."""
    unit = dp.get(name)
    from numsim._kernels.dotbase import NO_LIMIT

    # the product limit is dropped where max|A| max|B| < 2**128, as below
    assert dp_api._late_lanes_ok(dp_lower.params(unit)._replace(prod_limit=NO_LIMIT))
    fmt, fb = unit.in_format, unit.operand_b_format
    rng = np.random.default_rng(sum(map(ord, name)))
    M, K, N = 11, 3 * unit.n + 3, 70
    ea = (max(fmt.emin, -30), min(fmt.emax - 2, 30))  # finite after quantization
    eb = (max(fb.emin, -30), min(fb.emax - 2, 20))
    A = rng.standard_normal((M, K)) * np.exp2(rng.integers(*ea, (M, K)))
    B = rng.standard_normal((K, N)) * np.exp2(rng.integers(*eb, (K, N)))
    A[rng.random((M, K)) < 0.15] = 0.0
    B[rng.random((K, N)) < 0.15] = -0.0
    if fmt.emax > 100:  # bf16, tf32: a block of products 2**126 .. 2**127 overflows FP32
        A[0, : unit.n] = 2.0**100
        B[: unit.n, :5] = 2.0**26 * 1.5
        B[: unit.n, 5:10] = -(2.0**26) * 1.5
    if fmt.emin < -100:  # products below 2**-126: a subnormal or zero c sets E = max(eta, -126)
        A[3] = rng.standard_normal(K) * np.exp2(rng.integers(-78, -64, K))
        B[:, 20:30] = rng.standard_normal((K, 10)) * np.exp2(rng.integers(-78, -64, (K, 10)))
    A = numsim.quantize(A, fmt).astype(np.float64)
    B = numsim.quantize(B, fb).astype(np.float64)
    C = (rng.standard_normal((M, N)) * np.exp2(rng.integers(-150, 40, (M, N)))).astype(np.float32)
    C[1, :7] = [0.0, -0.0, np.inf, -np.inf, 2.0**-140, -(2.0**-149), 3.0e38]
    C[2, ::3] = 0.0
    C[3, 20:30] = [0.0, -0.0, 2.0**-140, -(2.0**-130), 2.0**-126, np.nan, 1.0, -(2.0**-149), 0, 0]
    assert np.abs(A).max() * np.abs(B).max() < 2.0**128  # no live product limit: lanes taken
    fast = dp_api._matmul_fast(unit, A, B, C)
    assert fast is not None
    _same_bits(fast, dp_api._matmul_general(unit, A, B, C)[0])
    if fmt.emax > 100:
        assert np.isinf(fast[0, :10]).all() and (fast[0, :5] > 0).all()


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_hypothesis_amd_fast_paths(data: Any) -> None:
    """Random finite codes of every exponent (signed zeros, subnormals, near-overflow) and random
    FP32 C through the AMD fast paths and the general kernel, bit for bit."""
    unit = dp.get(data.draw(st.sampled_from(AMD_FAST)))
    fa, fb = unit.in_format, unit.operand_b_format
    M, N = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    K = data.draw(st.integers(1, 3 * unit.n + 1))

    def mat(fmt: F.FloatFormat, shape: tuple[int, int]) -> np.ndarray:
        codes = data.draw(
            hnp.arrays(np.int64, shape, elements=st.integers(0, (1 << fmt.total_bits) - 1))
        )
        v = np.array([float(numsim.decode(np.array([c]), fmt)[0]) for c in codes.reshape(-1)])
        return np.where(np.isfinite(v), v, 1.0).reshape(shape)

    A, B = mat(fa, (M, K)), mat(fb, (K, N))
    cb = data.draw(hnp.arrays(np.uint32, (M, N)))
    C = cb.view(np.float32)
    C = np.where(np.isfinite(C), C, np.float32(2.0))
    fast = dp_api._matmul_fast(unit, A, B, C)
    assert fast is not None
    _same_bits(fast, dp_api._matmul_general(unit, A, B, C)[0])


# ---------------------------------------------------------------------------------------------
# chained truncation across lanes of output columns (fastdot.chain_lanes_f32 / chain_lanes_bmm)
# ---------------------------------------------------------------------------------------------
CHAIN_LANES = [u for u in FAST_CHAIN if dp_api._chain_lanes_ok(u)]


def test_chain_lanes_serve_the_nvidia_presets() -> None:
    """Every chained NVIDIA preset without ``promote`` chunks takes the lane kernel; the chunked
    preset, RNE block results and flushed results keep ``matmul_fast``."""
    for name in ["h100-e4m3", "b200-e4m3", "h100-e5m2", "b200-e5m2", "a100-bf16", "t4-fp16"]:
        assert dp_api._chain_lanes_ok(dp.get(name)), name
    assert not dp_api._chain_lanes_ok(dp.get("h100-e4m3-promote128"))
    assert not dp_api._chain_lanes_ok(replace(dp.get("h100-e4m3"), out_rounding="nearest_even"))
    assert not dp_api._chain_lanes_ok(replace(dp.get("b200-e4m3"), subnormals_out=False))
    assert len(CHAIN_LANES) >= 10


@pytest.mark.parametrize("unit", CHAIN_LANES, ids=str)
def test_chain_lanes_equal_general_and_reference(unit: DotUnit) -> None:
    """``matmul`` on the lane kernel equals the general kernel on every pair of random and
    corner rows of ``test_datapath.cases`` (finite operands; C with subnormals, near-maximum
    values, Inf and NaN) and the Fraction reference on the matching pairs."""
    A, B, C, cs = _amd_operands(unit, finite=True)
    fast = dp.matmul(A, B, unit, C)  # finite operands: the lane kernel (C late in an epilogue)
    general, _ = dp_api._matmul_general(unit, A, B, C)
    _same_bits(fast, general)
    got = np.where(np.isnan(fast), 0x7FC00000, fast.view(np.uint32))
    for i, (a, b, c) in enumerate(cs):
        want = _ref_f32_bits(unit, ref_dot.dot_code(unit, a, b, c))
        assert int(got[i, i]) == want, (i, a, b, c)


@pytest.mark.parametrize("wide", [True, False], ids=["wide", "normal"])
@pytest.mark.parametrize("unit", CHAIN_LANES, ids=str)
def test_chain_lanes_equal_matmul_fast(unit: DotUnit, wide: bool) -> None:
    """The lane kernel equals the per-output ``matmul_fast`` kernel on products spanning several
    tiles (M = 19: three row tiles; N = 300: two full tiles of 128 lanes and a partial one; K not a
    multiple of n), with C holding specials, near-maximum values (results overflowing to Inf)
    and subnormals; the batched kernel equals the same products slice by slice."""
    from numsim._kernels.fastdot import matmul_fast
    from numsim._kernels.lower import lower

    rng = np.random.default_rng(sum(map(ord, unit.name)) + 3 * wide)
    M, K, N = 19, 2 * unit.n + 7, 300
    A = _random_values(rng, unit.in_format, (M, K), wide)
    B = _random_values(rng, unit.operand_b_format, (K, N), wide)
    A[3, :] = 0.0  # an all-zero row: empty blocks
    C = _c_matrix(rng, (M, N), specials=True, fp16=unit.c_format == F.fp16)
    unit = replace(unit, c_entry="inside")  # C inside: the kernels' accumulator input
    got = dp_api._matmul_fast(unit, A, B, C)
    man = dp_lower.operand_man(unit)
    am, ae, _ = dp_lower.split(A, man, unit.in_format.emin, False)
    bm, be, _ = dp_lower.split(np.ascontiguousarray(B.T), man, unit.operand_b_format.emin, False)
    p, _, po = dp_lower.formats_of(unit)
    cbits = dp_lower.c_bits(C, (M, N), "C", unit.c_format)
    want = matmul_fast(am, ae, bm, be, cbits, lower(F.fp32), p, po, dp_lower.params(unit))
    _same_bits(got, want.astype(np.float32))
    A3 = A[:18].reshape(3, 6, K)
    B3 = np.stack([B, B[:, ::-1], -B])[:, :, :70]
    got3 = dp_api.batched_elements(A3, B3, unit)
    for g in range(3):
        _same_bits(got3[g], dp.matmul(A3[g], B3[g], unit))


@pytest.mark.parametrize("fmt", [F.fp8_e4m3, F.fp16, F.bf16], ids=str)
def test_lane_operands_equal_split(fmt: F.FloatFormat) -> None:
    """``fastdot.lane_operands`` == ``_lower.split`` as int32, a zero's exponent replaced, in one
    pass; an Inf or a NaN anywhere clears the ``finite`` flag."""
    from numsim._kernels.fastdot import lane_operands

    rng = np.random.default_rng(fmt.total_bits)
    x = _random_values(rng, fmt, (37, 29), wide=True)
    m, e, _ = dp_lower.split(x, fmt.man_bits, fmt.emin, False)
    gm, ge, fin = lane_operands(x, fmt.man_bits, fmt.emin, -77)
    assert fin and gm.dtype == np.int32 and ge.dtype == np.int32
    np.testing.assert_array_equal(gm, m)
    np.testing.assert_array_equal(ge, np.where(m == 0, -77, e))
    assert (m == 0).any() and (m != 0).any()
    for special in (np.inf, -np.inf, np.nan):
        y = x.copy()
        y[5, 7] = special
        assert not lane_operands(y, fmt.man_bits, fmt.emin, -77)[2]
