"""Record what an NVIDIA Hopper GPU's tensor cores compute, for tests/test_h200.py.

Run on a machine with a Hopper GPU (H100/H200), CUDA's nvcc, CuPy, PyTorch and ml_dtypes:

    python tests/data/h200/record.py OUTDIR

It builds ``mma.cu`` (single ``mma.sync`` and ``wgmma`` instructions, operands as raw bit patterns)
and writes ``OUTDIR/h200_mma.npz`` (outputs of each instruction: on the MMA-Sim test operands of
tests/data/mmasim, and on fresh seeded random operands), ``OUTDIR/h200_gemm.npz`` (whole GEMMs
through PyTorch / cuBLAS) and ``OUTDIR/h200_meta.json`` (GPU, driver, library versions, the SASS
each instruction became, and a layout self-check on small integers whose sums are exact).

    python tests/data/h200/record.py --commit OUTDIR

(no GPU needed) then writes the committed subset, ``h200.npz`` and ``meta.json`` beside this file:
the first tiles of every instruction and slices of the GEMMs (:func:`commit`).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MMASIM = HERE.parent / "mmasim"

#: PTX type of each recorded format.
_PTX = {"fp32": "f32", "fp16": "f16", "bf16": "bf16", "tf32": "tf32",
        "fp8_e4m3": "e4m3", "fp8_e5m2": "e5m2"}  # fmt: skip


def _kernel(instr: str, k: int, fa: str, fb: str, fd: str) -> tuple:
    """(instruction, rows per tile, K, A format, B format, C/D format, MMA-Sim kernel id)."""
    a, b, d = _PTX[fa], _PTX[fb], _PTX[fd]
    if instr == "wgmma":
        return instr, 64, k, fa, fb, fd, f"wgmma:Hopper:m64n8k{k}.{d}.{a}.{b}"
    # MMA-Sim lists no FP8 mma.sync for Hopper: its Ada operands are replayed instead.
    arch = "Ada Lovelace" if fa.startswith("fp8") else "Hopper"
    return instr, 16, k, fa, fb, fd, f"mma:{arch}:m16n8k{k}.{d}.{a}.{b}.{d}"


#: kernel name in mma.cu -> _kernel(...)
KERNELS = {
    f"{instr}_m{16 if instr == 'mma' else 64}n8k{k}_{_PTX[fd]}_{name}": _kernel(
        instr, k, fa, fb, fd
    )
    for instr, k, fa, fb, fd, name in [
        ("mma", 16, "fp16", "fp16", "fp32", "f16"),
        ("mma", 8, "fp16", "fp16", "fp32", "f16"),
        ("mma", 16, "fp16", "fp16", "fp16", "f16"),
        ("mma", 8, "fp16", "fp16", "fp16", "f16"),
        ("mma", 16, "bf16", "bf16", "fp32", "bf16"),
        ("mma", 8, "bf16", "bf16", "fp32", "bf16"),
        ("mma", 8, "tf32", "tf32", "fp32", "tf32"),
        ("mma", 4, "tf32", "tf32", "fp32", "tf32"),
        ("mma", 32, "fp8_e4m3", "fp8_e4m3", "fp32", "e4m3"),
        ("mma", 32, "fp8_e5m2", "fp8_e5m2", "fp32", "e5m2"),
        ("mma", 32, "fp8_e4m3", "fp8_e5m2", "fp32", "e4m3xe5m2"),
        ("wgmma", 16, "fp16", "fp16", "fp32", "f16"),
        ("wgmma", 16, "fp16", "fp16", "fp16", "f16"),
        ("wgmma", 16, "bf16", "bf16", "fp32", "bf16"),
        ("wgmma", 8, "tf32", "tf32", "fp32", "tf32"),
        ("wgmma", 32, "fp8_e4m3", "fp8_e4m3", "fp32", "e4m3"),
        ("wgmma", 32, "fp8_e5m2", "fp8_e5m2", "fp32", "e5m2"),
        ("wgmma", 32, "fp8_e4m3", "fp8_e5m2", "fp32", "e4m3xe5m2"),
        ("wgmma", 32, "fp8_e5m2", "fp8_e4m3", "fp32", "e5m2xe4m3"),
        ("wgmma", 32, "fp8_e4m3", "fp8_e4m3", "fp16", "e4m3"),
        ("wgmma", 32, "fp8_e5m2", "fp8_e5m2", "fp16", "e5m2"),
    ]
}

#: Storage dtype of each format's bit patterns.
STORE = {"fp32": np.uint32, "tf32": np.uint32, "fp16": np.uint16, "bf16": np.uint16,
         "fp8_e4m3": np.uint8, "fp8_e5m2": np.uint8}  # fmt: skip
#: Random tiles per operand mode and kernel.
TILES = {"mma": 128, "wgmma": 32}


def to_bits(x: np.ndarray, fmt: str) -> np.ndarray:
    """Bit patterns of float64 values ``x`` rounded to ``fmt`` (RNE; ml_dtypes for FP8, BF16)."""
    import ml_dtypes

    x = np.asarray(x, dtype=np.float64)
    if fmt == "fp32":
        return x.astype(np.float32).view(np.uint32)
    if fmt == "tf32":  # round FP32 to 10 fraction bits, nearest even (finite values)
        b = x.astype(np.float32).view(np.uint32).astype(np.uint64)
        b = (b + 0xFFF + ((b >> 13) & 1)) & ~np.uint64(0x1FFF)
        return b.astype(np.uint32)
    if fmt == "fp16":
        return x.astype(np.float16).view(np.uint16)
    if fmt == "bf16":
        return x.astype(ml_dtypes.bfloat16).view(np.uint16)
    dt = {"fp8_e4m3": ml_dtypes.float8_e4m3fn, "fp8_e5m2": ml_dtypes.float8_e5m2}[fmt]
    return x.astype(dt).view(np.uint8)


def from_bits(b: np.ndarray, fmt: str) -> np.ndarray:
    """float64 values of bit patterns of ``fmt``."""
    import ml_dtypes

    if fmt in ("fp32", "tf32"):
        return b.astype(np.uint32).view(np.float32).astype(np.float64)
    if fmt == "fp16":
        return b.astype(np.uint16).view(np.float16).astype(np.float64)
    if fmt == "bf16":
        return b.astype(np.uint16).view(ml_dtypes.bfloat16).astype(np.float64)
    dt = {"fp8_e4m3": ml_dtypes.float8_e4m3fn, "fp8_e5m2": ml_dtypes.float8_e5m2}[fmt]
    return b.astype(np.uint8).view(dt).astype(np.float64)


def random_bits(rng: np.random.Generator, shape: tuple, fmt: str) -> np.ndarray:
    """Uniformly random finite bit patterns of ``fmt`` (every exponent)."""
    width = {"fp32": 32, "tf32": 32, "fp16": 16, "bf16": 16, "fp8_e4m3": 8, "fp8_e5m2": 8}[fmt]
    out = rng.integers(0, 1 << width, size=shape, dtype=np.uint64)
    if fmt == "tf32":
        out &= ~np.uint64(0x1FFF)
    bits = out.astype(STORE[fmt])
    bad = ~np.isfinite(from_bits(bits, fmt))
    while bad.any():
        bits[bad] = random_bits(rng, (int(bad.sum()),), fmt)
        bad = ~np.isfinite(from_bits(bits, fmt))
    return bits


def operands(rng, mode: str, tiles: int, rows: int, K: int, fa: str, fb: str, fc: str):
    """(A [tiles, rows, K], BT [tiles, 8, K], C [tiles, rows, 8]) bit patterns for one mode."""
    sa, sb, sc = (tiles, rows, K), (tiles, 8, K), (tiles, rows, 8)
    if mode == "int":  # small integers: every product and sum exact, for the layout self-check
        return (to_bits(rng.integers(-3, 4, sa), fa), to_bits(rng.integers(-3, 4, sb), fb),
                to_bits(rng.integers(-8, 9, sc), fc))  # fmt: skip
    if mode == "bits":
        return random_bits(rng, sa, fa), random_bits(rng, sb, fb), random_bits(rng, sc, fc)
    c = rng.standard_normal(sc) * 4 * (rng.random(sc) > 0.2)
    return (to_bits(rng.standard_normal(sa), fa), to_bits(rng.standard_normal(sb), fb),
            to_bits(c, fc))  # fmt: skip


def mmasim_calls(kid: str) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """MMA-Sim's stored calls of kernel ``kid``: (mode, A, BT, C, D) bit patterns."""
    kernels = json.loads((MMASIM / "manifest.json").read_text())["kernels"]
    index = next(i for i, k in enumerate(kernels) if k["id"] == kid)
    with np.load(MMASIM / "vectors.npz") as z:
        return [
            (mode, *(z[f"{index}/{c}/{n}"] for n in ("A", "BT", "C", "D")))
            for c, mode in enumerate(kernels[index]["modes"])
        ]


def run_tiles(launch, name: str, A: np.ndarray, BT: np.ndarray, C: np.ndarray) -> np.ndarray:
    """D bit patterns of ``A @ B + C`` per tile, computed by kernel ``name``."""
    instr, rows, _, _, _, fc, _ = KERNELS[name]
    tiles = A.shape[0]
    D = launch(name, 32 if instr == "mma" else 128, tiles,
               A.astype(np.uint32).reshape(-1), BT.astype(np.uint32).reshape(-1),
               C.astype(np.uint32).reshape(-1))  # fmt: skip
    return D.reshape(tiles, rows, 8).astype(STORE[fc])


def record_instructions(launch, arrays: dict, checks: dict) -> None:
    """Outputs of every kernel on MMA-Sim's operands and on seeded random operands, added to
    ``arrays`` as they come (a failing kernel leaves what was recorded before it)."""
    for name, (instr, rows, K, fa, fb, fc, kid) in KERNELS.items():
        rng = np.random.default_rng(
            int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")
        )
        A, BT, C = operands(rng, "int", 16, rows, K, fa, fb, fc)
        D = run_tiles(launch, name, A, BT, C)
        want = np.einsum("tmk,tnk->tmn", from_bits(A, fa), from_bits(BT, fb)) + from_bits(C, fc)
        checks[name] = bool(np.array_equal(from_bits(D, fc), want))
        for mode in ("normal", "bits"):
            A, BT, C = operands(rng, mode, TILES[instr], rows, K, fa, fb, fc)
            D = run_tiles(launch, name, A, BT, C)
            for key, val in zip(("A", "BT", "C", "D"), (A, BT, C, D)):
                arrays[f"{name}/{mode}/{key}"] = val
        for c, (mode, A, BT, C, Dsim) in enumerate(mmasim_calls(kid)):
            D = run_tiles(launch, name, A[None], BT[None], C[None].astype(STORE[fc]))
            arrays[f"{name}/mmasim{c}/D"] = D[0]
            arrays[f"{name}/mmasim{c}/agree"] = np.array(
                [int(np.sum(D[0] == Dsim)), int(Dsim.size)]
            )
        print(f"{name:32s} layout self-check {'ok' if checks[name] else 'FAILED'}", flush=True)


def _kernels_of(fn):
    """(result of ``fn()``, names of the CUDA kernels it launched), via the PyTorch profiler."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        result = fn()
        torch.cuda.synchronize()
    return result, sorted({e.key for e in prof.key_averages() if "memcpy" not in e.key.lower()})


def record_gemms() -> tuple[dict, dict]:
    """Whole GEMMs through PyTorch (cuBLAS): FP8 ``_scaled_mm``, FP16/BF16 and TF32 ``matmul``;
    returns the arrays and the CUDA kernels each GEMM ran. Large GEMMs keep the first 64 rows of
    A and B and the 64 x 64 corner of D."""
    import ml_dtypes  # noqa: F401
    import torch

    torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False
    torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = False
    rng = np.random.default_rng(2026)
    out, kernels = {}, {}
    one = torch.ones((), device="cuda", dtype=torch.float32)

    def keep(key, a, bt, d, big):
        if big:
            a, bt, d = a[:64], bt[:64], d[:64, :64]
        out[f"{key}/A"], out[f"{key}/BT"], out[f"{key}/D"] = a, bt, d

    def fp8(M, K, N, big=False):
        a = to_bits(rng.standard_normal((M, K)), "fp8_e4m3")
        bt = to_bits(rng.standard_normal((N, K)), "fp8_e4m3")
        ta = torch.from_numpy(a).cuda().view(torch.float8_e4m3fn)
        tb = torch.from_numpy(bt).cuda().view(torch.float8_e4m3fn).t()  # column-major B
        for fast in (False, True):
            key = f"e4m3_{M}x{K}x{N}_fast{int(fast)}"
            d, kernels[key] = _kernels_of(
                lambda fast=fast: torch._scaled_mm(
                    ta, tb, scale_a=one, scale_b=one, out_dtype=torch.float32, use_fast_accum=fast
                )
            )
            keep(key, a, bt, d.cpu().numpy().view(np.uint32), big)

    def half(fmt, dt, M, K, N, big=False):
        a = to_bits(rng.standard_normal((M, K)), fmt)
        bt = to_bits(rng.standard_normal((N, K)), fmt)
        ta = torch.from_numpy(a.view(np.int16)).cuda().view(dt)
        tb = torch.from_numpy(bt.view(np.int16)).cuda().view(dt)
        key = f"{fmt}_{M}x{K}x{N}"
        d, kernels[key] = _kernels_of(lambda: ta @ tb.t())
        keep(key, a, bt, d.cpu().view(torch.int16).numpy().view(np.uint16), big)

    def tf32(M, K, N, big=False):
        torch.backends.cuda.matmul.allow_tf32 = True
        a = to_bits(rng.standard_normal((M, K)), "tf32")
        bt = to_bits(rng.standard_normal((N, K)), "tf32")
        ta = torch.from_numpy(a.view(np.float32)).cuda()
        tb = torch.from_numpy(bt.view(np.float32)).cuda()
        key = f"tf32_{M}x{K}x{N}"
        d, kernels[key] = _kernels_of(lambda: ta @ tb.t())
        keep(key, a, bt, d.cpu().numpy().view(np.uint32), big)

    for M, K, N in ((10240, 32, 16), (256, 4096, 64)):
        fp8(M, K, N)
    for fmt, dt in (("fp16", torch.float16), ("bf16", torch.bfloat16)):
        for M, K, N in ((256, 16, 64), (256, 4096, 64)):
            half(fmt, dt, M, K, N)
    tf32(256, 4096, 64)
    # large GEMMs, where the library has no reason to split K
    fp8(2048, 4096, 2048, big=True)
    for fmt, dt in (("fp16", torch.float16), ("bf16", torch.bfloat16)):
        for M, K, N in ((2048, 4096, 2048), (1024, 1024, 1024)):
            half(fmt, dt, M, K, N, big=True)
    tf32(2048, 4096, 2048, big=True)
    return out, kernels


def _sh(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{cmd[0]}: {exc}"


def main(outdir: str) -> None:
    import cupy as cp
    import torch

    out = Path(outdir)
    cubin = out / "mma.cubin"
    subprocess.run(["nvcc", "-cubin", "-arch=sm_90a", "-o", str(cubin), str(HERE / "mma.cu")],
                   check=True)  # fmt: skip
    module = cp.RawModule(path=str(cubin))

    def launch(name, threads, tiles, A, BT, C):
        dA, dB, dC = cp.asarray(A), cp.asarray(BT), cp.asarray(C)
        dD = cp.zeros(C.shape, dtype=cp.uint32)
        module.get_function(name)((tiles,), (threads,), (dA, dB, dC, dD))
        cp.cuda.runtime.deviceSynchronize()
        return cp.asnumpy(dD)

    meta = {
        "gpu": torch.cuda.get_device_name(0),
        "capability": list(torch.cuda.get_device_capability(0)),
        "nvidia_smi": _sh(
            ["nvidia-smi", "--query-gpu=name,driver_version,vbios_version", "--format=csv,noheader"]
        ).strip(),
        "nvcc": _sh(["nvcc", "--version"]).strip().splitlines()[-1:],
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cupy": cp.__version__,
        "sass": [
            ln.strip()
            for ln in _sh(["cuobjdump", "-sass", str(cubin)]).splitlines()
            if "Function" in ln or "MMA" in ln or "GMMA" in ln
        ],
    }
    arrays, meta["layout_self_check"] = {}, {}
    try:
        record_instructions(launch, arrays, meta["layout_self_check"])
    except Exception as exc:  # noqa: BLE001 (keep what was recorded; a CUDA error ends the context)
        meta["instruction_error"] = repr(exc)
    np.savez_compressed(out / "h200_mma.npz", **arrays)
    try:
        gemms, meta["gemm_kernels"] = record_gemms()
        np.savez_compressed(out / "h200_gemm.npz", **gemms)
    except Exception as exc:  # noqa: BLE001 (the instruction data stands on its own)
        meta["gemm_error"] = repr(exc)
    (out / "h200_meta.json").write_text(json.dumps(meta, indent=1))
    cubin.unlink()
    print(json.dumps({k: v for k, v in meta.items() if k != "sass"}, indent=1))
    print("\n".join(meta["sass"][:80]))


#: Tiles of each operand mode kept in the committed subset.
KEEP_TILES = {"mma": 32, "wgmma": 8}
#: GEMM -> (rows of A and D kept, columns of B and D kept) in the committed subset.
KEEP_GEMMS = {
    "e4m3_10240x32x16_fast0": (2048, 16),
    "e4m3_10240x32x16_fast1": (2048, 16),
    "e4m3_256x4096x64_fast0": (16, 16),
    "e4m3_256x4096x64_fast1": (16, 16),
    "e4m3_2048x4096x2048_fast0": (16, 16),
    "e4m3_2048x4096x2048_fast1": (16, 16),
    "fp16_2048x4096x2048": (16, 16),
    "fp16_1024x1024x1024": (32, 32),
    "bf16_2048x4096x2048": (16, 16),
    "bf16_1024x1024x1024": (32, 32),
    "tf32_2048x4096x2048": (16, 16),
    "tf32_256x4096x64": (16, 16),
}
_CALLS = {
    "e4m3": "torch._scaled_mm(A, B, scale_a=1, scale_b=1, out_dtype=float32, use_fast_accum={})",
    "fp16": "torch.matmul (reduced-precision reductions off)",
    "bf16": "torch.matmul (reduced-precision reductions off)",
    "tf32": "torch.matmul of TF32-exact float32 operands, allow_tf32=True",
}


def commit(outdir: str, recorded: str = "2026-12-04") -> None:
    """Write the committed subset of the recording in ``outdir`` beside this file."""
    out = Path(outdir)
    meta = json.loads((out / "h200_meta.json").read_text())
    arrays = {}
    with np.load(out / "h200_mma.npz") as z:
        for name, (instr, *_rest) in KERNELS.items():
            for mode in ("normal", "bits"):
                for key in ("A", "BT", "C", "D"):
                    arrays[f"{name}/{mode}/{key}"] = z[f"{name}/{mode}/{key}"][: KEEP_TILES[instr]]
            for c in range(3):
                arrays[f"{name}/mmasim{c}/D"] = z[f"{name}/mmasim{c}/D"]
    gemms = {}
    with np.load(out / "h200_gemm.npz") as g:
        for key, (rows, cols) in KEEP_GEMMS.items():
            arrays[f"{key}/A"] = g[f"{key}/A"][:rows]
            arrays[f"{key}/BT"] = g[f"{key}/BT"][:cols]
            arrays[f"{key}/D"] = g[f"{key}/D"][:rows, :cols]
            fmt = key.split("_")[0]
            gemms[key] = {
                "recorded_as": key,
                "kept": f"first {rows} rows of A and D, first {cols} columns of B and D",
                "call": _CALLS[fmt].format(key.endswith("fast1")),
                "cuda_kernels": [
                    k
                    for k in meta["gemm_kernels"][key]
                    if not k.startswith(("cuda", "cu", "Activity", "Lazy", "Runtime", "INVALID"))
                ],
            }
    np.savez_compressed(HERE / "h200.npz", **arrays)
    keep = {k: v for k, v in meta.items() if k not in ("layout_self_check", "gemm_kernels")}
    kernels = {
        n: dict(
            zip(("instruction", "rows", "k", "a_format", "b_format", "d_format", "mmasim_id"), v)
        )
        for n, v in KERNELS.items()
    }
    committed = {
        **keep,
        "recorded": recorded,
        "layout_self_check": meta["layout_self_check"],
        "kernels": kernels,
        "tiles_kept": KEEP_TILES,
        "gemms": gemms,
    }
    (HERE / "meta.json").write_text(json.dumps(committed, indent=1))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--commit"]:
        commit(sys.argv[2])
    else:
        main(sys.argv[1])
