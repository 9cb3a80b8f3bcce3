"""cocotb tests, run inside the simulator by sim_harness.py (pytest never collects this module).

The module imports only cocotb and the standard library: importing numsim (numba) in the
simulator's embedded Python costs seconds per run. The pytest side has already read and
verified the golden file; it hands over what a test needs through files and the environment.

``stream``: the HDL testbench reads the golden file and checks every vector; Python only runs
the clock and waits for ``done_o``. ``drive``: Python drives the DUT through the testbench's
``py_*`` ports with the rows of ``$NUMSIM_DRIVE`` (``<row> <input> <expected>`` in hex), checks
each output, and reads the parameters back from the DUT to compare them with ``$NUMSIM_PARAMS``
(numsim's, from the golden header). Both write sim_harness.parse_report's format to
``$NUMSIM_REPORT``.
"""

from __future__ import annotations

import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge, Timer

#: Mismatches written to the report (the HDL testbenches' MaxReport default).
MAX_REPORT = 16


@cocotb.test()
async def stream(dut) -> None:
    """Clock the HDL self-checking stream until it signals done."""
    dut.py_drive_i.value = 0
    cocotb.start_soon(Clock(dut.clk_i, 2, "ns").start())
    await RisingEdge(dut.done_o)
    count, errors = int(dut.count_o.value), int(dut.errors_o.value)
    assert count > 0, "the stream compared no vector"
    assert errors == 0, f"{errors} mismatches in {count} vectors (see the report)"


def _params_differ(dut) -> list[str]:
    """Parameters of the built DUT that differ from numsim's (``$NUMSIM_PARAMS``, ``K=V ...``)."""
    bad = []
    for tok in os.environ["NUMSIM_PARAMS"].split():
        name, _, value = tok.partition("=")
        got = int(getattr(dut.g_lane[0].u_dut, name).value)
        if got != int(value):
            bad.append(f"{name}: DUT has {got}, numsim says {value}")
    return bad


@cocotb.test()
async def drive(dut) -> None:
    """Drive each row from Python, wait 1 ns, compare the DUT output with the expected value."""
    bad_params = _params_differ(dut)
    in_port = getattr(dut, os.environ["NUMSIM_IN_PORT"])
    out_port = getattr(dut, os.environ["NUMSIM_OUT_PORT"])
    with open(os.environ["NUMSIM_DRIVE"]) as fh:  # noqa: ASYNC230 (before any simulated time)
        rows = [line.split() for line in fh if line.strip()]
    dut.py_drive_i.value = 1
    errors, lines = 0, []
    for row, x, want in rows:
        in_port.value = int(x, 16)
        await Timer(1, "ns")
        val = out_port.value
        got = f"{int(val):x}" if val.is_resolvable else "x"
        if got != want.lstrip("0") and not (got == "0" and set(want) == {"0"}):
            errors += 1
            if errors <= MAX_REPORT:
                lines.append(f"MISMATCH {row} {x} {want} {got}")
    with open(os.environ["NUMSIM_REPORT"], "w") as fh:  # noqa: ASYNC230 (after the last step)
        fh.write("".join(f"{ln}\n" for ln in lines))
        fh.write(f"SUMMARY count={len(rows)} errors={errors} eof=-1\n")
    assert not bad_params, "parameters differ from numsim: " + "; ".join(bad_params)
    assert errors == 0, f"{errors} mismatches in {len(rows)} Python-driven vectors"
