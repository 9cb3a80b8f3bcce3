"""What every dot-unit kernel shares: the unit as plain ints (:class:`DotParams`), constants, the
operand unpack of a lowered format and the rounding of a result into its output format.

Every rounding of a block or accumulator result goes through :func:`_round_out`, that is through
:func:`core.encode_value`; terms are placed on an alignment grid by :func:`_place`, that is by
:func:`core.split_round`. The fast paths that round otherwise are listed in the package docstring.
"""

from __future__ import annotations

from typing import NamedTuple

from llvmlite import ir
from numba import config, njit, types
from numba.core.extending import intrinsic

from ..policies import AccKind
from .core import K_INF, K_NAN, NONSATURATE, bit_length, encode_value, split_round, unpack

#: eta floor standing for "no floor" (below any reachable exponent).
NO_FLOOR = -(1 << 20)
#: Emin of the FP32 c operand: an FP32 subnormal c aligns at exponent -126.
C_EMIN = -126
#: ``late_c_drop`` / ``product_limit`` standing for "none".
NO_DROP = 1 << 20
NO_LIMIT = 1 << 20
#: Kind of a negative zero operand (only units with ``exact_zero="ieee"`` mark them; every other
#: path sees K_ZERO for both signs).
K_NEG_ZERO = -1

#: Accumulator kinds, from :class:`numsim.policies.AccKind`.
ACC_CHAIN, ACC_FLOAT, ACC_EXACT, ACC_INT = (
    int(AccKind.chain),
    int(AccKind.float),
    int(AccKind.exact),
    int(AccKind.int),
)


class DotParams(NamedTuple):
    """A :class:`numsim.datapath.DotUnit` as plain ints."""

    n: int  #: products per block
    frac_bits: int  #: F (ignored when exact)
    exact: int  #: 1: exact terms (frac_bits None)
    raw: int  #: 1: product exponent e_a + e_b
    term_mode: int  #: RoundMode of the terms
    c_inside: int  #: 1: c joins the alignment
    odd_even: int  #: 1: even/odd products aligned as two groups
    pairwise: int  #: 1: products rounded and summed in a tree of rounded additions
    min_exp: int  #: eta floor (NO_FLOOR for none)
    man_in: int  #: fraction bits of the (scaled) operands
    out_mode: int  #: RoundMode of the block result
    subnormals_out: int  #: 0: flush subnormal block results
    acc_kind: int  #: ACC_* of the inner accumulator
    acc_mode: int  #: rounding of a float inner accumulator
    chunk: int  #: products per chunk (0: none)
    outer_kind: int  #: ACC_* of the outer accumulator (-1: none)
    outer_mode: int  #: rounding of a float outer accumulator
    int_bits: int  #: width of an int inner accumulator
    int_sat: int  #: 1: the int inner accumulator saturates
    outer_bits: int  #: width of an int outer accumulator
    outer_sat: int  #: 1: the int outer accumulator saturates
    int_lsb: int  #: exponent of an int register's lsb (-2 * frac_bits of the int format)
    zero_join: int  #: 1: zero products (and a zero c inside) join the alignment maximum
    zero_exp: int  #: exponent of a zero operand when zero_join
    c_emin: int  #: emin of c's format: alignment exponent of a subnormal c
    underflow_pos: int  #: 1: a block result that is a zero is +0
    late_fs: int  #: F_S of late_frac_bits (-1: the smaller partial on the larger one's grid)
    late_fc: int  #: F_c of late_frac_bits
    late_mode: int  #: RoundMode of the late partials
    oe_mode: int  #: RoundMode of the odd/even group sums (-1: added exactly)
    c_drop: int  #: c dropped when e_c < E - c_drop (NO_DROP: never)
    prod_limit: int  #: a product >= 2**prod_limit is +-Inf / NaN (NO_LIMIT: none)
    ieee_zero: int  #: 1: an exact zero sum of -0 terms is -0 (exact_zero="ieee")


# ----------------------------------------------------------------------------------------------
# lowered operands and results
# ----------------------------------------------------------------------------------------------
@njit(inline="always")
def unpack_in(code, p):
    """``unpack`` of a code of the IEEE-style lowered format ``p``."""
    return unpack(code, p.bits - p.man_bits - 1, p.man_bits, p.exp_bias)


@njit(cache=True)
def _round_out(sign, mag, lsb, p, mode, subnormals):
    """Code of ``(-1)**sign * mag * 2**lsb`` (mag >= 0) in ``p``; zero is +0, overflow is Inf."""
    if mag == 0:
        return 0
    P = bit_length(mag) - 1
    E = P + lsb
    if E > p.emax:
        return p.inf_code | (p.sign_mask if sign else 0)
    code = encode_value(sign, E, mag, P, p, mode, NONSATURATE, 0, 0)
    if subnormals == 0 and (code & p.allones) < (1 << p.man_bits):
        code &= p.sign_mask
    return code


@njit(inline="always")
def _special_code(nan, pinf, ninf, p):
    """Code for the special cases (NaN / both infinities -> NaN, else the Inf)."""
    if nan or (pinf and ninf):
        return p.nan_code
    if pinf:
        return p.inf_code
    return p.inf_code | p.sign_mask


@njit(inline="always")
def _flags(kd, s):
    """(nan, pinf, ninf) of one value kind and sign."""
    return kd == K_NAN, kd == K_INF and s == 0, kd == K_INF and s == 1


@njit(inline="always")
def _place(sig, sh, sign, mode):
    """``sig * 2**sh`` rounded to an integer by ``mode`` (sig > 0)."""
    if sh >= 0:
        return sig << sh
    return split_round(sig, -sh, sign, mode, 0, 0)


# ----------------------------------------------------------------------------------------------
# bit length in one instruction
# ----------------------------------------------------------------------------------------------
if config.DISABLE_JIT:  # plain Python (tox -e nojit): intrinsics do not run
    fast_bit_length = bit_length
else:

    @intrinsic
    def _ctlz(typingctx, x):
        """LLVM's count-leading-zeros of an int64 (one instruction, no branches)."""
        sig = types.int64(types.int64)

        def codegen(context, builder, signature, args):
            return builder.ctlz(args[0], ir.Constant(ir.IntType(1), 0))

        return sig, codegen

    @njit(inline="always")
    def fast_bit_length(v):
        """Number of bits of a non-negative int64 (0 for 0)."""
        return 64 - _ctlz(v)
