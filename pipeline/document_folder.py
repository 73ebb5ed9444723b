"""Read the documents folder: which entries are there, their bytes and content hashes.

Only regular files inside the folder are read (``source_folder.scan_folder`` never
follows a symlink and never opens a FIFO or device); every other entry comes back
as skipped, with its reason, so it gets a ``core.documents`` row instead of
vanishing.  An OS error while reading one file (EIO, a file that vanished) is
recorded on that file: the other documents still load.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline.failures import describe
from pipeline.source_folder import no_follow_opener, scan_folder, sha256_file

DOCUMENTS_ENV = "CPT_DOCUMENTS_DIR"
UNLISTABLE = "folder cannot be listed"


class SourceFolderUnreadable(OSError):
    """A part of the folder cannot be listed: treated as an infrastructure failure, never as removed files."""


@dataclass(frozen=True, slots=True)
class DocumentSource:
    document_id: str
    path: Path
    size_bytes: int
    modified_at: datetime
    sha256: str | None
    data: bytes | None  # None when too large to parse, unreadable or skipped
    skipped_reason: str | None = None
    read_error: str | None = None


def iter_documents(directory: Path, max_bytes: int) -> Iterator[DocumentSource]:
    """Every entry of the folder, in path order; one file's bytes in memory at a time."""
    scan = scan_folder(directory, recursive=True, env_var=DOCUMENTS_ENV)
    unlisted = [entry for entry in scan.skipped if entry.reason.startswith(UNLISTABLE)]
    if unlisted:
        # Its documents would look removed and their facts would leave every table: stop instead.
        raise SourceFolderUnreadable(
            f"documents subfolder {unlisted[0].path} cannot be listed ({unlisted[0].reason}); nothing was changed. "
            "Fix its permissions or mount and rerun."
        )
    entries = [(path, None) for path in scan.files] + [(entry.path, entry.reason) for entry in scan.skipped]
    for path, skipped_reason in sorted(entries, key=lambda item: item[0]):
        if skipped_reason is not None:
            yield _skipped(path, directory, skipped_reason)
        else:
            yield read_document(path, directory, max_bytes)


def read_document(path: Path, directory: Path, max_bytes: int) -> DocumentSource:
    try:
        stat = path.stat(follow_symlinks=False)
        if stat.st_size > max_bytes:
            data, digest = None, sha256_file(path)
        else:
            data = read_bytes(path)
            digest = hashlib.sha256(data).hexdigest()
    except OSError as exc:
        return _unreadable(path, directory, exc)
    return DocumentSource(_document_id(path, directory), path, stat.st_size, _mtime(stat), digest, data)


def read_bytes(path: Path) -> bytes:
    """The one place document bytes are read (a test double replaces it to simulate EIO)."""
    with open(path, "rb", opener=no_follow_opener) as handle:
        return handle.read()


def _skipped(path: Path, directory: Path, reason: str) -> DocumentSource:
    size, modified = _size_and_mtime_if_any(path)
    return DocumentSource(_document_id(path, directory), path, size, modified, None, None, skipped_reason=reason)


def _unreadable(path: Path, directory: Path, exc: OSError) -> DocumentSource:
    size, modified = _size_and_mtime_if_any(path)
    error = f"cannot read the file: {describe(exc)}; it is rejected, the other documents load"
    return DocumentSource(_document_id(path, directory), path, size, modified, None, None, read_error=error)


def _size_and_mtime_if_any(path: Path) -> tuple[int, datetime]:
    """The entry's own size and time (never its link target's); zero and the epoch when even that fails."""
    try:
        stat = path.lstat()
    except OSError:
        return 0, datetime.fromtimestamp(0, UTC).replace(tzinfo=None)
    return stat.st_size, _mtime(stat)


def _document_id(path: Path, directory: Path) -> str:
    return path.relative_to(directory).as_posix()


def _mtime(stat: os.stat_result) -> datetime:
    return datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None)
