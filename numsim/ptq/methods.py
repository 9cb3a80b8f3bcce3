"""Post-training weight quantization methods: pure functions of a weight matrix and Gram matrices.

Each method maps ``W [d_out, d_in]`` (PyTorch layout, float64), the layer's input statistics
(:class:`LayerStats`) and a :class:`~numsim.ptq.quantizers.WeightQuantizer` to ``Q``, the decoded
values of a numsim encoding of the layer's weights. Notation: ``X`` is the layer input on the float
path, ``X~`` on the partially quantized path; ``H = X~^T X~``, ``G = X~^T X`` (any common positive
factor cancels). Methods, vectorized over output rows, looping over input columns:

* ``rtn``: round to nearest (the quantizer alone).
* ``gptq``: Frantar et al., arXiv 2210.17323, as IST-DASLab/gptq ``gptq.py`` computes it: dead
  columns zeroed, optional act-order, damping ``damp * mean(diag H)``, the upper Cholesky factor of
  ``H^-1``, lazy batch updates of ``block_size`` columns. Where a group's scale is chosen is the
  option ``scale_policy`` (the reference's ``--static-groups`` is ``"static"``; its default,
  fitting when a group's first column is reached, is ``"lazy"``, here from the current values
  including the pending updates of the batch, where the reference reads stale ones; Brevitas
  ``src/brevitas/graph/gpxq.py`` re-quantizes the whole matrix every column: ``"dynamic"``).
* ``gpfq``: Lybrand & Saab (JMLR 2021), Zhang, Zhou & Saab (arXiv 2201.11113): greedy path
  following on the mismatched objective ``||X W^T - X~ Q^T||``, in the Gram form of Brevitas
  ``src/brevitas/graph/gpfq.py``: ``q_t = Q((sum_{j<=t} G_tj w_j - sum_{j<t} H_tj q_j) / H_tt)``;
  scales fixed from the original weights. Option ``damp`` (default 0, as published) adds the ridge
  ``damp * mean(diag H)`` to the diagonals of ``H`` and ``G`` (:func:`ridge`), the analogue of
  GPTQ's dampening; ``ed`` takes the same option. Option ``dead`` (default 0) treats columns
  with ``H_tt <= dead * mean(diag H)`` as dead, as the published step must treat ``H_tt = 0``:
  target ``w_t``, nothing diffused into them. Option ``act_order`` (default False, as published;
  ``ed`` takes it too) processes the columns by decreasing ``diag(H)``, as Brevitas
  ``src/brevitas/graph/gpfq.py`` does with ``act_order=True``: ``H`` and ``G`` permuted on both
  axes, each step reading the original weights of the columns before it in that order; each
  group's scale stays that of its ORIGINAL columns, fitted up front from the original weights.
* ``ed``: error diffusion (Khodamoradi, Denolf, Dellinger, arXiv 2410.11203). The paper's method
  section could not be consulted; this is a RECONSTRUCTION: GPFQ steps (the "error diffusion"
  the same authors' MX paper, arXiv 2310.10537, builds on GPFQ), with the block scale chosen
  by ``scale_policy``: ``"provisional"`` (from the unrounded targets of the block, which carry
  the error diffused from earlier blocks), ``"static"`` (from the original block; equals
  ``gpfq``) or ``"dynamic"`` (re-fitted before every column); option ``scale_cap`` bounds the
  provisional scale by clipping the targets it is fitted on (:func:`ed`). ``data_free=True`` is
  the data-free Floyd-Steinberg reading: each column's rounding error is added to the next column
  of the row.
* ``qep``: Arai & Ichikawa, arXiv 2504.09629, FujitsuResearch/qep ``src/gptq.py``: the weights are
  first moved to ``W + alpha * W C (H + lambda I)^-1`` with ``C = G^T - H = (X - X~)^T X~``,
  then quantized by the base method on ``H``.
* ``axe``: Colbert et al., arXiv 2409.17092, Xilinx/brevitas
  ``src/brevitas_examples/common/axe.py``: GPTQ or GPFQ whose every column is first soft-
  thresholded (l1 radius) and clamped to the running bounds that keep a ``P``-bit accumulator
  from overflowing for any input of the given integer range.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._kernels.threads import serial
from .quantizers import ScaleState, WeightQuantizer


def _serial(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``fn`` with numsim's kernels on one thread (:func:`numsim._kernels.threads.serial`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with serial():
            return fn(*args, **kwargs)

    return wrapper


_GPTQ_POLICIES = ("static", "lazy", "dynamic")
_ED_POLICIES = ("provisional", "static", "dynamic")
#: :class:`_Scales` policy under each ED policy: a provisional scale is fitted by the sweep itself
#: when its group is reached, so the group starts empty, as under GPTQ's lazy policy.
_SCALES_POLICY = {"provisional": "lazy", "static": "static", "dynamic": "dynamic"}
#: Default ``scale_cap`` of :func:`ed` (see there): a provisional power-of-two block scale may
#: rise by at most one binade above the static one.
ED_SCALE_CAP = 2.0


@dataclass(frozen=True)
class LayerStats:
    """Gram matrices of one layer's calibration inputs (float64), accumulated by the model half.

    Attributes:
        H: ``X~^T X~ [d_in, d_in]`` (quantized-path inputs).
        G: ``X~^T X [d_in, d_in]`` (mixed; ``C = G^T - H = (X - X~)^T X~``), or None when the
            method does not need the float path.
        n: rows (tokens, positions) accumulated.
    """

    H: np.ndarray
    G: np.ndarray | None
    n: int


@dataclass(frozen=True)
class Method:
    """A registered PTQ method.

    Attributes:
        name: registry name.
        fn: the pure function ``fn(W, stats, quantizer, **options) -> Q``.
        options: option names and their defaults (None: required).
        needs_g: whether the float-path statistics ``G`` may be needed.
        source: primary source.
        base_options: the options are extended by those of a base method (``base=``).
    """

    name: str
    fn: Callable[..., np.ndarray]
    options: dict[str, Any]
    needs_g: bool
    source: str
    base_options: bool = False

    def needs_g_for(self, **options: Any) -> bool:
        """Whether ``G`` is needed with these options (``axe`` on GPTQ, ``ed`` data-free: no)."""
        if self.name == "axe":
            return options.get("base", self.options["base"]) == "gpfq"
        if self.name == "ed" and options.get("data_free", False):
            return False
        return self.needs_g


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------
def _check_w(W: Any) -> np.ndarray:
    arr = np.asarray(W)
    if arr.dtype.kind != "f":
        raise TypeError(f"W: dtype {arr.dtype}, expected float weights")
    arr = arr.astype(np.float64)
    if arr.ndim != 2 or 0 in arr.shape:
        raise ValueError(f"W: shape {arr.shape}, expected a non-empty 2-D [d_out, d_in] matrix")
    if not np.all(np.isfinite(arr)):
        raise ValueError(
            f"W: {int(np.sum(~np.isfinite(arr)))} NaN/Inf value(s); weights must be finite"
        )
    return arr


def _check_gram(M: Any, d_in: int, name: str) -> np.ndarray:
    if M is None:
        raise ValueError(f"stats.{name} is None; this method needs it")
    arr = np.asarray(M, dtype=np.float64)
    if arr.shape != (d_in, d_in):
        raise ValueError(
            f"stats.{name}: shape {arr.shape}, expected ({d_in}, {d_in}) for W with d_in={d_in}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"stats.{name}: contains NaN or Inf")
    return arr


def _check_q(q: Any) -> WeightQuantizer:
    if not isinstance(q, WeightQuantizer):
        raise TypeError(
            f"quantizer={q!r}: expected a WeightQuantizer (numsim.ptq.weight_quantizer)"
        )
    return q


def _check_choice(value: Any, choices: tuple[str, ...], name: str) -> str:
    if value not in choices:
        raise ValueError(f"{name}={value!r}: expected one of {choices}")
    return value


def _check_int(value: Any, name: str, lo: int, hi: int | None = None) -> int:
    if (
        not isinstance(value, (int, np.integer))
        or isinstance(value, bool)
        or value < lo
        or (hi is not None and value > hi)
    ):
        rng = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        raise ValueError(f"{name}={value!r}: expected an int {rng}")
    return int(value)


def _check_float(value: Any, name: str, lo: float = 0.0, hi: float = np.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name}={value!r}: expected a number in [{lo}, {hi}]")
    if not lo <= value <= hi:
        raise ValueError(f"{name}={value!r}: expected a number in [{lo}, {hi}]")
    return float(value)


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}={value!r}: expected True or False")
    return bool(value)


# ---------------------------------------------------------------------------------------------
# Group scales under a policy
# ---------------------------------------------------------------------------------------------
class _Scales:
    """The scale state of each column's group: fitted up front (static), at the group's first
    processed column (lazy) or before every column (dynamic), from values given by the caller."""

    def __init__(self, q: WeightQuantizer, W0: np.ndarray, policy: str) -> None:
        self.q, self.policy = q, policy
        self.groups = q.groups(W0.shape[1])
        self.gid = np.repeat(np.arange(len(self.groups)), [g.stop - g.start for g in self.groups])
        self.states: list[ScaleState | None] = (
            [q.fit(W0[:, g]) for g in self.groups]
            if policy == "static"
            else [None] * len(self.groups)
        )

    def get(self, c: int, current: Callable[[slice], np.ndarray]) -> tuple[ScaleState, int]:
        """State and in-group index of column ``c``; ``current(group)`` gives the group's values."""
        k = self.gid[c]
        g = self.groups[k]
        if self.policy == "dynamic" or self.states[k] is None:
            self.states[k] = self.q.fit(current(g))
        return self.states[k], c - g.start  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Methods
# ---------------------------------------------------------------------------------------------
def rtn(W: np.ndarray, q: WeightQuantizer) -> np.ndarray:
    """Round to nearest: ``q.quantize(W)``."""
    W = _check_w(W)
    return _bound(_check_q(q), W).quantize(W)


def gptq(
    W: np.ndarray,
    stats: LayerStats,
    q: WeightQuantizer,
    *,
    damp: float = 0.01,
    act_order: bool = False,
    block_size: int = 128,
    scale_policy: str = "lazy",
) -> np.ndarray:
    """GPTQ (module docstring): minimizes ``||X~ W^T - X~ Q^T||`` column by column.

    Args:
        damp: ``percdamp``: ``damp * mean(diag H)`` is added to the diagonal.
        act_order: process columns by decreasing ``diag(H)``.
        block_size: columns per lazy batch update.
        scale_policy: ``"static"``, ``"lazy"`` or ``"dynamic"`` (module docstring). With
            ``"dynamic"`` the result is the round-to-nearest of the final working matrix (whose
            processed columns hold their rounded values), as a re-quantizing weight quantizer
            exports it.
    """
    W, H, q = _check_w(W), None, _check_q(q)
    H = _check_gram(stats.H, W.shape[1], "H")
    _gptq_options(damp, act_order, block_size, scale_policy)
    return _gptq(W, H, _bound(q, W), damp, act_order, block_size, scale_policy)[0]


def _gptq_options(damp: Any, act_order: Any, block_size: Any, scale_policy: Any) -> None:
    _check_float(damp, "damp")
    _check_bool(act_order, "act_order")
    _check_int(block_size, "block_size", 1)
    _check_choice(scale_policy, _GPTQ_POLICIES, "scale_policy")


def _inverse_cholesky_upper(H: np.ndarray) -> np.ndarray:
    """Upper ``U`` with ``U^T U = H^-1`` (gptq.py: cholesky, cholesky_inverse, cholesky upper)."""
    L = np.linalg.cholesky(H)
    Linv = np.linalg.inv(L)
    Hinv = Linv.T @ Linv
    return np.linalg.cholesky(Hinv).T


def _gptq_current(
    g: slice,
    *,
    inv: np.ndarray | None,
    Qp: np.ndarray,
    W1: np.ndarray,
    Wp: np.ndarray,
    pending: np.ndarray | None,
    err: np.ndarray,
    U: np.ndarray,
    i1: int,
    i: int,
    i2: int,
) -> np.ndarray:
    """Current values of the original columns ``g`` while GPTQ is at column ``i1 + i`` of the batch
    ``[i1, i2)``: rounded values of processed columns, the batch's working copy, and for later
    columns the stored values minus the batch's pending update (kept up to date in ``pending``
    by the dynamic policy, else computed here)."""
    c = i1 + i
    if inv is None:  # natural order: contiguous column ranges
        a, b, e = min(max(g.start, c), g.stop), min(max(g.start, i2), g.stop), g.stop
        tail = Wp[:, b:e] - (pending[:, b:e] if pending is not None else err[:, :i] @ U[i1:c, b:e])
        return np.concatenate([Qp[:, g.start : a], W1[:, a - i1 : b - i1], tail], axis=1)
    pos = inv[g]
    out = Qp[:, pos].copy()
    inb = (pos >= c) & (pos < i2)
    out[:, inb] = W1[:, pos[inb] - i1]
    later = pos >= i2
    if pending is not None:
        out[:, later] = Wp[:, pos[later]] - pending[:, pos[later]]
    else:
        out[:, later] = Wp[:, pos[later]] - err[:, :i] @ U[i1:c, pos[later]]
    return out


@_serial
def _gptq(
    W: np.ndarray,
    H: np.ndarray,
    q: WeightQuantizer,
    damp: float,
    act_order: bool,
    block_size: int,
    scale_policy: str,
    bound: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """GPTQ; returns ``(Q, W_work)``: the result and the final working matrix."""
    d_out, d_in = W.shape
    W, H = W.copy(), H.copy()
    dead = np.diag(H) == 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    perm = act_order_permutation(H) if act_order else np.arange(d_in)
    inv = np.argsort(perm)
    H = H[np.ix_(perm, perm)]
    H[np.diag_indices(d_in)] += damp * np.mean(np.diag(H))
    try:
        U = _inverse_cholesky_upper(H)
    except np.linalg.LinAlgError as exc:
        raise ValueError("stats.H (+ damping) is not positive definite; raise damp") from exc
    scales = _Scales(q, W, scale_policy)
    Wp = W[:, perm]
    Qp = np.zeros_like(Wp)
    # the dynamic policy reads columns beyond the batch every step when a group reaches past it
    dynamic = scale_policy == "dynamic" and (
        act_order or any(g.start // block_size != (g.stop - 1) // block_size for g in scales.groups)
    )
    for i1 in range(0, d_in, block_size):
        i2 = min(i1 + block_size, d_in)
        W1 = Wp[:, i1:i2].copy()
        err = np.zeros((d_out, i2 - i1))
        pending = np.zeros_like(Wp) if dynamic else None
        for i in range(i2 - i1):
            c = i1 + i
            current = functools.partial(
                _gptq_current,
                inv=inv if act_order else None,
                Qp=Qp,
                W1=W1,
                Wp=Wp,
                pending=pending,
                err=err,
                U=U,
                i1=i1,
                i=i,
                i2=i2,
            )
            state, j = scales.get(perm[c], current)
            w = W1[:, i] if bound is None else bound.project(perm[c], W1[:, i], state, j)
            qv = q.round_column(w, state, j)
            if bound is not None:
                bound.record(perm[c], qv)
            err[:, i] = (w - qv) / U[c, c]
            W1[:, i:] -= np.outer(err[:, i], U[c, c:i2])
            W1[:, i] = qv
            Qp[:, c] = qv
            if pending is not None:  # the dynamic policy reads later columns every step
                pending[:, i2:] += np.outer(err[:, i], U[c, i2:])
        Wp[:, i1:i2] = W1
        Wp[:, i2:] -= err @ U[i1:i2, i2:]
    Q, work = Qp[:, inv], Wp[:, inv]
    if scale_policy == "dynamic":
        Q = q.quantize(work)
    return Q, work


def ridge(H: np.ndarray, G: np.ndarray, damp: float) -> tuple[np.ndarray, np.ndarray]:
    """``(H + lam I, G + lam I)`` with ``lam = damp * mean(diag H)`` (copies; ``damp = 0``: the
    inputs unchanged).

    Why: the greedy steps of GPFQ and ED then minimize ``||X W^T - X~ Q^T||^2 + lam ||W - Q||^2``
    (the calibration rows augmented by ``sqrt(lam) I`` on both paths), the ridge that GPTQ's
    damping adds to its objective (arXiv 2210.17323, section 4, "dampening"). It keeps columns
    whose inputs are nearly constant or nearly collinear with others (MiniLM's LayerNorm outputs
    have both) from being pushed far from ``W`` by the correction for other columns' error, an
    extrapolation that fits the calibration rows but not unseen inputs. ``lam -> inf`` gives RTN.
    """
    lam = float(damp) * float(np.mean(np.diag(H))) if damp else 0.0
    if lam == 0.0:
        return H, G
    eye = lam * np.eye(H.shape[0])
    return H + eye, G + eye


def gpfq(
    W: np.ndarray,
    stats: LayerStats,
    q: WeightQuantizer,
    *,
    damp: float = 0.0,
    dead: float = 0.0,
    act_order: bool = False,
) -> np.ndarray:
    """GPFQ in Gram form (module docstring), scales fitted from the original weights.

    Args:
        damp: ridge ``damp * mean(diag H)`` on the diagonals of ``H`` and ``G`` (:func:`ridge`);
            0 (the default) is GPFQ as published.
        dead: columns with ``H_tt <= dead * mean(diag H)`` are treated as dead (:func:`_greedy`):
            their target is ``w_t``, nothing is diffused into them. 0 (the default): only
            columns whose input is exactly zero, where the published step divides by zero.
        act_order: process the columns by decreasing ``diag(H)`` (:func:`act_order_permutation`;
            Brevitas ``gpfq_mode(act_order=True)``), the outlier inputs first, so that their
            rounding error is spread over all later columns instead of the few weak ones that
            follow them in natural order. Scales as without it: each group's, from its original
            columns. False (the default) is GPFQ as published.
    """
    W, q = _check_w(W), _check_q(q)
    damp = _check_float(damp, "damp")
    dead = _check_float(dead, "dead", 0.0, 1.0)
    act_order = _check_bool(act_order, "act_order")
    H = _check_gram(stats.H, W.shape[1], "H")
    G = _check_gram(stats.G, W.shape[1], "G")
    H, G = ridge(H, G, damp)
    return _greedy(W, H, G, _bound(q, W), "static", dead=dead, act_order=act_order)


def ed(
    W: np.ndarray,
    stats: LayerStats | None,
    q: WeightQuantizer,
    *,
    scale_policy: str = "provisional",
    data_free: bool = False,
    damp: float = 0.0,
    dead: float = 0.0,
    scale_cap: float = ED_SCALE_CAP,
    act_order: bool = False,
) -> np.ndarray:
    """Error diffusion, reconstructed (module docstring; the paper's update rule is not known).

    Args:
        scale_policy: ``"provisional"``, ``"static"`` or ``"dynamic"``.
        data_free: Floyd-Steinberg on ``W`` alone (``stats`` unused, may be None).
        damp: ridge ``damp * mean(diag H)`` on the diagonals of ``H`` and ``G`` (:func:`ridge`);
            0 (the default): none, the paper's setting is hyperparameter-free.
        dead: as :func:`gpfq`'s ``dead`` (0: only exactly-zero inputs).
        scale_cap: ``"provisional"`` only: the unrounded targets a block's scale is fitted on
            are first clipped, per row, to ``scale_cap`` times the largest magnitude of the
            ORIGINAL weights of the block, so that the provisional scale exceeds the static one
            by at most about that factor (a power-of-two scale by at most one binade at the
            default 2) and a target beyond the range of that scale saturates. ``inf``: no cap
            (the provisional policy as it was before the cap). numsim's choice, not the paper's:
            the default :data:`ED_SCALE_CAP` was chosen on a validation split of MiniLM's
            calibration pool (``numsim.studies.ptq.MINILM_DIAGNOSIS``). Why: an MX scale (E8M0)
            has no upper bound, so without a cap a block whose diffused targets grow takes a
            scale up to 2**10 times the static one; its other weights then round coarsely,
            their error is diffused on, and the weights drift by several times their norm at
            any element width (NVFP4's block scale is bounded by its tensor scale already).
            Not used by ``"static"`` (the original block's scale), ``"dynamic"`` or
            ``data_free=True`` (whose provisional scale sees at most half a step of carry).
        act_order: as :func:`gpfq`'s ``act_order``. A group's scale must then be fixed before
            any of its columns is processed, and its columns are scattered over the whole
            sweep, so only ``scale_policy="static"`` is allowed (the scales of the original
            groups, as GPTQ's ``--static-groups``; ed is then gpfq with act-order); a
            provisional scale would need the group's targets, which are not known until the
            sweep has passed all of its columns. Not with ``data_free=True``.
    """
    W, q = _check_w(W), _bound(_check_q(q), W)
    _check_choice(scale_policy, _ED_POLICIES, "scale_policy")
    damp = _check_float(damp, "damp")
    dead = _check_float(dead, "dead", 0.0, 1.0)
    if isinstance(scale_cap, bool) or not isinstance(scale_cap, (int, float, np.floating)):
        raise TypeError(f"scale_cap={scale_cap!r}: expected a number >= 1 (or inf)")
    if not scale_cap >= 1.0:
        raise ValueError(f"scale_cap={scale_cap!r}: expected a number >= 1 (or inf)")
    if data_free and damp:
        raise ValueError(f"damp={damp}: data_free=True uses no statistics to damp; expected 0")
    if data_free and dead:
        raise ValueError(f"dead={dead}: data_free=True uses no statistics; expected 0")
    if _check_bool(act_order, "act_order") and scale_policy != "static":
        raise ValueError(
            f"scale_policy={scale_policy!r}: act_order=True fixes every group's scale before "
            "the sweep (the original group's); expected 'static'"
        )
    if act_order and data_free:
        raise ValueError(
            "act_order=True: data_free=True has no diag(H) to order by; expected False"
        )
    if _check_bool(data_free, "data_free"):
        return _floyd_steinberg(W, q, scale_policy)
    if stats is None:
        raise ValueError("stats=None: ed needs LayerStats unless data_free=True")
    H = _check_gram(stats.H, W.shape[1], "H")
    G = _check_gram(stats.G, W.shape[1], "G")
    H, G = ridge(H, G, damp)
    return _greedy(
        W, H, G, q, scale_policy, dead=dead, cap=float(scale_cap), act_order=bool(act_order)
    )


#: Columns per sub-block of :func:`_greedy`'s lazily batched target sums.
_SWEEP_BLOCK = 64


@_serial
def _greedy(
    W: np.ndarray,
    H: np.ndarray,
    G: np.ndarray,
    q: WeightQuantizer,
    policy: str,
    bound: Any = None,
    *,
    dead: float = 0.0,
    cap: float = np.inf,
    act_order: bool = False,
) -> np.ndarray:
    """GPFQ steps over the columns in natural order, group scales under ``policy``
    (``"provisional"``: fitted on the block's unrounded targets before its first column, clipped
    per row to ``cap`` times the original block's largest magnitude).

    ``act_order=True`` (``policy`` must be ``"static"``): the same steps on ``W[:, p]``,
    ``H[p][:, p]``, ``G[p][:, p]`` with ``p`` = :func:`act_order_permutation`, each column
    rounded on the scale of its ORIGINAL group, the result put back in the original order. The
    sweep keeps the group boundaries of natural order as its batching points (positions in the
    permuted order), so a ``p`` that is the identity gives natural order bit for bit.

    A column with ``H_tt <= dead * mean(diag H)`` (always one with ``H_tt = 0``) takes the target
    ``w_t``: a column whose calibration input is (almost) always zero carries no information
    about how its weight acts on other inputs, and the greedy step, which divides the correction
    by ``H_tt``, would otherwise give it a target far outside the weights' range."""
    scales = _Scales(q, W, _SCALES_POLICY[policy])
    perm = act_order_permutation(H) if act_order else np.arange(W.shape[1])
    if act_order:
        if policy != "static":
            raise ValueError(f"policy={policy!r}: act_order needs static scales")
        ix = np.ix_(perm, perm)
        W, H, G = W[:, perm], H[ix], G[ix]
    # Columns are kept as rows (QT[t] = Q[:, t]) so that every inner product reads contiguous
    # memory.
    PT = np.tril(G) @ W.T  # PT[t] = sum_{j<=t} G[t, j] W[:, j]
    WT = np.ascontiguousarray(W.T)
    hd = np.diag(H)
    live = hd > dead * np.mean(hd)  # dead = 0: every column with H_tt > 0
    QT = np.zeros_like(WT)

    def sweep(g: slice, XT: np.ndarray, step: Callable[[int, np.ndarray], np.ndarray]) -> None:
        """For t in ``g`` in order: ``XT[t - g.start] = step(t, target_t)``, where target_t =
        ``(PT[t] - H[t, :t] @ QT[:t]) / H[t, t]`` with the group's rows of ``QT`` replaced by
        ``XT`` (the rows ``step`` has produced so far; ``W[:, t]`` when ``H[t, t] = 0``).

        The sum over the final columns before ``g`` and over whole sub-blocks of ``g`` is taken as
        one matrix product per sub-block of ``_SWEEP_BLOCK`` columns instead of one
        vector-matrix product per column (the lazy-batch evaluation GPTQ uses): the same sum,
        read from memory once per sub-block, not once per column."""
        base = PT[g] - H[g, : g.start] @ QT[: g.start]
        for s0 in range(g.start, g.stop, _SWEEP_BLOCK):
            s1 = min(s0 + _SWEEP_BLOCK, g.stop)
            r = base[s0 - g.start : s1 - g.start] - H[s0:s1, g.start : s0] @ XT[: s0 - g.start]
            for t in range(s0, s1):
                rt = r[t - s0] - H[t, s0:t] @ XT[s0 - g.start : t - g.start]
                XT[t - g.start] = step(t, rt / hd[t] if live[t] else WT[t].copy())

    def quantize_column(t: int, arg: np.ndarray) -> np.ndarray:
        def current(gs: slice, t: int = t, arg: np.ndarray = arg) -> np.ndarray:
            return np.concatenate([QT[gs.start : t], arg[None, :], WT[t + 1 : gs.stop]]).T

        c = int(perm[t])  # the original column (t itself in natural order)
        state, j = scales.get(c, current)  # static under act_order: current() is not called
        if bound is not None:
            arg = bound.project(c, arg, state, j)
        qt = q.round_column(arg, state, j)
        if bound is not None:
            bound.record(c, qt)
        return qt

    for k, g in enumerate(scales.groups):
        if policy == "provisional":
            VT = np.zeros((g.stop - g.start, W.shape[0]))
            sweep(g, VT, lambda t, arg: arg)
            V = VT.T
            if np.isfinite(cap):
                lim = cap * np.max(np.abs(W[:, g]), axis=1, keepdims=True)
                V = np.clip(V, -lim, lim)
            scales.states[k] = q.fit(V)
        sweep(g, QT[g], quantize_column)
    Q = np.ascontiguousarray(QT.T[:, np.argsort(perm)]) if act_order else np.ascontiguousarray(QT.T)
    return q.quantize(Q) if policy == "dynamic" else Q


def act_order_permutation(H: np.ndarray) -> np.ndarray:
    """The act-order processing order: column indices by decreasing ``diag(H)``, ties in their
    original order (a stable sort; Brevitas and IST-DASLab/gptq sort with ``argsort(descending)``,
    whose order among ties is unspecified). ``perm[t]`` is the original column processed at step
    ``t``; ``np.argsort(perm)`` undoes it."""
    return np.argsort(-np.diag(np.asarray(H, dtype=np.float64)), kind="stable")


@_serial
def _floyd_steinberg(W: np.ndarray, q: WeightQuantizer, policy: str) -> np.ndarray:
    """Data-free error diffusion: each column's rounding error is carried into the next column of
    the same row (row sums are kept up to the last column's error)."""
    Q = np.zeros_like(W)
    carry = np.zeros(W.shape[0])
    scales = _Scales(q, W, _SCALES_POLICY[policy])
    for k, g in enumerate(scales.groups):
        if policy == "provisional":
            V = W[:, g].copy()
            V[:, 0] += carry
            scales.states[k] = q.fit(V)
        for t in range(g.start, g.stop):
            arg = W[:, t] + carry

            def current(gs: slice, t: int = t, arg: np.ndarray = arg) -> np.ndarray:
                return np.concatenate(
                    [Q[:, gs.start : t], arg[:, None], W[:, t + 1 : gs.stop]], axis=1
                )

            state, j = scales.get(t, current)
            Q[:, t] = q.round_column(arg, state, j)
            carry = arg - Q[:, t]
    return q.quantize(Q) if policy == "dynamic" else Q


#: Base methods QEP wraps (it hands the base ``H`` alone, so a base must not need ``G``) and
#: those AXE extends.
QEP_BASES = ("gptq", "rtn")
AXE_BASES = ("gptq", "gpfq")


def qep_target(W: np.ndarray, stats: LayerStats, alpha: float, damp: float) -> np.ndarray:
    """QEP's corrected weights ``W + alpha * W C (H + lambda I)^-1``, ``C = G^T - H``,
    ``lambda = damp * mean(diag H)`` (FujitsuResearch/qep ``src/gptq.py``, weight correction)."""
    W = _check_w(W)
    H = _check_gram(stats.H, W.shape[1], "H")
    G = _check_gram(stats.G, W.shape[1], "G")
    if alpha == 0:
        return W
    C = G.T - H
    M = H + damp * np.mean(np.diag(H)) * np.eye(H.shape[0])
    # W C M^-1 = (M^-1 C^T W^T)^T, M symmetric
    return W + alpha * np.linalg.solve(M, C.T @ W.T).T


def qep(
    W: np.ndarray,
    stats: LayerStats,
    q: WeightQuantizer,
    *,
    base: str = "gptq",
    alpha: float = 0.5,
    damp: float = 0.01,
    **base_options: Any,
) -> np.ndarray:
    """QEP (module docstring): correct the weights for the propagated input error, then run
    ``base`` (``"gptq"`` or ``"rtn"``) on ``H``.

    Args:
        alpha: propagation strength in [0, 1] (official default 0.5).
        damp: ``lambda = damp * mean(diag H)``; FujitsuResearch/OneCompression uses 0.01 (this
            default), the NeurIPS code ``percdampqep`` 1.0.
        base_options: options of the base method.
    """
    _check_choice(base, QEP_BASES, "base")
    alpha = _check_float(alpha, "alpha", 0.0, 1.0)
    damp = _check_float(damp, "damp")
    _check_base_options("qep", base, base_options)
    # NVFP4: the tensor scale of the ORIGINAL weights (as quantize_model exports with), not of
    # the moved ones
    q = _bound(_check_q(q), _check_w(W))
    Wc = qep_target(W, stats, alpha, damp)
    if base == "rtn":
        return rtn(Wc, q)
    return gptq(Wc, LayerStats(stats.H, None, stats.n), q, **base_options)


# ---------------------------------------------------------------------------------------------
# AXE
# ---------------------------------------------------------------------------------------------
def input_range(bits: int, signed: bool) -> tuple[int, int]:
    """``(x_min, x_max)`` of ``bits``-bit integer inputs."""
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def l1_threshold(a: np.ndarray, radius: float) -> np.ndarray:
    """Per row of non-negative ``a``: the soft threshold ``theta`` that projects ``a`` onto the
    l1 ball of ``radius`` (Duchi et al., ICML 2008, Fig. 1); 0 for rows already inside."""
    u = -np.sort(-a, axis=1)
    css = np.cumsum(u, axis=1)
    k = np.arange(1, a.shape[1] + 1)
    rho = a.shape[1] - 1 - np.argmax((u * k > css - radius)[:, ::-1], axis=1)
    theta = (css[np.arange(a.shape[0]), rho] - radius) / (rho + 1)
    return np.where(css[:, -1] > radius, theta, 0.0)


class _AccumulatorBound:
    """AXE's per-row, per-tile running bounds (axe.py ``upper_lim`` / ``lower_lim``) and l1 soft
    threshold (radius ``(2**P - 2) / (x_max - x_min)`` on the tile's centred integer weights).

    The bounds are taken as ``floor(u)`` / ``ceil(l)`` integer steps and then toward zero onto the
    element grid, so the round to nearest that follows cannot leave them. Brevitas subtracts 1/2
    from ``u`` (adds it to ``l``) and relies on round to nearest instead; where the element grid
    skips integers (float elements) that could exceed the bound, this cannot."""

    def __init__(
        self,
        W: np.ndarray,
        q: WeightQuantizer,
        states: list[ScaleState],
        groups: list[slice],
        bits: int,
        tile: int,
        xmin: int,
        xmax: int,
    ) -> None:
        d_out, d_in = W.shape
        self.q, self.xmin, self.xmax = q, xmin, xmax
        self.A = float(2 ** (bits - 1) - 1)
        self.step = np.empty_like(W)
        for st, g in zip(states, groups):
            self.step[:, g] = q.integer_scale(st)[:, None]
        self.tile_of = np.arange(d_in) // tile
        ntiles = int(self.tile_of[-1]) + 1
        self.p = np.zeros((d_out, ntiles))
        self.n = np.zeros((d_out, ntiles))
        radius = (2.0**bits - 2) / (xmax - xmin)
        self.theta = np.zeros_like(W)
        for k in range(ntiles):
            cols = slice(k * tile, min((k + 1) * tile, d_in))
            wi = W[:, cols] / self.step[:, cols]
            th = l1_threshold(np.abs(wi - wi.mean(axis=1, keepdims=True)), radius)
            self.theta[:, cols] = th[:, None] * self.step[:, cols]

    def limits(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Integer ``(l, u)`` for the next weight of tile ``k`` in every row."""
        p, n, A, lo, hi = self.p[:, k], self.n[:, k], self.A, self.xmin, self.xmax
        u = (A - (hi * p + lo * n)) / hi
        low = (-A - (lo * p + hi * n)) / hi
        if lo < 0:
            u = np.minimum(u, (-A - (lo * p + hi * n)) / lo)
            low = np.maximum(low, (A - (hi * p + lo * n)) / lo)
        return np.ceil(np.minimum(low, 0.0)), np.floor(np.maximum(u, 0.0))

    def project(self, c: int, w: np.ndarray, state: ScaleState, j: int) -> np.ndarray:
        """Soft-threshold, then clamp into the grid values inside the bounds."""
        w = np.sign(w) * np.maximum(np.abs(w) - self.theta[:, c], 0.0)
        low, up = self.limits(self.tile_of[c])
        s = self.step[:, c]
        el = self.q.element
        from numsim import quantize

        def grid(v: np.ndarray) -> np.ndarray:
            return (
                np.asarray(quantize(v / state.step[:, j], el, rounding="toward_zero"), np.float64)
                * state.step[:, j]
            )

        return np.clip(w, grid(low * s), grid(up * s))

    def record(self, c: int, qv: np.ndarray) -> None:
        """Add the rounded column's integers to the running sums of its tile."""
        qi = np.rint(qv / self.step[:, c])
        k = self.tile_of[c]
        self.p[:, k] += np.maximum(qi, 0.0)
        self.n[:, k] += np.minimum(qi, 0.0)


def axe(
    W: np.ndarray,
    stats: LayerStats,
    q: WeightQuantizer,
    *,
    base: str = "gptq",
    accumulator_bits: int | None = None,
    tile: int | None = None,
    input_bits: int = 8,
    input_signed: bool = True,
    **base_options: Any,
) -> np.ndarray:
    """AXE (module docstring): accumulator-aware GPTQ or GPFQ.

    Scales are fixed from the original weights (the threshold needs them up front). For every
    row and tile the integer weights then satisfy ``x_max * sum(q+) + x_min * sum(q-) <= A`` and
    ``x_min * sum(q+) + x_max * sum(q-) >= -A``, ``A = 2**(P-1) - 1``: no input in
    ``[x_min, x_max]`` overflows a ``P``-bit accumulator.

    Args:
        base: ``"gptq"`` or ``"gpfq"``.
        accumulator_bits: ``P`` (required, >= 3).
        tile: inputs per accumulator (None: all of ``d_in``, monolithic). Formats with a scale per
            group or block need the tile to be that group (None then means the group).
        input_bits, input_signed: the integer input range.
        base_options: GPTQ's ``damp``, ``act_order``, ``block_size`` (``scale_policy`` must be
            ``"static"``), or GPFQ's ``damp``, ``dead``, ``act_order``.
    """
    W, q = _check_w(W), _bound(_check_q(q), W)
    _check_choice(base, AXE_BASES, "base")
    bits = _check_int(accumulator_bits, "accumulator_bits", 3, 62)
    ibits = _check_int(input_bits, "input_bits", 1, 24)
    signed = _check_bool(input_signed, "input_signed")
    _check_base_options("axe", base, base_options)
    groups = q.groups(W.shape[1])
    grouped = len(groups) > 1
    gsize = groups[0].stop - groups[0].start
    if tile is None:
        tile = gsize if grouped else W.shape[1]
    tile = _check_int(tile, "tile", 2)
    if grouped and tile != gsize:
        raise ValueError(
            f"tile={tile}: {q.describe()} has one scale per {gsize} columns; the tile must "
            "be that group"
        )
    H = _check_gram(stats.H, W.shape[1], "H")
    if base_options.get("scale_policy", "static") != "static":
        raise ValueError(
            f"scale_policy={base_options['scale_policy']!r}: axe fixes its scales up front; "
            "expected 'static'"
        )
    states = [q.fit(W[:, g]) for g in groups]
    xmin, xmax = input_range(ibits, signed)
    bound = _AccumulatorBound(W, q, states, groups, bits, tile, xmin, xmax)
    if base == "gpfq":
        G = _check_gram(stats.G, W.shape[1], "G")
        H, G = ridge(H, G, _check_float(base_options.get("damp", 0.0), "damp"))
        dead = _check_float(base_options.get("dead", 0.0), "dead", 0.0, 1.0)
        act = _check_bool(base_options.get("act_order", False), "act_order")
        return _greedy(W, H, G, q, "static", bound, dead=dead, act_order=act)
    opts = {
        "damp": 0.01,
        "act_order": False,
        "block_size": 128,
        **base_options,
        "scale_policy": "static",
    }
    _gptq_options(**opts)
    return _gptq(W, H, q, opts["damp"], opts["act_order"], opts["block_size"], "static", bound)[0]


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------
def _rtn_fn(W: np.ndarray, stats: LayerStats | None, q: WeightQuantizer) -> np.ndarray:
    return rtn(W, q)


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("rtn", _rtn_fn, {}, False, "round to nearest on the numsim format"),
        Method(
            "ed",
            ed,
            {
                "scale_policy": "provisional",
                "data_free": False,
                "damp": 0.0,
                "dead": 0.0,
                "scale_cap": ED_SCALE_CAP,
                "act_order": False,
            },
            True,
            "Khodamoradi, Denolf, Dellinger, arXiv 2410.11203 (reconstructed as GPFQ steps with a "
            "block-scale "
            "policy)",
        ),
        Method(
            "gpfq",
            gpfq,
            {"damp": 0.0, "dead": 0.0, "act_order": False},
            True,
            "Zhang, Zhou, Saab, arXiv 2201.11113; Xilinx/brevitas src/brevitas/graph/gpfq.py",
        ),
        Method(
            "gptq",
            gptq,
            {"damp": 0.01, "act_order": False, "block_size": 128, "scale_policy": "lazy"},
            False,
            "Frantar et al., arXiv 2210.17323; IST-DASLab/gptq gptq.py",
        ),
        Method(
            "qep",
            qep,
            {"base": "gptq", "alpha": 0.5, "damp": 0.01},
            True,
            "Arai & Ichikawa, arXiv 2504.09629; FujitsuResearch/qep src/gptq.py",
            base_options=True,
        ),
        Method(
            "axe",
            axe,
            {
                "base": "gptq",
                "accumulator_bits": None,
                "tile": None,
                "input_bits": 8,
                "input_signed": True,
            },
            True,
            "Colbert et al., arXiv 2409.17092; Xilinx/brevitas src/brevitas_examples/common/axe.py",
            base_options=True,
        ),
    ]
}


#: Options without a usable default.
_REQUIRED = {"axe": ("accumulator_bits",)}


def _bound(q: WeightQuantizer, W: np.ndarray) -> WeightQuantizer:
    """``q`` with its tensor statistic fixed from ``W`` (:meth:`WeightQuantizer.for_tensor`),
    unless it is fixed already: a wrapper that moves the weights before its base method (QEP)
    binds the original ones, which the export of the result uses."""
    return q if q.tensor_amax is not None else q.for_tensor(W)


def _check_base_options(name: str, base: str, options: dict[str, Any]) -> None:
    allowed = METHODS[base].options
    bad = sorted(set(options) - set(allowed))
    if bad:
        raise TypeError(
            f"{name}(base={base!r}) got unknown option(s) {bad}; {base} takes {sorted(allowed)}"
        )


def run_method(
    name: str, W: np.ndarray, stats: LayerStats | None, quantizer: WeightQuantizer, **options: Any
) -> np.ndarray:
    """Validate ``name`` and ``options``, then run the method: ``Q`` (float64, ``W``'s shape).

    Raises:
        KeyError: unknown method (close matches listed). TypeError: an option the method does not
            take (the message lists the ones it takes).
    """
    if name not in METHODS:
        close = difflib.get_close_matches(str(name), list(METHODS), n=3, cutoff=0.4)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        raise KeyError(f"unknown PTQ method {name!r}{hint}. Known: {', '.join(METHODS)}")
    m = METHODS[name]
    unknown = sorted(set(options) - set(m.options))
    if unknown and m.base_options:
        base = options.get("base", m.options["base"])
        if base not in METHODS:
            raise ValueError(f"base={base!r}: expected a method name")
        unknown = sorted(set(unknown) - set(METHODS[base].options))
    if unknown:
        raise TypeError(
            f"method {name!r} got unknown option(s) {unknown}; it takes {sorted(m.options)}"
            + (" and its base method's options" if m.base_options else "")
        )
    missing = [k for k in _REQUIRED.get(name, ()) if options.get(k) is None]
    if missing:
        raise TypeError(f"method {name!r} needs option(s) {missing}")
    _check_q(quantizer)
    if name == "rtn":
        return rtn(W, quantizer)
    if stats is None and not (name == "ed" and options.get("data_free", False)):
        raise ValueError(f"stats=None: method {name!r} needs LayerStats")
    if stats is not None and not isinstance(stats, LayerStats):
        raise TypeError(f"stats={type(stats).__name__}: expected LayerStats")
    return m.fn(W, stats, quantizer, **options)
