"""How a utilization file is stored: plain, gzip or zip, and how to get at its header and its bytes.

DuckDB reads plain and ``.gz`` files itself.  A ``.zip`` holding one CMS file is streamed, member to
disk, into a scratch folder beside the warehouse (never into Python memory), read, and deleted; the
expansion is capped (``CPT_ZIP_MAX_EXPANDED_BYTES``, ``CPT_ZIP_MAX_RATIO``).

Valid CSV that DuckDB's strict reader refuses is rewritten, streaming, into the scratch folder first:
CR-only ("CSV (Macintosh)") or mixed CR/LF/CRLF line endings become LF, and UTF-16/UTF-32 text (with a
BOM, or recognized by its NUL bytes) becomes UTF-8.  Anything wrong with a file's own bytes raises
``FileContentError``: the file is rejected, the run goes on.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from pipeline.settings import DEFAULTS

# Suffixes of files the loader reads; anything else in the folder is skipped with a reason.
TEXT_SUFFIXES = (".csv", ".txt")
ACCEPTED_SUFFIXES = (".csv", ".txt", ".csv.gz", ".txt.gz", ".zip")
_HEADER_LIMIT = 1 << 16
_COPY_BUFFER = 1 << 23
_SNIFF = 1 << 12
ZIP_MAX_EXPANDED_ENV, ZIP_MAX_RATIO_ENV = "CPT_ZIP_MAX_EXPANDED_BYTES", "CPT_ZIP_MAX_RATIO"
ZIP_MAX_EXPANDED_DEFAULT, ZIP_MAX_RATIO_DEFAULT = DEFAULTS["zip_max_expanded_bytes"], DEFAULTS["zip_max_ratio"]


@dataclass(frozen=True)
class ZipCaps:
    """How far a zip's CMS member may expand: most bytes, and largest expanded/compressed ratio."""

    max_expanded_bytes: int = ZIP_MAX_EXPANDED_DEFAULT
    max_ratio: float = ZIP_MAX_RATIO_DEFAULT


DEFAULT_ZIP_CAPS = ZipCaps()
_RATIO_FLOOR = 1 << 20  # below 1 MiB expanded, no ratio is suspicious (tiny files compress oddly)


class FileContentError(ValueError):
    """A fact about one source file's bytes (its encoding, its archive, its size when expanded): the file is
    rejected and the run goes on; never an infrastructure failure."""


class ArchiveContentError(FileContentError):
    """A .zip that does not hold exactly one CMS file."""


@dataclass(frozen=True)
class StoredFile:
    path: Path
    compression: str  # none, gzip or zip
    member: str | None = None  # the CMS file inside a .zip
    caps: ZipCaps = DEFAULT_ZIP_CAPS  # carried with the file: every reader of the member is capped alike

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


def open_stored(path: Path, compression: str, caps: ZipCaps = DEFAULT_ZIP_CAPS) -> StoredFile:
    if compression != "zip":
        return StoredFile(path, compression, caps=caps)
    return StoredFile(path, "zip", _single_cms_member(path), caps)


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
    """(header fields, delimiter) from the first line, which ends at CR, LF or CRLF; tab-delimited when the line
    has more tabs than commas.  UTF-16/32 text is decoded; other bytes as UTF-8, or latin-1 if not UTF-8."""
    with open_text_stream(stored) as stream:
        head = stream.read(_HEADER_LIMIT)
    wide = wide_encoding_of(head)
    if wide:
        text = codecs.getincrementaldecoder(wide)(errors="replace").decode(head)
    else:
        end = min((i for i in (head.find(b"\r"), head.find(b"\n")) if i >= 0), default=len(head))
        try:
            text = head[:end].decode("utf-8-sig")
        except UnicodeDecodeError:
            text = head[:end].decode("latin-1")
    text = text.replace("\r\n", "\n").replace("\r", "\n").split("\n", 1)[0]
    delimiter = "\t" if text.count("\t") > text.count(",") else ","
    return next(csv.reader(io.StringIO(text), delimiter=delimiter), []), delimiter


def wide_encoding_of(head: bytes) -> str | None:
    """The codec of UTF-32/UTF-16 text, known by its BOM or by its NUL bytes; None for byte text (UTF-8, latin-1)."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):  # before UTF-16: FF FE 00 00 starts with FF FE
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    sample = head[: min(len(head), _SNIFF) // 4 * 4]
    if len(sample) < 8 or b"\x00" not in sample:
        return None

    def zeros(offset: int, step: int) -> float:
        part = sample[offset::step]
        return part.count(0) / len(part)

    if all(zeros(i, 4) > 0.95 for i in (1, 2, 3)) and zeros(0, 4) < 0.5:
        return "utf-32-le"
    if all(zeros(i, 4) > 0.95 for i in (0, 1, 2)) and zeros(3, 4) < 0.5:
        return "utf-32-be"
    if zeros(1, 2) > 0.9 and zeros(0, 2) < 0.5:
        return "utf-16-le"
    if zeros(0, 2) > 0.9 and zeros(1, 2) < 0.5:
        return "utf-16-be"
    return None


@contextmanager
def open_text_stream(stored: StoredFile) -> Iterator[io.BufferedIOBase]:
    """The file's (decompressed) bytes as a binary stream; a zip member's expansion is capped."""
    if stored.compression == "gzip":
        with gzip.open(stored.path, "rb") as handle:
            yield handle
    elif stored.compression == "zip":
        with zipfile.ZipFile(stored.path) as archive, archive.open(stored.member) as handle:
            yield _CappedMember(handle, stored, archive.getinfo(stored.member).compress_size)
    else:
        with stored.path.open("rb") as handle:
            yield handle


@contextmanager
def readable_path(stored: StoredFile, scratch_dir: Path) -> Iterator[tuple[Path, str]]:
    """(path DuckDB can read, its compression for read_csv).  A zip member is streamed to scratch; a file with CR-only
    or mixed line endings, or in UTF-16/32, is rewritten to scratch as LF-ended (UTF-8) text.  Scratch is deleted."""
    written: list[Path] = []
    try:
        yield _readable(stored, scratch_dir, written)
    finally:
        for path in written:
            path.unlink(missing_ok=True)


def _readable(stored: StoredFile, scratch_dir: Path, written: list[Path]) -> tuple[Path, str]:
    with open_text_stream(stored) as stream:
        wide = wide_encoding_of(stream.read(_SNIFF))
    if wide:
        return _rewrite(stored, _scratch(scratch_dir, "utf8", stored, written), wide), "none"
    if stored.compression == "zip":
        copy = _scratch(scratch_dir, "unzipped", stored, written)
        endings = _copy_member(stored, copy)
        if not endings.need_rewrite:
            return copy, "none"
        return _rewrite(StoredFile(copy, "none"), _scratch(scratch_dir, "lf", stored, written), None), "none"
    endings = _Endings()
    with open_text_stream(stored) as stream:
        while not endings.need_rewrite and (chunk := stream.read(_COPY_BUFFER)):
            endings.feed(chunk)
    if not endings.finish().need_rewrite:
        return stored.path, stored.compression
    return _rewrite(stored, _scratch(scratch_dir, "lf", stored, written), None), "none"


def _scratch(scratch_dir: Path, kind: str, stored: StoredFile, written: list[Path]) -> Path:
    scratch_dir.mkdir(parents=True, exist_ok=True)
    target = scratch_dir / f"{kind}-{stored.path.name}-{stored.inner_name}"
    written.append(target)
    return target


def _copy_member(stored: StoredFile, target: Path) -> _Endings:
    endings = _Endings()
    with open_text_stream(stored) as source, target.open("wb") as sink:
        while chunk := source.read(_COPY_BUFFER):
            endings.feed(chunk)
            sink.write(chunk)
    return endings.finish()


def _rewrite(stored: StoredFile, target: Path, wide: str | None) -> Path:
    """Stream the file into ``target`` with LF line endings; UTF-16/32 text (``wide``) decoded into UTF-8."""
    with open_text_stream(stored) as source, target.open("wb") as sink:
        if wide:
            text = io.TextIOWrapper(source, encoding=wide, errors="strict", newline=None)  # universal newlines
            try:
                while chunk := text.read(_COPY_BUFFER // 4):
                    sink.write(chunk.encode("utf-8"))
            except UnicodeDecodeError as exc:
                raise FileContentError(f"starts like {wide.upper()} text but is not: {exc}") from exc
            finally:
                text.detach()
            return target
        pending_cr = False
        while chunk := source.read(_COPY_BUFFER):
            if pending_cr:
                chunk = b"\r" + chunk
            pending_cr = chunk.endswith(b"\r")
            sink.write((chunk[:-1] if pending_cr else chunk).replace(b"\r\n", b"\n").replace(b"\r", b"\n"))
        if pending_cr:
            sink.write(b"\n")
    return target


class _Endings:
    """Which line ends a stream fed in chunks has: CRLF, a lone CR, a lone LF (chunks without a CR cost a memchr)."""

    def __init__(self) -> None:
        self.crlf = self.cr = self.lf = False
        self._pending_cr = False

    def feed(self, chunk: bytes) -> None:
        if self._pending_cr and chunk:
            self._pending_cr = False
            if chunk.startswith(b"\n"):
                self.crlf = True
                chunk = chunk[1:]
            else:
                self.cr = True
        if chunk.endswith(b"\r"):
            self._pending_cr = True
            chunk = chunk[:-1]
        if b"\r" not in chunk:
            self.lf = self.lf or b"\n" in chunk
            return
        data = np.frombuffer(chunk, np.uint8)
        cr, lf = data == 13, data == 10
        pairs = int(np.count_nonzero(cr[:-1] & lf[1:]))
        self.crlf = self.crlf or pairs > 0
        self.cr = self.cr or int(np.count_nonzero(cr)) > pairs
        self.lf = self.lf or int(np.count_nonzero(lf)) > pairs

    def finish(self) -> _Endings:
        if self._pending_cr:
            self._pending_cr = False
            self.cr = True
        return self

    @property
    def need_rewrite(self) -> bool:
        """DuckDB's strict reader takes LF or CRLF, not a mix; CR-only lines are rewritten too (one line rule)."""
        return self.cr or (self.crlf and self.lf)


class _CappedMember(io.RawIOBase):
    """A zip member's stream that stops with ``FileContentError`` once it expands past a cap."""

    def __init__(self, handle, stored: StoredFile, compressed: int):
        super().__init__()
        self._handle, self._stored, self._compressed = handle, stored, max(compressed, 1)
        self._max_bytes, self._max_ratio = stored.caps.max_expanded_bytes, stored.caps.max_ratio
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._handle.read(len(buffer))
        buffer[: len(data)] = data
        self._count(len(data))
        return len(data)

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._count(len(data))
        return data

    def _count(self, n: int) -> None:
        self._read += n
        member = f"zip member {self._stored.member} of {self._stored.path.name}"
        if self._read > self._max_bytes:
            raise FileContentError(
                f"{member} expands past {self._max_bytes:,} bytes, the cap {ZIP_MAX_EXPANDED_ENV} "
                f"(default {ZIP_MAX_EXPANDED_DEFAULT:,}); unzip it yourself or raise the cap if the file is genuine "
                "(the partial copy was deleted)"
            )
        if self._read > _RATIO_FLOOR and self._read > self._max_ratio * self._compressed:
            raise FileContentError(
                f"{member} expands to more than {self._max_ratio:g} times its compressed {self._compressed:,} bytes, "
                f"the cap {ZIP_MAX_RATIO_ENV} (default {ZIP_MAX_RATIO_DEFAULT:g}): a zip bomb or not a CMS file; "
                "raise the cap if the file is genuine (the partial copy was deleted)"
            )
