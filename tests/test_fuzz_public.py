"""Fuzzing of the numeric public API with hypothesis: each call either gives the result the spec
fixes (the plain-input answer, a round trip) or a documented exception whose message names the
argument; it never crashes and never changes its input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import numsim

FAST = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
FORMATS = ["fp8_e4m3", "int8", "mxfp4_e2m1", "mxfp8_e4m3", "nvfp4", "mx6"]
BLOCKS = ["mxfp4_e2m1", "mxfp8_e4m3", "nvfp4", "mx9"]


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    """Float arrays of any byte order, shape (0-d and empty included) and layout."""
    dtype = np.dtype(draw(st.sampled_from(["f2", "f4", "f8"])))
    if draw(st.booleans()):
        dtype = dtype.newbyteorder(">")
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=0, max_size=3)))
    n = int(np.prod(shape)) if shape else 1
    vals = draw(
        st.lists(
            st.floats(-100, 100, allow_nan=False, width=16), min_size=2 * n + 1, max_size=2 * n + 1
        )
    )
    base = np.array(vals, dtype=dtype)[: 2 * n].reshape(*shape, 2) if shape else None
    if base is None:
        return np.array(vals[0], dtype=dtype)
    layout = draw(st.sampled_from(["c", "f", "strided"]))
    if layout == "f":
        return np.asfortranarray(base[..., 0])
    if layout == "strided":
        return base[..., 1]
    return np.ascontiguousarray(base[..., 0])


@FAST
@given(x=arrays(), name=st.sampled_from(FORMATS), axis=st.sampled_from([-1, 0, 1.0, True]))
def test_quantize_matches_native_input(x: np.ndarray, name: str, axis: object) -> None:
    keep = x.copy()
    native = x.astype(x.dtype.newbyteorder("="), order="C")  # keeps 0-d
    block = isinstance(numsim.formats.get(name), numsim.BlockFormat)
    kw = {"axis": axis} if block else {}
    try:
        want = numsim.quantize(native, name, **kw)
    except (ValueError, TypeError) as e:
        assert any(w in str(e) for w in ("axis", "x", "dtype")), e
        with pytest.raises(type(e)):
            numsim.quantize(x, name, **kw)
    else:
        np.testing.assert_array_equal(numsim.quantize(x, name, **kw), want)
        assert want.shape == x.shape
    np.testing.assert_array_equal(x, keep)
    assert x.dtype == keep.dtype


@FAST
@given(
    name=st.sampled_from(BLOCKS),
    shape=st.lists(st.integers(0, 40), min_size=1, max_size=2).map(tuple),
    drop=st.sampled_from([None, "codes", "scales", "micro", "shape"]),
    big=st.booleans(),
)
def test_hand_built_blockarray(name: str, shape: tuple, drop: str | None, big: bool) -> None:
    """A consistent BlockArray decodes to the shape it says; an inconsistent one is refused."""
    x = np.linspace(-4, 4, int(np.prod(shape)), dtype=np.float32).reshape(shape)
    b = numsim.encode(x, name)
    kw = {
        "codes": b.codes,
        "scales": b.scales,
        "format": name,
        "axis": -1,
        "shape": b.shape,
        "micro": b.micro,
        "tensor_scale": b.tensor_scale,
    }
    if big:
        kw["codes"] = kw["codes"].astype(kw["codes"].dtype.newbyteorder(">"))
    broken = drop is not None and (drop != "micro" or b.micro is not None)
    if drop in ("codes", "scales", "micro") and broken:
        kw[drop] = kw[drop][..., :-1] if kw[drop].shape[-1] else np.zeros(1, np.uint8)
    elif drop == "shape":
        kw["shape"] = (*shape[:-1], shape[-1] + 40)
    if broken:
        with pytest.raises((ValueError, TypeError), match=drop):
            numsim.BlockArray(**kw)
        return
    c = numsim.BlockArray(**kw)
    np.testing.assert_array_equal(numsim.decode(c), numsim.decode(b))
    d = numsim.BlockArray.unpack(c.pack(), name, shape)
    np.testing.assert_array_equal(numsim.decode(d), numsim.decode(b))


@FAST
@given(
    bits=st.integers(1, 32),
    codes=st.lists(st.integers(0, 2**32 - 1), max_size=20),
    dtype=st.sampled_from(["u1", "u2", "u4", "u8", "i2", "i8"]),
)
def test_pack_unpack_round_trip(bits: int, codes: list, dtype: str) -> None:
    c = np.array([v & ((1 << bits) - 1) for v in codes], np.uint64)
    data = numsim.pack(c, bits)
    dt = np.dtype(dtype)
    if dt.itemsize * 8 - (dt.kind == "i") < bits:
        with pytest.raises(ValueError, match="dtype"):
            numsim.unpack(data, bits, c.size, dt)
        return
    np.testing.assert_array_equal(numsim.unpack(data, bits, c.size, dt), c.astype(dt))


@FAST
@given(amax=st.floats(allow_nan=True, allow_infinity=True))
def test_nvfp4_tensor_scale(amax: float) -> None:
    if not (np.isfinite(amax) and amax >= 0) or amax / 2688 > 3.41e38:  # above float32 max
        with pytest.raises(ValueError, match="amax"):
            numsim.nvfp4_tensor_scale(amax)
        return
    try:
        s = numsim.nvfp4_tensor_scale(amax)
    except ValueError as e:  # the boundary: float32(amax / 2688) rounds up to Inf
        assert "overflows float32" in str(e)
        return
    # one rounding of the exact quotient: within half an ulp of float32 (relative 2**-24)
    q = amax / 2688
    assert s == 0.0 or abs(s - q) <= abs(q) * 2.0**-24 or q < np.finfo(np.float32).tiny
