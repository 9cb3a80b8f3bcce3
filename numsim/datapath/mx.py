"""MX Dot and DotGeneral on :class:`numsim.BlockArray` operands (OCP MX v1.0 §6.1-6.2).

``Dot`` of two blocks is ``X_A * X_B * sum(P_i * Q_i)``; ``DotGeneral`` sums the Dots of the blocks
along K. The spec leaves the internal precision open: here it is the unit's. The scales factor out
exactly:

- **Float units**: each element is decoded exactly and multiplied exactly by its block scale (and
  MX9/6/4 microexponent), so a product is ``P_i * X_A * Q_i * X_B`` with raw exponent
  ``e(P_i) + e(X_A) + e(Q_i) + e(X_B)``; the unit then aligns, rounds and accumulates as for any
  K. Element exponents are taken in the unit's ``in_format`` (the format the hardware decodes
  elements into, e.g. MXDOTP's FP9 E5M3), scale exponents in the scale format.
- **Integer units** (MXINT8 on ``int8-acc{P}``): each MX block's integer dot product runs in the
  unit's register; the block result times ``X_A * X_B`` joins the unit's outer accumulator, or,
  when the unit has none, an FP32 accumulator with RNE (DotGeneral's FP32 sum).
- A NaN scale (E8M0 0xFF) makes every product of its block NaN, so the result is NaN.
- NVFP4's FP32 tensor scales multiply the result last, in FP32 as a GEMM epilogue does:
  ``fl32(fl32(s_A * s_B) * D)``.
- Mixed element formats (e.g. MXFP8 E4M3 activations x MXFP4 E2M1 weights, the W4A8 case) run on
  float units when both operands share the block size and the scale format: each operand's
  elements decode exactly into the unit's ``in_format`` (a ValueError names the first element
  that does not), so the unit sees the same kind of products as for one format.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from .._kernels.intunit import int_rows
from .._kernels.lower import lower
from .._kernels.operands import scaled_rows, split_operands
from .._tables import code_classes, float64_values
from ..block import BlockArray, validate_block_array
from ..formats import CodeClass, FloatFormat, IntFormat, fp32
from ._lower import c_bits, check_exact, formats_of, pair_rows, params, run_split
from .unit import Accumulator, DotUnit, check_unit

_FP32_RNE = Accumulator.floating(fp32, "nearest_even")


def _check_block(x: Any, argument: str) -> BlockArray:
    """``x`` if it is a BlockArray blocked along its last axis, else TypeError / ValueError."""
    if not isinstance(x, BlockArray):
        raise TypeError(
            f"{argument}: expected a numsim.BlockArray (numsim.encode(x, 'mxfp8_e4m3', ...)), "
            f"got {type(x).__name__}"
        )
    return validate_block_array(x, argument)


def _scale_parts(s: np.ndarray, fmt: FloatFormat) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scale values as ``(significand, exponent, nan)`` with ``s = sig * 2**(exp - man_bits)``."""
    nan = np.isnan(s)
    z = np.where(nan | (s == 0), 1.0, s)
    _, e = np.frexp(z)
    exp = np.maximum(e - 1, fmt.emin) if not fmt.field0_normal else e - 1
    sig = np.where(nan | (s == 0), 0.0, np.ldexp(z, -(exp - fmt.man_bits)))
    return sig.astype(np.int64), exp.astype(np.int64), nan


def _float_operand(x: BlockArray, unit: DotUnit) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Scaled operand rows ``(m, e, kind)`` [R, Kpad] for a float unit and the scaled fraction bits.

    Elements are decoded through the table of every code (:mod:`numsim._tables`), so the
    exactness check runs over the codes that occur (and over the elements only to name the first
    bad one); scales once per block.
    """
    fin = unit.in_format
    assert isinstance(fin, FloatFormat)
    fmt = x.format
    R = int(np.prod(x.codes.shape[:-2]))
    nb, bs = x.codes.shape[-2:]
    codes = x.codes.reshape(R, nb * bs)
    table = float64_values(fmt.element)
    finite = np.where(code_classes(fmt.element) <= CodeClass.finite, table, 0.0)
    try:
        check_exact(finite[np.bincount(codes.reshape(-1), minlength=table.size) > 0], fin, "")
    except ValueError:
        check_exact(finite[codes], fin, f"{fmt.name} elements")  # names the first bad element
    mt, et, kt = split_operands(
        table.view(np.int64), fin.man_bits, fin.emin, not unit.subnormals_in
    )
    sfmt = fmt.scale
    ssig, sexp, snan = _scale_parts(float64_values(sfmt)[x.scales.reshape(R, nb)], sfmt)
    if x.micro is None:
        micro, sub = np.zeros((R, 1), np.int64), 0
    else:
        micro, sub = x.micro.reshape(R, -1).astype(np.int64), fmt.sub_block_size
    m, e, k = scaled_rows(codes, mt, et, kt, ssig, sexp, snan, micro, sub)
    return m, e, k, fin.man_bits + sfmt.man_bits


def _check_pair(a: BlockArray, b: BlockArray, unit: DotUnit | None = None) -> None:
    """Same format, or (float units) mixed elements sharing block size and scale format (W4A8)."""
    if a.format != b.format:
        fa, fb = a.format, b.format
        mixed_ok = (
            unit is not None
            and isinstance(unit.in_format, FloatFormat)
            and fa.block_size == fb.block_size
            and fa.scale == fb.scale
            and not fa.tensor_scale
            and not fb.tensor_scale
        )
        if not mixed_ok:
            raise ValueError(
                f"a is {fa.name} and b is {fb.name}: MX Dot needs one block format, or on a float "
                "unit two formats with the same block size and scale format and no tensor scale"
            )
    if a.format.tensor_scale and (a.tensor_scale is None or b.tensor_scale is None):
        raise ValueError("NVFP4 operands need their tensor_scale")


def _tensor_scale(a: BlockArray, b: BlockArray, out: np.ndarray) -> np.ndarray:
    """NVFP4: ``fl32(fl32(s_A * s_B) * out)``; other formats: ``out``."""
    if not a.format.tensor_scale:
        return out
    alpha = np.float32(a.tensor_scale) * np.float32(b.tensor_scale)
    return (np.float32(alpha) * out.astype(np.float32)).astype(out.dtype)


def _int_run(
    unit: DotUnit,
    a: BlockArray,
    b: BlockArray,
    ra: np.ndarray,
    rb: np.ndarray,
    c: Any,
    shape: tuple[int, ...],
    cname: str,
) -> tuple[np.ndarray, np.ndarray]:
    """MX blocks on an integer unit: each block's integer dot, scaled, into the outer
    accumulator."""
    fin = unit.in_format
    assert isinstance(fin, IntFormat)
    elem = a.format.element
    if not isinstance(elem, IntFormat) or a.micro is not None:
        raise ValueError(
            f"unit={unit.name}: an integer unit takes MX blocks of integer elements without "
            f"microexponents (MXINT8), not {a.format.name}"
        )
    if elem.max_int > fin.max_int or -elem.min_int > -fin.min_int:
        raise ValueError(f"unit={unit.name}: {elem} integers do not fit {fin}")
    bs = a.format.block_size
    if unit.chunk not in (None, bs):
        raise ValueError(
            f"unit={unit.name}: chunk={unit.chunk}; MX blocks of {bs} need chunk=None or {bs}"
        )
    outer = unit.outer if unit.outer is not None else _FP32_RNE
    if outer.kind == "int":
        raise ValueError(
            f"unit={unit.name}: scaled MX block results need a float or exact outer accumulator"
        )
    run_unit = replace(unit, chunk=bs, outer=outer)
    parts = []
    for x in (a, b):
        R = int(np.prod(x.codes.shape[:-2]))
        ints = (float64_values(elem)[x.codes.reshape(R, -1)] * 2.0**elem.frac_bits).astype(np.int64)
        sv = float64_values(x.format.scale)[x.scales.reshape(R, -1)]
        _, sexp, snan = _scale_parts(sv, x.format.scale)
        parts.append((ints, sexp - elem.frac_bits, snan))
    if c is None:
        cbits = np.zeros(ra.size, np.int64)
    else:
        cbits = c_bits(c, shape, cname).reshape(-1)
    po = formats_of(run_unit)[2]
    out, over = int_rows(
        parts[0][0],
        parts[1][0],
        ra,
        rb,
        cbits,
        parts[0][1],
        parts[0][2],
        parts[1][1],
        parts[1][2],
        lower(fp32),
        po,
        params(run_unit),
    )
    return out.astype(np.float32).reshape(shape), over.reshape(shape)


def _dispatch(
    unit: DotUnit,
    a: BlockArray,
    b: BlockArray,
    ra: np.ndarray,
    rb: np.ndarray,
    c: Any,
    shape: tuple[int, ...],
    cname: str,
) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(unit.in_format, IntFormat):
        out, over = _int_run(unit, a, b, ra, rb, c, shape, cname)
    else:
        am, ae, ak, man = _float_operand(a, unit)
        bm, be, bk, _ = _float_operand(b, unit)
        out, over = run_split(unit, (am, ae, ak), (bm, be, bk), ra, rb, c, shape, cname, man)
    return _tensor_scale(a, b, out), over


def mx_dot(
    a: BlockArray, b: BlockArray, unit: DotUnit, c: Any = None, *, return_overflows: bool = False
) -> Any:
    """MX DotGeneral over the block axis (the last axis of both) on ``unit``.

    Args:
        a: BlockArray of shape [..., K] blocked along its last axis.
        b: BlockArray of the same format (or a mixed one, see the module docstring), shape [..., K]
            (leading axes broadcast with ``a``'s).
        unit: the dot unit (its internal precision is the Dot's).
        c: accumulator input (FP32 values) broadcastable to the leading shape; None for 0.
        return_overflows: also return the integer-register overflow counts.

    Returns:
        float32 results of the leading shape (and the overflow counts).

    Raises:
        TypeError: operands not BlockArrays, unit not a DotUnit.
        ValueError: different formats, block axis not last, mismatched K, elements not exact in
            the unit's input format, an integer unit with non-integer elements.
    """
    unit = check_unit(unit)
    a, b = _check_block(a, "a"), _check_block(b, "b")
    _check_pair(a, b, unit)
    for x, name in ((a, "a"), (b, "b")):
        if x.axis != len(x.shape) - 1:
            raise ValueError(
                f"{name}: blocked along axis {x.axis} of shape {x.shape}; mx_dot needs the last "
                "axis"
            )
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"K mismatch: a has K={a.shape[-1]}, b has K={b.shape[-1]}")
    lead, ra, rb = pair_rows(a.shape, b.shape)
    out, over = _dispatch(unit, a, b, ra, rb, c, lead, "c")
    return (out, over) if return_overflows else out


def mx_matmul(
    A: BlockArray, B: BlockArray, unit: DotUnit, C: Any = None, *, return_overflows: bool = False
) -> Any:
    """``C + A @ B`` for MX operands: A [M, K] blocked along axis 1, B [K, N] blocked along axis 0.

    Each output is :func:`mx_dot` of a row of A and a column of B. Returns float32 [M, N] (and the
    overflow counts with ``return_overflows``).
    """
    unit = check_unit(unit)
    A, B = _check_block(A, "A"), _check_block(B, "B")
    _check_pair(A, B, unit)
    if len(A.shape) != 2 or len(B.shape) != 2 or A.axis != 1 or B.axis != 0:
        raise ValueError(
            f"A must be [M, K] blocked along axis 1 and B [K, N] blocked along axis 0; got A "
            f"{A.shape} axis {A.axis}, B {B.shape} axis {B.axis}"
        )
    if A.shape[1] != B.shape[0]:
        raise ValueError(f"K mismatch: A is {A.shape} and B is {B.shape}")
    M, N = A.shape[0], B.shape[1]
    ra = np.repeat(np.arange(M, dtype=np.int64), N)
    rb = np.tile(np.arange(N, dtype=np.int64), M)
    out, over = _dispatch(unit, A, B, ra, rb, C, (M, N), "C")
    return (out, over) if return_overflows else out
