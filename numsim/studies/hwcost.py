"""Study ``hwcost``: yosys cell counts of the RTL twins against the quality they deliver.

Each point synthesizes one RTL unit under one parameter set (``numsim.rtl.synth_stat``: yosys
``synth -flatten -noshare; stat``, generic cells) and measures the quality of its numsim twin:

- ``mx_dot`` (the golden-vector parameter sets: exact and truncating MX dot units per element
  format): the SQNR (dB) of an MX GEMM on the twin (``numsim.datapath.mx_matmul``, seeded
  Gaussian operands encoded in the set's block format, blocks of 32) against the float64 product
  of the unquantized operands, i.e. format and datapath error together. The area is of the unit
  with ``block_size`` elements per block (2 in quick mode: yosys takes 15-40 s on the 32-element
  units, and the 2-element ones keep the ordering of the element formats only roughly).
- ``int_mac`` (``int8-acc{P}`` wrapping and saturating): the overflow-free fraction of outputs
  of the MiniLM int8 GEMM of the ``accumulator`` study (K = 384, Gaussian activations).

The Pareto front is the set of points no other point beats in both area and quality.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import datapath as dp
from .. import golden, rtl
from ..codec import encode
from . import accumulator, data


@dataclass(frozen=True)
class Params:
    """Parameters of the ``hwcost`` study."""

    mx_sets: tuple[str, ...] = ()  #: golden mx_dot set names; () = every set
    block_size: int = 32  #: elements per block of the synthesized mx_dot units
    int_bits: tuple[int, ...] = (16, 18, 20, 24, 32)
    int_overflow: tuple[str, ...] = ("wrap", "saturate")
    seed: int = 0


def available() -> str | None:
    """None when yosys is installed, else why the study cannot run."""
    return None if shutil.which("yosys") else "yosys is not installed (apt-get install yosys)"


def points(p: Params) -> list[dict[str, Any]]:
    sets = {ps.name: ps for ps in golden.select("mx_dot")}
    names = list(p.mx_sets) or list(sets)
    for n in names:
        if n not in sets:
            raise ValueError(f"mx_sets: {n!r}: expected golden mx_dot sets {sorted(sets)}")
    if p.block_size < 1:
        raise ValueError(f"block_size={p.block_size!r}: expected a positive int")
    for o in p.int_overflow:
        if o not in ("wrap", "saturate"):
            raise ValueError(f"int_overflow: {o!r}: expected 'wrap' or 'saturate'")
    out: list[dict[str, Any]] = [
        {"rtl": "mx_dot", "set": n, "block_size": p.block_size, "seed": p.seed} for n in names
    ]
    out += [
        {
            "rtl": "int_mac",
            "set": f"int8-acc{b}" + ("-sat" if o == "saturate" else ""),
            "seed": p.seed,
        }
        for b in p.int_bits
        for o in p.int_overflow
    ]
    return out


def mx_quality(ps: golden.ParamSet, seed: int, m: int = 16, k: int = 512, n: int = 16) -> float:
    """SQNR (dB) of ``A @ B`` on the set's MX dot twin against the float64 product of the
    unquantized seeded Gaussian operands."""
    a = data.sample("gaussian", (m, k), seed).astype(np.float32)
    b = data.sample("gaussian", (k, n), seed + 1).astype(np.float32)
    # encoded from float64 (the same values): the block kernel specialization that the formats
    # and PTQ studies compile too, one fewer on a cold cache than float32's
    a, b = a.astype(np.float64), b.astype(np.float64)
    d = dp.mx_matmul(encode(a, ps.block, axis=1), encode(b, ps.block, axis=0), ps.dot).astype(
        np.float64
    )
    ref = a @ b
    noise = float(np.sum((d - ref) ** 2))
    return math.inf if noise == 0 else 10 * math.log10(float(np.sum(ref**2)) / noise)


def compute(point: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row: cells, transistors and quality of one RTL parameter set."""
    if point["rtl"] == "mx_dot":
        ps = next(s for s in golden.select("mx_dot") if s.name == point["set"])
        params = {**ps.rtl_params(), "BlockSize": point["block_size"]}
        quality, measure = mx_quality(ps, point["seed"]), "MX GEMM SQNR (dB)"
        label, fmt = f"{ps.block.name} {ps.dot.name}", ps.block.name
    else:
        unit = dp.get(point["set"])
        params = rtl.params("int_mac", "int8", dot=unit)
        w = accumulator.per_channel_weights(384, 0, "gaussian", 0, 0)[0]
        x = accumulator.int8_per_tensor(data.sample("gaussian", (384, 16), point["seed"] + 384))
        over = accumulator.run_int(w, x, unit.accumulator.bits, unit.accumulator.overflow)[
            "overflow_rate"
        ]
        quality, measure = 1.0 - over, "overflow-free outputs"
        label, fmt = unit.name, "int8"
    st = rtl.synth_stat(point["rtl"], params)
    return [
        {
            "rtl": point["rtl"],
            "set": point["set"],
            "label": label,
            "format": fmt,
            "block_size": params.get("BlockSize", 1),
            "cells": st.cells,
            "transistors": st.transistors,
            "quality": quality,
            "measure": measure,
            "yosys": st.yosys,
        }
    ]


def pareto(cost: Sequence[float], quality: Sequence[float]) -> list[bool]:
    """True for each point that no other point dominates (cost <= and quality >=, one strictly)."""
    out = []
    for i, (c, q) in enumerate(zip(cost, quality)):
        out.append(
            not any(
                (c2 <= c and q2 >= q) and (c2 < c or q2 > q)
                for j, (c2, q2) in enumerate(zip(cost, quality))
                if j != i
            )
        )
    return out
