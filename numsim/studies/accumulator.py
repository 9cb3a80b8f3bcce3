"""Study ``accumulator``: error and overflow rate of int8 dot products against accumulator width.

int8 weights times int8 activations, every product added one by one into a P-bit register that
wraps (``int8-acc{P}``) or saturates (``int8-acc{P}-sat``), compared with the exact integer
product (int64) and with the layer's float output. Weights come from :data:`WEIGHTS`:

- ``minilm_int8_per_channel``: the embedded MiniLM query weight quantized to int8 per output
  channel (symmetric, max |w| -> 127, round to nearest), the same for every P;
- ``minilm_int8_axe`` (needs the ``ptq`` extra): the same weight quantized for each P by AXE
  (Colbert et al., arXiv 2409.17092; :func:`numsim.ptq.methods.axe`, GPTQ base, int8 per
  channel, int8 signed inputs): every row's integer weights are constrained so that no int8
  input can overflow a signed P-bit register, so their overflow rate is zero by construction and
  the cost of a narrow register moves into the weights. GPTQ's Hessian is that of a separate
  seeded calibration sample of the activation distribution (``calibration`` columns).

The weights are used as 384-long rows (K = 384, the model width) and, four rows joined end to
end, as 1536-long rows (K = 1536, the width of MiniLM's feed-forward input). Activations are
seeded random tensors quantized to int8 with one symmetric per-tensor scale.

Quality: ``sqnr_db`` is against the exact integer product of the same integer weights (so it
measures the register alone); ``layer_sqnr_db`` is the dequantized result (per-row weight scale
times the register's integer) against the float weight times the same int8 activations, the
layer output a model sees: weight rounding, AXE's constraint and overflow together.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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


#: Integer weights [M, K] (int64) and the per-row scale that maps them back to the float weight.
Weights = tuple[np.ndarray, np.ndarray]


def per_channel_weights(
    k: int, bits: int, activations: str, seed: int, calibration: int
) -> Weights:
    """The MiniLM rows of length ``k`` in int8 per channel (:func:`int8_per_channel`; the same
    for every accumulator width) and their scales ``max|w_row| / 127``."""
    w = minilm_rows(k)
    amax = np.max(np.abs(w), axis=1)
    return int8_per_channel(w), np.where(amax > 0, amax, 1.0) / 127


@functools.lru_cache(maxsize=64)
def axe_weights(k: int, bits: int, activations: str, seed: int, calibration: int) -> Weights:
    """The MiniLM rows of length ``k`` quantized by AXE for a signed ``bits``-bit accumulator
    (int8 per channel, FP32 scales, GPTQ base on the Hessian of ``calibration`` seeded samples
    of ``activations``): integer weights and per-row scales. Cached per process (the wrap and
    saturate points share them).

    Raises:
        ImportError: no ``ptq`` extra (torch).
    """
    from ..ptq.methods import LayerStats, run_method
    from ..ptq.quantizers import weight_quantizer

    w = minilm_rows(k)
    q = weight_quantizer("int8", granularity="channel")
    x = data.sample(activations, (calibration, k), seed + 7919 + k)  # not the evaluated sample
    stats = LayerStats(x.T @ x, None, calibration)
    qv = run_method("axe", w, stats, q, accumulator_bits=bits)
    step = q.fit(w).step[:, 0]
    wi = np.rint(qv / step[:, None])
    if not np.array_equal(wi * step[:, None], qv):
        raise AssertionError("AXE weights are not integers times the channel scale")
    return wi.astype(np.int64), step


#: Weight sets: name -> (K, P, activations, seed, calibration columns) -> (int8 weight rows
#: [M, K] as int64, per-row scale).
WEIGHTS: dict[str, Callable[[int, int, str, int, int], Weights]] = {
    "minilm_int8_per_channel": per_channel_weights,
    "minilm_int8_axe": axe_weights,
}
#: Weight sets that need the ``ptq`` extra.
NEEDS_TORCH = ("minilm_int8_axe",)


def default_weights() -> tuple[str, ...]:
    """Every weight set that can run here (AXE needs torch for the ``numsim.ptq`` package)."""
    torch = importlib.util.find_spec("torch") is not None
    return tuple(w for w in WEIGHTS if torch or w not in NEEDS_TORCH)


@dataclass(frozen=True)
class Params:
    """Parameters of the ``accumulator`` study."""

    weights: tuple[str, ...] = field(default_factory=default_weights)
    ks: tuple[int, ...] = (384, 1536)
    activations: tuple[str, ...] = ("gaussian", "student_t3")
    bits: tuple[int, ...] = (12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 24, 26)
    batch: int = 64  #: activation columns
    seed: int = 0
    calibration: int = 4096  #: activation samples whose Hessian AXE's GPTQ uses (> K: full rank)
    axe_ks: tuple[int, ...] = ()  #: the Ks AXE weights run at; () = every K of ``ks``


#: Parameters that set the memory one point holds (checked against the machine's memory up front).
SIZE_FIELDS = ("ks", "batch", "calibration")


def point_bytes(p: Params) -> int:
    """Bytes one point holds at its peak, estimated generously: 64 per value of the largest
    ``[K, batch]`` activations, ``[calibration, K]`` AXE calibration sample, ``[K, K]`` Hessian and
    ``[rows, batch]`` outputs (the MiniLM weight gives at most 1536 rows)."""
    k = max(p.ks, default=0)
    return 64 * (k * (p.batch + p.calibration + k) + 1536 * p.batch)


def points(p: Params) -> list[dict[str, Any]]:
    for w in p.weights:
        if w not in WEIGHTS:
            raise ValueError(f"weights: {w!r}: expected one of {sorted(WEIGHTS)}")
        if w in NEEDS_TORCH and importlib.util.find_spec("torch") is None:
            raise ValueError(f"weights: {w!r} needs torch: pip install 'numsim[ptq]'")
    if any(w in NEEDS_TORCH for w in p.weights) and any(b < 3 for b in p.bits):
        raise ValueError(f"bits: {p.bits!r}: AXE needs accumulator widths of at least 3")
    for k in p.axe_ks:
        if k not in p.ks:
            raise ValueError(f"axe_ks: {k!r}: expected Ks from ks={p.ks!r}")
    if p.calibration < 1:
        raise ValueError(f"calibration: {p.calibration!r}: expected a positive int")
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
            **({"calibration": p.calibration} if w in NEEDS_TORCH else {}),
        }
        for w in p.weights
        for k in p.ks
        for d in p.activations
        for o in ("wrap", "saturate")
        if w not in NEEDS_TORCH or not p.axe_ks or k in p.axe_ks
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
    d, over = register_matmul(w, x, bits, overflow)
    return {"overflow_rate": float(np.mean(over > 0)), **int_errors(d, w @ x)}


def register_matmul(
    w: np.ndarray, x: np.ndarray, bits: int, overflow: str
) -> tuple[np.ndarray, np.ndarray]:
    """``w @ x`` on the ``int8-acc{bits}[-sat]`` unit model: results and overflow counts."""
    unit = dp.get(f"int8-acc{bits}" + ("-sat" if overflow == "saturate" else ""))
    return dp.matmul(w.astype(np.float64), x.astype(np.float64), unit, return_overflows=True)


def layer_sqnr(d: np.ndarray, scale: np.ndarray, w_float: np.ndarray, x: np.ndarray) -> float:
    """SQNR (dB; inf when exact) of the dequantized register results ``scale[:, None] * d``
    against the float layer output ``w_float @ x`` (float64; ``x`` the int8 activations)."""
    ref = w_float @ x.astype(np.float64)
    noise = float(np.sum((scale[:, None] * d.astype(np.float64) - ref) ** 2))
    return math.inf if noise == 0 else 10 * math.log10(float(np.sum(ref**2)) / noise)


def compute(point: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows of one (weights, K, activations, overflow mode) point: one per accumulator width."""
    k, name, acts = point["k"], point["weights"], point["activations"]
    x = int8_per_tensor(data.sample(acts, (k, point["batch"]), point["seed"] + k))
    w_float = minilm_rows(k)
    rows = []
    for bits in point["bits"]:
        w, scale = WEIGHTS[name](k, bits, acts, point["seed"], point.get("calibration", 4096))
        bound = int(np.max(np.abs(w).sum(axis=1)) * np.max(np.abs(x)))
        d, over = register_matmul(w, x, bits, point["overflow"])
        rows.append(
            {
                "weights": name,
                "k": k,
                "activations": acts,
                "overflow": point["overflow"],
                "bits": bits,
                "outputs": int(w.shape[0] * x.shape[1]),
                "worst_case_bits": bound.bit_length() + 1,
                "overflow_rate": float(np.mean(over > 0)),
                **int_errors(d, w @ x),
                "layer_sqnr_db": layer_sqnr(d, scale, w_float, x),
            }
        )
    return rows
