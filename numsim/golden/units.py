"""Units with golden vectors, their parameter sets, and how each unit's cases are built.

Expected values come from numsim's public models (``numsim.encode``, ``numsim.decode`` and the
code tables it reads, :mod:`numsim._tables`), which the test suite holds bit for bit to the
independent exact reference (:mod:`numsim.reference`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .. import __version__
from .. import formats as _formats
from .. import rtl as _rtl
from .._tables import finite_values, value_table
from ..codec import encode
from ..datapath import Accumulator, DotUnit, dot, mx_dot, presets
from ..formats import BlockFormat, FloatFormat, IntFormat
from ..policies import NanPolicy, Overflow, RoundMode
from . import cases as C
from . import dot_cases as D
from .hexio import Column
from .vectors import VectorFile

GENERATOR = f"numsim {__version__}"
#: Random cases per encoder parameter set, by level (``--count`` overrides).
RANDOM_COUNT = {1: 1 << 14, 2: 1 << 20}
LEVELS = (1, 2)


@dataclass(frozen=True)
class ParamSet:
    """One parameter set of a unit: the element format and the policies the RTL is built for."""

    unit: str  #: unit name
    name: str  #: set name (file stem): the format, "-nonsat" for non-saturating encoders
    element: FloatFormat | IntFormat  #: element format
    overflow: Overflow = Overflow.saturate  #: encoder overflow policy
    block: BlockFormat | None = None  #: block format (block units)
    dot: DotUnit | None = (
        None  #: the numsim datapath unit the RTL twins (mx_dot, fp32_acc, int_mac)
    )

    def rtl_params(self) -> dict[str, int]:
        """Verilog parameters, derived from the descriptor by :func:`numsim.rtl.params`."""
        return _rtl.params(self.unit, self.block or self.element, self.overflow, dot=self.dot)

    def rtl_line(self) -> str:
        """The header's ``rtl`` value: top module and parameters."""
        return f"{_rtl.unit(self.unit).top} {_rtl.format_params(self.rtl_params())}"

    @property
    def filename(self) -> str:
        """Path of the vector file relative to an output directory."""
        return f"{self.unit}/{self.name}.hex"


@dataclass(frozen=True)
class Unit:
    """A unit with golden vectors."""

    name: str  #: unit name
    doc: str  #: one line: what it computes
    sets: tuple[ParamSet, ...]  #: default parameter sets
    build: Callable[
        [ParamSet, int, int, int | None], VectorFile
    ]  #: (set, level, seed, count) -> vectors

    def set(self, name: str) -> ParamSet:
        """The parameter set called ``name``.

        Raises:
            KeyError: unknown set; the message lists the known ones.
        """
        for s in self.sets:
            if s.name == name:
                return s
        raise KeyError(
            f"unit {self.name} has no parameter set {name!r}; known: "
            f"{', '.join(s.name for s in self.sets)}"
        )


def _mxint8_element() -> IntFormat:
    elem = _formats.get("mxint8").element  # type: ignore[union-attr]
    assert isinstance(elem, IntFormat)
    return elem


def _element(name: str) -> FloatFormat | IntFormat:
    return _mxint8_element() if name == "mxint8" else _formats.get(name)  # type: ignore[return-value]


#: Element formats of the codec units; "mxint8" is the MXINT8 element (int8 * 2**-6, symmetric).
CODEC_FORMATS = ("fp8_e4m3", "fp8_e5m2", "fp6_e2m3", "fp6_e3m2", "fp4_e2m1", "int8", "mxint8")


def _base_header(ps: ParamSet) -> dict[str, str]:
    return {"generator": GENERATOR, "unit": ps.unit, "set": ps.name, "format": ps.element.name}


def _code_bits(ps: ParamSet) -> int:
    return ps.element.total_bits


def build_elem_decoder(ps: ParamSet, level: int, seed: int, count: int | None) -> VectorFile:
    """Every code of the format (exhaustive at every level; ``seed`` and ``count`` unused)."""
    bits = _code_bits(ps)
    codes = np.arange(1 << bits, dtype=np.uint32)
    vals = value_table(ps.element)
    if vals.dtype != np.float32:
        raise ValueError(
            f"format {ps.element}: decodes to {vals.dtype}, the decoder RTL outputs FP32"
        )
    header = _base_header(ps)
    header.update(
        {
            "rtl": ps.rtl_line(),
            "level": str(level),
            "seed": "n/a",
            "cases": f"exhaustive={codes.size}",
            "outputs": "fp32",
        }
    )
    cols = (Column("code", bits, "code"), Column("fp32", 32, "fp32"))
    return VectorFile(
        header,
        cols,
        {"code": codes.astype(np.uint64), "fp32": vals.view(np.uint32).astype(np.uint64)},
    )


def encoder_cases(
    fmt: Any, level: int, seed: int, count: int | None
) -> list[tuple[str, np.ndarray]]:
    """The encoder's FP32 input sections, in file order: every float16 and every bfloat16 value,
    the format's value catalog, chosen exponents x significand patterns, weighted random."""
    n_random = RANDOM_COUNT[level] if count is None else count
    values = finite_values(fmt)
    catalog = np.unique(
        np.concatenate(
            [C.both_signs(C.FP32_SPECIALS), C.value_catalog(values), C.exponent_catalog(fmt, level)]
        )
    )
    return [
        ("exhaustive_fp16", C.exhaustive_fp16()),
        ("exhaustive_bf16", C.exhaustive_bf16()),
        ("catalog", catalog),
        ("random", C.random_fp32(fmt, n_random, seed)),
    ]


def build_elem_encoder(ps: ParamSet, level: int, seed: int, count: int | None) -> VectorFile:
    """FP32 -> code under nearest-even and the set's overflow; NaN into formats without NaN
    becomes zero with the NaN's sign (``nan="zero"``), as the RTL does."""
    sections = encoder_cases(ps.element, level, seed, count)
    x = np.concatenate([s for _, s in sections]).astype(np.uint32)
    codes = np.asarray(
        encode(
            x.view(np.float32),
            ps.element,
            rounding=RoundMode.nearest_even,
            overflow=ps.overflow,
            nan=NanPolicy.zero,
        )
    )
    header = _base_header(ps)
    header.update(
        {
            "rounding": RoundMode.nearest_even.name,
            "overflow": ps.overflow.name,
            "nan": NanPolicy.zero.name,
            "rtl": ps.rtl_line(),
            "level": str(level),
            "seed": str(seed),
            "cases": " ".join(f"{k}={v.size}" for k, v in sections),
            "outputs": "code",
        }
    )
    cols = (Column("fp32", 32, "fp32"), Column("code", _code_bits(ps), "code"))
    return VectorFile(header, cols, {"fp32": x.astype(np.uint64), "code": codes.astype(np.uint64)})


#: Random blocks per MX encoder parameter set, by level (``--count`` overrides).
RANDOM_BLOCKS = {1: 1 << 12, 2: 1 << 17}


def mx_encoder_cases(
    blk: BlockFormat, level: int, seed: int, count: int | None
) -> list[tuple[str, np.ndarray]]:
    """The MX encoder's block sections, in file order: NaN/Inf at every position, zero blocks,
    every block exponent (every scale and both clamps), the element value catalog at chosen
    scales, weighted random blocks."""
    fmt, bs = blk.element, blk.block_size
    values = finite_values(fmt)
    n_random = RANDOM_BLOCKS[level] if count is None else count
    return [
        ("special", C.block_specials(bs, seed)),
        ("zero", C.block_zeros(bs)),
        ("scale_sweep", C.block_scale_sweep(fmt, bs)),
        ("catalog", C.block_value_catalog(fmt, bs, values)),
        ("random", C.random_blocks(fmt, n_random, bs, seed)),
    ]


def build_mx_encoder(ps: ParamSet, level: int, seed: int, count: int | None) -> VectorFile:
    """Blocks of FP32 -> (E8M0 scale, element codes) under numsim's OCP profile: floor scale,
    nearest-even saturating elements, NaN/Inf -> NaN scale."""
    assert ps.block is not None
    sections = mx_encoder_cases(ps.block, level, seed, count)
    x = np.concatenate([s for _, s in sections]).astype(np.uint32)
    enc = encode(x.view(np.float32), ps.block, axis=-1, profile="ocp")
    bs = ps.block.block_size
    header = _base_header(ps)
    header.update(
        {
            "block": ps.block.name,
            "scale_rule": "floor",
            "rounding": RoundMode.nearest_even.name,
            "overflow": Overflow.saturate.name,
            "rtl": ps.rtl_line(),
            "level": str(level),
            "seed": str(seed),
            "cases": " ".join(f"{k}={v.shape[0]}" for k, v in sections),
            "outputs": "scale codes",
        }
    )
    cols = (
        Column("x", 32, "fp32", bs),
        Column("scale", 8, "scale"),
        Column("codes", _code_bits(ps), "code", bs),
    )
    return VectorFile(
        header,
        cols,
        {
            "x": x.astype(np.uint64),
            "scale": enc.scales.reshape(-1).astype(np.uint64),
            "codes": enc.codes.reshape(-1, bs).astype(np.uint64),
        },
    )


#: MX block formats of the MX encoder.
MX_FORMATS = ("mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e2m3", "mxfp6_e3m2", "mxfp4_e2m1", "mxint8")


def _mx_sets() -> tuple[ParamSet, ...]:
    out = []
    for name in MX_FORMATS:
        blk = _formats.get(name)
        assert isinstance(blk, BlockFormat)
        out.append(ParamSet("mx_encoder", name, blk.element, block=blk))
    return tuple(out)


def _encoder_sets() -> tuple[ParamSet, ...]:
    out = []
    for name in CODEC_FORMATS:
        elem = _element(name)
        out.append(ParamSet("elem_encoder", name, elem))
        # nonsaturate differs from saturate only where the format has Inf or NaN
        if elem.has_inf or elem.has_nan:
            out.append(ParamSet("elem_encoder", f"{name}-nonsat", elem, Overflow.nonsaturate))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Datapath units: MX dot product, FP32 accumulator, integer MAC (twins of numsim.datapath)
# ---------------------------------------------------------------------------------------------
#: Random single-step pairs per FP32 accumulator parameter set, by level.
RANDOM_DOT = {1: 1 << 14, 2: 1 << 18}
#: Random blocks per MX dot parameter set, by level (``--count`` overrides): 5 * 2**15 at level
#: 1, so that the default set's six MX dot files hold over 1M blocks (1,013,298), all streamed
#: through the RTL in CI (Verilator).
RANDOM_MX_DOT = {1: 5 << 15, 2: 1 << 20}
#: Chains x length of the accumulator units, by unit and level (``--count`` overrides the chain
#: count).
ACC_CHAINS = {
    "fp32_acc": {1: (1 << 13, 64), 2: (1 << 16, 64)},
    "int_mac": {1: (1 << 11, 64), 2: (1 << 16, 64)},
}
_RNE, _RZ = RoundMode.nearest_even, RoundMode.toward_zero
#: The exact MX unit: one block of 32 exact products plus c, one RNE rounding to FP32 (the
#: ocp-mx-exact preset's block with the chain accumulator; in_format fp32 holds every element).
MX_EXACT_RNE = DotUnit("mx32-exact-rne", _formats.fp32, 32, None, out_rounding=_RNE)


def describe_dot(unit: DotUnit) -> str:
    """The DotUnit's fields that differ from the defaults (the golden header's ``dot_unit``)."""
    from dataclasses import fields

    parts = [f"{unit.name}: in_format={unit.in_format.name} n={unit.n} frac_bits={unit.frac_bits}"]
    for f in fields(unit):
        if f.name in ("name", "in_format", "n", "frac_bits"):
            continue
        v = getattr(unit, f.name)
        if v != f.default:
            parts.append(
                f"{f.name}={getattr(v, 'name', v) if not isinstance(v, Accumulator) else v}"
            )
    return " ".join(parts)


def _header_dot(ps: ParamSet) -> dict[str, str]:
    assert ps.dot is not None
    h = _base_header(ps)
    h["dot_unit"] = describe_dot(ps.dot)
    return h


def _dot_block(fmt: BlockFormat, codes: np.ndarray, scales: np.ndarray) -> Any:
    from ..block import BlockArray

    n, bs = codes.shape
    return BlockArray(
        codes.astype(fmt.element.code_dtype).reshape(n, 1, bs),
        scales.astype(np.uint8).reshape(n, 1),
        fmt,
        1,
        (n, bs),
    )


def mx_dot_cases(
    blk: BlockFormat, level: int, seed: int, count: int | None
) -> list[tuple[str, D.DotRows]]:
    """The MX dot unit's sections, in file order: every element code pair (32 pairs per block),
    specials, every scale, cancellations, weighted random blocks."""
    fmt, bs = blk.element, blk.block_size
    assert isinstance(fmt, (FloatFormat, IntFormat))
    n_random = RANDOM_MX_DOT[level] if count is None else count
    return [
        ("pairs", D.mx_dot_pairs(fmt, bs)),
        ("special", D.mx_dot_specials(fmt, bs, seed)),
        ("scales", D.mx_dot_scales(fmt, bs, seed)),
        ("cancel", D.mx_dot_cancel(fmt, bs, seed, 2048 * level)),
        ("random", D.mx_dot_random(fmt, bs, seed, n_random)),
    ]


def build_mx_dot(ps: ParamSet, level: int, seed: int, count: int | None) -> VectorFile:
    """d = c + X_A X_B sum(P_i Q_i) from ``numsim.datapath.mx_dot`` on one block per operand
    with the set's DotUnit (which tests/ holds to the Fraction reference)."""
    assert ps.block is not None and ps.dot is not None
    sections = mx_dot_cases(ps.block, level, seed, count)
    a, sa, b, sb, c = (np.concatenate([s[i] for _, s in sections]) for i in range(5))
    with np.errstate(invalid="ignore"):  # signalling NaN c
        d = mx_dot(
            _dot_block(ps.block, a, sa), _dot_block(ps.block, b, sb), ps.dot, c=c.view(np.float32)
        )
    d = np.asarray(d, np.float32).view(np.uint32)
    bs, cb = ps.block.block_size, _code_bits(ps)
    header = _header_dot(ps)
    header.update(
        {
            "block": ps.block.name,
            "rtl": ps.rtl_line(),
            "level": str(level),
            "seed": str(seed),
            "cases": " ".join(f"{k}={v[0].shape[0]}" for k, v in sections),
            "outputs": "d",
        }
    )
    cols = (
        Column("a", cb, "code", bs),
        Column("a_scale", 8, "scale"),
        Column("b", cb, "code", bs),
        Column("b_scale", 8, "scale"),
        Column("c", 32, "fp32"),
        Column("d", 32, "fp32"),
    )
    return VectorFile(
        header,
        cols,
        {
            "a": a.astype(np.uint64),
            "a_scale": sa.astype(np.uint64),
            "b": b.astype(np.uint64),
            "b_scale": sb.astype(np.uint64),
            "c": c.astype(np.uint64),
            "d": d.astype(np.uint64),
        },
    )


def fp32_acc_step(unit: DotUnit, acc: np.ndarray, d: np.ndarray) -> np.ndarray:
    """One accumulator step per row, ``round(acc + d)``, as numsim computes it: a K=1 dot of
    ``d`` and 1 on ``unit`` starting from ``c = acc`` (FP32 bits in and out)."""
    with np.errstate(invalid="ignore"):  # signalling NaNs
        x = d.view(np.float32).astype(np.float64).reshape(-1, 1)
        out = dot(x, np.ones_like(x), unit, c=acc.view(np.float32))
    return np.asarray(out, np.float32).view(np.uint32)


def build_fp32_acc(ps: ParamSet, level: int, seed: int, count: int | None) -> VectorFile:
    """Rows ``init c d acc``: single steps from c (init=1: the corner pairs, random pairs), then
    chains (init on each chain's first row, the register carries acc to the next row)."""
    assert ps.dot is not None
    chains, length = ACC_CHAINS[ps.unit][level]
    if count is not None:
        chains = count
    cc, dc = D.fp32_pairs_catalog()
    cr, dr = D.fp32_pairs_random(seed, RANDOM_DOT[level])
    c0, dch = D.fp32_chains(seed, chains, length)
    acc = c0
    outs = []
    for j in range(length):
        acc = fp32_acc_step(ps.dot, acc, dch[:, j])
        outs.append(acc)
    ch_acc = np.stack(outs, axis=1).reshape(-1)
    ch_init = np.zeros((chains, length), np.uint64)
    ch_init[:, 0] = 1
    ch_c = np.zeros((chains, length), np.uint32)
    ch_c[:, 0] = c0
    single_c = np.concatenate([cc, cr]).astype(np.uint32)
    single_d = np.concatenate([dc, dr]).astype(np.uint32)
    single_acc = fp32_acc_step(ps.dot, single_c, single_d)
    init = np.concatenate([np.ones(single_c.size, np.uint64), ch_init.reshape(-1)])
    c = np.concatenate([single_c, ch_c.reshape(-1)])
    d = np.concatenate([single_d, dch.reshape(-1)])
    accs = np.concatenate([single_acc, ch_acc])
    header = _header_dot(ps)
    header.update(
        {
            "rtl": ps.rtl_line(),
            "level": str(level),
            "seed": str(seed),
            "cases": f"catalog={cc.size} random={cr.size} chains={chains * length}",
            "chain_length": str(length),
            "outputs": "acc",
        }
    )
    cols = (
        Column("init", 1, "int"),
        Column("c", 32, "fp32"),
        Column("d", 32, "fp32"),
        Column("acc", 32, "fp32"),
    )
    return VectorFile(
        header,
        cols,
        {
            "init": init,
            "c": c.astype(np.uint64),
            "d": d.astype(np.uint64),
            "acc": accs.astype(np.uint64),
        },
    )


def int_mac_step(
    unit: DotUnit, acc: np.ndarray, a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One MAC step per row as numsim computes it: a K=1 dot of ``a`` and ``b`` on ``unit`` from
    ``c = acc``; returns (register value, overflow count)."""
    out, over = dot(
        a.astype(np.float64).reshape(-1, 1),
        b.astype(np.float64).reshape(-1, 1),
        unit,
        c=acc.astype(np.float64),
        return_overflows=True,
    )
    return np.asarray(out).astype(np.int64), np.asarray(over).astype(np.int64)


def build_int_mac(ps: ParamSet, level: int, seed: int, count: int | None) -> VectorFile:
    """Rows ``init c a b acc ovf sticky``: every int8 pair from c = 0, every pair at the
    register's overflow boundary (c = max - a*b and the next one up; c = min - a*b and the next
    one down), then chains (init on each chain's first row)."""
    assert ps.dot is not None and isinstance(ps.element, IntFormat)
    bits, P = ps.element.bits, ps.dot.accumulator.bits
    assert P is not None
    chains, length = ACC_CHAINS[ps.unit][level]
    if count is not None:
        chains = count
    pa, pb = D.int_pairs(bits)
    hi, lo = (1 << (P - 1)) - 1, -(1 << (P - 1))
    prod = pa * pb
    edge_c = np.concatenate(
        [
            np.zeros_like(prod),
            hi - prod,
            np.minimum(hi - prod + 1, hi),
            lo - prod,
            np.maximum(lo - prod - 1, lo),
        ]
    )
    edge_c = np.clip(edge_c, lo, hi)
    sa, sb = np.tile(pa, 5), np.tile(pb, 5)
    s_acc, s_ovf = int_mac_step(ps.dot, edge_c, sa, sb)
    c0, ca, cb = D.int_chains(seed, bits, P, chains, length)
    acc, sticky = c0, np.zeros(chains, np.int64)
    accs, ovfs, stks = [], [], []
    for j in range(length):
        acc, ovf = int_mac_step(ps.dot, acc, ca[:, j], cb[:, j])
        sticky = sticky | (ovf > 0)
        accs.append(acc)
        ovfs.append(ovf)
        stks.append(sticky)
    ch_init = np.zeros((chains, length), np.int64)
    ch_init[:, 0] = 1
    ch_c = np.zeros((chains, length), np.int64)
    ch_c[:, 0] = c0
    mask = (1 << P) - 1
    init = np.concatenate([np.ones(sa.size, np.int64), ch_init.reshape(-1)])
    c = np.concatenate([edge_c, ch_c.reshape(-1)]) & mask
    a = np.concatenate([sa, ca.reshape(-1)]) & ((1 << bits) - 1)
    b = np.concatenate([sb, cb.reshape(-1)]) & ((1 << bits) - 1)
    out = np.concatenate([s_acc, np.stack(accs, 1).reshape(-1)]) & mask
    ovf = np.concatenate([s_ovf, np.stack(ovfs, 1).reshape(-1)])
    stk = np.concatenate([s_ovf, np.stack(stks, 1).reshape(-1)])
    if ovf.max() > 1:
        raise ValueError(f"{ps.dot.name}: one step overflowed more than once")
    header = _header_dot(ps)
    header.update(
        {
            "rtl": ps.rtl_line(),
            "level": str(level),
            "seed": str(seed),
            "cases": f"pairs={pa.size} edges={4 * pa.size} chains={chains * length}",
            "chain_length": str(length),
            "overflow_flag": "per step (ovf), sticky since init (sticky)",
            "outputs": "acc ovf sticky",
        }
    )
    cols = (
        Column("init", 1, "int"),
        Column("c", P, "int"),
        Column("a", bits, "code"),
        Column("b", bits, "code"),
        Column("acc", P, "int"),
        Column("ovf", 1, "int"),
        Column("sticky", 1, "int"),
    )
    return VectorFile(
        header,
        cols,
        {
            "init": init.astype(np.uint64),
            "c": c.astype(np.uint64),
            "a": a.astype(np.uint64),
            "b": b.astype(np.uint64),
            "acc": out.astype(np.uint64),
            "ovf": ovf.astype(np.uint64),
            "sticky": stk.astype(np.uint64),
        },
    )


def matlab_reading(name: str, min_exp: int) -> DotUnit:
    """NVIDIA preset ``name`` as the MATLAB-tensor-core models read it, which is what the
    ``mx_dot`` RTL builds: zero products dropped, no zero c in the alignment, the models' eta
    floor ``min_exp``, the sign of a result rounded to zero kept. The preset itself follows
    MMA-Sim (zero operands at exponent -126, floor -126, +0); those rules are not in the RTL."""
    return replace(
        presets.get(name),
        zero_exponent=None,
        underflow_zero="signed",
        min_exp=min_exp,
        c_entry=None,
    )


def _mx_dot_sets() -> tuple[ParamSet, ...]:
    """(set name, block format, DotUnit): exact RNE on MXFP8 E4M3, MXFP6 E3M2, MXFP4 and MXINT8,
    the B200 reading (F = 25, RZ; B200TC.m) on MXFP8 E4M3, the H100 FP8 unit (F = 13, RZ, 14-bit
    results) on MXFP8 E5M2, both with the MATLAB models' zero rules and floor (-133)."""
    chosen = [
        ("mxfp8_e4m3-exact-rne", "mxfp8_e4m3", MX_EXACT_RNE),
        ("mxfp8_e4m3-b200", "mxfp8_e4m3", matlab_reading("b200-e4m3", -133)),
        ("mxfp8_e5m2-h100", "mxfp8_e5m2", matlab_reading("h100-e5m2", -133)),
        ("mxfp6_e3m2-exact-rne", "mxfp6_e3m2", MX_EXACT_RNE),
        ("mxfp4_e2m1-exact-rne", "mxfp4_e2m1", MX_EXACT_RNE),
        ("mxint8-exact-rne", "mxint8", MX_EXACT_RNE),
    ]
    out = []
    for name, fmt, unit in chosen:
        blk = _formats.get(fmt)
        assert isinstance(blk, BlockFormat)
        out.append(ParamSet("mx_dot", name, blk.element, block=blk, dot=unit))
    return tuple(out)


#: The FP32 accumulator's twins: one addition per K=1 block into an FP32 register.
FP32_ACC_UNITS = {
    r: DotUnit(
        f"fp32-acc-{tag}",
        _formats.fp32,
        1,
        None,
        out_rounding=r,
        accumulator=Accumulator.floating(_formats.fp32, r),
    )
    for r, tag in ((_RNE, "rne"), (_RZ, "rz"))
}


def _acc_sets() -> tuple[ParamSet, ...]:
    return tuple(
        ParamSet("fp32_acc", f"fp32-{tag}", _formats.fp32, dot=FP32_ACC_UNITS[r])
        for r, tag in ((_RNE, "rne"), (_RZ, "rz"))
    )


def _mac_sets() -> tuple[ParamSet, ...]:
    return tuple(
        ParamSet("int_mac", name, _formats.int8, dot=presets.get(name))
        for name in ("int8-acc16", "int8-acc20-sat", "int8-acc32")
    )


UNITS: dict[str, Unit] = {
    u.name: u
    for u in [
        Unit(
            "elem_decoder",
            "element code -> FP32 (exact)",
            tuple(ParamSet("elem_decoder", n, _element(n)) for n in CODEC_FORMATS),
            build_elem_decoder,
        ),
        Unit(
            "elem_encoder",
            "FP32 -> element code (nearest even; saturating or not)",
            _encoder_sets(),
            build_elem_encoder,
        ),
        Unit(
            "mx_encoder",
            "32 FP32 -> E8M0 floor scale + 32 element codes (OCP MX, pipelined)",
            _mx_sets(),
            build_mx_encoder,
        ),
        Unit(
            "mx_dot",
            "two MX blocks + FP32 c -> FP32 (exact or truncating block sum, RZ/RNE)",
            _mx_dot_sets(),
            build_mx_dot,
        ),
        Unit(
            "fp32_acc",
            "acc = round(acc + d) in FP32 (chained dot results; registered)",
            _acc_sets(),
            build_fp32_acc,
        ),
        Unit(
            "int_mac",
            "P-bit register += int8 * int8, wrap or saturate, overflow flags (registered)",
            _mac_sets(),
            build_int_mac,
        ),
    ]
}


def unit(name: str) -> Unit:
    """The unit called ``name``.

    Raises:
        KeyError: unknown unit; the message lists the known ones.
    """
    try:
        return UNITS[name]
    except KeyError:
        raise KeyError(
            f"unknown unit {name!r}; known units: {', '.join(UNITS)} (or 'all')"
        ) from None
