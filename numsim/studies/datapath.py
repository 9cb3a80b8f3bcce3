"""Study ``datapath``: relative error of K-long dot products against K on every unit family.

For each preset (NVIDIA V100 ... B200 FP16 and FP8, AMD MI100/MI210/MI300, the OCP MX exact unit,
MXDOTP, sequential FP32 FMA), with and without FP32 promotion every 128 products
(``-promote128``, DeepSeek-V3's recipe), ``trials`` dot products of seeded random vectors
quantized to the unit's operand format are computed on the bit-exact unit model and compared with
the exact sum of the same quantized operands. The products of two operands of at most 24
significand bits are exact in float64, and ``math.fsum`` returns their correctly rounded sum, so
the reference is within half a float64 ulp of the exact value (2^-53 relative, far below every
unit's error). Errors are relative to the exact sum (median and 90th percentile over trials);
the error normalised by ``sum |a_i b_i|`` is recorded too (it does not blow up on cancellation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import datapath as dp
from .. import formats as F
from ..codec import quantize
from . import data

#: The unit families: one preset per GPU generation and operand type, AMD, MX and FMA.
UNITS = (
    "v100-fp16",
    "a100-fp16",
    "a100-bf16",
    "a100-tf32",
    "h100-fp16",
    "h100-e4m3",
    "h100-e5m2",
    "b200-fp16",
    "b200-e4m3",
    "mi100-fp16",
    "mi210-fp16",
    "mi300-fp16",
    "mi300-e4m3fnuz",
    "ocp-mx-exact",
    "ocp-mx-fp32acc",
    "mxdotp",
    "fma-fp32",
)
#: Units whose ``in_format`` is wider than the operands they are built for: operands in FP8 E4M3.
OPERANDS = {"ocp-mx-exact": "fp8_e4m3", "ocp-mx-fp32acc": "fp8_e4m3", "mxdotp": "fp8_e4m3"}


@dataclass(frozen=True)
class Params:
    """Parameters of the ``datapath`` study."""

    units: tuple[str, ...] = UNITS
    promote: int = 128  #: also run ``{unit}-promote{promote}`` for the chained units; 0: no
    ks: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
    distributions: tuple[str, ...] = ("gaussian", "student_t3", "uniform_pos")
    trials: int = 200
    seed: int = 0


def promotable(name: str) -> bool:
    """True when ``name-promoteN`` changes the unit: chained NVIDIA/AMD units (not exact-over-K
    MX, FMA, pairwise or already promoted units)."""
    u = dp.get(name)
    return (
        u.accumulator.kind == "chain"
        and u.frac_bits is not None
        and u.chunk is None
        and not u.pairwise
    )


def unit_names(p: Params) -> list[str]:
    out = []
    for name in p.units:
        dp.get(name)  # KeyError with close matches
        out.append(name)
        if p.promote and promotable(name):
            out.append(f"{name}-promote{p.promote}")
    return out


def points(p: Params) -> list[dict[str, Any]]:
    for d in p.distributions:
        if d not in data.DISTRIBUTIONS:
            raise ValueError(f"distributions: {d!r}: expected names from {data.DISTRIBUTIONS}")
    if not p.ks or any(k < 1 for k in p.ks):
        raise ValueError(f"ks={p.ks!r}: expected positive lengths")
    if p.trials < 2:
        raise ValueError(f"trials={p.trials!r}: expected at least 2")
    return [
        {"unit": u, "distribution": d, "ks": list(p.ks), "trials": p.trials, "seed": p.seed}
        for u in unit_names(p)
        for d in p.distributions
    ]


#: Parameters that set the memory one point holds (checked against the machine's memory up front).
SIZE_FIELDS = ("ks", "trials")


def point_bytes(p: Params) -> int:
    """Bytes one point holds at its peak, estimated generously: 128 per operand pair of the largest
    ``[trials, K]`` (samples, float32 and float64 operands, codes, products, the unit's results)."""
    return 128 * p.trials * max(p.ks, default=0)


def operand_format(unit: dp.DotUnit) -> Any:
    """The format the study quantizes the unit's operands to."""
    base = unit.name.split("-promote")[0]
    return F.get(OPERANDS.get(base, unit.in_format))


def operands(dist: str, fmt: Any, trials: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded [trials, k] operands quantized (nearest even, saturating) to ``fmt``, in float64.

    The samples are rounded to float32 first; formats of 32-bit codes (tf32, fp32) quantize them
    from float64 (the same values), the element-kernel specialization the PTQ study compiles
    too: one fewer Numba compilation on a cold cache."""

    def q(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32)
        if np.dtype(fmt.code_dtype).itemsize >= 4:
            x = x.astype(np.float64)
        return np.asarray(quantize(x, fmt), np.float64)

    return q(data.sample(dist, (trials, k), seed)), q(data.sample(dist, (trials, k), seed + 1))


def exact_dot(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correctly rounded float64 sums of the exact products per row, and ``sum |a_i b_i|``."""
    prod = a * b  # exact: operands have at most 24 significand bits
    exact = np.array([math.fsum(r) for r in prod])
    return exact, np.abs(prod).sum(axis=1)


def compute(point: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows of one (unit, distribution) point: one per K."""
    unit = dp.get(point["unit"])
    fmt = operand_format(unit)
    rows = []
    for k in point["ks"]:
        seed = point["seed"] * 1_000_003 + k  # independent streams per K
        a, b = operands(point["distribution"], fmt, point["trials"], k, seed)
        d = dp.dot(a, b, unit).astype(np.float64)
        exact, mag = exact_dot(a, b)
        err = np.abs(d - exact)
        nz = exact != 0
        rel = err[nz] / np.abs(exact[nz])
        norm = err / np.where(mag > 0, mag, 1.0)
        rows.append(
            {
                "unit": unit.name,
                "family": unit.name.split("-promote")[0],
                "promoted": "-promote" in unit.name,
                "operands": fmt.name,
                "distribution": point["distribution"],
                "k": k,
                "trials": point["trials"],
                "rel_err_median": float(np.median(rel)) if rel.size else math.nan,
                "rel_err_p90": float(np.quantile(rel, 0.9)) if rel.size else math.nan,
                "norm_err_median": float(np.median(norm)),
                "norm_err_p90": float(np.quantile(norm, 0.9)),
                "inf_or_nan": int(np.sum(~np.isfinite(d))),
            }
        )
    return rows
