"""``numsim golden verify``: a good set passes; a corrupted file, an edited header line and an
edited expected value (checksums recomputed, so only the recomputation can see it) are refused.

The set holds one small parameter set per unit (few random cases), so that every recomputation
path runs: codecs, MX encoder, MX dot, FP32 accumulator and MAC chains.
"""

from __future__ import annotations

import hashlib
import shutil
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
    """Write ``raw`` as file ``key``; with ``fix_checksums``, recompute its body_sha256 and its
    manifest entry so that only the content checks can refuse it."""
    path = root / key
    if fix_checksums:
        head, sep, body = raw.partition(b"# body_sha256: ")
        body = body.split(b"\n", 1)[1]
        raw = head + sep + hashlib.sha256(body).hexdigest().encode() + b"\n" + body
    path.write_bytes(raw)
    if fix_checksums:
        man = golden.Manifest.load(root)
        old = man.files[key]
        man.files[key] = golden.FileEntry(
            hashlib.sha256(raw).hexdigest(), len(raw), old.count, old.unit, old.set
        )
        man.save()


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
