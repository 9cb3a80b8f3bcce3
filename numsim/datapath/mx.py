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
  that does not), so the unit sees the same kind of products as for one format. With
  ``element_exponents="own"`` (the block-scaled NVIDIA presets) each operand's elements keep
  the exponents of their own element format (``kind::mxf8f6f4``: E4M3, E5M2, E3M2, E2M3 or E2M1
  on either side, MMA-Sim ``nv_fused_dot_add``).
- **Grouped units** (``group``, ``group_exponent="scales"``: ``b200-mxf4nvf4``): the products of
  each group are summed exactly and the group joins the alignment at its scales' exponent
  (:mod:`numsim._kernels.mxdot`).

``mx_matmul`` takes a fast path where one applies (each held bit for bit to the general kernel
and the reference by tests/test_fast_paths.py): truncating chained units (``b200-mxf8f6f4``)
run the scaled operands on the lane kernel of :func:`numsim.datapath.matmul` where its bounds
hold (:func:`_chain_lanes`), else get their block sums from float64 BLAS and round c plus the
sum once wherever the truncation provably removes nothing, the other blocks on the chain kernel
(:func:`_chain_blas`; else the vectorized kernel on the scaled operands); exact units get
their block sums from float64 BLAS (:func:`_blas_blocks`); grouped units (``b200-mxf4nvf4``)
get their group sums from float32 / float64 BLAS the same way (:func:`_group_blas`; else one
tiled kernel).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from .._kernels.core import K_FINITE
from .._kernels.fastdot import NO_EXP, chain_lanes_f32, combine_blocks, combine_f32, matmul_fast
from .._kernels.intunit import int_rows
from .._kernels.kulisch import KUL_SIZE
from .._kernels.lower import lower
from .._kernels.mxdot import (
    DROPPED,
    chain_blocks,
    exact_total,
    group_blocks,
    group_matmul,
    group_rows,
)
from .._kernels.operands import lsb_span, scaled_rows, split_operands
from .._tables import code_classes, float64_values
from ..block import BlockArray, validate_block_array
from ..formats import CodeClass, FloatFormat, IntFormat, fp32
from ..policies import RoundMode
from . import api as _api
from ._lower import (
    c_bits,
    check_exact,
    formats_of,
    pair_rows,
    params,
    reject_fp64,
    run_split,
)
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
    # element exponents in in_format, or in the element's own format (block-scaled NVIDIA units)
    emin = fmt.element.emin if unit.element_exponents == "own" else fin.emin
    mt, et, kt = split_operands(table.view(np.int64), fin.man_bits, emin, not unit.subnormals_in)
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


def _element_ints(x: BlockArray, argument: str) -> tuple[np.ndarray, int, int]:
    """Elements as integers ``q`` with value ``q * 2**-fe``: ``(q [R, K], fe, max |q|)``.

    For grouped units, whose element formats have no Inf or NaN (FP4, FP6, integers); elements
    with microexponents are refused (the block-scaled instructions have none).
    """
    elem = x.format.element
    if x.micro is not None or (isinstance(elem, FloatFormat) and (elem.has_nan or elem.has_inf)):
        raise ValueError(
            f"{argument} is {x.format.name}: a grouped unit takes elements without Inf, NaN or "
            "microexponents (FP4, FP6, integer elements)"
        )
    fe = elem.frac_bits if isinstance(elem, IntFormat) else elem.man_bits - elem.emin
    table = float64_values(elem) * 2.0**fe
    R = int(np.prod(x.codes.shape[:-2]))
    q = table.astype(np.int64)[x.codes.reshape(R, -1)]
    return q, fe, int(np.abs(table).max())


def _group_scales(x: BlockArray, g: int, unit: DotUnit) -> tuple[np.ndarray, ...]:
    """Per group of ``g`` elements of a grouped unit's operand [R, groups]: the scale's
    significand and exponent, the exponent with which the group joins the alignment maximum
    (``zero_exponent`` for a zero scale, or ``mxdot.DROPPED`` when that is None) and its NaN
    flag."""
    sfmt = x.format.scale
    R = int(np.prod(x.codes.shape[:-2]))
    sv = float64_values(sfmt)[x.scales.reshape(R, -1)]
    sig, exp, nan = _scale_parts(sv, sfmt)
    zero = (sig == 0) & ~nan
    z = DROPPED if unit.zero_exponent is None else unit.zero_exponent
    join = np.where(zero, z, exp)
    per = x.format.block_size // g
    return tuple(np.repeat(v, per, axis=1) for v in (sig, exp, join, nan))


def _group_check(unit: DotUnit, a: BlockArray, b: BlockArray, qmax: int) -> None:
    """The group fits the scale blocks and its sums the float64 / int64 arithmetic."""
    g = unit.group
    assert g is not None
    for x, name in ((a, "a"), (b, "b")):
        bs = x.format.block_size
        if bs % g:
            raise ValueError(
                f"unit={unit.name}: group={g} does not divide {name}'s block size {bs} "
                f"({x.format.name})"
            )
    if qmax * g >= 2**53:
        raise ValueError(
            f"unit={unit.name}: group sums of {a.format.name} x {b.format.name} elements exceed "
            "the 53 bits of an exact float64 sum"
        )
    sig_bits = 2 * (a.format.scale.man_bits + 1)
    if (qmax * g).bit_length() + sig_bits + (unit.n // g).bit_length() + 1 > 62:
        raise ValueError(f"unit={unit.name}: group terms exceed the kernel's int64")


def _group_run(
    unit: DotUnit,
    a: BlockArray,
    b: BlockArray,
    ra: np.ndarray,
    rb: np.ndarray,
    c: Any,
    shape: tuple[int, ...],
    cname: str,
    matmul: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """A grouped unit (``group``, ``group_exponent="scales"``) on the kernels of
    :mod:`numsim._kernels.mxdot` (``group_matmul`` for a GEMM, ``group_rows`` for row pairs)."""
    g = unit.group
    assert g is not None
    qa, fea, ma = _element_ints(a, "a")
    qb, feb, mb = _element_ints(b, "b")
    _group_check(unit, a, b, ma * mb)
    sa, sb = _group_scales(a, g, unit), _group_scales(b, g, unit)
    cbits = c_bits(c, shape, cname)
    cbits = cbits if matmul else cbits.reshape(ra.size)
    p = formats_of(unit)[0]
    lsb0 = -(fea + feb) - 2 * a.format.scale.man_bits
    prm = params(unit)

    # int32 sums (integer reductions vectorize) when every partial sum is below 2**31, else exact
    # integers in float64 (below 2**53, checked above)
    ftype = np.int32 if ma * mb * g < 2**31 else np.float64
    fa, fb = qa.astype(ftype), qb.astype(ftype)
    args = (sa, sb, g, cbits, lower(fp32), p, lsb0, prm)
    if matmul:
        blas = _group_blas(unit, qa, qb, sa, sb, ma * mb, fea + feb, cbits, p, lsb0, prm)
        out = blas if blas is not None else group_matmul(fa, fb, *args)
    else:
        out = group_rows(fa, fb, ra, rb, *args)
    return out.astype(np.float32).reshape(shape), np.zeros(shape, np.int64)


def _group_blas(
    unit: DotUnit,
    qa: np.ndarray,
    qb: np.ndarray,
    sa: tuple[np.ndarray, ...],
    sb: tuple[np.ndarray, ...],
    qmax: int,
    fe: int,
    cbits: np.ndarray,
    p: Any,
    lsb0: int,
    prm: Any,
) -> np.ndarray | None:
    """A grouped unit's GEMM from BLAS group sums (:func:`numsim._kernels.mxdot.group_blocks`),
    or None.

    The group sums are integers: one float32 GEMM per group of ``g`` element columns when every
    partial sum stays below ``2**24`` (exact in float32), else float64 (below ``2**53``, checked by
    :func:`_group_check`). A block's terms and c, when none is truncated, are multiples of
    ``2**(eta - F)`` below ``2**(eta - F + bits)`` with ``bits = F + bit_length(qmax * g) + 2 -
    fe + bit_length(gpn) + 1`` (a term is at most ``qmax * g * 2**(2 + eta - fe)``, c below
    ``2**(eta + 1)``), so their float64 sum is exact when ``bits <= 53`` (checked here).
    """
    g = unit.group
    assert g is not None and unit.frac_bits is not None
    gpn = unit.n // g
    bits = unit.frac_bits + (qmax * g).bit_length() + 2 - fe + gpn.bit_length() + 1
    if (
        bits > 53
        or unit.out_format != fp32
        or unit.out_rounding not in (RoundMode.nearest_even, RoundMode.toward_zero)
        or unit.accumulator.kind != "chain"
        or unit.chunk is not None
        or unit.outer is not None
    ):
        return None
    if max(np.abs(sa[1]).max(initial=0), np.abs(sb[1]).max(initial=0)) > 400:
        return None
    ftype = np.float32 if qmax * g < 2**24 else np.float64
    fa, fbt = qa.astype(ftype), np.ascontiguousarray(qb.T.astype(ftype))
    M, Kp = qa.shape
    N = qb.shape[0]
    pa, pb = np.ldexp(1.0, sa[1]), np.ldexp(1.0, sb[1])
    acc = cbits.astype(np.uint32).view(np.float32).astype(np.float64)
    rows = max(1, _PANEL // (N * gpn))
    buf = np.empty((gpn, min(rows, M), N), ftype)  # reused: fresh pages are slow
    for i0 in range(0, M, rows):
        i1 = min(i0 + rows, M)
        G = buf[:, : i1 - i0]
        acc_v = acc[i0:i1]
        ng = Kp // g
        for j0 in range(0, ng, gpn):
            cnt = min(gpn, ng - j0)  # the last block may hold fewer groups
            for t in range(cnt):
                k0 = (j0 + t) * g
                np.matmul(fa[i0:i1, k0 : k0 + g], fbt[k0 : k0 + g], out=G[t])
            group_blocks(acc_v, G[:cnt], sa, sb, pa, pb, i0, j0, lsb0, p, prm)
    acc[np.isnan(acc)] = np.nan  # the kernel's NaN
    return acc


#: Output entries times block sums per panel of the BLAS fast path (cache-sized pieces).
_PANEL = 1 << 20


def _chain_fast_ok(unit: DotUnit, man: int) -> bool:
    """The unit fits the vectorized chained-truncation kernel (``fastdot.matmul_fast``) for
    scaled operands with ``man`` fraction bits."""
    return (
        unit.accumulator.kind == "chain"
        and unit.frac_bits is not None
        and unit.raw_product_exponent
        and unit.term_rounding == RoundMode.toward_zero
        and unit.c_inside
        and not unit.odd_even
        and not unit.pairwise
        and unit.product_limit is None
        and unit.frac_bits >= 2 * man
        and (unit.outer is None or unit.outer.kind == "float")
    )


def _fast_matmul(
    unit: DotUnit,
    A: BlockArray,
    B: BlockArray,
    a: tuple[np.ndarray, np.ndarray, np.ndarray],
    b: tuple[np.ndarray, np.ndarray, np.ndarray],
    man: int,
    C: Any,
    shape: tuple[int, ...],
    cname: str,
) -> np.ndarray | None:
    """``mx_matmul`` on a fast path, or None (then the general kernel runs).

    * Truncating chained units (NVIDIA presets, ``b200-mxf8f6f4``), when every operand is
      finite: :func:`_chain_lanes` (RZ block results into FP32, no chunks: about 1.5x the
      BLAS path on MiniLM's shapes), :func:`_chain_blas`, or the scaled operands (element
      significand times scale significand, exponents added) through the vectorized kernel of
      :func:`numsim.datapath.matmul` (``fastdot.matmul_fast``).
    * Exact units (``frac_bits=None``: ``ocp-mx-*``, ``mxdotp``): :func:`_blas_blocks`.
    """
    cbits = c_bits(C, shape, cname)
    if not unit.subnormals_in:
        cbits = np.where((cbits & 0x7F800000) == 0, cbits & 0x80000000, cbits)
    if _chain_fast_ok(unit, man):
        if (a[2] > K_FINITE).any() or (b[2] > K_FINITE).any():
            return None
        if _chain_lanes_ok(unit, a, b):
            return _chain_lanes(unit, a, b, man, cbits)
        blas = _chain_blas(unit, A, B, a, b, man, cbits)
        if blas is not None:
            return blas
        p, _, po = formats_of(unit)
        out = matmul_fast(a[0], a[1], b[0], b[1], cbits, lower(fp32), p, po, params(unit, man))
        return out.astype(np.float32)
    return _blas_blocks(unit, A, B, cbits)


def _chain_lanes_ok(unit: DotUnit, a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> bool:
    """True when :func:`numsim._kernels.fastdot.chain_lanes_f32` serves a truncating chained unit
    (``b200-mxf8f6f4``) on finite scaled operands: the bounds of
    :func:`numsim.datapath.api._chain_lanes_ok` (no chunks or outer accumulator, RZ block results
    into FP32 with subnormals, every block sum with c exact in float64), and the scaled
    significands and exponents inside the kernel's int32 lanes (exponents far from
    :data:`numsim._kernels.fastdot.NO_EXP`)."""
    F = unit.frac_bits
    if not (
        F is not None
        and unit.chunk is None
        and unit.outer is None
        and unit.out_rounding == RoundMode.toward_zero
        and unit.out_format == fp32
        and unit.subnormals_out
        and (unit.n + 2) << (F + 2) <= 2**53
    ):
        return False
    for m, e, _ in (a, b):
        if m.size and (np.abs(m).max() >= 1 << 24 or np.abs(e).max() > 1 << 12):
            return False
    return True


def _chain_lanes(
    unit: DotUnit,
    a: tuple[np.ndarray, np.ndarray, np.ndarray],
    b: tuple[np.ndarray, np.ndarray, np.ndarray],
    man: int,
    cbits: np.ndarray,
) -> np.ndarray:
    """``mx_matmul`` of a truncating chained unit on the lane kernel
    (:func:`numsim._kernels.fastdot.chain_lanes_f32`): the scaled operands (element significand
    times scale significand with ``man`` fraction bits, exponents added) are the FP operands
    ``m 2**(e - man)`` that ``fastdot.matmul_fast`` takes, as int32 with a zero's exponent
    replaced by ``zero_exp`` (units with ``zero_join``) or ``NO_EXP``, B as [K, N]."""
    prm = params(unit, man)
    z = prm.zero_exp if prm.zero_join else NO_EXP

    def lanes(m: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return m.astype(np.int32), np.where(m == 0, z, e).astype(np.int32)

    am, ae = lanes(a[0], a[1])
    bm, be = lanes(b[0].T, b[1].T)
    C = cbits.astype(np.uint32).view(np.float32).astype(np.float64)
    out = unit.out_format
    return chain_lanes_f32(
        am,
        ae,
        np.ascontiguousarray(bm),
        np.ascontiguousarray(be),
        C,
        prm,
        out.emin,
        out.emax,
        out.man_bits,
    )


def _row_bounds(m: np.ndarray, e: np.ndarray, L: int, prm: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per row and slice of ``L`` scaled elements ``m * 2**(e - man)``: ``(u, low)``, an upper
    bound of the exponents with which the slice's elements enter a product's exponent (a zero at
    ``e + zero_exp`` when zeros join the alignment maximum, else not at all) and the lowest
    ``e + tz(m)`` over its non-zero elements (a large int when there is none)."""
    R, K = m.shape
    mm, ee = m.reshape(R, K // L, L), e.reshape(R, K // L, L)
    zero = mm == 0
    big = 1 << 30
    if prm.zero_join:
        u = (ee + np.where(zero, prm.zero_exp, 0)).max(axis=2)
    else:
        u = np.where(zero, -big, ee).max(axis=2)
    mag = np.abs(mm)
    tz = np.frexp((mag & -mag).astype(np.float64))[1] - 1  # trailing zeros (exact: powers of 2)
    low = np.where(zero, big, ee + tz).min(axis=2)
    return u.astype(np.int64), low.astype(np.int64)


def _chain_blas(
    unit: DotUnit,
    A: BlockArray,
    B: BlockArray,
    a: tuple[np.ndarray, np.ndarray, np.ndarray],
    b: tuple[np.ndarray, np.ndarray, np.ndarray],
    man: int,
    cbits: np.ndarray,
) -> np.ndarray | None:
    """A truncating chained unit (``b200-mxf8f6f4``) from float64 BLAS block sums, or None.

    The truncation to ``F`` fraction bits below the block's alignment maximum ``eta`` removes
    nothing when every product and c are multiples of ``2**(eta - F)``; then the block's result is
    c plus the exact sum of its products, rounded once. The sums come from one float64 GEMM per
    block of ``n`` of unscaled elements times the power-of-two scales (exact as in
    :func:`_blas_blocks`); per output and block, :func:`numsim._kernels.mxdot.chain_blocks`
    checks the condition from cheap per-row bounds of the exponents and runs the few blocks that
    fail it through the chain kernel itself, so every result is the chain kernel's. ``c + S`` is
    exact in float64: both are multiples of ``2**(eta - F)`` below ``2**(eta + 2 man + 3 +
    bit_length(n))`` (checked against 53 bits).
    """
    L = unit.n
    bs = A.format.block_size
    if (
        unit.chunk is not None
        or unit.outer is not None
        or bs != B.format.block_size
        or bs % L
        or unit.out_format != fp32
        or unit.out_rounding not in (RoundMode.nearest_even, RoundMode.toward_zero)
        or unit.frac_bits + 2 * man + 4 + L.bit_length() > 53
    ):
        return None
    ua_, ub_ = _unscaled(A), _unscaled(B)
    if ua_ is None or ub_ is None:
        return None
    (va, ea), (vb, eb) = ua_, ub_
    if max(np.abs(ea).max(), np.abs(eb).max()) > 400:
        return None
    if not (_slices_exact(va, L) and _slices_exact(vb, L)):
        return None
    p, _, _ = formats_of(unit)
    prm = params(unit, man)
    am, ae = np.ascontiguousarray(a[0]), np.ascontiguousarray(a[1])
    bm, be = np.ascontiguousarray(b[0]), np.ascontiguousarray(b[1])
    ua, la = _row_bounds(am, ae, L, prm)
    ub, lb = _row_bounds(bm, be, L, prm)
    M, Kp = va.shape
    N = vb.shape[0]
    acc = cbits.astype(np.uint32).view(np.float32).astype(np.float64)
    rows = max(1, _PANEL // N)
    sa, sb = np.ldexp(1.0, ea), np.ldexp(1.0, eb)  # exact powers of two [rows, blocks]
    vbt = np.ascontiguousarray(vb.T)
    buf = np.empty((min(rows, M), N))  # reused: fresh pages are slow
    k = np.empty(KUL_SIZE, np.int64)
    for i0 in range(0, M, rows):
        i1 = min(i0 + rows, M)
        part = buf[: i1 - i0]
        acc_v = acc[i0:i1]
        for s in range(Kp // L):
            blk = s * L // bs
            np.matmul(va[i0:i1, s * L : (s + 1) * L], vbt[s * L : (s + 1) * L], out=part)
            part *= sa[i0:i1, blk, None]
            part *= sb[None, :, blk]
            chain_blocks(
                acc_v,
                part,
                ua[:, s],
                la[:, s],
                ub[:, s],
                lb[:, s],
                am,
                ae,
                bm,
                be,
                i0,
                s * L,
                p,
                prm,
                k,
            )
    acc[np.isnan(acc)] = np.nan  # the chain kernel's NaN
    return acc.astype(np.float32)


def _unscaled(x: BlockArray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(values [R, Kpad], exps [R, blocks])``: element values times their scale's significand
    (and ``2**-micro``) as float64, and the scale exponents, so that an element's value is
    ``values * 2**exps[block]``; None when a scale or an element is not finite."""
    fmt = x.format
    R = int(np.prod(x.codes.shape[:-2]))
    nb, bs = x.codes.shape[-2:]
    vals = float64_values(fmt.element)[x.codes.reshape(R, nb, bs)]
    sv = float64_values(fmt.scale)[x.scales.reshape(R, nb)]
    if not (np.isfinite(vals).all() and np.isfinite(sv).all()):
        return None
    sig, exp, _ = _scale_parts(sv, fmt.scale)
    vals = vals * sig[:, :, None].astype(np.float64)
    if x.micro is not None:
        mu = np.repeat(x.micro.reshape(R, nb, -1).astype(np.int64), fmt.sub_block_size, axis=2)
        vals = np.ldexp(vals, -mu[:, :, :bs])
    return vals.reshape(R, nb * bs), exp - fmt.scale.man_bits


def _slices_exact(v: np.ndarray, L: int) -> bool:
    """Every K-slice of ``L`` columns of ``v`` is a set of multiples of ``2**low`` below
    ``2**top`` with ``top - low`` at most half of the 53-bit budget of a slice's sum (so that
    any two operands' slices multiply and sum exactly; proof at :func:`_blas_blocks`), inside a
    safe exponent range."""
    budget = (53 - (L - 1).bit_length()) // 2
    for s in range(0, v.shape[1], L):
        top, low = lsb_span(np.ascontiguousarray(v[:, s : s + L]).reshape(-1).view(np.int64))
        if top - low > budget or low < -450 or top > 450:
            return False
    return True


def _blas_blocks(
    unit: DotUnit, A: BlockArray, B: BlockArray, cbits: np.ndarray
) -> np.ndarray | None:
    """Exact units from float64 BLAS block sums (None when a condition below fails).

    A block's products share one scale product ``2**(e_A + e_B)`` (the scales' significands and
    microexponents are folded into the elements by :func:`_unscaled`), so the exact sum of a
    slice of ``L`` products is the float64 GEMM of the unscaled element slices times that power
    of two. Exactness (the proof of :func:`numsim.datapath.api._blas_exact_ok`, per slice):
    every value of a slice of A is a multiple of ``2**la`` below ``2**ta`` (B: ``lb``, ``tb``),
    so a partial sum of at most ``L`` products is an integer times ``2**(la + lb)`` below
    ``2**(ta + tb + ceil(log2 L))``; with ``ta - la`` and ``tb - lb`` each at most half of
    ``53 - ceil(log2 L)`` every partial sum has at most 53 bits, and the scaling by powers of
    two stays inside float64's normal range (exponents checked). Slices: the unit's block ``n``
    (chain and float accumulators; it must divide the MX block size) or the MX block (exact
    accumulator). Chain and float accumulators combine the block sums as the dense fast path
    does (``fastdot.combine_f32`` / ``combine_blocks``); the exact accumulator sums them exactly
    (:func:`numsim._kernels.mxdot.exact_total`). First, when the proof holds for the decoded
    operands as a whole (``api._blas_exact_ok``: scales that vary little), the decoded values
    take the dense fast path of :func:`numsim.datapath.matmul` (one GEMM for an exact
    accumulator).
    """
    acc = unit.accumulator
    if (
        unit.frac_bits is not None
        or unit.pairwise
        or unit.odd_even
        or unit.chunk is not None
        or not unit.subnormals_in
        or unit.underflow_zero != "signed"
        or unit.product_limit is not None
        or acc.kind == "int"
        or A.format.block_size != B.format.block_size
    ):
        return None
    bs = A.format.block_size
    L = bs if acc.kind == "exact" else unit.n
    if bs % L:
        return None
    ua, ub = _unscaled(A), _unscaled(B)
    if ua is None or ub is None:
        return None
    (va, ea), (vb, eb) = ua, ub
    if max(np.abs(ea).max(), np.abs(eb).max()) <= 400:
        # the decoded values (exact in float64) on the dense BLAS path when its proof holds for
        # the whole operands (one GEMM per block of n, or one for an exact accumulator)
        Ad = np.ldexp(va.reshape(va.shape[0], -1, bs), ea[:, :, None]).reshape(va.shape)
        Bd = np.ldexp(vb.reshape(vb.shape[0], -1, bs), eb[:, :, None]).reshape(vb.shape)
        cv = cbits.astype(np.uint32).view(np.float32)
        if _api._blas_exact_ok(unit, Ad, Bd.T):
            dense = _api._matmul_fast(unit, Ad, Bd.T, cv)
            if dense is not None:  # None: a C that is Inf or NaN (the per-slice path takes it)
                return dense
    if not (_slices_exact(va, L) and _slices_exact(vb, L)):
        return None
    if max(np.abs(ea).max(), np.abs(eb).max()) > 400:
        return None
    M, Kp = va.shape
    N = vb.shape[0]
    nsl = Kp // L
    cvals = cbits.astype(np.uint32).view(np.float32).astype(np.float64)
    p, pa, _ = formats_of(unit)
    prm = params(unit)
    f32 = (
        unit.out_format == fp32
        and (acc.kind != "float" or acc.format == fp32)
        and unit.out_rounding in (RoundMode.nearest_even, RoundMode.toward_zero)
        and acc.rounding in (RoundMode.nearest_even, RoundMode.toward_zero)
    )
    exact = acc.kind == "exact"
    out = np.empty((M, N))
    rows = max(1, _PANEL // (N * (nsl if exact else 1)))
    sa, sb = np.ldexp(1.0, ea), np.ldexp(1.0, eb)  # exact powers of two [rows, blocks]
    vbt = np.ascontiguousarray(vb.T)
    buf = np.empty((nsl if exact else 1, min(rows, M), N))  # reused: fresh pages are slow
    for i0 in range(0, M, rows):
        i1 = min(i0 + rows, M)
        S = buf[:, : i1 - i0]  # block sums (exact accumulator: all of them)
        acc_v = cvals[i0:i1].copy()
        for s in range(nsl):
            blk = s * L // bs
            part = S[s if exact else 0]
            np.matmul(va[i0:i1, s * L : (s + 1) * L], vbt[s * L : (s + 1) * L], out=part)
            part *= sa[i0:i1, blk, None]
            part *= sb[None, :, blk]
            if exact:
                continue
            if f32:
                combine_f32(acc_v, part, prm)
            else:
                combine_blocks(acc_v, part, p, pa, prm)
        if exact:
            mode, sub = int(unit.out_rounding), int(unit.subnormals_out)
            out[i0:i1] = exact_total(S, acc_v, p, mode, sub)
        else:
            out[i0:i1] = acc_v
    return out.astype(np.float32)


def _dispatch(
    unit: DotUnit,
    a: BlockArray,
    b: BlockArray,
    ra: np.ndarray,
    rb: np.ndarray,
    c: Any,
    shape: tuple[int, ...],
    cname: str,
    matmul: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    if unit.exact_zero != "positive":
        raise ValueError(
            f"unit={unit.name}: exact_zero={unit.exact_zero!r} follows the signs of zero "
            "operands, which MX elements do not carry here; use numsim.datapath.matmul or dot"
        )
    if unit.group is not None:
        out, over = _group_run(unit, a, b, ra, rb, c, shape, cname, matmul)
    elif isinstance(unit.in_format, IntFormat):
        out, over = _int_run(unit, a, b, ra, rb, c, shape, cname)
    else:
        am, ae, ak, man = _float_operand(a, unit)
        bm, be, bk, _ = _float_operand(b, unit)
        fast = None
        if matmul:
            fast = _fast_matmul(unit, a, b, (am, ae, ak), (bm, be, bk), man, c, shape, cname)
        if fast is not None:
            out, over = fast, np.zeros(shape, np.int64)
        else:
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
    reject_fp64(unit, "mx_dot (FP32 results of block-scaled operands)")
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
    reject_fp64(unit, "mx_matmul (FP32 results of block-scaled operands)")
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
    out, over = _dispatch(unit, A, B, ra, rb, C, (M, N), "C", matmul=True)
    return (out, over) if return_overflows else out
