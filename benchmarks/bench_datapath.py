"""Throughput of datapath GEMM emulation against float32 / float64 BLAS (numpy matmul) in the same
run.

Usage: ``python benchmarks/bench_datapath.py [--size 1024] [--reps 5]``. Inputs are N(0, 1) values
quantized to FP8 E4M3 (int8 for the integer unit; MX, NVFP4 and MX9/6/4 blocks of N(0, 1) values
for the ``mx_matmul`` rows; float64 N(0, 1) values for ``fma-fp64``, to compare with the float64
BLAS row); every numsim row is bit-exact (tests/test_datapath.py holds each
path to the Fraction reference). ``--rows REGEX`` runs only the matching rows (and the anchor).
"""

from __future__ import annotations

import argparse
import platform
import re
from collections.abc import Callable

import numba
import numpy as np
from timing import bench

import numsim
from numsim import datapath as dp
from numsim.datapath import api as dp_api

#: MX operand formats of the ``mx_matmul`` rows (MXFP8 E4M3 reuses the FP8 inputs).
_MX_FORMATS = ("mxfp4_e2m1", "nvfp4", "mx9", "mx6", "mx4")
#: (operand format, unit) of the ``mx_matmul`` rows.
_MX_ROWS = (
    ("mxfp8_e4m3", "ocp-mx-exact"),
    ("mxfp8_e4m3", "ocp-mx-fp32acc"),
    ("mxfp8_e4m3", "mxdotp"),
    ("mxfp8_e4m3", "b200-mxf8f6f4"),
    ("mxfp4_e2m1", "ocp-mx-exact"),
    ("mxfp4_e2m1", "b200-mxf8f6f4"),
    ("mxfp4_e2m1", "b200-mxf4nvf4"),
    ("nvfp4", "ocp-mx-exact"),
    ("nvfp4", "b200-mxf4nvf4"),
    ("mx9", "ocp-mx-exact"),
    ("mx6", "ocp-mx-exact"),
    ("mx4", "ocp-mx-exact"),
)


def _truncation_path(unit: str) -> str:
    """The path label of a chained truncating preset: the one ``numsim.datapath.matmul``'s
    dispatch takes for it (numsim.datapath.api): the lane kernel (``fastdot.chain_lanes_f32``)
    where ``_chain_lanes_ok`` admits the unit, else the per-block vectorized sums
    (``fastdot.matmul_fast``; e.g. ``promote`` chunks)."""
    if dp_api._chain_lanes_ok(dp.get(unit)):
        return "lane kernel (chained truncation)"
    return "vectorized truncation"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024, help="M = K = N")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rows", default="", help="regex: run only the rows whose label matches")
    args = ap.parse_args()
    n = args.size
    rng = np.random.default_rng(0)
    A = numsim.quantize(rng.standard_normal((n, n)).astype(np.float32), "fp8_e4m3")
    B = numsim.quantize(rng.standard_normal((n, n)).astype(np.float32), "fp8_e4m3")
    A64, B64 = A.astype(np.float64), B.astype(np.float64)
    Ai = rng.integers(-128, 128, (n, n)).astype(np.float64)
    Bi = rng.integers(-128, 128, (n, n)).astype(np.float64)
    G = rng.standard_normal((n, n)).astype(np.float32)
    H = rng.standard_normal((n, n)).astype(np.float32)
    D64, E64 = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    MA = numsim.encode(A, "mxfp8_e4m3", axis=1)
    MB = numsim.encode(B, "mxfp8_e4m3", axis=0)
    mx_ops = {f: (numsim.encode(G, f, axis=1), numsim.encode(H, f, axis=0)) for f in _MX_FORMATS}
    macs = n**3

    def mx_row(fmt: str, unit: str) -> tuple[str, str, Callable[[], object], int]:
        """A benchmark row of ``dp.mx_matmul`` of N(0, 1) values encoded in ``fmt`` on ``unit``."""
        a, b = (MA, MB) if fmt == "mxfp8_e4m3" else mx_ops[fmt]
        return (
            f"{fmt} mx_matmul, {unit}",
            "mx_matmul",
            lambda: dp.mx_matmul(a, b, dp.get(unit)),
            max(1, args.reps // 2),
        )

    def unit_row(
        label: str, path: str, a: np.ndarray, b: np.ndarray, unit: str
    ) -> tuple[str, str, Callable[[], object], int]:
        """A benchmark row of ``dp.matmul(a, b)`` on the preset ``unit``."""
        return label, path, lambda: dp.matmul(a, b, dp.get(unit)), args.reps

    rows: list[tuple[str, str, Callable[[], object], int]] = [
        ("float32 BLAS (numpy matmul)", "anchor", lambda: A @ B, args.reps),
        ("float64 BLAS (numpy matmul)", "anchor", lambda: A64 @ B64, args.reps),
        *(
            unit_row(label, _truncation_path(unit), A, B, unit)
            for label, unit in (
                ("h100-e4m3 (N=32, F=13, RZ)", "h100-e4m3"),
                ("h100-e4m3-promote128", "h100-e4m3-promote128"),
                ("b200-e4m3 (N=32, F=25, RZ)", "b200-e4m3"),
            )
        ),
        unit_row(
            "ocp-mx-exact (exact over K, one rounding)", "float64 BLAS exact", A, B, "ocp-mx-exact"
        ),
        unit_row(
            "ocp-mx-fp32acc (exact blocks, FP32 sum)", "float64 BLAS exact", A, B, "ocp-mx-fp32acc"
        ),
        unit_row("mxdotp (N=8, exact, early acc.)", "float64 BLAS exact", A, B, "mxdotp"),
        unit_row("int8-acc32 (int8 inputs)", "integer register", Ai, Bi, "int8-acc32"),
        unit_row("fma-fp64 (float64 inputs)", "binary64 FMA chain", D64, E64, "fma-fp64"),
        *(mx_row(f, u) for f, u in _MX_ROWS),
    ]
    if args.rows:
        rows = [r for i, r in enumerate(rows) if i == 0 or re.search(args.rows, r[0])]
    print(
        f"# matmul {n}x{n}x{n}; {platform.machine()}, {numba.config.NUMBA_NUM_THREADS} Numba "
        "threads, "
        f"numpy {np.__version__}, numba {numba.__version__}"
    )
    print()
    print("| unit | path | median ms | G MAC/s (median) | G MAC/s (best) | vs float32 BLAS |")
    print("|---|---|---:|---:|---:|---:|")
    blas = None
    for name, path, fn, reps in rows:
        med, best = bench(fn, reps)
        if blas is None:
            blas = med
        print(
            f"| {name} | {path} | {med * 1e3:.1f} | {macs / med / 1e9:.3f} | "
            f"{macs / best / 1e9:.3f} | "
            f"{100 * blas / med:.1f}% |",
            flush=True,
        )


if __name__ == "__main__":
    main()
