"""Command line: ``numsim formats``, ``numsim demo``, ``numsim golden`` and ``numsim report``."""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import formats as F
from .cli_args import Parser, memory_bytes
from .codec import decode, encode, quantize
from .studies import cli as studies_cli
from .studies.data import load_demo_tensor


def _num(v: float) -> str:
    if v == 0:
        return "0"
    m, e = math.frexp(abs(v))
    if m == 0.5 and abs(e - 1) >= 8:  # a power of two, read from the bits
        return f"2^{e - 1}"
    return f"{v:.6g}"


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(
        c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))
    )
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
            rows.append(
                [
                    name,
                    "block",
                    f"{e.total_bits}",
                    _num(f.max),
                    _num(e.min_normal * f.scale.min_normal),
                    _num(e.smallest_subnormal * f.scale.min_normal),
                    "no",
                    "scale",
                    f"{f.bits_per_value:g}",
                    f"{e} x{f.block_size}, {f.scale}{sub}{tensor}",
                ]
            )
        else:
            kind = "int" if isinstance(f, F.IntFormat) else "float"
            rows.append(
                [
                    name,
                    kind,
                    str(f.total_bits),
                    _num(f.max),
                    _num(f.min_normal),
                    _num(f.smallest_subnormal),
                    "yes" if f.has_inf else "no",
                    "yes" if f.has_nan else "no",
                    str(f.total_bits),
                    "",
                ]
            )
    header = [
        "format",
        "kind",
        "bits",
        "max",
        "min normal",
        "min subnormal",
        "Inf",
        "NaN",
        "bits/value",
        "layout",
    ]
    return _table(rows, header)


def demo_rows(x: np.ndarray) -> list[dict]:
    """Quantize ``x`` in every signed format (blocks along the last axis): one tidy row per format
    with ``format``, ``scaling``, ``bits_per_value``, ``sqnr_db``, ``rms_error``, ``max_error``,
    sorted by bits per value."""
    from .studies.formats import errors, tensor_scaled

    rows = []
    for name in F.names():
        f = F.get(name)
        if isinstance(f, F.BlockFormat):
            q = quantize(x, f, axis=-1).astype(np.float64)
            how, bits = f"block of {f.block_size}", f.bits_per_value
        elif not getattr(f, "signed", True):
            continue  # unsigned scale formats (e8m0, ue4m3) cannot hold signed weights
        else:
            q, how, bits = tensor_scaled(x, f), "tensor 2^k", f.total_bits
        e = errors(x, q)
        rows.append(
            {
                "format": name,
                "scaling": how,
                "bits_per_value": float(bits),
                "sqnr_db": e["sqnr_db"],
                "rms_error": e["rms_error"],
                "max_error": e["max_abs_error"],
            }
        )
    return sorted(rows, key=lambda r: r["bits_per_value"])


def demo_table(x: np.ndarray) -> str:
    """The format table of ``numsim demo`` (rows of :func:`demo_rows`)."""
    rows = [
        [
            r["format"],
            r["scaling"],
            f"{r['bits_per_value']:g}",
            f"{r['sqnr_db']:.2f}",
            f"{r['rms_error']:.3e}",
            f"{r['max_error']:.3e}",
        ]
        for r in demo_rows(x)
    ]
    return _table(rows, ["format", "scaling", "bits/value", "SQNR dB", "RMS error", "max error"])


#: (unit, operand format) rows of the datapath demo: FP8 GEMMs on the published units, then MX.
_DEMO_UNITS = [
    ("fma-fp32", "fp8_e4m3"),
    ("ada-e4m3", "fp8_e4m3"),
    ("h100-e4m3", "fp8_e4m3"),
    ("h100-e4m3-promote128", "fp8_e4m3"),
    ("b200-e4m3", "fp8_e4m3"),
    ("ocp-mx-exact", "fp8_e4m3"),
    ("ocp-mx-fp32acc", "fp8_e4m3"),
    ("mxdotp", "fp8_e4m3"),
    ("ocp-mx-exact", "mxfp8_e4m3"),
    ("ocp-mx-exact", "mxfp4_e2m1"),
    ("b200-e4m3", "mxfp4_e2m1"),
    ("h100-fp16", "fp16"),
    ("mi100-fp16", "fp16"),
    ("mi210-fp16", "fp16"),
    ("mi300-fp16", "fp16"),
]


def _demo_gemm(
    w: np.ndarray, x: np.ndarray, name: str, fmt_name: str
) -> tuple[np.ndarray, np.ndarray]:
    """``w @ x`` on preset ``name`` with operands in ``fmt_name``, and the float64 product of the
    same quantized operands."""
    from . import datapath as dp

    unit, fmt = dp.get(name), F.get(fmt_name)
    if isinstance(fmt, F.BlockFormat):
        a, b = encode(w, fmt, axis=1), encode(x, fmt, axis=0)
        return dp.mx_matmul(a, b, unit), decode(a).astype(np.float64) @ decode(b).astype(np.float64)
    k = math.frexp(float(np.max(np.abs(w))))[1] - 1 - fmt.emax  # power-of-two tensor scale
    qa = quantize(np.ldexp(w.astype(np.float64), -k), fmt)
    qb = quantize(x.astype(np.float64), fmt)
    return np.ldexp(dp.matmul(qa, qb, unit).astype(np.float64), k), np.ldexp(qa, k) @ qb


def datapath_rows(w: np.ndarray, batch: int = 128, seed: int = 0) -> list[dict]:
    """``w @ x`` for seeded N(0, 1) activations ``x`` on each demo unit: one tidy row per unit with
    the error against the exact product of the same quantized operands (``rel_error``: Frobenius,
    ``max_error_rel``: max error / max |D|) and the throughput of a warm call (``gmacs``; a first
    call on a slice of the operands compiles the kernels and is not timed)."""
    from . import datapath as dp

    x = np.random.default_rng(seed).standard_normal((w.shape[1], batch)).astype(np.float32)
    rows = []
    for name, fmt_name in _DEMO_UNITS:
        unit = dp.get(name)
        _demo_gemm(w[:2], x[:, :2], name, fmt_name)  # warm-up: JIT compilation happens here
        t = time.perf_counter()
        d, exact = _demo_gemm(w, x, name, fmt_name)
        seconds = time.perf_counter() - t
        err = d.astype(np.float64) - exact
        grid = (
            "tree" if unit.pairwise else "exact" if unit.frac_bits is None else str(unit.frac_bits)
        )
        rows.append(
            {
                "unit": name,
                "operands": fmt_name,
                "n": unit.n,
                "grid": grid,
                "rel_error": float(np.linalg.norm(err) / np.linalg.norm(exact)),
                "max_error_rel": float(np.max(np.abs(err)) / np.max(np.abs(exact))),
                "gmacs": w.size * batch / seconds / 1e9,
            }
        )
    return rows


def datapath_table(w: np.ndarray, batch: int = 128, seed: int = 0) -> str:
    """The GEMM table of ``numsim demo`` (rows of :func:`datapath_rows`)."""
    rows = [
        [
            r["unit"],
            r["operands"],
            f"{r['n']}",
            r["grid"],
            f"{r['rel_error']:.2e}",
            f"{r['max_error_rel']:.2e}",
            f"{r['gmacs']:.2f}",
        ]
        for r in datapath_rows(w, batch, seed)
    ]
    header = [
        "unit",
        "operands",
        "N",
        "F",
        "rel. error (Frobenius)",
        "max error / max |D|",
        "G MAC/s",
    ]
    return _table(rows, header)


def load_npy(path: str) -> np.ndarray:
    """A ``.npy`` file of finite float values as float32 (at least 1-D, not empty).

    Raises:
        ValueError: the file is missing, unreadable, not a ``.npy`` array (pickles are refused),
            empty, not a float array, or holds NaN or Inf; the message says which.
        TypeError: the file is an ``.npz`` archive.
    """
    try:
        x = np.load(path, allow_pickle=False)
    except OSError as e:
        raise ValueError(e.strerror or str(e)) from None
    except (ValueError, EOFError) as e:
        raise ValueError(f"not a readable .npy array ({e})") from None
    if not isinstance(x, np.ndarray):
        raise TypeError("expected one .npy array, got an .npz archive")
    if x.dtype.kind != "f" or x.ndim < 1 or x.size == 0:
        raise ValueError(f"expected a non-empty float array, got {x.dtype} of shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("the array holds NaN or Inf: expected finite values")
    return x.astype(np.float32)


#: Memory held per ``--count`` case while a golden file is built, by unit (measured peak at 2**16
#: cases, rounded up; fp32_acc and int_mac: one chain of 64 steps). elem_decoder is exhaustive.
GOLDEN_CASE_BYTES = {
    "elem_decoder": 0,
    "elem_encoder": 1024,
    "mx_encoder": 4096,
    "mx_dot": 4096,
    "fp32_acc": 8192,
    "int_mac": 16384,
}


def count_limit(unit: str) -> int:
    """The largest ``numsim golden --count`` for ``unit`` whose cases fit in half of this
    machine's memory (no limit for a unit that ignores the count)."""
    per_case = GOLDEN_CASE_BYTES.get(unit, 16384)
    return memory_bytes() // 2 // per_case if per_case else sys.maxsize


def golden_main(args: argparse.Namespace) -> int:
    """``numsim golden``: write golden vector files and their manifest; print one line per file."""
    from . import golden

    try:
        sets = golden.select(args.unit, args.format)
    except KeyError as e:
        print(f"numsim golden: {e.args[0]}", file=sys.stderr)
        return 2
    if args.count is not None and args.count < 0:
        print(f"numsim golden: --count={args.count}: expected an int >= 0", file=sys.stderr)
        return 2
    if args.count is not None:
        for ps in sets:
            limit = count_limit(ps.unit)
            if args.count > limit:
                print(
                    f"numsim golden: --count={args.count}: at most {limit:,d} for {ps.unit} "
                    f"(about {GOLDEN_CASE_BYTES[ps.unit] // 1024} KiB per case are held in memory: "
                    f"half of the {memory_bytes() / 2**30:.1f} GiB here)",
                    file=sys.stderr,
                )
                return 2
    if not 0 <= args.seed < 1 << 32:
        print(f"numsim golden: --seed={args.seed}: expected an int in 0..2**32-1", file=sys.stderr)
        return 2
    out = Path(args.out)
    if not args.out or (out.exists() and not out.is_dir()):
        print(f"numsim golden: --out={args.out!r}: expected a directory path", file=sys.stderr)
        return 2
    total = [0, 0.0]

    def progress(ps: golden.ParamSet, entry: golden.FileEntry, seconds: float) -> None:
        total[0] += entry.count
        total[1] += seconds
        print(
            f"{ps.filename:36s} {entry.count:>10,d} vectors  sha256 {entry.sha256[:16]}  "
            f"{entry.count / max(seconds, 1e-9) / 1e6:6.2f} M vectors/s",
            file=sys.stderr if args.quiet else sys.stdout,
        )

    try:
        manifest = golden.write_sets(
            args.out, sets, level=args.level, seed=args.seed, count=args.count, progress=progress
        )
    except ValueError as e:
        print(f"numsim golden: {e}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"numsim golden: --count={args.count}: too many cases for memory", file=sys.stderr)
        return 2
    except OSError as e:  # unwritable, read-only file system, disk full
        print(f"numsim golden: --out={args.out!r}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(
        f"{len(sets)} files, {total[0]:,d} vectors in {total[1]:.2f} s "
        f"({total[0] / max(total[1], 1e-9) / 1e6:.2f} M vectors/s); manifest: "
        f"{manifest.root / golden.vectors.MANIFEST}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``numsim`` argument parser (``ptq`` and ``golden verify`` parse their own arguments:
    :func:`numsim.ptq.cli.build_parser`, :func:`numsim.golden.verify.build_parser`)."""
    parser = Parser(
        prog="numsim", description="Bit-exact number formats for block-scaled hardware."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("formats", help="table of every registered format")
    demo = sub.add_parser(
        "demo", help="quantize a real tensor in every format; print error and bits per value"
    )
    demo.add_argument(
        "--npy", help="a .npy file of float values to use instead of the embedded tensor"
    )
    gold = sub.add_parser(
        "golden",
        help="write TestFloat-style golden vectors for the RTL units, with a manifest",
        description="Write golden vector files (<out>/<unit>/<set>.hex) and <out>/manifest.json. "
        "Same arguments, same bytes. `numsim golden verify DIR` checks a written set.",
    )
    gold.add_argument(
        "unit",
        help="a unit (elem_decoder, elem_encoder, mx_encoder, mx_dot, fp32_acc, int_mac) or 'all'",
    )
    gold.add_argument(
        "--format", help="only the parameter sets of this element format (e.g. fp8_e4m3, mxint8)"
    )
    gold.add_argument(
        "--level",
        type=int,
        default=1,
        choices=[1, 2],
        help="1: default sets (CI); 2: more significand patterns and 2**20 random cases per set",
    )
    gold.add_argument(
        "--count",
        type=int,
        help="random cases per set (default by level; exhaustive units ignore it; fp32_acc "
        "and int_mac: chains of 64 steps)",
    )
    gold.add_argument("--seed", type=int, default=1, help="random stream seed (default 1)")
    gold.add_argument("--out", required=True, help="output directory")
    gold.add_argument("--quiet", action="store_true", help="per-file lines to stderr")
    studies_cli.add_parser(sub)
    sub.add_parser(
        "ptq", help="post-training quantization of a torch model (needs numsim[ptq]; numsim ptq -h)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``numsim`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["golden", "verify"]:  # numsim golden verify DIR: its own parser
        from .golden.verify import main as verify_main

        return verify_main(argv[2:])
    if argv[:1] == ["ptq"]:  # torch is imported only for ptq
        from .ptq.cli import main as ptq_main

        return ptq_main(argv[1:])
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # argparse would blame "numsim"; name the subcommand
        print(
            f"numsim {args.command}: unrecognized arguments: {' '.join(extra)} "
            f"(see numsim {args.command} -h)",
            file=sys.stderr,
        )
        return 2
    if args.command == "report":
        return studies_cli.run(args)
    if args.command == "formats":
        print(formats_table())
        return 0
    if args.command == "golden":
        return golden_main(args)
    if args.npy is not None:
        try:
            x = load_npy(args.npy)
        except (ValueError, TypeError) as e:
            print(f"numsim demo: --npy={args.npy!r}: {e}", file=sys.stderr)
            return 2
        what = args.npy
    else:
        x = load_demo_tensor()
        what = "all-MiniLM-L6-v2 encoder.layer.0.attention.self.query.weight"
    print(f"tensor: {what}, shape {x.shape}, std {x.std():.4g}, max |x| {np.abs(x).max():.4g}")
    print(
        "blocks run along the last axis; policies: OCP defaults (nearest-even, saturate, floor "
        "scale)\n"
    )
    print(demo_table(x))
    if x.ndim == 2:
        print(
            f"\nthe same tensor as the left operand of a GEMM with {128} seeded N(0, 1) activation "
            "columns, "
            "on dot-product unit models;\nerror against the exact product of the same quantized "
            "operands "
            "(throughput of warm calls: each kernel is compiled on a slice first)\n"
        )
        print(datapath_table(x))
    return 0


if __name__ == "__main__":
    sys.exit(main())
