"""Run a torch model's Linear, Conv2d and ``torch.matmul`` through a numsim datapath (needs torch).

::

    with numsim.datapath.emulate(model, "h100-e4m3", input_format="fp8_e4m3", weight_format="fp8_e4m3"):
        y = model(x)          # every Linear / Conv2d / torch.matmul runs on the unit, bit-exact

Inside the context each matrix product quantizes both operands (round to nearest even,
saturating) and computes the product on the unit with K chained as the unit chains it:

- element formats (``fp8_e4m3``, ``fp16``, ...): operands are cast to the format and the product
  runs through :func:`numsim.datapath.matmul`; the format's values must be exact in the unit's
  ``in_format`` (the default format is the unit's ``in_format`` itself);
- block formats (``mxfp8_e4m3``, ``mxfp4_e2m1``, ``nvfp4``, ...): both operands are encoded in blocks
  along K and the product runs through :func:`numsim.datapath.mx_matmul` (both operands must then
  use block formats, the same one).

Biases are added afterwards in float32. The model's parameters are never modified: the context
replaces the modules' ``forward`` for its duration and restores everything on exit, exceptions
included. ``torch.matmul`` is replaced globally while the context is active.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Union

import numpy as np

from .. import formats as _formats
from .._inputs import as_array, widened
from ..codec import encode, quantize
from ..formats import BlockFormat, FloatFormat, IntFormat
from .api import matmul
from .mx import mx_matmul
from .presets import get
from .unit import DotUnit

Fmt = Union[str, FloatFormat, IntFormat, BlockFormat, None]


def _f32(t: Any) -> np.ndarray:
    """A tensor's values as a float32 array (bfloat16 and float16 exactly, float64 rounded to
    nearest even, as ``Tensor.float()`` does)."""
    return widened(as_array(t, "tensor")).astype(np.float32, copy=False)


class _Product:
    """``A @ B`` of 2-D float arrays on a unit, with operand quantization."""

    def __init__(self, unit: DotUnit, input_format: Fmt, weight_format: Fmt) -> None:
        self.unit = unit
        self.fa = self._fmt(input_format, "input_format")
        self.fb = self._fmt(weight_format, "weight_format")
        if isinstance(self.fa, BlockFormat) != isinstance(self.fb, BlockFormat):
            raise ValueError(f"input_format={self.fa} and weight_format={self.fb}: give two element formats or "
                             "two block formats")
        if isinstance(self.fa, BlockFormat) and self.fa != self.fb:
            raise ValueError(f"input_format={self.fa.name} and weight_format={self.fb.name}: MX products need "
                             "one block format")

    def _fmt(self, f: Fmt, argument: str) -> FloatFormat | IntFormat | BlockFormat:
        if f is None:
            return self.unit.in_format
        fmt = _formats.get(f) if isinstance(f, str) else f
        if not isinstance(fmt, (FloatFormat, IntFormat, BlockFormat)):
            raise TypeError(f"{argument}={f!r}: expected a format name or descriptor")
        return fmt

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """float32 ``a @ b`` for a [M, K] and b [K, N]."""
        a = np.ascontiguousarray(a, dtype=np.float32)
        b = np.ascontiguousarray(b, dtype=np.float32)
        if isinstance(self.fa, BlockFormat):
            return mx_matmul(encode(a, self.fa, axis=1), encode(b, self.fb, axis=0), self.unit)
        qa = quantize(a, self.fa, rounding="nearest_even", overflow="saturate")
        qb = quantize(b, self.fb, rounding="nearest_even", overflow="saturate")
        return np.asarray(matmul(qa, qb, self.unit), np.float32)


def _linear(torch: Any, prod: _Product, module: Any) -> Any:
    def forward(x: Any) -> Any:
        shape = x.shape
        x2 = _f32(x.reshape(-1, shape[-1]))
        w = _f32(module.weight)
        y = torch.from_numpy(prod(x2, w.T)).to(x.dtype)
        if module.bias is not None:
            y = y + module.bias.detach().to(y.dtype)
        return y.reshape(*shape[:-1], w.shape[0])
    return forward


def _conv2d(torch: Any, prod: _Product, module: Any) -> Any:
    if module.groups != 1 or module.padding_mode != "zeros" or isinstance(module.padding, str):
        raise NotImplementedError(f"{module}: numsim emulates Conv2d with groups=1, numeric padding and "
                                  "padding_mode='zeros'")

    def forward(x: Any) -> Any:
        n, _, h, w_ = x.shape
        kh, kw = module.kernel_size
        cols = torch.nn.functional.unfold(x.detach().float(), (kh, kw), dilation=module.dilation,
                                          padding=module.padding, stride=module.stride)  # [n, C*kh*kw, L]
        L = cols.shape[-1]
        a = _f32(cols.transpose(1, 2).reshape(n * L, -1))
        wt = _f32(module.weight.reshape(module.out_channels, -1))
        y = torch.from_numpy(prod(a, wt.T)).reshape(n, L, -1).transpose(1, 2)
        if module.bias is not None:
            y = y + module.bias.detach().float()[None, :, None]
        oh = (h + 2 * module.padding[0] - module.dilation[0] * (kh - 1) - 1) // module.stride[0] + 1
        ow = (w_ + 2 * module.padding[1] - module.dilation[1] * (kw - 1) - 1) // module.stride[1] + 1
        return y.reshape(n, -1, oh, ow).to(x.dtype)
    return forward


def _matmul(torch: Any, prod: _Product) -> Any:
    def mm(a: Any, b: Any, *, out: Any = None) -> Any:
        if out is not None or a.dim() < 2 or b.dim() < 2:
            raise NotImplementedError("numsim emulates torch.matmul of operands with at least 2 dimensions, "
                                      "without out=")
        lead = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        a3 = _f32(a.expand(*lead, *a.shape[-2:]).reshape(-1, *a.shape[-2:]))
        b3 = _f32(b.expand(*lead, *b.shape[-2:]).reshape(-1, *b.shape[-2:]))
        y = np.stack([prod(x, w) for x, w in zip(a3, b3)])
        return torch.from_numpy(y).reshape(*lead, a.shape[-2], b.shape[-1]).to(a.dtype)
    return mm


@contextlib.contextmanager
def emulate(model: Any, unit: str | DotUnit, input_format: Fmt = None, weight_format: Fmt = None,
            matmul_ops: bool = True) -> Iterator[Any]:
    """Context in which ``model``'s Linear / Conv2d layers (and ``torch.matmul``) run on ``unit``.

    Args:
        model: a ``torch.nn.Module``.
        unit: a DotUnit or a preset name.
        input_format: format of activations (the left operand); None: the unit's ``in_format``.
        weight_format: format of weights (the right operand); None: the unit's ``in_format``.
        matmul_ops: also replace ``torch.matmul`` (attention products) while active.

    Yields:
        the model.
    """
    import torch

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model={type(model).__name__}: expected a torch.nn.Module")
    if isinstance(unit, str):
        unit = get(unit)
    if not isinstance(unit, DotUnit):
        raise TypeError(f"unit={unit!r}: expected a DotUnit or a preset name")
    prod = _Product(unit, input_format, weight_format)
    patched: list[Any] = []
    saved_matmul: Any | None = None
    try:
        for m in model.modules():
            if isinstance(m, torch.nn.Linear):
                m.forward = _linear(torch, prod, m)
            elif isinstance(m, torch.nn.Conv2d):
                m.forward = _conv2d(torch, prod, m)
            else:
                continue
            patched.append(m)
        if matmul_ops:
            saved_matmul = torch.matmul
            torch.matmul = _matmul(torch, prod)
        yield model
    finally:
        for m in patched:
            del m.forward  # back to the class's forward
        if saved_matmul is not None:
            torch.matmul = saved_matmul
