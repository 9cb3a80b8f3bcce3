"""Study ``ptq``: points, tidy rows, the RTN reductions, the table, the figure and
``report --merge``.

Expected values are hand-computed from the rows given (reductions, table cells), or are the
files of the report merged into (byte-equal copies), never from the code under test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from numsim import studies
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
        methods=("rtn", "qep:ed"),
        datapath_methods=("rtn",),
    )
    pts = ptq.points(p)
    assert len(pts) == 2 * 2 + 1
    assert pts[-1]["datapath"] == "h100-e4m3" and pts[-1]["format"] == "INT4-channel"
    assert all(json.loads(json.dumps(x)) == x for x in pts)  # JSON-able cache keys
    for bad in (
        {"models": ("resnet",)},
        {"formats": ("MXFP5",)},
        {"methods": ("qep:nope",)},
        {"methods": ("round",)},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            ptq.points(ptq.Params(**bad))
    with pytest.raises(KeyError):
        ptq.points(ptq.Params(datapath="no-such-unit"))


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
    assert "50 to 50 % on digits-cnn" in title and "meets the 40 % target" in title  # gptq only
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
