"""The sequential IEEE binary64 fused multiply-add chain (``fma-fp64``).

:func:`fma_matmul_f64` computes every output as ``acc = fma(a_k, b_k, acc)`` for k = 0 .. K - 1
from ``acc = C``, each step one rounding of the exact ``a_k * b_k + acc`` to binary64 with round
to nearest even (IEEE 754-2019 §5.4.1 fusedMultiplyAdd): what MMA-Sim models for every FP64
tensor/matrix-core kernel (microsoft/MMA-Sim ``mmasim/simulator/nv_ptx.py``, the float64 branch,
and ``amd.py``, ``operation_type = "fma"``, both calling libm's ``fma``).

The fused multiply-add is LLVM's ``llvm.fma.f64`` intrinsic (LLVM Language Reference,
``llvm.fma.*``: the product is not rounded before the addition, so the result is rounded once, as
the IEEE operation); unlike a separate multiply and add it is never split, and the backend
emits the hardware instruction (x86 FMA3, AArch64 ``fmadd``) or a call to libm's correctly
rounded ``fma``. With the JIT off (``NUMBA_DISABLE_JIT=1``) the same kernel runs as
Python on :func:`fma_exact`, an exact rational evaluation, so both modes give the same bits.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from llvmlite import ir
from numba import config, njit, prange
from numba.core import cgutils, types
from numba.extending import intrinsic


def fma_exact(x: float, y: float, z: float) -> float:
    """``x * y + z`` rounded once to binary64 (round to nearest even), from exact rationals.

    IEEE 754 special cases: NaN in, NaN out; ``Inf * 0`` and ``Inf - Inf`` are NaN; otherwise an
    infinite product or addend gives that infinity. An exact zero sum is -0 only when the product
    (sign: exclusive or of the factors') and ``z`` are both -0, else +0 (§6.3); a non-zero sum
    keeps its sign through underflow. ``float(Fraction)`` divides two integers, which CPython
    rounds correctly to nearest even (subnormals included) and reports as OverflowError when the
    rounded value is beyond the largest finite one: then the result is the signed infinity.
    """
    x, y, z = float(x), float(y), float(z)
    if math.isnan(x) or math.isnan(y) or math.isnan(z):
        return math.nan
    if math.isinf(x) or math.isinf(y):
        if x == 0 or y == 0:
            return math.nan  # Inf * 0
        p = math.inf if (x > 0) == (y > 0) else -math.inf
        if math.isinf(z) and (z > 0) != (p > 0):
            return math.nan  # Inf - Inf
        return p
    if math.isinf(z):
        return z
    s = Fraction(x) * Fraction(y) + Fraction(z)
    if s == 0:
        p_neg = (math.copysign(1.0, x) < 0) != (math.copysign(1.0, y) < 0)
        zero_p = x == 0 or y == 0
        both_neg_zero = zero_p and p_neg and z == 0 and math.copysign(1.0, z) < 0
        return -0.0 if both_neg_zero else 0.0
    try:
        return float(s)
    except OverflowError:
        return math.inf if s > 0 else -math.inf


@intrinsic
def _llvm_fma(typingctx, x, y, z):  # type: ignore[no-untyped-def]
    """``llvm.fma.f64(x, y, z)``: the fused multiply-add with one rounding."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        f64 = ir.DoubleType()
        fnty = ir.FunctionType(f64, [f64, f64, f64])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.fma.f64")
        return builder.call(fn, args)

    return sig, codegen


#: The fused multiply-add the kernel calls: the LLVM intrinsic, or the exact Python evaluation
#: when Numba's JIT is disabled (an intrinsic cannot run as Python).
_fma = fma_exact if config.DISABLE_JIT else _llvm_fma


@njit(parallel=True, cache=True)
def fma_matmul_f64(A, B, C):
    """``C + A @ B`` as a chain of binary64 fused multiply-adds along K (round to nearest even).

    ``acc = fma(A[i, k], B[k, j], acc)`` for k = 0 .. K - 1 from ``acc = C[i, j]``, in that order
    (the order matters: each step rounds). Rows are split across threads in tiles of 8 rows by
    256 columns (each row of B read once per tile, the tile's accumulators in L1), as
    :func:`numsim._kernels.fastdot.fma_matmul_f32`; no result depends on the split. A NaN result
    is the canonical quiet NaN.

    Args:
        A: [M, K] float64.
        B: [K, N] float64.
        C: [M, N] float64 accumulator inputs.

    Returns:
        [M, N] float64 results.
    """
    M, K = A.shape
    N = B.shape[1]
    out = np.empty((M, N), np.float64)
    TI = 8
    TJ = 256
    for t in prange((M + TI - 1) // TI):
        i0 = t * TI
        i1 = min(i0 + TI, M)
        acc = np.empty((TI, TJ), np.float64)
        for j0 in range(0, N, TJ):
            j1 = min(j0 + TJ, N)
            w = j1 - j0
            for i in range(i0, i1):
                ar = acc[i - i0]
                for j in range(w):
                    ar[j] = C[i, j0 + j]
            for k in range(K):
                br = B[k, j0:j1]
                for i in range(i0, i1):
                    a = A[i, k]
                    ar = acc[i - i0]
                    for j in range(w):
                        ar[j] = _fma(a, br[j], ar[j])
            for i in range(i0, i1):
                ar = acc[i - i0]
                for j in range(w):
                    v = ar[j]
                    out[i, j0 + j] = np.nan if np.isnan(v) else v
    return out


@njit(parallel=True, cache=True)
def fma_rows_f64(A, B, ra, rb, c):
    """The binary64 FMA chain of row pairs: ``out[r]`` is ``acc = fma(A[ra[r], k], B[rb[r], k],
    acc)`` for k = 0 .. K - 1 from ``acc = c[r]`` (the dot products of
    :func:`numsim.datapath.dot`; :func:`fma_matmul_f64` for matrices).

    Args:
        A: [RA, K] float64.
        B: [RB, K] float64.
        ra, rb: [R] int64 rows of A and B of each result.
        c: [R] float64 accumulator inputs.

    Returns:
        [R] float64 results (a NaN result is the canonical quiet NaN).
    """
    R = ra.size
    K = A.shape[1]
    out = np.empty(R, np.float64)
    for r in prange(R):
        acc = c[r]
        i = ra[r]
        j = rb[r]
        for k in range(K):
            acc = _fma(A[i, k], B[j, k], acc)
        out[r] = np.nan if np.isnan(acc) else acc
    return out
