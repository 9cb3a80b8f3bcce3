"""Command line: ``numsim formats``, ``numsim demo`` and ``numsim golden``."""

from __future__ import annotations

import argparse
import math
import sys
import time
from importlib import resources
from typing import Sequence

import numpy as np

from . import formats as F
from .codec import decode, encode, quantize


def _num(v: float) -> str:
    if v == 0:
        return "0"
    m, e = math.frexp(abs(v))
    if m == 0.5 and abs(e - 1) >= 8:  # a power of two, read from the bits
        return f"2^{e - 1}"
    return f"{v:.6g}"


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def formats_table() -> str:
    """The table printed by ``numsim formats``."""
    rows = []
    for name in F.names():
        f = F.get(name)
        if isinstance(f, F.BlockFormat):
            e = f.element
            sub = f" + {f.sub_scale_bits}b/{f.sub_block_size}" if f.sub_block_size else ""
            tensor = " + fp32/tensor" if f.tensor_scale else ""
            rows.append([name, "block", f"{e.total_bits}", _num(f.max), _num(e.min_normal * f.scale.min_normal),
                         _num(e.smallest_subnormal * f.scale.min_normal), "no", "scale",
                         f"{f.bits_per_value:g}", f"{e} x{f.block_size}, {f.scale}{sub}{tensor}"])
        else:
            kind = "int" if isinstance(f, F.IntFormat) else "float"
            rows.append([name, kind, str(f.total_bits), _num(f.max), _num(f.min_normal), _num(f.smallest_subnormal),
                         "yes" if f.has_inf else "no", "yes" if f.has_nan else "no", str(f.total_bits), ""])
    header = ["format", "kind", "bits", "max", "min normal", "min subnormal", "Inf", "NaN", "bits/value", "layout"]
    return _table(rows, header)


def load_demo_tensor() -> np.ndarray:
    """The embedded real tensor: all-MiniLM-L6-v2 layer 0 attention query weight (384 x 384)."""
    with resources.files("numsim").joinpath("data/minilm_l0_query.npz").open("rb") as fh:
        return np.load(fh)["weight"].astype(np.float32)


def demo_table(x: np.ndarray) -> str:
    """Quantize ``x`` in every signed format and tabulate the error (blocks along the last axis)."""
    rows = []
    power = float(np.sum(x.astype(np.float64) ** 2))
    amax = float(np.max(np.abs(x)))
    for name in F.names():
        f = F.get(name)
        if isinstance(f, F.BlockFormat):
            q = quantize(x, f, axis=-1).astype(np.float64)
            how = f"block of {f.block_size}"
            bits = f.bits_per_value
        else:
            if not getattr(f, "signed", True):
                continue  # unsigned scale formats (e8m0, ue4m3) cannot hold signed weights
            # one power-of-two scale for the whole tensor, chosen as the OCP floor rule would
            k = math.frexp(amax)[1] - 1 - f.emax
            q = quantize(np.ldexp(x.astype(np.float64), -k), f) * 2.0**k
            how = "tensor 2^k"
            bits = f.total_bits
        err = x.astype(np.float64) - q
        noise = float(np.sum(err**2))
        sqnr = math.inf if noise == 0 else 10 * math.log10(power / noise)
        rows.append((bits, [name, how, f"{bits:g}", f"{sqnr:.2f}", f"{np.sqrt(noise / x.size):.3e}",
                            f"{np.max(np.abs(err)):.3e}"]))
    rows.sort(key=lambda r: r[0])
    header = ["format", "scaling", "bits/value", "SQNR dB", "RMS error", "max error"]
    return _table([r for _, r in rows], header)


#: (unit, operand format) rows of the datapath demo: FP8 GEMMs on the published units, then MX.
_DEMO_UNITS = [("fma-fp32", "fp8_e4m3"), ("ada-e4m3", "fp8_e4m3"), ("h100-e4m3", "fp8_e4m3"),
               ("h100-e4m3-promote128", "fp8_e4m3"), ("b200-e4m3", "fp8_e4m3"), ("ocp-mx-exact", "fp8_e4m3"),
               ("ocp-mx-fp32acc", "fp8_e4m3"), ("mxdotp", "fp8_e4m3"), ("ocp-mx-exact", "mxfp8_e4m3"), ("ocp-mx-exact", "mxfp4_e2m1"),
               ("b200-e4m3", "mxfp4_e2m1"), ("h100-fp16", "fp16"), ("mi100-fp16", "fp16"), ("mi210-fp16", "fp16"),
               ("mi300-fp16", "fp16")]


def datapath_table(w: np.ndarray, batch: int = 128, seed: int = 0) -> str:
    """``w @ x`` for seeded N(0, 1) activations ``x`` on each demo unit: error against the exact
    product of the same quantized operands, and throughput."""
    from . import datapath as dp

    x = np.random.default_rng(seed).standard_normal((w.shape[1], batch)).astype(np.float32)
    rows = []
    for name, fmt_name in _DEMO_UNITS:
        unit = dp.get(name)
        fmt = F.get(fmt_name)
        t = time.perf_counter()
        if isinstance(fmt, F.BlockFormat):
            a, b = encode(w, fmt, axis=1), encode(x, fmt, axis=0)
            d = dp.mx_matmul(a, b, unit)
            qa, qb = decode(a).astype(np.float64), decode(b).astype(np.float64)
        else:
            k = math.frexp(float(np.max(np.abs(w))))[1] - 1 - fmt.emax  # power-of-two tensor scale
            qa = quantize(np.ldexp(w.astype(np.float64), -k), fmt)
            qb = quantize(x.astype(np.float64), fmt)
            d = np.ldexp(dp.matmul(qa, qb, unit).astype(np.float64), k)
            qa = np.ldexp(qa, k)
        seconds = time.perf_counter() - t
        exact = qa @ qb  # float64 reference of the same quantized operands
        err = d.astype(np.float64) - exact
        rel = float(np.linalg.norm(err) / np.linalg.norm(exact))
        grid = "tree" if unit.pairwise else "exact" if unit.frac_bits is None else str(unit.frac_bits)
        rows.append([name, fmt_name, f"{unit.n}", grid,
                     f"{rel:.2e}", f"{np.max(np.abs(err)) / np.max(np.abs(exact)):.2e}",
                     f"{w.size * batch / seconds / 1e9:.2f}"])
    header = ["unit", "operands", "N", "F", "rel. error (Frobenius)", "max error / max |D|", "G MAC/s"]
    return _table(rows, header)


def golden_main(args: argparse.Namespace) -> int:
    """``numsim golden``: write golden vector files and their manifest; print one line per file."""
    from . import golden

    try:
        sets = golden.select(args.unit, args.format)
    except KeyError as e:
        print(f"numsim golden: {e.args[0]}", file=sys.stderr)
        return 2
    total = [0, 0.0]

    def progress(ps: golden.ParamSet, entry: golden.FileEntry, seconds: float) -> None:
        total[0] += entry.count
        total[1] += seconds
        print(f"{ps.filename:36s} {entry.count:>10,d} vectors  sha256 {entry.sha256[:16]}  "
              f"{entry.count / max(seconds, 1e-9) / 1e6:6.2f} M vectors/s", file=sys.stderr if args.quiet else sys.stdout)

    try:
        manifest = golden.write_sets(args.out, sets, level=args.level, seed=args.seed, count=args.count,
                                     progress=progress)
    except ValueError as e:
        print(f"numsim golden: {e}", file=sys.stderr)
        return 2
    print(f"{len(sets)} files, {total[0]:,d} vectors in {total[1]:.2f} s "
          f"({total[0] / max(total[1], 1e-9) / 1e6:.2f} M vectors/s); manifest: {manifest.root / golden.vectors.MANIFEST}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``numsim`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["golden", "verify"]:  # numsim golden verify DIR: its own parser
        from .golden.verify import main as verify_main

        return verify_main(argv[2:])
    parser = argparse.ArgumentParser(prog="numsim", description="Bit-exact number formats for block-scaled hardware.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("formats", help="table of every registered format")
    demo = sub.add_parser("demo", help="quantize a real tensor in every format; print error and bits per value")
    demo.add_argument("--npy", help="a .npy file of float values to use instead of the embedded tensor")
    gold = sub.add_parser("golden", help="write TestFloat-style golden vectors for the RTL units, with a manifest",
                          description="Write golden vector files (<out>/<unit>/<set>.hex) and <out>/manifest.json. "
                          "Same arguments, same bytes. `numsim golden verify DIR` checks a written set.")
    gold.add_argument("unit", help="a unit (elem_decoder, elem_encoder, mx_encoder, mx_dot, fp32_acc, int_mac) "
                      "or 'all'")
    gold.add_argument("--format", help="only the parameter sets of this element format (e.g. fp8_e4m3, mxint8)")
    gold.add_argument("--level", type=int, default=1, choices=[1, 2],
                      help="1: default sets (CI); 2: more significand patterns and 2**20 random cases per set")
    gold.add_argument("--count", type=int, help="random cases per set (default by level; exhaustive units ignore it; fp32_acc "
                      "and int_mac: chains of 64 steps)")
    gold.add_argument("--seed", type=int, default=1, help="random stream seed (default 1)")
    gold.add_argument("--out", required=True, help="output directory")
    gold.add_argument("--quiet", action="store_true", help="per-file lines to stderr")
    sub.add_parser("ptq", help="post-training quantization of a torch model (needs numsim[ptq]; numsim ptq -h)")
    if list(sys.argv[1:] if argv is None else argv)[:1] == ["ptq"]:  # torch is imported only for ptq
        from .ptq.cli import main as ptq_main
        return ptq_main(list(sys.argv[1:] if argv is None else argv)[1:])
    args = parser.parse_args(argv)
    if args.command == "formats":
        print(formats_table())
        return 0
    if args.command == "golden":
        return golden_main(args)
    if args.npy:
        x = np.load(args.npy)
        if x.dtype.kind != "f" or x.ndim < 1:
            print(f"numsim demo: --npy {args.npy}: expected a float array, got {x.dtype} {x.shape}", file=sys.stderr)
            return 2
        x = x.astype(np.float32)
        what = args.npy
    else:
        x = load_demo_tensor()
        what = "all-MiniLM-L6-v2 encoder.layer.0.attention.self.query.weight"
    print(f"tensor: {what}, shape {x.shape}, std {x.std():.4g}, max |x| {np.abs(x).max():.4g}")
    print("blocks run along the last axis; policies: OCP defaults (nearest-even, saturate, floor scale)\n")
    print(demo_table(x))
    if x.ndim == 2:
        print(f"\nthe same tensor as the left operand of a GEMM with {128} seeded N(0, 1) activation columns, "
              "on dot-product unit models;\nerror against the exact product of the same quantized operands "
              "(the first call of each kernel includes its compilation)\n")
        print(datapath_table(x))
    return 0


if __name__ == "__main__":
    sys.exit(main())
