"""Study ``hwloop``: model quality when every GEMM of a real model runs on one datapath preset.

Each point runs a model's forward with all Linear / Conv2d layers (and, for MiniLM, the attention
``torch.matmul`` products) replaced by the bit-exact dot-product unit of one preset
(:func:`numsim.datapath.emulate`), and compares the outputs with the float model:

- ``digits-cnn`` (:mod:`numsim.ptq.models`): the first ``images`` test images; metrics: accuracy
  against the labels, agreement of the arg-max with the float model, relative logit error
  ``||y - y_float|| / ||y_float||``.
- ``minilm``: the first ``sentences`` evaluation sentences, truncated to ``tokens`` tokens;
  metrics: mean and minimum cosine similarity of the sentence embeddings to the float ones.

Operands: 16- and 32-bit input formats cast with no scale (as the hardware does); 8-bit float and
integer input formats are scaled per channel (row of activations, column of weights, FP32 scale
``amax / format max``), the usual PTQ recipe; the MX presets take MXFP8 (E4M3) blocks of 32. Every
row records the wall seconds of its point (numba compilation included on a cold cache).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

MODELS = ("digits-cnn", "minilm")

#: Presets across families: reference FP32, NVIDIA, AMD, OCP MX, integer.
DEFAULT_UNITS = (
    "fma-fp32",
    "v100-fp16",
    "a100-bf16",
    "a100-tf32",
    "h100-fp16",
    "h100-e4m3",
    "b200-e4m3",
    "mi300-fp16",
    "mi300-e4m3fnuz",
    "ocp-mx-exact",
    "ocp-mx-fp32acc",
    "int8-acc32",
    "int8-acc16",
)

#: Block format given to the MX presets (their ``in_format`` is the FP32 of their products).
MX_FORMAT = "mxfp8_e4m3"


@dataclass(frozen=True)
class Params:
    """Parameters of the ``hwloop`` study."""

    models: tuple[str, ...] = MODELS
    units: tuple[str, ...] = DEFAULT_UNITS
    images: int = 450  #: digits-cnn test images (the test split has 450)
    sentences: int = 16  #: MiniLM evaluation sentences (48 are shipped)
    tokens: int = 32  #: MiniLM tokens per sentence (truncation)


def family(unit: str) -> str:
    """The vendor family of a preset name (for colours and the reading)."""
    if unit.startswith("mi"):
        return "AMD"
    if unit.startswith(("ocp-mx", "mxdotp")):
        return "OCP MX"
    if unit.startswith("int"):
        return "integer"
    if unit.startswith("fma"):
        return "reference"
    return "NVIDIA"


def points(p: Params) -> list[dict[str, Any]]:
    from .. import datapath as dp

    for m in p.models:
        if m not in MODELS:
            raise ValueError(f"models: {m!r}: expected names from {MODELS}")
    if not p.units:
        raise ValueError("units: (): expected at least one datapath preset")
    for u in p.units:
        dp.get(u)  # KeyError with close matches for an unknown preset
    for name, v, hi in (("images", p.images, 450), ("sentences", p.sentences, 48)):
        if not 1 <= v <= hi:
            raise ValueError(f"{name}: {v!r}: expected an int in [1, {hi}]")
    if not 2 <= p.tokens <= 64:
        raise ValueError(f"tokens: {p.tokens!r}: expected an int in [2, 64]")
    return [
        {
            "model": m,
            "unit": u,
            **({"images": p.images} if m == "digits-cnn" else {}),
            **({"sentences": p.sentences, "tokens": p.tokens} if m == "minilm" else {}),
        }
        for m in p.models
        for u in p.units
    ]


def operands(unit: str) -> dict[str, Any]:
    """``emulate`` keyword arguments for a preset (see the module docstring)."""
    from .. import datapath as dp
    from .. import formats as F

    u = dp.get(unit)
    if family(unit) == "OCP MX":
        return {"input_format": MX_FORMAT, "weight_format": MX_FORMAT}
    f = u.in_format
    if isinstance(f, F.IntFormat) or f.total_bits <= 8:
        return {"input_scaling": "channel", "weight_scaling": "channel"}
    return {}


@functools.lru_cache(maxsize=2)
def _spec(model: str) -> Any:
    from ..ptq import models

    return models.get(model)


def _digits(point: Mapping[str, Any]) -> dict[str, float]:
    import torch

    from ..datapath import emulate
    from ..ptq import models

    spec = _spec("digits-cnn")
    n = point["images"]
    x = spec.eval_inputs[:n]
    labels = models.digits_data()[3][:n]
    with torch.no_grad():
        ref = spec.model(x).double()
        with emulate(spec.model, point["unit"], **operands(point["unit"])) as m:
            y = m(x).double()
    pred, fpred = y.argmax(1).numpy(), ref.argmax(1).numpy()
    return {
        "accuracy": float(np.mean(pred == labels)),
        "float_accuracy": float(np.mean(fpred == labels)),
        "argmax_agreement": float(np.mean(pred == fpred)),
        "rel_logit_error": float((y - ref).norm() / ref.norm()),
        "macs": n * 86_848,  # per image: conv 4608 + conv 73728 + fc 8192 + fc 320
    }


def _minilm(point: Mapping[str, Any]) -> dict[str, float]:
    from ..datapath import emulate
    from ..ptq import models

    spec = _spec("minilm")
    # eager attention: its products are torch.matmul calls that run on the unit (the fused sdpa
    # kernel would bypass it, and emulate refuses it)
    cfg = getattr(spec.model, "config", None)
    if getattr(cfg, "_attn_implementation", None) not in (None, "eager"):
        spec.model.set_attn_implementation("eager")
    n, t = point["sentences"], point["tokens"]
    batch = {k: v[:n, :t] for k, v in spec.eval_inputs.items()}
    ref = models.sentence_embeddings(spec.model, batch).numpy().astype(np.float64)
    with emulate(spec.model, point["unit"], **operands(point["unit"])) as m:
        emb = models.sentence_embeddings(m, batch).numpy().astype(np.float64)
    cos = np.sum(ref * emb, axis=1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(emb, axis=1))
    return {"cosine_mean": float(np.mean(cos)), "cosine_min": float(np.min(cos))}


def compute(point: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row: the model's quality with every GEMM on ``point['unit']``, and the seconds."""
    t0 = time.perf_counter()
    metrics = _digits(point) if point["model"] == "digits-cnn" else _minilm(point)
    return [
        {
            "model": point["model"],
            "unit": point["unit"],
            "family": family(point["unit"]),
            "samples": point.get("images", point.get("sentences")),
            **metrics,
            "seconds": round(time.perf_counter() - t0, 3),
        }
    ]


# ------------------------------------------------------------------------------------------ figure


def quality_loss(r: Mapping[str, Any]) -> float:
    """One number per row, smaller is better: relative logit error (digits) or 1 - mean cosine."""
    if r["model"] == "digits-cnn":
        return float(r["rel_logit_error"])
    return 1.0 - float(r["cosine_mean"])


FLOOR = 1e-9  #: plotted in place of an exact (zero) loss on the log axis


def reading(rows: list[dict[str, Any]]) -> tuple[str, str]:
    """The figure's title (the finding) and its one-paragraph reading."""
    parts = []
    worst_of: dict[str, dict[str, Any]] = {}  # model -> its worst row (metrics differ by model)
    for model in dict.fromkeys(r["model"] for r in rows):
        rs = sorted((r for r in rows if r["model"] == model), key=quality_loss)
        best, worst = rs[0], rs[-1]
        worst_of[model] = worst
        if model == "digits-cnn":
            accs = [r["accuracy"] for r in rs]
            parts.append(
                f"digits-cnn ({rs[0]['samples']} test images, float accuracy "
                f"{rs[0]['float_accuracy']:.1%}): accuracy {min(accs):.1%} to {max(accs):.1%}; "
                f"relative logit error from {best['rel_logit_error']:.2g} ({best['unit']}) to "
                f"{worst['rel_logit_error']:.2g} ({worst['unit']})"
            )
        else:
            parts.append(
                f"MiniLM ({rs[0]['samples']} sentences): mean embedding cosine from "
                f"{best['cosine_mean']:.6f} ({best['unit']}) down to {worst['cosine_mean']:.6f} "
                f"({worst['unit']}, minimum {worst['cosine_min']:.6f})"
            )
    secs = [r["seconds"] for r in rows]
    title = "Model quality with every GEMM on a datapath preset"
    if worst_of:
        units = {r["unit"] for r in worst_of.values()}
        if len(units) == 1:
            w = next(iter(worst_of.values()))
            on = "both models" if len(worst_of) == 2 else w["model"]
            title = f"Whole-model emulation: {w['unit']} ({w['family']}) loses the most on {on}"
        else:
            title = "Whole-model emulation, the largest quality loss: " + ", ".join(
                f"{r['unit']} on {m}" for m, r in worst_of.items()
            )
    text = (
        "Each bar is one forward pass with every GEMM on the preset's bit-exact datapath. "
        + "; ".join(parts)
        + f". 8-bit inputs are scaled per channel, MX presets take {MX_FORMAT} blocks. "
        f"Seconds per point: {min(secs):.1f} to {max(secs):.1f} (numba compilation included "
        "when the kernel cache was cold; see the CSV)."
    )
    return title, text


def figure(rows: list[dict[str, Any]]) -> Any:
    """Horizontal bars of the quality loss per preset, one panel per model, coloured by family."""
    from .render import Figure, _plt, _png

    plt = _plt()
    models = list(dict.fromkeys(r["model"] for r in rows))
    fams = list(dict.fromkeys(r["family"] for r in rows))
    height = max(3.0, 0.3 * max(sum(r["model"] == m for r in rows) for m in models) + 1.5)
    fig, axes = plt.subplots(1, len(models), figsize=(6.5 * len(models), height), squeeze=False)
    for ax, model in zip(axes[0], models):
        rs = [r for r in rows if r["model"] == model]
        loss = [max(quality_loss(r), FLOOR) for r in rs]
        ax.barh(
            range(len(rs)),
            loss,
            color=[f"C{fams.index(r['family'])}" for r in rs],
        )
        ax.set_yticks(range(len(rs)), [r["unit"] for r in rs], fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel(
            "relative logit error (dimensionless)"
            if model == "digits-cnn"
            else "1 - mean embedding cosine (dimensionless)"
        )
        ax.set_title(model, fontsize=10)
        ax.grid(alpha=0.3, axis="x")
        handles = [plt.Rectangle((0, 0), 1, 1, color=f"C{i}") for i in range(len(fams))]
        ax.legend(handles, fams, fontsize=7, title="family", title_fontsize=7)
    title, text = reading(rows)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return Figure("hwloop", title, text, _png(fig))


def available() -> str | None:
    """None when torch and the models can load here, else why not."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return "needs torch (pip install 'numsim[ptq]')"
    return None


__all__ = ["MODELS", "Params", "compute", "figure", "points", "reading"]
