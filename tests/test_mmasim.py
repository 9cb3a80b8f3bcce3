"""numsim's datapath presets against MMA-Sim (Xie et al., arXiv:2511.10909;
github.com/microsoft/MMA-Sim).

MMA-Sim is a bit-accurate model of NVIDIA tensor cores (mma, wgmma, tcgen05.mma) and AMD matrix
cores
(mfma), validated bit for bit against the hardware. ``tests/data/mmasim/`` holds the outputs of
every
kernel MMA-Sim runs, on seeded random and corner-case operands, generated offline; its README gives
the provenance (MMA-Sim commit, kernel, seed) and the semantics each kernel implements.

Each kernel is mapped to the numsim preset that models it. A kernel numsim does not reproduce yet
(missing preset, missing semantic) is an ``xfail(strict=True)`` that names what is missing, so the
test turns into a failure the day the preset matches and its mark must go.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

import numsim
from numsim import datapath
from numsim.block import BlockArray

DATA = Path(__file__).parent / "data" / "mmasim"

#: NVIDIA architecture -> preset GPU prefix.
_NV_GPU = {
    "Volta": "v100",
    "Turing": "t4",
    "Ampere": "a100",
    "Ada Lovelace": "ada",
    "Hopper": "h100",
    "Blackwell": "b200",
    "RTX Blackwell": "rtxpro6000",
}
#: AMD architecture -> preset GPU prefix.
_AMD_GPU = {"CDNA1": "mi100", "CDNA2": "mi210", "CDNA3": "mi300"}
#: Operand format (manifest name) -> preset input suffix.
_SUFFIX = {
    "fp16": "fp16",
    "bf16": "bf16",
    "tf32": "tf32",
    "fp8_e4m3": "e4m3",
    "fp8_e5m2": "e5m2",
    "fp8_e4m3fnuz": "e4m3fnuz",
    "fp8_e5m2fnuz": "e5m2fnuz",
}

#: Measured agreement of every kernel with its preset (for a missing preset, with the closest
#: existing unit): ``{id: {"preset", "stand_in", "matching", "total"}}``. A kernel is expected to
#: fail
#: (strict xfail) when its preset is missing or when it did not match fully at the last measurement.
_RATES = DATA / "match_rates.json"


def _manifest() -> dict:
    with open(DATA / "manifest.json") as f:
        return json.load(f)


@lru_cache(maxsize=1)
def _arrays() -> dict[str, np.ndarray]:
    with np.load(DATA / "vectors.npz") as z:
        return {k: z[k] for k in z.files}


#: Stand-in code of every NaN (outside every format's code range).
_NAN = np.uint64(1 << 40)


def _values(bits: np.ndarray, fmt: str) -> np.ndarray:
    """float64 values of stored bit patterns of ``fmt`` (IEEE views; numsim's codec for FP8)."""
    if fmt == "fp64":
        return bits.astype(np.uint64).view(np.float64)
    if fmt in ("fp32", "tf32"):
        return bits.astype(np.uint32).view(np.float32).astype(np.float64)
    if fmt == "fp16":
        return bits.astype(np.uint16).view(np.float16).astype(np.float64)
    if fmt == "bf16":
        return (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return np.asarray(numsim.decode(bits.astype(np.uint8), fmt), dtype=np.float64)


def _result_bits(d: np.ndarray, fmt: str) -> np.ndarray:
    """Bit patterns of numsim's results in the kernel's output format (NaN -> ``_NAN``): float32
    results of the FP32 carrier, float64 ones of the FP64 unit (checked to be float64: a result
    silently narrowed to float32 must fail)."""
    if fmt == "fp64":
        assert d.dtype == np.float64, d.dtype
        return np.where(np.isnan(d), _NAN, d.view(np.uint64))
    d = np.asarray(d, dtype=np.float32)
    with np.errstate(over="ignore"):  # FP16 results are exact in float16; only +-Inf "overflows"
        bits = d.view(np.uint32) if fmt == "fp32" else d.astype(np.float16).view(np.uint16)
    return np.where(np.isnan(d), _NAN, bits.astype(np.uint64))


def _expected_bits(d: np.ndarray, fmt: str) -> np.ndarray:
    """Stored MMA-Sim bit patterns, every NaN mapped to ``_NAN`` (payloads: README G7)."""
    vals = _values(d, fmt)
    return np.where(np.isnan(vals), _NAN, d.astype(np.uint64))


def _preset(meta: dict) -> tuple[str, str]:
    """(preset name, out mode) that models kernel ``meta``."""
    arch, fa, fb = meta["arch"], meta["a_format"], meta["b_format"]
    out = "fp16" if meta["d_format"] == "fp16" else "fp32"
    if fa == "fp64":
        return "fma-fp64", out
    if meta["instruction"] == "mfma":
        gpu = _AMD_GPU[arch]
        if fa == "fp32":
            return "fma-fp32", out
        if fa == "tf32":
            return f"{gpu}-xf32", out
        if arch == "CDNA2" and fa == "bf16" and not meta["qualifier"].endswith("_1k"):
            return "mi210-bf16-n2", out  # the pre-_1k BF16 instructions: pairs, not quads
        return f"{gpu}-{_SUFFIX[fa]}" if fa == fb else f"{gpu}-{_SUFFIX[fa]}x{_SUFFIX[fb]}", out
    gpu = _NV_GPU[arch]
    if "block_scale" in meta["instruction"]:
        kind = "mxf4nvf4" if meta["k"] == 64 else "mxf8f6f4"
        return f"{gpu}-{kind}", out
    # Hopper: the -mmasim variant keeps MMA-Sim's zero products; the plain h100-* presets follow
    # an H200 instead (README G2, tests/test_h200.py)
    tail = "-mmasim" if gpu == "h100" else ""
    if fa == fb:
        return f"{gpu}-{_SUFFIX[fa]}{tail}", out
    return f"{gpu}-{_SUFFIX[fa]}x{_SUFFIX[fb]}{tail}", out


@lru_cache(maxsize=1)
def _rates() -> dict:
    if not _RATES.exists():  # not measured yet: every kernel with a preset must match
        return {}
    with open(_RATES) as f:
        return json.load(f)


def _reason(meta: dict) -> str:
    """Why numsim does not reproduce kernel ``meta`` bit for bit (README sections)."""
    name, _out = _preset(meta)
    return f"preset {name!r} did not match every output at the last measurement (match_rates.json)"


def _expect_failure(meta: dict) -> bool:
    """True when the kernel's preset is missing or did not match at the last measurement."""
    name, out = _preset(meta)
    try:
        datapath.get(name, out=out)
    except (KeyError, ValueError):
        return True
    rate = _rates().get(meta["id"])
    return rate is not None and rate["matching"] < rate["total"]


def _unit(meta: dict) -> datapath.DotUnit:
    """The preset of kernel ``meta`` in its output mode.

    The C type follows the output mode, not the instruction's C operand: MMA-Sim converts C to
    D's type first (``mmasim/simulator/nv_ptx.py``), so an FP16 C of a ``.f32.f16.f16.f16``
    instruction aligns as FP32 (the preset's FP32 mode, ``c_format=fp32``).
    """
    name, out = _preset(meta)
    return datapath.get(name, out=out)


def _numsim_result(meta: dict, call: dict[str, np.ndarray]) -> np.ndarray:
    """numsim's output for one stored call of a kernel."""
    unit = _unit(meta)
    cvals = _values(call["C"], meta["c_format"])
    if meta["c_format"] != "fp64":  # FP32-carrier units take C as float32, the FP64 unit float64
        cvals = cvals.astype(np.float32)
    if "block_scale" not in meta["instruction"]:
        A = _values(call["A"], meta["a_format"])
        B = _values(call["BT"], meta["b_format"]).T
        return datapath.matmul(A, B, unit, cvals)
    A = _block_array(call["A"], call["SA"], meta, meta["a_format"], axis=1)
    B = _block_array(call["BT"], call["SBT"], meta, meta["b_format"], axis=0)
    return datapath.mx_matmul(A, B, unit, cvals)


def _block_array(
    codes: np.ndarray, scales: np.ndarray, meta: dict, fmt: str, axis: int
) -> BlockArray:
    """A BlockArray of stored rows (A rows, or B columns when ``axis=0``) and their scale codes.

    FP4 codes are stored two per byte, element 2i in the low nibble (MMA-Sim's packing). UE4M3
    scales keep their low 7 bits (MMA-Sim takes their absolute value).
    """
    bs = meta["block_size"]
    if meta["packing"] == 2:
        codes = np.stack([codes & 0xF, codes >> 4], axis=-1).reshape(codes.shape[0], -1)
        elem = "fp4_e2m1"
    else:
        elem = fmt
    if meta["scale_format"] == "ue4m3":
        scales = scales & 0x7F
    rows, K = codes.shape
    block = numsim.formats.BlockFormat(
        f"mmasim_{elem}_{bs}_{meta['scale_format']}",
        numsim.formats.get(elem),
        bs,
        numsim.formats.get(meta["scale_format"]),
    )
    shape = (rows, K) if axis == 1 else (K, rows)
    return BlockArray(
        codes.reshape(rows, K // bs, bs).astype(np.uint8),
        scales.astype(np.uint8),
        block,
        axis,
        shape,
        tensor_scale=None,
    )


def _calls(index: int, meta: dict) -> list[dict[str, np.ndarray]]:
    arrays = _arrays()
    return [
        {
            name: arrays[f"{index}/{c}/{name}"]
            for name in ("A", "BT", "C", "D", "SA", "SBT")
            if f"{index}/{c}/{name}" in arrays
        }
        for c in range(len(meta["modes"]))
    ]


def _params() -> list:
    out = []
    for index, meta in enumerate(_manifest()["kernels"]):
        marks = (
            [pytest.mark.xfail(strict=True, reason=_reason(meta))] if _expect_failure(meta) else []
        )
        out.append(pytest.param(index, meta, id=meta["id"], marks=marks))
    return out


def match_rate(index: int, meta: dict) -> tuple[int, int]:
    """(matching, total) outputs of kernel ``meta`` on its preset (for the README's table)."""
    rec = measure(index, meta)
    return rec["matching"], rec["total"]


def measure(index: int, meta: dict) -> dict:
    """The ``match_rates.json`` record of kernel ``meta`` measured on its preset: ``preset``
    (with ``@fp16`` for the FP16-output mode), ``stand_in`` None, ``matching``, ``total`` and
    ``by_mode`` (``"matching/total"`` per operand mode)."""
    name, out = _preset(meta)
    good = total = 0
    by_mode: dict[str, list[int]] = {}
    for mode, call in zip(meta["modes"], _calls(index, meta)):
        got = _result_bits(_numsim_result(meta, call), meta["d_format"])
        want = _expected_bits(call["D"], meta["d_format"])
        g, t = int((got == want).sum()), int(want.size)
        good, total = good + g, total + t
        m = by_mode.setdefault(mode, [0, 0])
        m[0], m[1] = m[0] + g, m[1] + t
    return {
        "by_mode": {k: f"{g}/{t}" for k, (g, t) in sorted(by_mode.items())},
        "matching": good,
        "preset": name if out == "fp32" else f"{name}@fp16",
        "stand_in": None,
        "total": total,
    }


def rewrite_match_rates(patterns: list[str] | None = None) -> dict[str, tuple[int, int]]:
    """Re-measure kernels and rewrite ``match_rates.json`` (atomically; temp file + rename).

    Kernels whose id contains one of ``patterns`` (all kernels when None) and whose preset exists
    are measured on it; every other entry is kept as it is (a kernel without a preset keeps its
    stand-in measurement). Returns ``{id: (matching, total)}`` of the kernels measured.
    """
    rates = dict(_rates())
    done: dict[str, tuple[int, int]] = {}
    for index, meta in enumerate(_manifest()["kernels"]):
        if patterns is not None and not any(p in meta["id"] for p in patterns):
            continue
        name, out = _preset(meta)
        try:
            datapath.get(name, out=out)
        except (KeyError, ValueError):
            continue
        rates[meta["id"]] = measure(index, meta)
        done[meta["id"]] = (rates[meta["id"]]["matching"], rates[meta["id"]]["total"])
    fd, tmp = tempfile.mkstemp(dir=DATA, suffix=".json.tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(dict(sorted(rates.items())), f, indent=1, sort_keys=True)
        os.replace(tmp, _RATES)
    except BaseException:
        os.unlink(tmp)
        raise
    _rates.cache_clear()
    return done


def agreement_table() -> str:
    """The README's "Current agreement" table (Markdown rows) from ``match_rates.json``: one row
    per preset (bold when it is missing and a stand-in was measured), its kernels, matching and
    total outputs, the per-kernel range, and what it was measured with."""
    by_preset: dict[str, list[dict]] = {}
    for rec in _rates().values():
        by_preset.setdefault(rec["preset"], []).append(rec)
    rows = []
    for preset, recs in sorted(by_preset.items()):
        good, total = sum(r["matching"] for r in recs), sum(r["total"] for r in recs)
        missing = any(r["stand_in"] is not None for r in recs)
        pct = sorted(100 * r["matching"] / r["total"] for r in recs if r["total"])
        per = (
            "n/a"
            if not pct
            else f"{pct[0]:.1f} %"
            if pct[0] == pct[-1]
            else (f"{pct[0]:.1f}-{pct[-1]:.1f} %")
        )
        stand_in = next((r["stand_in"] for r in recs if r["stand_in"] is not None), None)
        how = (
            "the preset"
            if stand_in is None
            else "not measured (no stand-in)"
            if stand_in == "none" or not total
            else f"stand-in `{stand_in}`"
        )
        name = f"**`{preset}`**" if missing else f"`{preset}`"
        rows.append(f"| {name} | {len(recs)} | {good}/{total} | {per} | {how} |")
    return "\n".join(rows)


@pytest.mark.parametrize(("index", "meta"), _params())
def test_kernel_bit_exact(index: int, meta: dict) -> None:
    """Every stored output of the kernel, bit for bit (signed zeros included; any NaN for NaN)."""
    for mode, call in zip(meta["modes"], _calls(index, meta)):
        got = _result_bits(_numsim_result(meta, call), meta["d_format"])
        want = _expected_bits(call["D"], meta["d_format"])
        bad = np.argwhere(got != want)
        assert bad.size == 0, (
            f"{meta['id']} ({mode} operands): {len(bad)} of {want.size} outputs differ; "
            f"first at {tuple(bad[0])}: numsim {int(got[tuple(bad[0])]):#x}, "
            f"MMA-Sim {int(want[tuple(bad[0])]):#x}"
        )


def test_manifest_provenance() -> None:
    """The data names its source commit and covers every kernel family."""
    man = _manifest()
    assert len(man["mmasim_commit"]) == 40
    families = {(k["instruction"], k["arch"]) for k in man["kernels"]}
    assert {
        ("mma", "Volta"),
        ("mma", "Turing"),
        ("wgmma", "Hopper"),
        ("tcgen05mma", "Blackwell"),
        ("tcgen05mma_block_scale", "Blackwell"),
        ("mma_block_scale", "RTX Blackwell"),
        ("mfma", "CDNA1"),
        ("mfma", "CDNA2"),
        ("mfma", "CDNA3"),
    } <= families


if __name__ == "__main__":
    # python tests/test_mmasim.py [ID_SUBSTRING ...]: re-measure the kernels whose preset exists
    # (those whose id contains one of the substrings, or all) and rewrite match_rates.json.
    # python tests/test_mmasim.py --table: print the README's agreement table.
    if sys.argv[1:] == ["--table"]:
        print(agreement_table())
    else:
        for kid, (good, tot) in rewrite_match_rates(sys.argv[1:] or None).items():
            print(f"{good:6d}/{tot:<6d} {kid}")
