"""``numsim ptq``: quantize a model's weights and write the weights, codes and report.

::

    numsim ptq --model digits-cnn --format mxfp4_e2m1 --method rtn --out out/

``--model`` is a registered model (``minilm``, ``digits-cnn``) or PATH: a file written with
``torch.save({"model": module, "calibration": [batch, ...]}, PATH)`` (a full module and its
calibration batches, each a tensor, tuple or dict as :func:`numsim.ptq.quantize_model` takes;
``--calibration N`` uses the first N batches). Loading PATH unpickles it: load only files you trust.

Written to ``--out`` (each file atomically): ``weights.pt`` (the quantized state_dict),
``codes.npz`` (per layer ``<name>.codes`` / ``.scales`` / ``.micro`` / ``.tensor_scale``) and
``report.json`` (the per-layer report, the layers left in float and, for registered models, the
metrics of the float and the quantized model).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..block import BlockArray


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        required=True,
        help="minilm, digits-cnn, or PATH of a torch.save'd "
        "{'model': module, 'calibration': [batches]}",
    )
    p.add_argument("--format", required=True, help="weight format (e.g. mxfp4_e2m1, int4)")
    p.add_argument("--method", default="rtn", help="PTQ method (numsim.ptq.METHODS; default rtn)")
    p.add_argument(
        "--input-format", help="also quantize the inputs of quantized layers to this format"
    )
    p.add_argument("--datapath", help="run every quantized product on this datapath preset")
    p.add_argument(
        "--calibration",
        type=int,
        default=32,
        help="calibration samples (registered models) or batches (PATH); default 32",
    )
    p.add_argument("--seed", type=int, default=0, help="calibration sample seed (default 0)")
    p.add_argument("--out", required=True, help="output directory")


def _check_args(args: argparse.Namespace) -> None:
    """Refuse, before any model is loaded, what needs no model: a bad ``--out``, a negative
    ``--calibration`` or ``--seed``, and unknown format, method and datapath names.

    Raises:
        ValueError: a bad ``--out``, ``--calibration`` or ``--seed``; the message names it.
        KeyError: an unknown ``--format``, ``--input-format``, ``--method`` or ``--datapath``.
    """
    from .. import datapath, formats
    from .methods import METHODS

    if not args.out:
        raise ValueError("--out '': expected a directory path")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {args.out}: exists and is not a directory")
    if args.calibration < 1:
        raise ValueError(f"--calibration {args.calibration}: expected a positive int")
    if args.seed < 0:
        raise ValueError(f"--seed {args.seed}: expected an int >= 0")
    for option, name in (("--format", args.format), ("--input-format", args.input_format)):
        if name is not None:
            try:
                formats.get(name)
            except KeyError as e:
                raise KeyError(f"{option} {name}: {e.args[0] if e.args else e}") from None
    if args.method not in METHODS:
        raise KeyError(f"--method {args.method}: expected one of {', '.join(sorted(METHODS))}")
    if args.datapath is not None:
        try:
            datapath.get(args.datapath)
        except KeyError as e:
            raise KeyError(f"--datapath {args.datapath}: {e.args[0] if e.args else e}") from None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"--out {args.out}: cannot create it ({e.strerror or e})") from None


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``ptq`` subcommand to an argparse subparsers object."""
    p = subparsers.add_parser(
        "ptq",
        help="post-training quantization of a torch model (needs numsim[ptq])",
        description=__doc__.split("\n\n")[0],
    )
    _arguments(p)
    return p


def _atomic(path: Path, write: Callable[[Any], None]) -> None:
    """Write through ``write(file object)`` to a temp file in ``path``'s directory, then rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def codes_arrays(codes: dict[str, Any]) -> dict[str, np.ndarray]:
    """Flatten the report's codes into named arrays for ``np.savez``."""
    out: dict[str, np.ndarray] = {}
    for name, c in codes.items():
        if isinstance(c, BlockArray):
            out[f"{name}.codes"], out[f"{name}.scales"] = c.codes, c.scales
            if c.micro is not None:
                out[f"{name}.micro"] = c.micro
            if c.tensor_scale is not None:
                out[f"{name}.tensor_scale"] = np.float32(c.tensor_scale)
        else:
            out[f"{name}.codes"], out[f"{name}.scales"] = np.asarray(c[0]), np.asarray(c[1])
    return out


def _load(args: argparse.Namespace) -> tuple[Any, list[Any], Any]:
    import torch

    from . import models

    if args.model in models.names():
        spec = models.get(args.model)
        try:
            calibration = spec.calibration(args.calibration, args.seed)
        except ValueError as e:
            raise ValueError(f"--calibration {args.calibration}: {e}") from None
        return spec.model, calibration, spec.evaluate
    path = Path(args.model)
    if not path.is_file():
        raise ValueError(
            f"--model {args.model}: not a registered model ({models.names()}) nor a file"
        )
    try:
        obj = torch.load(path, weights_only=False, map_location="cpu")
    except (  # a truncated, foreign or corrupt file: what pickle, zipfile and torch raise
        OSError,
        EOFError,
        pickle.UnpicklingError,
        RuntimeError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        ImportError,
    ) as e:
        raise ValueError(
            f"--model {args.model}: not a readable torch.save file ({type(e).__name__}: {e})"
        ) from None
    if not (
        isinstance(obj, dict)
        and isinstance(obj.get("model"), torch.nn.Module)
        and isinstance(obj.get("calibration"), (list, tuple))
    ):
        raise TypeError(
            f"--model {args.model}: expected a torch.save'd dict {{'model': nn.Module, "
            "'calibration': [batches]}"
        )
    if args.calibration < 1:
        raise ValueError(f"--calibration {args.calibration}: expected a positive number of batches")
    return obj["model"], list(obj["calibration"])[: args.calibration], None


def run(args: argparse.Namespace) -> int:
    """Run the ``ptq`` subcommand; returns the exit status."""
    import torch
    from tqdm import tqdm

    from .api import quantize_model

    try:
        _check_args(args)
        model, calibration, evaluate = _load(args)
        out = Path(args.out)
        with tqdm(desc="layers", unit="layer", file=sys.stderr) as bar:

            def progress(done: int, total: int, name: str) -> None:
                bar.total = total
                bar.set_postfix_str(name)
                bar.update(done - bar.n)

            qmodel, report = quantize_model(
                model,
                calibration,
                weight_format=args.format,
                method=args.method,
                input_format=args.input_format,
                datapath=args.datapath,
                progress=progress,
            )
    except (KeyError, TypeError, ValueError, ImportError, NotImplementedError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc  # no quotes
        print(f"numsim ptq: {msg}", file=sys.stderr)
        return 2
    print(report.table())
    summary = report.to_json()
    if evaluate is not None:
        summary["metrics"] = {"float": evaluate(model), "quantized": evaluate(qmodel)}
        for k, v in summary["metrics"].items():
            print(f"{k}: " + ", ".join(f"{m} {x:.4f}" for m, x in v.items()))
    try:
        _atomic(out / "weights.pt", lambda fh: torch.save(qmodel.state_dict(), fh))
        _atomic(out / "codes.npz", lambda fh: np.savez(fh, **codes_arrays(report.codes)))
        _atomic(out / "report.json", lambda fh: fh.write(json.dumps(summary, indent=2).encode()))
    except OSError as e:  # removed or unwritable since the check, disk full
        print(f"numsim ptq: --out {args.out}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(f"wrote {out / 'weights.pt'}, {out / 'codes.npz'}, {out / 'report.json'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``numsim ptq`` argument parser (usage errors in one line)."""
    from ..cli_args import Parser

    p = Parser(prog="numsim ptq", description=__doc__.split("\n\n")[0])
    _arguments(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``numsim ptq`` arguments (without the subcommand word)."""
    return run(build_parser().parse_args(argv))
