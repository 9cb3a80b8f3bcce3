"""``numsim golden verify``: a good set passes; a corrupted file, an edited header line and an
edited expected value (checksums recomputed, so only the recomputation can see it) are refused.

The set holds one small parameter set per unit (few random cases), so that every recomputation
path runs: codecs, MX encoder, MX dot, FP32 accumulator and MAC chains.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from numsim import golden
from numsim.cli import main as cli_main
from numsim.golden.verify import verify_set

SETS = [
    ("elem_decoder", "fp4_e2m1"),
    ("elem_encoder", "fp8_e4m3-nonsat"),
    ("mx_encoder", "mxfp4_e2m1"),
    ("mx_dot", "mxfp4_e2m1-exact-rne"),
    ("fp32_acc", "fp32-rz"),
    ("int_mac", "int8-acc16"),
]


@pytest.fixture(scope="module")
def good_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("golden")
    golden.write_sets(root, [golden.unit(u).set(s) for u, s in SETS], level=1, seed=3, count=2)
    return root


@pytest.fixture
def copy(good_set: Path, tmp_path: Path) -> Path:
    out = tmp_path / "set"
    shutil.copytree(good_set, out)
    return out


def _rewrite(root: Path, key: str, raw: bytes, fix_checksums: bool) -> None:
    """Write ``raw`` as file ``key``; with ``fix_checksums``, recompute its file_sha256 and its
    manifest entry so that only the content checks can refuse it."""
    path = root / key
    if fix_checksums:
        raw = _fix_file_sha(raw)
    path.write_bytes(raw)
    if fix_checksums:
        man = golden.Manifest.load(root)
        old = man.files[key]
        man.files[key] = golden.FileEntry(
            hashlib.sha256(raw).hexdigest(), len(raw), old.count, old.unit, old.set
        )
        man.save()


def _fix_file_sha(raw: bytes) -> bytes:
    """``raw`` with its file_sha256 line recomputed over the rest of the file (layout version 2:
    every byte but that line)."""
    head, sep, body = raw.partition(b"# file_sha256: ")
    body = body.split(b"\n", 1)[1]
    return head + sep + hashlib.sha256(head + body).hexdigest().encode() + b"\n" + body


def _row_start(raw: bytes, row: int) -> int:
    """Byte offset of body row ``row`` (0-based)."""
    pos = 0
    while raw.startswith(b"#", pos):
        pos = raw.index(b"\n", pos) + 1
    width = raw.index(b"\n", pos) + 1 - pos
    return pos + row * width


def test_good_set_passes(good_set: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = verify_set(good_set)
    assert res.ok, res.text()
    assert [f.key for f in res.files] == sorted(f"{u}/{s}.hex" for u, s in SETS)
    assert all(f.rows > 0 for f in res.files)
    assert cli_main(["golden", "verify", str(good_set)]) == 0
    assert "all match" in capsys.readouterr().out


def test_corrupted_file_refused_by_checksum(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = "elem_encoder/fp8_e4m3-nonsat.hex"
    raw = bytearray((copy / key).read_bytes())
    at = _row_start(bytes(raw), 10)
    raw[at] = ord("0") if raw[at] != ord("0") else ord("1")
    _rewrite(copy, key, bytes(raw), fix_checksums=False)
    res = verify_set(copy)
    bad = [f for f in res.files if not f.ok]
    assert [f.key for f in bad] == [key]
    assert "differs from the manifest" in (bad[0].problem or "")
    assert cli_main(["golden", "verify", str(copy)]) == 1
    assert f"FAIL {key}: sha256" in capsys.readouterr().out


def test_missing_and_unlisted_files_refused(copy: Path) -> None:
    (copy / "mx_encoder/mxfp4_e2m1.hex").rename(copy / "mx_encoder/other.hex")
    res = verify_set(copy)
    assert not res.ok
    assert res.problems == ["mx_encoder/other.hex: a vector file not listed in manifest.json"]
    (bad,) = [f for f in res.files if not f.ok]
    assert bad.key == "mx_encoder/mxfp4_e2m1.hex" and "missing" in (bad.problem or "")


def test_edited_header_line_refused(copy: Path) -> None:
    key = "elem_encoder/fp8_e4m3-nonsat.hex"
    raw = (copy / key).read_bytes()
    assert b"# rounding: nearest_even\n" in raw
    _rewrite(
        copy,
        key,
        raw.replace(b"# rounding: nearest_even\n", b"# rounding: toward_zero\n"),
        fix_checksums=True,
    )
    (bad,) = [f for f in verify_set(copy).files if not f.ok]
    assert bad.key == key
    assert bad.problem == (
        "header mismatch: rounding is 'toward_zero', numsim's elem_encoder set "
        "fp8_e4m3-nonsat has 'nearest_even'"
    )


def test_edited_expected_value_refused_by_recomputation(copy: Path) -> None:
    """Row 0 of the encoder file is float16 0x0000 = +0.0: the spec's code is 0x00. The file is
    edited to say 0x38 (1.0 in E4M3: exponent field 7 = bias, fraction 0) and every checksum is
    recomputed, so only the recomputation can refuse it."""
    key = "elem_encoder/fp8_e4m3-nonsat.hex"
    raw = (copy / key).read_bytes()
    at = _row_start(raw, 0)
    assert raw[at : at + 12] == b"00000000 00\n"
    _rewrite(copy, key, raw[:at] + b"00000000 38\n" + raw[at + 12 :], fix_checksums=True)
    (bad,) = [f for f in verify_set(copy).files if not f.ok]
    assert bad.key == key and bad.problem is None and bad.bad_rows == 1
    line = raw[:at].count(b"\n") + 1
    assert bad.details == [
        f"line {line}, code: expected 0x00 (0.0), found 0x38 (1.0); inputs: fp32 0x00000000 (0.0)"
    ]


@pytest.mark.parametrize(
    "key,section,column",
    [
        ("int_mac/int8-acc16.hex", "chains", "sticky"),
        ("mx_dot/mxfp4_e2m1-exact-rne.hex", "pairs", "d"),
        ("mx_encoder/mxfp4_e2m1.hex", "zero", "codes"),
    ],
)
def test_edited_output_of_each_kind_refused(
    copy: Path, key: str, section: str, column: str
) -> None:
    """A MAC chain's sticky flag (a row inside a chain starts from the row above), an MX dot
    result and an MX encoder element code flipped in their lowest bit, checksums recomputed:
    reported at that row and column (and lane)."""
    vf = golden.read(copy / key)
    r = vf.sections()[section].start + 5
    flat = vf.data[column].reshape(vf.count, -1)
    flat[r, 0] ^= 1
    golden.write(vf, copy / key)
    _rewrite(copy, key, (copy / key).read_bytes(), fix_checksums=True)
    (bad,) = [f for f in verify_set(copy).files if not f.ok]
    assert bad.key == key and bad.problem is None and bad.bad_rows >= 1
    where = column if flat.shape[1] == 1 else f"{column}[0]"
    assert bad.details[0].startswith(f"line {6 + len(vf.header) + r}, {where}: expected ")


def test_cli_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["golden", "verify", str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert cli_main(["golden", "verify", str(tmp_path)]) == 1
    assert "no manifest" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# Hostile input: lone files, malformed manifests, signals during a write
# ---------------------------------------------------------------------------------------------
def test_lone_file_checksum_covers_its_header(tmp_path: Path) -> None:
    """An edited policy line is refused by the file's own checksum, with no manifest at hand."""
    path = tmp_path / "enc.hex"
    golden.write(golden.generate("elem_encoder", "fp4_e2m1", count=3), path)
    raw = path.read_bytes()
    assert b"# overflow: saturate\n" in raw
    path.write_bytes(raw.replace(b"# overflow: saturate\n", b"# overflow: nonsaturate\n"))
    with pytest.raises(golden.GoldenError, match="file checksum mismatch"):
        golden.read(path)
    path.write_bytes(raw)
    assert golden.read(path).header["overflow"] == "saturate"


def _as_version_1(raw: bytes) -> bytes:
    """A version 2 file rewritten in the version 1 layout (body_sha256 over the rows only)."""
    head, _, rest = raw.partition(b"# file_sha256: ")
    body = rest.split(b"\n", 1)[1]
    head = head.replace(b"# version: 2\n", b"# version: 1\n")
    return head + b"# body_sha256: " + hashlib.sha256(body).hexdigest().encode() + b"\n" + body


def test_version_1_files_read_with_their_manifest_only(tmp_path: Path) -> None:
    path = tmp_path / "elem_encoder" / "fp4_e2m1.hex"
    golden.write(golden.generate("elem_encoder", "fp4_e2m1", count=3), path)
    old = _as_version_1(path.read_bytes())
    path.write_bytes(old)
    man = golden.Manifest(tmp_path, "numsim 0.1.0")
    man.add(path, golden.FileEntry(hashlib.sha256(old).hexdigest(), len(old), 0, "", ""))
    man.save()
    assert golden.read(path, manifest=tmp_path).header["overflow"] == "saturate"
    with pytest.raises(golden.GoldenError, match="version '1' checksums its rows only"):
        golden.read(path)
    # the manifest's whole-file sha256 is what protects the header of an old file
    path.write_bytes(old.replace(b"# overflow: saturate\n", b"# overflow: nonsaturate\n"))
    with pytest.raises(golden.GoldenError, match="bytes, the manifest says|differs from the"):
        golden.read(path, manifest=tmp_path)


_ENTRY = {"sha256": "0" * 64, "bytes": 1, "count": 1, "unit": "int_mac", "set": "int8-acc16"}


@pytest.mark.parametrize(
    "text,msg",
    [
        ("{not json", "malformed manifest"),
        ("[]", "expected an object with a 'files' object, got list"),
        ('{"files": []}', "expected an object with a 'files' object"),
        ('{"generator": "x"}', "expected an object with a 'files' object"),
        ('{"files": {}, "generator": 3}', "generator is 3"),
        ('{"files": {}, "extra": 1}', "unknown keys"),
        ('{"files": {"a.hex": 5}}', "is int: expected an object"),
        ('{"files": {"a.hex": {"sha256": "00"}}}', "has keys"),
        ({**_ENTRY, "bytes": "1"}, "bytes is '1': expected int"),
        ({**_ENTRY, "count": True}, "count is True: expected int"),
        ({**_ENTRY, "count": -1}, "must be >= 0"),
        ({**_ENTRY, "unit": None}, "unit is None: expected str"),
        ({**_ENTRY, "sha256": "Z" * 64}, "64 lowercase hex digits"),
        ({**_ENTRY, "extra": 1}, "has keys"),
        ("../outside.hex", "leaves the set's directory"),
        ("/etc/outside.hex", "expected a relative path"),
        ("a/./b.hex", "leaves the set's directory"),
    ],
)
def test_malformed_manifest_is_a_golden_error(tmp_path: Path, text: object, msg: str) -> None:
    """Every malformed manifest is a GoldenError (and a set problem for `verify`), never a
    KeyError, TypeError or AttributeError."""
    if isinstance(text, dict):  # a bad entry
        text = json.dumps({"files": {"a.hex": text}})
    elif text.endswith(".hex"):  # type: ignore[union-attr]
        text = json.dumps({"files": {text: _ENTRY}})
    (tmp_path / "manifest.json").write_text(str(text))
    with pytest.raises(golden.GoldenError, match=re.escape(msg) if "|" not in msg else msg):
        golden.Manifest.load(tmp_path)
    res = verify_set(tmp_path)
    assert not res.ok and len(res.problems) == 1 and "malformed manifest" in res.problems[0]


def test_manifest_not_utf8_is_a_golden_error(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_bytes(b'{"files": {"\xff.hex": 1}}')
    with pytest.raises(golden.GoldenError, match="malformed manifest"):
        golden.Manifest.load(tmp_path)


def test_manifest_naming_an_unknown_unit_or_set_is_refused(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(
        json.dumps({"files": {"a.hex": {**_ENTRY, "unit": "no_such_unit"}}})
    )
    (bad,) = verify_set(tmp_path).files
    assert bad.problem is not None and "unknown unit or set" in bad.problem


_SLOW_WRITE = """
import os, signal, sys, time
from pathlib import Path
signal.signal(signal.SIGINT, signal.default_int_handler)  # as interactive (not inherited SIG_IGN)
for name in ("SIGTERM", "SIGHUP"):  # default, also when the test runs under nohup (SIGHUP ignored)
    if hasattr(signal, name):
        signal.signal(getattr(signal, name), signal.SIG_DFL)
from numsim.golden.vectors import atomic_write
real = os.replace
def slow(a, b):
    print("between", flush=True)
    time.sleep(60)
    real(a, b)
os.replace = slow
atomic_write(Path(sys.argv[1]), b"x" * 100000)
"""


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_signal_between_write_and_rename_leaves_nothing(tmp_path: Path, signame: str) -> None:
    """A real process is signalled after its temporary file is complete and before the rename:
    no temporary file is left behind, the target is not created, and the process still dies of
    the signal (SIGINT: through KeyboardInterrupt)."""
    if not hasattr(signal, signame):
        pytest.skip(f"{signame} does not exist on this platform")
    sig = getattr(signal, signame)
    target = tmp_path / "out" / "v.hex"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITE, str(target)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "between\n"
    (tmp,) = target.parent.iterdir()
    assert tmp.name.endswith(".tmp")  # the window is real: the temporary file is complete
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert list(target.parent.iterdir()) == []
    assert proc.returncode == -sig, err  # Python exits an unhandled KeyboardInterrupt by SIGINT
    if sig == signal.SIGINT:
        assert "KeyboardInterrupt" in err
