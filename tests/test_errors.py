"""Bad inputs get clear errors that name the argument, the bad value and what was expected;
unknown names raise KeyError listing close matches; unsupported dtypes raise TypeError; NaN never
silently becomes a number."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest

import numsim
from numsim import formats as F

X = np.linspace(-3, 3, 64, dtype=np.float32).reshape(2, 32)


def _hint(name: str) -> str:
    """Regex: ``name`` inside the close-match hint (not only in the full list of known names)."""
    return rf"close matches: [^.]*\b{re.escape(name)}\b"


# ---------------------------------------------------------------------------------------------
# Unknown format names
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad, close",
    [
        ("mxfp4", "mxfp4_e2m1"),
        ("fp8_e4m4", "fp8_e4m3"),
        ("fp4e2m1", "fp4_e2m1"),
        ("MXFP8_E4M", "mxfp8_e4m3"),
        ("nvfp", "nvfp4"),
    ],
)
def test_unknown_format_everywhere(bad: str, close: str) -> None:
    with pytest.raises(KeyError, match=_hint(close)):
        F.get(bad)
    with pytest.raises(KeyError, match=_hint(close)):
        numsim.encode(X, bad)
    with pytest.raises(KeyError, match=_hint(close)):
        numsim.quantize(X, bad)
    with pytest.raises(KeyError, match=_hint(close)):
        numsim.decode(np.zeros(4, np.uint8), bad)
    with pytest.raises(KeyError, match=_hint(close)):
        numsim.BlockArray.unpack(b"\x00" * 17, bad, (32,))


def test_unknown_format_message_names_the_input() -> None:
    with pytest.raises(KeyError, match="'mxfp4'"):
        numsim.encode(X, "mxfp4")


def test_format_of_wrong_type() -> None:
    with pytest.raises(TypeError, match="format"):
        F.get(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="format"):
        numsim.encode(X, 8)
    with pytest.raises(ValueError, match="kind"):
        F.names("blocks")
    with pytest.raises(ValueError, match="element"):
        numsim.bfp(8, "mxfp4_e2m1")


# ---------------------------------------------------------------------------------------------
# Unsupported input dtypes
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "x",
    [
        np.ones(4, np.int32),
        np.ones(4, np.int64),
        np.ones(4, np.uint8),
        np.ones(4, np.complex64),
        np.ones(4, np.complex128),
        np.array([1.0, None], object),
        np.array(["a", "b"]),
        np.ones(4, bool),
        [1, 2, 3],
    ],
    ids=["int32", "int64", "uint8", "complex64", "complex128", "object", "str", "bool", "int-list"],
)
@pytest.mark.parametrize("fmt", ["fp8_e4m3", "mxfp4_e2m1", "nvfp4"])
def test_unsupported_dtype(x: Any, fmt: str) -> None:
    for fn in (numsim.encode, numsim.quantize):
        with pytest.raises(TypeError, match=r"x: .*dtype"):
            fn(x, fmt)


def test_float_lists_are_accepted() -> None:
    """A list of Python floats is a float64 array (supported), not an error."""
    assert numsim.encode([448.0, 464.0], "fp8_e4m3").tolist() == [0x7E, 0x7E]


# ---------------------------------------------------------------------------------------------
# NaN into formats without NaN
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["fp4_e2m1", "fp6_e2m3", "fp6_e3m2", "int8", "int4"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_nan_into_format_without_nan(fmt: str, dtype: Any) -> None:
    x = np.array([1.0, np.nan, 2.0], dtype)
    with pytest.raises(ValueError, match=r"NaN[\s\S]*nan="):
        numsim.encode(x, fmt)
    with pytest.raises(ValueError, match="NaN"):
        numsim.quantize(x, fmt)
    with pytest.raises(ValueError, match="NaN"):
        numsim.encode(x, fmt, nan="raise")


def test_nan_zero_policy_fp4() -> None:
    """nan='zero': zero with the NaN's sign bit (E2M1 +0 = 0x0, -0 = 0x8)."""
    x = np.array([np.nan, -np.nan, 1.0], np.float32)
    assert numsim.encode(x, "fp4_e2m1", nan="zero").tolist() == [0x0, 0x8, 0x2]
    assert numsim.encode(x, "fp4_e2m1", nan="zero_sign_inverted").tolist() == [0x8, 0x0, 0x2]
    q = numsim.quantize(x, "fp4_e2m1", nan="zero")
    assert q.tolist() == [0.0, -0.0, 1.0] and math.copysign(1, q[1]) < 0


def test_nan_in_block_is_not_an_error() -> None:
    """A NaN in a block makes the block NaN (E8M0 0xFF): the format has a NaN scale, no error."""
    x = X.copy()
    x[0, 3] = np.nan
    blk = numsim.encode(x, "mxfp4_e2m1")
    assert blk.scales.tolist() == [[0xFF], [numsim.encode(X, "mxfp4_e2m1").scales[1, 0]]]


# ---------------------------------------------------------------------------------------------
# Axis, shape
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [2, -3, 10, 1.0, "0", None])
def test_axis_out_of_range(axis: Any) -> None:
    with pytest.raises(ValueError, match="axis"):
        numsim.encode(X, "mxfp4_e2m1", axis=axis)
    with pytest.raises(ValueError, match="axis"):
        numsim.quantize(X, "mxfp4_e2m1", axis=axis)
    with pytest.raises(ValueError, match="axis"):
        numsim.BlockArray.unpack(b"\x00" * 34, "mxfp4_e2m1", (2, 32), axis=axis)


def test_block_format_needs_an_array() -> None:
    with pytest.raises(ValueError, match="dimension"):
        numsim.encode(np.float32(1.0), "mxfp4_e2m1")


# ---------------------------------------------------------------------------------------------
# Stochastic rounding arguments
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["fp8_e4m3", "mxfp4_e2m1", "nvfp4", "mx6"])
def test_stochastic_without_seed(fmt: str) -> None:
    with pytest.raises(ValueError, match="seed"):
        numsim.encode(X, fmt, rounding="stochastic")
    with pytest.raises(ValueError, match="seed"):
        numsim.quantize(X, fmt, rounding="stochastic")


@pytest.mark.parametrize("fmt", ["fp8_e4m3", "mxfp4_e2m1", "nvfp4"])
def test_random_bits_wrong_shape(fmt: str) -> None:
    for shape in [(64,), (32, 2), (2, 31), (1, 2, 32)]:
        with pytest.raises(ValueError, match=r"random_bits[\s\S]*shape"):
            numsim.encode(X, fmt, rounding="stochastic", random_bits=np.zeros(shape, np.uint32))


@pytest.mark.parametrize("fmt", ["fp8_e4m3", "mxfp4_e2m1", "nvfp4"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float32, np.float64, bool])
def test_random_bits_wrong_dtype(fmt: str, dtype: Any) -> None:
    with pytest.raises((TypeError, ValueError), match=r"random_bits[\s\S]*dtype"):
        numsim.encode(X, fmt, rounding="stochastic", random_bits=np.zeros(X.shape, dtype))


@pytest.mark.parametrize("sr_bits", [0, 33, -1, 2.0, "8", None])
@pytest.mark.parametrize("fmt", ["fp8_e4m3", "mxfp4_e2m1"])
def test_sr_bits_out_of_range(fmt: str, sr_bits: Any) -> None:
    with pytest.raises(ValueError, match="sr_bits"):
        numsim.encode(X, fmt, rounding="stochastic", seed=1, sr_bits=sr_bits)


@pytest.mark.parametrize("seed", [-1, 2**63, 1.5, "a", [1]])
@pytest.mark.parametrize("fmt", ["fp8_e4m3", "mxfp4_e2m1", "nvfp4"])
def test_bad_seed(fmt: str, seed: Any) -> None:
    with pytest.raises(ValueError, match="seed"):
        numsim.encode(X, fmt, rounding="stochastic", seed=seed)


def test_valid_stochastic_arguments_accepted() -> None:
    seeds: list[Any] = [0, 2**63 - 1, np.int64(5), np.uint32(7)]
    for seed in seeds:
        numsim.encode(X, "fp8_e4m3", rounding="stochastic", seed=seed)
    widths: list[Any] = [1, 32, np.int8(4)]
    for sr_bits in widths:
        numsim.encode(X, "fp8_e4m3", rounding="stochastic", seed=1, sr_bits=sr_bits)
    for dtype in (np.uint32, np.uint64):
        numsim.encode(X, "mxfp4_e2m1", rounding="stochastic", random_bits=np.zeros(X.shape, dtype))


# ---------------------------------------------------------------------------------------------
# Packed data of the wrong length
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bits, count, nbytes", [(4, 8, 3), (4, 8, 5), (6, 4, 2), (8, 5, 4), (3, 3, 1), (12, 1, 1)]
)
def test_unpack_wrong_length(bits: int, count: int, nbytes: int) -> None:
    expected = (count * bits + 7) // 8
    with pytest.raises(ValueError, match=rf"data: {nbytes} bytes, expected {expected}\b"):
        numsim.unpack(b"\x00" * nbytes, bits, count)


@pytest.mark.parametrize(
    "name, shape, axis, size",
    [
        ("mxfp4_e2m1", (32,), -1, 17),
        ("mxfp4_e2m1", (2, 40), 1, 2 * 2 + 2 * 2 * 16),
        ("nvfp4", (16,), 0, 13),
        ("mx9", (16,), 0, 18),
        ("mxfp6_e2m3", (32, 3), 0, 3 + 3 * 24),
        ("b4int3", (8,), 0, 4),
    ],
)
def test_block_unpack_wrong_length(name: str, shape: tuple[int, ...], axis: int, size: int) -> None:
    blk = numsim.encode(np.ones(shape, np.float32), name, axis=axis)
    data = blk.pack()
    assert len(data) == size  # hand count of the documented layout
    numsim.BlockArray.unpack(data, name, shape, axis)  # the right length is accepted
    for bad in (data[:-1], data + b"\x00", b""):
        with pytest.raises(ValueError, match=rf"data: {len(bad)} bytes, expected {size}\b"):
            numsim.BlockArray.unpack(bad, name, shape, axis)


def test_block_unpack_element_format() -> None:
    with pytest.raises(ValueError, match="block format"):
        numsim.BlockArray.unpack(b"\x00" * 32, "fp8_e4m3", (32,))


@pytest.mark.parametrize("count", [-1, -8])
def test_unpack_negative_count(count: int) -> None:
    """A negative count is a bad argument, not an empty result."""
    with pytest.raises(ValueError, match="count"):
        numsim.unpack(b"", 4, count)
    with pytest.raises(ValueError, match="count"):
        numsim.unpack(b"", 6, count)


@pytest.mark.parametrize("bits", [0, 33, -4, 4.0, None])
def test_pack_bad_width(bits: Any) -> None:
    with pytest.raises(ValueError, match="bits"):
        numsim.pack(np.zeros(4, np.uint8), bits)
    with pytest.raises(ValueError, match="bits"):
        numsim.unpack(b"\x00", bits, 1)


def test_pack_bad_codes() -> None:
    with pytest.raises(ValueError, match=r"codes[\s\S]*4 bits"):
        numsim.pack(np.array([3, 16], np.uint8), 4)
    with pytest.raises(ValueError, match="codes"):
        numsim.pack(np.array([-1], np.int8), 4)
    with pytest.raises(TypeError, match=r"codes[\s\S]*dtype"):
        numsim.pack(np.array([1.0]), 4)


# ---------------------------------------------------------------------------------------------
# Policy strings
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "arg, bad, choices, close",
    [
        (
            "rounding",
            "nearest",
            [
                "nearest_even",
                "nearest_away",
                "toward_zero",
                "toward_positive",
                "toward_negative",
                "stochastic",
            ],
            "nearest_even",
        ),
        ("rounding", "rne", None, None),
        ("rounding", "towards_zero", None, "toward_zero"),
        ("overflow", "saturating", ["saturate", "nonsaturate"], "saturate"),
        ("overflow", "ovf", None, None),
        ("scale_rule", "flor", ["floor", "ceil", "even", "floor_log2f"], "floor"),
        ("scale_rule", "rceil", None, "ceil"),
        ("nan", "zeros", ["raise_error", "zero", "zero_sign_inverted"], "zero"),
    ],
)
def test_bad_policy_strings(
    arg: str, bad: str, choices: list[str] | None, close: str | None
) -> None:
    fmt = "mxfp4_e2m1" if arg == "scale_rule" else "fp8_e4m3"
    with pytest.raises(ValueError) as info:
        kw: dict[str, Any] = {arg: bad}
        numsim.encode(X, fmt, **kw)
    msg = str(info.value)
    assert f"{arg}={bad!r}" in msg
    for c in choices or []:
        assert repr(c) in msg
    if close is not None:
        assert re.search(rf"did you mean [^?]*\b{close}\b", msg), msg


def test_policy_strings_accept_case_and_dashes() -> None:
    a = numsim.encode(X, "fp8_e4m3", rounding="Nearest-Even", overflow="SATURATE")
    np.testing.assert_array_equal(a, numsim.encode(X, "fp8_e4m3"))


def test_bad_policy_types() -> None:
    with pytest.raises(ValueError, match="rounding"):
        numsim.encode(X, "fp8_e4m3", rounding=7)
    with pytest.raises(ValueError, match="overflow"):
        numsim.encode(X, "fp8_e4m3", overflow=1.5)


# ---------------------------------------------------------------------------------------------
# Arguments that do not apply to the format
# ---------------------------------------------------------------------------------------------
def test_scale_rule_for_nvfp4() -> None:
    for rule in ("floor", "ceil", "even", "floor_log2f"):
        with pytest.raises(ValueError, match="scale_rule"):
            numsim.encode(X, "nvfp4", scale_rule=rule)
        with pytest.raises(ValueError, match="scale_rule"):
            numsim.quantize(X, "nvfp4", scale_rule=rule)


def test_block_arguments_on_element_format() -> None:
    with pytest.raises(ValueError, match="scale_rule"):
        numsim.encode(X, "fp8_e4m3", scale_rule="floor")
    with pytest.raises(ValueError, match="tensor_amax"):
        numsim.encode(X, "fp8_e4m3", tensor_amax=1.0)


def test_tensor_amax_errors() -> None:
    with pytest.raises(ValueError, match="tensor_amax"):
        numsim.encode(X, "mxfp4_e2m1", tensor_amax=3.0)
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="tensor_amax"):
            numsim.encode(X, "nvfp4", tensor_amax=bad)


# ---------------------------------------------------------------------------------------------
# Decode errors
# ---------------------------------------------------------------------------------------------
def test_decode_block_array_with_wrong_format() -> None:
    blk = numsim.encode(X, "mxfp4_e2m1")
    with pytest.raises(ValueError, match=r"format[\s\S]*mxfp4_e2m1"):
        numsim.decode(blk, "mxfp8_e4m3")
    with pytest.raises(ValueError, match="format"):
        numsim.decode(blk, "fp4_e2m1")
    np.testing.assert_array_equal(numsim.decode(blk, "mxfp4_e2m1"), numsim.decode(blk))


@pytest.mark.parametrize(
    "fmt, codes",
    [
        ("fp4_e2m1", np.array([0, 16], np.uint8)),
        ("fp4_e2m1", np.array([255], np.uint8)),
        ("fp6_e2m3", np.array([64], np.uint8)),
        ("fp8_e4m3", np.array([256], np.uint16)),
        ("bf16", np.array([1 << 16], np.uint32)),
        ("fp4_e2m1", np.array([-1], np.int8)),
        ("int4", np.array([-3], np.int64)),
    ],
)
def test_decode_codes_out_of_range(fmt: str, codes: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"codes[\s\S]*outside"):
        numsim.decode(codes, fmt)


def test_decode_bad_code_types() -> None:
    with pytest.raises(TypeError, match=r"codes[\s\S]*dtype"):
        numsim.decode(np.array([1.0]), "fp8_e4m3")
    with pytest.raises(TypeError, match="format"):
        numsim.decode(np.zeros(3, np.uint8))
    with pytest.raises(TypeError, match="block format"):
        numsim.decode(np.zeros(3, np.uint8), "mxfp4_e2m1")


# ---------------------------------------------------------------------------------------------
# quantize results that do not fit the input dtype
# ---------------------------------------------------------------------------------------------
def test_quantize_float16_into_bf16() -> None:
    """65504 (float16 max) rounds to bf16 65536 = 2**16, beyond float16: refused, not Inf."""
    x = np.array([1.0, 65504.0], np.float16)
    with np.errstate(over="ignore"), pytest.raises(ValueError, match=r"dtype[\s\S]*float16"):
        numsim.quantize(x, "bf16")
    # values that do fit are returned in float16
    assert numsim.quantize(np.array([1.0, 3.0], np.float16), "bf16").dtype == np.float16


def test_unknown_profile_argument() -> None:
    with pytest.raises(KeyError, match=_hint("microxcaling")):
        numsim.encode(X, "mxfp4_e2m1", profile="microscaling")
