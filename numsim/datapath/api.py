"""Validating wrappers around the dot-unit kernels (shared/DESIGN.md "Datapath models")."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._kernels.dot import NO_FLOOR, DotParams, dot_rows, matmul_rows, split_operands
from .._kernels.lower import lower
from ..codec import quantize
from ..formats import FloatFormat, fp32
from .unit import DotUnit

#: Float dtypes accepted for operands (ml_dtypes spellings included; they are widened exactly).
_FLOAT_DTYPES = {"float16", "float32", "float64", "bfloat16", "float8_e4m3fn", "float8_e5m2"}


def _params(unit: DotUnit) -> DotParams:
    """Lower a unit to the kernels' integer parameters."""
    out = unit.out_format
    return DotParams(unit.n, unit.frac_bits, int(unit.raw_product_exponent), int(unit.term_rounding),
                     int(unit.c_inside), NO_FLOOR if unit.min_exp is None else unit.min_exp,
                     unit.in_format.man_bits, out.exp_bits, out.man_bits, out.bias, int(unit.out_rounding),
                     int(unit.subnormals_out))


def _as_float64(x: Any, argument: str) -> np.ndarray:
    """``x`` as a float64 array, or TypeError naming ``argument``."""
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # torch tensor
        x = x.detach().cpu().float().numpy() if str(x.dtype) == "torch.bfloat16" else x.detach().cpu().numpy()
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{argument}: expected a float array or a nested list of numbers ({exc})") from None
    if x.dtype.name not in _FLOAT_DTYPES:
        raise TypeError(f"{argument}: dtype {x.dtype} is not supported; expected one of {sorted(_FLOAT_DTYPES)}")
    return x.astype(np.float64)


def _check_exact(x: np.ndarray, fmt: FloatFormat, argument: str) -> None:
    """Raise ValueError unless every value of ``x`` is exactly representable in ``fmt``."""
    if fmt.has_nan:
        probe = np.where(np.isnan(x), 0.0, x)
    else:
        if np.isnan(x).any():
            raise ValueError(f"{argument}: NaN is not representable in {fmt}")
        probe = x
    if not fmt.has_inf and np.isinf(x).any():
        raise ValueError(f"{argument}: Inf is not representable in {fmt}")
    finite = np.where(np.isinf(probe), 0.0, probe)
    q = quantize(finite, fmt, rounding="nearest_even", overflow="saturate")
    bad = q != finite
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{argument}{list(idx)} = {finite[idx]!r} is not exactly representable in {fmt}")


def _operand(x: Any, fmt: FloatFormat, argument: str) -> np.ndarray:
    """A validated float64 operand array."""
    arr = _as_float64(x, argument)
    _check_exact(arr, fmt, argument)
    return arr


def _c_bits(c: Any, shape: tuple[int, ...], argument: str) -> np.ndarray:
    """FP32 bit patterns (int64) of ``c`` broadcast to ``shape`` (zeros when ``c`` is None)."""
    if c is None:
        return np.zeros(shape, np.int64)
    arr = _operand(c, fp32, argument)
    try:
        arr = np.broadcast_to(arr, shape)
    except ValueError:
        raise ValueError(f"{argument}: shape {arr.shape} does not broadcast to the result shape {shape}") from None
    return np.ascontiguousarray(arr.astype(np.float32)).view(np.uint32).astype(np.int64)


def _split(x: np.ndarray, fmt: FloatFormat) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decompose a 2-D float64 array into (significand, exponent, kind) int64 arrays of its shape."""
    bits = np.ascontiguousarray(x).reshape(-1).view(np.int64)
    m, e, k = split_operands(bits, fmt.man_bits, fmt.emin)
    return m.reshape(x.shape), e.reshape(x.shape), k.reshape(x.shape)


def _check_unit(unit: Any) -> DotUnit:
    """``unit`` if it is a DotUnit, else TypeError."""
    if not isinstance(unit, DotUnit):
        raise TypeError(f"unit={unit!r}: expected a numsim.datapath.DotUnit (see numsim.datapath.get)")
    return unit


def dot(a: Any, b: Any, unit: DotUnit, c: Any = None) -> np.ndarray:
    """Dot products of ``unit`` over the last axis, chained in blocks of ``unit.n``.

    Args:
        a: [..., K] values exact in ``unit.in_format``.
        b: [..., K] values exact in ``unit.in_format``; leading axes broadcast with ``a``'s.
        unit: the dot unit.
        c: accumulator input, FP32 values broadcastable to the leading shape; None for 0.

    Returns:
        float32 array of the leading shape holding the ``unit.out_format`` results.

    Raises:
        TypeError: unsupported dtypes, ``unit`` not a DotUnit.
        ValueError: values not exact in the input format (or c not exact in FP32), mismatched K,
            non-broadcastable shapes, K == 0.
    """
    unit = _check_unit(unit)
    fa = _operand(a, unit.in_format, "a")
    fb = _operand(b, unit.in_format, "b")
    if fa.ndim == 0 or fb.ndim == 0:
        raise ValueError(f"a and b must have at least one axis (K); got shapes {fa.shape} and {fb.shape}")
    if fa.shape[-1] != fb.shape[-1]:
        raise ValueError(f"K mismatch: a has K={fa.shape[-1]} (shape {fa.shape}), b has K={fb.shape[-1]} "
                         f"(shape {fb.shape})")
    K = fa.shape[-1]
    if K == 0:
        raise ValueError("K = 0: a and b must hold at least one product")
    try:
        lead = np.broadcast_shapes(fa.shape[:-1], fb.shape[:-1])
    except ValueError:
        raise ValueError(f"a {fa.shape} and b {fb.shape}: leading axes do not broadcast") from None
    fa = np.broadcast_to(fa, (*lead, K)).reshape(-1, K)
    fb = np.broadcast_to(fb, (*lead, K)).reshape(-1, K)
    cb = _c_bits(c, lead, "c").reshape(-1)
    out = dot_rows(*_split(fa, unit.in_format), *_split(fb, unit.in_format), cb, lower(unit.out_format),
                   _params(unit))
    return out.astype(np.float32).reshape(lead)


def matmul(A: Any, B: Any, unit: DotUnit, C: Any = None) -> np.ndarray:
    """``C + A @ B`` on ``unit``: each output is the chained dot of a row of A and a column of B.

    Args:
        A: [M, K] values exact in ``unit.in_format``.
        B: [K, N] values exact in ``unit.in_format``.
        unit: the dot unit.
        C: FP32 values broadcastable to [M, N]; None for 0.

    Returns:
        float32 [M, N] array of ``unit.out_format`` results.

    Raises:
        TypeError: unsupported dtypes, ``unit`` not a DotUnit.
        ValueError: inexact values, non-2-D operands, mismatched K, K == 0, bad C shape.
    """
    unit = _check_unit(unit)
    fa = _operand(A, unit.in_format, "A")
    fb = _operand(B, unit.in_format, "B")
    if fa.ndim != 2 or fb.ndim != 2:
        raise ValueError(f"A and B must be 2-D; got shapes {fa.shape} and {fb.shape}")
    if fa.shape[1] != fb.shape[0]:
        raise ValueError(f"K mismatch: A is {fa.shape} and B is {fb.shape} (A.shape[1] must equal B.shape[0])")
    if fa.shape[1] == 0:
        raise ValueError("K = 0: A and B must hold at least one product per output")
    M, N = fa.shape[0], fb.shape[1]
    cb = _c_bits(C, (M, N), "C")
    out = matmul_rows(*_split(fa, unit.in_format), *_split(np.ascontiguousarray(fb.T), unit.in_format), cb,
                      lower(unit.out_format), _params(unit))
    return out.astype(np.float32)
