"""Render study rows: PNG figures, CSV data, a Markdown and a self-contained HTML report, a
manifest.

Every figure has labelled axes with units, a legend and a title that states what the data show;
under each figure the report prints a one-paragraph reading computed from the same rows, and
links the figure's data (CSV, one tidy row per measurement). ``manifest.json`` records the
parameters, the versions, per-study timings and the sha256 of every file.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
import math
import platform
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

Row = dict[str, Any]


@dataclass(frozen=True)
class Figure:
    """One rendered figure: its file stem, title (the finding), reading and PNG bytes."""

    name: str
    title: str
    reading: str
    png: bytes


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    _plt().close(fig)
    return buf.getvalue()


def _fmt_db(v: float) -> str:
    return "exact" if math.isinf(v) else f"{v:.1f} dB"


# ----------------------------------------------------------------------------------------- formats


def formats_figure(rows: list[Row]) -> Figure:
    """SQNR against bits per value, one panel per distribution."""
    plt = _plt()
    dists = list(dict.fromkeys(r["distribution"] for r in rows))
    ncol = 2 if len(dists) > 1 else 1
    nrow = math.ceil(len(dists) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(7 * ncol, 4.6 * nrow), squeeze=False)
    markers = {
        "tensor-floor": ("o", "C0"),
        "floor": ("s", "C1"),
        "ceil": ("^", "C2"),
        "even": ("v", "C3"),
        "nearest-ue4m3": ("D", "C4"),
    }
    for ax, d in zip(axes.flat, dists):
        sub = [r for r in rows if r["distribution"] == d and not math.isinf(r["sqnr_db"])]
        for rule, (m, c) in markers.items():
            pts = [r for r in sub if r["scale_rule"] == rule]
            if pts:
                label = (
                    "element, tensor 2^k scale"
                    if rule == "tensor-floor"
                    else f"block, {rule} scale"
                )
                ax.scatter(
                    [r["bits_per_value"] for r in pts],
                    [r["sqnr_db"] for r in pts],
                    marker=m,
                    color=c,
                    label=label,
                    alpha=0.8,
                    s=28,
                )
        for r in sub:
            if (
                r["scale_rule"] in ("tensor-floor", "floor", "nearest-ue4m3")
                and r["bits_per_value"] <= 16.1
            ):
                ax.annotate(
                    r["format"],
                    (r["bits_per_value"], r["sqnr_db"]),
                    fontsize=6.5,
                    xytext=(3, 2),
                    textcoords="offset points",
                )
        ax.set_xlim(3.5, 17)
        ax.set_xlabel("bits per value (scale overhead included)")
        ax.set_ylabel("SQNR (dB)")
        ax.set_title(d.replace("_", " "), fontsize=10)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(dists) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="upper left")
    title, reading = formats_reading(rows)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return Figure("formats", title, reading, _png(fig))


def _best(rows: list[Row], dist: str, max_bits: float) -> Row | None:
    sub = [r for r in rows if r["distribution"] == dist and r["bits_per_value"] <= max_bits]
    return max(sub, key=lambda r: r["sqnr_db"], default=None)


def formats_reading(rows: list[Row]) -> tuple[str, str]:
    dists = list(dict.fromkeys(r["distribution"] for r in rows))
    main = "minilm_weight" if "minilm_weight" in dists else dists[0]
    b4, b6, b8 = (_best(rows, main, b) for b in (4.6, 6.3, 8.3))
    title = (
        (
            f"At about 4 bits/value {b4['format']} ({b4['scale_rule']} scale) keeps the most "
            "signal on "
            f"{main.replace('_', ' ')}: {_fmt_db(b4['sqnr_db'])}"
        )
        if b4
        else "SQNR against bits per value"
    )
    parts = []
    for label, b in (("4.6", b4), ("6.3", b6), ("8.3", b8)):
        if b:
            parts.append(
                f"up to {label} bits/value {b['format']} ({b['scale_rule']}, "
                f"{_fmt_db(b['sqnr_db'])})"
            )
    spread = []
    for d in dists:
        per: dict[str, list[float]] = defaultdict(list)
        for r in rows:
            if (
                r["distribution"] == d
                and r["kind"] == "block"
                and r["scale_rule"] in ("floor", "ceil", "even")
            ):
                per[r["format"]].append(r["sqnr_db"])
        if per:
            fmt, vals = max(per.items(), key=lambda kv: max(kv[1]) - min(kv[1]))
            spread.append(f"{d.replace('_', ' ')}: {fmt} {max(vals) - min(vals):.2f} dB")
    heavy = ""
    if "gaussian" in dists and "student_t3" in dists:
        g = {
            (r["format"], r["scale_rule"]): r["sqnr_db"]
            for r in rows
            if r["distribution"] == "gaussian"
        }
        t = {
            (r["format"], r["scale_rule"]): r["sqnr_db"]
            for r in rows
            if r["distribution"] == "student_t3"
        }
        el = [
            (k, g[k] - t[k])
            for k in g
            if k in t and k[1] == "tensor-floor" and math.isfinite(g[k] - t[k])
        ]
        bl = [
            (k, g[k] - t[k]) for k in g if k in t and k[1] == "floor" and math.isfinite(g[k] - t[k])
        ]
        if el and bl:
            heavy = (
                " Student-t(3) data against Gaussian data cost element formats with one tensor "
                "scale "
                f"{np.median([v for _, v in el]):.1f} dB of SQNR (median over formats; worst "
                f"{max(el, key=lambda kv: kv[1])[0][0]}, {max(v for _, v in el):.1f} dB) and block "
                "formats "
                f"{np.median([v for _, v in bl]):.1f} dB (worst "
                f"{max(bl, key=lambda kv: kv[1])[0][0]}, "
                f"{max(v for _, v in bl):.1f} dB)."
            )
    real = ""
    tensors = [d for d in ("minilm_layer_weights", "minilm_activations") if d in dists]
    if tensors:
        parts_real = []
        for d in tensors:
            sub = [r for r in rows if r["distribution"] == d]
            best = _best(rows, d, 4.6)
            i8 = next((r for r in sub if r["format"] == "int8"), None)
            mx8 = next(
                (r for r in sub if r["format"] == "mxint8" and r["scale_rule"] == "floor"), None
            )
            crest = sub[0].get("crest_factor")
            text = d.replace("minilm_", "MiniLM ").replace("_", " ")
            text += f" ({sub[0]['values']:,d} values" + (
                f", max/rms {crest:.0f})" if crest else ")"
            )
            if best:
                text += (
                    f": best up to 4.6 bits/value {best['format']} ({best['scale_rule']}, "
                    f"{_fmt_db(best['sqnr_db'])})"
                )
            if i8 and mx8:
                text += (
                    f"; int8 with one tensor scale {_fmt_db(i8['sqnr_db'])} against MXINT8's "
                    f"{_fmt_db(mx8['sqnr_db'])} (a scale per 32 values)"
                )
            parts_real.append(text)
        real = (
            " Real all-MiniLM-L6-v2 tensors of one encoder layer (its six Linear weights; the "
            "inputs of those layers for the first minilm_sentences evaluation sentences (see the "
            "manifest), padding dropped; both cut into "
            "rows of 384 along the reduction axis): " + "; ".join(parts_real) + "."
        )
    reading = (
        f"On {main.replace('_', ' ')} the best format is, "
        + "; ".join(parts)
        + "."
        + heavy
        + real
        + " The largest spread between the floor, ceil and even scale rules per distribution: "
        + "; ".join(spread)
        + ". Element formats carry one FP32 power-of-two tensor scale "
        "(counted in bits/value); FP32 itself is exact on these float32 tensors and left off the "
        "plot."
    )
    return title, reading


# ---------------------------------------------------------------------------------------- datapath

#: Floor for errors drawn on log axes: a median of 0 (exact) is drawn here.
ERR_FLOOR = 1e-10


def datapath_figure(rows: list[Row]) -> Figure:
    """Median relative error against K, one panel per distribution; promoted units dashed."""
    plt = _plt()
    dists = list(dict.fromkeys(r["distribution"] for r in rows))
    fams = list(dict.fromkeys(r["family"] for r in rows))
    cmap = plt.get_cmap("tab20")
    colors = {f: cmap(i % 20) for i, f in enumerate(fams)}
    fig, axes = plt.subplots(
        1, len(dists), figsize=(6.2 * len(dists), 5.6), squeeze=False, sharey=True
    )
    for ax, d in zip(axes[0], dists):
        for unit in dict.fromkeys(r["unit"] for r in rows):
            pts = sorted(
                (r for r in rows if r["unit"] == unit and r["distribution"] == d),
                key=lambda r: r["k"],
            )
            if not pts:
                continue
            ks = [r["k"] for r in pts]
            med = [max(r["rel_err_median"], ERR_FLOOR) for r in pts]
            ax.plot(
                ks,
                med,
                ls="--" if pts[0]["promoted"] else "-",
                marker=".",
                color=colors[pts[0]["family"]],
                label=unit,
                lw=1.2,
            )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("K (products per dot product)")
        ax.set_title(f"{d.replace('_', ' ')} operands", fontsize=10)
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel(f"median relative error |d - s| / |s| (exact = {ERR_FLOOR:g})")
    axes[0][-1].legend(
        fontsize=6.5,
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        title="unit (dashed: FP32 promotion)",
        title_fontsize=7,
    )
    title, reading = datapath_reading(rows)
    fig.suptitle(title, fontsize=11)
    return Figure("datapath", title, reading, _png(fig))


def datapath_reading(rows: list[Row]) -> tuple[str, str]:
    dists = list(dict.fromkeys(r["distribution"] for r in rows))
    d = "gaussian" if "gaussian" in dists else dists[0]
    kmax = max(r["k"] for r in rows)
    at = {r["unit"]: r for r in rows if r["distribution"] == d and r["k"] == kmax}
    worst = max(at.values(), key=lambda r: r["rel_err_median"])
    exact = sorted(u for u, r in at.items() if r["rel_err_p90"] == 0)
    gains = []
    for r in at.values():
        if r["promoted"] and r["family"] in at and r["rel_err_median"] > 0:
            gains.append((at[r["family"]]["rel_err_median"] / r["rel_err_median"], r["family"]))
    gains.sort(reverse=True)
    title = (
        f"At K = {kmax}, {worst['unit']} has the largest error ({worst['rel_err_median']:.1e} "
        "median on "
        f"{d.replace('_', ' ')} data)"
    )
    if gains:
        title += f"; FP32 promotion cuts {gains[0][1]}'s by {gains[0][0]:.0f}x"
    small = min((r for r in rows if r["distribution"] == d), key=lambda r: r["k"])["k"]
    growth = []
    for fam in ("h100-e4m3", "a100-fp16", "fma-fp32", "mi210-fp16"):
        s = [r for r in rows if r["unit"] == fam and r["distribution"] == d]
        lo = next((r for r in s if r["k"] == small), None)
        hi = next((r for r in s if r["k"] == kmax), None)
        if lo and hi and lo["rel_err_median"] > 0:
            growth.append(f"{fam} {hi['rel_err_median'] / lo['rel_err_median']:.0f}x")
    reading = (
        f"Median relative error of {at[worst['unit']]['trials']} dot products per point against "
        f"the exact sum of the same quantized operands. On {d.replace('_', ' ')} data at K = "
        f"{kmax} the errors span "
        f"{min((r['rel_err_median'] for r in at.values() if r['rel_err_median'] > 0), default=0):.1e}"  # noqa: E501 (one replacement field)
        f" to {worst['rel_err_median']:.1e}. "
        + (
            f"From K = {small} to {kmax} the error grows by: {', '.join(growth)}. "
            if growth
            else ""
        )
        + (
            "Promotion to FP32 every 128 products (dashed) helps most on "
            + ", ".join(f"{f} ({g:.0f}x)" for g, f in gains[:3])
            + ". "
            if gains
            else ""
        )
        + (f"Exact on at least 90% of trials at K = {kmax}: {', '.join(exact)}. " if exact else "")
        + "All-positive (uniform) operands show error growth without cancellation."
    )
    return title, reading


# ------------------------------------------------------------------------------------- accumulator


AXE = "minilm_int8_axe"


def _acc_style(weights: str, mode: str) -> tuple[str, str]:
    """Line style and marker of one (weight set, overflow mode) curve."""
    if weights == AXE:
        return ":", "x"
    return ("-" if mode == "wrap" else "--"), "."


def accumulator_figure(rows: list[Row]) -> Figure:
    """Overflow rate, register SQNR and layer SQNR against accumulator bits; round-to-nearest
    weights wrap (solid) or saturate (dashed); AXE weights dotted."""
    plt = _plt()
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(18, 5.2))
    groups = list(dict.fromkeys((r["k"], r["activations"]) for r in rows))
    finite = [r["sqnr_db"] for r in rows if math.isfinite(r["sqnr_db"])]
    ceiling = (max(finite) if finite else 0) + 10
    for i, g in enumerate(groups):
        for w in dict.fromkeys(r["weights"] for r in rows):
            # AXE weights never overflow, so wrapping and saturating coincide: one curve
            for mode in ("wrap",) if w == AXE else ("wrap", "saturate"):
                pts = sorted(
                    (
                        r
                        for r in rows
                        if (r["k"], r["activations"]) == g
                        and r["weights"] == w
                        and r["overflow"] == mode
                    ),
                    key=lambda r: r["bits"],
                )
                if not pts:
                    continue
                ls, mk = _acc_style(w, mode)
                lab = f"K={g[0]}, {g[1].replace('_', ' ')} act., " + (
                    "AXE weights" if w == AXE else f"RTN weights, {mode}"
                )
                bits = [r["bits"] for r in pts]
                kw = {"ls": ls, "marker": mk, "color": f"C{i}", "label": lab}
                a1.plot(bits, [r["overflow_rate"] for r in pts], **kw)
                if w != AXE:
                    a2.plot(bits, [min(r["sqnr_db"], ceiling) for r in pts], **kw)
                a3.plot(bits, [r["layer_sqnr_db"] for r in pts], **kw)
    a1.set_xlabel("accumulator width P (bits)")
    a1.set_ylabel("overflow rate (fraction of outputs)")
    a1.set_title("register overflow", fontsize=10)
    a1.grid(alpha=0.3)
    a1.legend(fontsize=6.5)
    a2.axhline(ceiling, color="gray", lw=0.8)
    a2.annotate("exact (no overflow)", (a2.get_xlim()[0], ceiling), fontsize=7, va="bottom")
    a2.set_xlabel("accumulator width P (bits)")
    a2.set_ylabel("SQNR against the exact integer product (dB)")
    a2.set_title("register alone (RTN weights)", fontsize=10)
    a2.grid(alpha=0.3)
    a3.set_xlabel("accumulator width P (bits)")
    a3.set_ylabel("layer SQNR against the float weights (dB)")
    a3.set_title("layer output (weight rounding + register)", fontsize=10)
    a3.grid(alpha=0.3)
    title, reading = accumulator_reading(rows)
    fig.suptitle(title, fontsize=11)
    return Figure("accumulator", title, reading, _png(fig))


def _axe_reading(rows: list[Row]) -> tuple[str, str]:
    """A title clause and sentences on the AXE rows: overflows, and the layer SQNR against
    round-to-nearest (RTN) weights per width, on the first (K, activations) case AXE ran."""
    axe = [r for r in rows if r["weights"] == AXE]
    if not axe:
        return "", (
            " Accumulator-aware (AXE) weights were not run here: they need the ptq extra (torch)."
        )
    over = sum(r["overflow_rate"] > 0 for r in axe)
    g = (axe[0]["k"], axe[0]["activations"])
    per, close = [], []
    for r in sorted(
        (r for r in axe if (r["k"], r["activations"]) == g and r["overflow"] == "wrap"),
        key=lambda r: r["bits"],
    ):
        rtn = {
            q["overflow"]: q["layer_sqnr_db"]
            for q in rows
            if q["weights"] != AXE and (q["k"], q["activations"], q["bits"]) == (*g, r["bits"])
        }
        if rtn:
            sat = rtn.get("saturate", math.nan)
            per.append(
                f"P = {r['bits']}: AXE {r['layer_sqnr_db']:.1f} dB, RTN saturating "
                f"{sat:.1f} dB, wrapping {rtn.get('wrap', math.nan):.1f} dB"
            )
            close.append((r["bits"], r["layer_sqnr_db"]))
    best = max(
        (q for q in rows if q["weights"] != AXE and (q["k"], q["activations"]) == g),
        key=lambda q: q["layer_sqnr_db"],
        default=None,
    )
    rtn_ok = min(
        (
            q["bits"]
            for q in rows
            if best
            and q["weights"] != AXE
            and (q["k"], q["activations"], q["overflow"]) == (*g, "saturate")
            and q["layer_sqnr_db"] >= best["layer_sqnr_db"] - 1
        ),
        default=None,
    )
    ks = sorted({r["k"] for r in axe})
    text = (
        " AXE weights (GPTQ base, constrained so that no int8 input can overflow a signed P-bit "
        f"register; run at K = {', '.join(map(str, ks))}) overflowed in {over} of {len(axe)} "
        "cases (dotted; wrapping and saturating coincide). Layer SQNR against the float weights "
        f"(K = {g[0]}, {g[1].replace('_', ' ')} activations): " + "; ".join(per) + "."
    )
    clause = ""
    axe_ok = min((b for b, v in close if best and v >= best["layer_sqnr_db"] - 1), default=None)
    if axe_ok is not None and rtn_ok is not None:
        text += (
            f" Within 1 dB of the best RTN layer SQNR ({best['layer_sqnr_db']:.1f} dB): AXE from "
            f"P = {axe_ok}, saturating RTN from P = {rtn_ok}. AXE guards the worst case of any "
            "int8 input; RTN only has to survive the activations actually seen."
        )
        clause = f"; AXE weights never overflow but need {axe_ok} bits to match"
    return clause, text


def accumulator_reading(rows: list[Row]) -> tuple[str, str]:
    rtn_rows = [r for r in rows if r["weights"] != AXE]
    axe_clause, axe_text = _axe_reading(rows)
    groups = list(dict.fromkeys((r["weights"], r["k"], r["activations"]) for r in rtn_rows))
    safe = []
    for g in groups:
        pts = sorted(
            (
                r
                for r in rtn_rows
                if (r["weights"], r["k"], r["activations"]) == g and r["overflow"] == "wrap"
            ),
            key=lambda r: r["bits"],
        )
        ok = next(
            (
                r["bits"]
                for r in pts
                if r["overflow_rate"] == 0
                and all(q["overflow_rate"] == 0 for q in pts if q["bits"] >= r["bits"])
            ),
            None,
        )
        safe.append((g, ok, pts[0]["worst_case_bits"] if pts else None))
    big = max((s for s in safe if s[1] is not None), key=lambda s: s[1], default=None)
    title = (
        (
            f"A {big[1]}-bit register sufficed for every MiniLM int8 GEMM here, {big[2] - big[1]} "
            "bits below "
            f"the worst-case bound ({big[2]})"
        )
        if big
        else "Overflow rate against accumulator width"
    )
    pairs = []
    for r in rtn_rows:
        if r["overflow"] == "wrap" and 0 < r["overflow_rate"] < 1:
            s = next(
                (
                    q
                    for q in rtn_rows
                    if q["overflow"] == "saturate"
                    and q["bits"] == r["bits"]
                    and q["k"] == r["k"]
                    and q["activations"] == r["activations"]
                    and q["weights"] == r["weights"]
                ),
                None,
            )
            if s:
                pairs.append((r, s))
    cmp = ""
    if pairs:
        r, s = max(pairs, key=lambda p: p[1]["sqnr_db"] - p[0]["sqnr_db"])
        cmp = (
            f" Largest gap between saturating and wrapping registers: at P = {r['bits']}, "
            f"K = {r['k']} ({r['activations'].replace('_', ' ')} activations, "
            f"{r['overflow_rate']:.1%} of outputs "
            f"overflow) the GEMM keeps {_fmt_db(s['sqnr_db'])} saturating against "
            f"{_fmt_db(r['sqnr_db'])} wrapping."
        )
    reading = (
        "Left: the fraction of outputs whose register overflowed; middle: the SQNR of the "
        "register's result against the exact integer product of the same int8 weights (the "
        "register alone); right: the SQNR of the dequantized result against the float weights "
        "times the same int8 activations (the layer output a model sees). "
        "Smallest wrapping width without any overflow for round-to-nearest (RTN) weights, per "
        "case: "
        + "; ".join(
            f"K = {g[1]}, {g[2].replace('_', ' ')} activations: {ok} bits (worst case {wc})"
            for g, ok, wc in safe
        )
        + "."
        + cmp
        + " Weights: the embedded MiniLM query weight, int8 per output channel."
        + axe_text
    )
    return title + axe_clause, reading


# ------------------------------------------------------------------------------------------ hwcost


def hwcost_figure(rows: list[Row]) -> Figure:
    """Cells against quality per RTL unit, Pareto front drawn as a step line."""
    from .hwcost import pareto

    plt = _plt()
    kinds = list(dict.fromkeys(r["rtl"] for r in rows))
    fig, axes = plt.subplots(
        1, len(kinds), figsize=(6.5 * len(kinds), 4.8), squeeze=False, gridspec_kw={"wspace": 0.3}
    )
    for ax, kind in zip(axes[0], kinds):
        sub = [r for r in rows if r["rtl"] == kind]
        q = [r["quality"] for r in sub]
        c = [r["cells"] for r in sub]
        front = pareto(c, q)
        ax.scatter(c, q, color=["C3" if f else "C0" for f in front], zorder=3)
        many = len(sub) > 8  # then only the front is labelled (every point is in the CSV)
        for j, (r, f) in enumerate(sorted(zip(sub, front), key=lambda rf: rf[0]["cells"])):
            if f or not many:
                ax.annotate(
                    r["label"].replace("mx32-exact-rne", "exact"),
                    (r["cells"], r["quality"]),
                    fontsize=7,
                    textcoords="offset points",
                    xytext=(4, 4 if j % 2 == 0 else -11),
                )
        fp = sorted((ci, qi) for ci, qi, f in zip(c, q, front) if f)
        if fp:
            ax.step(
                [p[0] for p in fp],
                [p[1] for p in fp],
                where="post",
                color="C3",
                lw=1,
                label="Pareto front",
            )
        ax.scatter([], [], color="C0", label="dominated")
        bs = sorted({r["block_size"] for r in sub})
        blocks = f" ({'/'.join(map(str, bs))}-element blocks)" if kind == "mx_dot" else ""
        ax.set_xlabel("yosys generic cells" + blocks)
        ax.set_ylabel(sub[0]["measure"] if kind == "mx_dot" else "overflow-free outputs (fraction)")
        ax.set_title(kind, fontsize=10)
        ax.margins(x=0.25, y=0.1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    title, reading = hwcost_reading(rows)
    fig.suptitle(title, fontsize=11)
    return Figure("hwcost", title, reading, _png(fig))


def hwcost_reading(rows: list[Row]) -> tuple[str, str]:
    from .hwcost import pareto

    parts = []
    title = "Area against quality of the RTL units"
    for kind in dict.fromkeys(r["rtl"] for r in rows):
        sub = [r for r in rows if r["rtl"] == kind]
        front = [
            r
            for r, f in zip(sub, pareto([r["cells"] for r in sub], [r["quality"] for r in sub]))
            if f
        ]
        front.sort(key=lambda r: r["cells"])
        parts.append(
            f"{kind}: the Pareto front is "
            + ", ".join(f"{r['label']} ({r['cells']:,d} cells, {r['quality']:.3g})" for r in front)
            + f" out of {len(sub)} parameter sets"
        )
        if kind == "mx_dot" and front:
            title = (
                f"MX dot units: {front[-1]['label']} buys the best SQNR at "
                f"{front[-1]['cells']:,d} cells"
            )
    reading = (
        "; ".join(parts)
        + ". Cells are yosys 0.23 generic cells (synth -flatten -noshare), a proxy for "
        "area; MX dot quality is the SQNR of a Gaussian GEMM on the unit's numsim twin, integer "
        "MAC quality "
        "the fraction of MiniLM int8 outputs (K = 384) whose register never overflowed."
    )
    return title, reading


#: study name -> figure function
FIGURES: dict[str, Callable[[list[Row]], Figure]] = {
    "formats": formats_figure,
    "datapath": datapath_figure,
    "accumulator": accumulator_figure,
    "hwcost": hwcost_figure,
    "hwloop": lambda rows: _study("hwloop").figure(rows),
    "ptq": lambda rows: _study("ptq").figure(rows),
}


def _study(name: str) -> Any:
    import importlib

    return importlib.import_module(f"numsim.studies.{name}")


#: study name -> Markdown table printed under its figure (a study may have none)
TABLES: dict[str, Callable[[list[Row]], str]] = {
    "ptq": lambda rows: _study("ptq").table(rows),
}


def _md_table_html(md: str) -> str:
    """A pipe table (as :data:`TABLES` write them) as an HTML table."""
    lines = [ln.strip().strip("|").split("|") for ln in md.strip().splitlines()]
    head, body = lines[0], lines[2:]
    th = "".join(f"<th>{html.escape(c.strip())}</th>" for c in head)
    tr = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in r) + "</tr>" for r in body
    )
    return f'<table border="1" cellspacing="0" cellpadding="3"><tr>{th}</tr>{tr}</table>'


# ------------------------------------------------------------------------------------------ writer


def csv_bytes(rows: Sequence[Row]) -> bytes:
    """Tidy rows as CSV (columns in first-seen order; inf and nan written as Python prints them)."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: repr(v) if isinstance(v, float) else v for k, v in r.items()})
    return buf.getvalue().encode()


def versions() -> dict[str, str]:
    """numsim, numpy, numba, python, matplotlib and torch (if installed) versions."""
    import importlib.metadata as md

    from .. import __version__

    out = {"numsim": __version__, "python": platform.python_version()}
    for pkg in ("numpy", "numba", "matplotlib", "dask", "distributed", "tqdm", "torch"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_report(out: Path, results: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """Write figures, CSVs, ``index.md``, ``index.html`` and ``manifest.json`` into the folder
    ``out`` (which the caller renames into place). ``results``: per study ``name``, ``title``,
    ``rows`` (or ``skipped``: why not), ``params``, ``stats``. Returns the manifest."""
    files: dict[str, bytes] = {}
    md = [
        f"# numsim co-design report ({meta['mode']})",
        "",
        (
            f"numsim {meta['versions']['numsim']}; executor: {meta['executor']}"
            + (
                " (the studies ran concurrently: their wall times in the manifest overlap)"
                if meta.get("studies_concurrent")
                else ""
            )
            + "; "
            f"{sum(r['stats']['points'] for r in results if 'stats' in r)} points. "
            "Each figure's data is the CSV beside it; `manifest.json` has the parameters, "
            "versions, timings "
            "and checksums."
        ),
        "",
    ]
    body = []
    for res in results:
        name = res["name"]
        md += [f"## {res['title']}", ""]
        if "skipped" in res:
            md += [f"Not run: {res['skipped']}.", ""]
            body.append(
                f"<h2>{html.escape(res['title'])}</h2><p>Not run: "
                f"{html.escape(res['skipped'])}.</p>"
            )
            continue
        fig = FIGURES[name](res["rows"])
        files[f"{name}.png"] = fig.png
        files[f"{name}.csv"] = csv_bytes(res["rows"])
        md += [
            f"![{fig.title}]({name}.png)",
            "",
            f"**{fig.title}.** {fig.reading}",
            "",
            f"Data: [{name}.csv]({name}.csv) ({len(res['rows'])} rows).",
            "",
        ]
        table = TABLES[name](res["rows"]) if name in TABLES else ""
        if table:
            md += [table, ""]
        b64 = base64.b64encode(fig.png).decode()
        body.append(
            f'<h2>{html.escape(res["title"])}</h2><img alt="{html.escape(fig.title)}" '
            f'src="data:image/png;base64,{b64}" '
            f'style="max-width:100%"><p><b>{html.escape(fig.title)}.'
            f'</b> {html.escape(fig.reading)}</p><p>Data: <a href="{name}.csv">{name}.csv</a></p>'
            + (_md_table_html(table) if table else "")
        )
    files["index.md"] = "\n".join(md).encode()
    files["index.html"] = (
        '<!doctype html><html><head><meta charset="utf-8"><title>numsim co-design report'
        "</title><style>body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}"
        "</style></head><body><h1>numsim co-design report ("
        + html.escape(meta["mode"])
        + ")</h1>"
        + "".join(body)
        + "</body></html>"
    ).encode()
    for rel, data in files.items():
        (out / rel).write_bytes(data)
    manifest = {
        **meta,
        "studies": {
            r["name"]: {k: v for k, v in r.items() if k not in ("rows", "name")} for r in results
        },
        "files": {
            rel: {"sha256": sha256(data), "bytes": len(data)} for rel, data in sorted(files.items())
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, allow_nan=True) + "\n")
    return manifest


def _sections(text: str, marker: str) -> tuple[str, list[str]]:
    """``text`` split before every line / tag starting with ``marker``: (head, sections)."""
    parts = text.split(marker)
    return parts[0], [marker + p for p in parts[1:]]


def merge_previous(old: Path, new: Path, order: Sequence[str]) -> dict[str, Any]:
    """Carry into the freshly written report ``new`` the studies of the report ``old`` that
    ``new`` does not hold (their figures, CSVs, Markdown and HTML sections and manifest entries),
    so one study can be rerun without rerunning the others. Studies are ordered as ``order``
    (unknown names last). Returns the merged manifest, which is rewritten with fresh checksums.

    Raises:
        ValueError: ``old`` is not a report written by :func:`write_report`.
    """
    try:
        om = json.loads((old / "manifest.json").read_text())
        old_md = (old / "index.md").read_text()
        old_html = (old / "index.html").read_text()
    except (OSError, ValueError) as e:
        raise ValueError(f"{old}: not a numsim report to merge into ({e})") from e
    nm = json.loads((new / "manifest.json").read_text())
    keep = [n for n in om.get("studies", {}) if n not in nm["studies"]]
    if not keep:
        return nm
    names = [n for n in order if n in om["studies"] or n in nm["studies"]]
    names += [n for n in (*om["studies"], *nm["studies"]) if n not in names]

    def by_title(text: str, marker: str, titles: dict[str, str]) -> tuple[str, dict[str, str]]:
        head, secs = _sections(text, marker)
        found = {}
        for s in secs:
            for n, t in titles.items():
                if s.startswith((f"{marker}{t}\n", f"{marker}{html.escape(t)}<")):
                    found[n] = s
        return head, found

    old_titles = {n: om["studies"][n]["title"] for n in keep}
    new_titles = {n: nm["studies"][n]["title"] for n in nm["studies"]}
    new_md = (new / "index.md").read_text()
    new_html = (new / "index.html").read_text()
    md_head, md_new = by_title(new_md, "## ", new_titles)
    _, md_old = by_title(old_md, "## ", old_titles)
    end = "</body></html>"
    html_head, html_new = by_title(new_html.removesuffix(end), "<h2>", new_titles)
    _, html_old = by_title(old_html.removesuffix(end), "<h2>", old_titles)
    for n in keep:
        if n not in md_old or n not in html_old:
            raise ValueError(f"{old}: the report holds no section for study {n!r}")
        for rel in om.get("files", {}):
            if rel.split(".")[0] == n:
                (new / rel).write_bytes((old / rel).read_bytes())
    studies = {n: nm["studies"].get(n) or om["studies"][n] for n in names}
    points = sum(s["stats"]["points"] for s in studies.values() if "stats" in s)
    md_head = re.sub(r" \(kept from the previous report: [^)]*\)", "", md_head, count=1)
    md_head = re.sub(r"\d+ points\.", f"{points} points.", md_head, count=1)
    md_head = md_head.replace(
        "points.", f"points (kept from the previous report: {', '.join(keep)}).", 1
    )
    (new / "index.md").write_text(
        md_head + "".join((md_new.get(n) or md_old[n]).rstrip("\n") + "\n\n" for n in names)
    )
    (new / "index.html").write_text(
        html_head + "".join(html_new.get(n) or html_old[n] for n in names) + end
    )
    files = sorted(p.name for p in new.iterdir() if p.name != "manifest.json")
    manifest = {
        **nm,
        "studies": studies,
        "kept_from_previous": {n: om.get("mode") for n in keep},
        "files": {
            rel: {"sha256": sha256((new / rel).read_bytes()), "bytes": (new / rel).stat().st_size}
            for rel in files
        },
    }
    (new / "manifest.json").write_text(json.dumps(manifest, indent=1, allow_nan=True) + "\n")
    return manifest
