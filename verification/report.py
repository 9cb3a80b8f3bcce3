"""Measure the tables of verification/README.md: vectors, simulator throughput, area.

Usage: ``.venv/bin/python -m verification.report [--no-synth] [--repeat N]`` (from the repository
root) prints Markdown.

Per unit and parameter set: vectors in the default golden file (level 1, seed 1), the stream
throughput of each simulator (vectors per second of ``runner.test`` wall time, simulator start
included, build excluded; best of ``--repeat``), and yosys 0.23's cell count and transistor
estimate of the full-size unit (``numsim.rtl.synth_stat``: ``synth -flatten -noshare``). Also the
golden generation rate.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time

from numsim import golden
from numsim import rtl as nrtl
from verification import sim_harness as h


def golden_rate(repeat: int) -> tuple[int, float]:
    """(vectors, best seconds) of writing the default set (`numsim golden all`)."""
    best = float("inf")
    total = 0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            man = golden.write_sets(tmp)
            best = min(best, time.perf_counter() - t0)
            total = sum(e.count for e in man.files.values())
    return total, best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-synth", action="store_true", help="skip yosys")
    ap.add_argument("--repeat", type=int, default=2, help="stream runs per simulator (best kept)")
    ap.add_argument("--units", nargs="*", help="only these units (default: all)")
    ap.add_argument(
        "--no-golden-rate", action="store_true", help="skip timing the golden generation"
    )
    args = ap.parse_args(argv)
    sims = [s for s in h.SIMULATORS if h.missing(s) is None]
    golden.write_sets(h.BUILD_ROOT / "golden")  # warm numba, then time a clean generation
    print(
        f"Machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}; "
        f"simulators: {', '.join(sims)}\n"
    )
    if not args.no_golden_rate:
        n, secs = golden_rate(args.repeat)
        print(
            f"Golden generation (`numsim golden all`, best of {args.repeat}): {n:,d} vectors in "
            f"{secs:.2f} s = "
            f"{n / secs / 1e6:.2f} M vectors/s (hex formatting and sha256 included)\n"
        )
    from verification.test_rtl_datapath import stream_file

    man = golden.Manifest.load(h.BUILD_ROOT / "golden")
    head = [
        "unit",
        "parameter set",
        "vectors",
        *[f"{s} vectors/s" for s in sims],
        "cells",
        "transistors",
    ]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    totals: dict[str, list[int]] = {}
    for u in golden.UNITS.values():
        if args.units and u.name not in args.units:
            continue
        for ps in u.sets:
            path = man.root / ps.filename
            vf = golden.read(path, manifest=man)
            elems = vf.count * (max(1, vf.columns[0].lanes))
            t = totals.setdefault(u.name, [0, 0])
            t[0] += vf.count
            t[1] += elems
            rates = []
            for sim in sims:
                b = h.build(sim, u.name, vf.header["rtl"])
                best = float("inf")
                # the datapath units stream a subset under Icarus
                # (verification/test_rtl_datapath.py)
                run_vf, run_path = (
                    stream_file(sim, u.name, vf, path, b.build_dir)
                    if u.name in ("mx_dot", "fp32_acc", "int_mac")
                    else (vf, path)
                )
                for _ in range(args.repeat):
                    rep = h.run_stream(b, run_path, b.build_dir / f"{ps.name}.report.report")
                    if rep.errors or rep.count != run_vf.count:
                        print(h.describe(run_vf, rep, f"{u.name} {ps.name} {sim}"), file=sys.stderr)
                        return 1
                    best = min(best, rep.seconds)
                sub = f" ({run_vf.count:,d} rows)" if run_vf is not vf else ""
                rates.append(f"{run_vf.count / best:,.0f}{sub}")
            cells = trans = ""
            if not args.no_synth and shutil.which("yosys"):
                st = nrtl.synth_stat(u.name, ps.rtl_params())
                cells, trans = f"{st.cells:,d}", f"{st.transistors:,d}"
            count = f"{vf.count:,d}" + (
                f" blocks ({elems:,d} elements)" if elems != vf.count else ""
            )
            print(
                f"| {u.name} | {ps.name} | {count} | "
                + " | ".join(rates)
                + f" | {cells} | {trans} |"
            )
            sys.stdout.flush()
    print()
    for name, (count, elems) in totals.items():
        extra = f" ({elems:,d} elements)" if elems != count else ""
        print(f"- {name}: {count:,d} vectors{extra} in total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
