"""List a source folder without ever reading outside it.

Only regular files are returned.  Everything else in the folder is reported as
skipped with the reason, and never opened: symbolic links (to files or folders,
broken links and loops alike: they are never followed, so nothing outside the
folder can be reached through them), FIFOs (opening one would block the run),
sockets and devices.  A subfolder that cannot be listed is skipped with its OS
error instead of failing the run.

Names starting with "." (hidden files and folders such as ``.git``, ``.DS_Store``
or editor swap files) are ignored entirely: not listed, not descended into, not
reported.  They are never user data in these folders.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path


class SourceFolderMissing(FileNotFoundError):
    """The configured source folder does not exist or is not a folder (often: a mount is missing)."""


@dataclass(frozen=True)
class SkippedEntry:
    path: Path
    reason: str


@dataclass
class FolderScan:
    files: list[Path] = field(default_factory=list)
    skipped: list[SkippedEntry] = field(default_factory=list)


_SPECIAL_KINDS = (
    (stat.S_ISLNK, "symbolic link: not followed"),
    (stat.S_ISFIFO, "named pipe (FIFO): not read"),
    (stat.S_ISSOCK, "socket: not read"),
    (stat.S_ISBLK, "block device: not read"),
    (stat.S_ISCHR, "character device: not read"),
)


def scan_folder(directory: Path, *, recursive: bool, env_var: str | None = None) -> FolderScan:
    """Regular files (sorted) and skipped entries of ``directory``; raises SourceFolderMissing if it is absent."""
    _require_folder(directory, env_var)
    scan = FolderScan()
    _scan_into(scan, directory, recursive=recursive)
    scan.files.sort()
    scan.skipped.sort(key=lambda entry: entry.path)
    return scan


def _require_folder(directory: Path, env_var: str | None) -> None:
    try:
        mode = os.stat(directory).st_mode  # the configured folder itself may be a link (e.g. to a mount)
    except OSError as exc:
        raise SourceFolderMissing(_missing_message(directory, env_var, exc.strerror or str(exc))) from exc
    if not stat.S_ISDIR(mode):
        raise SourceFolderMissing(_missing_message(directory, env_var, "not a folder"))


def _missing_message(directory: Path, env_var: str | None, what: str) -> str:
    setting = f"set {env_var} to the folder holding the files" if env_var else "point the setting to the right folder"
    return f"source folder {directory} is unusable ({what}); is a mount missing? {setting}"


def _scan_into(scan: FolderScan, directory: Path, *, recursive: bool) -> None:
    try:
        with os.scandir(directory) as entries:
            listed = sorted(entries, key=lambda entry: entry.name)
    except OSError as exc:
        scan.skipped.append(SkippedEntry(directory, f"folder cannot be listed: {exc.strerror or exc}"))
        return
    for entry in listed:
        if entry.name.startswith("."):
            continue
        _classify_entry(scan, entry, recursive=recursive)


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes arrive as lone surrogates
        return False
    return True


def _classify_entry(scan: FolderScan, entry: os.DirEntry, *, recursive: bool) -> None:
    path = Path(entry.path)
    if not _is_utf8(entry.name):
        # The warehouse stores names as text; record the entry under an escaped name, never read it.
        shown = entry.name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        scan.skipped.append(SkippedEntry(path.with_name(shown), "file name is not valid UTF-8: rename it to load it"))
        return
    try:
        mode = entry.stat(follow_symlinks=False).st_mode  # lstat: a link is reported as a link
    except OSError as exc:
        scan.skipped.append(SkippedEntry(path, f"cannot be examined: {exc.strerror or exc}"))
        return
    if stat.S_ISREG(mode):
        scan.files.append(path)
    elif stat.S_ISDIR(mode):
        if recursive:
            _scan_into(scan, path, recursive=True)
        else:
            scan.skipped.append(SkippedEntry(path, "subfolder: this folder is not searched recursively"))
    else:
        reason = next((text for test, text in _SPECIAL_KINDS if test(mode)), "not a regular file: not read")
        scan.skipped.append(SkippedEntry(path, reason))


class SourceFolderEmpty(RuntimeError):
    """The folder holds no source files while the warehouse holds rows from it: refused unless CPT_ALLOW_SHRINK=1."""


def no_follow_opener(path, flags):
    """``open(..., opener=no_follow_opener)``: between listing and reading, a file could be swapped for a
    symlink; refuse to follow it."""
    return os.open(path, flags | os.O_NOFOLLOW)


def sha256_file(path: Path) -> str:
    """Streaming SHA-256 of a listed file, for files too large to hold in memory (hashlib releases the GIL, so a
    CMS file is hashed while DuckDB parses it). ``file_digest`` reuses one buffer instead of allocating per
    block: on a 2-core machine every CPU-second spent here is taken from that parse."""
    with open(path, "rb", buffering=0, opener=no_follow_opener) as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
