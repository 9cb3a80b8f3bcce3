"""The harness itself can fail: a corrupted vector is caught and reported, a missing simulator is
a clear skip (a failure under NUMSIM_NO_SKIPS=1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from numsim import golden
from verification import sim_harness as h

ROOT = Path(__file__).resolve().parent.parent
UNIT, SET = "elem_encoder", "fp8_e4m3"
#: The corrupted row (0-based): inside the exhaustive bfloat16 section, a finite input.
ROW = 65536 + 0x3F80 + 5


def _corrupted(
    golden_set: golden.Manifest, tmp_path: Path
) -> tuple[golden.VectorFile, golden.VectorFile, Path]:
    """The default vectors, and a well-formed copy (valid checksums) with one expected code
    flipped."""
    good = golden.read(golden_set.root / golden.unit(UNIT).set(SET).filename, manifest=golden_set)
    data = {k: v.copy() for k, v in good.data.items()}
    data["code"][ROW] ^= np.uint64(1)
    bad = golden.VectorFile(dict(good.header), good.columns, data)
    path = tmp_path / "corrupted.hex"
    golden.write(bad, path)
    return good, bad, path


@pytest.mark.sim
@pytest.mark.parametrize("sim", h.SIMULATORS)
def test_stream_catches_one_corrupted_vector(
    sim: str, golden_set: golden.Manifest, tmp_path: Path
) -> None:
    h.require(sim)
    good, bad, path = _corrupted(golden_set, tmp_path)
    b = h.build(sim, UNIT, good.header["rtl"])
    rep = h.run_stream(b, path, tmp_path / "stream.report")
    x, true_code, bad_code = (
        int(good.data["fp32"][ROW]),
        int(good.data["code"][ROW]),
        int(bad.data["code"][ROW]),
    )
    assert (rep.count, rep.errors) == (good.count, 1)
    assert rep.mismatches == [(ROW + 1, [x, bad_code, true_code])]
    with pytest.raises(pytest.fail.Exception) as err:
        h.check_report(bad, rep, f"negative test on {sim}")
    msg = str(err.value)
    # hex and decoded values of the input, the expected (corrupted) and the DUT's output
    x_val = float(np.uint32(x).view(np.float32))
    assert f"vector {ROW + 1}: fp32 0x{x:08x} ({x_val!r})" in msg, msg
    assert f"expected 0x{bad_code:02x}" in msg and f"got 0x{true_code:02x}" in msg, msg
    assert "1 mismatch(es) in" in msg


@pytest.mark.sim
@pytest.mark.parametrize("sim", h.SIMULATORS)
def test_python_driven_catches_one_corrupted_vector(
    sim: str, golden_set: golden.Manifest, tmp_path: Path
) -> None:
    h.require(sim)
    good, bad, _ = _corrupted(golden_set, tmp_path)
    b = h.build(sim, UNIT, good.header["rtl"])
    rep = h.run_python(b, bad, range(ROW - 20, ROW + 20), tmp_path / "python.report")
    assert (rep.count, rep.errors) == (40, 1)
    assert rep.mismatches[0][0] == ROW + 1 and rep.failed


@pytest.mark.sim
@pytest.mark.parametrize("sim", h.SIMULATORS)
def test_truncated_stream_is_a_failure(
    sim: str, golden_set: golden.Manifest, tmp_path: Path
) -> None:
    """Bypassing the reader, a file cut short still fails the count check."""
    h.require(sim)
    good = golden.read(golden_set.root / golden.unit(UNIT).set(SET).filename, manifest=golden_set)
    raw = (golden_set.root / golden.unit(UNIT).set(SET).filename).read_bytes()
    path = tmp_path / "cut.hex"
    path.write_bytes(raw[: len(raw) - 11 * 1000 - 4])
    rep = h.run_stream(h.build(sim, UNIT, good.header["rtl"]), path, tmp_path / "cut.report")
    assert rep.errors == 0 and rep.count < good.count
    with pytest.raises(pytest.fail.Exception, match="vectors dropped or file truncated"):
        h.check_report(good, rep, "truncated")


def test_missing_simulator_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no iverilog, no make, no g++
    assert "apt-get install iverilog" in (h.missing("icarus") or "")
    with pytest.raises(
        pytest.skip.Exception, match="simulator icarus unavailable: Icarus Verilog not found"
    ):
        h.require("icarus")
    with pytest.raises(ValueError, match="sim='modelsim'"):
        h.missing("modelsim")


def _pytest_without_icarus(tmp_path: Path, no_skips: bool) -> subprocess.CompletedProcess[str]:
    """Run one Icarus test in a child pytest whose PATH holds no simulator."""
    env = {k: v for k, v in os.environ.items() if k != "NUMSIM_NO_SKIPS"}
    env["PATH"] = str(tmp_path)
    if no_skips:
        env["NUMSIM_NO_SKIPS"] = "1"
    test = "verification/test_rtl_elem_codecs.py::test_stream[icarus-elem_decoder-fp4_e2m1]"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", test],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_missing_simulator_skips_with_reason(tmp_path: Path) -> None:
    r = _pytest_without_icarus(tmp_path, no_skips=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 skipped" in r.stdout and "Icarus Verilog not found" in r.stdout, r.stdout


def test_missing_simulator_fails_under_no_skips(tmp_path: Path) -> None:
    r = _pytest_without_icarus(tmp_path, no_skips=True)
    assert r.returncode == 1, r.stdout + r.stderr
    # the skip happens in setup, so pytest counts the failure as an error
    assert "1 failed" in r.stdout or "1 error" in r.stdout, r.stdout
    assert (
        "skipped under NUMSIM_NO_SKIPS=1" in r.stdout and "Icarus Verilog not found" in r.stdout
    ), r.stdout


MX_SET = "mxfp8_e4m3"


@pytest.mark.sim
@pytest.mark.parametrize("sim", h.SIMULATORS)
def test_mx_stream_catches_a_corrupted_code_and_scale(
    sim: str, golden_set: golden.Manifest, tmp_path: Path
) -> None:
    """One element code and one scale corrupted (in two blocks): exactly those two mismatches,
    reported with the lane, its input element and the decoded values."""
    h.require(sim)
    good = golden.read(
        golden_set.root / golden.unit("mx_encoder").set(MX_SET).filename, manifest=golden_set
    )
    data = {k: v.copy() for k, v in good.data.items()}
    row_c, lane, row_s = good.sections()["catalog"][3], 17, good.sections()["random"][5]
    data["codes"][row_c, lane] ^= np.uint64(0x01)
    data["scale"][row_s] ^= np.uint64(0x02)
    bad = golden.VectorFile(dict(good.header), good.columns, data)
    golden.write(bad, tmp_path / "bad.hex")
    b = h.build(sim, "mx_encoder", good.header["rtl"])
    rep = h.run_stream(b, tmp_path / "bad.hex", tmp_path / "bad.report")
    assert (rep.count, rep.errors) == (good.count, 2)
    assert [m[0] for m in rep.mismatches] == [row_c + 1, row_s + 1]
    with pytest.raises(pytest.fail.Exception) as err:
        h.check_report(bad, rep, f"negative MX test on {sim}")
    msg = str(err.value)
    x = int(good.data["x"][row_c, lane])
    assert f"codes[{lane}]: x[{lane}] 0x{x:08x}" in msg, msg
    assert f"expected 0x{int(bad.data['codes'][row_c, lane]):02x}" in msg, msg
    assert f"got 0x{int(good.data['codes'][row_c, lane]):02x}" in msg, msg
    assert f"scale expected 0x{int(bad.data['scale'][row_s]):02x}" in msg, msg


@pytest.mark.sim
@pytest.mark.parametrize("sim", h.SIMULATORS)
def test_protocol_checker_catches_a_wrong_latency(
    sim: str, golden_set: golden.Manifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Python protocol checker, told the pipeline has latency 2, reports violations."""
    h.require(sim)
    vf = golden.read(
        golden_set.root / golden.unit("mx_encoder").set(MX_SET).filename, manifest=golden_set
    )
    monkeypatch.setitem(h.LATENCY, "mx_encoder", 2)
    b = h.build(sim, "mx_encoder", vf.header["rtl"])
    rep = h.run_protocol(b, vf, list(vf.sections()["special"])[:40], tmp_path / "lat.report")
    assert any("latency 3, expected 2" in p for p in rep.protocol), rep.protocol
    with pytest.raises(pytest.fail.Exception, match="protocol violations"):
        h.check_report(vf, rep, "latency")
