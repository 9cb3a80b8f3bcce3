"""Presets of :class:`DotUnit`: NVIDIA tensor cores, AMD matrix cores, exact MX, MXDOTP, integer and
chunked accumulators. Every preset is a plain ``DotUnit`` value.

NVIDIA (Khattak & Mikaitis, arXiv 2512.07004; north-numerical-computing/MATLAB-tensor-core
models/*.m, B200 from B200TC.m / B200TCRN.m):

Parameters from Khattak & Mikaitis' MATLAB models (models/*.m): block size N, F = 23 + neab
fractional bits, RZ to FP32 (RNE to FP16), the eta floor ``min_exp_limit``. FP8 on Ada/Hopper keeps
13 fractional bits and a 14-bit result significand (``FloatFormat(8, 13)``, returned as float32).

B200 FP8 is **provisional**: the published models disagree (B200TC: RZ, F = 25; B200TCRN:
RNE). The preset follows B200TC (RZ, F = 25, FP32 out); build a ``DotUnit`` with
``out_rounding="nearest_even"`` for the other reading. ``{preset}-promote{N}`` (e.g.
``h100-e4m3-promote128``) is DeepSeek-V3's recipe (arXiv 2412.19437 §3.3.2): the preset's chained
blocks restart from
zero every N products and each partial is added to an FP32 accumulator with one RNE rounding.

Others:

- ``ocp-mx-exact``: OCP MX Dot/DotGeneral (§6.1-6.2) with exact internal precision: blocks of 32
  exact products summed exactly, together with c, over all of K, and one RNE rounding to FP32 at
  the end (the spec leaves the internal precision open; this is its exact reading).
- ``ocp-mx-fp32acc``: each block of 32 summed exactly and rounded once (RNE) to FP32, the block
  results added in FP32 with RNE (DotGeneral as a sum of FP32 Dots).
- ``mxdotp``: MXDOTP (arXiv 2505.13159; pulp-platform/cvfpu): blocks of 8 FP8 products (FP9 E5M3
  internal format) summed exactly
  together with the FP32 accumulator ("early accumulation"), one RNE rounding per block.
- ``fma-fp32``: IEEE 754 sequential fused multiply-add in FP32 (``d = RNE(c + a*b)`` per product),
  the behaviour the Fasi et al. suite expects of A100's binary64 DMMA (Fasi et al., PeerJ CS
  7:e330), in FP32.
- ``int8-acc{P}`` / ``int8-acc{P}-sat``: int8 products added one by one into a P-bit register that
  wraps (or saturates); every overflow is counted (P = 2N + ceil(log2 K) bits never
  overflow).
- ``fp8-chunked``: Wang et al. 2018 (arXiv 1812.08011): E5M2 products (exact in FP16), FP16 RNE
  accumulation in chunks of 64, chunk sums added in FP16 RNE.
- AMD (MATLAB-tensor-core models/MI100MC.m, MI210MC.m, MI300*MC.m; from the summaries of the
  published MATLAB models, not measured here):

  - ``mi100-fp16`` (N = 4) and ``mi100-bf16`` (N = 2): every product rounded to FP32 (RNE), the
    block summed as a binary tree of FP32 RNE additions, c added last; subnormals kept. This is
    microsoft/MMA-Sim ``mma_sim/amd.py`` (validated bit for bit on MI100); ``MI100MC.m`` sums
    each block exactly with one rounding instead.
  - ``mi210-fp16``, ``mi210-bf16`` (aliases ``mi250-*``, ``mi250x-*``): pairwise summation with
    RNE, FTZ of input and output subnormals, a product beyond the FP32 range an Inf leaf of the
    tree (MMA-Sim; ``MI210MC.m`` settles it before the tree). ``mi210-bf16-n2``: the same on
    pairs, the pre-``_1k`` BF16 instructions (MMA-Sim; ``MI210MC.m`` uses quads).
  - ``mi300-fp16``, ``mi300-bf16`` (N = 8, F = 23 + neab = 24): products aligned and summed
    first, c added late with the smaller partial truncated onto the larger one's grid, RNE;
    ``mi300-xf32`` the same with N = 4 (XF32 is the TF32 format, E8M10).
  - ``mi300-e4m3fnuz``, ``mi300-e5m2fnuz`` (N = 16): FNUZ inputs, odd/even grouping, then as
    the MI300 FP16 unit. Aliases ``mi300a-*``, ``mi300x-*``.

  **Provisional** where those models are silent: MI210's block size (N = 4 for both inputs, as CDNA2
  runs BF16 at the FP16 rate), its tree order (neighbours paired, c added after the tree) and how a
  product below the FP32 normal range is limited (rounded to FP32, then flushed); MI300's
  choice of the partial to truncate (by exponent, ``floor(log2|S|)`` for the product sum; c on a
  tie), truncation as "round-down" (toward zero in magnitude), the two FP8 group sums added
  exactly, and F = 24 for FP8 and XF32. Each is a ``DotUnit`` knob, so a corrected reading is one
  ``dataclasses.replace`` away.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import replace
from typing import NamedTuple

from .. import formats as _formats
from ..formats import FloatFormat
from ..policies import RoundMode
from .unit import Accumulator, DotUnit

#: MXDOTP's internal FP9 format: holds every E5M2 and E4M3 value exactly.
fp9_e5m3 = FloatFormat(5, 3, name="fp9_e5m3")
#: FP32 container with a 14-bit significand (1 + 13): Hopper/Ada FP8 results (neab = -10).
fp32_m13 = FloatFormat(8, 13, name="fp32_m13")


class _Row(NamedTuple):
    """One row of the parameter table of the MATLAB-tensor-core models."""

    n: int  #: products per block
    frac_bits: int  #: F = 23 + neab
    min_exp: int | None  #: min_exp_limit, FP32 out (None: no floor)
    min_exp_fp16: int | None  #: min_exp_limit, FP16 out; None: no FP16-out column
    out_format: FloatFormat  #: FP32-out result format


_F32 = _formats.fp32
_FP8 = ("e4m3", "e5m2")
_IN = {
    "fp16": _formats.fp16,
    "bf16": _formats.bf16,
    "tf32": _formats.tf32,
    "e4m3": _formats.fp8_e4m3,
    "e5m2": _formats.fp8_e5m2,
}

#: gpu -> input -> row (MATLAB-tensor-core models/*.m). V100's "none (-1024)" floor never binds:
#: None.
_TABLE: dict[str, dict[str, _Row]] = {
    "v100": {"fp16": _Row(4, 23, None, -19, _F32)},
    "a100": {
        **{k: _Row(8, 24, -132, -20, _F32) for k in ("fp16", "bf16")},
        "tf32": _Row(4, 24, -132, None, _F32),
    },
    "ada": {
        **{k: _Row(8, 24, -132, -20, _F32) for k in ("fp16", "bf16")},
        "tf32": _Row(4, 24, -132, None, _F32),
        **{k: _Row(16, 13, -132, None, fp32_m13) for k in _FP8},
    },
    "h100": {
        **{k: _Row(16, 25, -133, -21, _F32) for k in ("fp16", "bf16")},
        "tf32": _Row(8, 25, -133, None, _F32),
        **{k: _Row(32, 13, -133, None, fp32_m13) for k in _FP8},
    },
    "b200": {
        **{k: _Row(16, 25, -133, -21, _F32) for k in ("fp16", "bf16")},
        "tf32": _Row(8, 25, -133, None, _F32),
        **{k: _Row(32, 25, -133, None, _F32) for k in _FP8},
    },
}
#: GPU aliases: same model.
_GPU_ALIASES = {"a2": "a100", "l40s": "ada", "h200": "h100"}


def _build(gpu: str, inp: str, row: _Row) -> DotUnit:
    """The FP32-out unit of one table row."""
    return DotUnit(
        name=f"{gpu}-{inp}",
        in_format=_IN[inp],
        n=row.n,
        frac_bits=row.frac_bits,
        raw_product_exponent=True,
        term_rounding=RoundMode.toward_zero,
        c_inside=True,
        min_exp=row.min_exp,
        out_format=row.out_format,
        out_rounding=RoundMode.toward_zero,
    )


_RNE = RoundMode.nearest_even
_FP32_RNE = Accumulator.floating(_F32, _RNE)
#: Presets outside the NVIDIA table (module docstring).
_OTHERS: dict[str, DotUnit] = {
    u.name: u
    for u in [
        DotUnit("ocp-mx-exact", _F32, 32, None, out_rounding=_RNE, accumulator=Accumulator.exact()),
        DotUnit("ocp-mx-fp32acc", _F32, 32, None, out_rounding=_RNE, accumulator=_FP32_RNE),
        DotUnit("mxdotp", fp9_e5m3, 8, None, out_rounding=_RNE),
        DotUnit("fma-fp32", _F32, 1, None, out_rounding=_RNE),
        DotUnit(
            "fp8-chunked",
            _formats.fp8_e5m2,
            1,
            None,
            out_format=_formats.fp16,
            out_rounding=_RNE,
            accumulator=Accumulator.floating(_formats.fp16, _RNE),
            chunk=64,
            outer=Accumulator.floating(_formats.fp16, _RNE),
        ),
        *(
            DotUnit(
                f"mi100-{k}",
                _IN[k],
                n,
                None,
                c_inside=False,
                out_rounding=_RNE,
                pairwise=True,
            )
            for k, n in (("fp16", 4), ("bf16", 2))
        ),
        *(
            DotUnit(
                f"mi210-{name}",
                _IN[k],
                n,
                None,
                c_inside=False,
                out_rounding=_RNE,
                subnormals_in=False,
                subnormals_out=False,
                pairwise=True,
            )
            for k, n, name in (("fp16", 4, "fp16"), ("bf16", 4, "bf16"), ("bf16", 2, "bf16-n2"))
        ),
        DotUnit("mi300-fp16", _formats.fp16, 8, 24, c_inside=False, out_rounding=_RNE),
        DotUnit("mi300-bf16", _formats.bf16, 8, 24, c_inside=False, out_rounding=_RNE),
        DotUnit("mi300-xf32", _formats.tf32, 4, 24, c_inside=False, out_rounding=_RNE),
        DotUnit(
            "mi300-e4m3fnuz",
            _formats.fp8_e4m3fnuz,
            16,
            24,
            c_inside=False,
            odd_even=True,
            out_rounding=_RNE,
        ),
        DotUnit(
            "mi300-e5m2fnuz",
            _formats.fp8_e5m2fnuz,
            16,
            24,
            c_inside=False,
            odd_even=True,
            out_rounding=_RNE,
        ),
    ]
}
#: AMD GPUs that use another GPU's model (MATLAB-tensor-core MI*MC.m).
_AMD_ALIASES = {"mi250": "mi210", "mi250x": "mi210", "mi300a": "mi300", "mi300x": "mi300"}
#: Example widths listed by names() for the int8-acc{P} family (any P in [2, 62] is accepted).
_INT_EXAMPLES = (16, 20, 24, 32)


def int_acc(bits: int, overflow: str = "wrap") -> DotUnit:
    """``int8-acc{bits}``: int8 products added one by one into a ``bits``-bit register."""
    suffix = "-sat" if overflow == "saturate" else ""
    return DotUnit(
        f"int8-acc{bits}{suffix}",
        _formats.int8,
        1,
        None,
        accumulator=Accumulator.integer(bits, overflow),
    )


def names() -> list[str]:
    """All preset names (aliases included), sorted."""
    out = [f"{gpu}-{inp}" for gpu, rows in _TABLE.items() for inp in rows]
    out += [f"{alias}-{inp}" for alias, gpu in _GPU_ALIASES.items() for inp in _TABLE[gpu]]
    out += [
        f"{alias}-{u.split('-', 1)[1]}"
        for alias, gpu in _AMD_ALIASES.items()
        for u in _OTHERS
        if u.startswith(gpu + "-")
    ]
    out += (
        list(_OTHERS)
        + [f"int8-acc{p}" for p in _INT_EXAMPLES]
        + ["int8-acc32-sat", "h100-e4m3-promote128"]
    )
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
    if out not in ("fp32", "fp16"):
        raise ValueError(f"out={out!r}: expected 'fp32' or 'fp16'")
    promote = re.fullmatch(r"(.+)-promote(\d+)", key)
    if promote:
        base = get(promote.group(1), out)
        return replace(
            base,
            name=key if out == "fp32" else f"{key}@fp16",
            chunk=int(promote.group(2)),
            outer=_FP32_RNE,
        )
    gpu, _, inp = key.partition("-")
    if gpu in _AMD_ALIASES and f"{_AMD_ALIASES[gpu]}-{inp}" in _OTHERS:
        if out != "fp32":
            raise ValueError(f"out={out!r}: preset {key!r} has one output mode (out='fp32')")
        return replace(_OTHERS[f"{_AMD_ALIASES[gpu]}-{inp}"], name=key)
    intacc = re.fullmatch(r"int8-acc(\d+)(-sat)?", key)
    if intacc or key in _OTHERS:
        if out != "fp32":
            raise ValueError(f"out={out!r}: preset {key!r} has one output mode (out='fp32')")
        return (
            int_acc(int(intacc.group(1)), "saturate" if intacc.group(2) else "wrap")
            if intacc
            else _OTHERS[key]
        )
    row = _TABLE.get(_GPU_ALIASES.get(gpu, gpu), {}).get(inp)
    if row is None:
        close = difflib.get_close_matches(key, names(), n=4, cutoff=0.5)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        raise KeyError(f"unknown datapath preset {name!r}{hint}")
    unit = replace(_build(gpu, inp, row), name=key)
    if out == "fp32":
        return unit
    if row.min_exp_fp16 is None:
        raise ValueError(
            f"out='fp16': preset {key!r} has no FP16-output model (its MATLAB model has none)"
        )
    return replace(
        unit,
        name=f"{key}@fp16",
        min_exp=row.min_exp_fp16,
        out_format=_formats.fp16,
        out_rounding=RoundMode.nearest_even,
    )
