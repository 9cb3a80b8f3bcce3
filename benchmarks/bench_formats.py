"""Throughput of element casts and MX quantization against the anchors.

Anchors: ml_dtypes casts (C++), a vectorized numpy implementation of the same algorithms (each
checked bit for bit against numsim before it is timed), and numpy copy (the memory-bandwidth
limit). Usage: ``python benchmarks/bench_formats.py [--n 16777216] [--reps 5] [--rows REGEX]``;
``--rows`` times only the rows whose ``operation | implementation`` matches (the copy row always),
e.g. ``--rows '^mx.*quantize.*numsim$'`` for the MX fake-quantization rows.
"""

from __future__ import annotations

import argparse
import platform
import re
from collections.abc import Callable

import ml_dtypes
import numba
import numpy as np
from timing import bench

import numsim

_ML = {
    "fp8_e4m3": ml_dtypes.float8_e4m3fn,
    "fp6_e2m3": ml_dtypes.float6_e2m3fn,
    "fp4_e2m1": ml_dtypes.float4_e2m1fn,
    "fp8_e5m2": ml_dtypes.float8_e5m2,
    "fp6_e3m2": ml_dtypes.float6_e3m2fn,
}


# --- vectorized numpy implementations of the same algorithms (anchors) -----------------------
def np_mx_quantize(x: np.ndarray, fmt: numsim.BlockFormat) -> tuple[np.ndarray, np.ndarray]:
    """OCP MX quantization (floor rule, RNE, saturate) along the last axis; returns (values, scale
    codes)."""
    elem = fmt.element
    blocks = x.reshape(-1, fmt.block_size)
    amax = np.abs(blocks).max(axis=1, keepdims=True)
    _, e = np.frexp(amax)  # exponent from the bits: amax = m * 2**e, m in [0.5, 1)
    s = np.clip(np.where(amax == 0, -127, e - 1 - elem.emax), -127, 127)
    scaled = np.ldexp(blocks, -s)
    if isinstance(elem, numsim.IntFormat):
        q = np.clip(np.round(np.ldexp(scaled, elem.frac_bits)), -elem.max_int, elem.max_int)
        q = np.ldexp(q, -elem.frac_bits)
    else:
        q = np.clip(scaled, -elem.max, elem.max).astype(_ML[elem.name]).astype(np.float32)
    return np.ldexp(q, s).reshape(x.shape), (s + 127).astype(np.uint8).reshape(-1)


def np_nvfp4_quantize(x: np.ndarray) -> np.ndarray:
    """NVIDIA's NVFP4 reference quantizer in numpy float32 (ModelOpt nvfp4_tensor.py)."""
    s2 = np.float32(np.abs(x).max()) / np.float32(6 * 448)
    blocks = x.reshape(-1, 16)
    r = np.abs(blocks).max(axis=1, keepdims=True) / (np.float32(6) * s2)
    r[r == 0] = 1
    sb = r.astype(ml_dtypes.float8_e4m3fn).astype(np.float32)
    q = (blocks / (sb * s2)).astype(ml_dtypes.float4_e2m1fn).astype(np.float32)
    return (q * sb * s2).reshape(x.shape)


def main() -> None:
    """Print the benchmark table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=16 * 2**20)
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument(
        "--rows", default="", help="regex on 'operation | implementation': time only those rows"
    )
    args = ap.parse_args()
    pick = re.compile(args.rows)
    x = np.random.default_rng(0).standard_normal(args.n, dtype=np.float32) * 100
    n = x.size
    rows: list[tuple[str, str, tuple[float, float]]] = []

    def wanted(op: str, impls: tuple[str, ...]) -> bool:
        return any(pick.search(f"{op} | {impl}") for impl in impls)

    def add(op: str, impl: str, fn: Callable[[], object]) -> None:
        if not rows or wanted(op, (impl,)):
            rows.append((op, impl, bench(fn, args.reps)))

    dst = np.empty_like(x)
    add("copy f32 (bandwidth limit)", "numpy copyto", lambda: np.copyto(dst, x))

    # element casts with ml_dtypes' semantics (non-saturating), so that both compute the same codes
    if any(
        wanted(op, ("numsim", "ml_dtypes", "numpy take"))
        for op in ("f32 -> fp8_e4m3 codes", "fp8_e4m3 codes -> f32", "f32 -> fp8_e4m3 -> f32")
    ):
        codes = numsim.encode(x, "fp8_e4m3", profile="ml_dtypes")
        assert np.array_equal(codes, x.astype(ml_dtypes.float8_e4m3fn).view(np.uint8)), (
            "fp8 encode differs"
        )
        add(
            "f32 -> fp8_e4m3 codes",
            "numsim",
            lambda: numsim.encode(x, "fp8_e4m3", profile="ml_dtypes"),
        )
        add("f32 -> fp8_e4m3 codes", "ml_dtypes", lambda: x.astype(ml_dtypes.float8_e4m3fn))
        table = numsim.decode(np.arange(256, dtype=np.uint8), "fp8_e4m3")
        add("fp8_e4m3 codes -> f32", "numsim", lambda: numsim.decode(codes, "fp8_e4m3"))
        add(
            "fp8_e4m3 codes -> f32",
            "ml_dtypes",
            lambda: codes.view(ml_dtypes.float8_e4m3fn).astype(np.float32),
        )
        add("fp8_e4m3 codes -> f32", "numpy take", lambda: table[codes])
        add(
            "f32 -> fp8_e4m3 -> f32",
            "numsim",
            lambda: numsim.quantize(x, "fp8_e4m3", profile="ml_dtypes"),
        )
        add(
            "f32 -> fp8_e4m3 -> f32",
            "ml_dtypes",
            lambda: x.astype(ml_dtypes.float8_e4m3fn).astype(np.float32),
        )

    for name in ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e2m3", "mxfp6_e3m2", "mxfp4_e2m1", "mxint8"]:
        enc, quant = f"{name} encode (codes+scales)", f"{name} quantize (fake quant)"
        if not (wanted(enc, ("numsim",)) or wanted(quant, ("numsim", "numpy+ml_dtypes"))):
            continue
        fmt = numsim.formats.get(name)
        ref_vals, ref_scales = np_mx_quantize(x, fmt)
        blk = numsim.encode(x, name)
        assert np.array_equal(blk.scales.reshape(-1), ref_scales), (
            f"{name}: numpy anchor scales differ"
        )
        decoded = numsim.decode(blk)
        assert np.array_equal(decoded, ref_vals), f"{name}: numpy anchor values differ"
        assert np.array_equal(numsim.quantize(x, name).view(np.uint32), decoded.view(np.uint32)), (
            f"{name}: quantize differs from decode(encode)"
        )
        add(enc, "numsim", lambda name=name: numsim.encode(x, name))
        add(quant, "numsim", lambda name=name: numsim.quantize(x, name))
        add(quant, "numpy+ml_dtypes", lambda fmt=fmt: np_mx_quantize(x, fmt))
    if wanted("nvfp4 encode (codes+scales)", ("numsim",)) or wanted(
        "nvfp4 quantize (fake quant)", ("numsim", "numpy+ml_dtypes")
    ):
        assert np.array_equal(numsim.quantize(x, "nvfp4"), np_nvfp4_quantize(x)), (
            "nvfp4 numpy anchor differs"
        )
        add("nvfp4 encode (codes+scales)", "numsim", lambda: numsim.encode(x, "nvfp4"))
        add("nvfp4 quantize (fake quant)", "numsim", lambda: numsim.quantize(x, "nvfp4"))
        add("nvfp4 quantize (fake quant)", "numpy+ml_dtypes", lambda: np_nvfp4_quantize(x))

    copy_t = rows[0][2][0]
    ml = {op: t[0] for op, impl, t in rows if impl == "ml_dtypes"}
    print(
        f"{n / 2**20:.0f}M float32 values (N(0, 100^2)), {args.reps} runs after a warm-up; "
        f"{numba.config.NUMBA_NUM_THREADS} threads; numpy {np.__version__}, numba "
        f"{numba.__version__}, "
        f"ml_dtypes {ml_dtypes.__version__}; {platform.processor() or platform.machine()}"
    )
    print(
        "| operation | implementation | median ms | M values/s (median) | M values/s (best) | vs "
        "ml_dtypes "
        "| vs copy |\n|---|---|---:|---:|---:|---:|---:|"
    )
    for op, impl, (med, best) in rows:
        vs_ml = f"{ml[op] / med:.1f}x" if op in ml else ""
        print(
            f"| {op} | {impl} | {med * 1e3:.1f} | {n / med / 1e6:.0f} | {n / best / 1e6:.0f} | "
            f"{vs_ml} "
            f"| {copy_t / med:.2f} |"
        )


if __name__ == "__main__":
    main()
