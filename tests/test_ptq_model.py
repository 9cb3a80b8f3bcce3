"""numsim.ptq, the model half: sequential calibration, the report, errors, real models, the CLI.

Expected values come from torch (convolution), numsim.decode of the exported codes, an explicit
numsim.datapath.emulate forward and numpy products on captured inputs, never from the code
under test.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import numsim

torch = pytest.importorskip("torch")
ptq = pytest.importorskip("numsim.ptq")
from numsim.ptq import api as ptq_api
from numsim.ptq import graph


class Tiny(torch.nn.Module):
    """Embedding -> LayerNorm -> q/k/v-style fan-out -> sum -> Linear; plus a Conv2d path."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(11, 40)
        self.norm = torch.nn.LayerNorm(40)
        self.q = torch.nn.Linear(40, 24)
        self.k = torch.nn.Linear(40, 24)
        self.out = torch.nn.Linear(24, 7)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.emb(ids)) * mask[..., None]
        return self.out(torch.relu(self.q(h) + self.k(h)))


def _tiny() -> tuple[Tiny, list[dict[str, torch.Tensor]]]:
    torch.manual_seed(0)
    m = Tiny().eval()
    g = torch.Generator().manual_seed(1)
    cal = [
        {"ids": torch.randint(0, 11, (3, 5), generator=g), "mask": torch.ones(3, 5)}
        for _ in range(2)
    ]
    return m, cal


def _cnn() -> torch.nn.Module:
    torch.manual_seed(2)
    return torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 5 * 5, 6),
    ).eval()


def _state(m: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in m.state_dict().items()}


def _same(m: torch.nn.Module, state: dict[str, torch.Tensor]) -> bool:
    now = m.state_dict()
    return all(torch.equal(now[k], v) for k, v in state.items()) and not any(
        "forward" in vars(x) or x._forward_pre_hooks or x._forward_hooks for x in m.modules()
    )


def test_report_layers_skipped_and_model_unchanged() -> None:
    m, cal = _tiny()
    before = _state(m)
    q, rep = ptq.quantize_model(m, cal, weight_format="mxfp4_e2m1")
    assert _same(m, before)
    assert [r.name for r in rep.layers] == ["q", "k", "out"]  # call order
    skipped = dict(rep.skipped)
    assert skipped["emb"].startswith("Embedding") and skipped["norm"].startswith("LayerNorm")
    assert all(
        r.method == "rtn" and r.shape == tuple(dict(q.named_modules())[r.name].weight.shape)
        for r in rep.layers
    )
    assert "q" in rep.table() and "left in float" in rep.table()
    assert not torch.equal(q.q.weight, m.q.weight) and torch.equal(q.emb.weight, m.emb.weight)


def test_groups_share_an_input() -> None:
    m, cal = _tiny()
    names = {mod: n for n, mod in m.named_modules() if isinstance(mod, torch.nn.Linear)}
    layers, repeated = graph.record_order(torch, m, cal[0], names)
    assert [(x.name, x.group) for x in layers] == [("q", 0), ("k", 0), ("out", 1)] and not repeated


def test_second_layer_statistics_mix_float_and_quantized_inputs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """H = X~^T X~ and G = X~^T X for layer 2, X~ computed from layer 1's decoded codes by torch."""
    torch.manual_seed(3)
    m = torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.ReLU(), torch.nn.Linear(6, 4)).eval()
    cal = [torch.randn(5, 8) for _ in range(2)]
    seen = {}
    real = ptq_api.run_method

    def spy(name, W, stats, quantizer, **kw):  # type: ignore[no-untyped-def]
        seen[W.shape] = stats
        return real(name, W, stats, quantizer, **kw)

    monkeypatch.setattr(ptq_api, "run_method", spy)
    _, rep = ptq.quantize_model(m, cal, weight_format="mxfp4_e2m1")
    q1 = torch.from_numpy(numsim.decode(rep.codes["0"]).astype(np.float32))
    with torch.no_grad():
        x = torch.cat([torch.relu(m[0](b)) for b in cal]).double().numpy()
        xq = (
            torch.cat([torch.relu(torch.nn.functional.linear(b, q1, m[0].bias)) for b in cal])
            .double()
            .numpy()
        )
    st = seen[(4, 6)]
    assert st.n == 10 and not np.array_equal(x, xq)
    np.testing.assert_allclose(st.H, xq.T @ xq, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(st.G, xq.T @ x, rtol=1e-12, atol=1e-12)


def test_include_exclude() -> None:
    m, cal = _tiny()
    _, rep = ptq.quantize_model(m, cal, weight_format="int4", include=["q", "k"], exclude="k")
    assert [r.name for r in rep.layers] == ["q"]
    skipped = dict(rep.skipped)
    assert "exclude" in skipped["k"] and "include" in skipped["out"]


def test_returned_weights_are_the_decoded_codes_and_blocks_pad() -> None:
    m, cal = _tiny()
    q, rep = ptq.quantize_model(m, cal, weight_format="mxfp4_e2m1")
    blk = rep.codes["q"]
    assert blk.codes.shape == (24, 2, 32)  # d_in = 40 padded to two blocks of 32
    np.testing.assert_array_equal(
        numsim.decode(blk).astype(np.float32), q.q.weight.detach().numpy()
    )
    assert all(r.exact for r in rep.layers)
    q2, rep2 = ptq.quantize_model(m, cal, weight_format="int4", scale="pow2")
    codes, scales = rep2.codes["out"]
    w = numsim.decode(codes, "int4").astype(np.float64) * np.asarray(scales)
    np.testing.assert_array_equal(w, q2.out.weight.detach().double().numpy())


def test_conv_im2col_order_matches_torch_conv() -> None:
    conv = torch.nn.Conv2d(3, 5, (3, 2), stride=(2, 1), padding=(1, 0), bias=False).double()
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64)
    rows = graph.rows(torch, conv, x)  # [n * L, C * kh * kw]
    y = rows @ conv.weight.detach().reshape(5, -1).numpy().T
    want = conv(x).detach().permute(0, 2, 3, 1).reshape(-1, 5).numpy()  # rows ordered (n, oh, ow)
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)


def test_relative_error_of_the_first_layer_from_captured_inputs() -> None:
    m = _cnn()
    cal = [torch.randn(4, 2, 5, 5) for _ in range(2)]
    _, rep = ptq.quantize_model(m, cal, weight_format="int4")
    X = np.concatenate([graph.rows(torch, m[0], x) for x in cal])  # first layer: X~ = X
    W = m[0].weight.detach().double().reshape(4, -1).numpy()
    Q = np.asarray(ptq.weight_quantizer("int4").quantize(W))
    want = np.linalg.norm(X @ W.T - X @ Q.T) / np.linalg.norm(X @ W.T)
    assert rep.layers[0].name == "0"
    assert abs(rep.layers[0].rel_error - want) <= 1e-9 * want


def test_datapath_in_the_loop_equals_an_explicit_emulate_forward() -> None:
    m = _cnn()
    cal = [torch.randn(3, 2, 5, 5) for _ in range(2)]
    unit = numsim.datapath.get("ocp-mx-exact")
    q, rep = ptq.quantize_model(
        m, cal, weight_format="mxfp4_e2m1", input_format="mxfp8_e4m3", datapath=unit
    )
    assert rep.datapath == "ocp-mx-exact"
    plain = _cnn()
    plain.load_state_dict(q.state_dict())
    x = torch.randn(2, 2, 5, 5)
    with torch.no_grad():
        got = q(x)
        with numsim.datapath.emulate(plain, unit, "mxfp8_e4m3", "mxfp4_e2m1", matmul_ops=False):
            want = plain(x)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_scaled_integer_datapath_equals_an_explicit_emulate_forward() -> None:
    """int4 per-channel pow2 weights, int8 per-tensor inputs: the unit sees integers, FP32
    epilogue."""
    m = _cnn()
    cal = [torch.randn(3, 2, 5, 5)]
    unit = numsim.datapath.DotUnit(
        "exact-fp16-in", numsim.formats.get("fp16"), 1 << 12, None, out_rounding="nearest_even"
    )
    q, _ = ptq.quantize_model(
        m, cal, weight_format="int4", scale="pow2", input_format="int8", datapath=unit
    )
    plain = _cnn()
    plain.load_state_dict(q.state_dict())
    x = torch.randn(2, 2, 5, 5)
    wscale = numsim.datapath.Scaling("channel", scale="pow2")
    with torch.no_grad():
        got = q(x)
        with numsim.datapath.emulate(
            plain,
            unit,
            "int8",
            "int4",
            matmul_ops=False,
            input_scaling="tensor",
            weight_scaling=wscale,
        ):
            want = plain(x)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_input_format_quantizes_layer_inputs() -> None:
    m = _cnn()
    cal = [torch.randn(3, 2, 5, 5)]
    q, rep = ptq.quantize_model(m, cal, weight_format="int4", input_format="int8")
    assert rep.input_format == "int8"
    x = torch.randn(2, 2, 5, 5)
    rows = graph.rows(torch, q[0], x).astype(np.float32)
    s = np.float32(np.abs(rows).max() / 127.0)  # per-tensor float scale
    xq = np.clip(np.rint(rows / np.float64(s)), -128, 127) * np.float64(s)
    w = q[0].weight.detach().reshape(4, -1).numpy()
    want = xq.astype(np.float32) @ w.T + q[0].bias.detach().numpy()
    with torch.no_grad():
        got = q[0](x).permute(0, 2, 3, 1).reshape(-1, 4).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "kind", ["datapath", "input_format", "datapath_dict_batch", "weights_only"]
)
def test_backward_through_the_returned_model_is_refused_or_real(kind: str) -> None:
    """An emulated product has no gradient: backward raises instead of leaving grads at None.
    Weights-only quantization leaves an ordinary torch model, whose gradients are torch's."""
    if kind == "datapath_dict_batch":
        m, cal = _tiny()
        kw = {"weight_format": "int4", "input_format": "fp8_e4m3", "datapath": "h100-e4m3"}
        x: object = cal[0]
    else:
        m = _cnn()
        cal = [torch.randn(3, 2, 5, 5)]
        x = torch.randn(2, 2, 5, 5)
        kw = {"weight_format": "int4"}
        if kind == "datapath":
            kw.update(input_format="fp8_e4m3", datapath="h100-e4m3")
        elif kind == "input_format":
            kw.update(input_format="int8")
    q, _ = ptq.quantize_model(m, cal, **kw)
    y = q(**x) if isinstance(x, dict) else q(x)
    if kind == "weights_only":
        y.square().sum().backward()
        plain = _cnn()
        plain.load_state_dict(q.state_dict())
        plain(x).square().sum().backward()  # the same weights, plain torch: the same gradients
        for a, b in zip(q.parameters(), plain.parameters()):
            assert a.grad is not None and torch.equal(a.grad, b.grad)
        return
    assert y.requires_grad
    with pytest.raises(RuntimeError, match="backward through an emulated product"):
        y.square().sum().backward()
    with torch.no_grad():  # inference: plain tensors, the same values
        z = q(**x) if isinstance(x, dict) else q(x)
    assert not z.requires_grad and torch.equal(z, y.detach())


@pytest.mark.parametrize(
    "case", ["wrong_shape", "empty", "nan_weight", "nan_data", "method", "format", "option"]
)
def test_errors_leave_the_model_unchanged(case: str) -> None:
    m = _cnn()
    cal = [torch.randn(3, 2, 5, 5)]
    kw: dict = {"weight_format": "int4"}
    if case == "wrong_shape":
        cal, err, match = [torch.randn(3, 2, 6, 6)], RuntimeError, "calibration batch 0"
    elif case == "empty":
        cal, err, match = [], ValueError, "calibration: empty"
    elif case == "nan_weight":
        with torch.no_grad():
            m[3].weight[0, 0] = float("nan")
        err, match = ValueError, "layer '3': weight holds NaN"
    elif case == "nan_data":
        cal[0][0, 0, 0, 0] = float("nan")
        err, match = ValueError, "calibration batch 0 holds NaN"
    elif case == "method":
        kw["method"], err, match = "rtm", KeyError, "rtm"
    elif case == "format":
        kw["weight_format"], err, match = "int44", KeyError, "int44"
    else:
        kw["damp"], err, match = 0.1, TypeError, "rtn"
    before = _state(m)
    with pytest.raises(err, match=match):
        ptq.quantize_model(m, cal, **kw)
    assert all(
        torch.equal(before[k], v) or (torch.isnan(v).any() and case == "nan_weight")
        for k, v in m.state_dict().items()
    )
    assert _same(m, {k: v for k, v in before.items() if not torch.isnan(v).any()})


def test_error_midway_leaves_the_model_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    m, cal = _tiny()
    before = _state(m)
    calls = []
    real = ptq_api.run_method

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args[0])
        if len(calls) == 2:
            raise RuntimeError("boom in layer 2")
        return real(*args, **kwargs)

    monkeypatch.setattr(ptq_api, "run_method", flaky)
    with pytest.raises(RuntimeError, match="boom"):
        ptq.quantize_model(m, cal, weight_format="mxfp4_e2m1")
    assert len(calls) == 2 and _same(m, before)


def test_import_without_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in sys.modules if k == "numsim.ptq" or k.startswith("numsim.ptq.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"numsim\[torch\]"):
        import numsim.ptq  # noqa: F401


def test_digits_cnn_trains_once_and_quantizes(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from numsim.ptq import models

    monkeypatch.setenv("NUMSIM_CACHE", str(tmp_path))
    spec = models.get("digits-cnn")
    cached = list(tmp_path.glob("digits-cnn-*.pt"))
    assert len(cached) == 1
    again = models.get("digits-cnn")  # loaded from the cache: identical weights
    assert all(
        torch.equal(a, b)
        for a, b in zip(spec.model.state_dict().values(), again.model.state_dict().values())
    )
    base = spec.evaluate(spec.model)
    assert base["accuracy"] > 0.9 and base["rel_logit_error"] == 0.0
    q, rep = ptq.quantize_model(spec.model, spec.calibration(64, 0), weight_format="int8")
    met = spec.evaluate(q)
    assert [r.name for r in rep.layers] == ["0", "2", "6", "8"]  # conv, conv, linear, linear
    assert met["accuracy"] > 0.9 and 0 < met["rel_logit_error"] < 0.05
    with pytest.raises(ValueError, match="n=0"):
        spec.calibration(0, 0)


def test_minilm_one_attention_group() -> None:
    from numsim.ptq import models

    spec = models.get("minilm")
    cal = spec.calibration(4, 0)
    assert set(cal[0]) >= {"input_ids", "attention_mask"}
    layer0 = {
        m: n
        for n, m in spec.model.named_modules()
        if n.startswith("encoder.layer.0.") and isinstance(m, torch.nn.Linear)
    }
    order, _ = graph.record_order(torch, spec.model, cal[0], layer0)
    assert [(x.name.split(".", 3)[3], x.group) for x in order] == [
        ("attention.self.query", 0),
        ("attention.self.key", 0),
        ("attention.self.value", 0),
        ("attention.output.dense", 1),
        ("intermediate.dense", 2),
        ("output.dense", 3),
    ]
    q, rep = ptq.quantize_model(
        spec.model, cal, weight_format="mxfp8_e4m3", include="encoder.layer.0.attention.self.*"
    )
    assert [r.name.rsplit(".", 1)[1] for r in rep.layers] == ["query", "key", "value"]
    skipped = dict(rep.skipped)
    assert skipped["embeddings.word_embeddings"].startswith("Embedding")
    assert skipped["embeddings.LayerNorm"].startswith("LayerNorm")
    met = spec.evaluate(q)
    assert 0.99 < met["cosine_mean"] < 1.0 and 0 <= met["top5_agreement"] <= 1


def test_cli_writes_weights_codes_and_report(tmp_path) -> None:
    from numsim.cli import main

    path = tmp_path / "m.pt"
    torch.save({"model": _cnn(), "calibration": [torch.randn(3, 2, 5, 5)]}, path)
    out = tmp_path / "out"
    assert main(["ptq", "--model", str(path), "--format", "mxfp4_e2m1", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert [r["name"] for r in report["layers"]] == ["0", "3"]
    codes = np.load(out / "codes.npz")
    state = torch.load(out / "weights.pt", weights_only=True)
    blk = numsim.BlockArray(
        codes["3.codes"], codes["3.scales"], numsim.formats.get("mxfp4_e2m1"), 1, (6, 100)
    )
    np.testing.assert_array_equal(numsim.decode(blk).astype(np.float32), state["3.weight"].numpy())
    assert main(["ptq", "--model", str(path), "--format", "int44", "--out", str(out)]) == 2


class _Pairs(torch.nn.Module):
    """An encoder stand-in: token t's hidden state is (id_t, 1)."""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> object:
        from types import SimpleNamespace

        x = input_ids.float()
        return SimpleNamespace(last_hidden_state=torch.stack([x, torch.ones_like(x)], -1))


def test_sentence_embeddings_mean_pools_the_masked_tokens_and_normalizes() -> None:
    from numsim.ptq import models

    ids = torch.tensor([[3, 4, 9], [6, 8, 0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    got = models.sentence_embeddings(_Pairs(), {"input_ids": ids, "attention_mask": mask})
    # by hand: row 0 keeps tokens 3, 4 -> mean (3.5, 1); row 1 keeps 6, 8, 0 -> (14/3, 1)
    want = torch.tensor([[3.5, 1.0], [14 / 3, 1.0]])
    want = want / want.norm(dim=1, keepdim=True)
    assert torch.allclose(got, want, atol=1e-6) and not got.requires_grad
    with pytest.raises(ValueError, match="attention_mask"):
        models.sentence_embeddings(_Pairs(), {"input_ids": ids})


def test_digits_data_is_the_stratified_split() -> None:
    from numsim.ptq import models

    xtr, xte, ytr, yte = models.digits_data()
    assert xtr.shape == (1347, 1, 8, 8) and xte.shape == (450, 1, 8, 8)
    assert xtr.dtype == np.float32 and xtr.min() == 0 and xtr.max() == 1
    assert len(ytr) == 1347 and len(yte) == 450
    from sklearn.datasets import load_digits

    per_class = np.bincount(load_digits().target, minlength=10)
    # stratified: each digit's test share is a quarter of its images, up to rounding
    assert np.all(np.abs(np.bincount(yte, minlength=10) - per_class / 4) < 1)
    again = models.digits_data()
    assert np.array_equal(again[1], xte) and np.array_equal(again[3], yte)


class _EmbedLinear(torch.nn.Module):
    """Token embedding with small integer entries -> Linear: the Gram matrices of the Linear's
    inputs are sums of integer products, exact in float64 in any order."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.emb = torch.nn.Embedding(10, 8)
        self.fc = torch.nn.Linear(8, 6)
        with torch.no_grad():
            self.emb.weight.copy_(torch.randint(-3, 4, (10, 8), generator=g).float())
            self.emb.weight[0] = 5.0  # the padding token: far from every real row
            self.fc.weight.copy_(torch.randn(6, 8, generator=g))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.fc(self.emb(input_ids))


def test_padding_rows_stay_out_of_the_statistics() -> None:
    # Three sentences padded with token 0 into one batch must calibrate exactly like the same
    # sentences run one at a time without padding: same H, so the same GPTQ weights and the same
    # reported error. The positional call (no dict, so no attention_mask) keeps the padding rows
    # and must differ, which shows the padding would change the result.
    sents = [[1, 2, 3], [4, 5, 6, 7, 8], [9, 3]]
    ids = torch.zeros(3, 5, dtype=torch.long)
    mask = torch.zeros(3, 5, dtype=torch.long)
    for i, s in enumerate(sents):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    padded = [{"input_ids": ids, "attention_mask": mask}]
    singles = [
        {"input_ids": torch.tensor([s]), "attention_mask": torch.ones(1, len(s), dtype=torch.long)}
        for s in sents
    ]
    model = _EmbedLinear().eval()
    kw = {"weight_format": "int4", "granularity": "channel", "method": "gptq"}
    qp, rp = ptq.quantize_model(model, padded, **kw)
    qs, rs = ptq.quantize_model(model, singles, **kw)
    qt, rt = ptq.quantize_model(model, [(ids, mask)], **kw)
    assert torch.equal(qp.fc.weight, qs.fc.weight)
    assert rp.layers[0].rel_error == pytest.approx(rs.layers[0].rel_error, rel=1e-12)
    assert not torch.equal(qt.fc.weight, qs.fc.weight)
    assert rt.layers[0].rel_error != pytest.approx(rs.layers[0].rel_error, rel=1e-6)


def test_real_rows_keeps_all_rows_when_the_count_differs() -> None:
    rows = np.arange(12.0).reshape(6, 2)
    mask = np.array([True, False, True, True, False, True])
    np.testing.assert_array_equal(ptq_api._real_rows(rows, mask), rows[[0, 2, 3, 5]])
    np.testing.assert_array_equal(ptq_api._real_rows(rows, mask[:4]), rows)
    np.testing.assert_array_equal(ptq_api._real_rows(rows, None), rows)


def test_sentence_file_calibration_pool_and_unchanged_evaluation_set() -> None:
    import hashlib

    from numsim.ptq import models

    texts = models.sentences()
    assert len(texts) == models.CALIBRATION_TEXTS + models.EVALUATION_TEXTS == 354 + 48
    assert len(set(texts)) == len(texts)  # no sentence twice, so none in both parts
    assert all(6 <= len(t.split()) <= 40 for t in texts)
    # the 48 held-out sentences are the last 48 of the file as first shipped (96 sentences),
    # whose sha256 (joined by newlines) was taken from that file
    held_out = "\n".join(texts[models.CALIBRATION_TEXTS :]).encode()
    assert (
        hashlib.sha256(held_out).hexdigest()
        == "74ad504b95094fda76cd96d30b5193a37aea6bb3c7c5d1dc6a33cf22df7f7693"
    )
