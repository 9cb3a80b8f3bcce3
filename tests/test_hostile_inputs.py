"""Regression tests for hostile input to the numeric public API: hand-built BlockArrays that
disagree with their own shape, non-native byte order, 0-d and empty arrays, masked arrays, axis of
the wrong type, options a call would ignore, and out-of-range helper arguments. Each is refused
with an error naming the argument, or normalised to the answer of the plain input."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest

import numsim
from numsim import formats as F

X = np.linspace(-3, 3, 64, dtype=np.float32).reshape(2, 32)


def _blk(name: str = "mxfp4_e2m1", x: np.ndarray = X, axis: int = -1) -> numsim.BlockArray:
    return numsim.encode(x, name, axis=axis)


def _fields(b: numsim.BlockArray) -> dict[str, Any]:
    return {
        "codes": b.codes,
        "scales": b.scales,
        "format": b.format,
        "axis": b.axis,
        "shape": b.shape,
        "micro": b.micro,
        "tensor_scale": b.tensor_scale,
    }


# ---------------------------------------------------------------------------------------------
# BlockArray invariants
# ---------------------------------------------------------------------------------------------
def test_fewer_scales_than_blocks_refused() -> None:
    kw = _fields(_blk())  # shape (2, 32): one block of 32 per row -> scales (2, 1)
    kw["scales"] = kw["scales"][:1]
    with pytest.raises(ValueError, match=r"scales: shape \(1, 1\), expected \(2, 1\)"):
        numsim.BlockArray(**kw)


def test_fewer_code_rows_than_shape_refused() -> None:
    kw = _fields(_blk())
    kw["codes"] = kw["codes"][:1]
    with pytest.raises(ValueError, match=r"codes: shape \(1, 1, 32\), expected \(2, 1, 32\)"):
        numsim.BlockArray(**kw)


def test_fewer_blocks_than_shape_refused() -> None:
    kw = _fields(_blk())
    kw["shape"] = (2, 64)  # two blocks per row, codes hold one
    with pytest.raises(ValueError, match="codes: shape"):
        numsim.BlockArray(**kw)


def test_format_by_name_and_negative_axis_normalised() -> None:
    b = _blk()
    kw = _fields(b)
    kw["format"], kw["axis"] = "mxfp4_e2m1", -1
    c = numsim.BlockArray(**kw)
    assert c.format == F.get("mxfp4_e2m1") and c.axis == 1
    np.testing.assert_array_equal(numsim.decode(c), numsim.decode(b))


@pytest.mark.parametrize(
    "field, value, exc, match",
    [
        ("codes", np.full((2, 1, 32), 16, np.uint8), ValueError, r"codes: values in 16\.\.16"),
        ("codes", np.zeros((2, 1, 32), np.float32), TypeError, "codes: float32"),
        ("codes", np.zeros((2, 1, 32), np.int8) - 1, ValueError, "codes: values in -1"),
        ("scales", np.zeros((2, 1), np.float64), TypeError, "scales"),
        ("micro", np.zeros((2, 1, 16), np.uint8), ValueError, "micro"),
        ("tensor_scale", 1.0, ValueError, "tensor_scale"),
        ("format", "fp8_e4m3", ValueError, "element format"),
        ("format", 3, TypeError, "format"),
        ("axis", 1.0, ValueError, "axis"),
        ("axis", True, ValueError, "axis"),
        ("shape", (2, -32), ValueError, "shape"),
        ("shape", "ab", TypeError, "shape"),
    ],
)
def test_blockarray_field_refused(field: str, value: Any, exc: type, match: str) -> None:
    kw = _fields(_blk())
    kw[field] = value
    with pytest.raises(exc, match=match):
        numsim.BlockArray(**kw)


def test_mx_microexponents_required() -> None:
    kw = _fields(_blk("mx9"))
    kw["micro"] = None
    with pytest.raises(TypeError, match="micro: NoneType"):
        numsim.BlockArray(**kw)


@pytest.mark.parametrize("ts", [float("nan"), float("inf"), -1.0, None, "1"])
def test_nvfp4_tensor_scale_refused(ts: Any) -> None:
    kw = _fields(_blk("nvfp4"))
    kw["tensor_scale"] = ts
    with pytest.raises((ValueError, TypeError), match="tensor_scale"):
        numsim.BlockArray(**kw)


def test_unpack_nan_tensor_scale_refused() -> None:
    data = bytearray(_blk("nvfp4").pack())
    data[:4] = np.float32(np.nan).astype("<f4").tobytes()
    with pytest.raises(ValueError, match="tensor_scale"):
        numsim.BlockArray.unpack(bytes(data), "nvfp4", X.shape)


def test_unpack_round_trip_through_validation() -> None:
    for name in ("mxfp4_e2m1", "mx6", "nvfp4"):
        b = _blk(name)
        c = numsim.BlockArray.unpack(b.pack(), name, X.shape)
        np.testing.assert_array_equal(numsim.decode(c), numsim.decode(b))


def test_decode_refuses_codes_mutated_out_of_range() -> None:
    b = _blk()
    b.codes[0, 0, 0] = 200  # an E2M1 code is 4 bits: a 16-entry table would be read past
    with pytest.raises(ValueError, match="codes: values"):
        numsim.decode(b)


_MUTATED = """
import numpy as np, numsim
unit = numsim.datapath.get("{unit}")
A = numsim.encode(np.ones((4, 32), np.float32), "{fmt}", axis=1)
B = numsim.encode(np.ones((32, 3), np.float32), "{fmt}", axis=0)
object.__setattr__(A, "codes", A.codes[:1])  # bypass the frozen dataclass: fewer rows than shape
try:
    numsim.datapath.mx_matmul(A, B, unit)
except ValueError as e:
    assert "A.codes: shape" in str(e), e
    print("refused")
"""


def test_mx_matmul_wrapper_refuses_inconsistent_operand() -> None:
    """Once a segfault: run in a subprocess so that a crash fails this test, not the run."""
    code = textwrap.dedent(_MUTATED.format(unit="ocp-mx-exact", fmt="mxfp8_e4m3"))
    r = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0 and "refused" in r.stdout, r.stderr[-2000:]


# ---------------------------------------------------------------------------------------------
# Inputs normalised or refused
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["fp8_e4m3", "int8", "mxfp4_e2m1", "nvfp4", "mx6"])
@pytest.mark.parametrize("dtype", [">f4", ">f8", ">f2"])
def test_big_endian_read_as_native(name: str, dtype: str) -> None:
    x = X.astype(dtype)
    native = x.astype(np.dtype(dtype).newbyteorder("="))
    try:
        want = numsim.quantize(native, name)
    except ValueError as e:  # e.g. NVFP4 values that float16 cannot hold: same refusal
        with pytest.raises(ValueError, match=str(e)):
            numsim.quantize(x, name)
    else:
        np.testing.assert_array_equal(numsim.quantize(x, name), want)
    assert x.dtype == np.dtype(dtype)  # input untouched


def test_big_endian_nan_still_raises() -> None:
    x = X.astype(">f4")
    x[0, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        numsim.encode(x, "int8")
    with pytest.raises(ValueError, match="NaN"):
        numsim.quantize(x, "fp4_e2m1", nan="raise")


def test_zero_d_inputs_stay_zero_d() -> None:
    torch = pytest.importorskip("torch")
    t = torch.tensor(1.5)
    assert numsim.quantize(t, "fp8_e4m3").shape == ()
    assert numsim.encode(t, "fp8_e4m3").shape == ()
    assert numsim.decode(torch.tensor(0x38, dtype=torch.uint8), "fp8_e4m3").shape == ()
    assert float(numsim.quantize(t, "fp8_e4m3")) == 1.5
    assert numsim.quantize(np.float32(1.5), "fp8_e4m3").shape == ()
    assert numsim.decode(np.uint8(0x38), "fp8_e4m3") == 1.0  # E4M3: bias 7, 0x38 = 2**0


@pytest.mark.parametrize("name", ["mxfp4_e2m1", "mxfp8_e4m3", "nvfp4", "mx9", "mx6", "mx4"])
@pytest.mark.parametrize("shape, axis", [((0, 40), -1), ((0, 40), 0), ((3, 0), -1), ((0,), 0)])
def test_empty_block_inputs(name: str, shape: tuple[int, ...], axis: int) -> None:
    x = np.zeros(shape, np.float32)
    b = numsim.encode(x, name, axis=axis)
    assert numsim.decode(b).shape == shape
    assert numsim.quantize(x, name, axis=axis).shape == shape
    assert numsim.quantize(x.astype(np.float64), name, axis=axis).shape == shape
    c = numsim.BlockArray.unpack(b.pack(), name, shape, axis)
    assert numsim.decode(c).shape == shape


def test_masked_array_refused() -> None:
    m = np.ma.masked_array(X, mask=X > 0)
    for call in (
        lambda: numsim.quantize(m, "fp8_e4m3"),
        lambda: numsim.encode(m, "mxfp4_e2m1"),
        lambda: numsim.datapath.matmul(m[:, :4], m[:, :4].T, numsim.datapath.get("h100-e4m3")),
    ):
        with pytest.raises(TypeError, match="masked array"):
            call()
    with pytest.raises(TypeError, match="codes: a numpy masked array"):
        numsim.decode(np.ma.masked_array(np.zeros(4, np.uint8)), "fp8_e4m3")


@pytest.mark.parametrize("axis", [1.0, True, "1", np.float64(1.0)])
def test_axis_of_wrong_type(axis: Any) -> None:
    with pytest.raises(ValueError, match=r"axis=.*expected an int"):
        numsim.encode(X, "mxfp4_e2m1", axis=axis)
    with pytest.raises(ValueError, match=r"axis=.*expected an int"):
        numsim.quantize(X, "mxfp4_e2m1", axis=axis)


@pytest.mark.parametrize("name", ["fp8_e4m3", "mxfp4_e2m1", "nvfp4"])
def test_seed_without_stochastic_rounding_refused(name: str) -> None:
    with pytest.raises(ValueError, match="seed= applies to rounding='stochastic'"):
        numsim.encode(X, name, seed=1)
    with pytest.raises(ValueError, match="seed= applies to rounding='stochastic'"):
        numsim.quantize(X, name, seed=1)
    with pytest.raises(ValueError, match="random_bits= applies"):
        numsim.encode(X, name, random_bits=np.zeros(X.shape, np.uint32))


def test_unpack_into_narrow_dtype_refused() -> None:
    data = numsim.pack(np.array([0x1FF, 3], np.uint16), 9)
    with pytest.raises(ValueError, match="dtype=uint8: 9-bit codes"):
        numsim.unpack(data, 9, 2, np.uint8)
    with pytest.raises(ValueError, match="dtype=int8: 8-bit codes"):
        numsim.unpack(b"\xff", 8, 1, np.int8)
    np.testing.assert_array_equal(numsim.unpack(data, 9, 2, np.int16), [0x1FF, 3])


def test_pack_refuses_negative_and_bool_codes() -> None:
    with pytest.raises(ValueError, match="codes: a negative value"):
        numsim.pack(np.array([-1, 2], np.int8), 4)
    with pytest.raises(TypeError, match="codes"):
        numsim.pack(np.array([True]), 4)


@pytest.mark.parametrize("amax", [float("nan"), float("inf"), -1.0, -0.5])
def test_nvfp4_tensor_scale_bad_amax(amax: float) -> None:
    with pytest.raises(ValueError, match=r"amax=.*expected a finite number >= 0"):
        numsim.nvfp4_tensor_scale(amax)


def test_nvfp4_tensor_scale_values() -> None:
    # float32(2688 / 2688) = 1; float32(0) = 0 (an all-zero tensor)
    assert numsim.nvfp4_tensor_scale(2688.0) == 1.0
    assert numsim.nvfp4_tensor_scale(0.0) == 0.0
    with pytest.raises(TypeError, match="amax"):
        numsim.nvfp4_tensor_scale("1")  # type: ignore[arg-type]


def test_nvfp4_float64_beyond_fp32_tensor_scale() -> None:
    x = np.full(16, 1e300)  # amax / 2688 overflows float32: was a SystemError from a kernel
    with pytest.raises(ValueError, match="overflows float32"):
        numsim.encode(x, "nvfp4")
    with pytest.raises(ValueError, match="overflows float32"):
        numsim.quantize(x, "nvfp4")
    with pytest.raises(ValueError, match="overflows float32"):
        numsim.nvfp4_tensor_scale(1e300)


def test_pack_rechecks_invariants() -> None:
    """pack() of a BlockArray whose arrays were replaced after construction is refused, as
    decode() is: its bytes would unpack to other values (it packed them silently before)."""
    for field, bad in (("scales", "short"), ("shape", (4, 64)), ("micro", "missing")):
        b = _blk("mx9")
        value = {"short": b.scales[:1], "missing": None}.get(bad, bad)  # type: ignore[call-overload]
        object.__setattr__(b, field, value)
        with pytest.raises((ValueError, TypeError), match=field):
            b.pack()
    b = _blk("mxfp4_e2m1")
    b.codes[...] = 0xFF  # in place, beyond the 4-bit codes
    with pytest.raises(ValueError, match="codes"):
        b.pack()
