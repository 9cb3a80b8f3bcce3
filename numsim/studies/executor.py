"""One pluggable executor for the studies: local processes or a Dask cluster, resumable.

A study is a list of *points* (small JSON-able parameter dicts) and a pure, module-level
function that turns one point into tidy rows. :class:`Executor` runs the points that are not yet
in the on-disk cache, in local processes (``concurrent.futures``; ``jobs=1`` runs in this
process) or on a Dask ``distributed`` cluster given by its scheduler address, and writes each
finished point to the cache at once, atomically. The cache key is the sha256 of the study name,
the point's parameters and the numsim version with a fingerprint of its code
(:func:`numsim_version`), so an interrupted run recomputes nothing that finished, and any change
of a parameter, of the version or of the code computes afresh.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import hashlib
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from ..golden.vectors import atomic_write

Row = dict[str, Any]
#: A study's point function: parameters -> tidy rows (module-level, so workers can import it).
PointFn = Callable[[Mapping[str, Any]], list[Row]]


class StudyError(ValueError):
    """Bad study input (unknown study or parameter, unreachable scheduler, unwritable folder)."""


def source_fingerprint(*roots: Path) -> str:
    """sha256 (hex) of the names and bytes of every file under ``roots``, ``__pycache__`` left
    out (compiled and Numba-cached files change without the code changing)."""
    h = hashlib.sha256()
    for root in roots:
        for f in sorted(root.rglob("*")):
            if f.is_file() and "__pycache__" not in f.relative_to(root).parts:
                h.update(f"{root.name}/{f.relative_to(root).as_posix()}".encode() + b"\0")
                h.update(f.read_bytes())
    return h.hexdigest()


@functools.cache
def numsim_version() -> str:
    """numsim's version and a fingerprint of the code that computes the points: every file of
    the numsim package (its data included) and of the RTL models beside it. Code changed under
    the same version number (between releases, in a checkout) gives other cache keys, so a point
    computed by older code is never served as the current code's result."""
    from .. import __version__

    package = Path(__file__).resolve().parent.parent
    roots = [r for r in (package, package.parent / "rtl_models") if r.is_dir()]
    return f"{__version__}+src.{source_fingerprint(*roots)[:16]}"


def cache_key(study: str, point: Mapping[str, Any], version: str | None = None) -> str:
    """sha256 of (study name, point parameters, numsim version): the name of the point's cache file.

    The parameters are serialized as canonical JSON (sorted keys), so equal parameters give the
    same key whatever their order, and any changed value (or version) gives another key.
    """
    blob = json.dumps(
        {"study": study, "point": point, "numsim": version or numsim_version()},
        sort_keys=True,
        separators=(",", ":"),
        allow_nan=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def default_cache_dir() -> Path:
    """``$NUMSIM_CACHE`` or ``$XDG_CACHE_HOME/numsim/studies`` (``~/.cache/numsim/studies``)."""
    if os.environ.get("NUMSIM_CACHE"):
        return Path(os.environ["NUMSIM_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "numsim" / "studies"


def _timed(fn: PointFn, point: Mapping[str, Any]) -> tuple[list[Row], float]:
    """Run one point (in a worker) and time it."""
    t = time.perf_counter()
    rows = fn(point)
    return rows, time.perf_counter() - t


def _worker_init() -> None:
    """Local worker processes share the cores: one Numba thread and one BLAS thread each (two
    workers with two BLAS threads each oversubscribe the cores, and the many small GEMMs of the
    block-scaled datapath paths then run several times slower)."""
    import numba

    numba.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits  # the ptq extra's; else BLAS keeps its threads
    except ImportError:
        return
    threadpool_limits(limits=1, user_api="blas")


@dataclass
class RunStats:
    """What one :meth:`Executor.map` call did."""

    points: int = 0  #: points of the study
    computed: int = 0  #: points computed in this run
    cached: int = 0  #: points read from the cache
    compute_s: float = 0.0  #: sum of the computed points' own times (in their workers)
    cached_s: float = 0.0  #: sum of the cached points' times when they were computed
    wall_s: float = 0.0  #: wall time of the call
    keys: list[str] = field(default_factory=list)  #: cache key of every point, in order


class Executor:
    """Runs study points where they are not cached; local processes by default, Dask if given.

    Args:
        jobs: local worker processes (1: in this process). Ignored with ``scheduler``.
        scheduler: a Dask scheduler address (``tcp://host:8786``), or None for local processes.
        cache_dir: where finished points are kept (see :func:`default_cache_dir`).
        progress: show a tqdm progress bar per study.
        connect_timeout: seconds to wait for the scheduler.

    Raises:
        StudyError: bad ``jobs``; the scheduler cannot be reached (raised here, before anything
            is computed or written).
    """

    def __init__(
        self,
        jobs: int = 1,
        scheduler: str | None = None,
        cache_dir: str | Path | None = None,
        progress: bool = True,
        connect_timeout: float = 5.0,
    ) -> None:
        if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
            raise StudyError(f"jobs={jobs!r}: expected a positive int")
        self.jobs = jobs
        self.scheduler = scheduler
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.progress = progress
        self._client: Any = None
        self._pool: cf.Executor | None = None
        if scheduler is not None:
            self._client = _connect(scheduler, connect_timeout)

    @property
    def kind(self) -> str:
        """``"dask <address>"``, ``"local processes (N)"`` or ``"in process"``."""
        if self._client is not None:
            return f"dask {self.scheduler}"
        return f"local processes ({self.jobs})" if self.jobs > 1 else "in process"

    def close(self) -> None:
        """Shut the local pool down and disconnect from the scheduler (the cluster keeps
        running)."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _path(self, study: str, key: str) -> Path:
        return self.cache_dir / study / f"{key}.json"

    def _load(self, study: str, key: str) -> tuple[list[Row], float] | None:
        """The cached rows of a point and the seconds it took when computed, or None (absent or
        unreadable: it is recomputed)."""
        try:
            entry = json.loads(self._path(study, key).read_text())
        except (OSError, ValueError):
            return None
        if (
            not isinstance(entry, dict)
            or entry.get("key") != key
            or not isinstance(entry.get("rows"), list)
        ):
            return None
        return entry["rows"], float(entry.get("seconds", 0.0))

    def _store(
        self, study: str, key: str, point: Mapping[str, Any], rows: list[Row], seconds: float
    ) -> None:
        entry = {
            "key": key,
            "study": study,
            "numsim": numsim_version(),
            "point": point,
            "seconds": seconds,
            "rows": rows,
        }
        atomic_write(self._path(study, key), json.dumps(entry, allow_nan=True).encode())

    def _local_pool(self) -> cf.Executor:
        if self._pool is None:
            # spawn: numba's thread pools do not survive fork
            self._pool = cf.ProcessPoolExecutor(
                self.jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init
            )
        return self._pool

    def map(
        self, study: str, fn: PointFn, points: Sequence[Mapping[str, Any]]
    ) -> tuple[list[list[Row]], RunStats]:
        """Rows of every point (cached or computed), in the order of ``points``, and run stats.

        Each computed point is cached as soon as it finishes, so a killed run loses at most the
        points in flight.
        """
        return self.map_many([(study, fn, points)])[0]

    def map_many(
        self, studies: Sequence[tuple[str, PointFn, Sequence[Mapping[str, Any]]]]
    ) -> list[tuple[list[list[Row]], RunStats]]:
        """:meth:`map` for several studies (name, point function, points) at once.

        In this process (``jobs=1``) the studies run one after the other. On workers, the points
        of all studies are queued together, interleaved across the studies (the first point of
        each, then the second of each, ...), so the workers compute, and on a cold Numba cache
        compile, the kernels of different studies at the same time. The rows do not depend on
        where or in which order a point runs. A study's ``wall_s`` is then the time from the start
        of the call to its last point (the studies' wall times overlap); ``compute_s`` is still
        the sum of its own points' times.
        """
        if self._client is None and self.jobs == 1:
            return [self._run([study])[0] for study in studies]
        return self._run(studies)

    def _run(
        self, studies: Sequence[tuple[str, PointFn, Sequence[Mapping[str, Any]]]]
    ) -> list[tuple[list[list[Row]], RunStats]]:
        t0 = time.perf_counter()
        keys = [[cache_key(name, p) for p in pts] for name, _, pts in studies]
        loaded = [[self._load(name, k) for k in ks] for (name, _, _), ks in zip(studies, keys)]
        results: list[list[list[Row] | None]] = [[e[0] if e else None for e in ls] for ls in loaded]
        todo_by = [[i for i, r in enumerate(rs) if r is None] for rs in results]
        # interleaved across studies: (study index, point index)
        todo = [
            (s, by[j])
            for j in range(max((len(by) for by in todo_by), default=0))
            for s, by in enumerate(todo_by)
            if j < len(by)
        ]
        stats = [
            RunStats(
                points=len(pts),
                cached=len(pts) - len(by),
                keys=ks,
                cached_s=sum(e[1] for e in ls if e),
            )
            for (_, _, pts), by, ks, ls in zip(studies, todo_by, keys, loaded)
        ]
        bars = [
            _bar(len(pts), name, self.progress, position=s)
            for s, (name, _, pts) in enumerate(studies)
        ]
        left = [len(by) for by in todo_by]
        for bar, st, n in zip(bars, stats, left):
            bar.update(st.cached)
            if not n:  # all cached
                st.wall_s = time.perf_counter() - t0

        def finish(s: int, i: int, rows: list[Row], seconds: float) -> None:
            name, _, pts = studies[s]
            self._store(name, keys[s][i], pts[i], rows, seconds)
            results[s][i] = rows
            stats[s].computed += 1
            stats[s].compute_s += seconds
            bars[s].update(1)
            left[s] -= 1
            if not left[s]:
                stats[s].wall_s = time.perf_counter() - t0

        try:
            if not todo:
                pass
            elif self._client is not None:
                from distributed import as_completed

                futs = {
                    self._client.submit(
                        _timed, studies[s][1], dict(studies[s][2][i]), pure=False
                    ): (s, i)
                    for s, i in todo
                }
                for fut in as_completed(futs, loop=self._client.loop):
                    rows, seconds = fut.result()
                    finish(*futs[fut], rows, seconds)
            elif self.jobs == 1 or len(todo) == 1:
                for s, i in todo:
                    rows, seconds = _timed(studies[s][1], studies[s][2][i])
                    finish(s, i, rows, seconds)
            else:
                pool = self._local_pool()
                lfuts = {
                    pool.submit(_timed, studies[s][1], dict(studies[s][2][i])): (s, i)
                    for s, i in todo
                }
                for lfut in cf.as_completed(lfuts):
                    rows, seconds = lfut.result()
                    finish(*lfuts[lfut], rows, seconds)
        finally:
            for bar in bars:
                bar.close()
        return [([r for r in rs if r is not None], st) for rs, st in zip(results, stats)]


def _bar(total: int, desc: str, enabled: bool, position: int = 0) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        position=position,
        desc=f"{desc:12s}",
        unit="pt",
        disable=not enabled,
        file=sys.stderr,
        dynamic_ncols=True,
        leave=True,
    )


def _connect(address: str, timeout: float) -> Any:
    """A ``distributed.Client`` for ``address``; StudyError naming the address if it cannot
    connect."""
    if not isinstance(address, str) or not address.strip():
        raise StudyError(
            f"scheduler={address!r}: expected a Dask scheduler address such as tcp://host:8786"
        )
    try:
        from distributed import Client
    except ImportError as e:  # pragma: no cover - the report extra installs it
        raise StudyError(
            f"scheduler={address!r}: dask.distributed is not installed "
            "(pip install 'numsim[report]')"
        ) from e
    try:
        return Client(address, timeout=f"{max(timeout, 0.1)}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise StudyError(
            f"scheduler={address!r}: cannot connect to a Dask scheduler there within "
            f"{timeout:g} s ({type(e).__name__}: {e})"
        ) from e
