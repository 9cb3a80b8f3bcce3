"""numsim's Hopper presets against outputs recorded on a real NVIDIA H200 GPU.

``tests/data/h200/`` holds what an H200 computed (``record.py`` there, run on the GPU, wrote it;
its README gives the GPU, driver, compiler and library versions): single ``mma.sync`` and
``wgmma`` instructions on fresh seeded random operands (``normal`` and ``bits`` modes) and on the
MMA-Sim test operands of ``tests/data/mmasim``, and whole GEMMs through PyTorch and cuBLAS. This
is an oracle independent of MMA-Sim and of numsim: every expected bit below was produced by the
silicon.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from test_mmasim import _expected_bits as _recorded
from test_mmasim import _result_bits as _bits
from test_mmasim import _values

import numsim
from numsim import datapath

DATA = Path(__file__).parent / "data" / "h200"
MMASIM = Path(__file__).parent / "data" / "mmasim"

#: Operand format (as recorded) -> preset suffix.
_SUFFIX = {"fp16": "fp16", "bf16": "bf16", "tf32": "tf32", "fp8_e4m3": "e4m3", "fp8_e5m2": "e5m2"}


@lru_cache(maxsize=1)
def _meta() -> dict:
    with open(DATA / "meta.json") as f:
        return json.load(f)


@lru_cache(maxsize=1)
def _arrays() -> dict[str, np.ndarray]:
    with np.load(DATA / "h200.npz") as z:
        return {k: z[k] for k in z.files}


def _preset(kernel: dict) -> str:
    fa, fb = _SUFFIX[kernel["a_format"]], _SUFFIX[kernel["b_format"]]
    return f"h100-{fa}" if fa == fb else f"h100-{fa}x{fb}"


def _assert_same(got: np.ndarray, want: np.ndarray, what: str) -> None:
    bad = np.argwhere(got != want)
    assert bad.size == 0, (
        f"{what}: {len(bad)} of {want.size} outputs differ from the H200; first at "
        f"{tuple(bad[0])}: numsim {int(got[tuple(bad[0])]):#x}, H200 {int(want[tuple(bad[0])]):#x}"
    )


def _tiles(name: str, mode: str):
    arrays = _arrays()
    return (arrays[f"{name}/{mode}/{k}"] for k in ("A", "BT", "C", "D"))


#: The FP8 ``mma.sync`` kernels, which Hopper has no FP8 ``mma`` for (see test below).
_FP8_MMA = [
    n
    for n, k in _meta()["kernels"].items()
    if k["instruction"] == "mma" and "e" in k["a_format"][3:]
]
_NATIVE = [n for n in _meta()["kernels"] if n not in _FP8_MMA]


def test_recording_is_what_it_claims() -> None:
    """The recording names its GPU and passed its fragment-layout self-check on every kernel."""
    meta = _meta()
    assert meta["gpu"] == "NVIDIA H200" and meta["capability"] == [9, 0]
    assert all(meta["layout_self_check"].values()) and set(meta["layout_self_check"]) == set(
        meta["kernels"]
    )
    # wgmma FP8 ran on the FP8 tensor-core instruction (QGMMA), not an emulation
    assert any("QGMMA.64x8x32.F32.E4M3.E4M3" in line for line in meta["sass"])


@pytest.mark.parametrize("mode", ["normal", "bits"])
@pytest.mark.parametrize("name", _NATIVE)
def test_instruction_bit_exact(name: str, mode: str) -> None:
    """Every recorded output of a native Hopper instruction, bit for bit, on the h100 preset."""
    kernel = _meta()["kernels"][name]
    unit = datapath.get(_preset(kernel), out="fp16" if kernel["d_format"] == "fp16" else "fp32")
    fa, fb, fd = kernel["a_format"], kernel["b_format"], kernel["d_format"]
    for t, (a, bt, c, d) in enumerate(zip(*_tiles(name, mode))):
        got = datapath.matmul(_values(a, fa), _values(bt, fb).T, unit, _values(c, fd))
        _assert_same(_bits(got, fd), _recorded(d, fd), f"{name} {mode} tile {t}")


@pytest.mark.parametrize("name", _NATIVE)
def test_mmasim_operands_on_silicon(name: str) -> None:
    """MMA-Sim's own test operands (corner cases included) replayed on the H200: numsim's preset
    gives the H200's outputs, and MMA-Sim's stored outputs differ from the H200's only where every
    product of the dot is zero (MMA-Sim's zero-operand rule; tests/data/mmasim/README.md G2)."""
    kernel = _meta()["kernels"][name]
    with open(MMASIM / "manifest.json") as f:
        index = [k["id"] for k in json.load(f)["kernels"]].index(kernel["mmasim_id"])
    fa, fb, fd = kernel["a_format"], kernel["b_format"], kernel["d_format"]
    unit = datapath.get(_preset(kernel), out="fp16" if fd == "fp16" else "fp32")
    with np.load(MMASIM / "vectors.npz") as z:
        for c in range(3):
            a, b = _values(z[f"{index}/{c}/A"], fa), _values(z[f"{index}/{c}/BT"], fb).T
            silicon = _recorded(_arrays()[f"{name}/mmasim{c}/D"], fd)
            got = datapath.matmul(a, b, unit, _values(z[f"{index}/{c}/C"], fd))
            _assert_same(_bits(got, fd), silicon, f"{name} on MMA-Sim's call {c}")
            differ = _recorded(z[f"{index}/{c}/D"], fd) != silicon
            with np.errstate(invalid="ignore"):  # 0 * Inf rows are NaN, not zero products
                all_zero = ((a[:, :, None] * b[None, :, :]) == 0).all(axis=1)
            assert not (differ & ~all_zero).any(), f"{name} call {c}: MMA-Sim differs elsewhere"


def _fp8_mma_as_lowered(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """What ``mma.sync.m16n8k32`` on FP8 operands computes on Hopper, built from numsim parts.

    Hopper has FP8 only in ``wgmma``; ptxas (CUDA 13.0) lowers the PTX instruction to a
    conversion to FP16 (exact for E4M3 and E5M2) and two chained ``HMMA.16816.F32`` with a zero
    first accumulator, and adds C afterwards in FP32 (recorded SASS in meta.json). The first
    HMMA takes k = 4t, 4t+1, 16+4t, 16+4t+1 (t = 0..3), the order in which the FP8 fragment's
    registers unpack into FP16 pairs; the second the other 16. So: the h100 FP16 unit over the
    permuted K, with C entering by the FP32 RNE epilogue.
    """
    first = [k for t in range(4) for k in (4 * t, 4 * t + 1, 16 + 4 * t, 16 + 4 * t + 1)]
    order = first + [k for k in range(32) if k not in first]
    return datapath.matmul(a[:, order], b[order, :], datapath.get("h100-fp16-epilogue"), c)


@pytest.mark.parametrize("mode", ["normal", "bits"])
@pytest.mark.parametrize("name", _FP8_MMA)
def test_fp8_mma_sync_is_two_fp16_hmma(name: str, mode: str) -> None:
    """The FP8 ``mma.sync`` on Hopper is not the FP8 tensor-core datapath (h100-e4m3 differs on
    most outputs) but the FP16 one, as the recorded SASS shows; numsim's units reproduce it."""
    kernel = _meta()["kernels"][name]
    fa, fb = kernel["a_format"], kernel["b_format"]
    fp8_unit = datapath.get(_preset(kernel))
    agree = total = 0
    for t, (a, bt, c, d) in enumerate(zip(*_tiles(name, mode))):
        av, bv, cv = _values(a, fa), _values(bt, fb).T, _values(c, "fp32")
        want = _recorded(d, "fp32")
        _assert_same(_bits(_fp8_mma_as_lowered(av, bv, cv), "fp32"), want, f"{name} tile {t}")
        agree += int((_bits(datapath.matmul(av, bv, fp8_unit, cv), "fp32") == want).sum())
        total += want.size
    assert agree < 0.5 * total, f"{name}: the FP8 unit agrees on {agree} of {total}"


#: Recorded library GEMMs: (key, operand format, output format, the unit that reproduces the
#: H200's output, a unit that does not). Which CUDA kernels each GEMM ran is in meta.json.
_GEMMS = [
    # FP8 torch._scaled_mm: fast accumulation is the tensor core's own chain over K; the default
    # promotes into FP32 every 128 products (DeepSeek-V3's recipe, arXiv:2412.19437 §3.3.2).
    ("e4m3_10240x32x16_fast0", "fp8_e4m3", "fp32", "h100-e4m3", None),
    ("e4m3_10240x32x16_fast1", "fp8_e4m3", "fp32", "h100-e4m3", None),
    ("e4m3_256x4096x64_fast0", "fp8_e4m3", "fp32", "h100-e4m3-promote128", "h100-e4m3"),
    ("e4m3_256x4096x64_fast1", "fp8_e4m3", "fp32", "h100-e4m3", "h100-e4m3-promote128"),
    ("e4m3_2048x4096x2048_fast0", "fp8_e4m3", "fp32", "h100-e4m3-promote128", "h100-e4m3"),
    ("e4m3_2048x4096x2048_fast1", "fp8_e4m3", "fp32", "h100-e4m3", "h100-e4m3-promote128"),
    # 16-bit and TF32 GEMMs that the library runs in one pass over K: the chained unit, FP32
    # accumulator rounded to the output format at the end
    ("fp16_2048x4096x2048", "fp16", "fp16", "h100-fp16", "h100-fp16-promote128"),
    ("fp16_1024x1024x1024", "fp16", "fp16", "h100-fp16", None),
    ("bf16_2048x4096x2048", "bf16", "bf16", "h100-bf16", None),
    ("bf16_1024x1024x1024", "bf16", "bf16", "h100-bf16", None),
    ("tf32_2048x4096x2048", "tf32", "fp32", "h100-tf32", "h100-tf32-promote128"),
    # split K (an Ampere-generation mma.sync kernel and cuBLAS's split-K reduction): 32 slices
    # of 128 summed in FP32, which is the promoted unit
    ("tf32_256x4096x64", "tf32", "fp32", "h100-tf32-promote128", "h100-tf32"),
]


def _gemm_bits(unit: str, a: np.ndarray, b: np.ndarray, fmt: str) -> np.ndarray:
    d = datapath.matmul(a, b, datapath.get(unit))
    if fmt == "bf16":  # FP32 accumulator -> BF16 output, nearest even, as the library's epilogue
        return numsim.encode(np.asarray(d, dtype=np.float32), "bf16").astype(np.uint64)
    return _bits(d, fmt)


@pytest.mark.parametrize(("key", "fmt", "out", "unit", "other"), _GEMMS, ids=[g[0] for g in _GEMMS])
def test_cublas_gemm(key: str, fmt: str, out: str, unit: str, other: str | None) -> None:
    """Library GEMMs through PyTorch and cuBLAS on the H200, bit for bit."""
    arrays = _arrays()
    a, b = _values(arrays[f"{key}/A"], fmt), _values(arrays[f"{key}/BT"], fmt).T
    want = _recorded(arrays[f"{key}/D"], out)
    _assert_same(_gemm_bits(unit, a, b, out), want, f"{key} on {unit}")
    if other is not None:  # the data tell the two accumulations apart
        assert (_gemm_bits(other, a, b, out) != want).any(), f"{key}: {other} also matches"
