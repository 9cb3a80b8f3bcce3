"""The float-path inputs kept from one float forward per batch equal those of the per-group float
forwards (the reference path, kept here and behind ``float_input_cache=0``), and the quantized
weights and reported errors do not change with the cache."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ptq = pytest.importorskip("numsim.ptq")
from numsim.ptq import api as ptq_api
from numsim.ptq import graph, models


def _reference_inputs(model, batches, names):  # type: ignore[no-untyped-def]
    """Per group, the float model re-run up to the group (``stop``) as before the cache: group ->
    per batch {name: float64 rows without padding}."""
    mods = dict(model.named_modules())
    layers, repeated = graph.record_order(torch, model, batches[0], {mods[n]: n for n in names})
    out = {}
    for g in sorted({lay.group for lay in layers}):
        group = {lay.name: mods[lay.name] for lay in layers if lay.group == g}
        xs: list[dict[str, np.ndarray]] = []
        graph.capture(torch, model, batches, group, not repeated, xs.append)
        masks = [ptq_api._token_mask(torch, b) for b in batches]
        out[g] = [{n: ptq_api._real_rows(x[n], m) for n in group} for x, m in zip(xs, masks)]
    return out


def _check_captured_equals_reference(model, batches, names) -> int:  # type: ignore[no-untyped-def]
    mods = dict(model.named_modules())
    cached = ptq_api._float_inputs(torch, model, batches, {n: mods[n] for n in names}, 2**40)
    assert cached is not None and len(cached) == len(batches)
    ref = _reference_inputs(model, batches, names)
    checked = 0
    for per_batch in ref.values():
        for b, x in enumerate(per_batch):
            for n, want in x.items():
                got = cached[b][n]
                assert got.dtype == np.float32  # kept compactly: the model computes in float32
                assert want.dtype == np.float64 and got.shape == want.shape
                np.testing.assert_array_equal(got.astype(np.float64), want)
                checked += 1
    return checked


def _same_results(model, cal, **kw) -> None:  # type: ignore[no-untyped-def]
    q0, r0 = ptq.quantize_model(model, cal, float_input_cache=0, **kw)
    q1, r1 = ptq.quantize_model(model, cal, **kw)
    with pytest.warns(ResourceWarning, match="float_input_cache=1 bytes"):
        q2, r2 = ptq.quantize_model(model, cal, float_input_cache=1, **kw)
    s0, s1, s2 = q0.state_dict(), q1.state_dict(), q2.state_dict()
    assert all(torch.equal(s0[k], s1[k]) and torch.equal(s0[k], s2[k]) for k in s0)
    assert [r.rel_error for r in r0.layers] == [r.rel_error for r in r1.layers]
    assert [r.rel_error for r in r0.layers] == [r.rel_error for r in r2.layers]
    assert any(not torch.equal(s0[k], v) for k, v in model.state_dict().items())


@pytest.fixture(scope="module")
def digits():  # type: ignore[no-untyped-def]
    return models.get("digits-cnn")


@pytest.fixture(scope="module")
def minilm():  # type: ignore[no-untyped-def]
    return models.get("minilm")


def test_digits_captured_inputs_equal_the_per_group_forwards(digits) -> None:  # type: ignore[no-untyped-def]
    cal = digits.calibration(24, 0)
    names = [n for n, m in digits.model.named_modules() if graph.is_quantizable(torch, m)]
    assert _check_captured_equals_reference(digits.model, cal, names) == len(names) * len(cal)


@pytest.mark.parametrize("method", ["gptq", "ed"])
def test_digits_weights_unchanged_by_the_cache(digits, method: str) -> None:  # type: ignore[no-untyped-def]
    _same_results(
        digits.model, digits.calibration(24, 0), weight_format="mxfp4_e2m1", method=method
    )


def test_minilm_captured_inputs_equal_the_per_group_forwards(minilm) -> None:  # type: ignore[no-untyped-def]
    cal = minilm.calibration(2, 0)
    names = [n for n, m in minilm.model.named_modules() if isinstance(m, torch.nn.Linear)]
    # padding is left out: two sentences of different length in one batch
    assert any(
        ptq_api._token_mask(torch, b) is not None and not ptq_api._token_mask(torch, b).all()
        for b in cal
    )
    assert _check_captured_equals_reference(minilm.model, cal, names) == len(names) * len(cal)


def test_minilm_shared_group_input_is_one_array(minilm) -> None:  # type: ignore[no-untyped-def]
    cal = minilm.calibration(2, 0)
    mods = dict(minilm.model.named_modules())
    p = "encoder.layer.0.attention."
    names = [p + "self.query", p + "self.key", p + "self.value", p + "output.dense"]
    cached = ptq_api._float_inputs(torch, minilm.model, cal, {n: mods[n] for n in names}, 2**40)
    x = cached[0]
    assert x[names[0]] is x[names[1]] is x[names[2]] and x[names[3]] is not x[names[0]]


@pytest.mark.parametrize("method", ["gptq", "ed"])
def test_minilm_weights_unchanged_by_the_cache(minilm, method: str) -> None:  # type: ignore[no-untyped-def]
    _same_results(
        minilm.model,
        minilm.calibration(2, 0),
        weight_format="mxfp4_e2m1",
        method=method,
        include=["encoder.layer.0.*", "encoder.layer.1.attention.*"],
    )


@pytest.mark.parametrize("bad", [-1, 1.5, True, "1e9"])
def test_bad_cache_limit_is_refused(bad) -> None:  # type: ignore[no-untyped-def]
    m = torch.nn.Sequential(torch.nn.Linear(4, 3)).eval()
    with pytest.raises(ValueError, match="float_input_cache="):
        ptq.quantize_model(m, [torch.randn(2, 4)], weight_format="int8", float_input_cache=bad)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ptq.quantize_model(m, [torch.randn(2, 4)], weight_format="int8")
