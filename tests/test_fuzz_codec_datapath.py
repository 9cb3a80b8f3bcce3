"""Property-based fuzzing of encode/decode over every registered format and of the datapath entry
points (``dot``, ``matmul``, ``mx_matmul``) over random presets and shapes.

The property, for every call: either a result of the right shape that equals the exact
``numsim.reference`` (Fraction) model on small cases, or a ``ValueError``/``TypeError`` whose
message names the argument, raised only where the input is independently known to be bad (a
non-float dtype, an axis out of range, NaN into a format without NaN, an inexact operand, a K
mismatch). Inputs are never changed. Inputs that once crashed the process (kernels reading past
an array) run in a subprocess, so a segfault fails a test instead of ending the run.

Hypothesis runs derandomized (the same examples on every run and in CI) with few examples.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_datapath import MX_CASES, _ref_f32_bits, _ref_scales

import numsim
from numsim import datapath as dp
from numsim import formats as F
from numsim.reference import block as ref_block
from numsim.reference import codec as ref_codec
from numsim.reference import dot as ref_dot

#: Few, derandomized examples (the same on every run); NUMSIM_FUZZ_EXAMPLES=N and
#: NUMSIM_FUZZ_RANDOM=1 run a longer, random search by hand.
FUZZ = settings(
    max_examples=int(os.environ.get("NUMSIM_FUZZ_EXAMPLES", "30")),
    deadline=None,
    derandomize=not os.environ.get("NUMSIM_FUZZ_RANDOM"),
    suppress_health_check=list(HealthCheck),
)
FORMATS = F.names()
SPECIALS = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-45, 2.0**-126, 65504.0, 448.0, 3e38]


def _layout(base: np.ndarray, how: str) -> np.ndarray:
    """``base`` as a C, Fortran, strided or negative-stride (reversed last axis) view."""
    if how == "f":
        return np.asfortranarray(base)
    if how == "strided":
        wide = np.repeat(base[..., None], 2, axis=-1)
        return wide[..., 0]
    if how == "reversed" and base.ndim:
        return base[..., ::-1].copy()[..., ::-1]  # same values, a negative-stride view
    return base


@st.composite
def hostile_arrays(draw: st.DrawFn, max_size: int = 24) -> np.ndarray:
    """Arrays of float16/32/64 (either byte order) or int/bool dtypes, 0-d to 3-d, empty axes,
    NaN and Inf among the values, in any layout."""
    kind = draw(st.sampled_from(["f2", "f4", "f8", "f4", "f8", "i4", "i8", "u1", "b1"]))
    dtype = np.dtype(kind)
    if kind[0] == "f" and draw(st.booleans()):
        dtype = dtype.newbyteorder(">")
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=0, max_size=3)))
    while shape and math.prod(shape) > max_size:
        shape = shape[1:]
    n = math.prod(shape)
    vals = draw(
        st.lists(
            st.one_of(st.floats(-1e3, 1e3, width=32), st.sampled_from(SPECIALS)),
            min_size=n,
            max_size=n,
        )
    )
    if kind[0] != "f":
        vals = [0.0 if not math.isfinite(v) else v for v in vals]
    with np.errstate(all="ignore"):
        base = np.array(vals, dtype=np.float64).astype(dtype).reshape(shape)
    return _layout(base, draw(st.sampled_from(["c", "f", "strided", "reversed"])))


def _value(v: float) -> Any:
    """A float as the reference takes it: a Fraction, or the float NaN / +-Inf."""
    return Fraction(v) if math.isfinite(v) else v


def _ref_element_codes(fmt: Any, x: np.ndarray) -> list[int]:
    """Reference codes of each value of ``x`` (C order), signs of zero and NaN kept."""
    out = []
    for v in np.asarray(x, np.float64).reshape(-1):
        neg = bool(np.signbit(v))
        out.append(ref_codec.encode(fmt, _value(float(v)), negative_zero=neg, nan_negative=neg))
    return out


def _ref_block(fmt: Any, x: np.ndarray, axis: int, tensor_scale: float | None) -> tuple:
    """Reference (scales, codes, micro) of ``x`` blocked along ``axis``: rows of the moved axis,
    the last block padded with zeros."""
    rows = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    L, bs = rows.shape[-1], fmt.block_size
    nb = -(-L // bs)
    rows = rows.reshape(math.prod(rows.shape[:-1]), L)
    scales, codes, micro = [], [], []
    for r in rows:
        vals = [_value(float(v)) for v in r] + [Fraction(0)] * (nb * bs - L)
        for j in range(nb):
            s, c, m = ref_block.quantize_block(
                fmt,
                vals[j * bs : (j + 1) * bs],
                tensor_scale=None if tensor_scale is None else Fraction(tensor_scale),
            )
            scales.append(s)
            codes.extend(c)
            micro.extend(m)
    return scales, codes, micro


def _refusal_expected(x: np.ndarray, fmt: Any, axis: Any) -> str | None:
    """Why ``encode(x, fmt, axis=axis)`` must refuse, from the input alone (None: it must not)."""
    if x.dtype.kind != "f":
        return "dtype"
    block = isinstance(fmt, F.BlockFormat)
    if block and x.ndim == 0:
        return "dimension"
    if block and not -x.ndim <= axis < x.ndim:
        return "axis"
    elem = fmt.element if block else fmt
    if np.isnan(x).any() and not block and not elem.has_nan:
        return "NaN"
    return None


@FUZZ
@given(
    x=hostile_arrays(),
    name=st.sampled_from(FORMATS),
    axis=st.integers(-4, 3),
)
def test_encode_decode_every_format(x: np.ndarray, name: str, axis: int) -> None:
    fmt = F.get(name)
    block = isinstance(fmt, F.BlockFormat)
    keep, keep_dtype = x.copy(), x.dtype
    why = _refusal_expected(x, fmt, axis)
    try:
        got = numsim.encode(x, name, axis=axis) if block else numsim.encode(x, name)
    except TypeError as e:
        assert why == "dtype", (why, e)
        assert str(e).startswith("x: dtype"), e
        return
    except ValueError as e:
        assert why in ("axis", "dimension", "NaN"), (why, e)
        assert why in str(e), e
        return
    finally:
        np.testing.assert_array_equal(x, keep)  # never changed
        assert x.dtype == keep_dtype
    assert why is None, f"accepted what it should refuse ({why})"
    out = numsim.decode(got) if block else numsim.decode(got, name)
    assert out.shape == x.shape
    if block:
        assert got.shape == x.shape
        ts = got.tensor_scale
        if fmt.tensor_scale:
            finite = np.abs(x[np.isfinite(x)].astype(np.float64))
            amax = Fraction(float(finite.max())) if finite.size else Fraction(0)
            assert Fraction(ts) == ref_block.nvfp4_tensor_scale(amax)
        scales, codes, micro = _ref_block(fmt, x, axis, ts)
        L = x.shape[axis]
        assert got.scales.reshape(-1).tolist() == scales
        rows, width = math.prod(got.codes.shape[:-2]), got.codes.shape[-2] * fmt.block_size
        want = np.array(codes, np.int64).reshape(rows, width)[:, :L]  # padding not compared
        assert got.codes.reshape(rows, width)[:, :L].tolist() == want.tolist()
        if got.micro is not None:
            assert got.micro.reshape(-1).tolist() == micro
    else:
        assert got.shape == x.shape
        assert np.asarray(got).reshape(-1).tolist() == _ref_element_codes(fmt, x)
        for c, v in zip(np.asarray(got).reshape(-1), out.reshape(-1)):
            want = ref_codec.decode(fmt, int(c))
            assert (isinstance(want, float) and math.isnan(want) and np.isnan(v)) or v == want


@FUZZ
@given(
    name=st.sampled_from([n for n in FORMATS if not isinstance(F.get(n), F.BlockFormat)]),
    codes=st.lists(st.integers(-5, 2**33), max_size=12),
    dtype=st.sampled_from(["u1", "u2", "u4", "u8", "i2", "i8", ">u2", ">i4", "f4", "?"]),
    reverse=st.booleans(),
)
def test_decode_hostile_codes(name: str, codes: list[int], dtype: str, reverse: bool) -> None:
    """Codes of any integer dtype, byte order and stride decode as the reference does; codes out
    of the format's range, negative or not integers are refused naming ``codes``."""
    fmt, dt = F.get(name), np.dtype(dtype)
    with np.errstate(all="ignore"):
        arr = np.array(codes, dtype=np.int64).astype(dt)
    if reverse:
        arr = arr[::-1]
    vals = [int(v) for v in arr.tolist()]
    try:
        out = numsim.decode(arr, name)
    except TypeError as e:
        assert dt.kind not in "ui" and str(e).startswith("codes:"), e
        return
    except ValueError as e:
        assert any(v < 0 or v >> fmt.total_bits for v in vals) and str(e).startswith("codes:"), e
        return
    assert dt.kind in "ui" and all(0 <= v < 1 << fmt.total_bits for v in vals)
    assert out.shape == arr.shape
    for c, v in zip(vals, out.tolist()):
        want = ref_codec.decode(fmt, c)
        assert (isinstance(want, float) and math.isnan(want) and math.isnan(v)) or v == want


# ---------------------------------------------------------------------------------------------
# datapath.dot and datapath.matmul on random presets and shapes
# ---------------------------------------------------------------------------------------------
ACC = dp.Accumulator
#: Presets that take plain arrays (a grouped unit aligns at MX block scales: mx_matmul only).
DENSE = [n for n in dp.names() if dp.get(n).group is None]
GROUPED = [n for n in dp.names() if dp.get(n).group is not None]


def _exact_values(fmt: Any, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random values exact in ``fmt``: decoded random codes (every code, NaN and Inf included,
    by the reference decoder), as float64."""
    wide = getattr(fmt, "total_bits", 0) > 32  # fp64 (the FMA unit): codes beyond int64
    codes = rng.integers(0, 1 << fmt.total_bits, size=shape, dtype=np.uint64 if wide else np.int64)
    flat = [ref_codec.decode(fmt, int(c)) for c in codes.reshape(-1)]
    return np.array([float(v) for v in flat], np.float64).reshape(shape)


def _exact_in(fmt: Any, v: float) -> bool:
    """``v`` is a value of ``fmt`` (NaN where the format has one), by the reference codec."""
    if math.isnan(v):
        return bool(getattr(fmt, "has_nan", False))
    if math.isinf(v):
        return bool(getattr(fmt, "has_inf", False))
    try:
        code = ref_codec.encode(fmt, _value(v), negative_zero=math.copysign(1, v) < 0)
    except ValueError:
        return False
    return ref_codec.decode(fmt, code) == _value(v)


def _ref_result(unit: Any, a: list[float], b: list[float]) -> float:
    """The reference result of one dot product, as the float the API returns."""
    r, _ = ref_dot.dot_result(unit, [_value(v) for v in a], [_value(v) for v in b])
    fmt = ref_dot.result_format(unit)
    if fmt is None:
        return float(r)
    if fmt.total_bits > 32:  # the FP64 FMA unit: the binary64 code is the float64's bits
        return float(np.array([r], np.uint64).view(np.float64)[0])
    return float(np.array([_ref_f32_bits(unit, r)], np.uint32).view(np.float32)[0])


def _same(got: float, want: float) -> bool:
    return (math.isnan(got) and math.isnan(want)) or (
        got == want and math.copysign(1, got) == math.copysign(1, want)
    )


@FUZZ
@given(
    name=st.sampled_from(DENSE),
    lead=st.lists(st.integers(0, 3), max_size=2).map(tuple),
    K=st.integers(0, 40),
    seed=st.integers(0, 2**16),
    layout=st.sampled_from(["c", "f", "strided", "reversed", "big"]),
    hostile=st.sampled_from([None, None, "k-mismatch", "inexact"]),
    dtype=st.sampled_from(["f8", "f8", "f4", "f2", "i8"]),
)
def test_dot_and_matmul_random_presets(
    name: str, lead: tuple, K: int, seed: int, layout: str, hostile: str | None, dtype: str
) -> None:
    unit = dp.get(name)
    fmt_a, fmt_b = unit.in_format, unit.operand_b_format
    rng = np.random.default_rng(seed)
    a = _exact_values(fmt_a, rng, (*lead, K))
    b = _exact_values(fmt_b, rng, (*lead, K))
    if hostile == "k-mismatch":
        b = b[..., : max(K - 1, 0)] if K else np.zeros((*lead, 1))
    elif hostile == "inexact" and a.size:
        a.reshape(-1)[0] = 1.0 + 2.0**-40  # below every input format's precision
    with np.errstate(all="ignore"):
        a = a.astype(dtype)  # float16 may round or overflow a value: then it is inexact
    inexact = dtype != "i8" and not all(_exact_in(fmt_a, v) for v in a.reshape(-1).tolist())
    if hostile == "inexact":  # the cast may have rounded it back: the values decide
        hostile = None
    av = a.astype(a.dtype.newbyteorder(">")) if layout == "big" else _layout(a, layout)
    keep = a.copy()
    try:
        got = dp.dot(av, b, unit)
    except TypeError as e:
        assert dtype == "i8" and str(e).startswith("a: dtype int64"), e
        return
    except ValueError as e:
        assert hostile is not None or K == 0 or inexact, e
        assert any(w in str(e) for w in ("K", "a:", "b:", "exact", "shape")), e
        np.testing.assert_array_equal(a, keep)
        return
    assert hostile is None and K > 0 and dtype != "i8" and not inexact, f"{hostile}: accepted"
    np.testing.assert_array_equal(av, keep)
    a = a.astype(np.float64)
    assert got.shape == lead
    for idx in np.ndindex(*lead):
        if math.prod(lead) > 6:
            break
        want = _ref_result(unit, a[idx].tolist(), b[idx].tolist())
        assert _same(float(got[idx]), want), (name, idx, float(got[idx]), want)
    # matmul: A [M, K] @ B [K, N] on the same values, held to the reference per output
    M, N = 2, 3
    A = _exact_values(fmt_a, rng, (M, K))
    B = _exact_values(fmt_b, rng, (K, N))
    D = dp.matmul(_layout(A, layout) if layout != "big" else A.astype(">f8"), B, unit)
    assert D.shape == (M, N)
    for i in range(M):
        for j in range(N):
            want = _ref_result(unit, A[i].tolist(), B[:, j].tolist())
            assert _same(float(D[i, j]), want), (name, i, j, float(D[i, j]), want)


def test_grouped_presets_refuse_plain_arrays() -> None:
    for name in GROUPED:
        with pytest.raises(ValueError, match=f"unit={name}: .* takes MX operands"):
            dp.matmul(np.ones((2, 4)), np.ones((4, 2)), dp.get(name))


@FUZZ
@given(
    name=st.sampled_from(DENSE),
    shapes=st.sampled_from(
        [((2, 3, 4), (4, 2)), ((3,), (3, 2)), ((2, 4), (3, 2)), ((2, 0), (0, 2)), ((0, 3), (3, 1))]
    ),
)
def test_matmul_bad_shapes(name: str, shapes: tuple) -> None:
    """Non-2-D operands, a K mismatch or K = 0 are refused; M = 0 gives an empty result."""
    unit = dp.get(name)
    (sa, sb) = shapes
    A, B = np.zeros(sa), np.zeros(sb)
    if len(sa) == 2 and len(sb) == 2 and sa[1] == sb[0] and sa[1] > 0:
        assert dp.matmul(A, B, unit).shape == (sa[0], sb[1])
        return
    with pytest.raises(ValueError, match=r"2-D|K mismatch|K = 0"):
        dp.matmul(A, B, unit)


# ---------------------------------------------------------------------------------------------
# datapath.mx_matmul on random MX presets and shapes
# ---------------------------------------------------------------------------------------------
def _mx_reference(fmt: Any, unit: Any, A: Any, B: Any, C: np.ndarray) -> np.ndarray:
    """Each output of ``mx_matmul(A, B, unit, C)`` by the Fraction reference (the per-element
    scales and, for integer units, per-block chunk scales, as the MX datapath tests build them)."""
    av = [[ref_codec.decode(fmt.element, int(c)) for c in r.reshape(-1)] for r in A.codes]
    bv = [[ref_codec.decode(fmt.element, int(c)) for c in r.reshape(-1)] for r in B.codes]
    sa, sb = _ref_scales(A), _ref_scales(B)
    M, N = A.shape[0], B.shape[1]
    out = np.empty((M, N), np.float32)
    for i in range(M):
        for j in range(N):
            c = Fraction(float(C[i, j]))
            if isinstance(unit.in_format, F.IntFormat):
                ref_unit = replace(
                    unit, chunk=fmt.block_size, outer=unit.outer or ACC.floating(F.fp32)
                )
                f = fmt.element.frac_bits
                chunk = [
                    sa[i][k] * sb[j][k] / 2 ** (2 * f) for k in range(0, len(av[i]), fmt.block_size)
                ]
                code, _ = ref_dot.dot_result(
                    ref_unit,
                    [x * 2**f for x in av[i]],
                    [y * 2**f for y in bv[j]],
                    c,
                    chunk_scales=chunk,
                )
            else:
                ref_unit = unit
                semin = fmt.scale.emin if not fmt.scale.field0_normal else -(1 << 20)
                own = fmt.element.emin if unit.element_exponents == "own" else None
                code, _ = ref_dot.dot_result(
                    unit, av[i], bv[j], c, sa[i], sb[j], semin, a_emin=own, b_emin=own
                )
            want = np.float32(float(ref_codec.decode(ref_dot.result_format(ref_unit), code)))
            if fmt.tensor_scale:
                want = np.float32(np.float32(A.tensor_scale) * np.float32(B.tensor_scale)) * want
            out[i, j] = want
    return out


@FUZZ
@given(
    case=st.sampled_from(MX_CASES),
    M=st.integers(1, 3),
    N=st.integers(1, 3),
    blocks=st.integers(1, 2),
    tail=st.integers(0, 5),
    seed=st.integers(0, 2**16),
    with_c=st.booleans(),
)
def test_mx_matmul_random_presets(
    case: tuple, M: int, N: int, blocks: int, tail: int, seed: int, with_c: bool
) -> None:
    fmt, unit = F.get(case[0]), dp.get(case[1])
    K = (blocks - (tail > 0)) * fmt.block_size + tail or 1
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((M, K)) * 2.0 ** rng.integers(-12, 12, (M, 1))
    y = rng.standard_normal((K, N)) * 2.0 ** rng.integers(-12, 12, (1, N))
    A = numsim.encode(x.astype(np.float32), fmt, axis=1)
    B = numsim.encode(y.astype(np.float32), fmt, axis=0)
    C = (rng.standard_normal((M, N)) * 4).astype(np.float32) if with_c else np.zeros((M, N), "f4")
    D = dp.mx_matmul(A, B, unit, C if with_c else None)
    assert D.shape == (M, N) and D.dtype == np.float32
    want = _mx_reference(fmt, unit, A, B, C)
    same = (D == want) | (np.isnan(D) & np.isnan(want))
    assert same.all(), (case, D, want)
    # the transposed pairing is a shape error, named, never a kernel read
    if M != N or K != M:
        with pytest.raises(ValueError, match="A must be|K mismatch|shape"):
            dp.mx_matmul(B, A, unit)


# ---------------------------------------------------------------------------------------------
# Crash-class inputs in a subprocess
# ---------------------------------------------------------------------------------------------
_ADVERSARIAL = textwrap.dedent(
    """
    import numpy as np, numsim
    from numsim import datapath as dp

    rng = np.random.default_rng(0)
    done = refused = 0
    accepted = []  # corrupted BlockArrays some call did not refuse
    ALLOWED = (ValueError, TypeError)

    def call(f, *args, corrupt=None, **kw):
        global done, refused
        try:
            f(*args, **kw)
            done += 1
            if corrupt is not None:
                accepted.append((getattr(f, "__name__", "?"), corrupt))
        except ALLOWED:
            refused += 1

    x = rng.standard_normal((4, 64)).astype(np.float32)
    for name in ("mxfp4_e2m1", "mxfp8_e4m3", "nvfp4", "mx9", "mx6", "mxint8"):
        a = numsim.encode(x, name, axis=1)
        b = numsim.encode(x.T.copy(), name, axis=0)
        unit = dp.get("ocp-mx-exact")
        # arrays of a valid BlockArray swapped, after construction, for shorter or wider ones
        for field, bad in (
            ("codes", a.codes[:1]),
            ("codes", a.codes[..., :3]),
            ("codes", a.codes.astype(np.int8) - 100),
            ("scales", a.scales[:, :1]),
            ("scales", a.scales[:1]),
            ("scales", a.scales.astype(np.float32)),
            ("micro", None if a.micro is not None else np.zeros((4, 2, 1), np.uint8)),
            ("micro", a.micro[..., :1] if a.micro is not None else None),
            ("shape", (400, 64)),
            ("shape", (4, 6400)),
            ("shape", (4,)),
            ("axis", 7),
            ("tensor_scale", float("nan") if a.tensor_scale is not None else 1.0),
        ):
            if bad is None and getattr(a, field) is None:
                continue  # not a change
            c = numsim.encode(x, name, axis=1)
            object.__setattr__(c, field, bad)
            what = (name, field)
            call(numsim.decode, c, corrupt=what)
            call(dp.mx_matmul, c, b, unit, corrupt=what)
            call(dp.mx_matmul, a, c, unit, corrupt=what)
            call(c.pack, corrupt=what)
        # codes written in place beyond the element width
        c = numsim.encode(x, name, axis=1)
        if c.format.element.total_bits < 8:
            c.codes[...] = 255
            call(numsim.decode, c, corrupt=(name, "codes in place"))
            call(dp.mx_matmul, c, b, unit, corrupt=(name, "codes in place"))
            call(c.pack, corrupt=(name, "codes in place"))
    # dense paths: huge K, odd strides, big-endian, wrong types
    u = dp.get("h100-e4m3")
    v = numsim.quantize(rng.standard_normal((3, 2000)), "fp8_e4m3")
    call(dp.matmul, v, v.T[::-1], u)
    call(dp.matmul, v.astype(">f8"), v.T.copy(), u)
    call(dp.matmul, v, v, u)
    call(dp.matmul, v[:, :0], v.T[:0], u)
    call(dp.dot, v, v[:, :5], u)
    call(dp.dot, v.astype(np.int64), v, u)
    call(dp.dot, np.ma.masked_array(v), v, u)
    call(dp.matmul, v, v.T.copy(), u, np.zeros((3, 4), np.float32))
    call(numsim.decode, np.full(5, 2**40, np.uint64), "fp8_e4m3")
    call(numsim.unpack, b"\\x00", 8, 10**6)
    call(numsim.BlockArray.unpack, b"\\x00" * 3, "mxfp4_e2m1", (4, 64))
    print("accepted", accepted)
    print("ok", done, refused)
    """
)


def test_adversarial_batch_exits_cleanly() -> None:
    """Hand-corrupted BlockArrays (fields swapped for shorter, wider or out-of-range arrays after
    construction, codes written in place), mismatched dense shapes and hostile dtypes, all in a
    child process: it must finish (no segfault, no numba error) with every call either returning
    or raising ValueError/TypeError."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), *sys.path])}
    r = subprocess.run(
        [sys.executable, "-c", _ADVERSARIAL],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, (r.returncode, r.stderr[-3000:])
    lines = r.stdout.strip().splitlines()
    assert lines[-2] == "accepted []", lines[-2]  # every corrupted BlockArray refused by every call
    ok, _, refused = lines[-1].split()
    assert ok == "ok" and int(refused) >= 4 * 12 * 6, r.stdout
