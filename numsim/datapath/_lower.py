"""Lowering of dot-unit calls to the row kernels: operand validation and conversion, the unit as
kernel integers, and the runs shared by :mod:`numsim.datapath.api` (``dot``, ``matmul``) and
:mod:`numsim.datapath.mx` (``mx_dot``, ``mx_matmul``).

Private: the public wrappers validate the unit (:func:`numsim.datapath.unit.check_unit`) and call
these. The unit is read through its fields only, so this module does not import
:mod:`numsim.datapath.unit` (which calls :func:`dot_product` for :meth:`DotUnit.dot`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._inputs import as_array, is_torch, widened
from .._kernels.dot import float_rows
from .._kernels.dotbase import K_NEG_ZERO, NO_DROP, NO_FLOOR, NO_LIMIT, DotParams
from .._kernels.fma64 import fma_matmul_f64, fma_rows_f64
from .._kernels.intunit import int_rows
from .._kernels.lower import Elem, lower
from .._kernels.operands import first_inexact, split_operands
from ..formats import FloatFormat, IntFormat, fp32
from ..policies import AccKind

if TYPE_CHECKING:
    from .unit import DotUnit

#: Float dtypes accepted for operands (ml_dtypes spellings included; they are widened exactly).
FLOAT_DTYPES = {"float16", "float32", "float64", "bfloat16", "float8_e4m3fn", "float8_e5m2"}


def params(unit: DotUnit, man_in: int | None = None) -> DotParams:
    """Lower a unit to the kernels' integer parameters (``man_in``: fraction bits of scaled
    operands)."""
    fin, acc, outer = unit.in_format, unit.accumulator, unit.outer
    int_lsb = -2 * fin.frac_bits if isinstance(fin, IntFormat) else 0
    if man_in is None:
        man_in = operand_man(unit)
    return DotParams(
        n=unit.n,
        frac_bits=unit.frac_bits or 0,
        exact=int(unit.frac_bits is None),
        raw=int(unit.raw_product_exponent),
        term_mode=int(unit.term_rounding),
        c_inside=int(unit.c_inside),
        odd_even=int(unit.odd_even),
        pairwise=int(unit.pairwise),
        min_exp=NO_FLOOR if unit.min_exp is None else unit.min_exp,
        man_in=man_in,
        out_mode=int(unit.out_rounding),
        subnormals_out=int(unit.subnormals_out),
        acc_kind=int(AccKind[acc.kind]),
        acc_mode=int(acc.rounding),
        chunk=unit.chunk or 0,
        outer_kind=-1 if outer is None else int(AccKind[outer.kind]),
        outer_mode=0 if outer is None else int(outer.rounding),
        int_bits=acc.bits or 0,
        int_sat=int(acc.overflow == "saturate"),
        outer_bits=(outer.bits or 0) if outer is not None else 0,
        outer_sat=int(outer is not None and outer.overflow == "saturate"),
        int_lsb=int_lsb,
        zero_join=int(unit.zero_exponent is not None),
        zero_exp=unit.zero_exponent or 0,
        c_emin=unit.c_format.emin,
        underflow_pos=int(unit.underflow_zero == "positive"),
        late_fs=-1 if unit.late_frac_bits is None else unit.late_frac_bits[0],
        late_fc=0 if unit.late_frac_bits is None else unit.late_frac_bits[1],
        late_mode=int(unit.term_rounding if unit.late_rounding is None else unit.late_rounding),
        oe_mode=-1 if unit.odd_even_rounding is None else int(unit.odd_even_rounding),
        c_drop=NO_DROP if unit.late_c_drop is None else unit.late_c_drop,
        prod_limit=NO_LIMIT if unit.product_limit is None else unit.product_limit,
        ieee_zero=int(unit.exact_zero == "ieee"),
    )


def operand_man(unit: DotUnit) -> int:
    """Fraction bits of the split operands: the wider of ``in_format`` and ``b_format`` (both
    operands are split with it, each clamped to its own format's emin; 0 for integer units)."""
    fin = unit.in_format
    if not isinstance(fin, FloatFormat):
        return 0
    fb = unit.b_format
    return fin.man_bits if fb is None else max(fin.man_bits, fb.man_bits)


def formats_of(unit: DotUnit) -> tuple[Elem, Elem, Elem]:
    """Lowered (block output, inner float accumulator, outer / result) formats."""
    p = lower(unit.out_format)
    pa = lower(unit.accumulator.format) if unit.accumulator.kind == "float" else p
    po = lower(unit.outer.format) if unit.outer is not None and unit.outer.kind == "float" else p
    return p, pa, po


def as_float64(x: Any, argument: str) -> np.ndarray:
    """``x`` as a float64 array, or TypeError naming ``argument``."""
    if not isinstance(x, np.ndarray) and not is_torch(x):
        try:
            x = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{argument}: expected a float array or a nested list of numbers ({exc})"
            ) from None
    given = as_array(x, argument)
    if given.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{argument}: {given.describe()} is not supported; expected one of "
            f"{sorted(FLOAT_DTYPES)}"
        )
    return widened(given).astype(np.float64, copy=False)


def check_exact(x: np.ndarray, fmt: FloatFormat | IntFormat, argument: str) -> None:
    """Raise ValueError unless every value of ``x`` is exactly representable in ``fmt``."""
    bits = np.ascontiguousarray(x, dtype=np.float64).reshape(-1).view(np.int64)
    if isinstance(fmt, IntFormat):
        lsb = 2.0**-fmt.frac_bits
        bad = first_inexact(
            bits,
            True,
            0,
            0,
            True,
            fmt.max_int * lsb,
            -fmt.min_int * lsb,
            False,
            False,
            -fmt.frac_bits,
        )
    else:
        bad = first_inexact(
            bits,
            False,
            fmt.man_bits,
            fmt.emin,
            fmt.subnormals,
            fmt.max,
            fmt.max if fmt.signed else 0.0,
            fmt.has_nan,
            fmt.has_inf,
            0,
        )
    if bad < 0:
        return
    idx = tuple(int(i) for i in np.unravel_index(bad, x.shape))
    v = x[idx]
    if np.isnan(v):
        raise ValueError(f"{argument}: NaN is not representable in {fmt}")
    if np.isinf(v):
        raise ValueError(f"{argument}: Inf is not representable in {fmt}")
    raise ValueError(f"{argument}{list(idx)} = {float(v)!r} is not exactly representable in {fmt}")


def operand(x: Any, fmt: FloatFormat | IntFormat, argument: str) -> np.ndarray:
    """A validated float64 operand array (every float64 value, NaN and Inf included, is exact in
    the binary64 format ``fp64``: nothing to check there)."""
    arr = as_float64(x, argument)
    if not is_fp64(fmt):
        check_exact(arr, fmt, argument)
    return arr


def is_fp64(fmt: FloatFormat | IntFormat | None) -> bool:
    """True for the binary64 format (the FP64 FMA unit's; ``DotUnit`` admits it nowhere else)."""
    return isinstance(fmt, FloatFormat) and fmt.total_bits > 32


def _broadcast(arr: np.ndarray, shape: tuple[int, ...], argument: str) -> np.ndarray:
    """``arr`` broadcast to the result ``shape``, or a ValueError naming ``argument``."""
    try:
        return np.broadcast_to(arr, shape)
    except ValueError:
        raise ValueError(
            f"{argument}: shape {arr.shape} does not broadcast to the result shape {shape}"
        ) from None


def c_f64(c: Any, shape: tuple[int, ...], argument: str) -> np.ndarray:
    """``c`` as a contiguous float64 array broadcast to ``shape`` (+0 when ``c`` is None): the
    accumulator input of the FP64 FMA unit (any float64 value; narrower floats widen exactly)."""
    if c is None:
        return np.zeros(shape, np.float64)
    arr = as_float64(c, argument)
    arr = _broadcast(arr, shape, argument)
    return np.ascontiguousarray(arr, np.float64)


def fma64_matmul(A: np.ndarray, B: np.ndarray, c: Any, cname: str = "C") -> np.ndarray:
    """``c + A @ B`` (validated float64 A [M, K], B [K, N]) on the FP64 FMA unit: float64
    [M, N] (:func:`numsim._kernels.fma64.fma_matmul_f64`)."""
    shape = (A.shape[0], B.shape[1])
    return fma_matmul_f64(
        np.ascontiguousarray(A, np.float64),
        np.ascontiguousarray(B, np.float64),
        c_f64(c, shape, cname),
    )


def reject_fp64(unit: DotUnit, where: str) -> None:
    """ValueError when ``unit`` is the FP64 FMA unit and ``where`` (a consumer that carries FP32
    values or FP32 codes) cannot run it without truncating its results."""
    if is_fp64(unit.in_format):
        raise ValueError(
            f"unit={unit.name}: {where} carries FP32 values; the FP64 FMA unit runs only through "
            "numsim.datapath.dot / matmul (float64 in and out)"
        )


def c_bits(c: Any, shape: tuple[int, ...], argument: str, fmt: FloatFormat = fp32) -> np.ndarray:
    """FP32 bit patterns (int64) of ``c`` broadcast to ``shape`` (zeros when ``c`` is None);
    the values must be exact in ``fmt`` (the unit's ``c_format``)."""
    if c is None:
        return np.zeros(shape, np.int64)
    arr = operand(c, fmt, argument)
    arr = _broadcast(arr, shape, argument)
    return np.ascontiguousarray(arr.astype(np.float32)).view(np.uint32).astype(np.int64)


def split(
    x: np.ndarray, man: int, emin: int, ftz: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decompose a 2-D float64 array into (significand, exponent, kind) int64 arrays of its
    shape."""
    bits = np.ascontiguousarray(x).reshape(-1).view(np.int64)
    m, e, k = split_operands(bits, man, emin, ftz)
    return m.reshape(x.shape), e.reshape(x.shape), k.reshape(x.shape)


def mark_negative_zeros(
    x: np.ndarray, parts: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(m, e, kind)`` of :func:`split` with the kind of every -0 of ``x`` set to
    ``K_NEG_ZERO`` (units with ``exact_zero="ieee"``, whose exact zero sums follow the signs)."""
    m, e, k = parts
    k = np.where((x == 0) & np.signbit(x), K_NEG_ZERO, k)
    return m, e, k


def int_c(c: Any, unit: DotUnit, R: int, shape: tuple[int, ...], cname: str) -> np.ndarray:
    """Start values of an integer unit: register integers, or FP32 bits for a float / exact
    outer."""
    fin = unit.in_format
    assert isinstance(fin, IntFormat)
    if unit.outer is not None and unit.outer.kind != "int":
        return c_bits(c, shape, cname).reshape(R)
    if c is None:
        return np.zeros(R, np.int64)
    arr = as_float64(c, cname)
    try:
        arr = np.broadcast_to(arr, shape).reshape(R)
    except ValueError:
        raise ValueError(
            f"{cname}: shape {arr.shape} does not broadcast to the result shape {shape}"
        ) from None
    reg = arr * 2.0 ** (2 * fin.frac_bits)
    bits = (unit.outer or unit.accumulator).bits
    assert bits is not None
    lim = 2.0 ** (bits - 1)
    bad = ~np.isfinite(reg) | (reg != np.round(reg)) | (reg < -lim) | (reg >= lim)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"{cname}[{i}] = {arr[i]!r}: an integer unit starts from a multiple of "
            f"2**{-2 * fin.frac_bits} that fits its {bits}-bit register"
        )
    return reg.astype(np.int64)


def run(
    unit: DotUnit,
    A: np.ndarray,
    B: np.ndarray,
    ra: np.ndarray,
    rb: np.ndarray,
    c: Any,
    shape: tuple[int, ...],
    cname: str = "c",
) -> tuple[np.ndarray, np.ndarray]:
    """Results and overflow counts of the row pairs ``(A[ra[r]], B[rb[r]])``.

    ``shape``: the result shape; ``c`` (named ``cname`` in errors) broadcasts to it.
    """
    R = ra.size
    fin = unit.in_format
    prm = params(unit)
    po = formats_of(unit)[2]
    if isinstance(fin, IntFormat):
        if A.shape[1] * max(fin.max_int, -fin.min_int) ** 2 >= 2**62:
            raise ValueError(
                f"K={A.shape[1]}: sums of {fin} products this long exceed the kernels' int64"
            )
        scale = 2.0**fin.frac_bits
        ai = (A * scale).astype(np.int64)
        bi = (B * scale).astype(np.int64)
        chunks = -(-A.shape[1] // (unit.chunk or A.shape[1]))
        sexp_a, sexp_b = (
            np.zeros((A.shape[0], chunks), np.int64),
            np.zeros((B.shape[0], chunks), np.int64),
        )
        snan_a, snan_b = np.zeros(sexp_a.shape, np.bool_), np.zeros(sexp_b.shape, np.bool_)
        out, over = int_rows(
            ai,
            bi,
            ra,
            rb,
            int_c(c, unit, R, shape, cname),
            sexp_a,
            snan_a,
            sexp_b,
            snan_b,
            lower(fp32),
            po,
            prm,
        )
        return out.reshape(shape), over.reshape(shape)
    ftz = not unit.subnormals_in
    man = operand_man(unit)
    fb = unit.operand_b_format
    sa, sb = split(A, man, fin.emin, ftz), split(B, man, fb.emin, ftz)
    if unit.exact_zero == "ieee":
        sa, sb = mark_negative_zeros(A, sa), mark_negative_zeros(B, sb)
    return run_split(
        unit,
        sa,
        sb,
        ra,
        rb,
        c,
        shape,
        cname,
        man,
    )


def int_gemm_ok(unit: DotUnit, A: np.ndarray, B: np.ndarray) -> bool:
    """True when :func:`int_matmul` applies: an integer unit with one register over the whole row
    (no chunks, no outer accumulator) and ``K * max|a| * max|b| < 2**53`` in register units, so
    that every partial sum of a float64 BLAS product is an integer float64 holds exactly."""
    fin = unit.in_format
    if not isinstance(fin, IntFormat) or unit.chunk or unit.outer is not None:
        return False
    lim = float(max(fin.max_int, -fin.min_int)) ** 2 * A.shape[1]
    return lim < 2.0**53


def int_matmul(
    unit: DotUnit, A: np.ndarray, B: np.ndarray, c: Any, cname: str = "C"
) -> tuple[np.ndarray, np.ndarray]:
    """``c + A @ B`` (A [M, K], B [K, N]) on an integer unit that :func:`int_gemm_ok` accepts:
    ``(values, overflow counts)``, bit for bit :func:`run`.

    Every partial sum of a row lies within ``|c| + sum_i |a_i b_i|`` of zero, and that bound is
    exact integer arithmetic in float64 (``|A| @ |B|``, with ``K * max|a| * max|b| < 2**53``). Where
    it is below ``2**(P-1)`` the ``P``-bit register never leaves its range, wrapping or
    saturating alike: the result is the exact sum ``c + A @ B`` (a float64 BLAS product, exact for
    the same reason) with no overflow. The other outputs go through the register kernel.
    """
    M, N = A.shape[0], B.shape[1]
    shape = (M, N)
    scale = 2.0**unit.in_format.frac_bits
    af = np.asarray(A, np.float64) * scale
    bf = np.asarray(B, np.float64) * scale
    bits = unit.accumulator.bits
    assert bits is not None
    creg = int_c(c, unit, M * N, shape, cname)
    exact = (af @ bf).astype(np.int64).reshape(-1) + creg
    aa, ab = np.abs(af), np.abs(bf)
    lim = 2 ** (bits - 1)
    # sum_i |a_i b_i| is at most min(sum|a| * max|b|, max|a| * sum|b|); the exact |A| @ |B| only
    # where that cheap bound does not already keep the register in range
    cheap = np.minimum(
        np.outer(aa.sum(axis=1), ab.max(axis=0)), np.outer(aa.max(axis=1), ab.sum(axis=0))
    )
    bound = cheap.reshape(-1) + np.abs(creg)
    if (bound >= lim).any():
        bound = (aa @ ab).astype(np.int64).reshape(-1) + np.abs(creg)
    out = exact.astype(np.float64) * 2.0 ** (-2 * unit.in_format.frac_bits)
    over = np.zeros(M * N, np.int64)
    slow = np.flatnonzero(bound >= lim)
    if slow.size:
        ai = af.astype(np.int64)
        bi = np.ascontiguousarray(bf.T).astype(np.int64)
        za, zb = np.zeros((M, 1), np.int64), np.zeros((N, 1), np.int64)
        out[slow], over[slow] = int_rows(
            ai,
            bi,
            slow // N,
            slow % N,
            creg[slow],
            za,
            np.zeros(za.shape, np.bool_),
            zb,
            np.zeros(zb.shape, np.bool_),
            lower(fp32),
            formats_of(unit)[2],
            params(unit),
        )
    return out.reshape(shape), over.reshape(shape)


def run_split(
    unit: DotUnit,
    a: tuple[np.ndarray, ...],
    b: tuple[np.ndarray, ...],
    ra: np.ndarray,
    rb: np.ndarray,
    c: Any,
    shape: tuple[int, ...],
    cname: str,
    man_in: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Float-unit rows from decomposed operands ``(m, e, kind)`` with ``man_in`` fraction bits.

    With ``c_entry="epilogue"`` the rows run from a zero accumulator and c is added afterwards
    (:func:`epilogue`).
    """
    late = unit.c_entry == "epilogue"
    cbits = c_bits(None if late else c, shape, cname, unit.c_format).reshape(ra.size)
    if not unit.subnormals_in:  # the caller's c is flushed too
        cbits = np.where((cbits & 0x7F800000) == 0, cbits & 0x80000000, cbits)
    p, pa, po = formats_of(unit)
    out = float_rows(*a, *b, ra, rb, cbits, lower(fp32), p, pa, po, params(unit, man_in))
    out = out.astype(np.float32).reshape(shape)
    if late:
        out = epilogue(unit, out, c, cname)
    return out, np.zeros(shape, np.int64)


def epilogue(unit: DotUnit, d: np.ndarray, c: Any, cname: str) -> np.ndarray:
    """``RNE_fp32(d + c)``: a GEMM epilogue with ``beta = 1`` (``c_entry="epilogue"``).

    ``d`` holds the unit's results (values of its output format, exact in FP32); ``c`` must be
    exact in the unit's ``c_format``. The epilogue is not part of the unit: no flushing. The
    addition is one IEEE binary32 addition (numpy's float32 ``+``: round to nearest even,
    subnormals kept, ``x + (-x) = +0``, ``-0 + -0 = -0``, ``Inf - Inf = NaN``).
    """
    if c is None:
        return d
    cb = c_bits(c, d.shape, cname, unit.c_format)
    cv = cb.astype(np.uint32).view(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        return (d.astype(np.float32) + cv).astype(np.float32)


def pair_rows(
    sa: tuple[int, ...], sb: tuple[int, ...]
) -> tuple[tuple[int, ...], np.ndarray, np.ndarray]:
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


def check_dense(unit: DotUnit) -> None:
    """ValueError for a unit that needs MX block scales (a grouped unit aligns its groups at the
    scales' exponents, which plain operands do not have)."""
    if unit.group is not None:
        raise ValueError(
            f"unit={unit.name}: group={unit.group} aligns groups at their block scales' exponents;"
            " it takes MX operands (numsim.datapath.mx_matmul / mx_dot), not plain arrays"
        )


def dot_product(unit: DotUnit, a: Any, b: Any, c: Any) -> tuple[np.ndarray, np.ndarray]:
    """Results and overflow counts of :func:`numsim.datapath.dot` for a validated ``unit``."""
    check_dense(unit)
    fa = operand(a, unit.in_format, "a")
    fb = operand(b, unit.operand_b_format, "b")
    if fa.ndim == 0 or fb.ndim == 0:
        raise ValueError(
            f"a and b must have at least one axis (K); got shapes {fa.shape} and {fb.shape}"
        )
    if fa.shape[-1] != fb.shape[-1]:
        raise ValueError(
            f"K mismatch: a has K={fa.shape[-1]} (shape {fa.shape}), b has K={fb.shape[-1]} "
            f"(shape {fb.shape})"
        )
    K = fa.shape[-1]
    if K == 0:
        raise ValueError("K = 0: a and b must hold at least one product")
    lead, ra, rb = pair_rows(fa.shape, fb.shape)
    if is_fp64(unit.in_format):  # the FP64 FMA unit (DotUnit admits FP64 nowhere else)
        A = np.ascontiguousarray(fa.reshape(-1, K))
        B = np.ascontiguousarray(fb.reshape(-1, K))
        out = fma_rows_f64(A, B, ra, rb, c_f64(c, lead, "c").reshape(-1))
        return out.reshape(lead), np.zeros(lead, np.int64)
    return run(unit, fa.reshape(-1, K), fb.reshape(-1, K), ra, rb, c, lead)
