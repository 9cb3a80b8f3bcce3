"""Scalar bit-level primitives shared by every kernel: unpack, round, pack.

Conventions (SoftFloat style, on int64 so that Numba never mixes signed and unsigned types):

* An input is unpacked from its IEEE bits into ``(kind, sign, E, sig, P)``: a finite nonzero value
  equals ``sig * 2**(E - P)`` with the leading one of ``sig`` at bit ``P`` (so ``E`` is its
  floor(log2)); exponents come from the bits, never from a float log2.
* :func:`split_round` is the one rounding choke point: it drops ``sh`` low bits of ``sig`` and
  decides the increment from the mode, the kept LSB and a 62-bit fraction word whose lowest bit
  is sticky (the only place a sticky bit is built).
* :func:`encode_value` packs the rounded magnitude into a code of the element format and
  applies the overflow policy; :func:`encode_special` handles zero, Inf and NaN.

Every shift amount is guarded: shifting a 64-bit integer by 64 or more is undefined in LLVM.
"""

from __future__ import annotations

import math

from numba import njit

from ..formats import CodeClass, Specials
from ..policies import NanPolicy, Overflow, RoundMode

# The enums of numsim.policies and numsim.formats as plain ints (Numba freezes them as constants)
NEAREST_EVEN, NEAREST_AWAY, TOWARD_ZERO, TOWARD_POSITIVE, TOWARD_NEGATIVE, STOCHASTIC = (
    int(RoundMode.nearest_even),
    int(RoundMode.nearest_away),
    int(RoundMode.toward_zero),
    int(RoundMode.toward_positive),
    int(RoundMode.toward_negative),
    int(RoundMode.stochastic),
)
SATURATE, NONSATURATE = int(Overflow.saturate), int(Overflow.nonsaturate)
NAN_RAISE, NAN_ZERO, NAN_ZERO_INVERTED = (
    int(NanPolicy.raise_error),
    int(NanPolicy.zero),
    int(NanPolicy.zero_sign_inverted),
)
SP_IEEE, SP_FN, SP_FNUZ, SP_FINITE = (
    int(Specials.ieee),
    int(Specials.fn),
    int(Specials.fnuz),
    int(Specials.finite),
)
# Kinds of an unpacked input: the classes of numsim.formats.CodeClass
K_ZERO, K_FINITE, K_INF, K_NAN = (
    int(CodeClass.zero),
    int(CodeClass.finite),
    int(CodeClass.inf),
    int(CodeClass.nan),
)
#: Returned by the encoders for a NaN that the NaN policy says must raise.
NAN_ERROR = -1

_FRAC_BITS = 62
_HALF = 1 << (_FRAC_BITS - 1)


@njit(inline="always")
def bit_length(v):
    """Number of bits of a positive int64 (binary search; v > 0)."""
    n = 0
    if v >> 32:
        v >>= 32
        n += 32
    if v >> 16:
        v >>= 16
        n += 16
    if v >> 8:
        v >>= 8
        n += 8
    if v >> 4:
        v >>= 4
        n += 4
    if v >> 2:
        v >>= 2
        n += 2
    if v >> 1:
        v >>= 1
        n += 1
    return n + v


@njit(inline="always")
def unpack(b, se, sm, sbias):
    """Unpack IEEE bits ``b`` (int64) of a format with ``se`` exponent and ``sm`` fraction bits.

    Returns ``(kind, sign, E, sig, P)``; ``E``, ``sig``, ``P`` are meaningful for K_FINITE only.
    """
    sign = (b >> (se + sm)) & 1
    f = (b >> sm) & ((1 << se) - 1)
    frac = b & ((1 << sm) - 1)
    if f == (1 << se) - 1:
        return (K_INF if frac == 0 else K_NAN), sign, 0, 0, 0
    if f == 0:
        if frac == 0:
            return K_ZERO, sign, 0, 0, 0
        p = bit_length(frac) - 1
        return K_FINITE, sign, 1 - sbias - (sm - p), frac, p
    return K_FINITE, sign, f - sbias, frac | (1 << sm), sm


@njit(inline="always")
def _mix32(x):
    """lowbias32 integer hash (C. Wellons); every product is masked to 32 bits, so the result is
    the same with the JIT (wrapping int64) and without it (unbounded Python ints)."""
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    return x ^ (x >> 16)


@njit(inline="always")
def random_word(seed, index):
    """32 pseudo-random bits for element ``index`` of the stream ``seed`` (both int64 >= 0).

    Counter-based, so results do not depend on threading or chunking.
    """
    h = _mix32((seed & 0xFFFFFFFF) ^ 0x9E3779B9)
    h = _mix32(h ^ ((seed >> 32) & 0xFFFFFFFF))
    h = _mix32(h ^ (index & 0xFFFFFFFF))
    return _mix32(h ^ ((index >> 32) & 0xFFFFFFFF))


@njit(inline="always")
def split_round(sig, sh, sign, mode, r, rbits):
    """Round ``sig / 2**sh`` (sh >= 1) to an integer by ``mode``; the rounding choke point.

    ``r`` is an ``rbits``-bit random integer used by stochastic rounding only.
    """
    if sh <= _FRAC_BITS:
        kept = sig >> sh
        frac = (sig & ((1 << sh) - 1)) << (_FRAC_BITS - sh)
    else:
        kept = 0
        d = sh - _FRAC_BITS
        if d >= 63:
            frac = 1  # sig != 0: sticky only
        else:
            frac = (sig >> d) | (1 if (sig & ((1 << d) - 1)) != 0 else 0)
    if frac == 0:
        return kept
    if mode == NEAREST_EVEN:
        up = frac > _HALF or (frac == _HALF and (kept & 1) == 1)
    elif mode == NEAREST_AWAY:
        up = frac >= _HALF
    elif mode == TOWARD_ZERO:
        up = False
    elif mode == TOWARD_POSITIVE:
        up = sign == 0
    elif mode == TOWARD_NEGATIVE:
        up = sign == 1
    else:
        up = (frac >> (_FRAC_BITS - rbits)) + r >= (1 << rbits)
    return kept + 1 if up else kept


@njit(inline="always")
def overflow_code(sign, mode, ovf, p):
    """Code of a finite value whose rounded magnitude exceeds the format's max (IEEE 754 §7.4)."""
    smask = p.sign_mask if sign else 0
    if ovf == SATURATE:
        return p.max_mag | smask
    to_inf = (
        mode == NEAREST_EVEN
        or mode == NEAREST_AWAY
        or mode == STOCHASTIC
        or (mode == TOWARD_POSITIVE and sign == 0)
        or (mode == TOWARD_NEGATIVE and sign == 1)
    )
    if not to_inf:
        return p.max_mag | smask
    if p.specials == SP_IEEE:
        return p.inf_code | smask
    if p.specials == SP_FN:
        return p.allones | smask
    if p.specials == SP_FNUZ:
        return p.nan_code
    return p.max_mag | smask


@njit(inline="always")
def nan_code(sign, p):
    """Code of a NaN input in a format with NaN."""
    if p.specials == SP_FNUZ:
        return p.nan_code
    return p.nan_code | (p.sign_mask if sign else 0)


@njit(inline="always")
def encode_special(kind, sign, p, ovf, nanpol):
    """Code of a zero, Inf or NaN input (kind != K_FINITE); NAN_ERROR if the NaN policy raises."""
    if p.is_int:
        if kind == K_ZERO:
            return 0
        if kind == K_INF:
            if sign == 0:
                return p.max_int
            return (-p.neg_max) & p.allones
        if nanpol == NAN_RAISE:
            return NAN_ERROR
        return 0
    if kind == K_ZERO:
        if not p.has_zero:
            return p.nan_code
        return p.sign_mask if (sign and p.specials != SP_FNUZ) else 0
    if kind == K_INF:
        if sign and not p.signed:
            return p.nan_code if p.specials != SP_FINITE else 0
        smask = p.sign_mask if sign else 0
        if ovf == SATURATE:
            return p.max_mag | smask
        return overflow_code(sign, NEAREST_EVEN, ovf, p)
    if p.specials != SP_FINITE:
        return nan_code(sign, p)
    if nanpol == NAN_RAISE:
        return NAN_ERROR
    s = sign if nanpol == NAN_ZERO else 1 - sign
    return p.sign_mask if (s and p.specials != SP_FNUZ) else 0


@njit(inline="always")
def encode_value(sign, E, sig, P, p, mode, ovf, r, rbits):
    """Code of the finite nonzero value ``(-1)**sign * sig * 2**(E - P)`` in element format
    ``p``."""
    if p.is_int:
        lsb = -p.frac_bits
        if sign and not p.signed:
            return 0
        limit = p.neg_max if sign else p.max_int
        if E - lsb >= 62:
            mag = limit
        else:
            sh = P - (E - lsb)
            mag = sig << (-sh) if sh <= 0 else split_round(sig, sh, sign, mode, r, rbits)
            mag = min(mag, limit)
        return ((-mag) & p.allones) if sign else mag
    if sign and not p.signed:
        return p.nan_code if p.specials != SP_FINITE else 0
    man = p.man_bits
    ftz = False
    if E >= p.emin:
        t = E
    elif p.subnormals:
        t = p.emin
    elif p.has_zero:
        t = p.emin + man  # one quantum of 2**emin: the set {0, 2**emin}
        ftz = True
    else:
        return 0  # no zero (E8M0): the smallest value
    sh = P - (E - (t - man))
    mag = sig << (-sh) if sh <= 0 else split_round(sig, sh, sign, mode, r, rbits)
    if ftz:
        code = mag << man
    else:
        code = ((t - p.emin + p.fe0 - 1) << man) + mag
    if code > p.max_mag:
        return overflow_code(sign, mode, ovf, p)
    if code == 0 and p.specials == SP_FNUZ:
        return 0  # no negative zero: the -0 code is NaN
    return code | (p.sign_mask if sign else 0)


@njit(inline="always")
def decode_value(code, p):
    """Value of ``code`` in element format ``p`` as a float64 (exact)."""
    if p.is_int:
        c = code & p.allones
        if p.signed and (c >> (p.bits - 1)) & 1:
            c -= 1 << p.bits
        return math.ldexp(float(c), int(-p.frac_bits))
    sign = (code & p.sign_mask) != 0
    mag = code & p.allones
    if p.specials == SP_IEEE:
        if mag == p.inf_code:
            return -math.inf if sign else math.inf
        if mag > p.inf_code:
            return math.nan
    elif p.specials == SP_FN:
        if mag == p.allones:
            return math.nan
    elif p.specials == SP_FNUZ and code == p.nan_code:
        return math.nan
    man = p.man_bits
    field = mag >> man
    frac = mag & ((1 << man) - 1)
    if field == 0 and p.fe0 == 1:
        v = math.ldexp(float(frac), int(p.emin - man)) if p.subnormals else 0.0
    else:
        v = math.ldexp(float((1 << man) + frac), int(field - p.exp_bias - man))
    return -v if sign else v
