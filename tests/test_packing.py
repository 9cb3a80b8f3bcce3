"""Packed storage: the documented little-endian bit stream (numsim/packing.py docstring) and
BlockArray.pack / unpack (numsim/block.py docstring).

Expected bytes come from hand-built examples and from an independent bit-stream builder on Python
integers (``_stream``), which implements the documented rule directly: code ``i`` occupies stream
bits ``[i*w, (i+1)*w)``, least significant bit first, stream bit ``k`` is bit ``k % 8`` of byte
``k // 8``, last byte zero-padded.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

import numsim
from numsim import formats as F
from numsim.formats import BlockFormat


def _bf(name: str) -> BlockFormat:
    fmt = F.get(name)
    assert isinstance(fmt, BlockFormat)
    return fmt


BLOCKS: list[BlockFormat] = [_bf(n) for n in F.names("block")] + [
    numsim.bfp(16, "int8", 8),
    numsim.bfp(8, "fp4_e2m1", 5),
]


def _stream(codes: list[int], bits: int) -> bytes:
    """The documented layout, built on one Python integer."""
    acc = 0
    for i, c in enumerate(codes):
        acc |= int(c) << (i * bits)
    return acc.to_bytes((len(codes) * bits + 7) // 8, "little")


# ---------------------------------------------------------------------------------------------
# numsim.pack / numsim.unpack
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bits", list(range(1, 17)) + [24, 32])
def test_round_trip_every_width(bits: int) -> None:
    rng = np.random.default_rng(bits)
    dtype = np.uint8 if bits <= 8 else np.uint16 if bits <= 16 else np.uint32
    for count in (0, 1, 2, 3, 5, 7, 8, 9, 15, 17, 31, 33, 100, 1001):
        codes = rng.integers(0, 2**bits, size=count, dtype=np.uint64).astype(dtype)
        data = numsim.pack(codes, bits)
        assert isinstance(data, bytes)
        assert len(data) == (count * bits + 7) // 8
        assert data == _stream(codes.tolist(), bits)
        back = numsim.unpack(data, bits, count)
        assert back.dtype == dtype
        np.testing.assert_array_equal(back, codes)
        # bytearray, memoryview and uint8 arrays are accepted as data too
        for buf in (bytearray(data), memoryview(data), np.frombuffer(data, np.uint8)):
            np.testing.assert_array_equal(numsim.unpack(buf, bits, count), codes)


@pytest.mark.parametrize("bits", [1, 3, 4, 6, 8, 12])
def test_all_ones_and_shapes(bits: int) -> None:
    codes = np.full((3, 5), 2**bits - 1, np.uint16)
    data = numsim.pack(codes, bits)  # any shape, C order
    assert data == _stream([2**bits - 1] * 15, bits)
    np.testing.assert_array_equal(numsim.unpack(data, bits, 15, np.uint16), codes.reshape(-1))
    # a wider code dtype holding narrow codes packs the same
    assert numsim.pack(codes.astype(np.uint32), bits) == data


def test_fp4_nibble_order() -> None:
    """Code 2i in the low nibble (torchao fp4x2)."""
    assert numsim.pack(np.array([0x1, 0x2], np.uint8), 4) == b"\x21"
    assert numsim.pack(np.array([0xA, 0xB, 0xC], np.uint8), 4) == b"\xba\x0c"
    np.testing.assert_array_equal(numsim.unpack(b"\x21\x43", 4, 4), [1, 2, 3, 4])
    np.testing.assert_array_equal(numsim.unpack(b"\xba\x0c", 4, 3), [0xA, 0xB, 0xC])


def test_fp6_three_bytes_per_four_codes() -> None:
    """b0 = c0 | c1 << 6, b1 = c1 >> 2 | c2 << 4, b2 = c2 >> 4 | c3 << 2 (bytes truncated to 8
    bits)."""
    c = [0x21, 0x3A, 0x15, 0x2C]
    want = bytes(
        [(c[0] | c[1] << 6) & 0xFF, (c[1] >> 2 | c[2] << 4) & 0xFF, (c[2] >> 4 | c[3] << 2) & 0xFF]
    )
    assert want == b"\xa1\x5e\xb1"
    assert numsim.pack(np.array(c, np.uint8), 6) == want
    np.testing.assert_array_equal(numsim.unpack(want, 6, 4), c)
    # five codes: the fifth starts a new group and the last byte is zero-padded
    assert numsim.pack(np.array(c + [0x3F], np.uint8), 6) == want + b"\x3f"


def test_other_widths_by_hand() -> None:
    assert (
        numsim.pack(np.array([1, 2, 3], np.uint8), 3) == b"\xd1\x00"
    )  # 1 | 2<<3 | 3<<6 = 0xD1, bit 8 = 0
    assert numsim.pack(np.array([0xABC, 0x123], np.uint16), 12) == b"\xbc\x3a\x12"
    assert numsim.pack(np.array([1, 0, 1, 1, 0, 0, 0, 1, 1], np.uint8), 1) == b"\x8d\x01"
    assert numsim.pack(np.array([0x1234, 0xBEEF], np.uint16), 16) == b"\x34\x12\xef\xbe"
    assert numsim.pack(np.array([0x7F, 0x80, 0x01], np.uint8), 8) == b"\x7f\x80\x01"  # plain bytes


# ---------------------------------------------------------------------------------------------
# BlockArray.pack / unpack
# ---------------------------------------------------------------------------------------------
def _expected_size(fmt: BlockFormat, nblocks: int) -> int:
    """Bytes per the BlockArray.pack layout: [tensor scale f32] [scales] [micro] [elements]."""
    size = 4 if fmt.tensor_scale else 0
    sbits = fmt.scale_storage_bits or fmt.scale.total_bits
    size += (nblocks * sbits + 7) // 8
    if fmt.sub_block_size:
        size += (nblocks * (fmt.block_size // fmt.sub_block_size) * fmt.sub_scale_bits + 7) // 8
    size += (nblocks * fmt.block_size * fmt.element.total_bits + 7) // 8
    return size


@pytest.mark.parametrize("fmt", BLOCKS, ids=str)
@pytest.mark.parametrize(
    "shape, axis",
    [((40,), 0), ((3, 37), -1), ((37, 3), 0), ((2, 5, 33), 1), ((2, 3, 16), -1), ((1, 1), 0)],
)
def test_block_array_round_trip(fmt: BlockFormat, shape: tuple[int, ...], axis: int) -> None:
    rng = np.random.default_rng(len(shape) * 100 + shape[0])
    x = (rng.standard_normal(shape) * np.exp2(rng.integers(-6, 7, size=shape))).astype(np.float32)
    x.reshape(-1)[::7] = 0.0
    blk = numsim.encode(x, fmt, axis=axis)
    data = blk.pack()
    assert isinstance(data, bytes)
    ax = axis % len(shape)
    nblocks = -(-shape[ax] // fmt.block_size) * (int(np.prod(shape)) // shape[ax])
    assert len(data) == _expected_size(fmt, nblocks)
    back = numsim.BlockArray.unpack(
        data, fmt.name if fmt.name in F.names("block") else fmt, shape, axis
    )
    assert back.format == fmt and back.shape == tuple(shape) and back.axis == ax
    np.testing.assert_array_equal(back.codes, blk.codes)
    np.testing.assert_array_equal(back.scales, blk.scales)
    assert back.codes.dtype == blk.codes.dtype and back.scales.dtype == blk.scales.dtype
    if fmt.sub_block_size:
        np.testing.assert_array_equal(back.micro, blk.micro)
    else:
        assert back.micro is None
    if fmt.tensor_scale:
        assert back.tensor_scale == blk.tensor_scale
    else:
        assert back.tensor_scale is None
    np.testing.assert_array_equal(numsim.decode(back), numsim.decode(blk))
    assert back.pack() == data


@pytest.mark.parametrize(
    "name, n, size",
    [
        ("mxfp4_e2m1", 32, 1 + 16),
        ("mxfp8_e4m3", 32, 1 + 32),
        ("mxfp8_e5m2", 32, 33),
        ("mxfp6_e2m3", 32, 1 + 24),
        ("mxfp6_e3m2", 64, 2 + 48),
        ("mxint8", 32, 33),
        ("nvfp4", 16, 4 + 1 + 8),
        ("nvfp4", 32, 4 + 2 + 16),
        ("mx9", 16, 1 + 1 + 16),
        ("mx6", 16, 1 + 1 + 10),
        ("mx4", 16, 1 + 1 + 6),
        ("mx4", 32, 2 + 2 + 12),
        ("b4int3", 4, 1 + 2),
        ("b4int3", 8, 1 + 3),
        ("mxfp4_e2m1", 33, 2 + 32),
    ],
)
def test_packed_length(name: str, n: int, size: int) -> None:
    """Hand counts: e.g. MXFP4 32 values = 1 scale byte + 16 bytes of nibbles; MX4 16 values =
    1 scale byte + 8 microexponent bits + 16 * 3 element bits; b4int3 8 values = 2 * 4 scale bits +
    8 * 3 element bits."""
    blk = numsim.encode(np.linspace(-1, 1, n, dtype=np.float32), name)
    assert len(blk.pack()) == size


def test_mxfp4_block_bytes_by_hand() -> None:
    """[6, 0.5, 0...]: scale 2**0 = E8M0 0x7F; E2M1 6 = 0b0111, 0.5 = 0b0001 -> byte 0x17."""
    x = np.zeros(32, np.float32)
    x[:2] = [6.0, 0.5]
    x[31] = -1.0  # E2M1 -1 = 0b1010, the high nibble of the last byte
    assert numsim.encode(x, "mxfp4_e2m1").pack() == b"\x7f\x17" + b"\x00" * 14 + b"\xa0"


def test_nvfp4_bytes_by_hand() -> None:
    """[float32 LE tensor scale][UE4M3 scale byte][nibbles]; with tensor_amax = 2688 the tensor
    scale is 1.0, a block max of 6 gives block scale 6/6 = 1.0 (UE4M3 0x38) and elements 6 ->
    0x7."""
    x = np.zeros(16, np.float32)
    x[:3] = [6.0, -3.0, 0.5]  # E2M1 0b0111, 0b1101, 0b0001
    data = numsim.encode(x, "nvfp4", tensor_amax=2688.0).pack()
    assert data == struct.pack("<f", 1.0) + b"\x38" + b"\xd7\x01" + b"\x00" * 6


def test_mx9_micro_bits_by_hand() -> None:
    """Scale byte, then one microexponent bit per pair (pair 0 first, LSB first), then 16 bytes."""
    x = np.zeros(16, np.float32)
    x[:4] = [1.5, -0.75, 0.375, 0.25]  # pair 0 tau 0, pair 1 tau 1, pairs 2..7 zero -> tau 1
    data = numsim.encode(x, "mx9").pack()
    assert data[0] == 0x7F
    assert data[1] == 0b11111110
    assert data[2:6] == bytes(
        [0x60, 0xD0, 0x30, 0x20]
    )  # 96, -48, 0.75*64, 0.5*64 (two's complement)
    assert data[6:] == b"\x00" * 12


def test_block_unpack_then_decode_without_encoder() -> None:
    """Bytes built by hand decode to the documented values (MXFP8 E4M3, scale 2**1)."""
    data = b"\x80" + bytes([0x7E, 0xFE, 0x38, 0x01]) + b"\x00" * 28  # 448, -448, 1.0, 2**-9
    blk = numsim.BlockArray.unpack(data, "mxfp8_e4m3", (32,))
    got = numsim.decode(blk)
    assert got[:4].tolist() == [896.0, -896.0, 2.0, 2.0**-8]
    assert (got[4:] == 0).all()
