"""Packed storage of sub-byte codes.

Bit order (one rule for every width): codes form a little-endian bit stream. Code ``i`` occupies
stream bits ``[i*w, (i+1)*w)`` with its least significant bit first, and stream bit ``k`` is bit
``k % 8`` of byte ``k // 8``. So FP4 packs two codes per byte with code ``2i`` in the low nibble
(as torchao's fp4x2), FP6 packs four codes in three bytes (``b0 = c0 | c1 << 6``,
``b1 = c1 >> 2 | c2 << 4``, ``b2 = c2 >> 4 | c3 << 2``), and 8-bit codes are plain bytes. The last
byte is zero-padded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._inputs import as_array


def packed_size(count: int, bits: int) -> int:
    """Bytes that ``count`` codes of ``bits`` bits occupy."""
    return (count * bits + 7) // 8


def pack(codes: Any, bits: int) -> bytes:
    """Pack unsigned ``codes`` (any shape, C order) of ``bits`` bits each into bytes.

    Raises:
        ValueError: a code does not fit in ``bits`` bits, or ``bits`` is not in 1..32.
    """
    if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 32:
        raise ValueError(f"bits={bits!r}: expected an int in 1..32")
    given = as_array(codes, "codes")
    c = np.ascontiguousarray(given.values).reshape(-1)
    if given.dtype == "bfloat16" or c.dtype.kind not in "ui":
        raise TypeError(f"codes: {given.describe()}: expected unsigned integer codes")
    if c.dtype.kind == "i" and c.size and int(c.min()) < 0:
        raise ValueError(f"codes: a negative value ({int(c.min())}); expected codes >= 0")
    c = c.astype(np.uint64)
    if c.size and int(c.max()) >> bits:
        raise ValueError(f"codes: a code exceeds {bits} bits (max {int(c.max()):#x})")
    if bits == 8:
        return c.astype(np.uint8).tobytes()
    if bits == 4:
        c8 = c.astype(np.uint8)
        if c8.size % 2:
            c8 = np.append(c8, np.uint8(0))
        return (c8[0::2] | (c8[1::2] << 4)).tobytes()
    stream = ((c[:, None] >> np.arange(bits, dtype=np.uint64)) & 1).astype(np.uint8)
    return np.packbits(stream.reshape(-1), bitorder="little").tobytes()


def unpack(
    data: bytes | bytearray | memoryview | np.ndarray, bits: int, count: int, dtype: Any = None
) -> np.ndarray:
    """Unpack ``count`` codes of ``bits`` bits from ``data`` (inverse of :func:`pack`).

    Raises:
        ValueError: ``data`` is not exactly :func:`packed_size` bytes long.
    """
    if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 32:
        raise ValueError(f"bits={bits!r}: expected an int in 1..32")
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
        raise ValueError(f"count={count!r}: expected an int >= 0")
    buf = (
        np.frombuffer(bytes(data), dtype=np.uint8)
        if not isinstance(data, np.ndarray)
        else data.view(np.uint8)
    )
    need = packed_size(count, bits)
    if buf.size != need:
        raise ValueError(
            f"data: {buf.size} bytes, expected {need} for {count} codes of {bits} bits"
        )
    dtype = np.dtype(dtype or ("uint8" if bits <= 8 else "uint16" if bits <= 16 else "uint32"))
    if dtype.kind not in "ui" or dtype.itemsize * 8 - (dtype.kind == "i") < bits:
        raise ValueError(
            f"dtype={dtype}: {bits}-bit codes need an integer dtype of at least {bits} value bits"
        )
    if bits == 8:
        return buf.astype(dtype)
    if bits == 4:
        out = np.empty(2 * buf.size, dtype=np.uint8)
        out[0::2] = buf & 0xF
        out[1::2] = buf >> 4
        return out[:count].astype(dtype)
    stream = (
        np.unpackbits(buf, bitorder="little")[: count * bits].reshape(count, bits).astype(np.uint64)
    )
    return (stream << np.arange(bits, dtype=np.uint64)).sum(axis=1).astype(dtype)
