"""Study ``ptq``: points, tidy rows, the RTN reductions, the table, the figure and
``report --merge``.

Expected values are hand-computed from the rows given (reductions, table cells), recomputed
independently with ``quantize_model`` and torch (the RTN row's error), or are the files of the
report merged into (byte-equal copies), never from the code under test.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from numsim import cli, studies
from numsim.studies import ptq, render


def _row(model: str, fmt: str, method: str, err: float, datapath: str = "float") -> dict:
    return {
        "model": model,
        "format": fmt,
        "weight_format": ptq.FORMATS[fmt][0],
        "method": method,
        "datapath": datapath,
        "input_format": "float" if datapath == "float" else "fp8_e4m3",
        "calibration": 64,
        "layers": 4,
        "rel_output_error": err,
        "seconds": 1.5,
    }


ROWS = [
    _row("digits-cnn", "MXFP4", "rtn", 0.20),
    _row("digits-cnn", "MXFP4", "gptq", 0.10),
    _row("digits-cnn", "MXFP4", "qep:gptq", 0.08),
    _row("digits-cnn", "MXFP4", "rtn", 0.40, "h100-e4m3"),
    _row("digits-cnn", "MXFP4", "gptq", 0.30, "h100-e4m3"),
    _row("minilm", "INT4-channel", "gptq", 0.05),  # no RTN row: no reduction
]


def test_points_cover_the_grid_and_reject_bad_names() -> None:
    p = ptq.Params(
        models=("digits-cnn",),
        formats=("MXFP4", "NVFP4"),
        methods=("rtn", "qep:gptq"),
        datapath_methods=("rtn",),
    )
    pts = ptq.points(p)
    assert len(pts) == 2 * 2 + 1
    assert [x["method"] for x in pts[:2]] == ["rtn", "qep:gptq"]
    assert pts[-1]["datapath"] == "h100-e4m3" and pts[-1]["format"] == "INT4-channel"
    assert all(json.loads(json.dumps(x)) == x for x in pts)  # JSON-able cache keys
    for bad in (
        {"models": ("resnet",)},
        {"formats": ("MXFP5",)},
        {"methods": ("qep:nope",)},
        {"methods": ("round",)},
        {"methods": ("qep:ed",)},  # QEP hands its base H alone; ED needs G
        {"methods": ("rtn:gptq",)},
        {"minilm_formats": ("NVFP4",), "formats": ("MXFP4",)},
        {"minilm_methods": ("gpfq",), "methods": ("rtn", "ed")},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            ptq.points(ptq.Params(**bad))


def test_minilm_points_are_limited_to_its_formats_and_methods() -> None:
    p = ptq.Params(
        formats=("MXFP4", "NVFP4", "MX6"),
        methods=("rtn", "gptq", "ed"),
        minilm_formats=("MXFP4",),
        minilm_methods=("rtn", "ed"),
        datapath_methods=(),
    )
    got = [(x["model"], x["format"], x["method"]) for x in ptq.points(p)]
    assert got[:2] == [("minilm", "MXFP4", "rtn"), ("minilm", "MXFP4", "ed")]
    assert len(got) == 2 + 3 * 3 and all(m == "digits-cnn" for m, _, _ in got[2:])
    # empty limits: MiniLM runs the whole grid
    full = ptq.points(ptq.Params(formats=("MXFP4", "MX6"), methods=("rtn",), datapath_methods=()))
    assert [(x["model"], x["format"]) for x in full][:2] == [("minilm", "MXFP4"), ("minilm", "MX6")]
    with pytest.raises(KeyError):
        ptq.points(ptq.Params(datapath="no-such-unit"))


def test_registered_with_a_cheap_quick_set_and_the_full_grid() -> None:
    s = studies.STUDIES["ptq"]
    assert s.module is ptq and s.quick is ptq.QUICK and s.full is ptq.FULL
    quick, full = s.points(s.quick), s.points(s.full)
    # quick: the digits CNN only, on a small calibration set
    assert {p["model"] for p in quick} == {"digits-cnn"}
    assert {p["calibration"] for p in quick} == {ptq.QUICK.calibration_digits} and len(quick) <= 12
    f = ptq.FULL
    digits = [p for p in full if p["model"] == "digits-cnn" and "datapath" not in p]
    assert len(digits) == len(f.formats) * len(f.methods)
    minilm = [p for p in full if p["model"] == "minilm"]
    assert {(p["format"], p["method"]) for p in minilm} == {
        (x["format"], x["method"]) for x in digits
    }
    assert {"rtn", "gptq", "gpfq", "ed", "qep:gptq", "qep:rtn"} <= set(f.methods)
    want = {"MXFP4", "MXFP6", "MXINT8", "NVFP4", "MX4", "MX6", "b4int3", "INT4-channel"}
    assert {p["format"] for p in digits} == want
    assert {p["method"] for p in digits} >= {"rtn", "gptq", "gpfq", "ed", "qep:gptq"}
    dp = [p for p in full if "datapath" in p]
    assert {p["datapath"] for p in dp} == {f.datapath} and len(dp) == len(f.datapath_methods)


def test_study_method_options_set_gptq_act_order_on_minilm_only() -> None:
    """The study's own settings: GPTQ with act-order on MiniLM (chosen on a validation split),
    GPTQ on the digits CNN, the other methods at their defaults, a wrapped base as alone; each
    setting is an option the method takes and differs from its default (else it would not need
    one)."""
    from numsim.ptq import METHODS

    assert ptq._method("gptq", "minilm") == ("gptq", {"act_order": True})
    assert ptq._method("gptq", "digits-cnn") == ("gptq", {}) and ptq._method("gptq") == ("gptq", {})
    assert ptq._method("gpfq", "minilm") == ("gpfq", {}) and ptq._method("ed", "minilm") == (
        "ed",
        {},
    )
    # a wrapped base runs as the study runs it alone: QEP is compared with the GPTQ row
    assert ptq._method("qep:gptq", "minilm") == ("qep", {"base": "gptq", "act_order": True})
    assert ptq._method("qep:gptq", "digits-cnn") == ("qep", {"base": "gptq"})
    assert ptq._method("qep:rtn", "minilm") == ("qep", {"base": "rtn"})
    for per_model in ptq.METHOD_OPTIONS.values():
        for name, opts in per_model.items():
            assert all(
                k in METHODS[name].options and METHODS[name].options[k] != v
                for k, v in opts.items()
            )
    ptq._method("gptq", "minilm")[1]["act_order"] = False  # a copy: the setting is unchanged
    assert ptq.METHOD_OPTIONS["minilm"]["gptq"] == {"act_order": True}


def test_relative_error_by_hand() -> None:
    ref = np.array([[3.0, 0.0], [0.0, 4.0]])  # ||ref|| = 5
    out = np.array([[3.0, 1.0], [0.0, 4.0]])  # ||out - ref|| = 1
    assert ptq.relative_error(ref, out) == pytest.approx(0.2, abs=1e-15)


def test_cli_parameter_error_is_one_line_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "rep"
    argv = ["report", "--no-progress", "--cache", str(tmp_path / "cache"), "--study", "ptq"]
    rc = cli.main([*argv, "--param", "ptq.methods=rtn,magic", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and err.startswith("numsim report: ")
    assert "methods: 'magic': expected NAME or NAME:BASE" in err
    assert not out.exists() and not (tmp_path / "cache").exists()


def test_reductions_are_against_rtn_of_the_same_model_format_and_datapath() -> None:
    red = {
        (r["method"], r["datapath"], r["model"]): r["reduction_vs_rtn"]
        for r in ptq.reductions(ROWS)
    }
    assert red[("rtn", "float", "digits-cnn")] == 0
    assert red[("gptq", "float", "digits-cnn")] == pytest.approx(0.5)  # 1 - 0.10 / 0.20
    assert red[("qep:gptq", "float", "digits-cnn")] == pytest.approx(0.6)
    assert red[("gptq", "h100-e4m3", "digits-cnn")] == pytest.approx(0.25)  # 1 - 0.30 / 0.40
    assert red[("gptq", "float", "minilm")] is None


def test_table_reading_and_figure() -> None:
    table = ptq.table(ROWS)
    lines = table.splitlines()
    assert len(lines) == 2 + len(ROWS)
    assert "| digits-cnn | float | MXFP4 | gptq | 0.1000 | +50.0 % | 1.5 |" in lines
    assert "| minilm | float | INT4-channel | gptq | 0.0500 | — | 1.5 |" in lines
    title, text = ptq.reading(ROWS)
    # the float-path 4-bit rows against RTN: digits-cnn GPTQ at MXFP4 only (1 - 0.10 / 0.20)
    assert (
        title
        == "At 4 bits the 40 % cut of RTN's held-out output error is met by GPTQ on every model"
    )
    assert text.startswith(
        "Change of RTN's error over the 4-bit formats, least to most: "
        "digits-cnn: GPTQ +50.0 to +50.0 %. "
    )
    assert "negative" not in text
    # a method worse than RTN: 1 - 0.30 / 0.20 = -50 %, and the text says what the sign means
    worse = [*ROWS, _row("minilm", "MXFP4", "rtn", 0.20), _row("minilm", "MXFP4", "ed", 0.30)]
    worse += [_row("minilm", "MX4", "rtn", 0.20), _row("minilm", "MX4", "ed", 0.10)]
    worse += [_row("digits-cnn", "MXFP4", "ed", 0.19), _row("minilm", "MX4", "gpfq", 0.15)]
    title2, text2 = ptq.reading(worse)
    assert title2 == (
        "At 4 bits the 40 % cut of RTN's held-out output error is met by GPTQ on every model and "
        "missed by GPFQ on minilm, by ED on digits-cnn and minilm"
    )
    assert (
        "digits-cnn: GPTQ +50.0 to +50.0 %, ED +5.0 to +5.0 %; "
        "minilm: GPFQ +25.0 to +25.0 %, ED -50.0 to +50.0 %" in text2
    )
    assert "a negative one is a larger error than RTN's" in text2
    # MiniLM below the 40 % cut: the reading carries the diagnosis; without MiniLM rows it does not
    assert "Why MiniLM misses it" in text2 and "Why MiniLM" not in text
    assert "QEP beats its base method in 1 of 1" in text
    fig = render.FIGURES["ptq"](ROWS)
    assert fig.png.startswith(b"\x89PNG") and fig.title == title


def _report(tmp_path: Path, name: str, text: str) -> Path:
    out = tmp_path / name
    out.mkdir()
    results = [
        {
            "name": "ptq",
            "title": studies.STUDIES["ptq"].title,
            "rows": ROWS,
            "params": {},
            "stats": {"points": len(ROWS)},
        }
    ]
    if text:
        results = [
            {"name": "formats", "title": studies.STUDIES["formats"].title, "skipped": text},
            *results,
        ]
    render.write_report(
        out, results, {"mode": "full", "executor": "x", "versions": {"numsim": "0"}}
    )
    return out


def test_merge_keeps_the_other_studies(tmp_path: Path) -> None:
    old = _report(tmp_path, "old", "kept section")
    (old / "formats.csv").write_text("a\n1\n")
    m = json.loads((old / "manifest.json").read_text())
    m["files"]["formats.csv"] = {"sha256": "x", "bytes": 4}
    (old / "manifest.json").write_text(json.dumps(m))
    new = _report(tmp_path, "new", "")
    merged = render.merge_previous(old, new, list(studies.STUDIES))
    assert list(merged["studies"]) == ["formats", "ptq"]
    assert (new / "formats.csv").read_text() == "a\n1\n"
    md = (new / "index.md").read_text()
    assert md.index("Not run: kept section.") < md.index("## PTQ")
    assert "kept from the previous report: formats" in md
    html = (new / "index.html").read_text()
    assert html.count("<h2>") == 2 and html.endswith("</body></html>")
    assert merged["files"]["formats.csv"]["bytes"] == 4


@pytest.mark.slow
def test_quick_point_gives_one_tidy_row(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    p = ptq.Params(
        models=("digits-cnn",),
        formats=("INT4-channel",),
        methods=("rtn", "gptq"),
        calibration_digits=64,
        datapath_methods=(),
    )
    with studies.Executor(cache_dir=tmp_path / "cache", progress=False) as ex:
        rows, stats = studies.run_study(studies.STUDIES["ptq"], p, ex)
    assert stats.computed == 2 and len(rows) == 2
    cols = set(_row("digits-cnn", "MXFP4", "rtn", 0)) | {"accuracy", "rel_logit_error"}
    for r in rows:
        assert set(r) == cols
        assert all(isinstance(v, (str, int, float, bool)) for v in r.values())
        # the study's own error and the model's metric are the same quantity for digits
        assert r["rel_output_error"] == pytest.approx(r["rel_logit_error"], rel=1e-12)
    # the RTN error recomputed independently: float and quantized logits on the test images
    import torch

    from numsim.ptq import models, quantize_model

    spec = models.get("digits-cnn")
    q, _ = quantize_model(
        spec.model, spec.calibration(64, 0), weight_format="int4", granularity="channel"
    )
    with torch.no_grad():
        ref = spec.model(spec.eval_inputs).double()
        out = q(spec.eval_inputs).double()
    want = float(torch.linalg.norm(out - ref) / torch.linalg.norm(ref))
    assert rows[0]["method"] == "rtn"
    assert rows[0]["rel_output_error"] == pytest.approx(want, rel=1e-9)


def test_named_study_merges_into_the_existing_report(tmp_path: Path) -> None:
    """``--study NAME --merge`` into a folder holding a report keeps that report's other studies
    byte for byte (figure, CSV, section, manifest entry) and replaces only NAME's."""

    def report(*args: str) -> int:
        return cli.main(["report", "--no-progress", "--cache", str(tmp_path / "cache"), *args])

    out = tmp_path / "rep"
    fm = ["--param", "formats.rows=4", "--param", "formats.cols=64"]
    fm += ["--param", "formats.formats=fp8_e4m3", "--param", "formats.distributions=gaussian"]
    acc = ["--param", "accumulator.ks=384", "--param", "accumulator.activations=gaussian"]
    acc += ["--param", "accumulator.bits=12,30", "--param", "accumulator.batch=4"]
    assert report("--study", "formats", *fm, "--out", str(out)) == 0
    md1 = (out / "index.md").read_text()
    png, csv1 = (out / "formats.png").read_bytes(), (out / "formats.csv").read_bytes()
    assert report("--study", "accumulator", *acc, "--merge", "--out", str(out)) == 0
    man = json.loads((out / "manifest.json").read_text())
    assert list(man["studies"]) == ["formats", "accumulator"]  # registry order
    assert man["kept_from_previous"] == {"formats": "full"}
    for rel, entry in man["files"].items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == entry["sha256"]
    assert (out / "formats.png").read_bytes() == png
    assert (out / "formats.csv").read_bytes() == csv1
    md2 = (out / "index.md").read_text()
    assert md1[md1.index("## ") :].rstrip() in md2 and md2.count("![") == 2
    assert (out / "index.html").read_text().count("data:image/png;base64,") == 2
    # rerunning one study replaces its section only
    assert report("--study", "accumulator", *acc, "--merge", "--out", str(out)) == 0
    man = json.loads((out / "manifest.json").read_text())
    assert list(man["studies"]) == ["formats", "accumulator"]
    assert (out / "index.md").read_text().count("\n## ") == 2
    # without --merge the folder holds the named study only
    assert report("--study", "accumulator", *acc, "--out", str(out)) == 0
    assert list(json.loads((out / "manifest.json").read_text())["studies"]) == ["accumulator"]
