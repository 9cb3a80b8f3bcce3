"""Verify a golden vector set: manifest, headers, and every expected output recomputed.

``numsim golden verify DIR`` (:func:`main`) and :func:`verify_set` check a directory written by
``numsim golden`` without trusting its generation run:

1. the manifest: every listed file is present and has the listed size and sha256, and no
   ``.hex`` file under DIR is missing from it (:meth:`Manifest.verify`);
2. each file's structure: magic line, version, body checksum, row layout, count, and the
   manifest's unit and set (:func:`numsim.golden.read`);
3. each header: every key equals what the generator writes for that unit and parameter set
   (the generator run with no random cases at the file's level and seed; ``cases``, ``level``,
   ``seed`` and ``generator`` excepted), and the ``cases`` sections add up to the row count;
4. every expected output, recomputed from the row's own inputs with the numsim model the set
   names (:func:`recompute`): ``numsim.decode`` / ``numsim.encode`` for the codecs and the MX
   encoder, ``numsim.datapath.mx_dot`` for the MX dot unit, one K = 1 ``dot`` step per row for
   the accumulators (a chain row's previous value is the row above's expected output).

The first mismatches of a file are reported with their file line, column (and lane), the value
numsim computes (``expected``), the value the file holds (``found``), decoded, and the inputs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..codec import decode, encode
from ..datapath import mx_dot
from ..policies import NanPolicy, RoundMode
from .hexio import Column
from .units import LEVELS, ParamSet, _dot_block, fp32_acc_step, int_mac_step, unit
from .vectors import MANIFEST, GoldenError, Manifest, VectorFile, read

#: Header keys that may differ from the generator's reference header (checked otherwise).
FREE_KEYS = ("cases", "level", "seed", "generator")


# ---------------------------------------------------------------------------------------------
# Showing values
# ---------------------------------------------------------------------------------------------
def show_value(col: Column, value: int, element: Any) -> str:
    """One lane's value in hex with its decoded value (``value < 0``: no value, e.g. X bits)."""
    if value < 0:
        return "x (X/Z bits or no value)"
    text = f"0x{value:0{col.lane_digits}x}"
    if col.kind == "fp32":
        return f"{text} ({float(np.uint32(value).view(np.float32))!r})"
    if col.kind == "code":
        v = decode(np.array([value], dtype=element.code_dtype), element)[0]
        return f"{text} ({float(v)!r})"
    if col.kind == "scale":
        return f"{text} (2**{value - 127})" if value != 0xFF else f"{text} (NaN)"
    if col.kind == "int":
        signed = value - (1 << col.bits) if col.bits > 1 and value >> (col.bits - 1) else value
        return f"{text} ({signed})"
    return text


# ---------------------------------------------------------------------------------------------
# Recomputing the expected outputs
# ---------------------------------------------------------------------------------------------
def _u32(x: np.ndarray) -> np.ndarray:
    return np.asarray(x).astype(np.uint32)


def _signed(x: np.ndarray, bits: int) -> np.ndarray:
    """Two's complement fields of ``bits`` bits as int64."""
    v = np.asarray(x).astype(np.int64)
    return np.where((v >> (bits - 1)) & 1, v - (1 << bits), v)


def _previous(vf: VectorFile, col: str) -> np.ndarray:
    """Per row, the row above's value of ``col`` (the register a chain row starts from)."""
    out = np.roll(vf.data[col], 1)
    if vf.count and int(vf.data["init"][0]) != 1:
        raise GoldenError("row 1 has init 0: the first row must start a chain (init 1)")
    return out


def _elem_decoder(ps: ParamSet, vf: VectorFile) -> dict[str, np.ndarray]:
    vals = np.asarray(decode(vf.data["code"].astype(ps.element.code_dtype), ps.element), np.float32)
    return {"fp32": vals.view(np.uint32)}


def _elem_encoder(ps: ParamSet, vf: VectorFile) -> dict[str, np.ndarray]:
    codes = encode(
        _u32(vf.data["fp32"]).view(np.float32),
        ps.element,
        rounding=RoundMode.nearest_even,
        overflow=ps.overflow,
        nan=NanPolicy.zero,
    )
    return {"code": np.asarray(codes)}


def _mx_encoder(ps: ParamSet, vf: VectorFile) -> dict[str, np.ndarray]:
    assert ps.block is not None
    bs = ps.block.block_size
    enc = encode(
        _u32(vf.data["x"]).reshape(-1, bs).view(np.float32), ps.block, axis=-1, profile="ocp"
    )
    return {"scale": enc.scales.reshape(-1), "codes": enc.codes.reshape(-1, bs)}


def _mx_dot(ps: ParamSet, vf: VectorFile) -> dict[str, np.ndarray]:
    assert ps.block is not None and ps.dot is not None
    a, b = (_dot_block(ps.block, vf.data[k], vf.data[f"{k}_scale"]) for k in ("a", "b"))
    with np.errstate(invalid="ignore"):  # signalling NaN c
        d = mx_dot(a, b, ps.dot, c=_u32(vf.data["c"]).view(np.float32))
    return {"d": np.asarray(d, np.float32).view(np.uint32)}


def _fp32_acc(ps: ParamSet, vf: VectorFile) -> dict[str, np.ndarray]:
    assert ps.dot is not None
    start = np.where(vf.data["init"] == 1, vf.data["c"], _previous(vf, "acc"))
    return {"acc": fp32_acc_step(ps.dot, _u32(start), _u32(vf.data["d"]))}


def _int_mac(ps: ParamSet, vf: VectorFile) -> dict[str, np.ndarray]:
    assert ps.dot is not None and ps.dot.accumulator.bits is not None
    p, bits = ps.dot.accumulator.bits, ps.element.bits
    init = vf.data["init"] == 1
    start = _signed(np.where(init, vf.data["c"], _previous(vf, "acc")), p)
    acc, ovf = int_mac_step(ps.dot, start, _signed(vf.data["a"], bits), _signed(vf.data["b"], bits))
    sticky = np.where(init, 0, _previous(vf, "sticky")) | (ovf > 0)
    return {"acc": acc & ((1 << p) - 1), "ovf": ovf, "sticky": sticky}


#: unit -> the function that recomputes its output columns from the input columns.
RECOMPUTE: dict[str, Callable[[ParamSet, VectorFile], dict[str, np.ndarray]]] = {
    "elem_decoder": _elem_decoder,
    "elem_encoder": _elem_encoder,
    "mx_encoder": _mx_encoder,
    "mx_dot": _mx_dot,
    "fp32_acc": _fp32_acc,
    "int_mac": _int_mac,
}


def recompute(ps: ParamSet, vf: VectorFile) -> dict[str, np.ndarray]:
    """The output columns of ``vf`` as numsim computes them from its input columns, as uint64
    arrays shaped like ``vf.data``.

    Raises:
        GoldenError: the rows cannot be evaluated (a file whose first row continues a chain).
    """
    out = RECOMPUTE[ps.unit](ps, vf)
    return {
        k: np.asarray(v).astype(np.int64).astype(np.uint64).reshape(vf.data[k].shape)
        for k, v in out.items()
    }


# ---------------------------------------------------------------------------------------------
# Header check
# ---------------------------------------------------------------------------------------------
_REFERENCE: dict[tuple[str, str, int, int], dict[str, str]] = {}


def _header_arg(vf: VectorFile, key: str) -> int:
    text = vf.header.get(key, "")
    if key == "seed" and text == "n/a":  # exhaustive units
        return 1
    try:
        return int(text)
    except ValueError:
        raise GoldenError(f"header {key} is {text!r}: expected an integer") from None


def reference_header(ps: ParamSet, level: int, seed: int) -> dict[str, str]:
    """The header the generator writes for ``ps`` (generated without random cases; cached)."""
    key = (ps.unit, ps.name, level, seed)
    if key not in _REFERENCE:
        _REFERENCE[key] = dict(unit(ps.unit).build(ps, level, seed, 0).header)
    return _REFERENCE[key]


def check_header(ps: ParamSet, vf: VectorFile) -> None:
    """Raise :class:`GoldenError` unless the header is the generator's for ``ps``.

    Every key but :data:`FREE_KEYS` must be present with the generator's value and no other key
    may appear; ``level`` must be a known level; the ``cases`` sections must add up to the rows.
    """
    level, seed = _header_arg(vf, "level"), _header_arg(vf, "seed")
    if level not in LEVELS:
        raise GoldenError(f"header level is {level}: expected one of {LEVELS}")
    want = reference_header(ps, level, seed)
    for k in sorted(set(want) | set(vf.header)):
        if k in FREE_KEYS:
            continue
        if k not in want:
            raise GoldenError(
                f"header has a key the generator does not write: {k}: {vf.header[k]!r}"
            )
        if vf.header.get(k) != want[k]:
            raise GoldenError(
                f"header mismatch: {k} is {vf.header.get(k)!r}, numsim's {ps.unit} set "
                f"{ps.name} has {want[k]!r}"
            )
    names = [item.partition("=")[0] for item in vf.header.get("cases", "").split()]
    want_names = [item.partition("=")[0] for item in want.get("cases", "").split()]
    if names != want_names or sum(len(r) for r in vf.sections().values()) != vf.count:
        raise GoldenError(
            f"header cases {vf.header.get('cases')!r}: expected the sections "
            f"{' '.join(want_names)} adding up to the {vf.count} rows"
        )


# ---------------------------------------------------------------------------------------------
# Mismatches
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mismatch:
    """One output field whose recomputed value differs from the file's."""

    line: int  #: 1-based line in the file
    row: int  #: 0-based row in the body
    column: str  #: output column
    lane: int | None  #: lane of a block column (None for a scalar)
    expected: int  #: numsim's value
    found: int  #: the file's value


def _lane_value(vf: VectorFile, name: str, row: int, lane: int | None) -> int:
    v = vf.data[name][row]
    return int(v if lane is None else v[lane])


def describe_mismatch(ps: ParamSet, vf: VectorFile, m: Mismatch) -> str:
    """``line L, <column>[lane]: expected ..., found ...; inputs: ...`` with decoded values."""
    cols = {c.name: c for c in vf.columns}
    outs = vf.header.get("outputs", vf.columns[-1].name).split()
    col = cols[m.column]
    where = m.column if m.lane is None else f"{m.column}[{m.lane}]"
    inputs = []
    for c in vf.columns:
        if c.name in outs:
            continue
        if c.lanes == 1:
            inputs.append(
                f"{c.name} {show_value(c, _lane_value(vf, c.name, m.row, None), ps.element)}"
            )
        elif m.lane is not None and c.lanes == col.lanes:  # the lane's own input
            inputs.append(
                f"{c.name}[{m.lane}] "
                f"{show_value(c, _lane_value(vf, c.name, m.row, m.lane), ps.element)}"
            )
        else:  # a block input of a scalar output: its non-zero lanes
            nz = [i for i in range(c.lanes) if _lane_value(vf, c.name, m.row, i)]
            lanes = ", ".join(
                f"[{i}] {show_value(c, _lane_value(vf, c.name, m.row, i), ps.element)}"
                for i in nz[:4]
            )
            more = f", ... {len(nz) - 4} more" if len(nz) > 4 else ""
            inputs.append(f"{c.name} {{{lanes}{more}}}" if nz else f"{c.name} all zero")
    return (
        f"line {m.line}, {where}: expected {show_value(col, m.expected, ps.element)}, found "
        f"{show_value(col, m.found, ps.element)}; inputs: {', '.join(inputs)}"
    )


def mismatches(ps: ParamSet, vf: VectorFile, limit: int = 8) -> tuple[int, list[Mismatch]]:
    """(rows whose outputs differ from numsim's, the first ``limit`` differing fields)."""
    want = recompute(ps, vf)
    first_line = 6 + len(vf.header)  # magic, version, header, columns, count, file_sha256
    bad_rows = np.zeros(vf.count, bool)
    found: list[Mismatch] = []
    for name, exp in want.items():
        got = vf.data[name]
        diff = exp != got
        rows = diff if diff.ndim == 1 else diff.any(axis=1)
        bad_rows |= rows
        for r in np.flatnonzero(rows)[:limit].tolist():
            lanes = [None] if diff.ndim == 1 else np.flatnonzero(diff[r]).tolist()
            for lane in lanes:
                e = int(exp[r] if lane is None else exp[r, lane])
                found.append(
                    Mismatch(first_line + r, r, name, lane, e, _lane_value(vf, name, r, lane))
                )
    found.sort(key=lambda m: (m.row, m.column, -1 if m.lane is None else m.lane))
    return int(bad_rows.sum()), found[:limit]


# ---------------------------------------------------------------------------------------------
# A whole set
# ---------------------------------------------------------------------------------------------
@dataclass
class FileCheck:
    """The outcome for one file of the set."""

    key: str  #: path relative to the set's directory
    rows: int = 0  #: vectors read (0 when the file was refused before its rows were read)
    problem: str | None = None  #: why the file was refused before recomputation
    bad_rows: int = 0  #: rows whose recomputed outputs differ
    details: list[str] = field(default_factory=list)  #: the first mismatches, described

    @property
    def ok(self) -> bool:
        """True when the file passed every check."""
        return self.problem is None and self.bad_rows == 0

    def text(self) -> str:
        """One line (``ok``), or the reason and the first mismatches."""
        if self.problem is not None:
            return f"FAIL {self.key}: {self.problem}"
        if self.bad_rows:
            head = (
                f"FAIL {self.key}: {self.bad_rows} of {self.rows} rows differ from numsim's "
                "recomputed "
                f"outputs; first {len(self.details)} field(s):"
            )
            return "\n".join([head, *(f"  {d}" for d in self.details)])
        return f"ok   {self.key}: {self.rows} rows, every output recomputed"


@dataclass
class SetCheck:
    """The outcome for a directory."""

    root: Path  #: the directory
    files: list[FileCheck] = field(default_factory=list)  #: per file, manifest order
    problems: list[str] = field(default_factory=list)  #: set-level problems (manifest, stray files)

    @property
    def ok(self) -> bool:
        """True when the manifest and every file passed."""
        return not self.problems and all(f.ok for f in self.files)

    def text(self) -> str:
        """The report: set-level problems, one entry per file, a summary line."""
        lines = [f"FAIL {p}" for p in self.problems] + [f.text() for f in self.files]
        bad = sum(not f.ok for f in self.files)
        rows = sum(f.rows for f in self.files)
        verdict = (
            "all match"
            if self.ok
            else f"{bad} file(s) refused"
            + (f", {len(self.problems)} set problem(s)" if self.problems else "")
        )
        lines.append(f"{self.root}: {len(self.files)} files, {rows} rows: {verdict}")
        return "\n".join(lines)


def check_file(man: Manifest, key: str, limit: int = 8) -> FileCheck:
    """Verify one listed file (steps 2-4 of the module docstring; step 1's checksum included)."""
    out = FileCheck(key)
    entry = man.files[key]
    path = man.root / key
    try:
        ps = unit(entry.unit).set(entry.set)
    except KeyError as e:
        out.problem = f"manifest names an unknown unit or set: {e.args[0]}"
        return out
    try:
        vf = read(path, expect={"unit": entry.unit, "set": entry.set}, manifest=man)
        out.rows = vf.count
        if vf.count != entry.count:
            raise GoldenError(f"{path}: {vf.count} rows, the manifest says {entry.count}")
        check_header(ps, vf)
        out.bad_rows, found = mismatches(ps, vf, limit)
    except FileNotFoundError:
        out.problem = f"listed in {MANIFEST} but missing"
        return out
    except GoldenError as e:
        msg = str(e)
        out.problem = msg.removeprefix(f"{path}: ")
        return out
    out.details = [describe_mismatch(ps, vf, m) for m in found]
    return out


def verify_set(root: str | Path, limit: int = 8) -> SetCheck:
    """Verify the vector set in directory ``root`` (see the module docstring)."""
    res = SetCheck(Path(root))
    try:
        man = Manifest.load(res.root)
    except GoldenError as e:
        res.problems.append(str(e))
        return res
    listed = set(man.files)
    for path in sorted(res.root.rglob("*.hex")):
        if man.key(path) not in listed:
            res.problems.append(f"{man.key(path)}: a vector file not listed in {MANIFEST}")
    res.files = [check_file(man, key, limit) for key in sorted(man.files)]
    return res


def build_parser() -> argparse.ArgumentParser:
    """The ``numsim golden verify`` argument parser (usage errors in one line)."""
    from ..cli_args import Parser

    parser = Parser(
        prog="numsim golden verify",
        description="Check a golden vector set against its manifest (sha256 and presence of every "
        "file), check every header against numsim's generator, and recompute every expected output "
        "from the row's inputs with the numsim model; print the first mismatches.",
    )
    parser.add_argument(
        "dir", help="directory holding manifest.json (as written by `numsim golden --out`)"
    )
    parser.add_argument(
        "--limit", type=int, default=8, help="mismatches shown per file (default 8)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``numsim golden verify DIR``: exit 0 when the set verifies, 1 when not, 2 on bad usage."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not Path(args.dir).is_dir():
        print(f"numsim golden verify: dir={args.dir!r}: not a directory", file=sys.stderr)
        return 2
    if args.limit < 1:
        print(
            f"numsim golden verify: --limit={args.limit}: expected a positive int", file=sys.stderr
        )
        return 2
    res = verify_set(args.dir, args.limit)
    print(res.text())
    return 0 if res.ok else 1
