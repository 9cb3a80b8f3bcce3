"""Golden vectors for the RTL twins of numsim units (``numsim golden``).

TestFloat-style generation per unit and parameter set: exhaustive where the space allows (every
code), chosen exponents x significand patterns, and seeded weighted random cases by level.
Files are self-describing hex (:mod:`numsim.golden.vectors`), written atomically, listed with
their sha256 in ``manifest.json``; the same arguments always give the same bytes.

Example::

    from numsim import golden
    golden.write_sets("out/golden")                     # every unit, default sets, level 1
    vf = golden.read("out/golden/elem_encoder/fp8_e4m3.hex",
                     expect={"unit": "elem_encoder"}, manifest="out/golden/manifest.json")
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .hexio import Column
from .units import GENERATOR, LEVELS, RANDOM_COUNT, UNITS, ParamSet, Unit, unit
from .vectors import FileEntry, GoldenError, Manifest, VectorFile, read, write

__all__ = [
    "GENERATOR",
    "LEVELS",
    "RANDOM_COUNT",
    "UNITS",
    "Column",
    "FileEntry",
    "GoldenError",
    "Manifest",
    "ParamSet",
    "Unit",
    "VectorFile",
    "generate",
    "read",
    "select",
    "unit",
    "write",
    "write_sets",
]


def _check_args(level: int, seed: int, count: int | None) -> None:
    if level not in LEVELS:
        raise ValueError(f"level={level!r}: expected one of {LEVELS}")
    if not isinstance(seed, int) or not 0 <= seed < (1 << 32):
        raise ValueError(f"seed={seed!r}: expected an int in 0..2**32-1")
    if count is not None and (not isinstance(count, int) or count < 0):
        raise ValueError(f"count={count!r}: expected a non-negative int")


def generate(
    unit_name: str, set_name: str, level: int = 1, seed: int = 1, count: int | None = None
) -> VectorFile:
    """The vectors of one parameter set of one unit.

    Args:
        unit_name: a unit of :data:`UNITS`.
        set_name: one of its parameter sets (``unit(unit_name).sets``).
        level: 1 (default sets, CI) or 2 (more patterns and random cases).
        seed: random stream seed.
        count: random cases (default by level; exhaustive units ignore it).

    Raises:
        KeyError: unknown unit or set. ValueError: bad level, seed or count.
    """
    _check_args(level, seed, count)
    u = unit(unit_name)
    return u.build(u.set(set_name), level, seed, count)


def select(unit_name: str = "all", fmt: str | None = None) -> list[ParamSet]:
    """Parameter sets of ``unit_name`` (``"all"``: every unit), optionally only those of one
    element format (a format name, alias or set name).

    Raises:
        KeyError: unknown unit, or no set matches ``fmt``.
    """
    units = list(UNITS.values()) if unit_name == "all" else [unit(unit_name)]
    sets = [s for u in units for s in u.sets]
    if fmt is None:
        return sets
    from .. import formats as _formats

    try:
        canon = _formats.get(fmt).name
    except KeyError:
        canon = fmt
    chosen = [s for s in sets if fmt in (s.name, s.name.split("-")[0]) or canon == s.element.name]
    if not chosen:
        raise KeyError(
            f"format {fmt!r} matches no parameter set of {unit_name}; sets: "
            f"{', '.join(sorted({s.name.split('-')[0] for s in sets}))}"
        )
    return chosen


def write_sets(
    out: str | Path,
    sets: Iterable[ParamSet] | None = None,
    level: int = 1,
    seed: int = 1,
    count: int | None = None,
    progress: Callable[[ParamSet, FileEntry, float], None] | None = None,
) -> Manifest:
    """Generate and write vector files under ``out`` (``<unit>/<set>.hex``) and update
    ``out/manifest.json``. Each file is written atomically; the manifest is rewritten after each
    file, so an interruption leaves only complete, listed files.

    Args:
        out: output directory (created).
        sets: parameter sets (default: every set of every unit).
        level, seed, count: as :func:`generate`.
        progress: called after each file with (set, entry, seconds).
    """
    _check_args(level, seed, count)
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    manifest = Manifest.load_or_new(root, GENERATOR)
    for ps in select() if sets is None else sets:
        t0 = time.perf_counter()
        vf = unit(ps.unit).build(ps, level, seed, count)
        path = root / ps.filename
        entry = write(vf, path)
        manifest.add(path, entry)
        manifest.save()
        if progress is not None:
            progress(ps, entry, time.perf_counter() - t0)
    return manifest
