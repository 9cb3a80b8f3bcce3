"""Fixed-width hex rows: vectorized formatting and parsing (no per-line Python loop).

A row holds one field per column, separated by one space and ended by ``\\n``. A column of
``lanes`` lanes prints lane ``lanes - 1`` first, so that the field read by Verilog ``%h`` holds lane
``i`` at bits ``[i*LW +: LW]`` with ``LW = 4 * digits_per_lane``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._kernels.golden import hex_fill

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_NIBBLE = np.full(256, 255, dtype=np.uint8)
_NIBBLE[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
_NIBBLE[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16)
_SPACE, _NEWLINE = ord(" "), ord("\n")

KINDS = ("fp32", "code", "scale", "int")


@dataclass(frozen=True)
class Column:
    """One field of a vector row.

    Args:
        name: column name (``fp32``, ``code`` ...).
        bits: bits of one lane (at most 64).
        kind: how a value is shown in reports: ``fp32`` (IEEE binary32 bits), ``code`` (a code of
            the vector file's element format), ``scale`` (an E8M0 scale code) or ``int`` (a
            two's complement integer of ``bits`` bits; flags are 1-bit ints).
        lanes: lanes packed in the field (a block's elements); 1 for a scalar.
    """

    name: str  #: column name
    bits: int  #: bits of one lane
    kind: str  #: fp32, code, scale or int
    lanes: int = 1  #: lanes in the field

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"column name {self.name!r}: expected an identifier")
        if not 1 <= self.bits <= 64 or self.lanes < 1:
            raise ValueError(
                f"column {self.name}: bits={self.bits} lanes={self.lanes}: expected 1..64 bits, >= "
                "1 lane"
            )
        if self.kind not in KINDS:
            raise ValueError(f"column {self.name}: kind={self.kind!r}: expected one of {KINDS}")

    @property
    def lane_digits(self) -> int:
        """Hex digits of one lane."""
        return (self.bits + 3) // 4

    @property
    def digits(self) -> int:
        """Hex digits of the field."""
        return self.lane_digits * self.lanes

    def spec(self) -> str:
        """Header form ``name:bits:kind`` (``xLANES`` appended for lanes > 1)."""
        return f"{self.name}:{self.bits}:{self.kind}" + (f"x{self.lanes}" if self.lanes > 1 else "")

    @staticmethod
    def parse(spec: str) -> Column:
        """Inverse of :meth:`spec`."""
        try:
            name, bits, kind = spec.split(":")
            lanes = 1
            if "x" in kind:
                kind, n = kind.split("x")
                lanes = int(n)
            return Column(name, int(bits), kind, lanes)
        except ValueError as e:
            raise ValueError(
                f"column spec {spec!r}: expected name:bits:kind[xLANES] ({e})"
            ) from None


def row_width(columns: tuple[Column, ...]) -> int:
    """Bytes per row, separators and newline included."""
    return sum(c.digits for c in columns) + len(columns)


def format_rows(columns: tuple[Column, ...], data: dict[str, np.ndarray]) -> bytes:
    """The rows of ``data`` (column name -> uint array, shape (n,) or (n, lanes))."""
    n = len(data[columns[0].name])
    buf = np.empty((n, row_width(columns)), dtype=np.uint8)
    pos = 0
    for i, col in enumerate(columns):
        vals = np.asarray(data[col.name]).astype(np.uint64, copy=False).reshape(n, col.lanes)
        if col.bits < 64 and vals.size and int(vals.max()) >> col.bits:
            raise ValueError(f"column {col.name}: a value does not fit {col.bits} bits")
        hex_fill(buf, pos, np.ascontiguousarray(vals), col.lane_digits)
        pos += col.digits
        buf[:, pos] = _NEWLINE if i == len(columns) - 1 else _SPACE
        pos += 1
    return buf.tobytes()


def parse_rows(columns: tuple[Column, ...], body: bytes) -> dict[str, np.ndarray]:
    """Inverse of :func:`format_rows`.

    Raises:
        ValueError: a row of the wrong width, a misplaced separator or a non-hex digit (the
            message names the first bad row, 1-based within the body).
    """
    width = row_width(columns)
    if len(body) % width:
        nl = body.find(b"\n")
        raise ValueError(
            f"body of {len(body)} bytes is not a whole number of {width}-byte rows (truncated or "
            f"malformed; first row is {nl + 1 if nl >= 0 else len(body)} bytes)"
        )
    buf = np.frombuffer(body, dtype=np.uint8).reshape(-1, width)
    n = buf.shape[0]
    sep_cols = []
    pos = 0
    for col in columns:
        pos += col.digits
        sep_cols.append(pos)
        pos += 1
    seps = buf[:, sep_cols]
    want = np.full(len(columns), _SPACE, dtype=np.uint8)
    want[-1] = _NEWLINE
    bad = np.flatnonzero(np.any(seps != want, axis=1))
    if bad.size:
        raise ValueError(
            f"row {bad[0] + 1}: misplaced separator or newline (expected fields of "
            f"{[c.digits for c in columns]} hex digits)"
        )
    out: dict[str, np.ndarray] = {}
    pos = 0
    for col in columns:
        nib = _NIBBLE[buf[:, pos : pos + col.digits]]
        badrow = np.flatnonzero(np.any(nib == 255, axis=1))
        if badrow.size:
            raise ValueError(f"row {badrow[0] + 1}, column {col.name}: not a lowercase hex digit")
        vals = np.zeros((n, col.lanes), dtype=np.uint64)
        for j in range(col.lanes):
            lane = col.lanes - 1 - j
            v = np.zeros(n, dtype=np.uint64)
            for k in range(col.lane_digits):
                v = (v << np.uint64(4)) | nib[:, j * col.lane_digits + k].astype(np.uint64)
            vals[:, lane] = v
        if col.bits < 64 and vals.size and int(vals.max()) >> col.bits:
            raise ValueError(f"column {col.name}: a value does not fit {col.bits} bits")
        out[col.name] = vals[:, 0] if col.lanes == 1 else vals
        pos += col.digits + 1
    return out
