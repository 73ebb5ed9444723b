"""How a utilization file is stored: plain, gzip or zip, and how to get at its header and its bytes.

DuckDB reads plain and ``.gz`` files itself.  A ``.zip`` holding one CMS file is streamed, member to
disk, into a scratch folder beside the warehouse (never into Python memory), read, and deleted.
"""

from __future__ import annotations

import csv
import gzip
import io
import shutil
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# Suffixes of files the loader reads; anything else in the folder is skipped with a reason.
TEXT_SUFFIXES = (".csv", ".txt")
ACCEPTED_SUFFIXES = (".csv", ".txt", ".csv.gz", ".txt.gz", ".zip")
_HEADER_LIMIT = 1 << 16
_COPY_BUFFER = 1 << 23


class ArchiveContentError(ValueError):
    """A .zip that does not hold exactly one CMS file."""


@dataclass(frozen=True)
class StoredFile:
    path: Path
    compression: str  # none, gzip or zip
    member: str | None = None  # the CMS file inside a .zip

    @property
    def inner_name(self) -> str:
        return PurePosixPath(self.member).name if self.member else self.path.name


def compression_of(path: Path) -> str | None:
    """none / gzip / zip for names the loader reads; None for any other file."""
    name = path.name.casefold()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith((".csv.gz", ".txt.gz")):
        return "gzip"
    if name.endswith(TEXT_SUFFIXES):
        return "none"
    return None


def open_stored(path: Path, compression: str) -> StoredFile:
    if compression != "zip":
        return StoredFile(path, compression)
    return StoredFile(path, "zip", _single_cms_member(path))


def _single_cms_member(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = [info.filename for info in archive.infolist() if not info.is_dir()]
    except zipfile.BadZipFile as exc:
        raise ArchiveContentError(f"not a readable .zip archive: {exc}") from exc
    cms = [n for n in names if _is_data_member(n)]
    if len(cms) == 1:
        return cms[0]
    listing = ", ".join(names[:10]) + (" …" if len(names) > 10 else "") or "nothing"
    if not cms:
        raise ArchiveContentError(f".zip holds no .csv or .txt file (it holds: {listing})")
    raise ArchiveContentError(
        f".zip holds {len(cms)} .csv/.txt files ({', '.join(cms)}); put one CMS file per .zip (or unzip them)"
    )


def _is_data_member(name: str) -> bool:
    parts = PurePosixPath(name).parts
    hidden = any(part.startswith((".", "__MACOSX")) for part in parts)
    return not hidden and name.casefold().endswith(TEXT_SUFFIXES)


def read_header_line(stored: StoredFile) -> tuple[list[str], str]:
    """(header fields, delimiter) from the first line; tab-delimited when the line has more tabs than commas."""
    raw = _first_line(stored)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    text = text.rstrip("\r\n")
    delimiter = "\t" if text.count("\t") > text.count(",") else ","
    return next(csv.reader(io.StringIO(text), delimiter=delimiter), []), delimiter


def _first_line(stored: StoredFile) -> bytes:
    if stored.compression == "gzip":
        with gzip.open(stored.path, "rb") as handle:
            return handle.readline(_HEADER_LIMIT)
    if stored.compression == "zip":
        with zipfile.ZipFile(stored.path) as archive, archive.open(stored.member) as handle:
            return handle.readline(_HEADER_LIMIT)
    with stored.path.open("rb") as handle:
        return handle.readline(_HEADER_LIMIT)


@contextmanager
def readable_path(stored: StoredFile, scratch_dir: Path) -> Iterator[tuple[Path, str]]:
    """(path DuckDB can read, its compression for read_csv); a zip member is streamed to scratch and deleted."""
    if stored.compression != "zip":
        yield stored.path, stored.compression
        return
    scratch_dir.mkdir(parents=True, exist_ok=True)
    target = scratch_dir / f"unzipped-{stored.path.name}-{stored.inner_name}"
    try:
        with zipfile.ZipFile(stored.path) as archive, archive.open(stored.member) as source, target.open("wb") as sink:
            shutil.copyfileobj(source, sink, _COPY_BUFFER)
        yield target, "none"
    finally:
        target.unlink(missing_ok=True)
