"""Run a torch model's Linear, Conv2d and ``torch.matmul`` through a numsim datapath (needs torch).

::

    with numsim.datapath.emulate(model, "h100-e4m3", input_format="fp8_e4m3",
    weight_format="fp8_e4m3"):
        y = model(x)          # every Linear / Conv2d / torch.matmul runs on the unit, bit-exact

Inside the context each matrix product quantizes both operands (round to nearest even,
saturating) and computes the product on the unit with K chained as the unit chains it:

- element formats (``fp8_e4m3``, ``fp16``, ...): operands are cast to the format and the product
  runs through :func:`numsim.datapath.matmul`; the format's values must be exact in the unit's
  ``in_format`` (the default format is the unit's ``in_format`` itself);
- block formats (``mxfp8_e4m3``, ``mxfp4_e2m1``, ``nvfp4``, ...): both operands are encoded in
  blocks
  along K and the product runs through :func:`numsim.datapath.mx_matmul` (both operands must then
  use block formats; they may differ in the element, e.g. MXFP8 activations x MXFP4 weights, as
  ``mx_matmul`` allows).

Scaled element operands (``input_scaling=`` / ``weight_scaling=``, a :class:`Scaling` or a
granularity name): the operand is divided by its scale and cast to the element format, the unit
computes on those element values, and the scales are applied in an FP32 epilogue. Scales are
per tensor, per channel (a row of the activations A [M, K], a column of the weights B [K, N]) or
per group of ``group_size`` consecutive K; ``amax / format max`` rounded to FP32 (``"float"``) or
rounded up to a power of two (``"pow2"``, exponent from the bits). With G groups along K the
result is, in FP32 with RNE after every operation and groups summed in K order::

    out[m, n] = sum_g fl32(fl32(sa[m, g] * sb[g, n]) * D_g[m, n]),   D_g = unit(A_g / sa, B_g / sb)

(one group for per-tensor / per-channel scales; a zero amax takes scale 1; an unscaled operand
has scale 1).

Biases are added afterwards in float32. The model's parameters are never modified: the context
replaces the modules' ``forward`` for its duration and restores exactly what was there on exit,
exceptions included (a ``forward`` set on a module instance comes back; nested contexts on the
same model restore the outer context's patches).

What runs where while a context is active (with ``matmul_ops=True``, the default):

- emulated: the model's Linear and Conv2d layers, ``torch.matmul``, ``a @ b``
  (``Tensor.__matmul__``), ``Tensor.matmul``, ``torch.mm`` / ``Tensor.mm``, ``torch.bmm`` /
  ``Tensor.bmm`` and ``torch.nn.functional.linear``; products of operands with fewer than two
  dimensions raise ``NotImplementedError``;
- refused (``NotImplementedError``), because they would silently compute in float:
  ``torch.einsum``, ``torch.tensordot``, ``torch.addmm``, ``torch.baddbmm``, ``torch.addbmm``,
  ``torch.nn.functional.scaled_dot_product_attention``, ``F.bilinear``, ``F.conv1d``,
  ``F.conv2d`` (called directly), ``F.conv3d`` and the transposed convolutions;
- backward: an emulated product has no gradient (the unit is a forward model). When autograd
  records (grad mode on and an operand or parameter requires grad) the result requires grad and
  its backward raises ``RuntimeError`` instead of silently dropping the gradient; run inference
  under ``torch.no_grad()`` / ``torch.inference_mode()`` to get plain tensors.

With ``matmul_ops=False`` only the model's layers are emulated and every other product runs in
torch's float arithmetic, unchanged.

The functions above are replaced process-wide, so every thread sees them while a context is
active: the hook is not thread-safe, and contexts must be exited in the reverse order they were
entered (as nested ``with`` blocks are).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .. import formats as _formats
from .._inputs import as_array, widened
from .._kernels.threads import SMALL_MACS, serial
from ..block import BlockArray
from ..codec import decode, encode, quantize
from ..formats import BlockFormat, FloatFormat, IntFormat
from ._lower import reject_fp64
from .api import batched_elements, matmul
from .mx import mx_matmul
from .presets import get
from .unit import DotUnit

Fmt = str | FloatFormat | IntFormat | BlockFormat | None


def _f32(t: Any) -> np.ndarray:
    """A tensor's values as a float32 array (bfloat16 and float16 exactly, float64 rounded to
    nearest even, as ``Tensor.float()`` does)."""
    return widened(as_array(t, "tensor")).astype(np.float32, copy=False)


@dataclass(frozen=True)
class Scaling:
    """How an element-format operand is scaled before the cast (see the module docstring).

    Attributes:
        granularity: ``"tensor"``, ``"channel"`` (row of A / column of B) or ``"group"`` (along K).
        group_size: K elements per scale for ``"group"``.
        scale: ``"float"`` (``amax / format max`` rounded to FP32) or ``"pow2"`` (rounded up to a
            power of two).
    """

    granularity: str = "channel"
    group_size: int | None = None
    scale: str = "float"

    def __post_init__(self) -> None:
        if self.granularity not in ("tensor", "channel", "group"):
            raise ValueError(
                f"granularity={self.granularity!r}: expected 'tensor', 'channel' or 'group'"
            )
        if self.granularity == "group" and (
            not isinstance(self.group_size, int) or self.group_size < 1
        ):
            raise ValueError(
                f"group_size={self.group_size!r}: granularity='group' needs a positive int"
            )
        if self.scale not in ("float", "pow2"):
            raise ValueError(f"scale={self.scale!r}: expected 'float' or 'pow2'")


def _scaling(s: Scaling | str | None, argument: str) -> Scaling | None:
    if s is None or isinstance(s, Scaling):
        return s
    if isinstance(s, str):
        return Scaling(s)
    raise TypeError(
        f"{argument}={s!r}: expected a numsim.datapath.Scaling, a granularity name or None"
    )


def _k_groups(k: int, scaling: Scaling) -> list[slice]:
    step = scaling.group_size if scaling.granularity == "group" else k
    return [slice(i, min(i + step, k)) for i in range(0, k, step)]


def scale_rows(
    x: np.ndarray, fmt: FloatFormat | IntFormat, scaling: Scaling
) -> tuple[np.ndarray, np.ndarray]:
    """Element values and FP32 scales of ``x`` [R, K] (rows are channels, K the reduction axis).

    Returns ``(elements [R, K] float64 on the format's grid, scales [R or 1, G] float64 exact in
    FP32)`` with ``x ~ elements * scale`` per group (round to nearest even, saturating).
    """
    x = np.asarray(x, np.float64)
    if np.isnan(x).any():
        raise ValueError("operand holds NaN: a NaN has no scaled element value")
    groups = _k_groups(x.shape[1], scaling)
    amax = np.stack([np.max(np.abs(x[:, g]), axis=1) for g in groups], axis=1)
    if scaling.granularity == "tensor":
        amax = np.max(amax, keepdims=True)
    s = np.where(amax > 0, amax / float(fmt.max), 1.0)
    if scaling.scale == "pow2":
        m, e = np.frexp(s)
        s = np.ldexp(1.0, np.where(m == 0.5, e - 1, e))  # exponent from the bits, rounded up
    s = s.astype(np.float32).astype(np.float64)
    if not np.isfinite(s).all():
        raise ValueError("operand holds Inf or a scale overflows FP32")
    full = np.repeat(s, [g.stop - g.start for g in groups], axis=1)
    el = quantize(x / full, fmt, rounding="nearest_even", overflow="saturate").astype(np.float64)
    return el, s


def scaled_matmul(
    ea: np.ndarray,
    sa: np.ndarray,
    eb: np.ndarray,
    sb: np.ndarray,
    k_groups: list[slice],
    unit: DotUnit,
) -> np.ndarray:
    """``A @ B`` from element values and scales: each group on ``unit``, scales in an FP32 epilogue.

    Args:
        ea, sa: A's elements [M, K] and scales [M or 1, G or 1].
        eb, sb: B's elements [K, N] and scales [G or 1, N or 1].
        k_groups: the G column ranges of K sharing one scale.
        unit: the dot unit (elements must be exact in its ``in_format``; not the FP64 unit).
    """
    reject_fp64(unit, "scaled_matmul (an FP32 scale epilogue)")
    G = len(k_groups)
    sa = np.broadcast_to(sa, (sa.shape[0], G)) if sa.shape[1] == 1 else sa  # one scale for all of K
    sb = np.broadcast_to(sb, (G, sb.shape[1])) if sb.shape[0] == 1 else sb
    if sa.shape[1] != G or sb.shape[0] != G:
        raise ValueError(
            f"scales of shapes {sa.shape} and {sb.shape} do not match {G} groups along K"
        )
    sa32, sb32 = sa.astype(np.float32), sb.astype(np.float32)
    if not (np.array_equal(sa32, sa) and np.array_equal(sb32, sb)):
        raise ValueError("scales must be exact in FP32 (they are applied in an FP32 epilogue)")
    out = np.zeros((ea.shape[0], eb.shape[1]), np.float32)
    for i, g in enumerate(k_groups):
        d = np.asarray(matmul(ea[:, g], eb[g, :], unit), np.float32)
        alpha = sa32[:, i : i + 1] * sb32[i : i + 1, :]  # float32 product: one RNE rounding
        out = out + alpha * d
    return out


class _Product:
    """``A @ B`` of 2-D float arrays on a unit (or in float with ``unit=None``), with operand
    quantization."""

    def __init__(
        self,
        unit: DotUnit | None,
        input_format: Fmt,
        weight_format: Fmt,
        input_scaling: Scaling | str | None = None,
        weight_scaling: Scaling | str | None = None,
    ) -> None:
        if unit is not None:
            reject_fp64(unit, "the torch hook (numsim.datapath.emulate, PTQ: FP32 tensors)")
        self.unit = unit
        self.fa = self._fmt(input_format, "input_format")
        self.fb = self._fmt(weight_format, "weight_format", right=True)
        self.sa = _scaling(input_scaling, "input_scaling")
        self.sb = _scaling(weight_scaling, "weight_scaling")
        if isinstance(self.fa, BlockFormat) != isinstance(self.fb, BlockFormat):
            raise ValueError(
                f"input_format={self.fa} and weight_format={self.fb}: give two element formats or "
                "two block formats"
            )
        for f, sc, arg in (
            (self.fa, self.sa, "input_scaling"),
            (self.fb, self.sb, "weight_scaling"),
        ):
            if isinstance(f, BlockFormat) and sc is not None:
                raise ValueError(f"{arg}={sc}: block format {f.name} carries its own scales")
        for sc, arg in ((self.sa, "input_scaling"), (self.sb, "weight_scaling")):
            if (
                sc is not None
                and sc.granularity == "group"
                and self.sa is not None
                and self.sb is not None
                and (self.sa.granularity, self.sa.group_size)
                != (self.sb.granularity, self.sb.group_size)
            ):
                raise ValueError(
                    f"{arg}: per-group scales need the same groups along K on both operands"
                )

    def _fmt(
        self, f: Fmt, argument: str, right: bool = False
    ) -> FloatFormat | IntFormat | BlockFormat:
        """The format ``f``; None: the unit's ``in_format`` (``b_format`` for the right operand
        of a mixed-operand unit)."""
        if f is None:
            if self.unit is None:
                raise ValueError(f"{argument}=None needs a unit (its in_format is the default)")
            return self.unit.operand_b_format if right else self.unit.in_format
        fmt = _formats.get(f) if isinstance(f, str) else f
        if not isinstance(fmt, (FloatFormat, IntFormat, BlockFormat)):
            raise TypeError(f"{argument}={f!r}: expected a format name or descriptor")
        return fmt

    def _groups(self, k: int) -> list[slice]:
        grouped = [s for s in (self.sa, self.sb) if s is not None and s.granularity == "group"]
        return _k_groups(k, grouped[0]) if grouped else [slice(0, k)]

    def input_operand(self, a: np.ndarray) -> Any:
        """A [M, K] quantized: a BlockArray, ``(elements, scales)`` or cast values."""
        if isinstance(self.fa, BlockFormat):
            return encode(a, self.fa, axis=1)
        if self.sa is not None:
            return scale_rows(a, self.fa, self.sa)
        return quantize(a, self.fa, rounding="nearest_even", overflow="saturate")

    def weight_operand(self, b: np.ndarray) -> Any:
        """B [K, N] quantized like :meth:`input_operand` (scales [G, N or 1])."""
        if isinstance(self.fb, BlockFormat):
            return encode(b, self.fb, axis=0)
        if self.sb is not None:
            e, s = scale_rows(np.asarray(b).T, self.fb, self.sb)
            return e.T, s.T
        return quantize(b, self.fb, rounding="nearest_even", overflow="saturate")

    def fake(self, a: np.ndarray) -> np.ndarray:
        """Quantized values of the input operand (float64), for float products."""
        qa = self.input_operand(a)
        if isinstance(qa, BlockArray):
            return np.asarray(decode(qa), np.float64)
        if isinstance(qa, tuple):
            e, s = qa
            return e * np.repeat(s, [g.stop - g.start for g in self._groups(a.shape[1])], axis=1)
        return np.asarray(qa, np.float64)

    def product(self, a: np.ndarray, qb: Any) -> np.ndarray:
        """float32 ``a @ B`` for a [M, K] and a quantized B (from :meth:`weight_operand`); a
        small product (an attention head's, say) runs its kernels on one thread
        (:func:`numsim._kernels.threads.serial`)."""
        n = (qb[0] if isinstance(qb, tuple) else qb).shape[1]
        with serial(a.shape[0] * a.shape[1] * n < SMALL_MACS):
            return self._product(np.ascontiguousarray(a, dtype=np.float32), qb)

    def _product(self, a: np.ndarray, qb: Any) -> np.ndarray:
        qa = self.input_operand(a)
        if self.unit is None:
            raise ValueError("no unit: products on quantized operands need a DotUnit")
        if isinstance(qa, BlockArray):
            if not isinstance(qb, BlockArray):
                raise TypeError("a block-format input needs block-format weights")
            return mx_matmul(qa, qb, self.unit)
        if isinstance(qa, tuple) or isinstance(qb, tuple):  # an unscaled operand has scale 1
            groups = self._groups(a.shape[1])
            qa = (
                qa
                if isinstance(qa, tuple)
                else (np.asarray(qa, np.float64), np.ones((1, len(groups))))
            )
            qb = (
                qb
                if isinstance(qb, tuple)
                else (np.asarray(qb, np.float64), np.ones((len(groups), 1)))
            )
            return scaled_matmul(qa[0], qa[1], qb[0], qb[1], self._groups(a.shape[1]), self.unit)
        return np.asarray(matmul(qa, qb, self.unit), np.float32)

    def batched(self, a3: np.ndarray, b3: np.ndarray) -> np.ndarray:
        """float32 ``a3[g] @ b3[g]`` for a3 [G, M, K] and b3 [G, K, N], bit for bit the stack of
        ``self(a3[g], b3[g])``.

        Element formats cast with no scale or scaled per channel or per group quantize each row
        of A and each column of B on its own, so the G slices are quantized in one call each and
        multiplied by :func:`numsim.datapath.api.batched_elements` (one kernel call for the
        NVIDIA units), with the same FP32 epilogue per K group as :func:`scaled_matmul`. Block
        formats and per-tensor scales (one scale per slice) take the loop over slices.
        """
        G, M, K = a3.shape
        N = b3.shape[2]
        if (
            self.unit is None
            or isinstance(self.fa, BlockFormat)
            or any(sc is not None and sc.granularity == "tensor" for sc in (self.sa, self.sb))
            or G == 0
            or K == 0
        ):
            return np.stack([self(x, w) for x, w in zip(a3, b3)]).reshape(G, M, N)
        with serial(G * M * K * N < SMALL_MACS):
            a2 = np.ascontiguousarray(a3, dtype=np.float32).reshape(G * M, K)
            bt = np.ascontiguousarray(np.transpose(b3, (0, 2, 1)), dtype=np.float32)
            qa = self.input_operand(a2)
            if self.sb is not None:  # rows of B^T are the columns of B (weight_operand)
                e, s = scale_rows(bt.reshape(G * N, K), self.fb, self.sb)
                qb: Any = (
                    np.transpose(e.reshape(G, N, K), (0, 2, 1)),
                    np.transpose(s.reshape(G, N, -1), (0, 2, 1)),
                )
            else:
                qb = np.transpose(
                    np.asarray(
                        quantize(bt, self.fb, rounding="nearest_even", overflow="saturate"),
                        np.float64,
                    ),
                    (0, 2, 1),
                )
            if not isinstance(qa, tuple) and not isinstance(qb, tuple):
                return batched_elements(np.asarray(qa, np.float64).reshape(G, M, K), qb, self.unit)
            groups = self._groups(K)
            ea, sa = (
                (qa[0].reshape(G, M, K), qa[1].reshape(G, M, -1))
                if isinstance(qa, tuple)
                else (np.asarray(qa, np.float64).reshape(G, M, K), np.ones((G, 1, 1)))
            )
            eb, sb = qb if isinstance(qb, tuple) else (qb, np.ones((G, 1, 1)))
            sa32 = np.broadcast_to(sa.astype(np.float32), (G, sa.shape[1], len(groups)))
            sb32 = np.broadcast_to(sb.astype(np.float32), (G, len(groups), sb.shape[2]))
            out = np.zeros((G, M, N), np.float32)
            for i, g in enumerate(groups):
                d = batched_elements(
                    np.ascontiguousarray(ea[:, :, g]), np.ascontiguousarray(eb[:, g, :]), self.unit
                )
                alpha = sa32[:, :, i : i + 1] * sb32[:, i : i + 1, :]  # float32: one rounding
                out = out + alpha * d
            return out

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """float32 ``a @ b`` for a [M, K] and b [K, N] (small ones on one thread, as
        :meth:`product`)."""
        with serial(a.shape[0] * a.shape[1] * b.shape[1] < SMALL_MACS):
            return self.product(a, self.weight_operand(np.ascontiguousarray(b, dtype=np.float32)))


def block_weight_operand(ba: BlockArray) -> BlockArray:
    """B [K, N] blocked along axis 0 from the codes of a weight [N, K] blocked along axis 1 (same
    codes)."""
    if len(ba.shape) != 2 or ba.axis != 1:
        raise ValueError(
            f"expected a weight [d_out, d_in] blocked along axis 1; got {ba.shape} axis {ba.axis}"
        )
    return replace(ba, axis=0, shape=(ba.shape[1], ba.shape[0]))


MatMul = Any  # (a2 [rows, K] float32 numpy, module) -> float32 numpy [rows, out]


def unit_product(prod: _Product) -> MatMul:
    """Products of a module's input with its own (quantized on the fly) weight on the unit."""

    def mm(a: np.ndarray, module: Any) -> np.ndarray:
        w = _f32(module.weight.reshape(module.weight.shape[0], -1))
        return prod(a, w.T)

    return mm


def _linear(torch: Any, mm: MatMul, module: Any) -> Any:
    def forward(x: Any) -> Any:
        shape = x.shape
        x2 = _f32(x.reshape(-1, shape[-1]))
        y = torch.from_numpy(np.asarray(mm(x2, module), np.float32)).to(x.dtype)
        if module.bias is not None:
            y = y + module.bias.detach().to(y.dtype)
        return y.reshape(*shape[:-1], module.weight.shape[0])

    return forward


def check_conv(module: Any) -> None:
    """NotImplementedError unless ``module`` is a Conv2d the im2col lowering covers."""
    if module.groups != 1 or module.padding_mode != "zeros" or isinstance(module.padding, str):
        raise NotImplementedError(
            f"{module}: numsim emulates Conv2d with groups=1, numeric padding and "
            "padding_mode='zeros'"
        )


def im2col(torch: Any, module: Any, x: Any, dtype: Any = None) -> Any:
    """Conv2d input x [n, C, H, W] as rows [n * L, C * kh * kw] (float32 or ``dtype``), the
    reduction
    axis ordered (C_in, kh, kw) exactly as ``weight.reshape(out_channels, -1)`` orders it."""
    cols = torch.nn.functional.unfold(
        x.detach().to(dtype or torch.float32),
        module.kernel_size,
        dilation=module.dilation,
        padding=module.padding,
        stride=module.stride,
    )  # [n, C*kh*kw, L]
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


def _conv2d(torch: Any, mm: MatMul, module: Any) -> Any:
    check_conv(module)

    def forward(x: Any) -> Any:
        n, _, h, w_ = x.shape
        kh, kw = module.kernel_size
        a = _f32(im2col(torch, module, x))
        L = a.shape[0] // n
        y = (
            torch.from_numpy(np.asarray(mm(a, module), np.float32))
            .reshape(n, L, -1)
            .transpose(1, 2)
        )
        if module.bias is not None:
            y = y + module.bias.detach().float()[None, :, None]
        oh = (h + 2 * module.padding[0] - module.dilation[0] * (kh - 1) - 1) // module.stride[0] + 1
        ow = (w_ + 2 * module.padding[1] - module.dilation[1] * (kw - 1) - 1) // module.stride[
            1
        ] + 1
        return y.reshape(n, -1, oh, ow).to(x.dtype)

    return forward


def patch_forward(torch: Any, mm: MatMul, module: Any, no_backward: bool = False) -> bool:
    """Give a Linear / Conv2d ``module`` a forward running its product through ``mm``; False for
    others. ``no_backward``: results that autograd records refuse backward (:func:`no_grad_of`)."""
    if isinstance(module, torch.nn.Linear):
        fwd = _linear(torch, mm, module)
    elif isinstance(module, torch.nn.Conv2d):
        fwd = _conv2d(torch, mm, module)
    else:
        return False
    if no_backward:
        inner = fwd

        def fwd(x: Any) -> Any:
            return no_grad_of(torch, inner(x), x, module.weight, module.bias)

    module.forward = fwd
    return True


_REFUSE_BACKWARD: dict[int, Any] = {}


def _refuse_backward(torch: Any) -> Any:
    """An autograd Function: identity forward, a backward that raises (built once per torch)."""
    if id(torch) not in _REFUSE_BACKWARD:

        class RefuseBackward(torch.autograd.Function):
            @staticmethod
            def forward(ctx: Any, y: Any, *inputs: Any) -> Any:
                return y.clone()

            @staticmethod
            def backward(ctx: Any, *grads: Any) -> Any:
                raise RuntimeError(
                    "numsim.datapath.emulate: backward through an emulated product is not "
                    "supported (the unit is a forward model; its float gradient would not be the "
                    "unit's); run the emulated forward under torch.no_grad()"
                )

        _REFUSE_BACKWARD[id(torch)] = RefuseBackward
    return _REFUSE_BACKWARD[id(torch)]


def no_grad_of(torch: Any, y: Any, *inputs: Any) -> Any:
    """``y`` (computed outside autograd from ``inputs``), made to refuse backward when autograd
    records: grad mode on and an input requires grad. Otherwise ``y`` itself."""
    ts = [t for t in inputs if isinstance(t, torch.Tensor) and t.requires_grad]
    if not ts or not torch.is_grad_enabled():
        return y
    return _refuse_backward(torch).apply(y, *ts)


def _matmul(torch: Any, prod: _Product, name: str = "torch.matmul") -> Any:
    def mm(a: Any, b: Any, *, out: Any = None) -> Any:
        if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
            return NotImplemented if name.endswith("__matmul__") else _refuse(name)(a, b)
        if out is not None or a.dim() < 2 or b.dim() < 2:
            raise NotImplementedError(
                f"numsim emulates {name} of operands with at least 2 dimensions, without out="
            )
        want = 3 if name.endswith("bmm") else 2 if name.endswith(".mm") else None
        if want is not None and (a.dim(), b.dim()) != (want, want):
            raise RuntimeError(f"{name}: operands of shapes {a.shape} and {b.shape}")
        lead = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        a3 = _f32(a.expand(*lead, *a.shape[-2:]).reshape(-1, *a.shape[-2:]))
        b3 = _f32(b.expand(*lead, *b.shape[-2:]).reshape(-1, *b.shape[-2:]))
        y = prod.batched(a3, b3).reshape(*lead, a.shape[-2], -1)
        return no_grad_of(torch, torch.from_numpy(y).to(a.dtype), a, b)

    return mm


def _f_linear(torch: Any, prod: _Product) -> Any:
    def linear(x: Any, weight: Any, bias: Any = None) -> Any:
        if x.dim() < 1 or weight.dim() != 2:
            raise NotImplementedError("numsim emulates F.linear with a 2-D weight")
        x2 = _f32(x.reshape(-1, x.shape[-1]))
        y = torch.from_numpy(np.asarray(prod(x2, _f32(weight).T), np.float32)).to(x.dtype)
        if bias is not None:
            y = y + bias.detach().to(y.dtype)
        return no_grad_of(torch, y.reshape(*x.shape[:-1], weight.shape[0]), x, weight, bias)

    return linear


def _refuse(name: str) -> Any:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"{name} inside numsim.datapath.emulate: numsim does not emulate it and would compute "
            "it silently in float; write it with torch.matmul / @ / Linear, or pass "
            "matmul_ops=False to run it in float knowingly"
        )

    return refused


#: (owner, attribute) replaced with a refusal while a context with matmul_ops=True is active
_REFUSED = (
    ("torch", "einsum"),
    ("torch", "tensordot"),
    ("torch", "addmm"),
    ("torch", "baddbmm"),
    ("torch", "addbmm"),
    ("F", "scaled_dot_product_attention"),
    ("F", "bilinear"),
    ("F", "conv1d"),
    ("F", "conv2d"),
    ("F", "conv3d"),
    ("F", "conv_transpose1d"),
    ("F", "conv_transpose2d"),
    ("F", "conv_transpose3d"),
)


def _global_patches(torch: Any, prod: _Product) -> list[tuple[Any, str, Any]]:
    """(owner, attribute, replacement) of every process-wide function a context replaces."""
    F = torch.nn.functional
    owners = {"torch": torch, "F": F, "Tensor": torch.Tensor}
    out: list[tuple[Any, str, Any]] = [
        (torch, "matmul", _matmul(torch, prod, "torch.matmul")),
        (torch, "mm", _matmul(torch, prod, "torch.mm")),
        (torch, "bmm", _matmul(torch, prod, "torch.bmm")),
        (torch.Tensor, "__matmul__", _matmul(torch, prod, "Tensor.__matmul__")),
        (torch.Tensor, "matmul", _matmul(torch, prod, "Tensor.matmul")),
        (torch.Tensor, "mm", _matmul(torch, prod, "Tensor.mm")),
        (torch.Tensor, "bmm", _matmul(torch, prod, "Tensor.bmm")),
        (F, "linear", _f_linear(torch, prod)),
    ]
    out += [(owners[o], n, _refuse(f"{o}.{n}")) for o, n in _REFUSED if hasattr(owners[o], n)]
    return out


_MISSING = object()


def _restore(obj: Any, name: str, old: Any) -> None:
    """Put back attribute ``name`` of ``obj`` as it was in ``vars(obj)`` (absent: inherited)."""
    if old is _MISSING:
        if name in vars(obj):
            delattr(obj, name)
    else:
        setattr(obj, name, old)


@contextlib.contextmanager
def emulate(
    model: Any,
    unit: str | DotUnit,
    input_format: Fmt = None,
    weight_format: Fmt = None,
    matmul_ops: bool = True,
    *,
    input_scaling: Scaling | str | None = None,
    weight_scaling: Scaling | str | None = None,
) -> Iterator[Any]:
    """Context in which ``model``'s Linear / Conv2d layers (and ``torch.matmul``) run on ``unit``.

    Args:
        model: a ``torch.nn.Module``.
        unit: a DotUnit or a preset name.
        input_format: format of activations (the left operand); None: the unit's ``in_format``.
        weight_format: format of weights (the right operand); None: the unit's ``b_format`` (its
            ``in_format`` unless the unit mixes operand formats).
        matmul_ops: also replace ``torch.matmul`` (attention products) while active.
        input_scaling: scales of an element-format ``input_format`` (:class:`Scaling` or a
            granularity name); None: cast with no scale.
        weight_scaling: the same for ``weight_format``; give both or neither.

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
    prod = _Product(unit, input_format, weight_format, input_scaling, weight_scaling)
    mm = unit_product(prod)
    saved: list[tuple[Any, str, Any]] = []  # (object, attribute, what vars(object) held)
    try:
        for m in model.modules():
            old = vars(m).get("forward", _MISSING)  # an instance forward, or a context's patch
            if patch_forward(torch, mm, m, no_backward=True):
                saved.append((m, "forward", old))
        if matmul_ops:
            for owner, name, fn in _global_patches(torch, prod):
                saved.append((owner, name, vars(owner).get(name, _MISSING)))
                setattr(owner, name, fn)
        yield model
    finally:
        for obj, name, old in reversed(saved):
            _restore(obj, name, old)
