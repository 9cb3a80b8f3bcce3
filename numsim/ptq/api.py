"""``quantize_model``: post-training weight quantization of a torch model, layer group by group.

::

    qmodel, report = numsim.ptq.quantize_model(model, batches, weight_format="mxfp4_e2m1",
    method="gptq") print(report.table())

See :mod:`numsim.ptq.graph` for the order, the groups and the statistics.
"""

from __future__ import annotations

import copy
import difflib
import fnmatch
import inspect
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..block import BlockArray
from ..codec import decode
from ..datapath.presets import get as get_unit
from ..datapath.torch_hook import (
    Scaling,
    _Product,
    block_weight_operand,
    emulate,
    patch_forward,
)
from ..datapath.unit import DotUnit
from ..formats import BlockFormat
from ..formats import get as get_format
from . import graph
from .methods import METHODS, LayerStats, run_method
from .quantizers import weight_quantizer


@dataclass(frozen=True)
class LayerReport:
    """One quantized layer: weight shape, method, relative output error on the calibration data,
    whether the stored weights equal the decoded codes exactly in the model's dtype, seconds."""

    name: str
    shape: tuple[int, ...]
    method: str
    rel_error: float
    exact: bool
    seconds: float


@dataclass(frozen=True)
class PTQReport:
    """What :func:`quantize_model` did.

    Attributes:
        layers: the quantized layers in calibration order.
        skipped: ``(name, reason)`` of every module with weights left in float.
        codes: layer name -> ``WeightQuantizer.export`` of its weights (a BlockArray, or element
        codes
            and scales).
        weight_format, method, input_format, datapath: the settings.
        seconds: wall time of the whole run.
    """

    layers: tuple[LayerReport, ...]
    skipped: tuple[tuple[str, str], ...]
    codes: dict[str, Any]
    weight_format: str
    method: str
    input_format: str | None
    datapath: str | None
    seconds: float

    def table(self) -> str:
        """The per-layer table and the layers left in float, as text."""
        head = ["layer", "shape", "method", "rel. output error", "exact", "seconds"]
        rows = [
            [
                r.name,
                "x".join(map(str, r.shape)),
                r.method,
                f"{r.rel_error:.4e}",
                "yes" if r.exact else "no",
                f"{r.seconds:.2f}",
            ]
            for r in self.layers
        ]
        widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]

        def line(r: list[str]) -> str:
            return "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))
            )

        title = (
            f"weights {self.weight_format}, method {self.method}, inputs "
            f"{self.input_format or 'float'}, "
            f"datapath {self.datapath or 'float'}"
        )
        out = [title, line(head), line(["-" * w for w in widths]), *map(line, rows)]
        if self.skipped:
            out.append("left in float:")
            out += [f"  {n}: {why}" for n, why in self.skipped]
        out.append(f"total {self.seconds:.2f} s")
        return "\n".join(out)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serializable summary (codes excluded)."""
        return {
            "weight_format": self.weight_format,
            "method": self.method,
            "input_format": self.input_format,
            "datapath": self.datapath,
            "seconds": self.seconds,
            "layers": [
                {
                    "name": r.name,
                    "shape": list(r.shape),
                    "method": r.method,
                    "rel_error": r.rel_error,
                    "exact": r.exact,
                    "seconds": r.seconds,
                }
                for r in self.layers
            ],
            "skipped": [{"name": n, "reason": why} for n, why in self.skipped],
        }


def _torch() -> Any:
    import torch

    return torch


def _batches(calibration: Any) -> list[Any]:
    torch = _torch()
    if isinstance(calibration, (torch.Tensor, dict)):
        raise TypeError(
            "calibration: expected an iterable of batches (a list of tensors, tuples or dicts), "
            f"got a single {type(calibration).__name__}; wrap it in a list"
        )
    if not isinstance(calibration, Iterable):
        raise TypeError(
            f"calibration: expected an iterable of batches, got {type(calibration).__name__}"
        )
    batches = list(calibration)
    if not batches:
        raise ValueError("calibration: empty; give at least one batch")
    for i, b in enumerate(batches):
        parts = b.values() if isinstance(b, dict) else b if isinstance(b, (tuple, list)) else [b]
        for t in parts:
            if isinstance(t, torch.Tensor) and t.is_floating_point() and torch.isnan(t).any():
                raise ValueError(f"calibration batch {i} holds NaN")
    return batches


def _select(
    torch: Any, model: Any, include: Any, exclude: Any
) -> tuple[dict[Any, str], list[tuple[str, str]]]:
    """Quantizable modules (module -> name) and ``(name, reason)`` of weighted modules left in
    float."""
    inc = [include] if isinstance(include, str) else list(include or ["*"])
    exc = [exclude] if isinstance(exclude, str) else list(exclude or [])
    chosen: dict[Any, str] = {}
    skipped: list[tuple[str, str]] = []
    for name, m in model.named_modules():
        if not any(True for _ in m.parameters(recurse=False)):
            continue
        label = name or "(model)"
        if not graph.is_quantizable(torch, m):
            skipped.append((label, f"{type(m).__name__}: only Linear and Conv2d are quantized"))
        elif isinstance(m, torch.nn.Conv2d) and (
            m.groups != 1 or m.padding_mode != "zeros" or isinstance(m.padding, str)
        ):
            skipped.append(
                (label, "Conv2d with groups != 1, string padding or non-zero padding_mode")
            )
        elif not any(fnmatch.fnmatchcase(name, p) for p in inc):
            skipped.append((label, f"not matched by include={inc}"))
        elif any(fnmatch.fnmatchcase(name, p) for p in exc):
            skipped.append((label, f"matched by exclude={exc}"))
        else:
            chosen[m] = name
    return chosen, skipped


def _weight2d(m: Any) -> np.ndarray:
    return m.weight.detach().double().reshape(m.weight.shape[0], -1).cpu().numpy()


def _weight_operand(export: Any, quantizer: Any) -> Any:
    """B = W^T operand for the unit from the exported codes."""
    if isinstance(export, BlockArray):
        return block_weight_operand(export)
    codes, scales = export
    scales = np.asarray(scales, np.float64)
    if scales.ndim != 2 or scales.shape[0] not in (1, codes.shape[0]):
        raise ValueError(
            f"exported scales of shape {scales.shape}: expected [d_out or 1, groups] for codes "
            f"{codes.shape}"
        )
    return np.asarray(decode(codes, quantizer.format), np.float64).T, scales.T


def _install(torch: Any, module: Any, prod: _Product | None, qb: Any) -> None:
    """Give a quantized layer its forward: on the unit (``prod.unit``) or float with quantized
    inputs. Either product is computed outside autograd, so a result that autograd records refuses
    backward with a ``RuntimeError`` instead of silently carrying no gradient."""
    if prod is None:
        return
    if prod.unit is not None:
        patch_forward(torch, lambda a, _m: prod.product(a, qb), module, no_backward=True)
    else:

        def float_mm(a: np.ndarray, m: Any) -> np.ndarray:
            w = m.weight.detach().float().reshape(m.weight.shape[0], -1).cpu().numpy()
            return prod.fake(a).astype(np.float32) @ w.T

        patch_forward(torch, float_mm, module, no_backward=True)


def _eager_attention(model: Any) -> None:
    """Ask a Hugging Face model for its eager attention, whose products are ``torch.matmul`` calls
    (the fused ``sdpa`` kernel bypasses ``torch.matmul``, so it could not run on the unit)."""
    cfg = getattr(model, "config", None)
    impl = getattr(cfg, "_attn_implementation", None)
    if impl not in (None, "eager") and hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")


def _matmuls_on_unit(torch: Any, model: Any, unit: DotUnit, fmt: Any, scaling: Any) -> None:
    """Make every ``torch.matmul`` inside ``model``'s forward (the attention products, whose
    operands are both activations in ``fmt``) run on ``unit``: the model gets an instance
    ``forward`` that calls the class's forward inside :func:`numsim.datapath.emulate` of an empty
    module, which replaces ``torch.matmul`` only, and restores it when the forward returns."""
    _eager_attention(model)
    inner = model.forward
    empty = torch.nn.Module()

    def forward(*args: Any, **kwargs: Any) -> Any:
        with emulate(
            empty,
            unit,
            fmt,
            fmt,
            matmul_ops=True,
            input_scaling=scaling,
            weight_scaling=scaling,
        ):
            return inner(*args, **kwargs)

    model.forward = forward


def _token_mask(torch: Any, batch: Any) -> np.ndarray | None:
    """The flattened ``attention_mask`` of a dict batch as booleans (True: a real token), or None
    when the batch is not a dict or carries no ``attention_mask`` tensor."""
    if not isinstance(batch, dict):
        return None
    mask = batch.get("attention_mask")
    if not isinstance(mask, torch.Tensor):
        return None
    return mask.detach().reshape(-1).cpu().numpy() != 0


def _real_rows(rows: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The rows of real tokens: a Linear's input rows are the (batch, token) positions flattened
    in the mask's order, so when the row count equals the mask's size only the rows the mask
    keeps are returned; otherwise (no mask, a Conv2d, a layer called on other shapes or more than
    once per forward) all rows. Padding positions carry no text, and their rows would otherwise
    pull the layer's statistics towards inputs the model never uses."""
    if mask is None or rows.shape[0] != mask.size:
        return rows
    return rows[mask]


#: Default limit, in bytes, of the float-path inputs :func:`quantize_model` keeps in memory.
FLOAT_INPUT_CACHE = 2 * 2**30


class _CacheFull(Exception):
    """Raised while collecting the float-path inputs once they exceed the limit."""


def _float_inputs(
    torch: Any,
    float_model: Any,
    batches: list[Any],
    fmods: dict[str, Any],
    limit: int,
) -> list[dict[str, np.ndarray]] | None:
    """Every quantized layer's float-path input X, from ONE float forward per batch.

    The float model never changes, so the X a layer group sees is the same whichever group is
    being calibrated; keeping it saves re-running the float model up to every group (about half
    the calibration forwards). Per batch, layer name -> rows with the padding rows already left
    out (:func:`_real_rows`); layers that read one tensor (a group of Linears) share one array.

    Memory: the rows are kept as float32 when the model computes in float32 (the same values as
    the float64 rows the Gram matrices are built from, so the results are bit-identical), i.e.
    about ``real rows x (sum of the distinct input widths) x 4 B``; for MiniLM (6 layers, widths
    384 + 384 + 384 + 1536 per layer) that is about 64 KiB per token, 0.26 GB for 4000 tokens.
    Returns None, with a warning, once the kept rows would exceed ``limit`` bytes; the caller then
    re-runs the float model per group (the slower path, same results).
    """
    xs: list[dict[str, np.ndarray]] = []
    masks = iter([_token_mask(torch, b) for b in batches])
    seen: set[int] = set()
    total = [0]

    def keep(x: dict[str, np.ndarray]) -> None:
        mask = next(masks)
        by_source: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        out: dict[str, np.ndarray] = {}
        for n, r in x.items():
            hit = by_source.get(id(r))
            if hit is None or hit[0] is not r:
                hit = (r, _real_rows(r, mask))
                by_source[id(r)] = hit
            out[n] = hit[1]
            if id(hit[1]) not in seen:
                seen.add(id(hit[1]))
                total[0] += hit[1].nbytes
        if total[0] > limit:
            raise _CacheFull
        xs.append(out)

    try:
        graph.capture(torch, float_model, batches, fmods, False, keep, compact=True)
    except _CacheFull:
        warnings.warn(
            f"quantize_model: the float-path inputs exceed float_input_cache={limit} bytes "
            f"(over {total[0]} bytes after {len(xs) + 1} of {len(batches)} batches); the float "
            "model is re-run for every layer group instead (same results, slower). Raise "
            "float_input_cache to keep them.",
            ResourceWarning,
            stacklevel=3,
        )
        return None
    return xs


def _group_stats(
    torch: Any,
    float_model: Any,
    qmodel: Any,
    batches: list[Any],
    mods: dict[str, tuple[Any, Any]],
    grams: dict[str, graph.Grams],
    stop: bool,
    transform: Any,
    float_inputs: list[dict[str, np.ndarray]] | None = None,
    cache: graph.PrefixCache | None = None,
) -> None:
    """Accumulate the group's Grams: each batch's float-path rows X (from ``float_inputs``, or,
    when None, a float forward up to the group), then the quantized copy's (X~). Rows of padding
    positions are left out (see :func:`_token_mask` and :func:`_real_rows`).
    """
    masks = iter([_token_mask(torch, b) for b in batches])
    if float_inputs is None:
        xs: list[dict[str, np.ndarray]] = []
        graph.capture(
            torch, float_model, batches, {n: m[0] for n, m in mods.items()}, stop, xs.append
        )
        it = iter(xs)

        def float_rows(mask: np.ndarray | None) -> dict[str, np.ndarray]:
            x = next(it)
            return {n: _real_rows(x[n], mask) for n in mods}

    else:
        cached = iter(float_inputs)

        def float_rows(mask: np.ndarray | None) -> dict[str, np.ndarray]:
            return next(cached)

    def add(xq: dict[str, np.ndarray]) -> None:
        mask = next(masks)
        x = float_rows(mask)
        for n in mods:
            grams[n].add(_real_rows(xq[n], mask), x[n])

    graph.capture(
        torch,
        qmodel,
        batches,
        {n: m[1] for n, m in mods.items()},
        stop,
        add,
        transform,
        cache=cache,
    )


def _calibrate(
    torch: Any,
    method: str,
    options: dict[str, Any],
    quantizer: Any,
    prod: _Product | None,
    float_model: Any,
    qmodel: Any,
    batches: list[Any],
    layers: list[graph.Layer],
    repeated: bool,
    fmods: dict[str, Any],
    qmods: dict[str, Any],
    transform: Any,
    float_inputs: list[dict[str, np.ndarray]] | None,
    cache: graph.PrefixCache | None,
    progress: Callable[[int, int, str], None] | None,
) -> tuple[list[LayerReport], dict[str, Any]]:
    """The group-by-group loop of :func:`quantize_model`: statistics, method, installation."""
    reports: list[LayerReport] = []
    codes: dict[str, Any] = {}
    for g in sorted({lay.group for lay in layers}):
        names = [lay.name for lay in layers if lay.group == g]
        grams = {n: graph.Grams.zeros(_weight2d(fmods[n]).shape[1]) for n in names}
        t_g = time.perf_counter()
        _group_stats(
            torch,
            float_model,
            qmodel,
            batches,
            {n: (fmods[n], qmods[n]) for n in names},
            grams,
            not repeated,
            transform,
            None if float_inputs is None else [{n: x[n] for n in names} for x in float_inputs],
            cache,
        )
        t_stats = (time.perf_counter() - t_g) / len(names)
        for n in names:
            t = time.perf_counter()
            W = _weight2d(fmods[n])
            st = grams[n]
            Q = np.asarray(
                run_method(method, W, LayerStats(st.H, st.G, st.n), quantizer, **options),
                np.float64,
            )
            if Q.shape != W.shape or np.isnan(Q).any():
                raise ValueError(f"layer {n!r}: method {method!r} returned shape {Q.shape} or NaN")
            export = quantizer.for_tensor(W).export(Q)
            m = qmods[n]
            wq = torch.from_numpy(Q.reshape(tuple(m.weight.shape))).to(m.weight.dtype)
            exact = bool(np.array_equal(wq.double().reshape(Q.shape).numpy(), Q))
            with torch.no_grad():
                m.weight.copy_(wq)
            _install(
                torch,
                m,
                prod,
                _weight_operand(export, quantizer) if prod is not None and prod.unit else None,
            )
            codes[n] = export
            reports.append(
                LayerReport(
                    n,
                    tuple(m.weight.shape),
                    method,
                    graph.relative_output_error(W, Q, st),
                    exact,
                    t_stats + time.perf_counter() - t,
                )
            )
            if progress is not None:
                progress(len(reports), len(layers), n)
    return reports, codes


def quantize_model(
    model: Any,
    calibration: Iterable[Any],
    *,
    weight_format: Any,
    method: str = "rtn",
    input_format: Any = None,
    datapath: str | DotUnit | None = None,
    include: Any = None,
    exclude: Any = None,
    granularity: str | None = None,
    group_size: int | None = None,
    scale: str = "float",
    input_scaling: Scaling | str | None = None,
    attention: bool = True,
    float_input_cache: int = FLOAT_INPUT_CACHE,
    prefix_cache: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
    **options: Any,
) -> tuple[Any, PTQReport]:
    """Quantize the weights of ``model``'s Linear and Conv2d layers with ``method``, sequentially.

    Layer groups are quantized in the order the forward calls them; each group is calibrated on the
    outputs of the already quantized layers (see :mod:`numsim.ptq.graph`). ``model`` itself is
    never modified: the work happens on a deep copy, which is returned.

    Args:
        model: a ``torch.nn.Module``.
        calibration: iterable of batches: a tensor (``model(x)``), a tuple (``model(*b)``) or a dict
            of tensors (``model(**b)``, e.g. token ids and attention mask). Padding is left out of
            the statistics: when a dict batch holds an ``attention_mask`` tensor and a layer's
            input has as many rows (the (batch, token) positions flattened) as the mask has
            entries, only the rows where the mask is nonzero enter the layer's Gram matrices (and
            its reported error); otherwise every row does. (An input quantizer with a per-tensor
            scale still sees the padding rows, as it does in the returned model's forward.)
        weight_format: numsim format of the weights (block formats block along ``d_in``).
        method: a name in ``numsim.ptq.METHODS``.
        input_format: also quantize the inputs of quantized layers (the datapath hook's quantizer);
            None: float inputs (or the unit's ``in_format`` with a datapath).
        datapath: a DotUnit or preset name: every product of a quantized layer, in the calibration
            forwards and in the returned model, runs on it bit-exactly (element-format weights use
            their exported codes and scales, scales in an FP32 epilogue; see
            :mod:`numsim.datapath.torch_hook`). The returned model's quantized layers keep that
            forward as an instance attribute.
        include, exclude: fnmatch patterns (or lists) of module names to quantize / leave in float.
        granularity, group_size, scale: the weight quantizer's scale layout (element formats).
        input_scaling: scales of an element-format ``input_format`` (default per tensor).
        attention: with a datapath, also run the model's ``torch.matmul`` products (attention
            scores and context, both operands activations in ``input_format`` with
            ``input_scaling``) on the unit, in the calibration forwards and in the returned model
            (which gets an instance ``forward`` for it; Hugging Face models are switched to their
            eager attention, whose products are ``torch.matmul`` calls).
        float_input_cache: bytes the float-path inputs of all layers may take in memory (see
            :func:`_float_inputs`: about real rows x distinct input widths x 4 B for a float32
            model): they come from one float forward per batch; 0 (or more rows than that, with a
            ``ResourceWarning``) re-runs the float model up to each layer group instead. Both
            paths give identical results.
        prefix_cache: keep the outputs of the quantized copy's submodules that ran before the
            layer group being calibrated, so that later groups' forwards start from them instead
            of re-running the model from its inputs (:class:`numsim.ptq.graph.PrefixCache`;
            about one activation per batch and block in memory). Only used when no layer is
            called twice per forward. Both settings give identical results.
        progress: called as ``progress(layers done, layers in all, name)`` after each layer.
        **options: options of ``method`` (``METHODS[method].options``).

    Returns:
        ``(qmodel, report)``: the copy whose quantized weights are the decoded codes (rounded to the
        model's dtype only where a value does not fit it: ``report`` marks such layers not exact),
        and a :class:`PTQReport` holding the codes. Backward: without ``datapath`` and
        ``input_format`` the copy is an ordinary torch model (autograd differentiates it at the
        quantized weights, e.g. for fine-tuning). With either, its quantized layers (and, with a
        datapath, its attention products) are computed outside autograd; when autograd records
        (grad mode on and an input or parameter requires grad) their outputs require grad and
        ``backward`` raises ``RuntimeError``, never a silently missing gradient. Run such a model
        under ``torch.no_grad()``.

    Raises:
        TypeError: not a module, bad calibration type, options the method does not take.
        KeyError: unknown method, format or datapath preset.
        ValueError: empty calibration, NaN in weights or calibration data, a batch the forward
            rejects, nothing to quantize.
    """
    torch = _torch()
    t0 = time.perf_counter()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model={type(model).__name__}: expected a torch.nn.Module")
    if not isinstance(method, str) or method not in METHODS:
        close = difflib.get_close_matches(str(method), list(METHODS), n=1)
        raise KeyError(
            f"method={method!r}: expected one of {sorted(METHODS)}"
            + (f"; did you mean {close[0]!r}?" if close else "")
        )
    takes_more = any(
        p.kind == p.VAR_KEYWORD for p in inspect.signature(METHODS[method].fn).parameters.values()
    )
    bad = [] if takes_more else sorted(set(options) - set(METHODS[method].options))
    if bad:
        # checked before any work; methods passing options on (**base_options) check them in
        # run_method
        raise TypeError(
            f"method {method!r} takes the options {sorted(METHODS[method].options)}; got {bad}"
        )
    if (
        isinstance(float_input_cache, bool)
        or not isinstance(float_input_cache, int)
        or float_input_cache < 0
    ):
        raise ValueError(
            f"float_input_cache={float_input_cache!r}: expected a number of bytes >= 0"
        )
    if not isinstance(prefix_cache, bool):
        raise TypeError(f"prefix_cache={prefix_cache!r}: expected True or False")
    quantizer = weight_quantizer(
        weight_format, granularity=granularity, group_size=group_size, scale=scale
    )
    unit = get_unit(datapath) if isinstance(datapath, str) else datapath
    if unit is not None and not isinstance(unit, DotUnit):
        raise TypeError(f"datapath={datapath!r}: expected a DotUnit or a preset name")
    wfmt = get_format(weight_format) if isinstance(weight_format, str) else weight_format
    prod: _Product | None = None
    if unit is not None or input_format is not None:
        block_w = isinstance(wfmt, BlockFormat)
        if input_format is None and block_w:
            raise ValueError(
                f"datapath={unit.name} with block weights {wfmt.name}: give a block input_format "
                "(e.g. 'mxfp8_e4m3')"
            )
        in_scaling = input_scaling
        if in_scaling is None and input_format is not None and not block_w:
            in_scaling = "tensor"
        wscale = None if block_w else Scaling(granularity or "channel", group_size, scale)
        prod = _Product(unit, input_format, wfmt, in_scaling, wscale)
    batches = _batches(calibration)

    float_model = copy.deepcopy(model).eval()
    qmodel = copy.deepcopy(model).eval()
    fnames, skipped = _select(torch, float_model, include, exclude)
    qmods = dict(qmodel.named_modules())
    fmods = {n: m for m, n in fnames.items()}
    for m, n in fnames.items():
        w = m.weight.detach()
        if not torch.isfinite(w).all():
            raise ValueError(f"layer {n!r}: weight holds NaN or Inf")
    layers, repeated = graph.record_order(torch, float_model, batches[0], fnames)
    called = {lay.name for lay in layers}
    skipped += [(n, "not called in the calibration forward") for n in fmods if n not in called]
    if not layers:
        raise ValueError(
            "nothing to quantize: no Linear / Conv2d layer selected and called by the forward"
        )
    transform = prod.fake if prod is not None else None
    if unit is not None and attention:
        _matmuls_on_unit(torch, qmodel, unit, input_format, in_scaling)
    float_inputs = None
    if float_input_cache > 0:
        float_inputs = _float_inputs(
            torch,
            float_model,
            batches,
            {lay.name: fmods[lay.name] for lay in layers},
            float_input_cache,
        )
    cache = (
        graph.prefix_cache(
            torch, qmodel, float_model, batches[0], [qmods[lay.name] for lay in layers]
        )
        if prefix_cache and not repeated
        else None
    )
    try:
        reports, codes = _calibrate(
            torch,
            method,
            options,
            quantizer,
            prod,
            float_model,
            qmodel,
            batches,
            layers,
            repeated,
            fmods,
            qmods,
            transform,
            float_inputs,
            cache,
            progress,
        )
    finally:
        if cache is not None:
            cache.close()
    qmodel.train(model.training)
    fmt_name = getattr(wfmt, "name", str(wfmt))
    in_name = (
        None if input_format is None or prod is None else str(getattr(prod.fa, "name", prod.fa))
    )
    report = PTQReport(
        tuple(reports),
        tuple(skipped),
        codes,
        fmt_name,
        method,
        in_name,
        None if unit is None else unit.name,
        time.perf_counter() - t0,
    )
    return qmodel, report
