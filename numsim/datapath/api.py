"""Validating wrappers around the dot-unit kernels."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from .._kernels.amdfast import (
    evens_first,
    late_lanes_f32,
    late_matmul,
    late_matmul_f32,
    pairwise_matmul,
)
from .._kernels.core import K_FINITE, TOWARD_NEGATIVE
from .._kernels.dotbase import ACC_CHAIN, NO_FLOOR, NO_LIMIT
from .._kernels.fastdot import (
    NO_EXP,
    bmm_fast,
    chain_lanes_bmm,
    chain_lanes_f32,
    combine_blocks,
    combine_f32,
    fma_matmul_f32,
    lane_operands,
    matmul_fast,
)
from .._kernels.lower import lower
from .._kernels.operands import lsb_span
from .._kernels.threads import SMALL_MACS, serial
from ..formats import FloatFormat, Specials, fp32
from ..policies import RoundMode
from ._lower import (
    c_bits,
    check_dense,
    dot_product,
    epilogue,
    fma64_matmul,
    formats_of,
    int_gemm_ok,
    int_matmul,
    is_fp64,
    operand,
    operand_man,
    params,
    reject_fp64,
    run,
    split,
)
from .unit import DotUnit, check_unit


def dot(
    a: Any,
    b: Any,
    unit: DotUnit,
    c: Any = None,
    *,
    return_overflows: bool = False,
    c_entry: str | None = None,
) -> Any:
    """Dot products of ``unit`` over the last axis, blocks of ``unit.n`` combined by its
    accumulator.

    Args:
        a: [..., K] values exact in ``unit.in_format``.
        b: [..., K] values exact in ``unit.b_format`` (``unit.in_format`` when None); leading
            axes broadcast with ``a``'s.
        unit: the dot unit.
        c: accumulator input broadcastable to the leading shape; None for 0. Float units take
            values exact in ``unit.c_format`` (FP32 unless set; the FP64 FMA unit any float64,
            narrower float dtypes widened exactly, as its operands); integer units a multiple of the
            register's lsb that fits it (or FP32 values when the outer accumulator is a float
            one).
        return_overflows: also return the number of integer-register overflows per result.
        c_entry: overrides ``unit.c_entry`` (``"inside"``, ``"late"`` or ``"epilogue"``; see
            :class:`DotUnit`); None keeps the unit's.

    Returns:
        Results of the leading shape: float32 for float units (values of the result format),
        float64 for the FP64 FMA unit (``fma-fp64``: binary64 results) and for integer units
        (the register value, exact below 2**53); with ``return_overflows`` a tuple
        ``(results, overflows)`` (int64, zeros for float units).

    Raises:
        TypeError: unsupported dtypes, ``unit`` not a DotUnit.
        ValueError: values not exact in the input format (or c not exact in FP32), mismatched K,
            non-broadcastable shapes, K == 0.
    """
    out, over = dot_product(_with_c_entry(check_unit(unit), c_entry), a, b, c)
    return (out, over) if return_overflows else out


def _with_c_entry(unit: DotUnit, c_entry: str | None) -> DotUnit:
    """``unit`` with ``c_entry`` replaced (None: unchanged)."""
    if c_entry is None or c_entry == unit.c_entry:
        return unit
    return replace(unit, c_entry=c_entry)


def matmul(
    A: Any,
    B: Any,
    unit: DotUnit,
    C: Any = None,
    *,
    return_overflows: bool = False,
    c_entry: str | None = None,
) -> Any:
    """``C + A @ B`` on ``unit``: each output is the unit's dot of a row of A and a column of B.

    Where C enters is the unit's ``c_entry``: ``"inside"`` (the NVIDIA presets: C is the
    accumulator input of the first block, as the bare ``mma``/``wgmma``/``tcgen05.mma``
    instruction computes it), ``"late"`` (added to the block sum before its rounding) or
    ``"epilogue"`` (the K loop from a zero accumulator, then one FP32 round-to-nearest-even
    addition of C, as a GEMM library's epilogue with ``beta = 1``).

    The FP64 FMA unit (``fma-fp64``) takes float64 A, B and C (any float dtype, widened exactly:
    every such value is exact in binary64, NaN and Inf included) and returns float64 [M, N], each
    output ``acc = fma(a_k, b_k, acc)`` in binary64 from ``acc = C`` (no epilogue).

    Args:
        A: [M, K] values exact in ``unit.in_format``.
        B: [K, N] values exact in ``unit.b_format`` (``unit.in_format`` when None).
        unit: the dot unit.
        C: accumulator input broadcastable to [M, N] (see :func:`dot`), exact in
            ``unit.c_format``; None for 0.
        return_overflows: also return the [M, N] integer-register overflow counts.
        c_entry: overrides ``unit.c_entry``; None keeps the unit's.

    Returns:
        [M, N] results as :func:`dot` returns them.

    Raises:
        TypeError: unsupported dtypes, ``unit`` not a DotUnit.
        ValueError: inexact values, non-2-D operands, mismatched K, K == 0, bad C shape.
    """
    unit = _with_c_entry(check_unit(unit), c_entry)
    check_dense(unit)
    fa = operand(A, unit.in_format, "A")
    fb = operand(B, unit.operand_b_format, "B")
    if fa.ndim != 2 or fb.ndim != 2:
        raise ValueError(f"A and B must be 2-D; got shapes {fa.shape} and {fb.shape}")
    if fa.shape[1] != fb.shape[0]:
        raise ValueError(
            f"K mismatch: A is {fa.shape} and B is {fb.shape} (A.shape[1] must equal B.shape[0])"
        )
    if fa.shape[1] == 0:
        raise ValueError("K = 0: A and B must hold at least one product per output")
    M, N = fa.shape[0], fb.shape[1]
    if is_fp64(unit.in_format):  # the FP64 FMA unit (DotUnit admits FP64 nowhere else)
        out = fma64_matmul(fa, fb, C)
        return (out, np.zeros((M, N), np.int64)) if return_overflows else out
    late = unit.c_entry == "epilogue"
    if late and C is not None:
        c_bits(C, (M, N), "C", unit.c_format)  # validate C before the K loop runs
    fast = _matmul_fast(unit, fa, fb, None if late else C)
    if fast is not None:
        if late:
            fast = epilogue(unit, fast, C, "C")
        return (fast, np.zeros((M, N), np.int64)) if return_overflows else fast
    if int_gemm_ok(unit, fa, fb):  # float64 BLAS where the register cannot overflow
        out, over = int_matmul(unit, fa, fb, C)
    else:
        out, over = _matmul_general(unit, fa, fb, C)
    return (out, over) if return_overflows else out


def batched_elements(A: np.ndarray, B: np.ndarray, unit: DotUnit) -> np.ndarray:
    """``A[g] @ B[g]`` on ``unit`` for each g, from element values the caller produced by
    quantization (exact in the unit's formats, so not validated again), with no C.

    ``A`` [G, M, K], ``B`` [G, K, N] float64; returns [G, M, N] float32, bit for bit
    ``np.stack([matmul(A[g], B[g], unit) for g in range(G)])``. Truncating chained units (every
    NVIDIA preset) with finite operands take one batched kernel call
    (:func:`numsim._kernels.fastdot.bmm_fast`): the operands are split once and there is one
    call instead of G; other units run :func:`matmul` per slice.
    """
    unit = check_unit(unit)
    reject_fp64(unit, "batched_elements (quantized FP32 products)")
    G, M, K = A.shape
    N = B.shape[2]
    if G == 0:
        return np.zeros((0, M, N), np.float32)
    fin = unit.in_format
    if (
        isinstance(fin, FloatFormat)
        and unit.subnormals_in
        and unit.c_placement == "inside"
        and _chain_fast_ok(unit)
        and G * M * N > 0
        and K > 0
    ):
        man = operand_man(unit)
        fb = unit.operand_b_format
        if _chain_lanes_ok(unit):
            prm = params(unit)
            am, ae, afin = _lanes_operand(A.reshape(G * M, K), man, fin.emin, prm)
            bm, be, bfin = _lanes_operand(B.reshape(G * K, N), man, fb.emin, prm)
            if afin and bfin:
                out = unit.out_format
                return chain_lanes_bmm(
                    am.reshape(G, M, K),
                    ae.reshape(G, M, K),
                    bm.reshape(G, K, N),
                    be.reshape(G, K, N),
                    prm,
                    out.emin,
                    out.emax,
                    out.man_bits,
                )
        am, ae, ak = split(A.reshape(G * M, K), man, fin.emin, False)
        bm, be, bk = split(
            np.ascontiguousarray(B.transpose(0, 2, 1)).reshape(G * N, K), man, fb.emin, False
        )
        if not ((ak > K_FINITE).any() or (bk > K_FINITE).any()):
            p, _, po = formats_of(unit)
            out = bmm_fast(
                am.reshape(G, M, K),
                ae.reshape(G, M, K),
                bm.reshape(G, N, K),
                be.reshape(G, N, K),
                lower(fp32),
                p,
                po,
                params(unit),
            )
            return out.astype(np.float32)
    with serial(M * K * N < SMALL_MACS):  # small slices on one thread, as the hook runs them
        return np.stack([np.asarray(matmul(A[g], B[g], unit), np.float32) for g in range(G)])


def _matmul_general(
    unit: DotUnit, A: np.ndarray, B: np.ndarray, C: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Validated [M, K] @ [K, N] on the general row kernels (every unit, every input)."""
    M, N = A.shape[0], B.shape[1]
    ra = np.repeat(np.arange(M, dtype=np.int64), N)
    rb = np.tile(np.arange(N, dtype=np.int64), M)
    return run(unit, A, np.ascontiguousarray(B.T), ra, rb, C, (M, N), cname="C")


def _chain_fast_ok(unit: DotUnit) -> bool:
    """True when the unit fits the vectorized chained-truncation kernel (all NVIDIA presets do)."""
    fin = unit.in_format
    return (
        isinstance(fin, FloatFormat)
        and unit.accumulator.kind == "chain"
        and unit.frac_bits is not None
        and unit.raw_product_exponent
        and unit.term_rounding == RoundMode.toward_zero
        and unit.c_inside
        and not unit.odd_even
        and unit.product_limit is None
        and unit.exact_zero == "positive"
        and unit.frac_bits >= 2 * operand_man(unit)
        and (unit.outer is None or unit.outer.kind == "float")
    )


def _chain_lanes_ok(unit: DotUnit) -> bool:
    """True when :func:`numsim._kernels.fastdot.chain_lanes_f32` serves a unit that
    :func:`_chain_fast_ok` admits (every NVIDIA preset without ``promote`` chunks): no chunks or
    outer accumulator, block results truncated (RZ) into an IEEE-style format with subnormals that
    float64 holds, and every block sum with c, below ``(n + 2) 2**(F + 2)``, exact in float64."""
    out = unit.out_format
    F = unit.frac_bits
    return (
        _chain_fast_ok(unit)
        and F is not None
        and unit.chunk is None
        and unit.outer is None
        and unit.out_rounding == RoundMode.toward_zero
        and unit.subnormals_out
        and isinstance(out, FloatFormat)
        and out.specials == Specials.ieee
        and out.subnormals
        and out.man_bits <= 52
        and -1000 < out.emin - out.man_bits
        and out.emax < 1000
        and F <= 60
        and (unit.n + 2) << (F + 2) <= 2**53
    )


def _lanes_operand(
    x: np.ndarray, man: int, emin: int, prm: Any
) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(m, e, finite)`` of a 2-D float64 operand for the chained lane kernels
    (:func:`numsim._kernels.fastdot.lane_operands`: :func:`split` as int32 arrays in one pass),
    the exponent of a zero operand replaced by ``zero_exp`` (units with ``zero_join``: a zero
    product joins the alignment maximum there) or ``fastdot.NO_EXP`` (it never sets it)."""
    z = prm.zero_exp if prm.zero_join else NO_EXP
    return lane_operands(np.ascontiguousarray(x, np.float64), man, emin, z)


def _pairwise_fast_ok(unit: DotUnit) -> bool:
    """True when the unit is an FP32 pairwise tree with round-to-nearest-even, chained along K
    (the AMD CDNA1/CDNA2 presets): :func:`numsim._kernels.amdfast.pairwise_matmul` applies."""
    return (
        unit.pairwise
        and unit.out_format == fp32
        and unit.out_rounding == RoundMode.nearest_even
        and unit.accumulator.kind == "chain"
        and unit.chunk is None
    )


def _late_fast_ok(unit: DotUnit) -> bool:
    """True when the unit is a chained CDNA3-style late-c unit (``late_frac_bits``) that
    :func:`numsim._kernels.amdfast.late_matmul` runs (finite operands are checked there)."""
    return (
        unit.late_frac_bits is not None
        and unit.accumulator.kind == "chain"
        and unit.chunk is None
        and unit.exact_zero == "positive"
    )


def _late_f32_ok(unit: DotUnit) -> bool:
    """True when ``amdfast.late_matmul_f32`` serves the late unit (every ``mi300-*`` preset;
    ``amdfast.late_lanes_f32`` takes it instead where :func:`_late_lanes_ok`)."""
    return (
        unit.out_format == fp32
        and unit.out_rounding == RoundMode.nearest_even
        and unit.subnormals_out
        and unit.underflow_zero == "signed"
        and unit.term_rounding == RoundMode.toward_zero
        and unit.raw_product_exponent
        and unit.frac_bits is not None
        and unit.frac_bits >= 2 * operand_man(unit)
    )


def _fma_fast_ok(unit: DotUnit) -> bool:
    """True when the unit is the sequential IEEE FP32 fused multiply-add (``fma-fp32``): FP32
    operands, one product per block, every step ``acc = fl32(acc + a * b)`` with round to nearest
    even, IEEE signed zeros and subnormals; :func:`numsim._kernels.fastdot.fma_matmul_f32`
    computes it."""
    return (
        unit.in_format == fp32
        and unit.operand_b_format == fp32
        and unit.c_format == fp32
        and unit.out_format == fp32
        and unit.n == 1
        and unit.frac_bits is None
        and unit.accumulator.kind == "chain"
        and unit.out_rounding == RoundMode.nearest_even
        and unit.subnormals_in
        and unit.subnormals_out
        and unit.min_exp is None
        and unit.zero_exponent is None
        and unit.underflow_zero == "signed"
        and unit.exact_zero == "ieee"
        and unit.c_placement in ("inside", "epilogue")
        and not unit.odd_even
        and not unit.pairwise
        and unit.chunk is None
        and unit.outer is None
        and unit.product_limit is None
        and unit.late_frac_bits is None
        and unit.group is None
        and unit.element_exponents == "in_format"
    )


def _lane_operands(m: np.ndarray, e: np.ndarray, zero_exp: int) -> tuple[np.ndarray, np.ndarray]:
    """``(m, e)`` of :func:`split` as contiguous int32 arrays for ``amdfast.late_lanes_f32``, with
    ``zero_exp`` added to the exponent of a zero operand (its place in the alignment maximum)."""
    e = np.where(m == 0, e + zero_exp, e)
    return np.ascontiguousarray(m, np.int32), np.ascontiguousarray(e, np.int32)


def _late_lanes_ok(prm: Any) -> bool:
    """True when ``amdfast.late_lanes_f32`` serves a unit that :func:`_late_f32_ok` admits
    (every ``mi300-*`` preset); ``prm``: its lowered parameters, the product limit already dropped
    where no product reaches it.

    The kernel's bounds: zero operands join the alignment maximum (so every block has an
    ``eta``), floor late and odd/even roundings with ``F <= F_S`` and ``F_c <= F_S``; the
    block sum ``S < n 2**(F + 2)`` fits an int32, c's signed 24-bit significand shifted left by at
    most ``F_c - 23`` too, and the late sum ``|T| < n 2**(F_S + 2) + 2**(F_S + 1)`` stays below
    ``2**53``, so its float64 value is exact."""
    F = prm.frac_bits
    return (
        prm.zero_join == 1
        and (not prm.odd_even or prm.oe_mode == TOWARD_NEGATIVE)
        and prm.prod_limit == NO_LIMIT
        and prm.min_exp == NO_FLOOR
        and prm.late_mode == TOWARD_NEGATIVE
        and prm.c_emin == fp32.emin
        and -800 < prm.zero_exp < 800
        and F <= prm.late_fs
        and prm.late_fc <= prm.late_fs
        and 23 <= prm.late_fc <= 29
        and max(prm.n, 1) << (F + 2) <= 2**31
        and (max(prm.n, 1) + 1) << (prm.late_fs + 2) <= 2**53
    )


def _lsb_span(x: np.ndarray) -> tuple[int, int]:
    """``(top, low)`` of the non-zero finite values of ``x``: every one is a multiple of ``2**low``
    below ``2**top`` in magnitude; ``(0, 0)`` for none."""
    return lsb_span(np.ascontiguousarray(x).reshape(-1).view(np.int64))


def _blas_block(unit: DotUnit, K: int) -> int:
    """Products per BLAS block sum: the unit's block, or all of K for an exact accumulator (whose
    single rounding of ``c + sum`` is the chain rounding of one block of K)."""
    return K if unit.accumulator.kind == "exact" else unit.n


def _blas_exact_ok(unit: DotUnit, A: np.ndarray, B: np.ndarray) -> bool:
    """True when every block sum of ``A @ B`` is exact in float64 for an exact unit.

    Proof: each product ``a_i * b_i`` is a multiple of ``2**(la + lb)`` (``la``, ``lb``: the lowest
    set bit over the non-zero entries of A and B) with magnitude below ``2**(ta + tb)`` (all
    entries below ``2**ta`` and ``2**tb``). Any partial sum of at most ``n`` such products (``n``:
    :func:`_blas_block`) is a
    multiple of ``2**(la + lb)`` below ``2**(ta + tb + ceil(log2 n))``, hence an integer times
    ``2**(la + lb)`` with at most ``ta + tb + ceil(log2 n) - la - lb`` bits. When that is at most 53
    and the exponents stay inside float64's normal range, every product, sum or fused
    multiply-add a classical BLAS performs on the block, in any order and blocking, is exact; so
    the BLAS block sum is the exact sum, and rounding it afterwards is the unit's rounding.
    """
    fin = unit.in_format
    if (
        not isinstance(fin, FloatFormat)
        or unit.frac_bits is not None
        or unit.odd_even
        or unit.pairwise
        or unit.chunk is not None
        or unit.accumulator.kind == "int"
        or unit.underflow_zero != "signed"  # the combine kernels keep the sign of an underflow
        or unit.exact_zero != "positive"  # and make an exact zero sum +0
        or unit.product_limit is not None
    ):
        return False
    if not (np.isfinite(A).all() and np.isfinite(B).all()):
        return False
    ta, la = _lsb_span(A)
    tb, lb = _lsb_span(B)
    top = ta + tb + (_blas_block(unit, A.shape[1]) - 1).bit_length()
    return top - (la + lb) <= 53 and la + lb > -1000 and top < 1000


def _matmul_fast(unit: DotUnit, A: np.ndarray, B: np.ndarray, C: Any) -> np.ndarray | None:
    """The result on a fast path (vectorized chained truncation, or float64 BLAS block sums), or
    None."""
    fin = unit.in_format
    if not isinstance(fin, FloatFormat):
        return None
    M, K = A.shape
    N = B.shape[1]
    fb = unit.operand_b_format
    man = operand_man(unit)
    if not unit.subnormals_in:
        A = np.where(np.abs(A) < 2.0**fin.emin, 0.0, A)
        B = np.where(np.abs(B) < 2.0**fb.emin, 0.0, B)
    cbits = c_bits(C, (M, N), "C", unit.c_format)
    if not unit.subnormals_in:
        cbits = np.where((cbits & 0x7F800000) == 0, cbits & 0x80000000, cbits)
    p, pa, po = formats_of(unit)
    prm = params(unit)
    if _pairwise_fast_ok(unit):
        c32 = cbits.astype(np.uint32).view(np.float32)
        return pairwise_matmul(
            np.ascontiguousarray(A), np.ascontiguousarray(B), c32, unit.n, int(unit.subnormals_out)
        )
    if _late_fast_ok(unit):
        am, ae, ak = split(A, man, fin.emin, False)
        bm, be, bk = split(np.ascontiguousarray(B.T), man, fb.emin, False)
        if (ak > K_FINITE).any() or (bk > K_FINITE).any():
            return None
        # |a_i b_i| <= max|A| max|B| (exact in float64): below the limit no product reaches it
        if (
            unit.product_limit is not None
            and A.size
            and B.size
            and np.abs(A).max() * np.abs(B).max() < 2.0**unit.product_limit
        ):
            prm = prm._replace(prod_limit=NO_LIMIT)
        if _late_f32_ok(unit):
            c32 = cbits.astype(np.uint32).view(np.float32)
            if _late_lanes_ok(prm):  # the block's work across lanes of output columns
                a32 = _lane_operands(am, ae, prm.zero_exp)
                b32 = _lane_operands(bm.T, be.T, prm.zero_exp)
                return late_lanes_f32(*a32, *b32, c32, prm)
            if prm.odd_even:  # the groups as contiguous slices (amdfast.evens_first)
                am, ae, bm, be = (evens_first(x, unit.n) for x in (am, ae, bm, be))
            return late_matmul_f32(am, ae, bm, be, c32, p, prm)
        return late_matmul(am, ae, bm, be, cbits, lower(fp32), p, prm).astype(np.float32)
    if _chain_lanes_ok(unit):
        am, ae, afin = _lanes_operand(A, man, fin.emin, prm)
        bm, be, bfin = _lanes_operand(B, man, fb.emin, prm)
        if not (afin and bfin):
            return None
        c64 = cbits.astype(np.uint32).view(np.float32).astype(np.float64)
        out = unit.out_format
        return chain_lanes_f32(
            am,
            ae,
            bm,
            be,
            c64,
            prm,
            out.emin,
            out.emax,
            out.man_bits,
        )
    if _chain_fast_ok(unit):
        am, ae, ak = split(A, man, fin.emin, False)
        bm, be, bk = split(np.ascontiguousarray(B.T), man, fb.emin, False)
        if (ak > K_FINITE).any() or (bk > K_FINITE).any():
            return None
        return matmul_fast(am, ae, bm, be, cbits, lower(fp32), p, po, prm).astype(np.float32)
    if _fma_fast_ok(unit):
        c32 = cbits.astype(np.uint32).view(np.float32)
        return fma_matmul_f32(np.ascontiguousarray(A), np.ascontiguousarray(B), c32)
    if not _blas_exact_ok(unit, A, B):
        return None
    acc = (
        np.zeros((M, N))
        if C is None
        else cbits.astype(np.uint32).view(np.float32).astype(np.float64)
    )
    if not np.isfinite(acc).all():
        return None
    n = _blas_block(unit, K)
    if unit.accumulator.kind == "exact":
        prm = prm._replace(acc_kind=ACC_CHAIN)
    f32 = (
        unit.out_format == fp32
        and (unit.accumulator.kind in ("chain", "exact") or unit.accumulator.format == fp32)
        and unit.out_rounding in (RoundMode.nearest_even, RoundMode.toward_zero)
        and unit.accumulator.rounding in (RoundMode.nearest_even, RoundMode.toward_zero)
    )

    def combine(rows: slice, s: np.ndarray) -> None:
        if f32:
            combine_f32(acc[rows], s, prm)
        else:
            combine_blocks(acc[rows], s, p, pa, prm)

    if n >= K:  # one block: a single GEMM
        S = A @ B
        if (
            C is None
            and f32
            and unit.out_rounding == RoundMode.nearest_even
            and unit.subnormals_out
        ):
            # round(0 + S) is the hardware conversion of the exact S; + 0.0 makes an exact zero +0
            S += 0.0
            return S.astype(np.float32)
        combine(slice(0, M), S)
        return acc.astype(np.float32)
    a_blocks = [np.ascontiguousarray(A[:, lo : lo + n]) for lo in range(0, K, n)]
    b_blocks = [np.ascontiguousarray(B[lo : lo + n]) for lo in range(0, K, n)]
    panel = 256  # rows per panel: the block sums stay in cache between BLAS and the rounding
    S = np.empty((min(panel, M), N))
    for i0 in range(0, M, panel):
        i1 = min(i0 + panel, M)
        for a_blk, b_blk in zip(a_blocks, b_blocks):
            np.matmul(a_blk[i0:i1], b_blk, out=S[: i1 - i0])
            combine(slice(i0, i1), S[: i1 - i0])
    return acc.astype(np.float32)
