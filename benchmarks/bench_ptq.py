"""Seconds of post-training quantization on the emulators: ED and GPTQ over all of MiniLM's
linear layers (calibration forwards included), the same with a datapath preset in the loop,
and the digits CNN's training.

Usage: ``python benchmarks/bench_ptq.py [--calibration 16] [--format mxfp4_e2m1]
[--presets h100-e4m3,ocp-mx-exact,mi300-e4m3fnuz] [--skip-datapath] [--skip-digits]
[--blas-threads 1] [--points MXFP4/rtn,MXFP4/qep:gptq,NVFP4/gptq]``.

``--points`` runs MiniLM points of the ``ptq`` study instead, each as the study runs it
(``numsim.studies.ptq.compute``: quantization, then the held-out evaluation) at
``--calibration`` sentences (the study's default is 128), and prints per point the quantization
seconds (the study's ``seconds`` column), the evaluation seconds and the output error; the first
point also pays numba's compilation (from the disk cache once it is warm).

Torch runs on one thread and the BLAS under numpy on ``--blas-threads``
(as the ``ptq`` study's points do: a multi-threaded BLAS on an oversubscribed machine is many
times slower on the methods' small products). Each row is one run
(no repetitions: a run takes tens of seconds to minutes); the first run also pays numba's
compilation, so a warm-up RTN run goes first. With a datapath, inputs are MXFP8 E4M3 blocks for
an MX preset and per-tensor FP8 (E4M3, or E4M3FNUZ for AMD) with INT4 per-channel weights for
the others, and the attention products run on the unit too.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable

import numba
import torch
from threadpoolctl import threadpool_limits

from numsim.ptq import models, quantize_model

#: preset -> (weight format, input format)
DATAPATH_FORMATS = {
    "h100-e4m3": ("int4", "fp8_e4m3"),
    "ocp-mx-exact": ("mxfp4_e2m1", "mxfp8_e4m3"),
    "mi300-e4m3fnuz": ("int4", "fp8_e4m3fnuz"),
}


def timed(fn: Callable[..., object], *args: object, **kwargs: object) -> float:
    """Seconds of one call ``fn(*args, **kwargs)``."""
    t = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - t


def digits_training_seconds() -> float:
    """Train the digits CNN afresh (an empty cache folder) and time it."""
    old = os.environ.get("NUMSIM_CACHE")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["NUMSIM_CACHE"] = tmp
        try:
            return timed(models.get, "digits-cnn")
        finally:
            if old is None:
                del os.environ["NUMSIM_CACHE"]
            else:
                os.environ["NUMSIM_CACHE"] = old


def study_points(calibration: int, points: list[str]) -> None:
    """Time MiniLM points of the ``ptq`` study (its ``compute``, thread settings included)."""
    from numsim.studies import ptq as study

    t = time.perf_counter()
    study._spec("minilm")
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, numba "
        f"{numba.__version__}, {os.cpu_count()} cores; MiniLM loaded in "
        f"{time.perf_counter() - t:.1f} s; calibration {calibration} sentences; load average "
        f"{os.getloadavg()[0]:.2f}"
    )
    print("| format | method | quantization s | evaluation s | rel. output error | load |")
    print("|---|---|---:|---:|---:|---:|")
    total = 0.0
    for text in points:
        fmt, _, method = text.partition("/")
        point = {"model": "minilm", "format": fmt, "method": method, "calibration": calibration}
        t = time.perf_counter()
        row = study.compute({**point, "seed": 0})[0]
        wall = time.perf_counter() - t
        total += wall
        print(
            f"| {fmt} | {method} | {row['seconds']:.1f} | {wall - row['seconds']:.1f} | "
            f"{row['rel_output_error']:.4f} | {os.getloadavg()[0]:.2f} |",
            flush=True,
        )
    print(f"all points: {total:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calibration", type=int, default=16, help="MiniLM calibration sentences")
    ap.add_argument("--format", default="mxfp4_e2m1", help="weight format without a datapath")
    ap.add_argument("--presets", default=",".join(DATAPATH_FORMATS))
    ap.add_argument("--skip-datapath", action="store_true")
    ap.add_argument("--skip-digits", action="store_true")
    ap.add_argument("--blas-threads", type=int, default=1, help="threads of numpy's BLAS")
    ap.add_argument("--points", default="", help="study points FORMAT/METHOD, comma-separated")
    args = ap.parse_args()
    if args.points:
        study_points(args.calibration, args.points.split(","))
        return
    torch.set_num_threads(1)
    threadpool_limits(limits=args.blas_threads, user_api="blas")
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, numba "
        f"{numba.__version__}, {os.cpu_count()} cores, BLAS threads {args.blas_threads}; MiniLM "
        f"calibration {args.calibration} sentences"
    )
    spec = models.get("minilm")
    cal = spec.calibration(args.calibration, 0)
    n = sum(isinstance(m, torch.nn.Linear) for m in spec.model.modules())
    print(f"MiniLM: {n} Linear layers")
    rtn = timed(quantize_model, spec.model, cal, weight_format=args.format)
    print(
        f"| rtn (warm-up, includes compilation) | {args.format} | float | {rtn:.1f} |", flush=True
    )
    for method in ("ed", "gptq"):
        s = timed(quantize_model, spec.model, cal, weight_format=args.format, method=method)
        print(f"| {method} | {args.format} | float | {s:.1f} |", flush=True)
    if not args.skip_datapath:
        for preset in args.presets.split(","):
            wf, inf = DATAPATH_FORMATS[preset]
            s = timed(
                quantize_model,
                spec.model,
                cal,
                weight_format=wf,
                input_format=inf,
                datapath=preset,
                method="gptq",
            )
            print(f"| gptq | {wf}, inputs {inf} | {preset} | {s:.1f} |", flush=True)
    if not args.skip_digits:
        print(f"digits-cnn training: {digits_training_seconds():.1f} s", flush=True)


if __name__ == "__main__":
    main()
