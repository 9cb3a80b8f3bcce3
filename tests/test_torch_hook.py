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
    np.testing.assert_array_equal(y.reshape(-1, 7).numpy(), want.astype(np.float32))
    assert "forward" not in vars(lin)  # restored


def test_conv2d_equals_exact_float64_convolution() -> None:
    torch.manual_seed(1)
    conv = torch.nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=True)
    x = torch.randn(2, 3, 9, 8)
    with dp.emulate(conv, EXACT, "fp16", "fp16", matmul_ops=False):
        y = conv(x)
    qx = torch.from_numpy(_q(x.numpy(), "fp16")).double()
    qw = torch.from_numpy(_q(conv.weight.detach().numpy(), "fp16")).double()
    want = torch.nn.functional.conv2d(qx, qw, None, stride=2, padding=1).float() + conv.bias.detach()[None, :, None, None]
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
    with pytest.raises(ValueError, match="two block formats"):
        with dp.emulate(lin, "h100-fp16", "mxfp8_e4m3", "fp16"):
            pass
    with pytest.raises(KeyError, match="h100"), dp.emulate(lin, "h10-fp16"):
        pass
    grouped = torch.nn.Conv2d(4, 4, 3, groups=2)
    with pytest.raises(NotImplementedError, match="groups=1"), dp.emulate(grouped, "h100-fp16"):
        pass
