"""Golden vector files: self-describing hex text, atomic writes, verifying reads, manifest.

File layout (one vector per row, TestFloat style: inputs first, expected outputs last)::

    # numsim golden vectors
    # version: 1
    # generator: numsim 0.1.0
    # unit: elem_encoder
    # ...                      (key: value lines, see VectorFile.header)
    # columns: fp32:32:fp32 code:8:code
    # count: 159720
    # body_sha256: 3c1f...
    3f800000 38
    ...

Every header line starts with ``#`` (hardware testbenches skip them); rows are fixed-width
lowercase hex fields separated by one space. ``body_sha256`` covers the rows, so a lone file
detects truncation and corruption; ``manifest.json`` next to a set of files records the sha256
of each whole file. Readers refuse any file whose structure, checksums or header differ from
what the caller expects (:class:`GoldenError`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .hexio import Column, format_rows, parse_rows

MAGIC = "# numsim golden vectors"
#: Version of the file layout (not of numsim).
FILE_VERSION = "1"
MANIFEST = "manifest.json"


class GoldenError(ValueError):
    """A golden vector file or manifest is corrupted, truncated, or not the one expected."""


@dataclass
class VectorFile:
    """Vectors in memory.

    Attributes:
        header: ``key -> value`` in file order, without the computed keys (``version``,
            ``columns``, ``count``, ``body_sha256``), which :func:`write` adds.
        columns: the row layout.
        data: column name -> ``uint64`` array of shape ``(count,)`` or ``(count, lanes)``.
    """

    header: dict[str, str]
    columns: tuple[Column, ...]
    data: dict[str, np.ndarray] = field(repr=False)

    @property
    def count(self) -> int:
        """Number of vectors."""
        return len(self.data[self.columns[0].name])

    def sections(self) -> dict[str, range]:
        """Row ranges of the named case sections of the ``cases`` header (``name=count ...``)."""
        out, start = {}, 0
        for item in self.header.get("cases", "").split():
            name, _, n = item.partition("=")
            out[name] = range(start, start + int(n))
            start += int(n)
        return out

    def body(self) -> bytes:
        """The hex rows."""
        return format_rows(self.columns, self.data)

    def to_bytes(self) -> bytes:
        """The whole file."""
        body = self.body()
        head = [MAGIC, f"# version: {FILE_VERSION}"]
        for k, v in self.header.items():
            if k in ("version", "columns", "count", "body_sha256") or "\n" in v or ":" in k:
                raise ValueError(f"header key {k!r} (value {v!r}) is reserved or malformed")
            head.append(f"# {k}: {v}")
        head += [
            f"# columns: {' '.join(c.spec() for c in self.columns)}",
            f"# count: {self.count}",
            f"# body_sha256: {hashlib.sha256(body).hexdigest()}",
        ]
        return ("\n".join(head) + "\n").encode("ascii") + body


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename:
    an interrupted write never leaves a partial file under ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class FileEntry:
    """One manifest entry."""

    sha256: str  #: of the whole file
    bytes: int  #: file size
    count: int  #: vectors
    unit: str  #: unit name
    set: str  #: parameter set name


def write(vectors: VectorFile, path: str | Path) -> FileEntry:
    """Write ``vectors`` to ``path`` atomically; return its manifest entry."""
    data = vectors.to_bytes()
    atomic_write(Path(path), data)
    return FileEntry(
        hashlib.sha256(data).hexdigest(),
        len(data),
        vectors.count,
        vectors.header.get("unit", ""),
        vectors.header.get("set", ""),
    )


def parse_header(text: str, path: Any = "<bytes>") -> dict[str, str]:
    """The ``key: value`` pairs of a header (every line after the magic line)."""
    lines = text.split("\n")
    if not lines or lines[0] != MAGIC:
        raise GoldenError(
            f"{path}: not a numsim golden vector file (first line {lines[0][:40]!r}, expected "
            f"{MAGIC!r})"
        )
    out: dict[str, str] = {}
    for ln in lines[1:]:
        if not ln:
            continue
        key, sep, value = ln[2:].partition(": ")
        if not ln.startswith("# ") or not sep or not key:
            raise GoldenError(f"{path}: malformed header line {ln!r} (expected '# key: value')")
        if key in out:
            raise GoldenError(f"{path}: header key {key!r} appears twice")
        out[key] = value
    return out


def split(raw: bytes, path: Any = "<bytes>") -> tuple[dict[str, str], bytes]:
    """Split a file into its header (parsed) and its body."""
    end = 0
    while raw.startswith(b"#", end):
        nl = raw.find(b"\n", end)
        if nl < 0:
            raise GoldenError(f"{path}: truncated inside the header")
        end = nl + 1
    try:
        text = raw[:end].decode("ascii").rstrip("\n")
    except UnicodeDecodeError:
        raise GoldenError(f"{path}: header is not ASCII") from None
    return parse_header(text, path), raw[end:]


def read(
    path: str | Path,
    expect: Mapping[str, str] | None = None,
    manifest: Manifest | str | Path | None = None,
) -> VectorFile:
    """Read and verify a vector file.

    Checks, in order: the manifest's sha256 and size of the whole file (when ``manifest`` is
    given), the magic line and file version, ``body_sha256``, the row layout and ``count``, and
    that every ``expect`` key has the expected value in the header.

    Args:
        path: the file.
        expect: header values the caller relies on (``unit``, ``set``, ``format``, ``rtl`` ...).
        manifest: a :class:`Manifest` or the path of a ``manifest.json`` listing the file.

    Raises:
        GoldenError: any check fails; the message names the file and what differs.
        FileNotFoundError: no such file.
    """
    path = Path(path)
    raw = path.read_bytes()
    if manifest is not None:
        man = manifest if isinstance(manifest, Manifest) else Manifest.load(manifest)
        man.verify(path, raw)
    header, body = split(raw, path)
    version = header.pop("version", None)
    if version != FILE_VERSION:
        raise GoldenError(
            f"{path}: file version {version!r}, this reader understands {FILE_VERSION!r}"
        )
    try:
        columns = tuple(Column.parse(s) for s in header.pop("columns").split())
        count = int(header.pop("count"))
        body_sha = header.pop("body_sha256")
    except (KeyError, ValueError) as e:
        raise GoldenError(
            f"{path}: header lacks or garbles columns/count/body_sha256 ({e})"
        ) from None
    if hashlib.sha256(body).hexdigest() != body_sha:
        raise GoldenError(
            f"{path}: body checksum mismatch (corrupted or truncated file: {len(body)} body bytes)"
        )
    try:
        data = parse_rows(columns, body)
    except ValueError as e:
        raise GoldenError(f"{path}: {e}") from None
    got = len(data[columns[0].name])
    if got != count:
        raise GoldenError(f"{path}: header says count {count}, body holds {got} rows")
    for key, want in (expect or {}).items():
        have = header.get(key)
        if have != str(want):
            raise GoldenError(f"{path}: header mismatch: {key} is {have!r}, expected {str(want)!r}")
    return VectorFile(header, columns, data)


@dataclass
class Manifest:
    """``manifest.json``: sha256, size and vector count of every file of a vector set.

    Paths are relative to the manifest's directory, with ``/`` separators. The JSON is written
    with sorted keys, so the same files give the same manifest bytes.
    """

    root: Path
    generator: str = ""
    files: dict[str, FileEntry] = field(default_factory=dict)

    @staticmethod
    def load(path: str | Path) -> Manifest:
        """Read ``manifest.json`` (a directory holding one is accepted too).

        Raises:
            GoldenError: unreadable or malformed manifest.
        """
        path = Path(path)
        if path.is_dir():
            path = path / MANIFEST
        try:
            obj = json.loads(path.read_text())
            files = {k: FileEntry(**v) for k, v in obj["files"].items()}
            return Manifest(path.parent, obj.get("generator", ""), files)
        except FileNotFoundError:
            raise GoldenError(
                f"{path}: no manifest (generate the vectors with `numsim golden`)"
            ) from None
        except (ValueError, KeyError, TypeError) as e:
            raise GoldenError(f"{path}: malformed manifest ({e})") from None

    @staticmethod
    def load_or_new(root: str | Path, generator: str) -> Manifest:
        """The manifest in directory ``root``, or an empty one."""
        root = Path(root)
        if (root / MANIFEST).exists():
            man = Manifest.load(root / MANIFEST)
            man.generator = generator
            return man
        return Manifest(root, generator)

    def key(self, path: str | Path) -> str:
        """The manifest key of ``path``."""
        try:
            return Path(os.path.relpath(Path(path).resolve(), self.root.resolve())).as_posix()
        except ValueError:
            return Path(path).as_posix()

    def add(self, path: str | Path, entry: FileEntry) -> None:
        """Record ``entry`` for ``path``."""
        self.files[self.key(path)] = entry

    def verify(self, path: str | Path, raw: bytes | None = None) -> FileEntry:
        """Check ``path`` against its entry.

        Raises:
            GoldenError: the file is not listed, or its size or sha256 differs.
        """
        key = self.key(path)
        entry = self.files.get(key)
        if entry is None:
            raise GoldenError(f"{path}: not listed in {self.root / MANIFEST}")
        raw = Path(path).read_bytes() if raw is None else raw
        if len(raw) != entry.bytes:
            raise GoldenError(
                f"{path}: {len(raw)} bytes, the manifest says {entry.bytes} (truncated or replaced)"
            )
        digest = hashlib.sha256(raw).hexdigest()
        if digest != entry.sha256:
            raise GoldenError(
                f"{path}: sha256 {digest[:16]}... differs from the manifest's "
                f"{entry.sha256[:16]}... "
                "(corrupted or regenerated with other arguments)"
            )
        return entry

    def to_json(self) -> str:
        """The manifest text (sorted keys, trailing newline)."""
        obj = {
            "generator": self.generator,
            "files": {k: vars(v) for k, v in sorted(self.files.items())},
        }
        return json.dumps(obj, indent=1, sort_keys=True) + "\n"

    def save(self) -> Path:
        """Write ``manifest.json`` atomically; return its path."""
        path = self.root / MANIFEST
        atomic_write(path, self.to_json().encode())
        return path
