"""Seeded input tensors shared by the studies: synthetic distributions and the embedded MiniLM
weight."""

from __future__ import annotations

from importlib import resources

import numpy as np

#: Synthetic distributions (all zero-mean, unit scale) and the real tensor.
DISTRIBUTIONS = ("gaussian", "laplace", "student_t3", "uniform_pos")
REAL = ("minilm_weight",)


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


def tensor(dist: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """``sample(dist, ...)``, or the MiniLM weight for ``minilm_weight`` (shape and seed unused)."""
    if dist == "minilm_weight":
        return minilm_weight()
    return sample(dist, shape, seed)
