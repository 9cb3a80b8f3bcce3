"""numsim.datapath.emulate: torch Linear / Conv2d / matmul through a datapath model.

Expected values come from independent computations: float64 torch arithmetic on the quantized
operands where the unit is exact with one rounding, and numsim.datapath.matmul for the Linear
layout (itself held to the Fraction reference in test_datapath.py).
"""

from __future__ import annotations

import numpy as np
import pytest

import numsim
from numsim import datapath as dp
from numsim import formats as F

torch = pytest.importorskip("torch")

#: exact products and sum, one RNE rounding to FP32: equals float64 arithmetic on small, exact sums
EXACT = dp.DotUnit("exact-one-rounding", F.fp16, 1 << 12, None, out_rounding="nearest_even")


def _q(x: np.ndarray, fmt: str) -> np.ndarray:
    return numsim.quantize(x.astype(np.float32), fmt)


def test_linear_matches_matmul_on_the_unit() -> None:
    torch.manual_seed(0)
    lin = torch.nn.Linear(40, 7)
    x = torch.randn(3, 5, 40)
    unit = dp.get("h100-e4m3")
    with dp.emulate(lin, unit, matmul_ops=False):
        y = lin(x)
    assert y.shape == (3, 5, 7) and y.dtype == torch.float32
    qa = _q(x.reshape(-1, 40).numpy(), "fp8_e4m3")
    qw = _q(lin.weight.detach().numpy(), "fp8_e4m3")
    want = dp.matmul(qa, qw.T, unit) + lin.bias.detach().numpy()
    np.testing.assert_array_equal(y.detach().reshape(-1, 7).numpy(), want.astype(np.float32))
    assert "forward" not in vars(lin)  # restored


def test_conv2d_equals_exact_float64_convolution() -> None:
    torch.manual_seed(1)
    conv = torch.nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=True)
    x = torch.randn(2, 3, 9, 8)
    with dp.emulate(conv, EXACT, "fp16", "fp16", matmul_ops=False):
        y = conv(x)
    qx = torch.from_numpy(_q(x.numpy(), "fp16")).double()
    qw = torch.from_numpy(_q(conv.weight.detach().numpy(), "fp16")).double()
    want = (
        torch.nn.functional.conv2d(qx, qw, None, stride=2, padding=1).float()
        + conv.bias.detach()[None, :, None, None]
    )
    assert y.shape == want.shape
    np.testing.assert_array_equal(y.detach().numpy(), want.numpy())


def test_matmul_is_replaced_and_restored() -> None:
    a, b = torch.randn(2, 3, 6, 5), torch.randn(5, 4)
    original = torch.matmul
    model = torch.nn.Sequential()
    with dp.emulate(model, EXACT, "fp16", "fp16"):
        assert torch.matmul is not original
        y = torch.matmul(a, b)
    assert torch.matmul is original
    qa = torch.from_numpy(_q(a.numpy(), "fp16")).double()
    qb = torch.from_numpy(_q(b.numpy(), "fp16")).double()
    np.testing.assert_array_equal(y.numpy(), (qa @ qb).float().numpy())


def test_mx_formats_run_through_mx_matmul() -> None:
    torch.manual_seed(2)
    lin = torch.nn.Linear(64, 3, bias=False)
    x = torch.randn(4, 64)
    unit = dp.get("ocp-mx-exact")
    with dp.emulate(lin, unit, "mxfp4_e2m1", "mxfp4_e2m1"):
        y = lin(x)
    A = numsim.encode(x.numpy(), "mxfp4_e2m1", axis=1)
    B = numsim.encode(np.ascontiguousarray(lin.weight.detach().numpy().T), "mxfp4_e2m1", axis=0)
    np.testing.assert_array_equal(y.detach().numpy(), dp.mx_matmul(A, B, unit))


def test_restored_after_an_exception_and_errors() -> None:
    lin = torch.nn.Linear(4, 2)
    original = torch.matmul
    with pytest.raises(RuntimeError, match="boom"), dp.emulate(lin, "h100-fp16"):
        raise RuntimeError("boom")
    assert "forward" not in vars(lin) and torch.matmul is original
    with pytest.raises(TypeError, match="torch.nn.Module"), dp.emulate(object(), "h100-fp16"):
        pass
    with (
        pytest.raises(ValueError, match="two block formats"),
        dp.emulate(lin, "h100-fp16", "mxfp8_e4m3", "fp16"),
    ):
        pass
    with pytest.raises(KeyError, match="h100"), dp.emulate(lin, "h10-fp16"):
        pass
    grouped = torch.nn.Conv2d(4, 4, 3, groups=2)
    with pytest.raises(NotImplementedError, match="groups=1"), dp.emulate(grouped, "h100-fp16"):
        pass


# --------------------------------------------------------------------------------------------
# scaled element operands (FP32 epilogue) and mixed MX formats (W4A8)
# --------------------------------------------------------------------------------------------
def _rne_int(v: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Round half to even onto the integers and saturate (np.rint rounds half to even)."""
    return np.clip(np.rint(v), lo, hi)


def test_scaled_int_operands_apply_scales_in_an_fp32_epilogue() -> None:
    """int8 per-tensor activations x int4 per-channel weights, derived by hand in numpy."""
    rng = np.random.default_rng(3)
    lin = torch.nn.Linear(40, 5, bias=False)
    x = torch.from_numpy(rng.standard_normal((6, 40)).astype(np.float32))
    with dp.emulate(
        lin,
        EXACT,
        "int8",
        "int4",
        matmul_ops=False,
        input_scaling="tensor",
        weight_scaling="channel",
    ):
        y = lin(x).detach().numpy()
    xa = x.numpy().astype(np.float64)
    w = lin.weight.detach().numpy().astype(np.float64)
    sa = np.float32(np.abs(xa).max() / 127.0)
    sb = (np.abs(w).max(axis=1) / 7.0).astype(np.float32)
    ea = _rne_int(xa / np.float64(sa), -128, 127)
    eb = _rne_int(w / sb.astype(np.float64)[:, None], -8, 7)
    d = (ea @ eb.T).astype(np.float32)  # integer sums, exact in float64; one rounding to FP32
    want = (sa * sb[None, :]).astype(np.float32) * d
    np.testing.assert_array_equal(y, want)


def test_scaled_groups_sum_in_fp32_in_k_order() -> None:
    rng = np.random.default_rng(4)
    lin = torch.nn.Linear(40, 3, bias=False)
    x = torch.from_numpy(rng.standard_normal((2, 40)).astype(np.float32))
    g = dp.Scaling("group", 16, "pow2")
    with dp.emulate(
        lin, EXACT, "int8", "int4", matmul_ops=False, input_scaling=g, weight_scaling=g
    ):
        y = lin(x).detach().numpy()
    xa, w = x.numpy().astype(np.float64), lin.weight.detach().numpy().astype(np.float64)
    want = np.zeros((2, 3), np.float32)
    for k in range(0, 40, 16):
        xs, ws = xa[:, k : k + 16], w[:, k : k + 16]
        # pow2 scale: the smallest power of two >= amax / max, from frexp's exponent
        sa = np.array([2.0 ** _ceil_log2(v / 127.0) for v in np.abs(xs).max(axis=1)])
        sb = np.array([2.0 ** _ceil_log2(v / 7.0) for v in np.abs(ws).max(axis=1)])
        ea = _rne_int(xs / sa[:, None], -128, 127)
        eb = _rne_int(ws / sb[:, None], -8, 7)
        term = (sa[:, None] * sb[None, :]).astype(np.float32) * (ea @ eb.T).astype(np.float32)
        want = want + term
    np.testing.assert_array_equal(y, want)


def _ceil_log2(v: float) -> int:
    """Exponent of the smallest power of two >= v > 0 (integer search, no log2)."""
    e = 0
    while 2.0**e < v:
        e += 1
    while 2.0 ** (e - 1) >= v:
        e -= 1
    return e


def test_scaling_errors() -> None:
    with pytest.raises(ValueError, match="granularity='row'"):
        dp.Scaling("row")
    with pytest.raises(ValueError, match="group_size"):
        dp.Scaling("group")
    lin = torch.nn.Linear(32, 2)
    with (
        pytest.raises(ValueError, match="carries its own scales"),
        dp.emulate(lin, "ocp-mx-exact", "mxfp8_e4m3", "mxfp4_e2m1", input_scaling="tensor"),
    ):
        pass


def test_mixed_mx_product_matches_the_fraction_reference() -> None:
    """MXFP8 E4M3 activations x MXFP4 E2M1 weights on an exact-product unit (W4A8)."""
    from fractions import Fraction

    from numsim.reference import codec as ref_codec
    from numsim.reference import dot as ref_dot

    rng = np.random.default_rng(5)
    unit = dp.get("ocp-mx-exact")
    M, K, N = 3, 70, 2  # K not a multiple of 32: the last block is zero-padded
    x = (rng.standard_normal((M, K)) * 2.0 ** rng.integers(-4, 4, (M, 1))).astype(np.float32)
    w = rng.standard_normal((N, K)).astype(np.float32)
    A = numsim.encode(x, "mxfp8_e4m3", axis=1)
    B = numsim.encode(np.ascontiguousarray(w.T), "mxfp4_e2m1", axis=0)
    D = dp.mx_matmul(A, B, unit)

    def vals(blk: numsim.BlockArray) -> tuple[list[list[Fraction]], list[list[Fraction]]]:
        fmt = blk.format
        el = [[ref_codec.decode(fmt.element, int(c)) for c in row.reshape(-1)] for row in blk.codes]
        sc = [
            [ref_codec.decode(fmt.scale, int(s)) for s in row for _ in range(fmt.block_size)]
            for row in blk.scales
        ]
        return el, sc

    (av, sa), (bv, sb) = vals(A), vals(B)
    semin = F.get("mxfp8_e4m3").scale.emin
    for i in range(M):
        for j in range(N):
            code, _ = ref_dot.dot_result(unit, av[i], bv[j], Fraction(0), sa[i], sb[j], semin)
            want = np.float32(float(ref_codec.decode(ref_dot.result_format(unit), code)))
            assert D[i, j] == want, (i, j)
    # the hook runs the same product for a Linear layer
    lin = torch.nn.Linear(K, N, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(w))
    with dp.emulate(lin, unit, "mxfp8_e4m3", "mxfp4_e2m1", matmul_ops=False):
        y = lin(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_array_equal(y, D)


def test_mixed_mx_elements_must_be_exact_in_the_unit() -> None:
    x = np.full(
        (1, 32), 1.25, np.float32
    )  # 1.25 needs 2 fraction bits: exact in E4M3, not in E2M1 grid
    A = numsim.encode(x, "mxfp8_e4m3", axis=1)
    B = numsim.encode(np.ones((32, 1), np.float32), "mxfp4_e2m1", axis=0)
    tiny = dp.DotUnit("e2m1-in", F.get("fp4_e2m1"), 4, None, out_rounding="nearest_even")
    with pytest.raises(ValueError, match="not exactly representable"):
        dp.mx_matmul(A, B, tiny)


# --------------------------------------------------------------------------------------------
# a good citizen: nesting, instance forwards, every product emulated or refused, no backward
# --------------------------------------------------------------------------------------------
def _globals() -> dict[str, object]:
    """What the process-wide names hold (vars: a class attribute, not an inherited one)."""
    F_ = torch.nn.functional
    return {
        "matmul": torch.matmul,
        "mm": torch.mm,
        "bmm": torch.bmm,
        "einsum": torch.einsum,
        "__matmul__": vars(torch.Tensor).get("__matmul__"),
        "Tensor.matmul": vars(torch.Tensor).get("matmul"),
        "linear": F_.linear,
        "sdpa": F_.scaled_dot_product_attention,
    }


def test_nested_contexts_on_one_model_restore_exactly() -> None:
    lin = torch.nn.Linear(8, 2)
    before = _globals()
    with dp.emulate(lin, EXACT, "fp16", "fp16"):
        outer_fwd, outer_globals = vars(lin)["forward"], _globals()
        with dp.emulate(lin, "h100-e4m3"):
            assert vars(lin)["forward"] is not outer_fwd
        assert vars(lin)["forward"] is outer_fwd  # the inner exit put the outer patch back
        assert _globals() == outer_globals
    assert "forward" not in vars(lin)
    assert _globals() == before


def test_instance_forward_survives_the_context() -> None:
    lin = torch.nn.Linear(8, 2)

    def mine(x: object) -> str:
        return "user forward"

    lin.forward = mine
    with dp.emulate(lin, EXACT, "fp16", "fp16"):
        assert lin(torch.ones(1, 8)).shape == (1, 2)  # the product is emulated meanwhile
    assert lin.forward is mine and lin(torch.ones(1, 8)) == "user forward"


def test_exception_restores_every_global() -> None:
    lin = torch.nn.Linear(4, 2)
    before = _globals()
    with pytest.raises(ZeroDivisionError), dp.emulate(lin, "h100-fp16"):
        _ = 1 / 0
    assert _globals() == before and "forward" not in vars(lin)


def _exact_fp16(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """float64 product of the fp16-cast operands rounded once to FP32 (EXACT's result)."""
    qa = torch.from_numpy(_q(a.numpy(), "fp16")).double()
    qb = torch.from_numpy(_q(b.numpy(), "fp16")).double()
    return (qa @ qb).float().numpy()


def test_every_product_spelling_is_emulated() -> None:
    """``a @ b``, Tensor.matmul, torch.mm / bmm and F.linear run on the unit: operands cast to
    fp16 (the float32 randoms are not fp16 values), so float32 arithmetic would differ."""
    torch.manual_seed(3)
    a, b = torch.randn(2, 5, 6), torch.randn(2, 6, 3)
    w, bias = torch.randn(3, 6), torch.randn(3)
    assert not np.array_equal((a @ b).numpy(), _exact_fp16(a, b))  # the test can fail
    with dp.emulate(torch.nn.Sequential(), EXACT, "fp16", "fp16"):
        got = {
            "@": a @ b,
            "Tensor.matmul": a.matmul(b),
            "bmm": torch.bmm(a, b),
            "Tensor.bmm": a.bmm(b),
            "mm": torch.mm(a[0], b[0]),
            "Tensor.mm": a[0].mm(b[0]),
            "linear": torch.nn.functional.linear(a, w, bias),
        }
    want = _exact_fp16(a, b)
    for k in ("@", "Tensor.matmul", "bmm", "Tensor.bmm"):
        np.testing.assert_array_equal(got[k].numpy(), want, err_msg=k)
    np.testing.assert_array_equal(got["mm"].numpy(), want[0])
    np.testing.assert_array_equal(got["Tensor.mm"].numpy(), want[0])
    lin_want = _exact_fp16(a.reshape(-1, 6), w.T) + bias.numpy()
    np.testing.assert_array_equal(got["linear"].reshape(-1, 3).numpy(), lin_want)


def test_products_numsim_does_not_emulate_are_refused() -> None:
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    q = torch.randn(1, 2, 4, 8)
    with dp.emulate(torch.nn.Sequential(), "h100-fp16"):
        with pytest.raises(NotImplementedError, match="torch.einsum inside numsim"):
            torch.einsum("ij,jk->ik", a, b)
        with pytest.raises(NotImplementedError, match="scaled_dot_product_attention"):
            torch.nn.functional.scaled_dot_product_attention(q, q, q)
        with pytest.raises(NotImplementedError, match="torch.addmm"):
            torch.addmm(a, a, b)
        with pytest.raises(NotImplementedError, match="at least 2 dimensions"):
            _ = a[0] @ b[0]
    np.testing.assert_allclose(torch.einsum("ij,jk->ik", a, b).numpy(), (a @ b).numpy())


def test_matmul_ops_false_leaves_every_global_alone() -> None:
    lin = torch.nn.Linear(4, 2)
    before = _globals()
    with dp.emulate(lin, "h100-fp16", matmul_ops=False):
        assert _globals() == before
        assert "forward" in vars(lin)


def test_backward_through_an_emulated_product_is_refused() -> None:
    torch.manual_seed(4)
    lin = torch.nn.Linear(6, 2)
    x = torch.randn(3, 6, requires_grad=True)
    with dp.emulate(lin, EXACT, "fp16", "fp16"):
        y = lin(x)
        z = x @ torch.randn(6, 2)
        with torch.no_grad():
            plain = lin(x)
    assert y.requires_grad and z.requires_grad and not plain.requires_grad
    np.testing.assert_array_equal(y.detach().numpy(), plain.numpy())
    for out in (y, z):
        with pytest.raises(RuntimeError, match="backward through an emulated product"):
            out.sum().backward()
    assert x.grad is None and lin.weight.grad is None  # nothing silently accumulated


@pytest.mark.parametrize(
    "name,scaling",
    [
        ("h100-e4m3", "channel"),
        ("b200-e4m3", dp.Scaling("group", 16, "pow2")),
        ("h100-fp16", None),
        ("mi300-e4m3fnuz", "channel"),
        ("h100-e4m3", "tensor"),
    ],
)
def test_batched_matmul_equals_the_product_of_each_slice(name: str, scaling: object) -> None:
    """``torch.matmul`` of [2, 3, M, K] @ [2, 3, K, N] (attention heads) inside the context runs
    the slices in one batch; each slice equals the documented per-slice product: its rows of A
    and columns of B scaled and cast (:func:`scale_rows`), the unit on the elements, the scales
    in the FP32 epilogue (:func:`scaled_matmul`), or a plain cast and ``matmul``."""
    from numsim.datapath.torch_hook import _k_groups, _scaling, scale_rows, scaled_matmul

    unit = dp.get(name)
    rng = np.random.default_rng(7)
    a = rng.standard_normal((2, 3, 9, 32)) * rng.choice([1e-3, 1.0, 40.0], (2, 3, 9, 1))
    b = rng.standard_normal((2, 3, 32, 5)) * 3
    a, b = a.astype(np.float32), b.astype(np.float32)
    lin = torch.nn.Linear(2, 2)
    with torch.no_grad(), dp.emulate(lin, unit, input_scaling=scaling, weight_scaling=scaling):
        y = torch.matmul(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    fmt = unit.in_format
    sc = _scaling(scaling, "scaling")
    for i in range(2):
        for j in range(3):
            if sc is None:
                want = dp.matmul(_q(a[i, j], fmt.name), _q(b[i, j], fmt.name), unit)
            else:
                ea, sa = scale_rows(a[i, j], fmt, sc)
                eb, sb = scale_rows(b[i, j].T, fmt, sc)
                want = scaled_matmul(ea, sa, eb.T, sb.T, _k_groups(32, sc), unit)
            np.testing.assert_array_equal(y[i, j].view(np.uint32), want.view(np.uint32))


def test_fp64_unit_is_refused() -> None:
    """The hook carries FP32 tensors: the FP64 FMA unit is refused, not narrowed."""
    lin = torch.nn.Linear(4, 2)
    with (
        pytest.raises(ValueError, match="unit=fma-fp64: the torch hook"),
        dp.emulate(lin, "fma-fp64"),
    ):
        pass
    assert "forward" not in vars(lin)
