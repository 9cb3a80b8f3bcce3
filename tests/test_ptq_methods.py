"""PTQ methods on small seeded problems, against independent facts.

Expected values come from the slow twins in :mod:`numsim.reference.ptq` (GPFQ's residual form,
GPTQ by explicit OBQ elimination, plain-loop accumulator sums), from closed forms (round to
nearest when the Gram matrix is diagonal; QEP's least-squares target and its Pythagoras identity
from numpy's lstsq), and from the bit-accurate integer accumulator of ``numsim.datapath``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import numsim
from numsim import formats as F
from numsim.block import decode_block
from numsim.ptq import LayerStats, run_method, weight_quantizer
from numsim.ptq import methods as M
from numsim.reference import ptq as R

BLOCKS = [F.get(n) for n in F.names("block")]


def _problem(
    seed: int, d_out: int = 5, d_in: int = 48, n: int = 200, noise: float = 0.1, corr: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(W, X, X~)``: correlated inputs and a perturbed quantized-path copy."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, d_in))
    X = base + corr * rng.standard_normal((n, 1))
    Xq = X + noise * rng.standard_normal((n, d_in))
    W = rng.standard_normal((d_out, d_in))
    return W, X, Xq


def _stats(X: np.ndarray, Xq: np.ndarray) -> LayerStats:
    return LayerStats(Xq.T @ Xq, Xq.T @ X, X.shape[0])


# ---------------------------------------------------------------------------------------------
# GPFQ / ED
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["int4", "mxfp4_e2m1", "mx6"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gpfq_gram_form_equals_residual_form(fmt: str, seed: int) -> None:
    W, X, Xq = _problem(seed)
    q = weight_quantizer(fmt)
    groups = q.groups(W.shape[1])
    states = [q.fit(W[:, g]) for g in groups]
    expected = R.gpfq_residual(W, X, Xq, q, states, groups)
    np.testing.assert_array_equal(run_method("gpfq", W, _stats(X, Xq), q), expected)
    # ED with scales from the original block is GPFQ by construction of the reconstruction
    np.testing.assert_array_equal(
        run_method("ed", W, _stats(X, Xq), q, scale_policy="static"), expected
    )


def _diagonal_problem(seed: int, d_out: int = 6, d_in: int = 64) -> tuple[np.ndarray, LayerStats]:
    """Orthogonal input columns with power-of-two norms: H = G exactly diagonal."""
    rng = np.random.default_rng(seed)
    X = np.diag(np.exp2(rng.integers(-2, 3, d_in)).astype(np.float64))
    W = rng.standard_normal((d_out, d_in)) * np.exp2(rng.integers(-3, 3, (d_out, d_in)))
    return W, _stats(X, X)


@pytest.mark.parametrize("fmt", ["int4", "int8", "mxfp4_e2m1", "mxint8", "nvfp4", "mx4", "b4int3"])
@pytest.mark.parametrize("policy", ["provisional", "static", "dynamic"])
def test_ed_with_orthogonal_columns_and_no_mismatch_is_rtn(fmt: str, policy: str) -> None:
    W, st = _diagonal_problem(0)
    q = weight_quantizer(fmt)
    np.testing.assert_array_equal(
        run_method("ed", W, st, q, scale_policy=policy), run_method("rtn", W, None, q)
    )


@pytest.mark.parametrize("fmt", ["int4", "mxfp4_e2m1", "mx4"])
@pytest.mark.parametrize("policy", ["provisional", "static", "dynamic"])
def test_ed_lowers_the_mismatched_error_against_rtn(fmt: str, policy: str) -> None:
    ratios = []
    for seed in range(6):
        W, X, Xq = _problem(seed, d_out=8, d_in=64, n=256, noise=0.2)
        q = weight_quantizer(fmt)
        err = {
            m: np.linalg.norm(X @ W.T - Xq @ run_method(m, W, _stats(X, Xq), q, **o).T)
            for m, o in [("rtn", {}), ("ed", {"scale_policy": policy})]
        }
        ratios.append(err["ed"] / err["rtn"])
    assert np.mean(ratios) < 0.95 and max(ratios) < 1.0, ratios


@pytest.mark.parametrize("fmt", ["int4", "mxfp4_e2m1"])
@pytest.mark.parametrize("method", ["gpfq", "ed"])
def test_ridge_is_gpfq_on_rows_augmented_by_sqrt_lambda_identity(fmt: str, method: str) -> None:
    # damp adds lam = damp * mean(diag H) to diag H and diag G: the same as appending the rows
    # sqrt(lam) I to both X and X~, which GPFQ's residual form (the slow twin) runs directly.
    W, X, Xq = _problem(4, d_out=6, d_in=64, n=80, noise=0.3)  # n close to d_in: ill-posed
    q = weight_quantizer(fmt)
    groups = q.groups(W.shape[1])
    states = [q.fit(W[:, g]) for g in groups]
    damp = 0.1
    lam = damp * np.mean(np.sum(Xq * Xq, axis=0))
    aug = np.sqrt(lam) * np.eye(W.shape[1])
    Xa, Xqa = np.vstack([X, aug]), np.vstack([Xq, aug])
    expected = R.gpfq_residual(W, Xa, Xqa, q, states, groups)
    opts = {"scale_policy": "static"} if method == "ed" else {}
    got = run_method(method, W, _stats(X, Xq), q, damp=damp, **opts)
    assert np.mean(got == expected) > 0.99  # the same up to rounding ties of the two sum orders
    plain = run_method(method, W, _stats(X, Xq), q, **opts)
    assert not np.array_equal(got, plain)
    # damp = 0 is the published method, the residual form without augmented rows
    np.testing.assert_array_equal(
        run_method(method, W, _stats(X, Xq), q, damp=0.0, **opts),
        R.gpfq_residual(W, X, Xq, q, states, groups),
    )


@pytest.mark.parametrize("method", ["gpfq", "ed"])
def test_ridge_without_limit_is_rtn_and_bad_damp_is_refused(method: str) -> None:
    # lam -> inf: every target tends to w_t itself, so the result is round to nearest
    W, X, Xq = _problem(5, d_in=64, noise=0.3)
    q = weight_quantizer("mxfp4_e2m1")
    np.testing.assert_array_equal(
        run_method(method, W, _stats(X, Xq), q, damp=1e9), run_method("rtn", W, None, q)
    )
    with pytest.raises(ValueError, match="damp"):
        run_method(method, W, _stats(X, Xq), q, damp=-0.1)
    with pytest.raises(ValueError, match="damp=0.1: data_free"):
        run_method("ed", W, None, q, data_free=True, damp=0.1)


def _ed_provisional_residual(
    W: np.ndarray, X: np.ndarray, Xq: np.ndarray, q: Any, cap: float
) -> np.ndarray:
    """ED's provisional policy in GPFQ's residual form, all rows at once: per block, the GPFQ
    targets with the block's columns left unrounded give the values the block's scale is fitted
    on (clipped per row to ``cap`` times the original block's largest magnitude), then the block
    is rounded column by column on that scale. Independent of the Gram-form sweep it checks."""
    d_out, d_in = W.shape
    Q = np.zeros((d_out, d_in))
    U = np.zeros((X.shape[0], d_out))  # residual of every row, one column per row

    def target(Ures: np.ndarray, t: int) -> np.ndarray:
        return (Xq[:, t] @ (Ures + np.outer(X[:, t], W[:, t]))) / (Xq[:, t] @ Xq[:, t])

    for g in q.groups(d_in):
        V = np.zeros((d_out, g.stop - g.start))
        Uv = U.copy()
        for t in range(g.start, g.stop):
            V[:, t - g.start] = target(Uv, t)
            Uv += np.outer(X[:, t], W[:, t]) - np.outer(Xq[:, t], V[:, t - g.start])
        lim = cap * np.max(np.abs(W[:, g]), axis=1, keepdims=True)
        state = q.fit(np.clip(V, -lim, lim))
        for t in range(g.start, g.stop):
            Q[:, t] = q.round(target(U, t), state, t - g.start)
            U += np.outer(X[:, t], W[:, t]) - np.outer(Xq[:, t], Q[:, t])
    return Q


def _weak_column_problem(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fewer rows than columns, and column 40's input 1000 times weaker than the others: the
    greedy target of column 40 lies far outside the weights' range."""
    W, X, Xq = _problem(seed, d_out=6, d_in=64, n=48, noise=0.3)
    X[:, 40] *= 1e-3
    Xq[:, 40] *= 1e-3
    return W, X, Xq


@pytest.mark.parametrize("fmt", ["mxfp4_e2m1", "mxfp6_e2m3", "mx6"])
@pytest.mark.parametrize("cap", [1.0, 2.0, np.inf])
def test_ed_scale_cap_equals_the_residual_form_twin(fmt: str, cap: float) -> None:
    W, X, Xq = _weak_column_problem(0)
    q = weight_quantizer(fmt)
    got = run_method("ed", W, _stats(X, Xq), q, scale_cap=cap)
    np.testing.assert_array_equal(got, _ed_provisional_residual(W, X, Xq, q, cap))
    if cap == 2.0:  # the documented default
        np.testing.assert_array_equal(run_method("ed", W, _stats(X, Xq), q), got)


@pytest.mark.parametrize("fmt", ["mxfp4_e2m1", "mxfp6_e2m3"])
def test_ed_scale_cap_one_keeps_every_scale_at_or_below_the_static_one(fmt: str) -> None:
    # An E8M0 scale is 2**(floor(log2(amax)) - emax): monotone in the block's largest magnitude,
    # so values clipped to the original block's amax never take a larger scale than it.
    W, X, Xq = _weak_column_problem(1)
    q = weight_quantizer(fmt)
    st = _stats(X, Xq)
    groups = q.groups(W.shape[1])

    def log2_ratios(Q: np.ndarray) -> np.ndarray:
        return np.array(
            [np.log2(q.fit(Q[:, g]).step[:, 0] / q.fit(W[:, g]).step[:, 0]) for g in groups]
        )

    capped = log2_ratios(run_method("ed", W, st, q, scale_cap=1.0))
    free = log2_ratios(run_method("ed", W, st, q, scale_cap=np.inf))
    assert capped.max() <= 0
    assert free.max() >= 2  # without the cap the weak column's block takes a larger scale
    # a cap that never binds changes nothing
    big = float(2.0 ** (free.max() + 3))
    np.testing.assert_array_equal(
        run_method("ed", W, st, q, scale_cap=big), run_method("ed", W, st, q, scale_cap=np.inf)
    )


def test_ed_scale_cap_is_validated() -> None:
    W, X, Xq = _problem(0)
    q = weight_quantizer("mxfp4_e2m1")
    with pytest.raises(ValueError, match=r"scale_cap=0.5: expected a number >= 1"):
        run_method("ed", W, _stats(X, Xq), q, scale_cap=0.5)
    with pytest.raises(ValueError, match="scale_cap=nan"):
        run_method("ed", W, _stats(X, Xq), q, scale_cap=float("nan"))
    with pytest.raises(TypeError, match="scale_cap=True"):
        run_method("ed", W, _stats(X, Xq), q, scale_cap=True)
    # the static policy's scales come from the original weights: any cap leaves it GPFQ
    np.testing.assert_array_equal(
        run_method("ed", W, _stats(X, Xq), q, scale_policy="static", scale_cap=1.0),
        run_method("gpfq", W, _stats(X, Xq), q),
    )


@pytest.mark.parametrize("method", ["gpfq", "ed"])
@pytest.mark.parametrize("fmt", ["int4", "mxfp4_e2m1"])
def test_dead_column_takes_its_rounded_weight(method: str, fmt: str) -> None:
    # diag(H) of column 40 is about 1e-6 of the mean: below dead = 1e-3 it is treated as dead,
    # its target is w_40 itself, so its value is round to nearest on the static scale
    W, X, Xq = _weak_column_problem(2)
    q = weight_quantizer(fmt)
    st = _stats(X, Xq)
    opts = {"scale_policy": "static"} if method == "ed" else {}
    rtn40 = run_method("rtn", W, None, q)[:, 40]
    np.testing.assert_array_equal(run_method(method, W, st, q, dead=1e-3, **opts)[:, 40], rtn40)
    assert not np.array_equal(run_method(method, W, st, q, **opts)[:, 40], rtn40)
    # a threshold below every column's diag(H) / mean changes nothing
    np.testing.assert_array_equal(
        run_method(method, W, st, q, dead=1e-9, **opts), run_method(method, W, st, q, **opts)
    )
    # an all-zero input column is dead at any threshold (as published: target w_t)
    X0, Xq0 = X.copy(), Xq.copy()
    X0[:, 40] = 0.0
    Xq0[:, 40] = 0.0
    np.testing.assert_array_equal(run_method(method, W, _stats(X0, Xq0), q, **opts)[:, 40], rtn40)
    with pytest.raises(ValueError, match=r"dead=1.5: expected a number in \[0.0, 1.0\]"):
        run_method(method, W, st, q, dead=1.5)


def test_axe_on_gpfq_passes_dead_on() -> None:
    # AXE's clamp keeps every value inside the accumulator bound; the dead column's target is
    # w_40 either way, so with a generous accumulator its value is RTN's, and not without dead
    W, X, Xq = _weak_column_problem(2)
    q = weight_quantizer("int4")
    st = _stats(X, Xq)
    opts = {"base": "gpfq", "accumulator_bits": 32}
    rtn40 = run_method("rtn", W, None, q)[:, 40]
    np.testing.assert_array_equal(run_method("axe", W, st, q, dead=1e-3, **opts)[:, 40], rtn40)
    assert not np.array_equal(run_method("axe", W, st, q, **opts)[:, 40], rtn40)


def test_ed_data_free_carries_the_error_along_the_row() -> None:
    W, _, _ = _problem(3, d_in=64)
    q = weight_quantizer(
        "int4", scale="pow2"
    )  # one scale per row: the carry never meets a new scale
    Q = run_method("ed", W, None, q, data_free=True, scale_policy="static")
    step = q.fit(W).step[:, 0]
    # every prefix sum of Q stays within half a step of W's (Floyd-Steinberg with one neighbour)
    drift = np.abs(np.cumsum(W - Q, axis=1))
    assert np.all(drift <= step[:, None] / 2 + 1e-12)
    assert not np.array_equal(Q, q.quantize(W))


# ---------------------------------------------------------------------------------------------
# GPTQ
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["int4", "mxint8", "mxfp4_e2m1"])
@pytest.mark.parametrize("seed", [0, 1])
def test_gptq_equals_explicit_obq_elimination(fmt: str, seed: int) -> None:
    W, X, Xq = _problem(seed)
    q = weight_quantizer(fmt)
    groups = q.groups(W.shape[1])
    states = [q.fit(W[:, g]) for g in groups]
    H = Xq.T @ Xq
    expected = R.obq_gptq(W, H, q, states, groups, damp=0.01)
    for bs in (128, 7):  # lazy batches of any size give the same result
        got = run_method("gptq", W, _stats(X, Xq), q, scale_policy="static", block_size=bs)
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("fmt", [*BLOCKS, "int4", "fp8_e4m3"], ids=str)
@pytest.mark.parametrize("policy", ["static", "lazy", "dynamic"])
def test_gptq_with_scaled_identity_hessian_is_rtn(fmt: Any, policy: str) -> None:
    rng = np.random.default_rng(1)
    W = rng.standard_normal((6, 70)) * np.exp2(rng.integers(-3, 3, (6, 70)))
    st = LayerStats(3.0 * np.eye(70), None, 10)
    q = weight_quantizer(fmt)
    expected = run_method("rtn", W, None, q)
    np.testing.assert_array_equal(run_method("gptq", W, st, q, scale_policy=policy), expected)
    if policy == "static":
        np.testing.assert_array_equal(
            run_method("gptq", W, st, q, scale_policy=policy, act_order=True), expected
        )


@pytest.mark.parametrize("fmt", ["mxfp4_e2m1", "mx6", "int4", "nvfp4"])
@pytest.mark.parametrize("policy", ["static", "lazy", "dynamic"])
def test_gptq_columns_end_on_the_grid(fmt: str, policy: str) -> None:
    W, _, Xq = _problem(2, d_in=40)
    q = weight_quantizer(fmt).for_tensor(W)
    Q, work = M._gptq(W, Xq.T @ Xq, q, 0.01, True, 16, policy)
    if policy != "dynamic":
        np.testing.assert_array_equal(work, Q)  # each processed working column holds its value
    exported = q.export(Q)
    if q.is_block:
        np.testing.assert_array_equal(decode_block(exported, np.float64), Q)
    else:
        codes, scales = exported
        np.testing.assert_array_equal(
            np.asarray(numsim.decode(codes, "int4"), np.float64) * scales, Q
        )


def _scale_policy_problem(case: str) -> tuple[np.ndarray, LayerStats]:
    """Two MXINT8 blocks (scale 2**(floor(log2 amax))) on correlated inputs.

    ``"far"``: every block amax is 1.5, far from a power of two, other weights below 0.5.
    ``"before"``: block 1 holds +-0.999 (scale 2**-1) and block 0's rounding errors push it past 1
    before its first column is reached. ``"inside"``: block 0 is zero (no error reaches block 1),
    so block 1 starts below 1 and its own rounding errors push later columns past 1.
    """
    rng = np.random.default_rng(5)
    X = rng.standard_normal((400, 64)) + rng.standard_normal((400, 1))
    W = rng.uniform(-0.5, 0.5, (4, 64))
    W[:, 0] = W[:, 32] = 1.5
    if case != "far":
        W[:, 32:] = np.where(W[:, 32:] >= 0, 0.999, -0.999)
    if case == "before":
        W[:, 0] = 1.5 + 1 / 256  # a tie in block 0: its error feeds block 1
    if case == "inside":
        W[:, :32] = 0.0
    return W, LayerStats(X.T @ X, None, 400)


def _policies(case: str) -> dict[str, np.ndarray]:
    W, st = _scale_policy_problem(case)
    q = weight_quantizer("mxint8")
    return {p: run_method("gptq", W, st, q, scale_policy=p) for p in ("static", "lazy", "dynamic")}


def test_gptq_scale_policies_agree_without_power_of_two_crossing() -> None:
    got = _policies("far")
    np.testing.assert_array_equal(got["static"], got["lazy"])
    np.testing.assert_array_equal(got["static"], got["dynamic"])


def test_gptq_scale_policies_differ_when_an_amax_crosses_a_power_of_two() -> None:
    # block 1's scale from the original weights is 2**-1: its largest value is 127/64 * 2**-1
    W, _ = _scale_policy_problem("before")
    assert weight_quantizer("mxint8").fit(W[:, 32:]).step[0, 0] == 0.5
    top = {p: float(np.max(np.abs(v[:, 32:]))) for p, v in _policies("before").items()}
    assert top == {"static": 127 / 128, "lazy": top["lazy"], "dynamic": top["dynamic"]}
    assert top["lazy"] > 1.0 and top["dynamic"] > 1.0  # re-fitted at (or after) the group start
    got = _policies("inside")  # crossing after the group start: only dynamic re-fits
    np.testing.assert_array_equal(got["static"], got["lazy"])
    assert np.max(np.abs(got["lazy"][:, 32:])) == 127 / 128
    assert np.max(np.abs(got["dynamic"][:, 32:])) >= 1.0


# ---------------------------------------------------------------------------------------------
# QEP
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("base,opts", [("gptq", {}), ("gptq", {"act_order": True}), ("rtn", {})])
def test_qep_alpha_zero_and_matched_inputs_are_the_base(base: str, opts: dict[str, Any]) -> None:
    W, X, Xq = _problem(4)
    q = weight_quantizer("mxfp4_e2m1")
    st = _stats(X, Xq)
    expected = run_method(base, W, st, q, **opts)
    np.testing.assert_array_equal(
        run_method("qep", W, st, q, base=base, alpha=0.0, **opts), expected
    )
    matched = _stats(Xq, Xq)  # G = H: no propagated error
    base_m = run_method(base, W, matched, q, **opts)
    np.testing.assert_array_equal(
        run_method("qep", W, matched, q, base=base, alpha=1.0, **opts), base_m
    )


@pytest.mark.parametrize("base", ["rtn", "gptq"])
def test_qep_on_nvfp4_keeps_the_original_tensor_scale(base: str) -> None:
    """QEP moves the weights before its base quantizes them; NVFP4's FP32 tensor scale must still
    be the original weights' (quantize_model exports with it), so the result encodes exactly."""
    W, X, Xq = _problem(6, d_out=6, d_in=32)
    W[0, 0] = 8.0  # the amax: moved weights would take another tensor scale
    q = weight_quantizer("nvfp4")
    Q = run_method("qep", W, _stats(X, Xq), q, base=base, alpha=1.0)
    ba = q.for_tensor(W).export(Q)
    assert float(ba.tensor_scale) == float(numsim.nvfp4_tensor_scale(8.0))
    np.testing.assert_array_equal(np.asarray(numsim.decode(ba), np.float64), Q)
    # a quantizer already bound to a tensor keeps its statistic: RTN of W / 2 on W's tensor scale
    want = numsim.quantize(0.5 * W, "nvfp4", axis=1, tensor_amax=8.0)
    np.testing.assert_array_equal(run_method("rtn", 0.5 * W, None, q.for_tensor(W)), want)


def test_qep_target_is_least_squares_and_pythagoras_holds() -> None:
    W, X, Xq = _problem(5, n=300)
    st = _stats(X, Xq)
    target = M.qep_target(W, st, alpha=1.0, damp=0.0)
    lstsq = np.linalg.lstsq(Xq, X @ W.T, rcond=None)[0].T  # argmin ||X W^T - X~ V^T||
    np.testing.assert_allclose(target, lstsq, rtol=1e-9, atol=1e-10)
    Q = run_method("qep", W, st, weight_quantizer("int4"), alpha=1.0, damp=0.0)
    lhs = np.linalg.norm(X @ W.T - Xq @ Q.T) ** 2
    rhs = np.linalg.norm(X @ W.T - Xq @ target.T) ** 2 + np.linalg.norm(Xq @ (target - Q).T) ** 2
    assert math.isclose(lhs, rhs, rel_tol=1e-9)


# ---------------------------------------------------------------------------------------------
# AXE
# ---------------------------------------------------------------------------------------------
def _datatype_bound(K: int, in_bits: int, w_bits: int, signed: bool) -> int:
    """A2Q's P* = ceil(alpha + log2(1 + 2**-alpha) + 1), alpha = log2 K + N + M - 1 - [signed]."""
    alpha = math.log2(K) + in_bits + w_bits - 1 - int(signed)
    return math.ceil(alpha + math.log2(1 + 2.0**-alpha) + 1)


def _adversarial(Qint: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Per row: x_max where q > 0 and x_min where q < 0, and the reverse (rows of the input)."""
    up = np.where(Qint > 0, hi, np.where(Qint < 0, lo, 0))
    down = np.where(Qint > 0, lo, np.where(Qint < 0, hi, 0))
    return np.concatenate([up, down]).astype(np.float32)


def _overflows(Qint: np.ndarray, bits: int, tile: int) -> int:
    """Overflows of the P-bit wrap-around register, adversarial int8 inputs, one register per
    tile."""
    unit = numsim.datapath.get(f"int8-acc{bits}")
    total = 0
    for a in range(0, Qint.shape[1], tile):
        cols = slice(a, a + tile)
        A = _adversarial(Qint[:, cols], -128, 127)
        _, over = numsim.datapath.matmul(
            A, Qint[:, cols].T.astype(np.float32), unit, return_overflows=True
        )
        total += int(np.sum(over))
    return total


@pytest.mark.parametrize("base", ["gptq", "gpfq"])
@pytest.mark.parametrize(
    "fmt,tile,wbits", [("int4", None, 4), ("int4", 16, 4), ("mxint8", None, 8)]
)
def test_axe_keeps_every_tile_inside_the_accumulator(
    base: str, fmt: str, tile: int | None, wbits: int
) -> None:
    W, X, Xq = _problem(6, d_out=6, d_in=64, n=300)
    st = _stats(X, Xq)
    q = weight_quantizer(fmt)
    T = tile or (64 if fmt == "int4" else 32)  # MXINT8: one accumulator per block
    P = _datatype_bound(T, 8, wbits, True) - 4
    Q = run_method("axe", W, st, q, base=base, accumulator_bits=P, tile=tile)
    # scales fixed from the original weights: integer step per row and group
    step = np.concatenate(
        [
            np.repeat(q.integer_scale(q.fit(W[:, g]))[:, None], g.stop - g.start, axis=1)
            for g in q.groups(64)
        ],
        axis=1,
    )
    Qint = Q / step
    np.testing.assert_array_equal(Qint, np.rint(Qint))
    assert np.max(np.abs(Qint)) <= 127  # int8 operands of the integer unit
    A = 2 ** (P - 1) - 1
    hi, lo = R.axe_sums(Qint, T, -128, 127)
    assert all(v <= A for v in hi.ravel()) and all(v >= -A for v in lo.ravel())
    assert _overflows(Qint, P, T) == 0
    # plain GPTQ at the same width overflows on the same adversarial inputs
    Qg = run_method("gptq", W, st, q, scale_policy="static")
    assert _overflows(np.rint(Qg / step), P, T) > 0


def test_axe_above_the_datatype_bound_is_its_base() -> None:
    W, X, Xq = _problem(7, d_in=32)
    st = _stats(X, Xq)
    q = weight_quantizer("int4")
    P = _datatype_bound(32, 8, 4, True)
    np.testing.assert_array_equal(
        run_method("axe", W, st, q, accumulator_bits=P),
        run_method("gptq", W, st, q, scale_policy="static"),
    )
    np.testing.assert_array_equal(
        run_method("axe", W, st, q, base="gpfq", accumulator_bits=P), run_method("gpfq", W, st, q)
    )


def test_l1_threshold_against_the_loop() -> None:
    rng = np.random.default_rng(8)
    a = np.abs(rng.standard_normal((20, 16))) * 3
    for radius in (0.5, 5.0, 40.0, 1000.0):
        got = M.l1_threshold(a, radius)
        expected = [R.l1_threshold_loop(row, radius) for row in a]
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_axe_groupwise_tile_must_be_the_group() -> None:
    W, X, Xq = _problem(9, d_in=64)
    with pytest.raises(ValueError, match="tile=16"):
        run_method(
            "axe", W, _stats(X, Xq), weight_quantizer("mxint8"), accumulator_bits=16, tile=16
        )


# ---------------------------------------------------------------------------------------------
# Act-order (GPFQ, ED)
# ---------------------------------------------------------------------------------------------
def _outlier_problem(seed: int, d_in: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(W, X, X~)`` with two outlier inputs (20x and 8x) in the middle of the row, each
    followed by a weak column correlated with it (the MiniLM FFN-output pattern)."""
    W, X, Xq = _problem(seed, d_out=6, d_in=d_in, n=300)
    rng = np.random.default_rng(seed + 100)
    for c, k in ((20, 20.0), (41, 8.0)):
        X[:, c] *= k
        X[:, c + 1] = 0.05 * X[:, c] + 0.2 * X[:, c + 1]
    Xq = X + 0.1 * rng.standard_normal(X.shape)
    return W, X, Xq


def _gpfq_residual_in_order(
    W: np.ndarray, X: np.ndarray, Xq: np.ndarray, q: Any, order: list[int]
) -> np.ndarray:
    """GPFQ's residual form visiting the columns in ``order``, each rounded on the scale fitted
    to its ORIGINAL group of ``W`` (independent of the Gram-form code)."""
    groups = q.groups(W.shape[1])
    states = [q.fit(W[:, g]) for g in groups]
    where = {t: (k, t - g.start) for k, g in enumerate(groups) for t in range(g.start, g.stop)}
    Q = np.zeros_like(W)
    for r in range(W.shape[0]):
        u = np.zeros(X.shape[0])
        for t in order:
            nrm = float(Xq[:, t] @ Xq[:, t])
            arg = float(Xq[:, t] @ (u + W[r, t] * X[:, t])) / nrm if nrm > 0 else W[r, t]
            v = np.zeros(W.shape[0])
            v[r] = arg
            k, j = where[t]
            Q[r, t] = q.round(v, states[k], j)[r]
            u = u + W[r, t] * X[:, t] - Q[r, t] * Xq[:, t]
    return Q


@pytest.mark.parametrize("fmt", ["int4", "mxfp4_e2m1", "mx6", "nvfp4"])
def test_act_order_on_a_decreasing_diagonal_is_natural_order_bit_for_bit(fmt: str) -> None:
    W, X, Xq = _problem(12, d_out=6, d_in=96, n=300)
    by_energy = np.argsort(-np.sum(Xq * Xq, axis=0), kind="stable")
    X, Xq = X[:, by_energy], Xq[:, by_energy]  # diag(H) now non-increasing
    st, q = _stats(X, Xq), weight_quantizer(fmt)
    assert np.all(np.diff(np.diag(st.H)) <= 0)
    natural = run_method("gpfq", W, st, q)
    np.testing.assert_array_equal(run_method("gpfq", W, st, q, act_order=True), natural)
    np.testing.assert_array_equal(
        run_method("ed", W, st, q, scale_policy="static", act_order=True), natural
    )


@pytest.mark.parametrize("fmt", ["int4", "mxfp4_e2m1", "mx6"])
@pytest.mark.parametrize("seed", [0, 1])
def test_act_order_equals_the_residual_form_in_decreasing_energy_order(fmt: str, seed: int) -> None:
    W, X, Xq = _outlier_problem(seed)
    st, q = _stats(X, Xq), weight_quantizer(fmt)
    energy = [float(Xq[:, t] @ Xq[:, t]) for t in range(W.shape[1])]
    order = sorted(range(W.shape[1]), key=lambda t: -energy[t])  # Python's sort is stable
    assert order[:2] == [20, 41]
    expected = _gpfq_residual_in_order(W, X, Xq, q, order)
    got = run_method("gpfq", W, st, q, act_order=True)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(
        run_method("ed", W, st, q, scale_policy="static", act_order=True), expected
    )
    # the order matters here: natural order is the residual form in natural order, and differs
    natural = run_method("gpfq", W, st, q)
    np.testing.assert_array_equal(
        natural, _gpfq_residual_in_order(W, X, Xq, q, list(range(W.shape[1])))
    )
    assert not np.array_equal(got, natural)


def test_act_order_moves_the_weak_column_after_an_outlier_less() -> None:
    """Natural order hands the outlier's rounding error to the weak correlated column after it;
    act-order rounds the weak column last, on its own target."""
    W, X, Xq = _outlier_problem(3)
    st, q = _stats(X, Xq), weight_quantizer("int4")
    nat = run_method("gpfq", W, st, q)
    act = run_method("gpfq", W, st, q, act_order=True)
    change = np.linalg.norm(nat[:, 21] - W[:, 21]), np.linalg.norm(act[:, 21] - W[:, 21])
    assert change[1] < change[0]


def test_act_order_permutation_round_trips() -> None:
    d = np.array([3.0, 7.0, 3.0, 0.0, 9.0, 7.0])
    perm = M.act_order_permutation(np.diag(d))
    assert perm.tolist() == [4, 1, 5, 0, 2, 3]  # decreasing, ties in original order
    np.testing.assert_array_equal(np.arange(6)[perm][np.argsort(perm)], np.arange(6))
    # one group per row (int4 per channel): relabelling the inputs relabels the result exactly
    W, X, Xq = _outlier_problem(4)
    sigma = np.random.default_rng(5).permutation(64)
    q = weight_quantizer("int4")
    Q = run_method("gpfq", W, _stats(X, Xq), q, act_order=True)
    Qs = run_method("gpfq", W[:, sigma], _stats(X[:, sigma], Xq[:, sigma]), q, act_order=True)
    np.testing.assert_array_equal(Qs, Q[:, sigma])


def test_act_order_options_are_validated() -> None:
    W, X, Xq = _outlier_problem(6)
    st, q = _stats(X, Xq), weight_quantizer("mxfp4_e2m1")
    with pytest.raises(TypeError, match="act_order='yes'"):
        run_method("gpfq", W, st, q, act_order="yes")
    with pytest.raises(TypeError, match="act_order=1"):
        run_method("ed", W, st, q, scale_policy="static", act_order=1)
    for policy in ("provisional", "dynamic"):
        with pytest.raises(ValueError, match=f"scale_policy='{policy}'.*expected 'static'"):
            run_method("ed", W, st, q, scale_policy=policy, act_order=True)
    with pytest.raises(ValueError, match="act_order=True.*data_free"):
        run_method("ed", W, None, q, scale_policy="static", data_free=True, act_order=True)


def test_axe_on_gpfq_passes_act_order_on_and_keeps_its_bound() -> None:
    W, X, Xq = _outlier_problem(7)
    st, q = _stats(X, Xq), weight_quantizer("int4")
    P = _datatype_bound(64, 8, 4, True) - 4
    free = run_method("axe", W, st, q, base="gpfq", accumulator_bits=60, act_order=True)
    np.testing.assert_array_equal(free, run_method("gpfq", W, st, q, act_order=True))
    Q = run_method("axe", W, st, q, base="gpfq", accumulator_bits=P, act_order=True)
    Qint = Q / q.integer_scale(q.fit(W))[:, None]
    hi, lo = R.axe_sums(Qint, 64, -128, 127)
    A = 2 ** (P - 1) - 1
    assert all(v <= A for v in hi.ravel()) and all(v >= -A for v in lo.ravel())


def test_quantize_model_hands_act_order_to_the_method(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    import dataclasses

    from numsim import ptq

    seen: list[dict[str, Any]] = []
    gpfq = M.METHODS["gpfq"]

    def recording(W: Any, stats: Any, q: Any, **options: Any) -> np.ndarray:
        seen.append(options)
        return gpfq.fn(W, stats, q, **options)

    monkeypatch.setitem(M.METHODS, "gpfq", dataclasses.replace(gpfq, fn=recording))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    cal = [torch.randn(32, 16)]
    ptq.quantize_model(model, cal, weight_format="int4", method="gpfq", act_order=True)
    assert seen == [{"act_order": True}] * 2
    with pytest.raises(ValueError, match="act_order=True"):
        ptq.quantize_model(model, cal, weight_format="int4", method="ed", act_order=True)


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------
def test_method_registry_and_option_errors() -> None:
    W, X, Xq = _problem(10)
    st, q = _stats(X, Xq), weight_quantizer("int4")
    assert set(M.METHODS) == {"rtn", "ed", "gpfq", "gptq", "qep", "axe"}
    assert [m for m in M.METHODS if M.METHODS[m].needs_g] == ["ed", "gpfq", "qep", "axe"]
    assert not M.METHODS["axe"].needs_g_for(base="gptq")
    with pytest.raises(KeyError, match="gptq"):
        run_method("gptqq", W, st, q)
    with pytest.raises(TypeError, match="blocksize.*block_size"):
        run_method("gptq", W, st, q, blocksize=64)
    with pytest.raises(TypeError, match="accumulator_bits"):
        run_method("axe", W, st, q)
    with pytest.raises(ValueError, match="scale_policy='lazy'"):
        run_method("ed", W, st, q, scale_policy="lazy")
    with pytest.raises(ValueError, match="scale_policy='provisional'"):
        run_method("gptq", W, st, q, scale_policy="provisional")
    with pytest.raises(ValueError, match="damp=-1"):
        run_method("gptq", W, st, q, damp=-1)
    with pytest.raises(ValueError, match="alpha=2"):
        run_method("qep", W, st, q, alpha=2)
    with pytest.raises(ValueError, match="base='gpfq'"):
        run_method("qep", W, st, q, base="gpfq")
    with pytest.raises(TypeError, match="qep"):
        run_method("qep", W, st, q, act_orde=True)
    with pytest.raises(ValueError, match="accumulator_bits=2"):
        run_method("axe", W, st, q, accumulator_bits=2)
    with pytest.raises(TypeError, match="WeightQuantizer"):
        run_method("gptq", W, st, "int4")


def test_bad_weights_and_shapes() -> None:
    W, X, Xq = _problem(11)
    st, q = _stats(X, Xq), weight_quantizer("int4")
    bad = W.copy()
    bad[0, 0] = np.nan
    for name in M.METHODS:
        opts = {"accumulator_bits": 16} if name == "axe" else {}
        with pytest.raises(ValueError, match="NaN"):
            run_method(name, bad, st, q, **opts)
    with pytest.raises(ValueError, match=r"stats.H: shape \(48, 48\), expected \(47, 47\)"):
        run_method("gptq", W[:, :47], st, q)
    with pytest.raises(ValueError, match="stats.G is None"):
        run_method("gpfq", W, LayerStats(st.H, None, 1), q)
    with pytest.raises(ValueError, match="2-D"):
        run_method("gptq", W[0], st, q)
    with pytest.raises(ValueError, match="needs LayerStats"):
        run_method("gptq", W, None, q)
