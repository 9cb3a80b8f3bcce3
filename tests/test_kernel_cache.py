"""Numba's on-disk cache of the kernels: stale files go when any kernel source changes.

Numba keys a cached kernel on the file that defines it only; the kernels inline helpers from other
files, so :func:`numsim._kernels.refresh_cache` keeps a hash of every kernel source next to the
cache and deletes the cached ``*.nbi`` / ``*.nbc`` files when it differs. Tested on a copy of the
sources and a temporary cache directory, not on the live tree.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from numba.core import config as numba_config

import numsim._kernels as nk

CACHED = [
    "dot.float_rows-640.py311.nbi",
    "dot.float_rows-640.py311.1.nbc",
    "core.f-1.py312.nbi",
    "fastdot.matmul_fast-117.py311.2.nbc",
]


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """(a copy of the kernel sources, an empty cache directory)."""
    src = tmp_path / "src"
    shutil.copytree(nk._SRC, src, ignore=shutil.ignore_patterns("__pycache__"))
    cache = tmp_path / "cache"
    cache.mkdir()
    return src, cache


def _fill(cache: Path) -> None:
    """Cache files as Numba names them, and a file of another tool."""
    for name in CACHED:
        (cache / name).write_bytes(b"cached")
    (cache / "other.pyc").write_bytes(b"keep")


def _cached(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if p.suffix in (".nbi", ".nbc"))


def test_stale_index_files_are_removed(tree: tuple[Path, Path]) -> None:
    src, cache = tree
    _fill(cache)
    assert nk.refresh_cache(src, cache)  # no stamp yet: every cached kernel is suspect
    assert _cached(cache) == []
    assert (cache / "other.pyc").read_bytes() == b"keep"
    stamp = (cache / nk.STAMP_NAME).read_text().strip()
    assert len(stamp) == 64

    _fill(cache)
    assert not nk.refresh_cache(src, cache)  # sources unchanged: the cache stays
    assert _cached(cache) == sorted(CACHED)

    core = src / "core.py"  # a file whose helpers other files' kernels inline
    core.write_text(core.read_text() + "\n# edited\n")
    assert nk.refresh_cache(src, cache)
    assert _cached(cache) == []
    assert (cache / nk.STAMP_NAME).read_text().strip() != stamp

    _fill(cache)
    (cache / nk.STAMP_NAME).write_text("0" * 64 + "\n")  # a stamp from other sources
    assert nk.refresh_cache(src, cache)
    assert _cached(cache) == []
    assert not list(cache.glob("*.tmp"))  # the stamp was written through a renamed temp file


def test_added_or_renamed_source_counts(tree: tuple[Path, Path]) -> None:
    src, cache = tree
    nk.refresh_cache(src, cache)
    _fill(cache)
    (src / "newpart.py").write_text("")
    assert nk.refresh_cache(src, cache)
    assert _cached(cache) == []
    _fill(cache)
    (src / "newpart.py").rename(src / "newpart2.py")
    assert nk.refresh_cache(src, cache)
    assert _cached(cache) == []


def test_cache_dir_follows_numba(tree: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """NUMBA_CACHE_DIR moves the cache (and so the stamp) where Numba puts it; without it the
    sources' own __pycache__ (writable here)."""
    src, _ = tree
    assert nk.cache_dir(src) == src / "__pycache__"
    monkeypatch.setattr(numba_config, "CACHE_DIR", str(src.parent / "numba-cache"))
    assert nk.cache_dir(src).parent == src.parent / "numba-cache"


def test_live_cache_is_stamped() -> None:
    """Importing the kernels stamped their cache directory with the hash of the sources."""
    stamp = nk.cache_dir(nk._SRC) / nk.STAMP_NAME
    assert stamp.read_text().strip() == nk.source_hash(nk._SRC)
