"""numsim.ptq.quantize_model with a datapath: the model's ``torch.matmul`` products (attention)
run on the unit too.

Expected values come from an explicit numsim.datapath.emulate forward of a float copy holding the
quantized weights (``matmul_ops=True``: Linear layers and torch.matmul on the unit;
``matmul_ops=False``: Linear layers only), never from quantize_model itself.
"""

from __future__ import annotations

import numpy as np
import pytest

import numsim

torch = pytest.importorskip("torch")
ptq = pytest.importorskip("numsim.ptq")

FMT = "mxfp8_e4m3"  # weights and activations: the attention operands are activations


class Attention(torch.nn.Module):
    """One head: scores = q(x) k(x)^T, out = softmax(scores) v(x), both products torch.matmul."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.q = torch.nn.Linear(32, 32, bias=False)
        self.k = torch.nn.Linear(32, 32, bias=False)
        self.v = torch.nn.Linear(32, 32, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.matmul(self.q(x), self.k(x).transpose(-1, -2)) / 32**0.5
        return torch.matmul(torch.softmax(s, -1), self.v(x))


def _quantized(attention: bool) -> tuple[torch.nn.Module, torch.nn.Module]:
    m = Attention()
    gen = torch.Generator().manual_seed(1)
    cal = [torch.randn(2, 32, 32, generator=gen)]
    q, _ = ptq.quantize_model(
        m,
        cal,
        weight_format=FMT,
        input_format=FMT,
        datapath="ocp-mx-exact",
        attention=attention,
    )
    plain = Attention()
    plain.load_state_dict(q.state_dict())
    return q, plain


def _x() -> torch.Tensor:
    return torch.randn(2, 32, 32, generator=torch.Generator().manual_seed(2))


def test_attention_matmuls_run_on_the_unit() -> None:
    q, plain = _quantized(attention=True)
    x = _x()
    matmul = torch.matmul
    with torch.no_grad():
        got = q(x)
        assert torch.matmul is matmul  # restored after the forward
        with numsim.datapath.emulate(plain, "ocp-mx-exact", FMT, FMT, matmul_ops=True):
            want = plain(x)
        with numsim.datapath.emulate(plain, "ocp-mx-exact", FMT, FMT, matmul_ops=False):
            linear_only = plain(x)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    # the products' MXFP8 operand rounding shows: the float matmul gives another result
    assert not np.array_equal(got.numpy(), linear_only.numpy())


def test_attention_false_keeps_matmuls_in_float() -> None:
    q, plain = _quantized(attention=False)
    x = _x()
    with torch.no_grad():
        got = q(x)
        with numsim.datapath.emulate(plain, "ocp-mx-exact", FMT, FMT, matmul_ops=False):
            want = plain(x)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
