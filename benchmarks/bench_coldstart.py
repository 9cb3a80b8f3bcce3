"""Cost of first use: seconds from a fresh process to the first result of a datapath call.

Each row runs in its own fresh Python process: ``import numsim`` then one small call
(``datapath.matmul`` on an FP8 preset, an AMD preset and an integer preset, and ``mx_matmul``),
first with an empty Numba cache directory (every kernel the call needs is compiled), then again
in another fresh process on the cache the first one wrote (kernels loaded from disk).

Usage: ``python benchmarks/bench_coldstart.py [--rows REGEX]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile

import numba
import numpy as np

#: label -> the statement that makes the first call (names A, B, dp, numsim are defined).
CASES = {
    "matmul h100-e4m3": "dp.matmul(A, B, dp.get('h100-e4m3'))",
    "matmul mi300-e4m3fnuz": "dp.matmul(A / 2, B / 2, dp.get('mi300-e4m3fnuz'))",
    "matmul int8-acc32": "dp.matmul(I, I.T, dp.get('int8-acc32'))",
    "matmul int8-acc16 (overflows)": "dp.matmul(I, I.T, dp.get('int8-acc16'))",
    "mx_matmul mxfp8_e4m3 ocp-mx-exact": (
        "dp.mx_matmul(numsim.encode(A, 'mxfp8_e4m3', axis=1), "
        "numsim.encode(B, 'mxfp8_e4m3', axis=0), dp.get('ocp-mx-exact'))"
    ),
    "mx_matmul mxfp8_e4m3 b200-mxf8f6f4": (
        "dp.mx_matmul(numsim.encode(A, 'mxfp8_e4m3', axis=1), "
        "numsim.encode(B, 'mxfp8_e4m3', axis=0), dp.get('b200-mxf8f6f4'))"
    ),
    "mx_matmul nvfp4 b200-mxf4nvf4": (
        "dp.mx_matmul(numsim.encode(A, 'nvfp4', axis=1), "
        "numsim.encode(B, 'nvfp4', axis=0), dp.get('b200-mxf4nvf4'))"
    ),
}

_CHILD = """
import json, time
t0 = time.perf_counter()
import numpy as np
import numsim
from numsim import datapath as dp
t1 = time.perf_counter()
rng = np.random.default_rng(0)
A = numsim.quantize(rng.standard_normal((16, 64)).astype(np.float32), 'fp8_e4m3')
B = numsim.quantize(rng.standard_normal((64, 16)).astype(np.float32), 'fp8_e4m3')
I = rng.integers(-128, 128, (16, 64)).astype(np.float64)
t2 = time.perf_counter()
{call}
t3 = time.perf_counter()
{call}
t4 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "inputs": t2 - t1, "first": t3 - t2, "second": t4 - t3}}))
"""


def child(call: str, cache_dir: str) -> dict[str, float]:
    """Run one fresh process on ``cache_dir``; its timings in seconds."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    res = subprocess.run(
        [sys.executable, "-c", _CHILD.format(call=call)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="", help="only the rows whose label matches this regex")
    args = ap.parse_args()
    print(
        f"# fresh process per cell; {platform.machine()}, {numba.config.NUMBA_NUM_THREADS} Numba "
        f"threads, numpy {np.__version__}, numba {numba.__version__}"
    )
    print(
        "| call | import s | first call, empty cache s | import s (cached) "
        "| first call, cached s | second call s |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for label, call in CASES.items():
        if not re.search(args.rows, label):
            continue
        with tempfile.TemporaryDirectory(prefix="numba-cold-") as cache:
            cold = child(call, cache)
            warm = child(call, cache)
        print(
            f"| {label} | {cold['import']:.1f} | {cold['first']:.1f} | {warm['import']:.1f} "
            f"| {warm['first']:.2f} | {warm['second']:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
