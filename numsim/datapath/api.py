"""Validating wrappers around the dot-unit kernels (shared/DESIGN.md "Datapath models")."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._kernels.core import K_FINITE
from .._kernels.dot import float_rows
from .._kernels.dotbase import ACC_CHAIN, ACC_EXACT, ACC_FLOAT, ACC_INT, NO_FLOOR, DotParams
from .._kernels.fastdot import combine_blocks, combine_f32, matmul_fast
from .._kernels.intunit import int_rows
from .._kernels.lower import Elem, lower
from .._kernels.operands import first_inexact, lsb_span, split_operands
from ..formats import FloatFormat, IntFormat, fp32
from ..policies import RoundMode
from .unit import DotUnit

#: Float dtypes accepted for operands (ml_dtypes spellings included; they are widened exactly).
_FLOAT_DTYPES = {"float16", "float32", "float64", "bfloat16", "float8_e4m3fn", "float8_e5m2"}
_KINDS = {"chain": ACC_CHAIN, "float": ACC_FLOAT, "exact": ACC_EXACT, "int": ACC_INT}


def _params(unit: DotUnit, man_in: int | None = None) -> DotParams:
    """Lower a unit to the kernels' integer parameters (``man_in``: fraction bits of scaled operands)."""
    fin, acc, outer = unit.in_format, unit.accumulator, unit.outer
    int_lsb = -2 * fin.frac_bits if isinstance(fin, IntFormat) else 0
    return DotParams(
        n=unit.n, frac_bits=unit.frac_bits or 0, exact=int(unit.frac_bits is None),
        raw=int(unit.raw_product_exponent), term_mode=int(unit.term_rounding), c_inside=int(unit.c_inside),
        odd_even=int(unit.odd_even), pairwise=int(unit.pairwise), min_exp=NO_FLOOR if unit.min_exp is None else unit.min_exp,
        man_in=(fin.man_bits if isinstance(fin, FloatFormat) else 0) if man_in is None else man_in,
        out_mode=int(unit.out_rounding), subnormals_out=int(unit.subnormals_out),
        acc_kind=_KINDS[acc.kind], acc_mode=int(acc.rounding), chunk=unit.chunk or 0,
        outer_kind=-1 if outer is None else _KINDS[outer.kind],
        outer_mode=0 if outer is None else int(outer.rounding),
        int_bits=acc.bits or 0, int_sat=int(acc.overflow == "saturate"),
        outer_bits=(outer.bits or 0) if outer is not None else 0,
        outer_sat=int(outer is not None and outer.overflow == "saturate"), int_lsb=int_lsb)


def _formats_of(unit: DotUnit) -> tuple[Elem, Elem, Elem]:
    """Lowered (block output, inner float accumulator, outer / result) formats."""
    p = lower(unit.out_format)
    pa = lower(unit.accumulator.format) if unit.accumulator.kind == "float" else p
    po = lower(unit.outer.format) if unit.outer is not None and unit.outer.kind == "float" else p
    return p, pa, po


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
    return x.astype(np.float64, copy=False)


def _check_exact(x: np.ndarray, fmt: FloatFormat | IntFormat, argument: str) -> None:
    """Raise ValueError unless every value of ``x`` is exactly representable in ``fmt``."""
    bits = np.ascontiguousarray(x, dtype=np.float64).reshape(-1).view(np.int64)
    if isinstance(fmt, IntFormat):
        lsb = 2.0 ** -fmt.frac_bits
        bad = first_inexact(bits, True, 0, 0, True, fmt.max_int * lsb, -fmt.min_int * lsb, False, False,
                            -fmt.frac_bits)
    else:
        bad = first_inexact(bits, False, fmt.man_bits, fmt.emin, fmt.subnormals, fmt.max,
                            fmt.max if fmt.signed else 0.0, fmt.has_nan, fmt.has_inf, 0)
    if bad < 0:
        return
    idx = tuple(int(i) for i in np.unravel_index(bad, x.shape))
    v = x[idx]
    if np.isnan(v):
        raise ValueError(f"{argument}: NaN is not representable in {fmt}")
    if np.isinf(v):
        raise ValueError(f"{argument}: Inf is not representable in {fmt}")
    raise ValueError(f"{argument}{list(idx)} = {float(v)!r} is not exactly representable in {fmt}")


def _operand(x: Any, fmt: FloatFormat | IntFormat, argument: str) -> np.ndarray:
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


def _split(x: np.ndarray, man: int, emin: int, ftz: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decompose a 2-D float64 array into (significand, exponent, kind) int64 arrays of its shape."""
    bits = np.ascontiguousarray(x).reshape(-1).view(np.int64)
    m, e, k = split_operands(bits, man, emin, ftz)
    return m.reshape(x.shape), e.reshape(x.shape), k.reshape(x.shape)


def _int_c(c: Any, unit: DotUnit, R: int, shape: tuple[int, ...], cname: str) -> np.ndarray:
    """Start values of an integer unit: register integers, or FP32 bits for a float / exact outer."""
    fin = unit.in_format
    assert isinstance(fin, IntFormat)
    if unit.outer is not None and unit.outer.kind != "int":
        return _c_bits(c, shape, cname).reshape(R)
    if c is None:
        return np.zeros(R, np.int64)
    arr = _as_float64(c, cname)
    try:
        arr = np.broadcast_to(arr, shape).reshape(R)
    except ValueError:
        raise ValueError(f"{cname}: shape {arr.shape} does not broadcast to the result shape {shape}") from None
    reg = arr * 2.0 ** (2 * fin.frac_bits)
    bits = (unit.outer or unit.accumulator).bits
    assert bits is not None
    lim = 2.0 ** (bits - 1)
    bad = ~np.isfinite(reg) | (reg != np.round(reg)) | (reg < -lim) | (reg >= lim)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{cname}[{i}] = {arr[i]!r}: an integer unit starts from a multiple of "
                         f"2**{-2 * fin.frac_bits} that fits its {bits}-bit register")
    return reg.astype(np.int64)


def _run(unit: DotUnit, A: np.ndarray, B: np.ndarray, ra: np.ndarray, rb: np.ndarray, c: Any,
         shape: tuple[int, ...], cname: str = "c") -> tuple[np.ndarray, np.ndarray]:
    """Results and overflow counts of the row pairs ``(A[ra[r]], B[rb[r]])``.

    ``shape``: the result shape; ``c`` (named ``cname`` in errors) broadcasts to it.
    """
    R = ra.size
    fin = unit.in_format
    prm = _params(unit)
    po = _formats_of(unit)[2]
    if isinstance(fin, IntFormat):
        if A.shape[1] * max(fin.max_int, -fin.min_int) ** 2 >= 2 ** 62:
            raise ValueError(f"K={A.shape[1]}: sums of {fin} products this long exceed the kernels' int64")
        scale = 2.0 ** fin.frac_bits
        ai = (A * scale).astype(np.int64)
        bi = (B * scale).astype(np.int64)
        chunks = -(-A.shape[1] // (unit.chunk or A.shape[1]))
        sexp_a, sexp_b = np.zeros((A.shape[0], chunks), np.int64), np.zeros((B.shape[0], chunks), np.int64)
        snan_a, snan_b = np.zeros(sexp_a.shape, np.bool_), np.zeros(sexp_b.shape, np.bool_)
        out, over = int_rows(ai, bi, ra, rb, _int_c(c, unit, R, shape, cname), sexp_a, snan_a, sexp_b, snan_b,
                             lower(fp32), po, prm)
        return out.reshape(shape), over.reshape(shape)
    ftz = not unit.subnormals_in
    return _run_split(unit, _split(A, fin.man_bits, fin.emin, ftz), _split(B, fin.man_bits, fin.emin, ftz), ra, rb,
                      c, shape, cname, fin.man_bits)


def _run_split(unit: DotUnit, a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...], ra: np.ndarray,
               rb: np.ndarray, c: Any, shape: tuple[int, ...], cname: str, man_in: int) -> tuple[np.ndarray, np.ndarray]:
    """Float-unit rows from decomposed operands ``(m, e, kind)`` with ``man_in`` fraction bits."""
    cbits = _c_bits(c, shape, cname).reshape(ra.size)
    if not unit.subnormals_in:  # the caller's c is flushed too
        cbits = np.where((cbits & 0x7F800000) == 0, cbits & 0x80000000, cbits)
    p, pa, po = _formats_of(unit)
    out = float_rows(*a, *b, ra, rb, cbits, lower(fp32), p, pa, po, _params(unit, man_in))
    return out.astype(np.float32).reshape(shape), np.zeros(shape, np.int64)


def pair_rows(sa: tuple[int, ...], sb: tuple[int, ...]) -> tuple[tuple[int, ...], np.ndarray, np.ndarray]:
    """Broadcast the leading axes of [..., K] operands of shapes ``sa`` and ``sb``.

    Returns the result shape and, for each result, the row of a and the row of b it pairs.
    """
    try:
        lead = np.broadcast_shapes(sa[:-1], sb[:-1])
    except ValueError:
        raise ValueError(f"a {sa} and b {sb}: leading axes do not broadcast") from None
    ra = np.broadcast_to(np.arange(int(np.prod(sa[:-1]))).reshape(sa[:-1]), lead).reshape(-1)
    rb = np.broadcast_to(np.arange(int(np.prod(sb[:-1]))).reshape(sb[:-1]), lead).reshape(-1)
    return lead, ra.astype(np.int64), rb.astype(np.int64)


def _check_unit(unit: Any) -> DotUnit:
    """``unit`` if it is a DotUnit, else TypeError."""
    if not isinstance(unit, DotUnit):
        raise TypeError(f"unit={unit!r}: expected a numsim.datapath.DotUnit (see numsim.datapath.get)")
    return unit


def dot(a: Any, b: Any, unit: DotUnit, c: Any = None, *, return_overflows: bool = False) -> Any:
    """Dot products of ``unit`` over the last axis, blocks of ``unit.n`` combined by its accumulator.

    Args:
        a: [..., K] values exact in ``unit.in_format``.
        b: [..., K] values exact in ``unit.in_format``; leading axes broadcast with ``a``'s.
        unit: the dot unit.
        c: accumulator input broadcastable to the leading shape; None for 0. Float units take FP32
            values; integer units a multiple of the register's lsb that fits it (or FP32 values
            when the outer accumulator is a float one).
        return_overflows: also return the number of integer-register overflows per result.

    Returns:
        Results of the leading shape: float32 for float units (values of the result format),
        float64 for integer units (the register value, exact below 2**53); with
        ``return_overflows`` a tuple ``(results, overflows)`` (int64, zeros for float units).

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
    lead, ra, rb = pair_rows(fa.shape, fb.shape)
    out, over = _run(unit, fa.reshape(-1, K), fb.reshape(-1, K), ra, rb, c, lead)
    return (out, over) if return_overflows else out


def matmul(A: Any, B: Any, unit: DotUnit, C: Any = None, *, return_overflows: bool = False) -> Any:
    """``C + A @ B`` on ``unit``: each output is the unit's dot of a row of A and a column of B.

    Args:
        A: [M, K] values exact in ``unit.in_format``.
        B: [K, N] values exact in ``unit.in_format``.
        unit: the dot unit.
        C: accumulator input broadcastable to [M, N] (see :func:`dot`); None for 0.
        return_overflows: also return the [M, N] integer-register overflow counts.

    Returns:
        [M, N] results as :func:`dot` returns them.

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
    fast = _matmul_fast(unit, fa, fb, C)
    if fast is not None:
        return (fast, np.zeros((M, N), np.int64)) if return_overflows else fast
    out, over = _matmul_general(unit, fa, fb, C)
    return (out, over) if return_overflows else out


def _matmul_general(unit: DotUnit, A: np.ndarray, B: np.ndarray, C: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated [M, K] @ [K, N] on the general row kernels (every unit, every input)."""
    M, N = A.shape[0], B.shape[1]
    ra = np.repeat(np.arange(M, dtype=np.int64), N)
    rb = np.tile(np.arange(N, dtype=np.int64), M)
    return _run(unit, A, np.ascontiguousarray(B.T), ra, rb, C, (M, N), cname="C")


def _chain_fast_ok(unit: DotUnit) -> bool:
    """True when the unit fits the vectorized chained-truncation kernel (all NVIDIA presets do)."""
    fin = unit.in_format
    return (isinstance(fin, FloatFormat) and unit.accumulator.kind == "chain" and unit.frac_bits is not None
            and unit.raw_product_exponent and unit.term_rounding == RoundMode.toward_zero and unit.c_inside
            and not unit.odd_even and unit.frac_bits >= 2 * fin.man_bits
            and (unit.outer is None or unit.outer.kind == "float"))


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
    if (not isinstance(fin, FloatFormat) or unit.frac_bits is not None or unit.odd_even or unit.pairwise
            or unit.chunk is not None or unit.accumulator.kind == "int"):
        return False
    if not (np.isfinite(A).all() and np.isfinite(B).all()):
        return False
    ta, la = _lsb_span(A)
    tb, lb = _lsb_span(B)
    top = ta + tb + (_blas_block(unit, A.shape[1]) - 1).bit_length()
    return top - (la + lb) <= 53 and la + lb > -1000 and top < 1000


def _matmul_fast(unit: DotUnit, A: np.ndarray, B: np.ndarray, C: Any) -> np.ndarray | None:
    """The result on a fast path (vectorized chained truncation, or float64 BLAS block sums), or None."""
    fin = unit.in_format
    if not isinstance(fin, FloatFormat):
        return None
    M, K = A.shape
    N = B.shape[1]
    if not unit.subnormals_in:
        A = np.where(np.abs(A) < 2.0 ** fin.emin, 0.0, A)
        B = np.where(np.abs(B) < 2.0 ** fin.emin, 0.0, B)
    cbits = _c_bits(C, (M, N), "C")
    if not unit.subnormals_in:
        cbits = np.where((cbits & 0x7F800000) == 0, cbits & 0x80000000, cbits)
    p, pa, po = _formats_of(unit)
    prm = _params(unit)
    if _chain_fast_ok(unit):
        am, ae, ak = _split(A, fin.man_bits, fin.emin, False)
        bm, be, bk = _split(np.ascontiguousarray(B.T), fin.man_bits, fin.emin, False)
        if (ak > K_FINITE).any() or (bk > K_FINITE).any():
            return None
        return matmul_fast(am, ae, bm, be, cbits, lower(fp32), p, po, prm).astype(np.float32)
    if not _blas_exact_ok(unit, A, B):
        return None
    acc = np.zeros((M, N)) if C is None else cbits.astype(np.uint32).view(np.float32).astype(np.float64)
    if not np.isfinite(acc).all():
        return None
    n = _blas_block(unit, K)
    if unit.accumulator.kind == "exact":
        prm = prm._replace(acc_kind=ACC_CHAIN)
    f32 = unit.out_format == fp32 and (unit.accumulator.kind in ("chain", "exact") or unit.accumulator.format == fp32) \
        and unit.out_rounding in (RoundMode.nearest_even, RoundMode.toward_zero) \
        and unit.accumulator.rounding in (RoundMode.nearest_even, RoundMode.toward_zero)
    def combine(rows: slice, s: np.ndarray) -> None:
        if f32:
            combine_f32(acc[rows], s, prm)
        else:
            combine_blocks(acc[rows], s, p, pa, prm)

    if n >= K:  # one block: a single GEMM
        S = A @ B
        if C is None and f32 and unit.out_rounding == RoundMode.nearest_even and unit.subnormals_out:
            # round(0 + S) is the hardware conversion of the exact S; + 0.0 makes an exact zero +0
            S += 0.0
            return S.astype(np.float32)
        combine(slice(0, M), S)
        return acc.astype(np.float32)
    a_blocks = [np.ascontiguousarray(A[:, lo:lo + n]) for lo in range(0, K, n)]
    b_blocks = [np.ascontiguousarray(B[lo:lo + n]) for lo in range(0, K, n)]
    panel = 256  # rows per panel: the block sums stay in cache between BLAS and the rounding
    S = np.empty((min(panel, M), N))
    for i0 in range(0, M, panel):
        i1 = min(i0 + panel, M)
        for a_blk, b_blk in zip(a_blocks, b_blocks):
            np.matmul(a_blk[i0:i1], b_blk, out=S[: i1 - i0])
            combine(slice(i0, i1), S[: i1 - i0])
    return acc.astype(np.float32)
