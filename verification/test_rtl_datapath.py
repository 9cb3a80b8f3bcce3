"""Datapath RTL (numsim_mx_dot, numsim_fp32_acc, numsim_int_mac) against numsim's golden
vectors, under Icarus and Verilator. The golden values come from numsim.datapath (mx_dot / dot
on the set's DotUnit), which tests/ holds to the exact Fraction reference.

Verilator streams every row of the golden file through the HDL self-checking loop. Icarus is
20-100 times slower on these units (the MX dot unit: about 1,000 blocks/s), so it streams a
subset of the same file: every catalog section whole, the exhaustive sections strided and the
random / chain sections cut to a prefix of whole chains (:data:`ICARUS_ROWS`); the subset is
written as a golden file of its own and streamed the same way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from numsim import golden
from verification import sim_harness as h

UNITS = ("mx_dot", "fp32_acc", "int_mac")
CASES = [pytest.param(u, s.name, id=f"{u}-{s.name}") for u in UNITS for s in golden.unit(u).sets]
#: Icarus subsets: section -> ("stride" | "prefix", rows kept); other sections are kept whole.
ICARUS_ROWS = {
    "mx_dot": {"pairs": ("stride", 512), "cancel": ("prefix", 256), "random": ("prefix", 768)},
    "fp32_acc": {"random": ("prefix", 2048), "chains": ("prefix", 64 * 64)},
    "int_mac": {"edges": ("stride", 16384), "chains": ("prefix", 128 * 64)},
}


def subset(vf: golden.VectorFile, rules: dict[str, tuple[str, int]]) -> golden.VectorFile:
    """The rows of ``vf`` that ``rules`` keep, in file order, as a vector file of its own."""
    keep, cases = [], []
    for name, rows in vf.sections().items():
        idx = np.arange(rows.start, rows.stop)
        how, n = rules.get(name, ("all", 0))
        if how == "stride":
            idx = idx[:: max(1, len(idx) // n)]
        elif how == "prefix":
            idx = idx[:n]
        keep.append(idx)
        cases.append(f"{name}={idx.size}")
    sel = np.concatenate(keep)
    header = dict(vf.header, cases=" ".join(cases), subset=f"icarus rows of {vf.header['set']}")
    return golden.VectorFile(header, vf.columns, {k: v[sel] for k, v in vf.data.items()})


def stream_file(
    sim: str, unit: str, vf: golden.VectorFile, path: Path, build_dir: Path
) -> tuple[golden.VectorFile, Path]:
    """What ``sim`` streams: the whole file (Verilator) or its Icarus subset."""
    if sim != "icarus":
        return vf, path
    sub = subset(vf, ICARUS_ROWS[unit])
    sub_path = build_dir / f"{vf.header['set']}.icarus.hex"
    golden.write(sub, sub_path)
    return sub, sub_path


@pytest.mark.sim
@pytest.mark.parametrize("unit,set_name", CASES)
@pytest.mark.parametrize("sim", h.SIMULATORS)
def test_stream(sim: str, unit: str, set_name: str, golden_set: golden.Manifest) -> None:
    """Every vector of the golden file (Icarus: its subset), compared in HDL."""
    h.stream_test(
        sim,
        unit,
        set_name,
        golden_set,
        lambda vf, path, build_dir: stream_file(sim, unit, vf, path, build_dir),
    )


@pytest.mark.sim
@pytest.mark.parametrize("set_name", [s.name for s in golden.unit("mx_dot").sets])
@pytest.mark.parametrize("sim", h.SIMULATORS)
def test_mx_dot_python_driven(sim: str, set_name: str, golden_set: golden.Manifest) -> None:
    """The specials and the first scale-sweep rows driven from Python (one per nanosecond);
    the DUT's parameters read back and compared with numsim's (and CodeW with the element's
    total_bits)."""
    h.require(sim)
    vf, _ = h.golden_vectors(golden_set, "mx_dot", set_name)
    sec = vf.sections()
    rows = [*sec["special"], *sec["scales"][:200], *sec["cancel"][:50]]
    b = h.build(sim, "mx_dot", vf.header["rtl"])
    rep = h.run_python(b, vf, rows, b.build_dir / f"{set_name}.python.report")
    h.check_report(vf, rep, f"mx_dot {set_name} on {sim} (Python-driven)", expect_count=len(rows))


def _chain_rows(vf: golden.VectorFile, chains: int = 4) -> list[int]:
    """The first 64 single steps and the first ``chains`` whole chains of an accumulator file."""
    start, length = vf.sections()["chains"].start, int(vf.header["chain_length"])
    return [*range(64), *range(start, start + chains * length)]


@pytest.mark.sim
@pytest.mark.parametrize("unit,set_name", [c for c in CASES if c.values[0] != "mx_dot"])
@pytest.mark.parametrize("sim", h.SIMULATORS)
def test_chain_python_driven(
    sim: str, unit: str, set_name: str, golden_set: golden.Manifest
) -> None:
    """Single steps and whole chains driven from Python through the register; the DUT's
    parameters (OutRne; IntBits, AccBits, Saturate) read back and compared with numsim's."""
    h.require(sim)
    vf, _ = h.golden_vectors(golden_set, unit, set_name)
    rows = _chain_rows(vf)
    b = h.build(sim, unit, vf.header["rtl"])
    rep = h.run_chain(b, vf, rows, b.build_dir / f"{set_name}.chain.report")
    h.check_report(
        vf, rep, f"{unit} {set_name} on {sim} (Python-driven chains)", expect_count=len(rows)
    )


@pytest.mark.sim
@pytest.mark.parametrize("sim", h.SIMULATORS)
def test_chain_python_driven_catches_a_parameter_difference(
    sim: str, golden_set: golden.Manifest
) -> None:
    """The read-back fails when numsim's parameters differ from the built DUT's (here: numsim
    says saturate, the DUT wraps)."""
    h.require(sim)
    vf, _ = h.golden_vectors(golden_set, "int_mac", "int8-acc16")
    b = h.build(sim, "int_mac", vf.header["rtl"])
    rows = _chain_rows(vf, chains=1)
    rep = h.run_chain(
        b,
        vf,
        rows,
        b.build_dir / "int8-acc16.badparam.report",
        params=dict(h.expected_params(b, vf), Saturate=1),
    )
    assert (rep.count, rep.errors) == (len(rows), 0), rep
    assert rep.failed is not None and "Saturate: DUT has 0, numsim says 1" in rep.log, rep.log


def test_icarus_subset_keeps_every_catalog_row(golden_set: golden.Manifest) -> None:
    """The subset keeps the specials and scale sweeps whole and whole chains only."""
    vf, _ = h.golden_vectors(golden_set, "mx_dot", "mxfp8_e4m3-b200")
    sub = subset(vf, ICARUS_ROWS["mx_dot"])
    s, t = vf.sections(), sub.sections()
    assert len(t["special"]) == len(s["special"]) and len(t["scales"]) == len(s["scales"])
    assert len(t["pairs"]) == 512 and len(t["random"]) == 768
    vf, _ = h.golden_vectors(golden_set, "int_mac", "int8-acc16")
    sub = subset(vf, ICARUS_ROWS["int_mac"])
    chains = sub.sections()["chains"]
    assert len(chains) % int(vf.header["chain_length"]) == 0
    assert int(sub.data["init"][chains.start]) == 1


# ---------------------------------------------------------------------------------------------
# Negative tests: one corrupted expected value is caught and reported with decoded values
# ---------------------------------------------------------------------------------------------
def _corrupt(
    vf: golden.VectorFile, sel: np.ndarray, column: str, at: int, tmp_path: Path
) -> tuple[golden.VectorFile, Path]:
    """Rows ``sel`` of ``vf`` as a well-formed file (valid checksums) with the expected value of
    ``column`` in its row ``at`` flipped in the lowest bit."""
    data = {k: v[sel].copy() for k, v in vf.data.items()}
    data[column][at] ^= np.uint64(1)
    bad = golden.VectorFile(dict(vf.header, cases=f"rows={sel.size}"), vf.columns, data)
    path = tmp_path / "corrupted.hex"
    golden.write(bad, path)
    return bad, path


@pytest.mark.sim
@pytest.mark.parametrize("sim", h.SIMULATORS)
def test_mx_dot_stream_catches_one_corrupted_result(
    sim: str, golden_set: golden.Manifest, tmp_path: Path
) -> None:
    """One product row's expected d corrupted: exactly that row fails, printed with its scales,
    c, the non-zero elements and the decoded expected and actual d."""
    h.require(sim)
    vf, _ = h.golden_vectors(golden_set, "mx_dot", "mxfp8_e4m3-exact-rne")
    at = 700  # in the exhaustive pairs section: a = 0x57 in every lane, b = 0x80 ... 0x9f
    bad, path = _corrupt(vf, np.arange(1500), "d", at, tmp_path)
    b = h.build(sim, "mx_dot", vf.header["rtl"])
    rep = h.run_stream(b, path, tmp_path / "bad.report")
    assert (rep.count, rep.errors) == (1500, 1)
    assert rep.mismatches[0][0] == at + 1
    with pytest.raises(pytest.fail.Exception) as err:
        h.check_report(bad, rep, f"negative mx_dot test on {sim}")
    msg = str(err.value)
    d_bad, d_good = int(bad.data["d"][at]), int(vf.data["d"][at])
    assert f"d expected 0x{d_bad:08x}" in msg and f"got 0x{d_good:08x}" in msg, msg
    a0 = int(vf.data["a"][at][0])
    assert "a_scale 0x7f (2**0)" in msg and f"a 0x{a0:02x}" in msg and f"[0] 0x{a0:02x} (" in msg, (
        msg
    )
    assert "more non-zero" in msg and "c 0x00000000 (0.0)" in msg, msg


@pytest.mark.sim
@pytest.mark.parametrize("sim", h.SIMULATORS)
@pytest.mark.parametrize(
    "unit,set_name,column", [("fp32_acc", "fp32-rne", "acc"), ("int_mac", "int8-acc16", "sticky")]
)
def test_chain_stream_catches_one_corrupted_result(
    sim: str, unit: str, set_name: str, column: str, golden_set: golden.Manifest, tmp_path: Path
) -> None:
    """A value inside a chain (the register's feedback path) corrupted: exactly that row fails."""
    h.require(sim)
    vf, _ = h.golden_vectors(golden_set, unit, set_name)
    start = vf.sections()["chains"].start
    sel = np.r_[0:64, start : start + 64 * 8]  # a few single steps, then eight whole chains
    at = 64 + 64 * 3 + 17
    bad, path = _corrupt(vf, sel, column, at, tmp_path)
    b = h.build(sim, unit, vf.header["rtl"])
    rep = h.run_stream(b, path, tmp_path / "bad.report")
    assert (rep.count, rep.errors) == (sel.size, 1), rep
    assert rep.mismatches[0][0] == at + 1
    with pytest.raises(pytest.fail.Exception) as err:
        h.check_report(bad, rep, f"negative {unit} test on {sim}")
    assert f"vector {at + 1}:" in str(err.value) and "1 mismatch(es)" in str(err.value)
