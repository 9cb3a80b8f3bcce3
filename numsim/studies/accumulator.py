"""Study ``accumulator``: error and overflow rate of int8 dot products against accumulator width.

int8 weights times int8 activations, every product added one by one into a P-bit register that
wraps (``int8-acc{P}``) or saturates (``int8-acc{P}-sat``), compared with the exact integer
product (int64). Weights come from :data:`WEIGHTS`: today the embedded MiniLM query weight
quantized to int8 per output channel (symmetric, max |w| -> 127), as 384-long rows (K = 384,
the model width) and, four rows joined end to end, as 1536-long rows (K = 1536, the width of
MiniLM's feed-forward input). Activations are seeded random tensors quantized to int8 with one
symmetric per-tensor scale.

Hook: accumulator-aware weights (AXE, arXiv:2406.16064: weights constrained so that a P-bit
register cannot overflow) will be added to :data:`WEIGHTS` once the PTQ package provides them;
nothing here imitates them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import datapath as dp
from . import data


def int8_per_channel(w: np.ndarray) -> np.ndarray:
    """Symmetric int8 per row: ``round(w / s)`` with ``s = max|w_row| / 127`` (nearest even),
    int64."""
    amax = np.max(np.abs(w), axis=1, keepdims=True)
    return np.rint(w / np.where(amax > 0, amax, 1.0) * 127).astype(np.int64)


def int8_per_tensor(x: np.ndarray) -> np.ndarray:
    """Symmetric int8 with one scale ``max|x| / 127`` (nearest even), int64."""
    amax = float(np.max(np.abs(x)))
    return np.rint(x / (amax if amax > 0 else 1.0) * 127).astype(np.int64)


def minilm_rows(k: int) -> np.ndarray:
    """The MiniLM weight as rows of length ``k`` (384, or a multiple: consecutive rows joined)."""
    w = data.minilm_weight()
    if k % w.shape[1]:
        raise ValueError(f"k={k}: the MiniLM weight gives rows of a multiple of {w.shape[1]}")
    return w.reshape(-1, k)


#: Weight sets: name -> (K -> int8 weight rows [M, K] as int64). AXE-constrained weights go here
#: when the PTQ package lands (see the module docstring).
WEIGHTS: dict[str, Callable[[int], np.ndarray]] = {
    "minilm_int8_per_channel": lambda k: int8_per_channel(minilm_rows(k)),
}


@dataclass(frozen=True)
class Params:
    """Parameters of the ``accumulator`` study."""

    weights: tuple[str, ...] = ("minilm_int8_per_channel",)
    ks: tuple[int, ...] = (384, 1536)
    activations: tuple[str, ...] = ("gaussian", "student_t3")
    bits: tuple[int, ...] = (12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 24, 26)
    batch: int = 64  #: activation columns
    seed: int = 0


def points(p: Params) -> list[dict[str, Any]]:
    for w in p.weights:
        if w not in WEIGHTS:
            raise ValueError(f"weights: {w!r}: expected one of {sorted(WEIGHTS)}")
    for d in p.activations:
        if d not in data.DISTRIBUTIONS:
            raise ValueError(f"activations: {d!r}: expected names from {data.DISTRIBUTIONS}")
    for b in p.bits:
        if not 2 <= b <= 62:
            raise ValueError(f"bits: {b!r}: expected accumulator widths in 2..62")
    return [
        {
            "weights": w,
            "k": k,
            "activations": d,
            "overflow": o,
            "bits": list(p.bits),
            "batch": p.batch,
            "seed": p.seed,
        }
        for w in p.weights
        for k in p.ks
        for d in p.activations
        for o in ("wrap", "saturate")
    ]


def int_errors(d: np.ndarray, exact: np.ndarray) -> dict[str, float]:
    """SQNR (dB; inf when exact), relative RMS error and max error / max |exact| of results
    ``d``."""
    err = d.astype(np.float64) - exact.astype(np.float64)
    noise, power = float(np.sum(err**2)), float(np.sum(exact.astype(np.float64) ** 2))
    return {
        "sqnr_db": math.inf if noise == 0 else 10 * math.log10(power / noise),
        "rel_rms_error": math.sqrt(noise / power) if power else math.nan,
        "max_error_rel": float(np.max(np.abs(err)) / max(float(np.max(np.abs(exact))), 1.0)),
    }


def run_int(w: np.ndarray, x: np.ndarray, bits: int, overflow: str) -> dict[str, float]:
    """``w @ x`` on ``int8-acc{bits}[-sat]`` against the exact int64 product: errors and overflow
    rate (the fraction of outputs whose register overflowed at least once)."""
    unit = dp.get(f"int8-acc{bits}" + ("-sat" if overflow == "saturate" else ""))
    d, over = dp.matmul(w.astype(np.float64), x.astype(np.float64), unit, return_overflows=True)
    exact = w @ x
    return {"overflow_rate": float(np.mean(over > 0)), **int_errors(d, exact)}


def compute(point: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows of one (weights, K, activations, overflow mode) point: one per accumulator width."""
    k = point["k"]
    w = WEIGHTS[point["weights"]](k)
    x = int8_per_tensor(data.sample(point["activations"], (k, point["batch"]), point["seed"] + k))
    bound = int(np.max(np.abs(w).sum(axis=1)) * np.max(np.abs(x)))
    rows = []
    for bits in point["bits"]:
        rows.append(
            {
                "weights": point["weights"],
                "k": k,
                "activations": point["activations"],
                "overflow": point["overflow"],
                "bits": bits,
                "outputs": int(w.shape[0] * x.shape[1]),
                "worst_case_bits": bound.bit_length() + 1,
                **run_int(w, x, bits, point["overflow"]),
            }
        )
    return rows
