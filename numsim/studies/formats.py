"""Study ``formats``: quantization error against bits per value of every signed format.

For every registered element and block format and (block formats) every power-of-two scale rule,
quantize seeded Gaussian, Laplace and Student-t(3) tensors and the embedded MiniLM weight, and
record the SQNR, the RMS and maximum absolute error and the bits per value with the scale
overhead. Element formats get one power-of-two tensor scale from the exponent bits of the tensor
maximum (the OCP floor rule applied to the whole tensor; an FP32 scale word per tensor is counted
in the bits). Blocks run along the last axis.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import formats as F
from ..codec import quantize
from . import data

#: Power-of-two scale rules compared on block formats (nvfp4's UE4M3 scale is rounded to nearest).
SCALE_RULES = ("floor", "ceil", "even")


@dataclass(frozen=True)
class Params:
    """Parameters of the ``formats`` study."""

    distributions: tuple[str, ...] = ("gaussian", "laplace", "student_t3", "minilm_weight")
    rows: int = 256  #: synthetic tensor shape (rows, cols); blocks along cols
    cols: int = 1024
    seed: int = 0
    formats: tuple[str, ...] = ()  #: () = every registered signed format


def signed_formats() -> list[str]:
    """Registered formats that can hold signed values (the unsigned scale formats are left out)."""
    return [n for n in F.names() if getattr(F.get(n), "signed", True)]


def points(p: Params) -> list[dict[str, Any]]:
    for d in p.distributions:
        if d not in data.DISTRIBUTIONS + data.REAL:
            raise ValueError(
                f"distributions: {d!r}: expected names from {data.DISTRIBUTIONS + data.REAL}"
            )
    fmts = list(p.formats) or signed_formats()
    for f in fmts:
        F.get(f)  # KeyError with close matches for an unknown name
    return [
        {"distribution": d, "format": f, "shape": [p.rows, p.cols], "seed": p.seed}
        for d in p.distributions
        for f in fmts
    ]


def errors(x: np.ndarray, q: np.ndarray) -> dict[str, float]:
    """SQNR (dB), RMS and max absolute error of ``q`` against ``x`` (float64 sums)."""
    x = x.astype(np.float64)
    err = x - q.astype(np.float64)
    noise = float(np.sum(err**2))
    power = float(np.sum(x**2))
    sqnr = math.inf if noise == 0 else 10 * math.log10(power / noise)
    return {
        "sqnr_db": sqnr,
        "rms_error": math.sqrt(noise / x.size),
        "max_abs_error": float(np.max(np.abs(err))),
    }


def tensor_scaled(x: np.ndarray, fmt: F.FloatFormat | F.IntFormat) -> np.ndarray:
    """``x`` quantized to ``fmt`` under one power-of-two tensor scale 2^k, k = e(max|x|) - emax,
    with e the unbiased exponent read from the bits (frexp), never a float log2."""
    k = math.frexp(float(np.max(np.abs(x))))[1] - 1 - fmt.emax
    return np.ldexp(quantize(np.ldexp(x.astype(np.float64), -k), fmt), k)


def compute(point: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows of one (distribution, format) point: one per scale rule."""
    dist, name = point["distribution"], point["format"]
    x = data.tensor(dist, tuple(point["shape"]), point["seed"]).astype(np.float32)
    f = F.get(name)
    base = {"distribution": dist, "format": name, "values": int(x.size)}
    rows = []
    if isinstance(f, F.BlockFormat):
        rules = [None] if f.scale != F.e8m0 and name == "nvfp4" else list(SCALE_RULES)
        for rule in rules:
            q = quantize(x, f, axis=-1, scale_rule=rule)
            rows.append(
                {
                    **base,
                    "kind": "block",
                    "scale_rule": rule or "nearest-ue4m3",
                    "bits_per_value": float(f.bits_per_value),
                    **errors(x, q),
                }
            )
    else:
        q = tensor_scaled(x, f)
        rows.append(
            {
                **base,
                "kind": "element",
                "scale_rule": "tensor-floor",
                "bits_per_value": f.total_bits + 32 / x.size,
                **errors(x, q),
            }
        )
    return rows
