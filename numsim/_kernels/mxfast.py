"""Fused float32 fake quantization for power-of-two-scaled (MX) block formats.

One pass reads each block of float32 values once (its maximum, then its elements from cache) and
writes the quantized float32 values, with no element codes in between. An element's value is
``element(x / 2**s) * 2**s``; dividing by a power of two only moves the binade, so the kernel
rounds ``x`` itself onto the element grid moved up by ``s`` binades, where every step is exact or
one IEEE float32 rounding:

* The grid's quantum at ``x`` is ``2**q`` with ``q = max(E, emin + s) - man_bits`` for a float
  element (``E`` = floor(log2 |x|), from the exponent bits of ``x``; below ``emin + s`` the
  element's subnormals) and ``q = s - frac_bits`` for an integer element. With ``C = 2**(q + 23)``,
  ``(|x| + C) - C`` is ``|x|`` rounded to a multiple of ``2**q``, to nearest with ties to the even
  multiple: ``|x| <= C``, so the float32 sum lies in ``[C, 2C]`` where the float32 spacing is
  ``2**q``; one IEEE nearest-even rounding; the subtraction is exact (Sterbenz). A tie goes to the
  even multiple, which is the element code with an even last bit (a rounding up to the next binade
  lands on an even multiple too). ``C`` is ``max(2**E, L) * K`` with block constants
  ``L = 2**(lo_exp + s)`` and ``K = 2**k_exp`` (floats: ``lo_exp = emin``,
  ``k_exp = 23 - man_bits``; integers: ``lo_exp = 23 - frac_bits``, ``k_exp = 0``, ``2**E``
  never exceeds ``L``).
* Saturation is ``min`` with ``max_elem * 2**s`` (nearest-even rounding then saturation, as the
  general encoder does); the sign comes back with ``copysign`` and an integer element, which has no
  negative zero, adds ``+0.0`` (``-0.0 + 0.0 = +0.0``; floats add ``-0.0``, which changes nothing).

The kernel takes a block only where every number it computes is a normal float32 (or zero): the
finest quantum ``2**(lo_exp + k_exp - 23 + s)`` at least ``2**-126``, ``max_elem * 2**s`` and ``2C``
below ``2**128``. Only an input element may be a float32 subnormal (an operand of the addition,
which IEEE arithmetic takes as it is: Numba compiles without fast-math, so nothing flushes it).
Each result is then a multiple of the quantum no larger than ``max_elem * 2**s``, exact in float32,
and equal to the general path's ``value(code) * 2**s`` (float64, stored as float32). Blocks with a
NaN or an Inf become NaN as the general path makes them; other blocks outside those bounds (a block
maximum below about ``2**-95`` or above about ``2**102``, by element format) are marked for the
general kernel.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from .block import FLOOR, shared_exponent


class MxFast(NamedTuple):
    """A power-of-two block format's element as the fused kernel needs it."""

    lo_exp: int  #: floats: emin; integers: 23 - frac_bits (``L = 2**(lo_exp + s)``)
    k_exp: int  #: floats: 23 - man_bits; integers: 0 (``K = 2**k_exp``)
    max_bits: int  #: float32 bits of the largest element value (a normal float32)
    neg_zero: (
        int  #: 1 if a negative value that rounds to zero keeps its sign (sign-magnitude floats)
    )


_CHUNK = 512  # blocks per work item of the parallel loop
_F32_NAN = np.float32(np.nan)


@njit(inline="always")
def _f32_of_bits(b):
    """The float32 whose bits are ``b`` (an int holding 32 bits)."""
    return np.int32(b).view(np.float32)


@njit(inline="always")
def _block_const(m, bp, fp, rule):
    """For a block whose largest magnitude has bits ``m``: ``(state, L, lim)`` with state 0 (fast),
    1 (NaN block) or 2 (general path), ``L = 2**(lo_exp + s)`` and ``lim = max_elem * 2**s``.
    All-zero blocks get ``L = lim = 1``, harmless in the element pass (a zero stays the same
    zero)."""
    if rule == FLOOR:
        s = min(max((m >> 23) - 127 - bp.emax, bp.scale_emin), bp.scale_emax)
    else:
        s = shared_exponent(m, 8, 23, 127, rule, bp) if m >= 0x800000 else bp.scale_emin
    ea = (m >> 23) - 127  # exponent of the block maximum (a float32 subnormal maximum: general)
    el = fp.lo_exp + s
    limb = fp.max_bits + (s << 23)
    ok = (
        (m >= 0x800000)
        and (m < 0x7F800000)
        and (el + fp.k_exp - 23 >= -126)
        and (limb >= 0x800000)
        and (limb < 0x7F800000)
        and (max(ea, el) + fp.k_exp <= 126)
        and (ea + 1 <= max(ea, el) + fp.k_exp)
    )
    if ok:
        return 0, _f32_of_bits((el + 127) << 23), _f32_of_bits(limb)
    one = _f32_of_bits(0x3F800000)
    return (0 if m == 0 else (1 if m >= 0x7F800000 else 2)), one, one


@njit(cache=True)
def _quantize_blocks(x, u, bp, fp, rule, k, z, vout, bad):
    """Blocks (rows of ``x``, float32 bits ``u``) one at a time, each read once into cache: the
    block maximum from the bits, the block's constants (:func:`_block_const`), then the element
    pass ``vout[b, j]`` = ``x[b, j]`` rounded onto block ``b``'s grid (module comment). Returns how
    many blocks are left to the general path (``bad[b] = 1``)."""
    nb, bs = x.shape
    nbad = 0
    for b in range(nb):
        ur = u[b]
        m = np.uint32(0)
        for j in range(bs):
            m = max(m, ur[j] & np.uint32(0x7FFFFFFF))
        st, lb, mb = _block_const(np.int64(m), bp, fp, rule)
        vr = vout[b]
        bad[b] = st >> 1
        nbad += st >> 1
        if st == 0:
            xr = x[b]
            for j in range(bs):
                v = xr[j]
                c = max(_f32_of_bits(ur[j] & np.uint32(0x7F800000)), lb) * k
                r = (abs(v) + c) - c
                vr[j] = np.copysign(min(r, mb), v) + z
        elif st == 1:
            vr[:] = _F32_NAN
    return nbad


@njit(parallel=True, cache=True)
def quantize_pow2_f32(x, bp, fp, rule, vout, bad):
    """Fake-quantize blocks (rows of float32 ``x``) into float32 ``vout`` (same shape).

    ``bp`` is the format's :class:`numsim._kernels.block.Pow2` (no microexponents), ``fp`` its
    :class:`MxFast`, ``rule`` a ScaleRule value; nearest-even rounding with saturation. Blocks the
    fast path does not take get ``bad[i] = 1`` and an unspecified ``vout`` row; the others 0.
    Returns how many blocks are bad.
    """
    nblk = x.shape[0]
    u = x.view(np.uint32)
    k = np.float32(2.0**fp.k_exp)
    z = np.float32(-0.0) if fp.neg_zero else np.float32(0.0)
    nch = (nblk + _CHUNK - 1) // _CHUNK
    counts = np.zeros(nch, np.int64)
    for c in prange(nch):
        i0 = c * _CHUNK
        i1 = min(nblk, i0 + _CHUNK)
        counts[c] = _quantize_blocks(
            x[i0:i1], u[i0:i1], bp, fp, rule, k, z, vout[i0:i1], bad[i0:i1]
        )
    return counts.sum()
