"""Element encode/decode kernels over flat arrays (private; called by numsim.codec)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .core import (
    K_FINITE,
    NAN_ERROR,
    STOCHASTIC,
    decode_value,
    encode_special,
    encode_value,
    random_word,
    unpack,
)


@njit(inline="always")
def stochastic_bits(mode, seed, rand, i, rbits):
    """The random integer for element ``i``: from ``rand`` if given, else from the seeded stream."""
    if mode != STOCHASTIC:
        return 0
    if rand.size:
        return np.int64(rand[i]) & ((1 << rbits) - 1)
    return random_word(seed, i) & ((1 << rbits) - 1)


@njit(parallel=True, cache=True)
def random_words(seed, out):
    """``out[i] = random_word(seed, i)``: the seeded stream laid out in the input's C order."""
    for i in prange(out.size):
        out[i] = random_word(seed, i)


@njit(parallel=True, cache=True)
def encode_array(bits, src, p, mode, ovf, nanpol, seed, rbits, rand, out):
    """Encode input bits ``bits`` (IEEE layout ``src``) into element codes ``out``.

    Returns the number of NaNs that the NaN policy refused (their codes are 0).
    """
    se, sm, sbias = src
    nerr = 0
    for i in prange(bits.size):
        kind, sign, e, sig, pos = unpack(np.int64(bits[i]), se, sm, sbias)
        if kind == K_FINITE:
            r = stochastic_bits(mode, seed, rand, i, rbits)
            c = encode_value(sign, e, sig, pos, p, mode, ovf, r, rbits)
        else:
            c = encode_special(kind, sign, p, ovf, nanpol)
            if c == NAN_ERROR:
                nerr += 1
                c = 0
        out[i] = c
    return nerr


@njit(parallel=True, cache=True)
def decode_array(codes, p, out):
    """Decode element codes into ``out`` (float32 or float64) from their bits."""
    for i in prange(codes.size):
        out[i] = decode_value(np.int64(codes[i]), p)


@njit(parallel=True, cache=True)
def gather(codes, table, out):
    """``out[i] = table[codes[i]]``: decoding through a table of every code's value."""
    for i in prange(codes.size):
        out[i] = table[codes[i]]


# ---------------------------------------------------------------------------------------------
# Table-driven float32 encoding. For an element format of at most 8 bits with man_bits <= 7 and
# smallest value >= 2**-124, a float32's code depends only on its top 17 bits (sign, exponent,
# 8 fraction bits: the result's LSB and round bit are at bit 16 or above) and on whether any of
# the low 15 bits is set (sticky). So every non-stochastic encoding from float32 is a lookup in a
# table of 2**17 codes, built once per (format, policies) by the scalar path above.
# ---------------------------------------------------------------------------------------------
TABLE_SHIFT = 15


@njit(cache=True)
def build_table(p, mode, ovf, nanpol):
    """Codes for every (float32 bits >> 15, sticky) index; -1 marks a NaN the policy refuses."""
    n = 1 << (32 - TABLE_SHIFT + 1)
    table = np.empty(n, dtype=np.int16)
    for idx in range(n):
        b = ((idx >> 1) << TABLE_SHIFT) | (idx & 1)  # the sticky bit stands for any low bits
        kind, sign, e, sig, pos = unpack(np.int64(b), 8, 23, 127)
        if kind == K_FINITE:
            table[idx] = encode_value(sign, e, sig, pos, p, mode, ovf, 0, 1)
        else:
            table[idx] = encode_special(kind, sign, p, ovf, nanpol)
    return table


@njit(inline="always")
def table_index(b):
    """Table index of float32 bits ``b`` (int64)."""
    return (b >> TABLE_SHIFT) << 1 | (1 if (b & ((1 << TABLE_SHIFT) - 1)) != 0 else 0)


@njit(parallel=True, cache=True)
def encode_table(bits, table, out):
    """Encode float32 bits through a table from :func:`build_table`; returns refused NaNs."""
    nerr = 0
    for i in prange(bits.size):
        c = table[table_index(np.int64(bits[i]))]
        if c < 0:
            nerr += 1
            c = 0
        out[i] = c
    return nerr


@njit(parallel=True, cache=True)
def quantize_table(bits, vtable, out):
    """Fake-quantize float32 bits through a table of values (code table composed with decoding).

    Returns the number of NaN results (for a format without NaN: NaNs the policy refused).
    """
    nnan = 0
    for i in prange(bits.size):
        v = vtable[table_index(np.int64(bits[i]))]
        if v != v:  # noqa: PLR0124 (NaN test inside numba)
            nnan += 1
        out[i] = v
    return nnan
