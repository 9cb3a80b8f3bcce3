"""Element decoder and encoder RTL against numsim's golden vectors, under Icarus and Verilator.

Per simulator and parameter set: the whole golden file streams through the HDL self-checking
loop (``test_stream``), then Python drives the catalog rows and reads the parameters back from
the DUT (``test_python_driven``). Test ids name the simulator, unit and parameter set.
"""

from __future__ import annotations

import pytest

from numsim import golden
from verification import sim_harness as h

UNITS = ("elem_decoder", "elem_encoder")
CASES = [pytest.param(u, s.name, id=f"{u}-{s.name}") for u in UNITS for s in golden.unit(u).sets]


@pytest.mark.sim
@pytest.mark.parametrize("unit,set_name", CASES)
@pytest.mark.parametrize("sim", h.SIMULATORS)
def test_stream(sim: str, unit: str, set_name: str, golden_set: golden.Manifest) -> None:
    """Every vector of the golden file, compared in HDL."""
    h.stream_test(sim, unit, set_name, golden_set)


@pytest.mark.sim
@pytest.mark.parametrize("unit,set_name", CASES)
@pytest.mark.parametrize("sim", h.SIMULATORS)
def test_python_driven(sim: str, unit: str, set_name: str, golden_set: golden.Manifest) -> None:
    """The catalog rows driven from Python; DUT parameters read back and compared with numsim."""
    h.require(sim)
    vf, _ = h.golden_vectors(golden_set, unit, set_name)
    b = h.build(sim, unit, vf.header["rtl"])
    rows = vf.sections().get("catalog", range(vf.count))
    rep = h.run_python(b, vf, rows, b.build_dir / f"{set_name}.python.report")
    h.check_report(vf, rep, f"{unit} {set_name} on {sim} (Python-driven)", expect_count=len(rows))
