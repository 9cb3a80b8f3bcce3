"""Golden vector files: self-describing hex text, atomic writes, verifying reads, manifest.

File layout (one vector per row, TestFloat style: inputs first, expected outputs last)::

    # numsim golden vectors
    # version: 2
    # generator: numsim 0.1.0
    # unit: elem_encoder
    # ...                      (key: value lines, see VectorFile.header)
    # columns: fp32:32:fp32 code:8:code
    # count: 159720
    # file_sha256: 3c1f...
    3f800000 38
    ...

Every header line starts with ``#`` (hardware testbenches skip them); rows are fixed-width
lowercase hex fields separated by one space. ``file_sha256`` (always the last header line) is the
sha256 of every byte of the file but that line: header and rows, so a lone file detects
truncation, corruption and an edited header line (a policy changed from ``saturate`` to
``nonsaturate``); ``manifest.json`` next to a set of files records the sha256 of each whole file.
Readers refuse any file whose structure, checksums or header differ from what the caller expects
(:class:`GoldenError`).

Version 1 files (``body_sha256``, covering the rows only) are still read, but only together with
their manifest, whose whole-file sha256 covers the header: alone, an edited header line would
pass unseen, so :func:`read` refuses them.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .hexio import Column, format_rows, parse_rows

MAGIC = "# numsim golden vectors"
#: Version of the file layout (not of numsim): 2, ``file_sha256`` over header and rows.
FILE_VERSION = "2"
#: Older layouts still read (with their manifest): 1, ``body_sha256`` over the rows only.
OLD_VERSIONS = ("1",)
_COMPUTED = ("version", "columns", "count", "body_sha256", "file_sha256")
_SHA_LINE = b"# file_sha256: "
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
            if k in _COMPUTED or "\n" in v or ":" in k:
                raise ValueError(f"header key {k!r} (value {v!r}) is reserved or malformed")
            head.append(f"# {k}: {v}")
        head += [
            f"# columns: {' '.join(c.spec() for c in self.columns)}",
            f"# count: {self.count}",
        ]
        raw_head = ("\n".join(head) + "\n").encode("ascii")
        digest = hashlib.sha256(raw_head + body).hexdigest().encode("ascii")
        return raw_head + _SHA_LINE + digest + b"\n" + body


class _Signalled(BaseException):
    """A termination signal arrived while a temporary file existed (see :func:`atomic_write`)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: Signals whose default action ends the process without unwinding (SIGINT already raises).
_TERMINATING = tuple(
    getattr(signal, n) for n in ("SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, n)
)


def _raise_signalled(signum: int, frame: Any) -> None:
    raise _Signalled(signum)


def _trap_signals() -> dict[int, Any]:
    """In the main thread, make SIGTERM / SIGHUP / SIGQUIT raise :class:`_Signalled` where they
    would kill the process outright (default action); return the handlers to restore."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    old: dict[int, Any] = {}
    for sig in _TERMINATING:
        if signal.getsignal(sig) == signal.SIG_DFL:
            old[sig] = signal.signal(sig, _raise_signalled)
    return old


def _restore_signals(old: dict[int, Any]) -> None:
    for sig, handler in old.items():
        signal.signal(sig, handler)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename:
    an interrupted write never leaves a partial file under ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    old = _trap_signals()  # a SIGTERM / SIGHUP would otherwise kill us before the cleanup runs
    try:
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
    except _Signalled as e:
        _restore_signals(old)
        signal.raise_signal(e.signum)  # now die of the signal, as the process would have
        raise  # the default action returned (a stop signal): report the interruption
    finally:
        _restore_signals(old)


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
    if version not in (FILE_VERSION, *OLD_VERSIONS):
        raise GoldenError(
            f"{path}: file version {version!r}, this reader understands "
            f"{', '.join(repr(v) for v in (FILE_VERSION, *OLD_VERSIONS))}"
        )
    if version != FILE_VERSION and manifest is None:
        raise GoldenError(
            f"{path}: file version {version!r} checksums its rows only, so an edited header line "
            "would pass unseen: read it with its manifest (manifest=) or regenerate it"
        )
    sha_key = "file_sha256" if version == FILE_VERSION else "body_sha256"
    try:
        columns = tuple(Column.parse(s) for s in header.pop("columns").split())
        count = int(header.pop("count"))
        sha = header.pop(sha_key)
    except (KeyError, ValueError) as e:
        raise GoldenError(
            f"{path}: header lacks or garbles columns/count/{sha_key} ({e})"
        ) from None
    if version == FILE_VERSION:
        at = len(raw) - len(body)
        start = raw.rfind(b"\n", 0, at - 1) + 1  # the last header line
        if not raw.startswith(_SHA_LINE, start):
            raise GoldenError(f"{path}: file_sha256 must be the last header line")
        if hashlib.sha256(raw[:start] + body).hexdigest() != sha:
            raise GoldenError(
                f"{path}: file checksum mismatch (corrupted, truncated or edited file: header or "
                f"{len(body)} body bytes)"
            )
    elif hashlib.sha256(body).hexdigest() != sha:
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


_ENTRY_TYPES = {"sha256": str, "bytes": int, "count": int, "unit": str, "set": str}


def _entry(key: Any, v: Any, path: Any) -> FileEntry:
    """One manifest entry, checked: a relative ``/`` path inside the set, the five typed keys."""
    where = f"{path}: malformed manifest: files[{key!r}]"
    if not isinstance(key, str) or not key or key.startswith("/") or "\\" in key:
        raise GoldenError(f"{where}: expected a relative path with '/' separators")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise GoldenError(f"{where}: the path leaves the set's directory or is not normalised")
    if not isinstance(v, dict):
        raise GoldenError(f"{where} is {type(v).__name__}: expected an object")
    if set(v) != set(_ENTRY_TYPES):
        raise GoldenError(f"{where} has keys {sorted(v)}: expected {sorted(_ENTRY_TYPES)}")
    for k, t in _ENTRY_TYPES.items():
        if not isinstance(v[k], t) or isinstance(v[k], bool):
            raise GoldenError(f"{where}.{k} is {v[k]!r}: expected {t.__name__}")
    if v["bytes"] < 0 or v["count"] < 0:
        raise GoldenError(f"{where}: bytes and count must be >= 0")
    if len(v["sha256"]) != 64 or any(c not in "0123456789abcdef" for c in v["sha256"]):
        raise GoldenError(f"{where}.sha256 is {v['sha256']!r}: expected 64 lowercase hex digits")
    return FileEntry(**v)


def parse_manifest(obj: Any, path: Any = "<manifest>") -> tuple[str, dict[str, FileEntry]]:
    """``(generator, files)`` of a decoded manifest; :class:`GoldenError` for any other shape."""
    if not isinstance(obj, dict) or not isinstance(obj.get("files"), dict):
        raise GoldenError(
            f"{path}: malformed manifest: expected an object with a 'files' object, got "
            f"{type(obj).__name__}" + (f" with keys {sorted(obj)}" if isinstance(obj, dict) else "")
        )
    unknown = set(obj) - {"files", "generator"}
    if unknown:
        raise GoldenError(f"{path}: malformed manifest: unknown keys {sorted(unknown)}")
    generator = obj.get("generator", "")
    if not isinstance(generator, str):
        raise GoldenError(f"{path}: malformed manifest: generator is {generator!r}: expected str")
    return generator, {k: _entry(k, v, path) for k, v in obj["files"].items()}


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
            obj = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise GoldenError(
                f"{path}: no manifest (generate the vectors with `numsim golden`)"
            ) from None
        except (OSError, ValueError) as e:  # unreadable, not UTF-8, not JSON
            raise GoldenError(f"{path}: malformed manifest ({e})") from None
        generator, files = parse_manifest(obj, path)
        return Manifest(path.parent, generator, files)

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
