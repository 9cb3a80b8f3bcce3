"""Sequential calibration over a torch model's graph: layer order, groups and Gram statistics.

The order of the quantizable layers (Linear, Conv2d) is the order in which a forward calls them,
recorded with hooks on one calibration batch; layers whose input is the same tensor object form
one group (attention q/k/v, conv branches after one tensor), unless an in-place operation
changed that tensor between the calls (torch's version counter). Everything else (residual adds,
norms, softmax, attention products) simply runs as part of the forward. For each group the
calibration set runs through the float model (X) and the partially quantized copy (X~); the
forward stops by exception once every layer of the group has run (when no layer is called twice
per forward), and the float64 Gram matrices ``H = X~^T X~``, ``G = X~^T X`` and ``F = X^T X``
are accumulated batch by batch (``F`` gives the report's output error without keeping X);
:func:`numsim.ptq.quantize_model` leaves the rows of padding positions out of them.

Inputs are turned into rows ``[n, d_in]``: a Linear's input reshaped to ``(-1, in_features)``; a
Conv2d's input unfolded (im2col) with the reduction axis ordered ``(C_in, kh, kw)`` exactly as
``weight.reshape(out_channels, -1)`` orders it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


class _Stop(Exception):
    """Raised by a hook to end a forward once the group's layers have run."""


@dataclass(frozen=True)
class Layer:
    """A quantizable layer: dotted module name and the group it belongs to."""

    name: str
    group: int


def is_quantizable(torch: Any, m: Any) -> bool:
    """Linear or Conv2d."""
    return isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))


def rows(torch: Any, module: Any, x: Any) -> np.ndarray:
    """The layer's input as float64 rows [n, d_in] (see the module docstring for Conv2d's order)."""
    from ..datapath.torch_hook import im2col

    if isinstance(module, torch.nn.Conv2d):
        return im2col(torch, module, x, torch.float64).cpu().numpy()
    return x.detach().reshape(-1, x.shape[-1]).double().cpu().numpy()


def call(model: Any, batch: Any) -> Any:
    """``model(batch)`` for a tensor, ``model(*batch)`` for a tuple / list, ``model(**batch)`` for a
    dict."""
    if isinstance(batch, dict):
        return model(**batch)
    if isinstance(batch, (tuple, list)):
        return model(*batch)
    return model(batch)


def run_batch(torch: Any, model: Any, batch: Any, index: int) -> None:
    """One forward without gradients; errors of the forward are re-raised naming the batch."""
    try:
        with torch.no_grad():
            call(model, batch)
    except _Stop:
        pass
    except (RuntimeError, TypeError, ValueError, IndexError) as exc:
        raise type(exc)(f"calibration batch {index}: the model's forward failed: {exc}") from exc


def record_order(
    torch: Any, model: Any, batch: Any, names: dict[Any, str]
) -> tuple[list[Layer], bool]:
    """Layers in call order with their groups, and whether any layer ran more than once.

    Args:
        model: the module to trace (hooks are removed afterwards).
        batch: one calibration batch.
        names: module -> dotted name of the layers to order (others are ignored).
    """
    order: list[Any] = []
    inputs: list[Any] = []
    calls: dict[Any, int] = {}

    def pre(module: Any, args: tuple[Any, ...]) -> None:
        calls[module] = calls.get(module, 0) + 1
        if calls[module] == 1:
            order.append(module)
            # the version counter tells an in-place change of the same tensor apart
            inputs.append((args[0], getattr(args[0], "_version", None)))

    handles = [m.register_forward_pre_hook(pre) for m in names]
    try:
        run_batch(torch, model, batch, 0)
    finally:
        for h in handles:
            h.remove()
    layers: list[Layer] = []
    group_of: list[int] = []
    for i, m in enumerate(order):
        same = next(
            (j for j in range(i) if inputs[j][0] is inputs[i][0] and inputs[j][1] == inputs[i][1]),
            None,
        )
        g = group_of[same] if same is not None else (max(group_of) + 1 if group_of else 0)
        group_of.append(g)
        layers.append(Layer(names[m], g))
    return layers, any(c > 1 for c in calls.values())


def _signature(torch: Any, module: Any) -> Any:
    """What, besides the input tensor, decides a layer's rows: nothing for a Linear (all Linears
    reading one tensor get the same rows), the unfold geometry for a Conv2d."""
    if isinstance(module, torch.nn.Conv2d):
        return (module.kernel_size, module.dilation, module.padding, module.stride)
    return None


def _exact_in_float32(torch: Any, x: Any) -> bool:
    """Whether every value of tensor ``x`` is a float32 value (its dtype is float32 or narrower)."""
    return x.dtype in (torch.float32, torch.float16, torch.bfloat16)


def call_counts(torch: Any, model: Any, batch: Any) -> dict[Any, int]:
    """How many times one forward of ``batch`` calls each submodule of ``model`` (module -> calls;
    modules not called are absent)."""
    counts: dict[Any, int] = {}

    def pre(module: Any, _args: Any) -> None:
        counts[module] = counts.get(module, 0) + 1

    handles = [m.register_forward_pre_hook(pre) for m in model.modules()]
    try:
        run_batch(torch, model, batch, 0)
    finally:
        for h in handles:
            h.remove()
    return counts


def _clone(torch: Any, out: Any) -> Any:
    """A copy of a module output made of tensors (a tensor, or a tuple / list of tensors and
    plain constants); :data:`_UNCACHEABLE` for anything else."""
    if isinstance(out, torch.Tensor):
        return out.clone()
    if type(out) in (tuple, list) and all(
        x is None or isinstance(x, (torch.Tensor, bool, int, float, str)) for x in out
    ):
        return type(out)(x.clone() if isinstance(x, torch.Tensor) else x for x in out)
    return _UNCACHEABLE


_UNCACHEABLE = object()


class PrefixCache:
    """Outputs of the quantized copy's submodules that later groups' calibration forwards reuse
    instead of recomputing them.

    Why: each layer group's statistics need the quantized copy's forward up to that group, and
    without this cache every group re-runs the whole prefix from the embeddings (for MiniLM's 24
    groups about 12 full forwards). Between group ``g``'s forward and any later one only layers of
    groups ``>= g`` change. A submodule whose call returned, in group ``g``'s forward, before any
    layer of group ``g`` was called holds only layers of earlier groups (groups are numbered in
    call order and, with ``stop``, no layer is called twice), and its inputs came from modules
    that ran before it; so every later forward of the same batch computes exactly the same output
    for it. That output is kept (a copy, so that in-place operations of the caller cannot change
    it) and returned (another copy) instead of running the module again; its own forward hooks
    still run. The deterministic CPU forward makes the results bit-identical to re-running the
    prefix (tests/test_ptq_prefix_cache.py).

    Only submodules that one forward calls exactly once (:func:`call_counts`), that are not
    quantized layers (their forward is replaced as they are quantized) and that have no instance
    ``forward`` are wrapped; a module returning anything but tensors (or tuples and lists of
    tensors and constants) is never cached. When a module's output is kept, the kept outputs of
    the modules inside it are dropped (they cannot be called again before it), so the memory held
    is about one activation per batch per completed block. :meth:`close` removes the wrappers.
    """

    def __init__(self, torch: Any, model: Any, candidates: list[Any]) -> None:
        self.torch = torch
        self.batch = 0
        self.open = True  #: no layer of the current group has been called in this forward yet
        self.kept: dict[tuple[int, int], Any] = {}
        self.inner: dict[int, list[int]] = {}
        self.wrapped: list[Any] = []
        index = {id(m): i for i, m in enumerate(candidates)}
        for i, m in enumerate(candidates):
            self.inner[i] = [index[id(c)] for c in m.modules() if c is not m and id(c) in index]
            self.wrapped.append(m)
            m.forward = self._wrap(i, m.forward)

    def _wrap(self, i: int, inner: Callable[..., Any]) -> Callable[..., Any]:
        def forward(*args: Any, **kwargs: Any) -> Any:
            hit = self.kept.get((i, self.batch))
            if hit is not None:
                return _clone(self.torch, hit)
            out = inner(*args, **kwargs)
            if self.open:
                kept = _clone(self.torch, out)
                if kept is not _UNCACHEABLE:
                    self.kept[(i, self.batch)] = kept
                    for j in self.inner[i]:
                        self.kept.pop((j, self.batch), None)
            return out

        return forward

    def start(self, batch: int) -> None:
        """A forward of batch index ``batch`` begins."""
        self.batch, self.open = batch, True

    def close(self) -> None:
        """Remove the wrappers and the kept outputs."""
        for m in self.wrapped:
            del m.forward
        self.wrapped, self.kept = [], {}


def prefix_cache(
    torch: Any, model: Any, counted: Any, batch: Any, layers: Sequence[Any]
) -> PrefixCache:
    """A :class:`PrefixCache` over ``model``'s submodules (see there which are wrapped).

    The calls are counted on one forward of ``batch`` through ``counted``, a model of the same
    structure (the float original: ``model``'s own forward may refuse layers it has not quantized
    yet, e.g. a convolution inside a datapath emulation), matched by module name; ``layers``:
    the quantized layers of ``model``."""
    counts = call_counts(torch, counted, batch)
    # a module shared under several names counts every call of the object under each name
    by_name = {n: counts.get(m, 0) for n, m in counted.named_modules(remove_duplicate=False)}
    skip = {id(m) for m in layers}
    candidates = [
        m
        for n, m in model.named_modules()
        if m is not model and id(m) not in skip and by_name.get(n) == 1 and "forward" not in vars(m)
    ]
    return PrefixCache(torch, model, candidates)


def capture(
    torch: Any,
    model: Any,
    batches: Sequence[Any],
    modules: dict[str, Any],
    stop: bool,
    on_batch: Callable[[dict[str, np.ndarray]], None],
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    compact: bool = False,
    cache: PrefixCache | None = None,
) -> None:
    """Run ``batches`` through ``model`` and hand the rows of ``modules``' inputs to ``on_batch``.

    ``on_batch`` gets, per batch, name -> rows (all calls of a layer in that batch stacked; a
    layer called once gets its rows as they are). Layers that read the same tensor object with
    the same row layout (a Linear group such as attention q/k/v) get the same array, computed (and
    ``transform``-ed) once; receivers must not modify it. ``transform`` maps the rows first (the
    input quantizer). With ``stop`` the forward ends once every module has been called. With
    ``compact`` the rows of an input whose dtype is float32 or narrower are float32 arrays (the
    same values, half the memory of float64); other inputs stay float64. ``cache``: a
    :class:`PrefixCache` of ``model`` (only with ``stop``, ``modules`` being the next group).
    """
    got: dict[str, list[np.ndarray]] = {}
    # (id of the input tensor, row layout) -> (the tensor, kept alive so the id stays its, rows)
    memo: dict[tuple[Any, ...], tuple[Any, np.ndarray]] = {}

    def make(name: str, module: Any) -> Callable[..., None]:
        def pre(_: Any, args: tuple[Any, ...]) -> None:
            if cache is not None:
                cache.open = False
            x = args[0]
            # an in-place operation between two readers changes the version, not the object
            key = (id(x), getattr(x, "_version", None), _signature(torch, module))
            hit = memo.get(key)
            if hit is not None and hit[0] is x:
                r = hit[1]
            else:
                r = rows(torch, module, x)
                if np.isnan(r).any():
                    raise ValueError(
                        f"the input of layer {name!r} holds NaN (NaN in the calibration data or "
                        "produced by the model)"
                    )
                if transform is not None:
                    r = transform(r)
                if compact and transform is None and _exact_in_float32(torch, x):
                    r = r.astype(np.float32)
                memo[key] = (x, r)
            got.setdefault(name, []).append(r)
            if stop and len(got) == len(modules):
                raise _Stop

        return pre

    handles = [m.register_forward_pre_hook(make(n, m)) for n, m in modules.items()]
    try:
        for i, batch in enumerate(batches):
            got.clear()
            memo.clear()
            if cache is not None:
                cache.start(i)
            run_batch(torch, model, batch, i)
            memo.clear()
            missing = sorted(set(modules) - set(got))
            if missing:
                raise ValueError(f"calibration batch {i}: layers {missing} were not called")
            on_batch({n: v[0] if len(v) == 1 else np.concatenate(v) for n, v in got.items()})
    finally:
        for h in handles:
            h.remove()


@dataclass
class Grams:
    """Float64 accumulators of one layer: ``H = X~^T X~``, ``G = X~^T X``, ``F = X^T X``, ``n``
    rows."""

    H: np.ndarray
    G: np.ndarray
    F: np.ndarray
    n: int = 0

    @classmethod
    def zeros(cls, d: int) -> Grams:
        return cls(np.zeros((d, d)), np.zeros((d, d)), np.zeros((d, d)))

    def add(self, xq: np.ndarray, x: np.ndarray) -> None:
        """Add one batch's rows (float32 rows are widened to float64 first, exactly)."""
        if xq.shape != x.shape:
            raise ValueError(f"float and quantized inputs differ in shape: {x.shape} vs {xq.shape}")
        xq = np.asarray(xq, np.float64)
        x = np.asarray(x, np.float64)
        self.H += xq.T @ xq
        self.G += xq.T @ x
        self.F += x.T @ x
        self.n += x.shape[0]


def relative_output_error(W: np.ndarray, Q: np.ndarray, g: Grams) -> float:
    """``||X W^T - X~ Q^T||_F / ||X W^T||_F`` from the Gram matrices (0 when ``X W^T`` is 0)."""
    ref = float(np.sum((W @ g.F) * W))
    cross = float(np.sum((W @ g.G.T) * Q))  # tr(W X^T X~ Q^T)
    quant = float(np.sum((Q @ g.H) * Q))
    err = max(ref - 2.0 * cross + quant, 0.0)
    return float(np.sqrt(err / ref)) if ref > 0 else float(np.sqrt(err))
