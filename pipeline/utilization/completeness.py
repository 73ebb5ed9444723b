"""Is a CMS file complete and still, and is its content a credible replacement for what it replaces?

Decisions taken around one file's load (the loader applies them; none of them reads more than the
last 64 KiB of a file, except the load itself):

- **still being written**: the file's identity (size, mtime, change time, inode) is captured before
  reading and compared after the load; any difference skips the file for this run ("still being
  written"), rolls its load back and records no size, time or SHA-256 (so the next run or sensor tick
  sees it as changed and loads it).
- **cut off**: no final newline and a last line with fewer fields than the header: an interrupted
  download. Rejected; the rows loaded from the previous version stay.
- **shrink**: a replacement with fewer than ``1 - CPT_UTILIZATION_MAX_FILE_SHRINK`` (default 0.5) of
  the rows it replaces, or with no data rows where there were rows, is rejected; ``CPT_ALLOW_SHRINK=1``
  accepts it on purpose.
- **mostly quarantine**: more than ``CPT_UTILIZATION_MAX_QUARANTINE_FRACTION`` (default 0.5) of a
  file's lines (of at least 20) quarantined: not a CMS file of this layout. Rejected.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.settings import ALLOW_SHRINK_HINT

TAIL_BYTES = 64 * 1024
MAX_FILE_SHRINK_ENV = "CPT_UTILIZATION_MAX_FILE_SHRINK"
MAX_QUARANTINE_FRACTION_ENV = "CPT_UTILIZATION_MAX_QUARANTINE_FRACTION"
MIN_LINES_FOR_QUARANTINE_VERDICT = 20
STILL_BEING_WRITTEN = "still being written"

# Called with the file's path between listing (identity captured) and reading; tests use it to append to
# the file deterministically, as a copy in progress would.
BEFORE_READ_HOOK: Callable[[Path], None] | None = None


class StillBeingWritten(Exception):
    """The file changed while it was read."""


class ContentVerdict(Exception):
    """The file read, but its content must not replace what the warehouse holds (the message says why)."""


@dataclass(frozen=True)
class FileIdentity:
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileIdentity:
        stat = os.stat(path)
        return cls(stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


def before_read(path: Path) -> None:
    if BEFORE_READ_HOOK is not None:
        BEFORE_READ_HOOK(path)


def check_still(path: Path, before: FileIdentity) -> None:
    """Raise ``StillBeingWritten`` if the file is gone or differs from ``before`` in size, times or inode."""
    try:
        after = FileIdentity.of(path)
    except FileNotFoundError as exc:
        raise StillBeingWritten(f"{STILL_BEING_WRITTEN}: {path.name} disappeared while it was read") from exc
    if after != before:
        changed = [
            name for name in ("size", "mtime_ns", "ctime_ns", "inode") if getattr(after, name) != getattr(before, name)
        ]
        raise StillBeingWritten(
            f"{STILL_BEING_WRITTEN}: {path.name} changed while it was read ({', '.join(changed)}); "
            "it is loaded by the next run once it is still"
        )


def cut_off_reason(path: Path, delimiter: str, header_fields: int) -> str | None:
    """Reads only the last 64 KiB: a file without a final newline whose last line has too few fields was cut."""
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        start = max(0, size - TAIL_BYTES)
        handle.seek(start)
        tail = handle.read()
    return tail_cut_off_reason(tail, start > 0, delimiter, header_fields)


def tail_cut_off_reason(tail: bytes, more_before: bool, delimiter: str, header_fields: int) -> str | None:
    """The judgement of ``cut_off_reason`` on the last bytes of a file's text (a .gz file's are known only once
    it is decompressed, by the line count that runs while DuckDB reads it)."""
    if not tail or tail.endswith((b"\n", b"\r")):
        return None
    cut = max(tail.rfind(b"\n"), tail.rfind(b"\r"))
    if cut < 0 and more_before:
        return "cut off: last line incomplete (download interrupted?): no line break in the last 64 KiB"
    if cut < 0:
        return None  # a header line without a newline: nothing but the header
    last = tail[cut + 1 :].decode("latin-1")
    fields = next(csv.reader(io.StringIO(last), delimiter=delimiter), [])
    if len(fields) >= header_fields:
        return None
    return (
        f"cut off: last line incomplete (download interrupted?): it ends without a line break after "
        f"{len(fields)} of {header_fields} fields"
    )


def ends_with_line_break(path: Path) -> bool:
    """Reads the last byte. A file cut inside its last field keeps its field count, but not its final line break:
    among files claiming one year, one that ends with a line break is preferred."""
    with open(path, "rb") as handle:
        if handle.seek(0, os.SEEK_END) == 0:
            return False
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) in (b"\n", b"\r")


def shrink_verdict(previous_rows: int, new_rows: int, max_shrink: float, allow_shrink: bool) -> str | None:
    """Why a replacement must not replace ``previous_rows`` rows with ``new_rows``; None if it may."""
    if allow_shrink or previous_rows <= 0:
        return None
    if new_rows == 0:
        return (
            f"has no data rows where the version it replaces had {previous_rows:,}: an emptied or header-only "
            f"file is not loaded (set {ALLOW_SHRINK_HINT} to empty the year on purpose)"
        )
    if new_rows < (1 - max_shrink) * previous_rows:
        return (
            f"lost most of its rows: {new_rows:,} rows where the version it replaces had {previous_rows:,} "
            f"(more than {MAX_FILE_SHRINK_ENV}={max_shrink:g} of them gone; set {ALLOW_SHRINK_HINT} to accept "
            "it on purpose)"
        )
    return None


def quarantine_verdict(quarantined: int, lines: int, max_fraction: float) -> str | None:
    """A file that is mostly quarantine is not a CMS file of this layout."""
    if lines < MIN_LINES_FOR_QUARANTINE_VERDICT or quarantined <= max_fraction * lines:
        return None
    return (
        f"not a CMS file of this layout ({quarantined:,} of {lines:,} lines quarantined; more than "
        f"{MAX_QUARANTINE_FRACTION_ENV}={max_fraction:g})"
    )
