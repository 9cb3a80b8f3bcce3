"""The Kulisch accumulator of the dot units: int64 limbs of signed 32-bit digits that add products
and partial sums exactly (carries resolved only when the total is read), and its one rounding
(:func:`kul_round`, through :func:`dotbase._round_out`).
"""

from __future__ import annotations

from numba import njit

from .core import K_FINITE, NEAREST_EVEN
from .dotbase import _flags, _round_out, _special_code, unpack_in

#: Kulisch accumulator: exponent of the lsb of limb 0, number of 32-bit limbs (the two slots after
#: them hold the lowest and highest limb touched). Covers 2**-704 .. 2**1088: every product of two
#: scaled operands (|exponent| < 600, checked by the wrappers) and every FP32 value, with carries.
KUL_LO = -704
KUL_LIMBS = 56
KUL_SIZE = KUL_LIMBS + 2
_MASK32 = (1 << 32) - 1


@njit(inline="always")
def kul_clear(k):
    """Empty accumulator (all limbs zero, no limb touched)."""
    k[:KUL_LIMBS] = 0
    k[KUL_LIMBS] = KUL_LIMBS
    k[KUL_LIMBS + 1] = -1


@njit(inline="always")
def kul_add(k, sign, mag, lsb):
    """Add ``(-1)**sign * mag * 2**lsb`` exactly (``0 <= mag < 2**62``)."""
    if mag == 0:
        return
    pos = lsb - KUL_LO
    j = pos >> 5
    off = pos & 31
    v0 = (mag & ((1 << (32 - off)) - 1)) << off
    rest = mag >> (32 - off)
    v1 = rest & _MASK32
    v2 = rest >> 32
    if sign:
        k[j] -= v0
        k[j + 1] -= v1
        k[j + 2] -= v2
    else:
        k[j] += v0
        k[j + 1] += v1
        k[j + 2] += v2
    k[KUL_LIMBS] = min(k[KUL_LIMBS], j)
    k[KUL_LIMBS + 1] = max(k[KUL_LIMBS + 1], j + 2)


@njit(inline="always")
def kul_add_code(k, code, p):
    """Add the value of a code of the IEEE-style lowered format ``p``; returns
    its ``(kind, sign)``."""
    kd, s, E, sig, P = unpack_in(code, p)
    if kd == K_FINITE:
        kul_add(k, s, sig, E - P)
    return kd, s


@njit(cache=True)
def kul_norm(k):
    """Resolve the accumulator into sign and magnitude: every touched limb becomes a 32-bit digit
    of ``|total|``. Returns ``(sign, t)``, ``t`` the highest non-zero limb (below the lowest touched
    limb ``k[KUL_LIMBS]`` when the total is zero)."""
    lo = k[KUL_LIMBS]
    hi = k[KUL_LIMBS + 1]
    if lo > hi:
        return 0, lo - 1
    for j in range(lo, hi):  # resolve carries upward; the top limb keeps the sign
        c = k[j] >> 32
        k[j] -= c << 32
        k[j + 1] += c
    sign = 0
    if k[hi] < 0:
        sign = 1
        for j in range(lo, hi + 1):
            k[j] = -k[j]
        for j in range(lo, hi):
            c = k[j] >> 32
            k[j] -= c << 32
            k[j + 1] += c
    while k[hi] >> 32 != 0:  # split an oversized top limb
        k[hi + 1] = k[hi] >> 32
        k[hi] &= _MASK32
        hi += 1
    k[KUL_LIMBS + 1] = hi
    t = hi
    while t >= lo and k[t] == 0:
        t -= 1
    return sign, t


@njit(cache=True)
def kul_take(k):
    """The exact total as ``(sign, mag, lsb)`` rounding-equivalent for results of at most 60 bits.

    ``mag`` holds the top 31 to 62 bits of the total and, in its lowest bit, a sticky bit standing
    for everything below (so one rounding of ``mag * 2**lsb`` to at most 29 bits equals the
    rounding of the exact total). A zero total gives ``mag == 0``. Clears the accumulator.
    """
    sign, t = kul_norm(k)
    lo = k[KUL_LIMBS]
    if t < lo:
        kul_clear(k)
        return 0, 0, 0
    below = k[t - 1] if t - 1 >= lo else 0
    sticky = (below & 3) != 0
    for j in range(lo, t - 1):
        if k[j] != 0:
            sticky = True
    w = (k[t] << 30) | (below >> 2)
    mag = (w << 1) | (1 if sticky else 0)
    kul_clear(k)
    return sign, mag, KUL_LO + 32 * (t - 1) + 1


@njit(inline="always")
def _kul_bit(k, lo, t, q):
    """Bit ``q`` (counted from ``2**KUL_LO``) of a normalised accumulator's magnitude."""
    j = q >> 5
    if q < 0 or j < lo or j > t:
        return 0
    return (k[j] >> (q & 31)) & 1


@njit(cache=True)
def kul_round_at(k, pos, sign, mode):
    """Round the total of an accumulator normalised by :func:`kul_norm` (``sign`` from it) to a
    multiple of ``2**pos`` in magnitude by ``mode`` (truncation or ties-to-even), and give it back
    its sign."""
    lo = k[KUL_LIMBS]
    hi = k[KUL_LIMBS + 1]
    q = pos - KUL_LO
    half = _kul_bit(k, lo, hi, q - 1) == 1
    sticky = False
    for j in range(lo, hi + 1):  # every digit below bit q - 1: sticky, then cleared
        lim = q - 1 - 32 * j  # bits of limb j below bit q - 1
        if lim <= 0:
            break
        if lim >= 32:
            sticky = sticky or k[j] != 0
            k[j] = 0
        else:
            sticky = sticky or (k[j] & ((1 << lim) - 1)) != 0
            k[j] &= ~((1 << lim) - 1)
    if q >= 1 and (q - 1) >> 5 >= lo and (q - 1) >> 5 <= hi:  # clear the half bit too
        k[(q - 1) >> 5] &= ~(1 << ((q - 1) & 31))
    if mode == NEAREST_EVEN and half and (sticky or _kul_bit(k, lo, hi, q) == 1):
        kul_add(k, 0, 1, pos)
    kul_sign(k, sign)


@njit(inline="always")
def kul_sign(k, sign):
    """Give a magnitude left by :func:`kul_norm` back its ``sign``."""
    if sign:
        for j in range(k[KUL_LIMBS], k[KUL_LIMBS + 1] + 1):
            k[j] = -k[j]


@njit(cache=True)
def kul_round(k, nan, pinf, ninf, p, mode, subnormals):
    """Code in ``p`` of the Kulisch total rounded once by ``mode``, or of the special value that the
    flags give (NaN, +-Inf); clears the accumulator."""
    if nan or pinf or ninf:
        kul_clear(k)
        return _special_code(nan, pinf, ninf, p)
    sign, mag, lsb = kul_take(k)
    return _round_out(sign, mag, lsb, p, mode, subnormals)


@njit(cache=True)
def add_round(k, x, px, y, py, p, mode, subnormals=1):
    """Code in ``p`` of ``round(x + y)``: codes ``x`` (format ``px``) and ``y`` (``py``), one
    rounding."""
    kx, sx = kul_add_code(k, x, px)
    ky, sy = kul_add_code(k, y, py)
    n1, p1, m1 = _flags(kx, sx)
    n2, p2, m2 = _flags(ky, sy)
    return kul_round(k, n1 or n2, p1 or p2, m1 or m2, p, mode, subnormals)
