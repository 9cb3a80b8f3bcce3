"""Golden vector generation, files and readers (no simulator needed).

* Determinism: the session's default set equals the manifest pinned in ``golden/manifest.json``
  (same arguments, same sha256, on any machine), and a second generation gives the same bytes.
* Expected values: numsim's, cross-checked here on samples against the exact reference.
* Readers refuse corrupted, truncated, mismatched or unlisted files; the CLI refuses unknown
  units and formats.
"""

from __future__ import annotations

import hashlib
import math
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from numsim import cli, golden
from numsim import reference as ref
from numsim.golden import GoldenError, Manifest
from numsim.golden.vectors import MANIFEST
from numsim.policies import NanPolicy, Overflow, RoundMode, ScaleRule

ROOT = Path(__file__).resolve().parent.parent
PINNED = ROOT / "golden" / MANIFEST


def test_default_set_matches_pinned_manifest(golden_set: Manifest) -> None:
    """`numsim golden all` output is pinned: regenerate the pin (README) only on purpose."""
    pinned = Manifest.load(PINNED)
    assert golden_set.generator == pinned.generator
    assert sorted(golden_set.files) == sorted(pinned.files)
    changed = [k for k in pinned.files if golden_set.files[k] != pinned.files[k]]
    assert not changed, f"golden vectors differ from golden/manifest.json: {changed}"


def test_mx_dot_default_set_holds_a_million_blocks(golden_set: Manifest) -> None:
    """The MX dot files of the default set, all streamed on Verilator, hold at least 1M blocks."""
    blocks = sum(e.count for k, e in golden_set.files.items() if k.startswith("mx_dot/"))
    assert blocks >= 1_000_000, blocks


def test_same_arguments_same_bytes(tmp_path: Path) -> None:
    sets = golden.select("elem_encoder", "fp6_e3m2")
    a = golden.write_sets(tmp_path / "a", sets, seed=7, count=5000)
    b = golden.write_sets(tmp_path / "b", sets, seed=7, count=5000)
    c = golden.write_sets(tmp_path / "c", sets, seed=8, count=5000)
    assert a.to_json() == b.to_json()
    key = sets[0].filename
    assert a.files[key].sha256 != c.files[key].sha256  # the seed changes the random section only
    assert (tmp_path / "a" / key).read_bytes() == (tmp_path / "b" / key).read_bytes()


def test_round_trip(tmp_path: Path) -> None:
    vf = golden.generate("elem_encoder", "fp8_e5m2-nonsat", count=1000)
    entry = golden.write(vf, tmp_path / "v.hex")
    back = golden.read(
        tmp_path / "v.hex", expect={"unit": "elem_encoder", "set": "fp8_e5m2-nonsat"}
    )
    assert back.header == vf.header and back.columns == vf.columns and entry.count == vf.count
    for c in vf.columns:
        np.testing.assert_array_equal(back.data[c.name], vf.data[c.name])
    assert hashlib.sha256((tmp_path / "v.hex").read_bytes()).hexdigest() == entry.sha256
    assert list(back.sections()) == ["exhaustive_fp16", "exhaustive_bf16", "catalog", "random"]
    assert sum(len(r) for r in back.sections().values()) == back.count


@pytest.mark.parametrize(
    "ps", [s for u in golden.UNITS.values() for s in u.sets], ids=lambda s: f"{s.unit}-{s.name}"
)
def test_expected_values_match_reference(ps: golden.ParamSet, golden_set: Manifest) -> None:
    """Golden values come from numsim.encode/decode; check them against the exact reference on
    every decoder row and on 400 encoder rows per section (of the session's default set, the
    files the simulators stream)."""
    vf = golden.read(golden_set.root / ps.filename, manifest=golden_set)
    fmt = ps.element
    if ps.unit == "elem_decoder":
        for code, bits in zip(vf.data["code"].tolist(), vf.data["fp32"].tolist()):
            want = ref.decode(fmt, code)
            got = float(np.uint32(bits).view(np.float32))
            if isinstance(want, float) and math.isnan(want):
                assert bits == 0x7FC00000, (ps.name, code)
            else:
                assert got == want, (ps.name, code, got, want)
                negative_zero = bool(code & getattr(fmt, "sign_mask", 0))
                assert got != 0 or math.copysign(1, got) == (-1 if negative_zero else 1), (
                    ps.name,
                    code,
                )
        return
    if ps.unit == "mx_encoder":
        _check_blocks_against_reference(ps, vf)
        return
    if ps.unit in ("mx_dot", "fp32_acc", "int_mac"):
        _check_datapath_against_reference(ps, vf)
        return
    rows = np.concatenate([np.asarray(r)[:: max(1, len(r) // 400)] for r in vf.sections().values()])
    for r in rows.tolist():
        bits = int(vf.data["fp32"][r])
        x = float(np.uint32(bits).view(np.float32))
        neg = bool(bits >> 31)
        want = ref.encode(
            fmt,
            x,
            negative_zero=neg,
            nan_negative=neg,
            rounding=RoundMode.nearest_even,
            overflow=ps.overflow,
            nan=NanPolicy.zero,
        )
        assert int(vf.data["code"][r]) == want, (ps.name, hex(bits))


def _check_blocks_against_reference(ps: golden.ParamSet, vf: golden.VectorFile) -> None:
    """40 blocks per section against numsim.reference.quantize_block (floor rule, OCP policies).
    The reference reads zeros as +0, so a -0 element is checked for the signed-zero code."""
    zero_neg = getattr(ps.element, "sign_mask", 0)
    rows = np.concatenate([np.asarray(r)[:: max(1, len(r) // 40)] for r in vf.sections().values()])
    for r in rows.tolist():
        bits = vf.data["x"][r].astype(np.uint32)
        with np.errstate(invalid="ignore"):  # signalling NaNs
            xs = bits.view(np.float32).astype(np.float64).tolist()
        vals = [x if (math.isnan(x) or math.isinf(x)) else Fraction(x) for x in xs]
        scale, codes, _ = ref.quantize_block(
            ps.block, vals, overflow=Overflow.saturate, scale_rule=ScaleRule.floor
        )
        assert int(vf.data["scale"][r]) == scale, (ps.name, r)
        got = vf.data["codes"][r].tolist()
        for lane, (b, want) in enumerate(zip(bits.tolist(), codes)):
            if b == 0x80000000 and scale != 0xFF:
                want = zero_neg
            assert got[lane] == want, (ps.name, r, lane, hex(b))


def _fp32_fraction(bits: int) -> float | Fraction:
    with np.errstate(invalid="ignore"):  # signalling NaNs
        x = float(np.uint32(bits).view(np.float32))
    return x if (math.isnan(x) or math.isinf(x)) else Fraction(x)


def _check_datapath_against_reference(ps: golden.ParamSet, vf: golden.VectorFile) -> None:
    """Rows of every section against numsim.reference.dot.dot_result on the set's DotUnit (the
    exact Fraction model; MX scales passed as per-element scale values). mx_dot: 30 rows per
    section; fp32_acc / int_mac: 200 rows per section, each from the register value the row
    starts from (c for an init row, else the previous row's expected value)."""
    from numsim.reference import codec as ref_codec
    from numsim.reference import dot as ref_dot

    unit = ps.dot
    assert unit is not None
    step = 30 if ps.unit == "mx_dot" else 200
    rows = np.concatenate(
        [np.asarray(r)[:: max(1, len(r) // step)] for r in vf.sections().values()]
    )
    for r in rows.tolist():
        if ps.unit == "mx_dot":
            assert ps.block is not None
            el, sc = ps.block.element, ps.block.scale
            av = [ref_codec.decode(el, int(x)) for x in vf.data["a"][r]]
            bv = [ref_codec.decode(el, int(x)) for x in vf.data["b"][r]]
            sa = [ref_codec.decode(sc, int(vf.data["a_scale"][r]))] * len(av)
            sb = [ref_codec.decode(sc, int(vf.data["b_scale"][r]))] * len(bv)
            code, _ = ref_dot.dot_result(
                unit, av, bv, _fp32_fraction(int(vf.data["c"][r])), sa, sb, sc.emin
            )
            out = ref_dot.result_format(unit)
            want = np.float32(float(ref_codec.decode(out, code)))
            if want == 0 and code >> (
                out.total_bits - 1
            ):  # the reference decodes -0 as Fraction(0)
                want = np.float32(-0.0)
            got = np.uint32(vf.data["d"][r]).view(np.float32)
            assert (
                np.isnan(got) and np.isnan(want) and int(vf.data["d"][r]) == 0x7FC00000
            ) or np.float32(got).tobytes() == want.tobytes(), (ps.name, r, got, want)
            continue
        start = int(vf.data["c"][r]) if int(vf.data["init"][r]) else int(vf.data["acc"][r - 1])
        if ps.unit == "fp32_acc":
            code, _ = ref_dot.dot_result(
                unit, [_fp32_fraction(int(vf.data["d"][r]))], [Fraction(1)], _fp32_fraction(start)
            )
            want = np.float32(float(ref_codec.decode(ref_dot.result_format(unit), code)))
            got = np.uint32(vf.data["acc"][r]).view(np.float32)
            assert (np.isnan(got) and np.isnan(want)) or np.float32(
                got
            ).tobytes() == want.tobytes(), (ps.name, r)
            continue
        P = unit.accumulator.bits

        def signed(v: int, bits: int) -> int:
            return v - (1 << bits) if v >> (bits - 1) else v

        a, b = signed(int(vf.data["a"][r]), 8), signed(int(vf.data["b"][r]), 8)
        value, over = ref_dot.dot_result(
            unit, [Fraction(a)], [Fraction(b)], Fraction(signed(start, P))
        )
        assert (signed(int(vf.data["acc"][r]), P), int(vf.data["ovf"][r])) == (value, over), (
            ps.name,
            r,
        )
        if int(vf.data["init"][r]):
            assert int(vf.data["sticky"][r]) == over, (ps.name, r)
        else:
            assert int(vf.data["sticky"][r]) == (int(vf.data["sticky"][r - 1]) | over), (ps.name, r)


# ---------------------------------------------------------------------------------------------
# Readers refuse bad files
# ---------------------------------------------------------------------------------------------
@pytest.fixture()
def vec_dir(tmp_path: Path) -> Path:
    golden.write_sets(tmp_path, golden.select("elem_decoder", "fp8_e4m3"))
    return tmp_path


def _path(d: Path) -> Path:
    return d / "elem_decoder" / "fp8_e4m3.hex"


def test_reader_accepts_good_file(vec_dir: Path) -> None:
    vf = golden.read(
        _path(vec_dir), expect={"unit": "elem_decoder", "format": "fp8_e4m3"}, manifest=vec_dir
    )
    assert vf.count == 256


def test_corrupted_file_refused(vec_dir: Path) -> None:
    raw = bytearray(_path(vec_dir).read_bytes())
    raw[-5] = (
        ord("0") if raw[-5] != ord("0") else ord("1")
    )  # one hex digit of the last expected value
    _path(vec_dir).write_bytes(bytes(raw))
    with pytest.raises(GoldenError, match="sha256 .* differs from the manifest"):
        golden.read(_path(vec_dir), manifest=vec_dir)
    with pytest.raises(GoldenError, match="file checksum mismatch"):
        golden.read(_path(vec_dir))


def test_truncated_file_refused(vec_dir: Path) -> None:
    raw = _path(vec_dir).read_bytes()
    for cut in (len(raw) - 4, len(raw) - 11 * 10):  # inside a row; at a row boundary
        _path(vec_dir).write_bytes(raw[:cut])
        with pytest.raises(GoldenError, match="truncated"):
            golden.read(_path(vec_dir), manifest=vec_dir)
        with pytest.raises(GoldenError, match="file checksum mismatch"):
            golden.read(_path(vec_dir))


def test_malformed_rows_refused_even_with_matching_checksums(tmp_path: Path) -> None:
    """A file whose checksums were recomputed over a bad row is still refused by its layout."""
    vf = golden.generate("elem_decoder", "fp4_e2m1")
    text = vf.to_bytes().decode()
    head, body = text[: text.index("\n0 ")], text[text.index("\n0 ") + 1 :]
    for bad_body, msg in [
        (body.replace("3f000000", "3f00000g", 1), "not a lowercase hex digit"),
        (body.replace("1 3f000000", "1\t3f000000", 1), "misplaced separator"),
        (body[:-9], "whole number of"),
    ]:
        h = "\n".join(head.split("\n")[:-1]) + "\n"  # without its file_sha256 line
        digest = hashlib.sha256((h + bad_body).encode()).hexdigest()
        (tmp_path / "bad.hex").write_text(f"{h}# file_sha256: {digest}\n{bad_body}")
        with pytest.raises(GoldenError, match=msg):
            golden.read(tmp_path / "bad.hex")


def test_header_mismatch_refused(vec_dir: Path) -> None:
    with pytest.raises(
        GoldenError, match="header mismatch: format is 'fp8_e4m3', expected 'fp8_e5m2'"
    ):
        golden.read(_path(vec_dir), expect={"format": "fp8_e5m2"})
    other = golden.unit("elem_decoder").set("fp8_e5m2").rtl_line()
    with pytest.raises(GoldenError, match="header mismatch: rtl"):
        golden.read(_path(vec_dir), expect={"rtl": other})


def test_replaced_or_unlisted_file_refused(vec_dir: Path) -> None:
    shutil.copy(_path(vec_dir), vec_dir / "elem_decoder" / "copy.hex")
    with pytest.raises(GoldenError, match="not listed"):
        golden.read(vec_dir / "elem_decoder" / "copy.hex", manifest=vec_dir)
    golden.write(
        golden.generate("elem_decoder", "fp8_e5m2"), _path(vec_dir)
    )  # valid file, other content
    with pytest.raises(GoldenError, match="manifest"):
        golden.read(_path(vec_dir), manifest=vec_dir)


def test_not_a_vector_file_and_bad_version(tmp_path: Path) -> None:
    (tmp_path / "x.hex").write_text("3f800000 38\n")
    with pytest.raises(GoldenError, match="not a numsim golden vector file"):
        golden.read(tmp_path / "x.hex")
    text = (
        golden.generate("elem_decoder", "fp4_e2m1")
        .to_bytes()
        .decode()
        .replace("# version: 2", "# version: 9")
    )
    (tmp_path / "y.hex").write_text(text)
    with pytest.raises(GoldenError, match="file version '9'"):
        golden.read(tmp_path / "y.hex")
    with pytest.raises(GoldenError, match="no manifest"):
        Manifest.load(tmp_path)


def test_interrupted_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vf = golden.generate("elem_decoder", "fp4_e2m1")

    def boom(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(KeyboardInterrupt):
        golden.write(vf, tmp_path / "v.hex")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# API and CLI arguments
# ---------------------------------------------------------------------------------------------
def test_unknown_unit_set_and_bad_arguments() -> None:
    with pytest.raises(
        KeyError, match="unknown unit 'mx_fma'; known units: elem_decoder, elem_encoder"
    ):
        golden.generate("mx_fma", "fp8_e4m3")
    with pytest.raises(KeyError, match="no parameter set 'fp8_e4m3-sat'"):
        golden.generate("elem_encoder", "fp8_e4m3-sat")
    with pytest.raises(ValueError, match="level=3"):
        golden.generate("elem_encoder", "fp8_e4m3", level=3)
    with pytest.raises(ValueError, match="seed=-1"):
        golden.generate("elem_encoder", "fp8_e4m3", seed=-1)


def test_cli_writes_set_and_refuses_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        cli.main(
            [
                "golden",
                "elem_encoder",
                "--format",
                "e4m3fn",
                "--count",
                "100",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "elem_encoder/fp8_e4m3.hex" in out and "elem_encoder/fp8_e4m3-nonsat.hex" in out
    man = Manifest.load(tmp_path)
    assert sorted(man.files) == ["elem_encoder/fp8_e4m3-nonsat.hex", "elem_encoder/fp8_e4m3.hex"]
    for key in man.files:
        golden.read(tmp_path / key, manifest=man)
    assert cli.main(["golden", "nosuchunit", "--out", str(tmp_path)]) == 2
    assert "unknown unit 'nosuchunit'" in capsys.readouterr().err
    assert cli.main(["golden", "elem_decoder", "--format", "fp32", "--out", str(tmp_path)]) == 2
    assert "matches no parameter set" in capsys.readouterr().err
