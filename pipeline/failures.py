"""The two kinds of failure, and how to tell them apart.

A *content* failure is a fact about one source file: its bytes are not what the
pipeline accepts (wrong header, unreadable CSV dialect, not text).  It is recorded
on that file and the run goes on.  Reading a source file that fails with an OS
error (EIO, a vanished mount entry) is also recorded on that file: one bad file
must not stop the others.

An *infrastructure* failure is a fact about the machine or the pipeline: out of
memory, disk full, I/O on the warehouse, an interrupt, a bug.  It fails the asset,
rolls the transaction back, deletes nothing and publishes nothing.  It is raised as
``InfrastructureFailure``, whose message names what was being done and the
original cause (never a secondary rollback error).
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import duckdb

# DuckDB raises these for bytes it cannot accept; everything else from DuckDB is infrastructure.
_DUCKDB_CONTENT_ERRORS = (duckdb.InvalidInputException, duckdb.ConversionException)
_DUCKDB_CONTENT_HINTS = ("csv error", "could not convert", "invalid unicode", "sniff", "line ")


class InfrastructureFailure(RuntimeError):
    """The run cannot go on safely; nothing is deleted or published."""

    def __init__(self, what: str, cause: BaseException, hint: str = ""):
        self.what, self.cause = what, cause
        message = f"{what}: {describe(cause)}"
        super().__init__(f"{message}. {hint}".strip() if hint else message)


def describe(exc: BaseException) -> str:
    """Type and first line of an exception, with the OS error name when there is one."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, OSError) and exc.errno:
        name = errno.errorcode.get(exc.errno, str(exc.errno))
        return f"{type(exc).__name__} [{name}] {exc.strerror or text}" + (f" ({exc.filename})" if exc.filename else "")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def is_content_error(exc: BaseException) -> bool:
    """True when DuckDB rejected a source file's bytes (not memory, disk, I/O or a bug)."""
    if isinstance(exc, duckdb.OutOfMemoryException | duckdb.IOException):
        return False
    if not isinstance(exc, _DUCKDB_CONTENT_ERRORS):
        return False
    text = str(exc).lower()
    return any(hint in text for hint in _DUCKDB_CONTENT_HINTS)


def is_disk_full(exc: BaseException) -> bool:
    text = str(exc).lower()
    return (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "no space left on device" in text


def free_space_hint(path: Path, needed_bytes: int | None = None) -> str:
    """What a disk-full error needs to tell the operator: where, how much is free and how much was needed."""
    folder = path if path.is_dir() else path.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return f"check free space under {folder}"
    needed = f"; this step needed about {needed_bytes / 1e6:,.0f} MB" if needed_bytes else ""
    return f"{free / 1e6:,.0f} MB free under {folder}{needed}; free some space and rerun (nothing was published)"


def infrastructure_failure(what: str, exc: BaseException, *, path: Path | None = None) -> InfrastructureFailure:
    """Wrap ``exc``, adding where the disk is full and how much is free when that is the cause."""
    hint = free_space_hint(path) if path is not None and is_disk_full(exc) else ""
    return InfrastructureFailure(what, exc, hint)
