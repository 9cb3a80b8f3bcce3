"""Cost of a cold ``numsim report --quick``: wall and CPU seconds, per study, and what compiles.

One fresh ``numsim report --quick`` process on an empty Numba cache directory and an empty point
cache (so every point is computed and every kernel it needs is compiled), then, optionally, a
second one on the Numba cache the first wrote (points computed again, kernels loaded from disk).

What compiled is read from the Numba cache the run wrote: every ``cache=True`` kernel
specialization compiled is saved as one ``*.nbc`` file named after its module and function (the
``inline="always"`` helpers are compiled into them, not on their own). The file times give a
rough order of compilation (a worker saves a specialization when it finishes compiling it).

CPU seconds are those of the report process and its workers (``RUSAGE_CHILDREN``), less
sensitive than wall seconds to other work on a shared machine; the load average is printed next
to them.

Usage: ``python benchmarks/bench_report_cold.py [--jobs N] [--warm]``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np


def run(jobs: int | None, numba_dir: Path, work: Path) -> dict:
    """One ``numsim report --quick`` in a fresh process; its wall, CPU seconds and manifest."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(numba_dir))
    cmd = [sys.executable, "-m", "numsim", "report", "--quick", "--no-progress"]
    cmd += ["--cache", str(work / "points"), "--out", str(work / "out")]
    if jobs is not None:
        cmd += ["--jobs", str(jobs)]
    work.mkdir(parents=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()[0]
    t = time.perf_counter()
    res = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True)
    if res.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stderr}")
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    man = json.loads((work / "out" / "manifest.json").read_text())
    return {"wall": wall, "cpu": cpu, "load": (load0, os.getloadavg()[0]), "manifest": man}


def compiled(numba_dir: Path) -> collections.Counter[str]:
    """Specializations saved in a Numba cache directory, by ``module.function``."""
    out: collections.Counter[str] = collections.Counter()
    for p in numba_dir.rglob("*.nbc"):
        # <module>.<qualname>-<line>.py<ver>.<n>.nbc
        m = re.match(r"(.+)-\d+\.py\d+\.\d+\.nbc$", p.name)
        out[m.group(1) if m else p.name] += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=None, help="--jobs of the report (its default)")
    ap.add_argument("--warm", action="store_true", help="also run once on the cache written")
    args = ap.parse_args()
    print(
        f"# {platform.machine()}, {os.cpu_count()} CPUs, numpy {np.__version__}, "
        f"numba {numba.__version__}; --jobs {args.jobs or 'default'}"
    )
    with tempfile.TemporaryDirectory(prefix="numsim-cold-") as tmp:
        numba_dir = Path(tmp) / "numba"
        numba_dir.mkdir()
        runs = [("cold", run(args.jobs, numba_dir, Path(tmp) / "cold"))]
        kernels = compiled(numba_dir)
        if args.warm:
            runs.append(("cached kernels", run(args.jobs, numba_dir, Path(tmp) / "warm")))
    print("| run | wall s | CPU s | load average (start, end) | executor |")
    print("|---|---:|---:|---|---|")
    for label, r in runs:
        print(
            f"| {label} | {r['wall']:.0f} | {r['cpu']:.0f} | "
            f"{r['load'][0]:.1f}, {r['load'][1]:.1f} | {r['manifest']['executor']} |"
        )
    print("\n| study | points | compute s (sum of points), cold | wall s, cold |")
    print("|---|---:|---:|---:|")
    for name, s in runs[0][1]["manifest"]["studies"].items():
        st = s.get("stats")
        if st:
            print(f"| {name} | {st['points']} | {st['compute_s']:.0f} | {st['wall_s']:.0f} |")
        else:
            print(f"| {name} | not run: {s.get('skipped')} | | |")
    print(f"\n{sum(kernels.values())} specializations compiled, {len(kernels)} kernels:")
    for name, n in kernels.most_common():
        print(f"- {name}: {n}")


if __name__ == "__main__":
    main()
