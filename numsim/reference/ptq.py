"""Slow, obvious twins of the PTQ steps that :mod:`numsim.ptq.methods` computes another way.

Each function follows the textbook statement of its algorithm, one output row and one column at a
time, so that the fast forms can be held to it on small problems:

* :func:`gpfq_residual`: GPFQ on the data matrices with the running residual ``u_t`` (Lybrand &
  Saab, JMLR 2021; Zhang, Zhou & Saab, arXiv 2201.11113, Algorithm 1), against the Gram form.
* :func:`obq_gptq`: GPTQ by explicit OBQ elimination (Frantar & Alistarh, arXiv 2208.11580;
  Frantar et al., arXiv 2210.17323 §3): after rounding column ``c`` every later column moves by
  ``-err * Hinv[c, :] / Hinv[c, c]`` and ``c`` is removed from ``H^-1`` by one Gaussian
  elimination step, with no Cholesky factor and no lazy batches.
* :func:`axe_sums`: the worst-case accumulator sums of integer weights, one plain loop per row
  and tile (Colbert et al., arXiv 2409.17092).
* :func:`l1_threshold_loop`: the l1-ball projection threshold by a scan of the sorted values
  (Duchi et al., ICML 2008).

The rounding itself is the quantizer's (``round(v, state, j)``); only the algorithm is twinned.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def gpfq_residual(
    W: np.ndarray, X: np.ndarray, Xq: np.ndarray, q: Any, states: list[Any], groups: list[slice]
) -> np.ndarray:
    """GPFQ with the residual ``u`` of every row: ``q_t = Q(<Xq_t, u + w_t X_t> / ||Xq_t||^2)``,
    ``u <- u + w_t X_t - q_t Xq_t``; ``states[k]`` is the fixed scale state of ``groups[k]``."""
    d_out, d_in = W.shape
    Q = np.zeros((d_out, d_in))
    for r in range(d_out):
        u = np.zeros(X.shape[0])
        for g, st in zip(groups, states):
            for t in range(g.start, g.stop):
                nrm = float(Xq[:, t] @ Xq[:, t])
                arg = float(Xq[:, t] @ (u + W[r, t] * X[:, t])) / nrm if nrm > 0 else W[r, t]
                v = np.zeros(d_out)
                v[r] = arg
                Q[r, t] = q.round(v, st, t - g.start)[r]
                u = u + W[r, t] * X[:, t] - Q[r, t] * Xq[:, t]
    return Q


def obq_gptq(
    W: np.ndarray, H: np.ndarray, q: Any, states: list[Any], groups: list[slice], damp: float = 0.01
) -> np.ndarray:
    """GPTQ in natural column order by explicit elimination on
    ``Hinv = (H + damp*mean(diag H) I)^-1``.

    Dead columns (``H_cc = 0``) are zeroed as the reference does; ``states[k]`` is the fixed scale
    state of ``groups[k]`` (static groups)."""
    W = W.astype(np.float64).copy()
    H = H.astype(np.float64).copy()
    d_out, d_in = W.shape
    dead = np.diag(H) == 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    H = H + damp * np.mean(np.diag(H)) * np.eye(d_in)
    Hinv = np.linalg.inv(H)
    Q = np.zeros_like(W)
    gid = {c: (k, c - g.start) for k, g in enumerate(groups) for c in range(g.start, g.stop)}
    for c in range(d_in):
        k, j = gid[c]
        Q[:, c] = q.round(W[:, c], states[k], j)
        for r in range(d_out):
            e = (W[r, c] - Q[r, c]) / Hinv[c, c]
            for m in range(c + 1, d_in):
                W[r, m] -= e * Hinv[c, m]
        # eliminate c from the inverse (OBS: Hinv <- Hinv - Hinv[:, c] Hinv[c, :] / Hinv[c, c])
        Hinv = Hinv - np.outer(Hinv[:, c], Hinv[c, :]) / Hinv[c, c]
    return Q


def axe_sums(Qint: np.ndarray, tile: int, x_min: int, x_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row and tile: the largest and the smallest value ``sum_i x_i * q_i`` takes over inputs
    ``x_i`` in ``[x_min, x_max]`` (integers, plain loops): ``x_max`` on positive and ``x_min`` on
    negative weights, and the reverse."""
    d_out, d_in = Qint.shape
    ntiles = -(-d_in // tile)
    hi = np.zeros((d_out, ntiles), dtype=object)
    lo = np.zeros((d_out, ntiles), dtype=object)
    for r in range(d_out):
        for k in range(ntiles):
            top = bottom = 0
            for i in range(k * tile, min((k + 1) * tile, d_in)):
                w = int(Qint[r, i])
                top += w * (x_max if w > 0 else x_min)
                bottom += w * (x_min if w > 0 else x_max)
            hi[r, k], lo[r, k] = top, bottom
    return hi, lo


def l1_threshold_loop(a: np.ndarray, radius: float) -> float:
    """The ``theta`` with ``sum(max(a - theta, 0)) = radius`` for non-negative ``a`` whose sum
    exceeds ``radius`` (0 otherwise), by scanning the sorted values."""
    if float(np.sum(a)) <= radius:
        return 0.0
    u = sorted((float(v) for v in a), reverse=True)
    total = 0.0
    theta = 0.0
    for k, v in enumerate(u, start=1):
        total += v
        t = (total - radius) / k
        if v > t:
            theta = t
    return theta
