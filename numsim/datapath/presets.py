"""NVIDIA tensor-core presets of :class:`DotUnit` (shared/references/datapaths.md §1.2, §1.4).

Parameters from Khattak & Mikaitis' MATLAB models (models/*.m): block size N, F = 23 + neab
fractional bits, RZ to FP32 (RNE to FP16), the eta floor ``min_exp_limit``. FP8 on Ada/Hopper keeps
13 fractional bits and a 14-bit result significand (``FloatFormat(8, 13)``, returned as float32).

B200 FP8 is **provisional** (§1.4): the published models disagree (B200TC: RZ, F = 25; B200TCRN:
RNE). The preset follows B200TC (RZ, F = 25, FP32 out); build a ``DotUnit`` with
``out_rounding="nearest_even"`` for the other reading.
"""

from __future__ import annotations

import difflib
from dataclasses import replace
from typing import NamedTuple, Optional

from .. import formats as _formats
from ..formats import FloatFormat
from ..policies import RoundMode
from .unit import DotUnit

#: FP32 container with a 14-bit significand (1 + 13): Hopper/Ada FP8 results (§1.2 neab = -10).
fp32_m13 = FloatFormat(8, 13, name="fp32_m13")


class _Row(NamedTuple):
    """One row of the §1.2 table."""

    n: int  #: products per block
    frac_bits: int  #: F = 23 + neab
    min_exp: Optional[int]  #: min_exp_limit, FP32 out (None: no floor)
    min_exp_fp16: Optional[int]  #: min_exp_limit, FP16 out; None: no FP16-out column
    out_format: FloatFormat  #: FP32-out result format


_F32 = _formats.fp32
_FP8 = ("e4m3", "e5m2")
_IN = {"fp16": _formats.fp16, "bf16": _formats.bf16, "tf32": _formats.tf32,
       "e4m3": _formats.fp8_e4m3, "e5m2": _formats.fp8_e5m2}

#: gpu -> input -> row (datapaths.md §1.2). V100's "none (-1024)" floor never binds: None.
_TABLE: dict[str, dict[str, _Row]] = {
    "v100": {"fp16": _Row(4, 23, None, -19, _F32)},
    "a100": {**{k: _Row(8, 24, -132, -20, _F32) for k in ("fp16", "bf16")}, "tf32": _Row(4, 24, -132, None, _F32)},
    "ada": {**{k: _Row(8, 24, -132, -20, _F32) for k in ("fp16", "bf16")}, "tf32": _Row(4, 24, -132, None, _F32),
            **{k: _Row(16, 13, -132, None, fp32_m13) for k in _FP8}},
    "h100": {**{k: _Row(16, 25, -133, -21, _F32) for k in ("fp16", "bf16")}, "tf32": _Row(8, 25, -133, None, _F32),
             **{k: _Row(32, 13, -133, None, fp32_m13) for k in _FP8}},
    "b200": {**{k: _Row(16, 25, -133, -21, _F32) for k in ("fp16", "bf16")}, "tf32": _Row(8, 25, -133, None, _F32),
             **{k: _Row(32, 25, -133, None, _F32) for k in _FP8}},
}
#: GPU aliases: same model (§1.2).
_GPU_ALIASES = {"a2": "a100", "l40s": "ada", "h200": "h100"}


def _build(gpu: str, inp: str, row: _Row) -> DotUnit:
    """The FP32-out unit of one table row."""
    return DotUnit(name=f"{gpu}-{inp}", in_format=_IN[inp], n=row.n, frac_bits=row.frac_bits,
                   raw_product_exponent=True, term_rounding=RoundMode.toward_zero, c_inside=True,
                   min_exp=row.min_exp, out_format=row.out_format, out_rounding=RoundMode.toward_zero)


def names() -> list[str]:
    """All preset names (aliases included), sorted."""
    out = [f"{gpu}-{inp}" for gpu, rows in _TABLE.items() for inp in rows]
    out += [f"{alias}-{inp}" for alias, gpu in _GPU_ALIASES.items() for inp in _TABLE[gpu]]
    return sorted(out)


def get(name: str, out: str = "fp32") -> DotUnit:
    """The preset unit ``name`` (e.g. ``"h100-e4m3"``).

    Args:
        name: preset name, see :func:`names`.
        out: ``"fp32"`` (RZ; the table's FP32-out column) or ``"fp16"`` (RNE to FP16 with the
            FP16-out eta floor; only presets whose table row has an FP16 column).

    Raises:
        KeyError: unknown name (the message lists close matches).
        ValueError: bad ``out``, or ``out="fp16"`` for a preset without an FP16-out column.
    """
    if not isinstance(name, str):
        raise TypeError(f"name={name!r}: expected a preset name string")
    key = name.strip().lower()
    gpu, _, inp = key.partition("-")
    row = _TABLE.get(_GPU_ALIASES.get(gpu, gpu), {}).get(inp)
    if row is None:
        close = difflib.get_close_matches(key, names(), n=4, cutoff=0.5)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        raise KeyError(f"unknown datapath preset {name!r}{hint}")
    unit = replace(_build(gpu, inp, row), name=key)
    if out == "fp32":
        return unit
    if out != "fp16":
        raise ValueError(f"out={out!r}: expected 'fp32' or 'fp16'")
    if row.min_exp_fp16 is None:
        raise ValueError(f"out='fp16': preset {key!r} has no FP16-output model (datapaths.md §1.2)")
    return replace(unit, name=f"{key}@fp16", min_exp=row.min_exp_fp16, out_format=_formats.fp16,
                   out_rounding=RoundMode.nearest_even)
