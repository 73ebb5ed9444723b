"""Read the documents folder: which entries are there, their bytes and content hashes.

Only regular files inside the folder are read (``source_folder.scan_folder`` never
follows a symlink and never opens a FIFO or device); every other entry comes back
as skipped, with its reason, so it gets a ``core.documents`` row instead of
vanishing.  Files that are not documents at all (a saved page's scripts and images,
a README placeholder, ``.DS_Store``: ``core.document_kinds``) are skipped unread too.  An OS error while reading one file (EIO, a file that vanished) is
recorded on that file: the other documents still load.

A file is read only when it is still: its size, modification time, change time
and inode are taken before the read and again after it, and the bytes read must
number the size seen before.  A file that moved in between is still being written
(a copy or a download in progress): it comes back ``in_motion`` with no bytes, no
hash and only the size and time seen before the read, so the next run or sensor
tick sees a change and picks it up once it is still.  The SHA-256 recorded is
always the SHA-256 of exactly the bytes that are parsed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline.core.document_kinds import not_a_document, saved_pages
from pipeline.failures import describe
from pipeline.inputs.source_folder import scan_folder, sha256_file

DOCUMENTS_ENV = "CPT_DOCUMENTS_DIR"
UNLISTABLE = "folder cannot be listed"
STILL_BEING_WRITTEN = "still being written (it changed while it was read)"

# Called with each file's path after its "before" stat and before its bytes are read: the moment a writer
# still at work changes it. None in production; tests set it to append to the file, deterministically.
before_read: Callable[[Path], None] | None = None


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
    in_motion: str | None = None  # the file changed while it was read: what changed (no bytes, no hash)


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
    # Each id computed once (it is asked three times a file); sorted by path parts, as Path orders them.
    entries = [(path, _document_id(path, directory), None) for path in scan.files]
    pages = saved_pages(document_id for _, document_id, _ in entries)
    entries += [(entry.path, _document_id(entry.path, directory), entry.reason) for entry in scan.skipped]
    entries.sort(key=lambda item: item[1].split("/"))
    for path, document_id, skipped_reason in entries:
        skipped_reason = skipped_reason or not_a_document(document_id, pages)
        if skipped_reason is not None:
            yield _skipped(path, directory, skipped_reason)
        else:
            yield read_document(path, directory, max_bytes, document_id)


def read_document(path: Path, directory: Path, max_bytes: int, document_id: str | None = None) -> DocumentSource:
    document_id = document_id or _document_id(path, directory)
    try:
        before = os.stat(path, follow_symlinks=False)
        if before_read is not None:
            before_read(path)
        if before.st_size > max_bytes:
            data, digest, bytes_read = None, sha256_file(path), None
        else:
            data = read_bytes(path)
            digest, bytes_read = hashlib.sha256(data).hexdigest(), len(data)
        after = os.stat(path, follow_symlinks=False)
    except OSError as exc:
        return _unreadable(path, directory, exc)
    moved = what_moved(before, after, bytes_read)
    if moved:
        # Only what was seen before the read is recorded: never the size or time of bytes not read.
        reason = f"{STILL_BEING_WRITTEN}: {moved}"
        return DocumentSource(document_id, path, before.st_size, _mtime(before), None, None, in_motion=reason)
    return DocumentSource(document_id, path, before.st_size, _mtime(before), digest, data)


def what_moved(before: os.stat_result, after: os.stat_result, bytes_read: int | None) -> str:
    """What changed between two stats of one file and the bytes read from it; '' when the file was still."""
    changes = []
    if after.st_size != before.st_size:
        changes.append(f"size {before.st_size:,} → {after.st_size:,} bytes")
    if bytes_read is not None and bytes_read != before.st_size:
        changes.append(f"{bytes_read:,} bytes read of {before.st_size:,}")
    if after.st_mtime_ns != before.st_mtime_ns:
        changes.append("modification time moved")
    if after.st_ctime_ns != before.st_ctime_ns:
        changes.append("change time moved")
    if after.st_ino != before.st_ino:
        changes.append("replaced by another file (inode changed)")
    return ", ".join(changes)


def read_bytes(path: Path) -> bytes:
    """The one place document bytes are read (a test double replaces it to simulate EIO): to the end of the file,
    never through a symlink swapped in after the listing; os calls, not ``open``, as this runs once per file."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        chunks = [os.read(fd, os.fstat(fd).st_size + 1)]
        while chunks[-1]:  # a file still growing: read what is there; the stats around the read tell
            chunks.append(os.read(fd, 1 << 20))
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 2 else b"".join(chunks)


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
    # The folder scan builds every path as directory / relative parts, so its text starts with the folder's: the
    # slicing is what relative_to does, without the cost pathlib pays per call (three calls a document).
    text, prefix = str(path), str(directory)
    if text.startswith(prefix) and text[len(prefix) : len(prefix) + 1] == "/" and prefix != "/":
        return text[len(prefix) + 1 :]
    return path.relative_to(directory).as_posix()


def _mtime(stat: os.stat_result) -> datetime:
    return datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None)
