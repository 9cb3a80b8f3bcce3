"""``numsim report``: run the co-design studies and write the report folder."""

from __future__ import annotations

import argparse
import sys
from typing import Any

#: Most local workers ``--jobs`` starts by default (each pays numsim's import and, on a cold Numba
#: cache, the compilation of the kernels its points need).
DEFAULT_JOBS_MAX = 4


def default_jobs() -> int:
    """``--jobs`` when not given: the CPUs here, at most :data:`DEFAULT_JOBS_MAX`."""
    import os

    return max(1, min(os.cpu_count() or 1, DEFAULT_JOBS_MAX))


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``report`` subcommand to the ``numsim`` argument parser."""
    from . import STUDIES

    p = subparsers.add_parser(
        "report",
        help="run the co-design studies; write figures, CSVs, Markdown, HTML and a manifest",
        description="Run the co-design studies ("
        + ", ".join(STUDIES)
        + ") and write the report into --out "
        "(written beside it and renamed into place). Finished points are cached, so an interrupted "
        "run resumes.",
    )
    p.add_argument(
        "--quick", action="store_true", help="small parameter sets (minutes on two cores)"
    )
    p.add_argument(
        "--study", action="append", metavar="NAME", help="run only this study (repeatable)"
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="STUDY.NAME=VALUE",
        help="override one parameter, e.g. datapath.trials=64 or datapath.ks=16,256 (repeatable)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a Dask scheduler address (tcp://host:8786); default: local processes",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="local worker processes; the studies run on them concurrently (default: the CPUs "
        f"here, at most {DEFAULT_JOBS_MAX}; 1: in this process, one study after the other)",
    )
    p.add_argument(
        "--cache",
        metavar="DIR",
        help="point cache (default $NUMSIM_CACHE or ~/.cache/numsim/studies)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument(
        "--merge",
        action="store_true",
        help="keep the studies of the report already in --out that this run does not compute "
        "(e.g. --study ptq --merge reruns one study of a committed report)",
    )
    p.add_argument("--out", required=True, help="output folder")
    return p


def _check_scheduler(address: str) -> str | None:
    """Why ``--scheduler address`` cannot name a Dask scheduler (None when it can): a known
    protocol and, for network protocols, a host and a port. Checked before ``distributed``
    builds a client, whose failed construction leaves a traceback at interpreter exit."""
    try:
        from distributed.comm.addressing import parse_address, parse_host_port
        from distributed.comm.registry import backends
    except ImportError:  # the executor says that dask.distributed is missing
        return None
    try:
        scheme, location = parse_address(address)
        if scheme not in backends:
            return f"unknown protocol {scheme!r} (expected one of {', '.join(sorted(backends))})"
        if scheme != "inproc":
            parse_host_port(location)
    except (ValueError, TypeError) as e:
        return str(e)
    return None


def _check_args(args: argparse.Namespace) -> str | None:
    """The one-line reason the arguments of ``numsim report`` are refused before any study runs,
    or None (``--out`` is checked by :func:`numsim.studies.report`, before any study runs too)."""
    import os
    from pathlib import Path

    cpus = os.cpu_count() or 1
    if args.jobs is not None and not 1 <= args.jobs <= 4 * cpus:
        return f"--jobs {args.jobs}: expected an int in 1..{4 * cpus} (4 x the {cpus} CPUs here)"
    if args.scheduler is not None:
        why = _check_scheduler(args.scheduler)
        if why is not None:
            return (
                f"--scheduler {args.scheduler}: {why}; expected a Dask scheduler address such as "
                "tcp://host:8786"
            )
    if args.cache is not None:
        cache = Path(args.cache)
        if not args.cache or (cache.exists() and not cache.is_dir()):
            return f"--cache {args.cache!r}: expected a folder path"
        base = next(p for p in (cache.absolute(), *cache.absolute().parents) if p.exists())
        if not base.is_dir() or not os.access(base, os.W_OK | os.X_OK):
            return f"--cache {args.cache}: cannot create it ({base} is not a writable folder)"
    return None


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def run(args: argparse.Namespace) -> int:
    """Run ``numsim report``; print where the report is. Returns the exit status."""
    import importlib.util
    import signal
    import threading

    from . import Executor, StudyError, parse_overrides, report, select

    missing = [m for m in ("matplotlib", "tqdm") if importlib.util.find_spec(m) is None]
    if missing:
        print(
            f"numsim report: needs {' and '.join(missing)}: pip install 'numsim[report]'",
            file=sys.stderr,
        )
        return 2
    why = _check_args(args)
    if why is not None:
        print(f"numsim report: {why}", file=sys.stderr)
        return 2
    # SIGTERM unwinds like Ctrl-C, so the temporary report folder is removed (finished points stay
    # cached)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main else None
    try:
        studies = select(args.study)
        overrides = parse_overrides(args.param, studies)
        with Executor(
            jobs=default_jobs() if args.jobs is None else args.jobs,
            scheduler=args.scheduler,
            cache_dir=args.cache,
            progress=not args.no_progress,
        ) as ex:
            out = report(
                args.out,
                quick=args.quick,
                names=args.study,
                overrides=overrides,
                executor=ex,
                merge=args.merge,
            )
    except (StudyError, KeyError, ValueError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"numsim report: {msg}", file=sys.stderr)
        return 2
    except MemoryError as e:  # a --param size (trials, batch) beyond this machine's memory
        print(
            f"numsim report: out of memory ({e}); lower the sizes given with --param",
            file=sys.stderr,
        )
        return 2
    except OSError as e:  # a folder removed or made unwritable during the run, disk full
        where = f" ({e.filename})" if e.filename else ""
        print(f"numsim report: {e.strerror or e}{where}", file=sys.stderr)
        return 1
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
    print(
        f"report: {out / 'index.html'} (Markdown: {out / 'index.md'}; manifest: "
        f"{out / 'manifest.json'})"
    )
    return 0
