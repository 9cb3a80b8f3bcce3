"""Every ``numsim`` subcommand fed what a hurried or hostile user types: a bad ``--out`` (a file,
under a file, empty, a folder of other files), unknown names, bad numbers (negative, not an int,
a ``--count`` too large for memory), an unreachable or malformed ``--scheduler``. Each is refused
with ONE line ``numsim <command>: ...`` on stderr and a non-zero exit, never a traceback, and any
``--option`` an error message mentions exists on that command's parser. Nothing here runs a
study, loads a model or writes vectors: every case is refused before the work starts."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from numsim import cli, cli_args
from numsim.golden import verify

ROOT = Path(__file__).parents[1]
#: An --option as error messages spell it (``--out``, ``--input-format``), not inside a word.
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def _parsers() -> dict[str, argparse.ArgumentParser]:
    """Each command's parser, by the command words before its options."""
    top = cli.build_parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    out = {f"numsim {name}": p for name, p in sub.choices.items() if name != "ptq"}
    out["numsim"] = top
    out["numsim golden verify"] = verify.build_parser()
    try:
        from numsim.ptq import cli as ptq_cli
    except ImportError:  # pragma: no cover - torch is an optional extra
        pass
    else:
        out["numsim ptq"] = ptq_cli.build_parser()
    return out


PARSERS = _parsers()


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``numsim argv`` in this process; assert a non-zero exit and one stderr line that
    starts with the command's name and suggests only options the command has. Returns it."""
    try:
        rc = cli.main(argv)
    except SystemExit as e:  # argparse exits on its own usage errors
        rc = e.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc not in (0, None), (argv, err)
    assert len(lines) == 1, (argv, err)
    words = ["numsim", *argv[:2]] if argv[:2] == ["golden", "verify"] else ["numsim", *argv[:1]]
    command = " ".join(words) if " ".join(words) in PARSERS else "numsim"
    assert lines[0].startswith(f"{command}: "), (argv, err)
    options = set(PARSERS[command]._option_string_actions)
    for opt in set(OPTION.findall(lines[0])) - set(argv):  # not an echo of what was typed
        assert opt in options, f"{lines[0]!r} suggests {opt}, which {command} does not have"
    return lines[0]


@pytest.fixture
def afile(tmp_path: Path) -> Path:
    f = tmp_path / "afile"
    f.write_text("not a folder")
    return f


def test_option_finder_sees_options() -> None:
    """The pattern finds the options a message names (or the checks above prove nothing)."""
    assert OPTION.findall("--out x: give --input-format, not a-b--c or e.g. --x-y") == [
        "--out",
        "--input-format",
        "--x-y",
    ]
    assert "--out" in PARSERS["numsim report"]._option_string_actions
    assert "--nope" not in PARSERS["numsim report"]._option_string_actions


def test_top_level(capsys: pytest.CaptureFixture[str]) -> None:
    assert "invalid choice: 'nosuchcmd'" in _refused(["nosuchcmd"], capsys)
    assert "unrecognized arguments: extra" in _refused(["formats", "extra"], capsys)
    msg = _refused(["demo", "--bogus"], capsys)
    assert msg.startswith("numsim demo: unrecognized arguments: --bogus")
    assert "No such file" in _refused(["demo", "--npy", "/nonexistent/x.npy"], capsys)


def test_report_out(tmp_path: Path, afile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["report", "--no-progress", "--quick", "--study", "formats"]
    assert "--out '': expected a folder path" in _refused([*base, "--out", ""], capsys)
    assert "is not a folder" in _refused([*base, "--out", str(afile)], capsys)
    assert "parent folder" in _refused([*base, "--out", str(afile / "rep")], capsys)
    # a folder of someone's files: the report would replace it (it was deleted before)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    assert "not a numsim report" in _refused([*base, "--out", str(mine)], capsys)
    assert (mine / "thesis.tex").read_text() == "precious"


def test_report_numbers_names_and_addresses(
    tmp_path: Path, afile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = ["--out", str(tmp_path / "rep"), "--no-progress", "--quick", "--study", "formats"]
    cpus = os.cpu_count() or 1
    for jobs in ("0", "-3", str(4 * cpus + 1), str(10**9)):
        assert f"--jobs {jobs}: expected an int in 1..{4 * cpus}" in _refused(
            ["report", "--jobs", jobs, *out], capsys
        )
    assert "invalid int value: '1.5'" in _refused(["report", "--jobs", "1.5", *out], capsys)
    assert "required: --out" in _refused(["report", "--quick"], capsys)
    assert "study 'nope'" in _refused(["report", *out, "--study", "nope"], capsys)
    assert "STUDY.NAME=VALUE" in _refused(["report", *out, "--param", "garbage"], capsys)
    assert "unknown" in _refused(["report", *out, "--param", "formats.nope=1"], capsys)
    assert "missing port" in _refused(["report", *out, "--scheduler", "garbage"], capsys)
    assert "unknown protocol 'http'" in _refused(
        ["report", *out, "--scheduler", "http://h:1"], capsys
    )
    assert "expected a folder path" in _refused(["report", *out, "--cache", str(afile)], capsys)
    assert "not a writable folder" in _refused(
        ["report", *out, "--cache", str(afile / "c")], capsys
    )
    assert not (tmp_path / "rep").exists()


def test_report_param_beyond_memory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A study size that cannot fit in memory is refused up front in one line naming the
    parameter, its value and the largest value that fits (not a MemoryError traceback, and no
    folder or cache is made)."""
    argv = ["report", "--quick", "--no-progress", "--study", "datapath"]
    argv += ["--param", "datapath.trials=99999999999999", "--cache", str(tmp_path / "c")]
    msg = _refused([*argv, "--out", str(tmp_path / "r")], capsys)
    assert "parameter datapath.trials=99999999999999: one point would hold about" in msg
    assert "expected at most" in msg and "GiB of memory here" in msg
    assert not (tmp_path / "r").exists() and not (tmp_path / "c").exists()


def test_report_unreachable_scheduler(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing listens on port 9 (discard) here: refused after the connect timeout."""
    msg = _refused(
        ["report", "--scheduler", "tcp://127.0.0.1:9", "--quick", "--out", str(tmp_path / "r")],
        capsys,
    )
    assert "cannot connect to a Dask scheduler" in msg


def test_golden(tmp_path: Path, afile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = ["--out", str(tmp_path / "g")]
    huge = 10**15
    msg = _refused(["golden", "mx_dot", "--count", str(huge), *out], capsys)
    limit = cli.count_limit("mx_dot")
    assert f"--count={huge}: at most {limit:,d} for mx_dot" in msg
    # the limit is what half the memory holds, at the bytes per case the table gives
    assert limit * cli.GOLDEN_CASE_BYTES["mx_dot"] <= cli_args.memory_bytes() // 2
    # 'all' is refused by its first unit with a limit below the count
    assert "at most" in _refused(["golden", "all", "--count", str(huge), *out], capsys)
    assert "expected an int >= 0" in _refused(["golden", "mx_dot", "--count", "-1", *out], capsys)
    assert "invalid int value: '1e5'" in _refused(
        ["golden", "mx_dot", "--count", "1e5", *out], capsys
    )
    assert "--seed=-1" in _refused(["golden", "mx_dot", "--seed", "-1", *out], capsys)
    assert "--seed=4294967296" in _refused(["golden", "mx_dot", "--seed", str(2**32), *out], capsys)
    assert "invalid choice: 3" in _refused(["golden", "mx_dot", "--level", "3", *out], capsys)
    assert "unknown unit 'nosuch'" in _refused(["golden", "nosuch", *out], capsys)
    assert "format 'nosuch'" in _refused(["golden", "mx_dot", "--format", "nosuch", *out], capsys)
    assert "--out=''" in _refused(["golden", "mx_dot", "--out", ""], capsys)
    assert "expected a directory" in _refused(["golden", "mx_dot", "--out", str(afile)], capsys)
    assert "required: --out" in _refused(["golden", "mx_dot"], capsys)
    assert not (tmp_path / "g").exists()


def test_golden_verify(tmp_path: Path, afile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "not a directory" in _refused(["golden", "verify", str(afile)], capsys)
    assert "--limit=0" in _refused(["golden", "verify", str(tmp_path), "--limit", "0"], capsys)
    assert "required: dir" in _refused(["golden", "verify"], capsys)
    assert "unrecognized arguments: --bogus" in _refused(
        ["golden", "verify", str(tmp_path), "--bogus"], capsys
    )


def test_ptq(tmp_path: Path, afile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Refused before any model is loaded or quantized (a registered model takes minutes)."""
    pytest.importorskip("torch")
    out = str(tmp_path / "p")
    ok = ["ptq", "--model", "digits-cnn", "--format", "mxfp4_e2m1"]
    cases = {
        "--out '': expected a directory path": [*ok, "--out", ""],
        "exists and is not a directory": [*ok, "--out", str(afile)],
        "cannot create it": [*ok, "--out", str(afile / "x")],
        "--format nosuch: unknown format 'nosuch'": [*ok, "--format", "nosuch", "--out", out],
        "--input-format nosuch": [*ok, "--input-format", "nosuch", "--out", out],
        "--method nosuch: expected one of": [*ok, "--method", "nosuch", "--out", out],
        "--datapath nosuch": [*ok, "--datapath", "nosuch", "--out", out],
        "--calibration -5: expected a positive int": [*ok, "--calibration", "-5", "--out", out],
        "--calibration 0": [*ok, "--calibration", "0", "--out", out],
        "invalid int value: '1.5'": [*ok, "--calibration", "1.5", "--out", out],
        "--seed -1: expected an int >= 0": [*ok, "--seed", "-1", "--out", out],
        "required: --model": ["ptq", "--format", "int8", "--out", out],
        "not a registered model": ["ptq", "--model", "nosuch", "--format", "int8", "--out", out],
    }
    for expected, argv in cases.items():
        msg = _refused(argv, capsys)
        assert expected in msg, (argv, msg)
        assert not msg.startswith('numsim ptq: "'), msg  # a KeyError's quotes are not shown
    empty, junk = tmp_path / "empty.pt", tmp_path / "junk.pt"
    empty.write_bytes(b"")
    junk.write_text("garbage\n")
    for f in (empty, junk):
        msg = _refused(["ptq", "--model", str(f), "--format", "int8", "--out", out], capsys)
        assert "not a readable torch.save file" in msg


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    return subprocess.run(
        [sys.executable, "-m", "numsim", *argv],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_python_m_numsim_and_clean_exit(tmp_path: Path) -> None:
    """``python -m numsim`` is the command; a malformed scheduler address leaves no traceback
    at interpreter exit (a half-built dask client used to print one from its destructor)."""
    r = _run("--help")
    assert r.returncode == 0 and "report" in r.stdout, r.stderr
    r = _run("report", "--quick", "--scheduler", "garbage", "--out", str(tmp_path / "r"))
    assert r.returncode == 2
    want = (
        "numsim report: --scheduler garbage: missing port number in address 'garbage'; expected "
        "a Dask scheduler address such as tcp://host:8786"
    )
    assert r.stderr.strip().splitlines() == [want]
