"""What changed in a source folder since the published warehouse recorded it.

The warehouse is the state: ``core.documents`` and ``utilization.source_files``
in the serving snapshot record every file's SHA-256, size and modification time.
A folder is compared against those records; a file is hashed only when its size
or mtime differs from the recorded one, or when its change time (``st_ctime``,
which no user tool can set back) is at or after the time the run that recorded
it read the folder (less ``READ_WINDOW``): an edit that keeps size and mtime, or a
file replaced by another inode, is seen too.  An unchanged folder costs one
``stat`` per file.  Everything here is plain data in, plain data out (the sensor in
``pipeline/defs/automation.py`` does the I/O).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

ADDED, CHANGED, REMOVED = "added", "changed", "removed"
_EPOCH = datetime(1970, 1, 1)
_ONE_MICROSECOND = timedelta(microseconds=1)
# The warehouse keeps mtimes as microseconds; a writer may round or truncate the nanoseconds.
_MTIME_TOLERANCE_NS = 1_000
# How long before the recorded read time a change time still counts as "after the read".  core.documents.parsed_at
# is taken before the folder is listed (and kept while a document is unchanged), so no document edit escapes;
# utilization.source_files.loaded_at is taken once the file is loaded, so an edit keeping size and mtime made
# between a CMS file's read and that moment is not seen.  A window here would close that gap at the cost of
# re-hashing, after every run, each file changed shortly before it.
READ_WINDOW = timedelta(0)


@dataclass(frozen=True, slots=True)
class RecordedFile:
    """A file as the published warehouse describes it (a row of core.documents or utilization.source_files)."""

    sha256: str | None  # None when the run could not read it (or did not: links, pipes…)
    size_bytes: int | None
    modified_at: datetime | None  # naive UTC, microsecond precision
    read_at: datetime | None = None  # naive UTC: when the recording run read the file (parsed_at / loaded_at)


@dataclass(frozen=True, slots=True)
class ObservedFile:
    """A regular file as the folder shows it now."""

    key: str  # document_id (path relative to the folder) or utilization file_name
    size_bytes: int
    mtime_ns: int
    ctime_ns: int | None = None  # st_ctime_ns: moves on every write, rename or chmod; cannot be set back


@dataclass
class ChangeSet:
    """One folder's differences from the warehouse; ``entries`` describe each difference for the digest."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    entries: list[tuple] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def counts(self) -> dict[str, int]:
        return {ADDED: len(self.added), CHANGED: len(self.changed), REMOVED: len(self.removed)}

    def digest(self) -> str:
        """SHA-256 of every difference: the same differences give the same digest, any other difference a new one."""
        hasher = hashlib.sha256()
        for entry in sorted(self.entries, key=repr):
            hasher.update(repr(entry).encode())
            hasher.update(b"\n")
        return hasher.hexdigest()


def merge_change_sets(by_folder: Mapping[str, ChangeSet]) -> ChangeSet:
    """One change set over several folders, for one run that loads them all; keys become ``folder/key``."""
    merged = ChangeSet()
    for folder, changes in by_folder.items():
        merged.added += [f"{folder}/{key}" for key in changes.added]
        merged.changed += [f"{folder}/{key}" for key in changes.changed]
        merged.removed += [f"{folder}/{key}" for key in changes.removed]
        merged.entries += [(folder, *entry) for entry in changes.entries]
    return merged


def same_stat(recorded: RecordedFile, observed: ObservedFile) -> bool:
    """Sizes exactly; mtimes to the microsecond the warehouse keeps."""
    if recorded.size_bytes is None or recorded.modified_at is None:
        return False
    recorded_ns = (recorded.modified_at - _EPOCH) // _ONE_MICROSECOND * 1_000
    return recorded.size_bytes == observed.size_bytes and abs(recorded_ns - observed.mtime_ns) < _MTIME_TOLERANCE_NS


def changed_since_read(recorded: RecordedFile, observed: ObservedFile) -> bool:
    """The file's change time is at or after the time its run read it (less READ_WINDOW): its bytes may differ
    even though size and mtime match (an edit that restored the mtime, another inode with the same stat)."""
    if recorded.read_at is None or observed.ctime_ns is None:
        return False
    read_ns = (recorded.read_at - READ_WINDOW - _EPOCH) // _ONE_MICROSECOND * 1_000
    return observed.ctime_ns >= read_ns


def compare_folder(
    recorded: Mapping[str, RecordedFile],
    files: Iterable[ObservedFile],
    skipped: Mapping[str, str],
    sha256_of: Callable[[str], str],
) -> ChangeSet:
    """Differences between the folder (regular ``files``; ``skipped`` entries: key -> reason) and ``recorded``.

    ``sha256_of(key)`` is called only for recorded files whose size or mtime moved, or whose change time is
    after the recorded read (``changed_since_read``): a touched file with the same bytes is not a change.  Files new to the warehouse are described by size and mtime, not
    hashed, so a large batch waiting for its run costs nothing per tick.  Skipped entries (links,
    pipes…) are never read: they count by presence only.
    """
    changes = ChangeSet()
    present: set[str] = set()
    for observed in files:
        present.add(observed.key)
        _compare_file(changes, recorded.get(observed.key), observed, sha256_of)
    for key, reason in skipped.items():
        present.add(key)
        if key not in recorded:
            changes.added.append(key)
            changes.entries.append((ADDED, key, "skipped", reason))
        elif recorded[key].sha256 is not None:  # a file that was read is now a link or a pipe
            changes.changed.append(key)
            changes.entries.append((CHANGED, key, "skipped", reason))
    for key in sorted(recorded.keys() - present):
        before = recorded[key]
        changes.removed.append(key)
        changes.entries.append((REMOVED, key, before.sha256, before.size_bytes, str(before.modified_at)))
    return changes


def _compare_file(
    changes: ChangeSet, before: RecordedFile | None, observed: ObservedFile, sha256_of: Callable[[str], str]
) -> None:
    key = observed.key
    if before is None:
        changes.added.append(key)
        changes.entries.append((ADDED, key, observed.size_bytes, observed.mtime_ns))
        return
    if same_stat(before, observed) and not changed_since_read(before, observed):
        return
    digest = sha256_of(key)
    if digest != before.sha256:
        changes.changed.append(key)
        changes.entries.append((CHANGED, key, before.sha256, digest, observed.size_bytes, observed.mtime_ns))


def run_key(job_name: str, change_set_digest: str, snapshot_generation: str) -> str:
    """The run key: a digest of the change set and of the snapshot it was measured against.

    Dagster never starts two runs with one key, so a change set already requested is not requested
    again while its run is pending.  The snapshot generation makes the key new once the warehouse has
    published since: the same files changing back (A→B→A→B) or a removed file restored with its old
    mtime then trigger again.
    """
    return hashlib.sha256(f"{job_name}\n{change_set_digest}\n{snapshot_generation}".encode()).hexdigest()
