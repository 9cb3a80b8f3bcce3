"""Units with golden vectors, their parameter sets, and how each unit's cases are built.

Expected values come from numsim's public models (``numsim.encode`` / ``numsim.decode``), which
the test suite holds bit for bit to the independent exact reference (:mod:`numsim.reference`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import __version__
from .. import formats as _formats
from .. import rtl as _rtl
from ..codec import decode, encode
from ..formats import BlockFormat, FloatFormat, IntFormat
from ..policies import NanPolicy, Overflow, RoundMode
from . import cases as C
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

    def rtl_params(self) -> dict[str, int]:
        """Verilog parameters, derived from the descriptor by :func:`numsim.rtl.params`."""
        return _rtl.params(self.unit, self.block or self.element, self.overflow)

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
    build: Callable[[ParamSet, int, int, int | None], VectorFile]  #: (set, level, seed, count) -> vectors

    def set(self, name: str) -> ParamSet:
        """The parameter set called ``name``.

        Raises:
            KeyError: unknown set; the message lists the known ones.
        """
        for s in self.sets:
            if s.name == name:
                return s
        raise KeyError(f"unit {self.name} has no parameter set {name!r}; known: {', '.join(s.name for s in self.sets)}")


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
    vals = np.asarray(decode(codes.astype(ps.element.code_dtype), ps.element))
    if vals.dtype != np.float32:
        raise ValueError(f"format {ps.element}: decodes to {vals.dtype}, the decoder RTL outputs FP32")
    header = _base_header(ps)
    header.update({"rtl": ps.rtl_line(), "level": str(level), "seed": "n/a", "cases": f"exhaustive={codes.size}",
                   "outputs": "fp32"})
    cols = (Column("code", bits, "code"), Column("fp32", 32, "fp32"))
    return VectorFile(header, cols, {"code": codes.astype(np.uint64), "fp32": vals.view(np.uint32).astype(np.uint64)})


def encoder_cases(fmt: Any, level: int, seed: int, count: int | None) -> list[tuple[str, np.ndarray]]:
    """The encoder's FP32 input sections, in file order: every float16 and every bfloat16 value,
    the format's value catalog, chosen exponents x significand patterns, weighted random."""
    n_random = RANDOM_COUNT[level] if count is None else count
    values = np.asarray(decode(np.arange(1 << fmt.total_bits, dtype=np.uint32).astype(fmt.code_dtype), fmt),
                        dtype=np.float64)
    catalog = np.unique(np.concatenate([C.both_signs(C.FP32_SPECIALS), C.value_catalog(values),
                                        C.exponent_catalog(fmt, level)]))
    return [("exhaustive_fp16", C.exhaustive_fp16()), ("exhaustive_bf16", C.exhaustive_bf16()),
            ("catalog", catalog), ("random", C.random_fp32(fmt, n_random, seed))]


def build_elem_encoder(ps: ParamSet, level: int, seed: int, count: int | None) -> VectorFile:
    """FP32 -> code under nearest-even and the set's overflow; NaN into formats without NaN
    becomes zero with the NaN's sign (``nan="zero"``), as the RTL does."""
    sections = encoder_cases(ps.element, level, seed, count)
    x = np.concatenate([s for _, s in sections]).astype(np.uint32)
    codes = np.asarray(encode(x.view(np.float32), ps.element, rounding=RoundMode.nearest_even, overflow=ps.overflow,
                              nan=NanPolicy.zero))
    header = _base_header(ps)
    header.update({"rounding": RoundMode.nearest_even.name, "overflow": ps.overflow.name, "nan": NanPolicy.zero.name,
                   "rtl": ps.rtl_line(), "level": str(level), "seed": str(seed),
                   "cases": " ".join(f"{k}={v.size}" for k, v in sections), "outputs": "code"})
    cols = (Column("fp32", 32, "fp32"), Column("code", _code_bits(ps), "code"))
    return VectorFile(header, cols, {"fp32": x.astype(np.uint64), "code": codes.astype(np.uint64)})


#: Random blocks per MX encoder parameter set, by level (``--count`` overrides).
RANDOM_BLOCKS = {1: 1 << 12, 2: 1 << 17}


def mx_encoder_cases(blk: BlockFormat, level: int, seed: int, count: int | None) -> list[tuple[str, np.ndarray]]:
    """The MX encoder's block sections, in file order: NaN/Inf at every position, zero blocks,
    every block exponent (every scale and both clamps), the element value catalog at chosen
    scales, weighted random blocks."""
    fmt, bs = blk.element, blk.block_size
    values = np.asarray(decode(np.arange(1 << fmt.total_bits, dtype=np.uint32).astype(fmt.code_dtype), fmt),
                        dtype=np.float64)
    n_random = RANDOM_BLOCKS[level] if count is None else count
    return [("special", C.block_specials(bs, seed)), ("zero", C.block_zeros(bs)),
            ("scale_sweep", C.block_scale_sweep(fmt, bs)), ("catalog", C.block_value_catalog(fmt, bs, values)),
            ("random", C.random_blocks(fmt, n_random, bs, seed))]


def build_mx_encoder(ps: ParamSet, level: int, seed: int, count: int | None) -> VectorFile:
    """Blocks of FP32 -> (E8M0 scale, element codes) under numsim's OCP profile: floor scale,
    nearest-even saturating elements, NaN/Inf -> NaN scale."""
    assert ps.block is not None
    sections = mx_encoder_cases(ps.block, level, seed, count)
    x = np.concatenate([s for _, s in sections]).astype(np.uint32)
    enc = encode(x.view(np.float32), ps.block, axis=-1, profile="ocp")
    bs = ps.block.block_size
    header = _base_header(ps)
    header.update({"block": ps.block.name, "scale_rule": "floor", "rounding": RoundMode.nearest_even.name,
                   "overflow": Overflow.saturate.name, "rtl": ps.rtl_line(), "level": str(level), "seed": str(seed),
                   "cases": " ".join(f"{k}={v.shape[0]}" for k, v in sections), "outputs": "scale codes"})
    cols = (Column("x", 32, "fp32", bs), Column("scale", 8, "scale"), Column("codes", _code_bits(ps), "code", bs))
    return VectorFile(header, cols, {"x": x.astype(np.uint64), "scale": enc.scales.reshape(-1).astype(np.uint64),
                                     "codes": enc.codes.reshape(-1, bs).astype(np.uint64)})


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


UNITS: dict[str, Unit] = {
    u.name: u
    for u in [
        Unit("elem_decoder", "element code -> FP32 (exact)",
             tuple(ParamSet("elem_decoder", n, _element(n)) for n in CODEC_FORMATS), build_elem_decoder),
        Unit("elem_encoder", "FP32 -> element code (nearest even; saturating or not)", _encoder_sets(),
             build_elem_encoder),
        Unit("mx_encoder", "32 FP32 -> E8M0 floor scale + 32 element codes (OCP MX, pipelined)", _mx_sets(),
             build_mx_encoder),
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
        raise KeyError(f"unknown unit {name!r}; known units: {', '.join(UNITS)} (or 'all')") from None
