"""Co-design studies and the report (``numsim report``).

A registry of named studies (:data:`STUDIES`), each with frozen ``quick`` and ``full`` parameter
sets; a study turns its parameters into points, computes each point into tidy rows (list of
dicts) on a pluggable, resumable :class:`~numsim.studies.executor.Executor`, and
:mod:`numsim.studies.render` writes figures, CSVs, Markdown, HTML and a manifest.

Example::

    from numsim import studies
    with studies.Executor(jobs=2) as ex:
        path = studies.report("out/report", quick=True, executor=ex)
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from . import accumulator, datapath, formats, hwcost, hwloop, ptq
from .executor import Executor, RunStats, StudyError, cache_key

__all__ = [
    "STUDIES",
    "Executor",
    "RunStats",
    "Study",
    "StudyError",
    "cache_key",
    "memory_limit",
    "params",
    "report",
    "run_study",
    "select",
]


@dataclass(frozen=True)
class Study:
    """One study: its module (``Params``, ``points``, ``compute``) and its two parameter sets."""

    name: str
    title: str
    module: ModuleType
    quick: Any  #: the module's frozen ``Params`` for ``--quick``
    full: Any  #: the module's frozen ``Params`` for the full report
    available: Callable[[], str | None] = lambda: None  #: None, or why it cannot run here

    def points(self, p: Any) -> list[dict[str, Any]]:
        return self.module.points(p)


STUDIES: dict[str, Study] = {
    s.name: s
    for s in [
        Study(
            "formats",
            "Formats: quantization error against bits per value",
            formats,
            quick=formats.Params(rows=64, cols=1024, minilm_sentences=16, real_rows=512),
            full=formats.Params(rows=1024, cols=1024),
        ),
        Study(
            "datapath",
            "Datapaths: dot-product error against K",
            datapath,
            quick=datapath.Params(
                ks=(16, 128, 1024, 4096), distributions=("gaussian", "uniform_pos"), trials=32
            ),
            full=datapath.Params(),
        ),
        Study(
            "accumulator",
            "Integer accumulators: overflow and error against width",
            accumulator,
            quick=accumulator.Params(bits=(12, 14, 16, 18, 20, 22, 24), batch=16, axe_ks=(384,)),
            full=accumulator.Params(bits=tuple(range(10, 27)), batch=32),
        ),
        Study(
            "hwcost",
            "Hardware cost: RTL cells against quality",
            hwcost,
            quick=hwcost.Params(
                mx_sets=("mxfp8_e5m2-h100", "mxfp8_e4m3-b200"),
                block_size=2,
                int_bits=(16, 20, 24, 32),
                int_overflow=("wrap",),
            ),
            full=hwcost.Params(int_bits=(16, 18, 20, 22, 24, 28, 32, 40, 48)),
            available=hwcost.available,
        ),
        Study(
            "hwloop",
            "Hardware in the loop: model quality with every GEMM on a datapath preset",
            hwloop,
            # quick: a CDNA2 preset for AMD; the CDNA3 kernel (amdfast.late_matmul_f32) would
            # add about 45 CPU-s of Numba compilation to a cold quick report
            quick=hwloop.Params(
                models=("digits-cnn",),
                units=("a100-bf16", "h100-fp16", "mi210-fp16"),
                images=32,
            ),
            full=hwloop.Params(),
            available=hwloop.available,
        ),
        Study(
            "ptq",
            "PTQ: weight quantization methods against RTN",
            ptq,
            ptq.QUICK,
            ptq.FULL,
            ptq.available,
        ),
    ]
}


def select(names: Sequence[str] | None) -> list[Study]:
    """The studies named (all when None or empty), in registry order.

    Raises:
        StudyError: an unknown name.
    """
    for n in names or ():
        if n not in STUDIES:
            raise StudyError(f"study {n!r}: expected one of {', '.join(STUDIES)}")
    return [s for n, s in STUDIES.items() if not names or n in names]


def _coerce(study: str, field: dataclasses.Field, default: Any, text: str) -> Any:
    """``text`` as the type of the field's default (ints, strings, comma-separated tuples)."""
    try:
        if isinstance(default, tuple):
            kind = type(default[0]) if default else str
            return tuple(kind(v.strip()) for v in text.split(",") if v.strip())
        if isinstance(default, bool):
            return {"true": True, "false": False, "1": True, "0": False}[text.lower()]
        return type(default)(text)
    except (ValueError, KeyError) as e:
        raise StudyError(
            f"parameter {study}.{field.name}={text!r}: expected a value like {default!r}"
        ) from e


def params(study: Study, quick: bool, overrides: Mapping[str, str] | None = None) -> Any:
    """The study's parameter set with ``overrides`` (field name -> text) applied.

    Raises:
        StudyError: an unknown field, a value of the wrong type or a negative seed.
    """
    base = study.quick if quick else study.full
    fields = {f.name: f for f in dataclasses.fields(base)}
    changes = {}
    for key, text in (overrides or {}).items():
        if key not in fields:
            raise StudyError(
                f"parameter {study.name}.{key}: unknown; expected one of {', '.join(fields)}"
            )
        changes[key] = _coerce(study.name, fields[key], getattr(base, key), text)
        if key == "seed" and changes[key] < 0:  # numpy's generators take no negative seeds
            raise StudyError(f"parameter {study.name}.seed={text}: expected an integer >= 0")
    p = dataclasses.replace(base, **changes)
    _check_memory(study, p, changes)
    return p


def memory_limit() -> int:
    """Bytes one study point may hold: half of this machine's physical memory (the rule of
    ``numsim golden --count``)."""
    from ..cli_args import memory_bytes

    return memory_bytes() // 2


def _largest(study: Study, p: Any, name: str, limit: int) -> int:
    """The largest value of the size parameter ``name`` (other parameters as in ``p``) whose point
    fits in ``limit`` bytes (0 if none does); a tuple parameter is judged by its largest entry."""
    as_tuple = isinstance(getattr(p, name), tuple)

    def fits(v: int) -> bool:
        q = dataclasses.replace(p, **{name: (v,) if as_tuple else v})
        return study.module.point_bytes(q) <= limit

    lo, hi = 0, 1
    while fits(hi):
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # fits(lo), not fits(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def _check_memory(study: Study, p: Any, changes: Mapping[str, Any]) -> None:
    """Refuse overridden sizes whose points would not fit in memory, before anything runs (an
    allocation failing mid-study is a late, unclear error).

    Raises:
        StudyError: naming the parameter, its value and the largest value that fits here.
    """
    fields = getattr(study.module, "SIZE_FIELDS", ())
    sized = [k for k in fields if k in changes]
    if not sized:
        return
    limit = memory_limit()
    need = study.module.point_bytes(p)
    if need <= limit:
        return
    # the overridden size parameter that is furthest beyond what fits names the error
    best = None
    for name in sized:
        v = getattr(p, name)
        v = max(v, default=0) if isinstance(v, tuple) else v
        top = _largest(study, p, name, limit)
        if v > top and (best is None or v / max(top, 1) > best[1] / max(best[2], 1)):
            best = (name, v, top)
    name, v, top = best or (sized[0], getattr(p, sized[0]), 0)
    raise StudyError(
        f"parameter {study.name}.{name}={v}: one point would hold about {need / 2**30:,.1f} GiB; "
        f"expected at most {top:,d} with the other parameters as given (half of the "
        f"{2 * limit / 2**30:.1f} GiB of memory here)"
    )


def parse_overrides(items: Sequence[str], studies: Sequence[Study]) -> dict[str, dict[str, str]]:
    """``["study.field=value", ...]`` -> {study: {field: value}}.

    Raises:
        StudyError: malformed item, unknown or unselected study.
    """
    out: dict[str, dict[str, str]] = {}
    names = {s.name for s in studies}
    for item in items:
        head, eq, value = item.partition("=")
        study, dot, field = head.partition(".")
        if not eq or not dot or not field:
            raise StudyError(
                f"--param {item!r}: expected STUDY.NAME=VALUE (e.g. datapath.trials=64)"
            )
        if study not in STUDIES:
            raise StudyError(
                f"--param {item!r}: study {study!r}: expected one of {', '.join(STUDIES)}"
            )
        if study not in names:
            raise StudyError(f"--param {item!r}: study {study!r} is not selected")
        out.setdefault(study, {})[field] = value
    return out


def run_study(study: Study, p: Any, executor: Executor) -> tuple[list[dict[str, Any]], RunStats]:
    """All rows of one study under parameters ``p`` (points in order, rows in point order)."""
    pts = study.points(p)
    per_point, stats = executor.map(study.name, study.module.compute, pts)
    return [r for rows in per_point for r in rows], stats


def _writable_parent(out: Path) -> Path:
    """A new temporary folder beside ``out`` for the report to be written into, after checking
    that ``out`` may be replaced: a new folder, an empty one or an earlier report (a folder of
    other files is refused rather than deleted, and so are the current folder and those above)."""
    if out.exists() and not out.is_dir():
        raise StudyError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").is_file():
        raise StudyError(
            f"--out {out}: holds files and is not a numsim report (no manifest.json); the "
            "report replaces the folder, so give a new or empty folder"
        )
    if out.is_dir() and out.resolve() in (Path.cwd(), *Path.cwd().parents):
        raise StudyError(f"--out {out}: is the current folder or one above it; give another folder")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise StudyError(f"--out {out}: its parent folder {parent} does not exist")
    try:
        probe = tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent)
    except OSError as e:
        raise StudyError(f"--out {out}: cannot write in {parent} ({e.strerror or e})") from e
    return Path(probe)


def report(
    out: str | Path,
    quick: bool = False,
    names: Sequence[str] | None = None,
    overrides: Mapping[str, Mapping[str, str]] | None = None,
    executor: Executor | None = None,
    merge: bool = False,
) -> Path:
    """Run the selected studies and write the report into the folder ``out``.

    Everything is written into a temporary folder beside ``out`` and renamed into place at the
    end, so ``out`` is either the previous report or the complete new one, never half of one.

    Raises:
        StudyError: unknown study or parameter, unwritable ``out``; a study that was asked for by
            name and cannot run here (a study of the default selection that cannot run is listed
            in the report as not run, with the reason).

    With ``merge``, the studies of the report already in ``out`` that this run does not compute
    are carried into the new report unchanged (see :func:`render.merge_previous`).
    """
    from . import render

    studies = select(names)
    sets = {s.name: params(s, quick, (overrides or {}).get(s.name)) for s in studies}
    pts = {s.name: s.points(sets[s.name]) for s in studies}  # validates every parameter up front
    missing = {s.name: why for s in studies if (why := s.available())}
    if names and missing:
        raise StudyError(
            "; ".join(f"study {n!r} cannot run here: {why}" for n, why in missing.items())
        )
    if not str(out):
        raise StudyError("--out '': expected a folder path")
    out = Path(out)
    tmp = _writable_parent(out)
    own = executor is None
    ex = executor or Executor()
    try:
        results = []
        t_all = time.perf_counter()
        runnable = [s for s in studies if s.name not in missing]
        # all studies at once: on workers, different studies compute (and compile) concurrently
        ran = dict(
            zip(
                [s.name for s in runnable],
                ex.map_many([(s.name, s.module.compute, pts[s.name]) for s in runnable]),
            )
        )
        for s in studies:
            p = sets[s.name]
            entry: dict[str, Any] = {
                "name": s.name,
                "title": s.title,
                "params": dataclasses.asdict(p),
            }
            if s.name in missing:
                entry["skipped"] = missing[s.name]
            else:
                per_point, stats = ran[s.name]
                entry["rows"] = [r for rows in per_point for r in rows]
                entry["stats"] = {
                    "points": stats.points,
                    "computed": stats.computed,
                    "cached": stats.cached,
                    "compute_s": round(stats.compute_s, 3),
                    "cached_compute_s": round(stats.cached_s, 3),
                    "wall_s": round(stats.wall_s, 3),
                }
            results.append(entry)
        meta = {
            "mode": "quick" if quick else "full",
            "executor": ex.kind,
            "studies_concurrent": len(runnable) > 1 and ex.kind != "in process",
            "versions": render.versions(),
            "wall_s": round(time.perf_counter() - t_all, 3),
        }
        render.write_report(tmp, results, meta)
        if merge and (out / "manifest.json").exists():
            render.merge_previous(out, tmp, list(STUDIES))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp creates 0700; give the folder the usual mode
        old = None
        if out.exists():
            old = Path(
                tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.resolve().parent)
            )
            out.rename(old / "report")
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if own:
            ex.close()
    return out
