"""The README's main job (``numsim formats`` and ``numsim demo``) runs on the embedded tensor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from numsim import cli


def test_formats_table_lists_every_format() -> None:
    out = cli.formats_table()
    for name in ("fp8_e4m3", "mxfp4_e2m1", "nvfp4", "mx6"):
        assert name in out


def test_demo_tables_on_the_embedded_tensor() -> None:
    w = cli.load_demo_tensor()
    assert w.dtype == np.float32 and w.ndim == 2
    out = cli.demo_table(w)
    assert "fp8_e4m3" in out and "nvfp4" in out
    rows = {}
    for line in cli.datapath_table(w[:64], batch=16).splitlines()[2:]:
        f = line.split()
        rows[(f[0], f[1])] = (f[3], float(f[4]))
    # FP8 operands: exact units are exact up to the one FP32 rounding; 13-bit truncation is not
    assert rows[("ocp-mx-exact", "fp8_e4m3")][1] < 1e-7
    assert rows[("h100-e4m3", "fp8_e4m3")][1] > 1e-5
    assert rows[("mi210-fp16", "fp16")][0] == "tree"
    assert len(rows) == len(cli._DEMO_UNITS)


# ---------------------------------------------------------------------------------------------
# user errors: one line on stderr, a non-zero exit, never a traceback
# ---------------------------------------------------------------------------------------------
def _one_line_error(
    capsys: pytest.CaptureFixture[str], argv: list[str], prefix: str, want: str, rc: int = 2
) -> None:
    assert cli.main(argv) == rc
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith(prefix), err
    assert want in err, err


@pytest.mark.parametrize(
    "content,want",
    [
        (None, "No such file"),
        (b"", "not a readable .npy array"),
        (b"not an array at all", "not a readable .npy array"),
        (np.array([1.0, np.nan], np.float32), "NaN or Inf"),
        (np.array([1.0, np.inf]), "NaN or Inf"),
        (np.array([1, 2, 3]), "expected a non-empty float array, got int64"),
        (np.zeros((0, 4), np.float32), "of shape (0, 4)"),
        (np.float32(3.0), "of shape ()"),
        (np.array(["a", "b"]), "got <U1"),
        (np.array([{"a": 1}], dtype=object), "not a readable .npy array"),
    ],
)
def test_demo_bad_npy_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: object, want: str
) -> None:
    path = tmp_path / "x.npy"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        np.save(path, content, allow_pickle=True)
    _one_line_error(capsys, ["demo", "--npy", str(path)], "numsim demo: --npy=", want)


def test_golden_bad_out_and_count_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "f"
    a_file.write_text("x")
    base = ["golden", "elem_decoder", "--format", "fp4_e2m1"]
    _one_line_error(capsys, [*base, "--out", str(a_file)], "numsim golden: --out=", "directory")
    _one_line_error(capsys, [*base, "--out", ""], "numsim golden: --out=''", "directory")
    _one_line_error(
        capsys, [*base, "--out", str(a_file / "sub")], "numsim golden: --out=", "Not a dir", rc=1
    )
    _one_line_error(
        capsys,
        [*base, "--count", "-1", "--out", str(tmp_path)],
        "numsim golden: --count=-1",
        ">= 0",
    )


def test_golden_out_on_a_read_only_file_system_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """/proc is read-only for everyone (root included) on Linux."""
    if not Path("/proc/self").is_dir():
        pytest.skip("no /proc on this platform")
    assert cli.main(["golden", "elem_decoder", "--format", "fp4_e2m1", "--out", "/proc/x/y"]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("numsim golden: --out=")
    assert err.count("\n") == 1
