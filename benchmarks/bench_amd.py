"""Throughput of the AMD matrix-core presets (``mi100-*``, ``mi210-*``, ``mi300-*``) on
``numsim.datapath.matmul`` against float32 BLAS in the same run.

Usage: ``python benchmarks/bench_amd.py [--size 256] [--reps 3] [--rows REGEX]``. Operands are
N(0, 1) values quantized (nearest even) to each preset's input format; C is zero. Every row is
bit-exact (tests/test_datapath.py and tests/test_fast_paths.py hold each path to the Fraction
reference; tests/test_mmasim.py to MMA-Sim).
"""

from __future__ import annotations

import argparse
import platform
import re

import numba
import numpy as np
from timing import bench

import numsim
from numsim import datapath as dp

#: (preset, operand format of A, of B); ``b200-fp16`` is a reference row: the vectorized NVIDIA
#: kernel whose quiet-machine throughput benchmarks/README.md records.
ROWS = (
    ("b200-fp16", "fp16", "fp16"),
    ("mi100-fp16", "fp16", "fp16"),
    ("mi100-bf16", "bf16", "bf16"),
    ("mi210-fp16", "fp16", "fp16"),
    ("mi210-bf16", "bf16", "bf16"),
    ("mi210-bf16-n2", "bf16", "bf16"),
    ("mi300-fp16", "fp16", "fp16"),
    ("mi300-bf16", "bf16", "bf16"),
    ("mi300-xf32", "tf32", "tf32"),
    ("mi300-e4m3fnuz", "fp8_e4m3fnuz", "fp8_e4m3fnuz"),
    ("mi300-e5m2fnuz", "fp8_e5m2fnuz", "fp8_e5m2fnuz"),
    ("mi300-e4m3fnuzxe5m2fnuz", "fp8_e4m3fnuz", "fp8_e5m2fnuz"),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256, help="M = K = N")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rows", default="", help="regex: run only the presets that match")
    args = ap.parse_args()
    n = args.size
    rng = np.random.default_rng(0)
    G = rng.standard_normal((n, n)).astype(np.float32)
    H = rng.standard_normal((n, n)).astype(np.float32)
    names = set(dp.names())
    print(
        f"# matmul {n}x{n}x{n}; {platform.machine()}, {numba.config.NUMBA_NUM_THREADS} Numba "
        f"threads, numpy {np.__version__}, numba {numba.__version__}"
    )
    print()
    print("| unit | median ms | G MAC/s (median) | G MAC/s (best) | vs float32 BLAS |")
    print("|---|---:|---:|---:|---:|")
    blas, _ = bench(lambda: G @ H, max(args.reps, 5))
    print(f"| float32 BLAS (numpy matmul) | {blas * 1e3:.2f} | {n**3 / blas / 1e9:.3f} | | 100% |")
    for name, fa, fb in ROWS:
        if args.rows and not re.search(args.rows, name):
            continue
        if name not in names:
            print(f"| {name} | (no preset) | | | |")
            continue
        A = numsim.quantize(G, fa).astype(np.float64)
        B = numsim.quantize(H, fb).astype(np.float64)
        unit = dp.get(name)
        med, best = bench(lambda A=A, B=B, unit=unit: dp.matmul(A, B, unit), args.reps)
        print(
            f"| {name} | {med * 1e3:.1f} | {n**3 / med / 1e9:.3f} | {n**3 / best / 1e9:.3f} | "
            f"{100 * blas / med:.2f}% |",
            flush=True,
        )


if __name__ == "__main__":
    main()
