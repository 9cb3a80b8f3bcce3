"""The prefix cache (``quantize_model(prefix_cache=True)``, the default) reuses the outputs of the
quantized copy's submodules that ran before the group being calibrated: the quantized weights,
codes and reported errors are identical to re-running every group's forward from the model's
inputs (``prefix_cache=False``, the reference path), the cache is really used (fewer calls of
the modules upstream), in-place operations on a kept output and submodules called twice per
forward do not leak into later forwards, and the returned model carries no wrapper."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ptq = pytest.importorskip("numsim.ptq")
from numsim.block import BlockArray
from numsim.ptq import models


def _same_codes(a: object, b: object) -> bool:
    if isinstance(a, BlockArray):
        assert isinstance(b, BlockArray)
        return all(
            np.array_equal(x, y) if x is not None else y is None
            for x, y in ((a.codes, b.codes), (a.scales, b.scales), (a.micro, b.micro))
        )
    return all(np.array_equal(x, y) for x, y in zip(a, b))  # type: ignore[call-overload]


def _same_results(model, cal, **kw):  # type: ignore[no-untyped-def]
    """Quantize with and without the cache; assert identical results; return both models."""
    q0, r0 = ptq.quantize_model(model, cal, prefix_cache=False, **kw)
    q1, r1 = ptq.quantize_model(model, cal, **kw)
    s0, s1 = q0.state_dict(), q1.state_dict()
    assert s0.keys() == s1.keys() and all(torch.equal(s0[k], s1[k]) for k in s0)
    assert [r.rel_error for r in r0.layers] == [r.rel_error for r in r1.layers]
    assert r0.codes.keys() == r1.codes.keys()
    assert all(_same_codes(r0.codes[n], r1.codes[n]) for n in r0.codes)
    # the weights did change, so the comparison can fail
    assert any(not torch.equal(s0[k], v) for k, v in model.state_dict().items())
    for q in (q0, q1):  # no wrapper left on a module that is not a quantized layer
        quantized = set(r0.codes)
        assert all("forward" not in vars(m) for n, m in q.named_modules() if n not in quantized)
    return q0, q1


class _Counting(torch.nn.Module):
    """Identity that counts its calls (a class attribute survives ``deepcopy``)."""

    calls = 0

    def forward(self, x):  # type: ignore[no-untyped-def]
        type(self).calls += 1
        return x


class _Block(torch.nn.Module):
    """A residual block that adds to its LayerNorm's output IN PLACE (as ResNets add to a
    normalization's output) and uses one activation module twice."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = torch.nn.LayerNorm(16)
        self.fc1 = torch.nn.Linear(16, 32)
        self.fc2 = torch.nn.Linear(32, 16)
        self.act = torch.nn.Tanh()

    def forward(self, x):  # type: ignore[no-untyped-def]
        out = self.norm(x)
        out += self.act(self.fc2(self.act(self.fc1(out))))
        return out


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.count = _Counting()
        self.inp = torch.nn.Linear(8, 16)
        self.blocks = torch.nn.Sequential(_Block(), _Block(), _Block())
        self.final = torch.nn.LayerNorm(16)
        self.head = torch.nn.Linear(16, 4)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.head(self.final(self.blocks(self.inp(self.count(x)))))


@pytest.mark.parametrize("method", ["rtn", "gptq", "ed"])
def test_toy_net_identical_and_cache_used(method: str) -> None:
    torch.manual_seed(0)
    net = _Net().eval()
    cal = [torch.randn(24, 8) for _ in range(3)]
    _Counting.calls = 0
    ptq.quantize_model(net, cal, weight_format="mxfp4_e2m1", method=method, prefix_cache=False)
    without = _Counting.calls
    _Counting.calls = 0
    ptq.quantize_model(net, cal, weight_format="mxfp4_e2m1", method=method)
    with_cache = _Counting.calls
    # 8 groups: without the cache every group's forward calls the first module once per batch;
    # with it only the first group's forward does, and one more forward of the first batch
    # counts the calls of every module
    assert without - with_cache == 3 * 7 - 1
    _same_results(net, cal, weight_format="mxfp4_e2m1", method=method)


def test_toy_net_with_element_format_and_input_quantizer() -> None:
    torch.manual_seed(1)
    net = _Net().eval()
    cal = [torch.randn(16, 8) for _ in range(2)]
    _same_results(
        net, cal, weight_format="int4", granularity="channel", method="gptq", input_format="int8"
    )


def test_bad_prefix_cache_is_refused() -> None:
    net = _Net().eval()
    with pytest.raises(TypeError, match="prefix_cache=1"):
        ptq.quantize_model(net, [torch.randn(2, 8)], weight_format="int8", prefix_cache=1)


@pytest.fixture(scope="module")
def minilm():  # type: ignore[no-untyped-def]
    return models.get("minilm")


@pytest.mark.parametrize("method", ["rtn", "gptq"])
def test_minilm_identical_with_and_without_the_cache(minilm, method: str) -> None:  # type: ignore[no-untyped-def]
    q0, q1 = _same_results(
        minilm.model,
        minilm.calibration(20, 0),  # two batches (16 + 4 sentences)
        weight_format="mxfp4_e2m1",
        method=method,
        include=["encoder.layer.0.*", "encoder.layer.1.*"],
    )
    cal = minilm.calibration(3, 1)
    out0 = models.sentence_embeddings(q0, cal[0])
    out1 = models.sentence_embeddings(q1, cal[0])
    assert torch.equal(out0, out1)


def test_digits_identical_with_and_without_the_cache() -> None:
    digits = models.get("digits-cnn")
    _same_results(digits.model, digits.calibration(96, 0), weight_format="nvfp4", method="gptq")


class _InPlaceHead(torch.nn.Module):
    """``fc`` reads the block's normalized input, which is then changed IN PLACE and read again
    by ``head``: one tensor object, two different values."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = torch.nn.LayerNorm(8)
        self.fc = torch.nn.Linear(8, 8)
        self.head = torch.nn.Linear(8, 3)

    def forward(self, x):  # type: ignore[no-untyped-def]
        out = self.norm(x)
        out += torch.tanh(self.fc(out))
        return self.head(out)


def test_in_place_change_between_two_readers_splits_the_group() -> None:
    from numsim.ptq import graph

    torch.manual_seed(2)
    net = _InPlaceHead().eval()
    batch = torch.randn(5, 8)
    names = {net.fc: "fc", net.head: "head"}
    layers, _ = graph.record_order(torch, net, batch, names)
    assert [(lay.name, lay.group) for lay in layers] == [("fc", 0), ("head", 1)]
    # the rows handed to head are its input when it is called (read by a plain forward hook)
    seen = {}
    h = net.head.register_forward_hook(lambda m, a, o: seen.update(x=a[0].detach().clone()))
    got: list = []
    graph.capture(torch, net, [batch], {"fc": net.fc, "head": net.head}, False, got.append)
    h.remove()
    np.testing.assert_array_equal(got[0]["head"], seen["x"].double().numpy())
    assert not np.array_equal(got[0]["head"], got[0]["fc"])
