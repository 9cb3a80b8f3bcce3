"""Study ``formats``: quantization error against bits per value of every signed format.

For every registered element and block format and (block formats) every power-of-two scale rule,
quantize seeded Gaussian, Laplace and Student-t(3) tensors and the embedded MiniLM weight, and
record the SQNR, the RMS and maximum absolute error and the bits per value with the scale
overhead. With the ``ptq`` extra the study adds real all-MiniLM-L6-v2 tensors read from the
packaged model (:func:`data.minilm_layer`): the six Linear weights of one encoder layer and the
inputs of those Linear layers for one batch of sentences (``minilm_layer_weights``,
``minilm_activations``), cut into rows of 384 along the GEMM reduction axis; ``real_rows`` takes
a seeded subsample of those rows (quick mode). Element formats get one power-of-two tensor scale
from the exponent bits of the tensor maximum (the OCP floor rule applied to the whole tensor; an
FP32 scale word per tensor is counted in the bits). Blocks run along the last axis.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import formats as F
from ..codec import quantize
from . import data

#: Power-of-two scale rules compared on block formats (nvfp4's UE4M3 scale is rounded to nearest).
SCALE_RULES = ("floor", "ceil", "even")


SYNTHETIC = ("gaussian", "laplace", "student_t3", "minilm_weight")


def default_distributions() -> tuple[str, ...]:
    """The synthetic tensors and the embedded weight, and the real MiniLM tensors where the
    ``ptq`` extra is installed (:func:`data.model_available`)."""
    return SYNTHETIC + (data.MODEL if data.model_available() is None else ())


@dataclass(frozen=True)
class Params:
    """Parameters of the ``formats`` study."""

    distributions: tuple[str, ...] = field(default_factory=default_distributions)
    rows: int = 256  #: synthetic tensor shape (rows, cols); blocks along cols
    cols: int = 1024
    seed: int = 0
    formats: tuple[str, ...] = ()  #: () = every registered signed format
    minilm_layer: int = 0  #: encoder layer of the real MiniLM tensors
    minilm_sentences: int = 48  #: evaluation sentences whose activations are taken
    real_rows: int = 0  #: seeded subsample of the real tensors' 384-long rows; 0: all


def signed_formats() -> list[str]:
    """Registered formats that can hold signed values (the unsigned scale formats are left out)."""
    return [n for n in F.names() if getattr(F.get(n), "signed", True)]


def points(p: Params) -> list[dict[str, Any]]:
    known = data.DISTRIBUTIONS + data.REAL + data.MODEL
    for d in p.distributions:
        if d not in known:
            raise ValueError(f"distributions: {d!r}: expected names from {known}")
    if any(d in data.MODEL for d in p.distributions):
        why = data.model_available()
        if why:
            raise ValueError(f"distributions: {data.MODEL} {why}")
        if not 0 <= p.minilm_layer <= 5:
            raise ValueError(f"minilm_layer: {p.minilm_layer!r}: expected an int in [0, 5]")
        if not 1 <= p.minilm_sentences <= 48:
            raise ValueError(
                f"minilm_sentences: {p.minilm_sentences!r}: expected an int in [1, 48]"
            )
        if p.real_rows < 0:
            raise ValueError(f"real_rows: {p.real_rows!r}: expected 0 (all) or a positive int")
    fmts = list(p.formats) or signed_formats()
    for f in fmts:
        F.get(f)  # KeyError with close matches for an unknown name
    return [
        {
            "distribution": d,
            "format": f,
            "shape": [p.rows, p.cols],
            "seed": p.seed,
            **(
                {"layer": p.minilm_layer, "sentences": p.minilm_sentences, "rows": p.real_rows}
                if d in data.MODEL
                else {}
            ),
        }
        for d in p.distributions
        for f in fmts
    ]


#: Parameters that set the memory one point holds (checked against the machine's memory up front).
SIZE_FIELDS = ("rows", "cols")


def point_bytes(p: Params) -> int:
    """Bytes one point holds at its peak, estimated generously: 64 per value of the ``rows`` x
    ``cols`` tensor (the float32 tensor, its float64 copy, the quantized copy, the error and the
    codec's intermediate codes and bits)."""
    return 64 * p.rows * p.cols


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


def crest_factor(x: np.ndarray) -> float:
    """``max|x| / rms(x)`` (float64): how far the largest value sits above the typical one, the
    quantity a single scale per tensor (or block) must span."""
    x = x.astype(np.float64)
    rms = math.sqrt(float(np.mean(x**2)))
    return float(np.max(np.abs(x))) / rms if rms else math.nan


def tensor_scaled(x: np.ndarray, fmt: F.FloatFormat | F.IntFormat) -> np.ndarray:
    """``x`` quantized to ``fmt`` under one power-of-two tensor scale 2^k, k = e(max|x|) - emax,
    with e the unbiased exponent read from the bits (frexp), never a float log2; float64.

    Which kernel specialization runs is chosen to share those other studies compile (fewer
    Numba compilations on a cold cache); the quantized values are the same either way, since the
    input values are. A float32 ``x`` is scaled in float32 when that is exact (no value leaves
    the float32 range or loses bits to its subnormals: checked by scaling back) for formats of
    8- and 16-bit codes (the float32 element kernels the datapath study compiles); 32-bit-code
    formats (tf32, fp32) take float64 input, as the PTQ study's FP32 scale rounding does."""
    k = math.frexp(float(np.max(np.abs(x))))[1] - 1 - fmt.emax
    if x.dtype == np.float32 and np.dtype(fmt.code_dtype).itemsize < 4:
        with np.errstate(over="ignore", under="ignore"):
            y = np.ldexp(x, -k)
        if np.array_equal(np.ldexp(y.astype(np.float64), k), x.astype(np.float64)):
            return np.ldexp(np.asarray(quantize(y, fmt), np.float64), k)
    return np.ldexp(np.asarray(quantize(np.ldexp(x.astype(np.float64), -k), fmt), np.float64), k)


def compute(point: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows of one (distribution, format) point: one per scale rule."""
    dist, name = point["distribution"], point["format"]
    real = {k: point[k] for k in ("layer", "sentences", "rows") if k in point}
    x = data.tensor(dist, tuple(point["shape"]), point["seed"], **real).astype(np.float32)
    f = F.get(name)
    base = {
        "distribution": dist,
        "format": name,
        "values": int(x.size),
        "crest_factor": crest_factor(x),
    }
    rows = []
    if isinstance(f, F.BlockFormat):
        rules = [None] if f.scale != F.e8m0 and name == "nvfp4" else list(SCALE_RULES)
        # microexponent formats have no float32 fast path; their float32 general kernel would be
        # one more Numba specialization on a cold cache, while float64 input (the same values)
        # takes the one the PTQ and hwcost studies compile anyway
        xin = x.astype(np.float64) if f.sub_block_size else x
        for rule in rules:
            q = quantize(xin, f, axis=-1, scale_rule=rule)
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
