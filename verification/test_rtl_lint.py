"""Lint (Verilator -Wall, Icarus -Wall), synthesis (yosys stat) and parameter drift checks of
every RTL unit under every parameter set."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from numsim import formats as F
from numsim import golden
from numsim import rtl as nrtl
from numsim.datapath import presets
from numsim.policies import RoundMode

SETS = [pytest.param(s, id=f"{s.unit}-{s.name}") for u in golden.UNITS.values() for s in u.sets]


def _need(tool: str) -> None:
    path = nrtl.verilator_path() if tool == "verilator" else shutil.which(tool)
    if path is None:
        pytest.skip(
            f"{tool} not installed (apt-get install iverilog yosys; pip install -e '.[rtl]')"
        )


@pytest.mark.parametrize("ps", SETS)
@pytest.mark.parametrize("tool", ["verilator", "iverilog"])
def test_lint_clean(tool: str, ps: golden.ParamSet) -> None:
    _need(tool)
    (res,) = nrtl.lint(ps.unit, ps.rtl_params(), tools=[tool])
    assert res.clean, f"{' '.join(res.command)}\n{res.output}"


@pytest.mark.parametrize("tool", ["verilator", "iverilog"])
def test_lint_reports_warnings(tool: str, tmp_path: Path) -> None:
    """The lint helper is not blind: a copy of the decoder with a width bug fails."""
    _need(tool)
    src = nrtl.sources("elem_decoder")[0].read_text()
    bad = tmp_path / "numsim_elem_decoder.sv"
    bad.write_text(
        src.replace(
            "assign sign  = code_i[MAGW];", "assign sign  = code_i[MAGW+:2];\n    wire unused_w;"
        )
    )
    (res,) = nrtl.lint(
        "elem_decoder", nrtl.params("elem_decoder", "fp8_e4m3"), tools=[tool], files=[bad]
    )
    assert not res.clean and res.output, res


#: Block units are synthesized with 2-element blocks here (seconds instead of half a minute or
#: more); the area table of verification/README.md has the full 32-element numbers
#: (python -m verification.report).
SMALL_BLOCK = {"BlockSize": 2}


@pytest.mark.parametrize("ps", SETS)
def test_synth_stat(ps: golden.ParamSet) -> None:
    _need("yosys")
    params = ps.rtl_params()
    if "BlockSize" in params:
        params.update(SMALL_BLOCK)
    st = nrtl.synth_stat(ps.unit, params)
    assert st.cells > 0 and st.transistors > 0 and sum(st.cell_types.values()) == st.cells
    assert st.yosys.startswith("Yosys")


def _verilog_defaults(unit: str) -> dict[str, int]:
    top = nrtl.unit(unit).top
    text = next(p.read_text() for p in nrtl.sources(unit) if f"module {top} " in p.read_text())
    return {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"parameter int (\w+)\s*=\s*(-?\d+)\s*(?:,|//|$)", text, re.MULTILINE)
    }


#: The numsim spec of each unit's Verilog defaults: (format, DotUnit).
DEFAULTS = {
    "elem_decoder": ("fp8_e4m3", None),
    "elem_encoder": ("fp8_e4m3", None),
    "mx_encoder": ("mxfp8_e4m3", None),
    "mx_dot": ("mxfp8_e4m3", golden.units.MX_EXACT_RNE),
    "fp32_acc": ("fp32", golden.units.FP32_ACC_UNITS[RoundMode.nearest_even]),
    "int_mac": ("int8", presets.get("int8-acc32")),
}


@pytest.mark.parametrize("unit", list(nrtl.UNITS))
def test_verilog_defaults_are_numsim_fp8_e4m3(unit: str) -> None:
    """The defaults written in the Verilog are numsim's parameters: OCP E4M3 (MXFP8 E4M3) for the
    codecs and the exact RNE MX dot unit, FP32 RNE for the accumulator, int8-acc32 for the MAC."""
    fmt, dot = DEFAULTS[unit]
    want = nrtl.params(unit, fmt, dot=dot)
    got = _verilog_defaults(unit)
    assert {k: got[k] for k in want} == want


def test_datapath_params_refuse_what_the_rtl_does_not_build() -> None:
    """mx_dot / fp32_acc / int_mac parameters come only from a DotUnit the RTL can twin."""
    from dataclasses import replace

    b200 = golden.units.matlab_reading("b200-e4m3", -133)
    assert nrtl.params("mx_dot", "mxfp8_e4m3", dot=b200)["TermFracBits"] == 25
    with pytest.raises(TypeError, match="DotUnit"):
        nrtl.params("mx_dot", "mxfp8_e4m3")
    for bad, why in [
        (replace(b200, n=16), "n=16"),
        (replace(b200, c_inside=False), "c inside"),
        (replace(b200, term_rounding=RoundMode.nearest_even), "truncated toward zero"),
        (replace(b200, out_format=F.fp16), "out_format"),
        (presets.get("h100-e4m3-promote128"), "chunks"),
        (presets.get("b200-e5m2"), "in_format"),
        (presets.get("b200-e4m3"), "zero_exponent"),  # MMA-Sim's zero rules: not in the RTL
        (replace(b200, underflow_zero="positive"), "underflow"),
        (replace(b200, c_entry="epilogue"), "epilogue"),
        (replace(golden.units.MX_EXACT_RNE, c_inside=False, pairwise=True), "pairwise"),
    ]:
        with pytest.raises(ValueError, match=why):
            nrtl.params("mx_dot", "mxfp8_e4m3", dot=bad)
    mxint8 = nrtl.params("mx_dot", "mxint8", dot=golden.units.MX_EXACT_RNE)
    assert {k: mxint8[k] for k in ("IsInt", "IntBits", "FracBits")} == {
        "IsInt": 1,
        "IntBits": 8,
        "FracBits": 6,
    }
    with pytest.raises(ValueError, match="exact units"):
        nrtl.params("mx_dot", "mxint8", dot=replace(golden.units.MX_EXACT_RNE, frac_bits=25))
    with pytest.raises(ValueError, match="float elements"):
        nrtl.params("mx_dot", F.bfp(32, "fp8_e4m3fnuz"), dot=golden.units.MX_EXACT_RNE)
    with pytest.raises(ValueError, match="Accumulator.floating"):
        nrtl.params("fp32_acc", "fp32", dot=presets.get("fma-fp32"))
    assert nrtl.params("int_mac", "int8", dot=presets.get("int8-acc20-sat")) == {
        "IntBits": 8,
        "AccBits": 20,
        "Saturate": 1,
    }
    with pytest.raises(ValueError, match="P=12"):
        nrtl.params("int_mac", "int8", dot=presets.int_acc(12))


@pytest.mark.parametrize("fmt", ["e8m0", "fp32", "ue4m3", "bf16"])
def test_params_refuse_formats_the_rtl_cannot_hold(fmt: str) -> None:
    with pytest.raises(ValueError, match=f"format {F.get(fmt)}"):
        nrtl.params("elem_decoder", fmt)


def test_mx_params_other_block_formats() -> None:
    """Any E8M0-scaled block of a supported element works (BlockSize follows); other scales,
    microexponents and tensor scales are refused."""
    assert nrtl.params("mx_encoder", F.bfp(16, "fp8_e5m2"))["BlockSize"] == 16
    for fmt in ("nvfp4", "mx9", F.bfp(16, "int8", scale_bits=5)):
        with pytest.raises(ValueError, match="E8M0 scale"):
            nrtl.params("mx_encoder", fmt)
    with pytest.raises(TypeError, match="takes an element format"):
        nrtl.params("elem_encoder", "mxfp8_e4m3")


def test_unknown_unit() -> None:
    with pytest.raises(KeyError, match="unknown RTL unit 'mx_fma'"):
        nrtl.params("mx_fma", "fp8_e4m3")


def test_lint_leaves_dev_null_alone() -> None:
    """iverilog chmods its output file 0755; pointed at /dev/null as root, that breaks every
    non-root writer of /dev/null (apt). The helper writes to a temporary file instead."""
    _need("iverilog")
    before = Path("/dev/null").stat().st_mode
    nrtl.lint("elem_decoder", nrtl.params("elem_decoder", "fp4_e2m1"), tools=["iverilog"])
    assert Path("/dev/null").stat().st_mode == before
