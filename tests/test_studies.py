"""Co-design studies (``numsim report``): tidy data, cache keys, resumption, Dask, bad input."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from numsim import cli, studies
from numsim.studies import accumulator, datapath, executor, formats, hwcost

#: Tiny parameter sets per study: (parameters, expected point count, rows per point, columns).
TINY = {
    "formats": (
        formats.Params(
            distributions=("gaussian", "minilm_weight"),
            rows=4,
            cols=64,
            formats=("fp8_e4m3", "mxfp4_e2m1", "nvfp4"),
        ),
        6,
        {"fp8_e4m3": 1, "mxfp4_e2m1": 3, "nvfp4": 1},
        {
            "distribution",
            "format",
            "kind",
            "scale_rule",
            "bits_per_value",
            "sqnr_db",
            "rms_error",
            "max_abs_error",
            "values",
        },
    ),
    "datapath": (
        datapath.Params(
            units=("h100-e4m3", "fma-fp32"), ks=(16, 64), distributions=("gaussian",), trials=8
        ),
        3,
        2,
        {
            "unit",
            "family",
            "promoted",
            "operands",
            "distribution",
            "k",
            "trials",
            "rel_err_median",
            "rel_err_p90",
            "norm_err_median",
            "norm_err_p90",
            "inf_or_nan",
        },
    ),
    "accumulator": (
        accumulator.Params(ks=(384,), activations=("gaussian",), bits=(12, 30), batch=4),
        2,
        2,
        {
            "weights",
            "k",
            "activations",
            "overflow",
            "bits",
            "outputs",
            "worst_case_bits",
            "overflow_rate",
            "sqnr_db",
            "rel_rms_error",
            "max_error_rel",
        },
    ),
}


def _ex(tmp_path: Path, **kw: object) -> studies.Executor:
    return studies.Executor(cache_dir=tmp_path / "cache", progress=False, **kw)


@pytest.mark.parametrize("name", sorted(TINY))
def test_study_rows_are_tidy(name: str, tmp_path: Path) -> None:
    p, npoints, per_point, columns = TINY[name]
    study = studies.STUDIES[name]
    pts = study.points(p)
    assert len(pts) == npoints
    with _ex(tmp_path) as ex:
        per, stats = ex.map(name, study.module.compute, pts)
    assert stats.computed == npoints and stats.cached == 0
    for pt, rows in zip(pts, per):
        want = per_point[pt["format"]] if isinstance(per_point, dict) else per_point
        assert len(rows) == want
        for r in rows:
            assert set(r) == columns
            assert all(isinstance(v, (str, int, float, bool)) for v in r.values())


def test_formats_values_follow_from_the_definitions() -> None:
    """fp32 holds float32 data exactly (SQNR inf); MXFP4's bits per value are 4 + 8/32 (OCP MX
    v1.0 §5); the tensor scale by hand: max 700 = 1.37 * 2^9, E4M3 emax = 8, so k = 1; 700/2 = 350
    lies between the E4M3 neighbours 320 and 352 (step 32 in [256, 512)) and rounds to 352."""
    rows = formats.compute(
        {"distribution": "gaussian", "format": "fp32", "shape": [4, 64], "seed": 0}
    )
    assert math.isinf(rows[0]["sqnr_db"]) and rows[0]["max_abs_error"] == 0
    rows = formats.compute(
        {"distribution": "gaussian", "format": "mxfp4_e2m1", "shape": [4, 64], "seed": 0}
    )
    assert [r["bits_per_value"] for r in rows] == [4.25] * 3
    assert [r["scale_rule"] for r in rows] == ["floor", "ceil", "even"]
    x = np.array([[3.0, -700.0, 0.5]])
    q = formats.tensor_scaled(x, formats.F.get("fp8_e4m3"))
    assert q.tolist() == [[3.0, -704.0, 0.5]]


def test_accumulator_rows_match_hand_counts() -> None:
    """A 30-bit register never overflows on K = 384 int8 products (384 * 127^2 < 2^23); a 12-bit
    wrapping register overflows on most outputs; saturation is never worse than wrapping."""
    pt = {
        "weights": "minilm_int8_per_channel",
        "k": 384,
        "activations": "gaussian",
        "bits": [12, 30],
        "batch": 4,
        "seed": 0,
    }
    wrap = accumulator.compute({**pt, "overflow": "wrap"})
    sat = accumulator.compute({**pt, "overflow": "saturate"})
    assert wrap[1]["overflow_rate"] == 0 and math.isinf(wrap[1]["sqnr_db"])
    assert wrap[0]["overflow_rate"] > 0.5 and wrap[0]["worst_case_bits"] <= 24
    assert sat[0]["sqnr_db"] >= wrap[0]["sqnr_db"]


def test_datapath_exact_reference_is_exact() -> None:
    """ocp-mx-exact sums exactly and rounds once: on FP8 operands its error is at most half an
    FP32 ulp of the sum; h100-e4m3's 13-bit truncation is visibly worse at K = 1024."""
    rows = datapath.compute(
        {"unit": "ocp-mx-exact", "distribution": "gaussian", "ks": [1024], "trials": 16, "seed": 0}
    )
    assert rows[0]["rel_err_p90"] <= 2.0**-24
    rows = datapath.compute(
        {"unit": "h100-e4m3", "distribution": "gaussian", "ks": [1024], "trials": 16, "seed": 0}
    )
    assert rows[0]["rel_err_median"] > 2.0**-20


def test_pareto_front() -> None:
    # (cost, quality): (1, 1) and (3, 5) are on the front; (2, 1) and (4, 5) are dominated
    assert hwcost.pareto([1, 2, 3, 4], [1, 1, 5, 5]) == [True, False, True, False]


@pytest.mark.skipif(
    shutil.which("yosys") is None and os.environ.get("NUMSIM_NO_SKIPS") != "1",
    reason="yosys is not installed",
)
def test_hwcost_row(tmp_path: Path) -> None:
    (row,) = hwcost.compute({"rtl": "int_mac", "set": "int8-acc20", "seed": 0})
    assert set(row) == {
        "rtl",
        "set",
        "label",
        "format",
        "block_size",
        "cells",
        "transistors",
        "quality",
        "measure",
        "yosys",
    }
    assert len(hwcost.points(studies.STUDIES["hwcost"].quick)) == 6
    assert row["cells"] > 0 and 0 <= row["quality"] <= 1 and row["yosys"].startswith("Yosys")


def test_cache_keys() -> None:
    p = {"distribution": "gaussian", "format": "fp8_e4m3", "shape": [4, 64], "seed": 0}
    k = executor.cache_key("formats", p)
    assert k == executor.cache_key(
        "formats", dict(reversed(list(p.items())))
    )  # order does not matter
    assert len(k) == 64 and int(k, 16) >= 0
    assert executor.cache_key("formats", {**p, "seed": 1}) != k
    assert executor.cache_key("formats", {**p, "shape": [4, 65]}) != k
    assert executor.cache_key("datapath", p) != k
    assert executor.cache_key("formats", p, version="0.1.1") != k
    want = hashlib.sha256(
        json.dumps(
            {"study": "formats", "point": p, "numsim": studies.executor.numsim_version()},
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
    ).hexdigest()
    assert k == want


SLOW = """
import time
def compute(point):
    time.sleep(0.25)
    return [{"i": point["i"], "square": point["i"] ** 2}]
"""

RUN = """
import sys
sys.path.insert(0, {mod!r})
import slowstudy
from numsim.studies import Executor
with Executor(cache_dir={cache!r}, progress=False) as ex:
    ex.map("slow", slowstudy.compute, [{{"i": i}} for i in range(40)])
"""


def test_killed_run_resumes_without_recomputing(tmp_path: Path) -> None:
    (tmp_path / "slowstudy.py").write_text(SLOW)
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), *sys.path])}
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN.format(mod=str(tmp_path), cache=str(cache))], env=env
    )
    deadline = time.monotonic() + 120
    while len(list((cache / "slow").glob("*.json"))) < 5:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list((cache / "slow").glob("*.json")))
    assert 5 <= done < 40
    assert not list((cache / "slow").glob(".*.tmp"))  # no half-written cache entry
    sys.path.insert(0, str(tmp_path))
    try:
        import slowstudy

        with studies.Executor(cache_dir=cache, progress=False) as ex:
            per, stats = ex.map("slow", slowstudy.compute, [{"i": i} for i in range(40)])
    finally:
        sys.path.remove(str(tmp_path))
    assert stats.computed == 40 - done and stats.cached == done
    assert [rows[0]["square"] for rows in per] == [i * i for i in range(40)]


def test_dask_cluster_gives_the_local_results(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    p = TINY["formats"][0]
    study = studies.STUDIES["formats"]
    with _ex(tmp_path / "local") as ex:
        local, _ = studies.run_study(study, p, ex)
    with (
        distributed.LocalCluster(
            n_workers=1, processes=False, threads_per_worker=1, dashboard_address=None
        ) as cl,
        _ex(tmp_path / "dask", scheduler=cl.scheduler_address) as ex,
    ):
        assert ex.kind.startswith("dask")
        remote, stats = studies.run_study(study, p, ex)
    assert stats.computed == stats.points == 6
    assert remote == local


def test_local_processes_give_the_in_process_results(tmp_path: Path) -> None:
    p = TINY["accumulator"][0]
    study = studies.STUDIES["accumulator"]
    with _ex(tmp_path / "one") as ex:
        one, _ = studies.run_study(study, p, ex)
    with _ex(tmp_path / "two", jobs=2) as ex:
        assert ex.kind == "local processes (2)"
        two, stats = studies.run_study(study, p, ex)
    assert stats.computed == stats.points == 2
    assert two == one


def _report(tmp_path: Path, *args: str) -> int:
    return cli.main(["report", "--no-progress", "--cache", str(tmp_path / "cache"), *args])


def test_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rep"
    assert _report(tmp_path, "--study", "nope", "--out", str(out)) == 2
    assert (
        "study 'nope': expected one of formats, datapath, accumulator, hwcost, hwloop, ptq"
        in capsys.readouterr().err
    )
    assert (
        _report(tmp_path, "--study", "formats", "--param", "formats.nope=1", "--out", str(out)) == 2
    )
    assert (
        "parameter formats.nope: unknown; expected one of distributions" in capsys.readouterr().err
    )
    assert (
        _report(tmp_path, "--study", "formats", "--param", "formats.rows=many", "--out", str(out))
        == 2
    )
    assert "formats.rows='many': expected a value like" in capsys.readouterr().err
    assert _report(tmp_path, "--param", "formats-rows=3", "--out", str(out)) == 2
    assert "expected STUDY.NAME=VALUE" in capsys.readouterr().err
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert _report(tmp_path, "--quick", "--study", "formats", "--out", str(afile / "rep")) == 2
    assert f"--out {afile / 'rep'}: its parent folder" in capsys.readouterr().err
    assert _report(tmp_path, "--quick", "--study", "formats", "--out", str(afile)) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(0o500)
        assert _report(tmp_path, "--quick", "--study", "formats", "--out", str(ro / "rep")) == 2
        assert "cannot write in" in capsys.readouterr().err
    t = time.monotonic()
    assert _report(tmp_path, "--quick", "--scheduler", "tcp://127.0.0.1:9", "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "scheduler='tcp://127.0.0.1:9': cannot connect to a Dask scheduler there" in err
    assert time.monotonic() - t < 60
    assert _report(tmp_path, "--jobs", "0", "--out", str(out)) == 2
    assert "--jobs 0: expected an int in 1.." in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # nothing half-written, no cache


def test_terminated_report_leaves_nothing(tmp_path: Path) -> None:
    """SIGTERM during the run removes the temporary folder; no report appears."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), *sys.path])}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "numsim.cli",
            "report",
            "--quick",
            "--study",
            "formats",
            "--no-progress",
            "--out",
            str(tmp_path / "rep"),
            "--cache",
            str(tmp_path / "cache"),
        ],
        env=env,
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".rep.*.tmp")):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.terminate()
    assert proc.wait() == 128 + signal.SIGTERM
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cache") == []


def test_quick_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``numsim report --quick`` (the README's first command) writes a complete report; a rerun
    computes nothing and replaces the folder whole."""
    out = tmp_path / "report"
    assert _report(tmp_path, "--quick", "--out", str(out)) == 0
    assert str(out / "index.html") in capsys.readouterr().out
    man = json.loads((out / "manifest.json").read_text())
    for rel, entry in man["files"].items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == entry["sha256"]
    names = [n for n, s in man["studies"].items() if "skipped" not in s]
    assert {"formats", "datapath", "accumulator"} <= set(names)
    for n in names:
        assert {f"{n}.png", f"{n}.csv"} <= set(man["files"])
        assert man["studies"][n]["stats"]["computed"] == man["studies"][n]["stats"]["points"]
    assert {"numsim", "numpy", "numba", "python"} <= set(man["versions"])
    md = (out / "index.md").read_text()
    assert md.count("![") == len(names)
    assert (out / "index.html").read_text().count("data:image/png;base64,") == len(names)
    (out / "stale.txt").write_text("from the previous report")
    assert _report(tmp_path, "--quick", "--out", str(out)) == 0
    man2 = json.loads((out / "manifest.json").read_text())
    assert all(man2["studies"][n]["stats"]["computed"] == 0 for n in names)
    assert not (out / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# ------------------------------------------------------------------------------------------ hwloop


def test_hwloop_rows_are_tidy() -> None:
    pytest.importorskip("torch")
    from numsim.studies import hwloop

    p = hwloop.Params(models=("digits-cnn",), units=("a100-bf16",), images=8)
    pts = hwloop.points(p)
    assert pts == [{"model": "digits-cnn", "unit": "a100-bf16", "images": 8}]
    rows = hwloop.compute(pts[0])
    assert len(rows) == 1
    r = rows[0]
    assert set(r) == {
        "model",
        "unit",
        "family",
        "samples",
        "accuracy",
        "float_accuracy",
        "argmax_agreement",
        "rel_logit_error",
        "macs",
        "seconds",
    }
    assert (r["family"], r["samples"], r["macs"]) == ("NVIDIA", 8, 8 * (4608 + 73728 + 8192 + 320))
    assert 0 <= r["accuracy"] <= 1 and 0 <= r["argmax_agreement"] <= 1
    # BF16 operands carry 8 significant bits (unit roundoff 2^-9 each); the logits move, but by
    # far less than 2^-5 relative over four layers
    assert 0 < r["rel_logit_error"] < 2**-5
    assert isinstance(r["seconds"], float)  # recorded per point (speed: benchmarks/)


def test_hwloop_bad_parameters() -> None:
    from numsim.studies import hwloop

    with pytest.raises(ValueError, match="models: 'resnet'"):
        hwloop.points(hwloop.Params(models=("resnet",)))
    with pytest.raises(ValueError, match="units: \\(\\)"):
        hwloop.points(hwloop.Params(units=()))
    with pytest.raises(KeyError):
        hwloop.points(hwloop.Params(units=("h999-fp16",)))
    with pytest.raises(ValueError, match="images: 0"):
        hwloop.points(hwloop.Params(images=0))
    with pytest.raises(ValueError, match="sentences: 49"):
        hwloop.points(hwloop.Params(sentences=49))
    with pytest.raises(ValueError, match="tokens: 1"):
        hwloop.points(hwloop.Params(tokens=1))


def test_hwloop_figure_names_the_worst_preset() -> None:
    from numsim.studies import hwloop

    def row(unit: str, err: float) -> dict:
        return {
            "model": "digits-cnn",
            "unit": unit,
            "family": hwloop.family(unit),
            "samples": 8,
            "accuracy": 0.9,
            "float_accuracy": 0.9,
            "argmax_agreement": 1.0,
            "rel_logit_error": err,
            "macs": 1,
            "seconds": 0.5,
        }

    rows = [row("fma-fp32", 0.0), row("mi300-e4m3fnuz", 0.03), row("a100-bf16", 0.003)]
    fig = hwloop.figure(rows)
    assert "mi300-e4m3fnuz (AMD)" in fig.title
    assert "from 0 (fma-fp32) to 0.03 (mi300-e4m3fnuz)" in fig.reading
    assert fig.png.startswith(b"\x89PNG")
