"""MX block encoder RTL (numsim_mx_encoder) against numsim's golden vectors, under Icarus and
Verilator: the whole golden file through the HDL stream (with random bubbles and back-pressure),
then the valid/ready protocol driven from Python with a scoreboard."""

from __future__ import annotations

import pytest

from numsim import golden
from verification import sim_harness as h

UNIT = "mx_encoder"
CASES = [pytest.param(s.name, id=f"{UNIT}-{s.name}") for s in golden.unit(UNIT).sets]


@pytest.mark.sim
@pytest.mark.parametrize("set_name", CASES)
@pytest.mark.parametrize("sim", h.SIMULATORS)
def test_stream(sim: str, set_name: str, golden_set: golden.Manifest) -> None:
    """Every block of the golden file, compared in HDL, with random valid gaps and ready stalls."""
    h.stream_test(sim, UNIT, set_name, golden_set)


@pytest.mark.sim
@pytest.mark.parametrize("set_name", CASES)
@pytest.mark.parametrize("sim", h.SIMULATORS)
def test_protocol(sim: str, set_name: str, golden_set: golden.Manifest) -> None:
    """Reset, back-to-back latency, stalls and bubbles, reset in flight; the NaN/Inf and zero
    blocks and the first random blocks checked by a Python scoreboard; parameters read back."""
    h.require(sim)
    vf, _ = h.golden_vectors(golden_set, UNIT, set_name)
    sec = vf.sections()
    rows = [*sec["special"], *sec["zero"], *sec["random"][:120]]
    b = h.build(sim, UNIT, vf.header["rtl"])
    rep = h.run_protocol(b, vf, rows, b.build_dir / f"{set_name}.protocol.report")
    h.check_report(vf, rep, f"{UNIT} {set_name} on {sim} (protocol)", expect_count=len(rows))
