"""cocotb tests, run inside the simulator by sim_harness.py (pytest never collects this module).

The module imports only cocotb and the standard library: importing numsim (numba) in the
simulator's embedded Python costs seconds per run. The pytest side has already read and
verified the golden file; it hands over what a test needs through files and the environment.

``stream``: the HDL testbench reads the golden file and checks every vector; Python only runs
the clock and waits for ``done_o``. ``drive``: Python drives the DUT through the testbench's
``py_*`` ports with the rows of ``$NUMSIM_DRIVE`` (``<row> <input> <expected>`` in hex), checks
each output, and reads the parameters back from the DUT to compare them with ``$NUMSIM_PARAMS``
(numsim's, from the golden header). ``chain``: the same for a registered accumulator, one row
per clock through its feedback. ``protocol``: the valid/ready checks of a pipelined unit
with a Python scoreboard. All write sim_harness.parse_report's format to ``$NUMSIM_REPORT``.
"""

from __future__ import annotations

import os
import random
from collections import deque
from collections.abc import Sequence

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge, Timer

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
        dut_scope = dut.u_dut if hasattr(dut, "u_dut") else dut.g_lane[0].u_dut
        got = int(getattr(dut_scope, name).value)
        if (got - int(value)) % (1 << 32):  # an int parameter may read back as its unsigned bits
            got = got - (1 << 32) if got >> 31 else got
            bad.append(f"{name}: DUT has {got}, numsim says {value}")
    return bad


def _drive_rows() -> list[list[str]]:
    """The whitespace-separated fields of every row of ``$NUMSIM_DRIVE`` (read before any simulated
    time)."""
    with open(os.environ["NUMSIM_DRIVE"]) as fh:
        return [line.split() for line in fh if line.strip()]


def _write_report(lines: list[str], summary: str, protocol: Sequence[str] = ()) -> None:
    """``$NUMSIM_REPORT`` in sim_harness.parse_report's format (written after the last step)."""
    with open(os.environ["NUMSIM_REPORT"], "w") as fh:
        fh.write("".join(f"{ln}\n" for ln in lines))
        fh.write("".join(f"PROTOCOL {p}\n" for p in protocol))
        fh.write(f"SUMMARY {summary}\n")


@cocotb.test()
async def drive(dut) -> None:
    """Drive each row from Python, wait 1 ns, compare the DUT output with the expected value."""
    bad_params = _params_differ(dut)
    in_port = getattr(dut, os.environ["NUMSIM_IN_PORT"])
    out_port = getattr(dut, os.environ["NUMSIM_OUT_PORT"])
    rows = _drive_rows()
    dut.py_drive_i.value = 1
    errors, lines = 0, []
    for row, *xs, want in rows:  # several input fields: the port holds them concatenated
        x = " ".join(xs)
        in_port.value = int("".join(xs), 16)
        await Timer(1, "ns")
        val = out_port.value
        got = f"{int(val):x}" if val.is_resolvable else "x"
        if got != want.lstrip("0") and not (got == "0" and set(want) == {"0"}):
            errors += 1
            if errors <= MAX_REPORT:
                lines.append(f"MISMATCH {row} {x} {want} {got}")
    _write_report(lines, f"count={len(rows)} errors={errors} eof=-1")
    assert not bad_params, "parameters differ from numsim: " + "; ".join(bad_params)
    assert errors == 0, f"{errors} mismatches in {len(rows)} Python-driven vectors"


@cocotb.test()
async def chain(dut) -> None:
    """A registered accumulator driven from Python, one row per clock (valid high, init from the
    row), the register compared after each clock; the parameters read back first.

    Rows of ``$NUMSIM_DRIVE`` are ``<row> <inputs...> <expected outputs...>`` in hex, the inputs
    in the order of the testbench's ``py_row_i`` (each field whole hex digits), one expected
    value per port of ``$NUMSIM_OUT_PORTS``.
    """
    bad_params = _params_differ(dut)
    ports = [getattr(dut, p) for p in os.environ["NUMSIM_OUT_PORTS"].split()]
    rows = _drive_rows()
    dut.py_drive_i.value = 1
    dut.py_rst_ni.value = 0
    dut.py_valid_i.value = 0
    dut.py_row_i.value = 0
    cocotb.start_soon(Clock(dut.clk_i, 2, "ns").start())
    await FallingEdge(dut.clk_i)
    dut.py_rst_ni.value = 1
    errors, lines = 0, []
    for row, *fields in rows:
        ins, want = fields[: len(fields) - len(ports)], fields[len(fields) - len(ports) :]
        await FallingEdge(dut.clk_i)
        dut.py_row_i.value = int("".join(ins), 16)
        dut.py_valid_i.value = 1
        await RisingEdge(dut.clk_i)
        await ReadOnly()
        vals = [p.value for p in ports]
        got = [f"{int(v):x}" if v.is_resolvable else "x" for v in vals]
        if any(not v.is_resolvable or int(v) != int(w, 16) for v, w in zip(vals, want)):
            errors += 1
            if errors <= MAX_REPORT:
                lines.append(f"MISMATCH {row} {' '.join(ins)} {' '.join(want)} {' '.join(got)}")
    _write_report(lines, f"count={len(rows)} errors={errors}")
    assert not bad_params, "parameters differ from numsim: " + "; ".join(bad_params)
    assert errors == 0, f"{errors} mismatches in {len(rows)} Python-driven rows"


def _lanes_to_file(value: int, lanes: int, code_w: int, lane_w: int) -> int:
    """DUT packing (code_w bits per lane) -> the golden file's packing (lane_w bits per lane)."""
    mask = (1 << code_w) - 1
    return sum(((value >> (code_w * i)) & mask) << (lane_w * i) for i in range(lanes))


@cocotb.test()
async def protocol(dut) -> None:
    """valid/ready protocol of a pipelined unit, driven from Python, with a scoreboard.

    Rows of ``$NUMSIM_DRIVE`` are ``<row> <x> <scale> <codes>`` (codes in the file's lane layout).
    Phases: reset (valid_o low, ready_o high), back-to-back traffic (the first half of the rows:
    every latency exactly ``$NUMSIM_LATENCY``), random valid gaps and ready stalls (latency at
    least that; outputs hold while stalled; ready_o falls only when every stage is full and
    stalled; order kept, nothing lost or duplicated), a reset with rows in flight (no output
    survives it).
    """
    bad = _params_differ(dut)
    latency = int(os.environ["NUMSIM_LATENCY"])
    lanes, code_w, lane_w = (
        int(os.environ[k]) for k in ("NUMSIM_LANES", "NUMSIM_CODE_W", "NUMSIM_LANE_W")
    )
    rows = [(int(a), int(b, 16), int(c, 16), int(d, 16)) for a, b, c, d in _drive_rows()]
    rng = random.Random(int(os.environ.get("NUMSIM_SEED", "1")))
    half = len(rows) // 2
    dut.py_drive_i.value = 1
    dut.py_rst_ni.value = 0
    dut.py_valid_i.value = 0
    dut.py_ready_i.value = 1
    dut.py_x_i.value = 0
    cocotb.start_soon(Clock(dut.clk_i, 2, "ns").start())
    await FallingEdge(dut.clk_i)
    await ReadOnly()
    if int(dut.valid_o.value) != 0:
        bad.append("valid_o high during reset")
    await FallingEdge(dut.clk_i)
    dut.py_rst_ni.value = 1
    for _ in range(4):
        await FallingEdge(dut.clk_i)
        await ReadOnly()
        if int(dut.valid_o.value) != 0 or int(dut.ready_o.value) != 1:
            bad.append("after reset with no input: valid_o must stay low and ready_o high")
            break

    errors, lines = 0, []
    inflight: deque[tuple[int, int]] = deque()  # (index into rows, cycle accepted)
    sent = done = cycle = last_stall = 0
    held = None
    while done < len(rows) and cycle < 20 * len(rows) + 100:
        await FallingEdge(dut.clk_i)
        cycle += 1
        random_phase = sent >= half
        v = sent < len(rows) and (not random_phase or rng.random() >= 0.3)
        r = not random_phase or rng.random() >= 0.3
        dut.py_valid_i.value = int(v)
        if v:
            dut.py_x_i.value = rows[sent][1]
        dut.py_ready_i.value = int(r)
        await ReadOnly()
        vo, ro = int(dut.valid_o.value), int(dut.ready_o.value)
        out = (int(dut.scale_o.value), int(dut.codes_o.value)) if vo else None
        if held is not None and (vo, out) != held:
            bad.append(f"cycle {cycle}: output changed while stalled (valid_o=1, ready_i=0)")
        if not ro and not (vo and not r and len(inflight) == latency):
            bad.append(
                f"cycle {cycle}: ready_o low with {len(inflight)} rows in flight, ready_i={int(r)}"
            )
        if vo and r:
            if not inflight:
                bad.append(f"cycle {cycle}: output with no row in flight")
            else:
                k, t_in = inflight.popleft()
                # exactly `latency` unless a ready stall since its acceptance held it back
                if (last_stall < t_in and cycle - t_in != latency) or cycle - t_in < latency:
                    bad.append(f"row {rows[k][0]}: latency {cycle - t_in}, expected {latency}")
                got_codes = _lanes_to_file(out[1], lanes, code_w, lane_w)
                if (out[0], got_codes) != (rows[k][2], rows[k][3]):
                    errors += 1
                    if errors <= MAX_REPORT:
                        row, x, s, c = rows[k]
                        lines.append(f"MISMATCH {row} {x:x} {s:x} {c:x} {out[0]:x} {got_codes:x}")
                done += 1
        if v and ro:
            inflight.append((sent, cycle))
            sent += 1
        held = (vo, out) if (vo and not r) else None
        if not r:
            last_stall = cycle
    if done < len(rows):
        bad.append(f"{len(rows) - done} rows never came out")

    # a reset with rows in flight: valid_o drops at once and nothing comes out afterwards
    await FallingEdge(dut.clk_i)
    dut.py_ready_i.value = 0
    dut.py_valid_i.value = 1
    for _ in range(2):
        await FallingEdge(dut.clk_i)
    dut.py_rst_ni.value = 0
    await ReadOnly()
    if int(dut.valid_o.value) != 0:
        bad.append("valid_o still high after an asynchronous reset")
    await FallingEdge(dut.clk_i)
    dut.py_rst_ni.value = 1
    dut.py_valid_i.value = 0
    dut.py_ready_i.value = 1
    for _ in range(latency + 2):
        await FallingEdge(dut.clk_i)
        await ReadOnly()
        if int(dut.valid_o.value) != 0:
            bad.append("an output survived the reset")
            break

    _write_report(lines, f"count={done} errors={errors}", list(dict.fromkeys(bad)))
    assert not bad, "; ".join(dict.fromkeys(bad))
    assert errors == 0, f"{errors} mismatches in {done} Python-driven rows"
