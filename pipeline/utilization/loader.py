"""Load CMS utilization files with DuckDB's own reader and validate them in DuckDB.

A run looks at every entry of the folder and records each one in ``utilization.source_files``:
``loaded``, ``rejected`` (the file's content is not acceptable, or another file holds its layout
and year; see ``year_claims``) or ``skipped`` (not a CMS file, a link, a FIFO …).

Per loaded file, in one transaction:
1. delete the rows of the same layout and data year (reloading a year replaces that year only);
2. ``INSERT … SELECT`` from ``read_csv`` with explicit column types; lines DuckDB cannot read are
   captured by ``store_rejects`` instead of failing the load (a file that is not valid UTF-8 is
   read again as latin-1);
3. one scan evaluates the contract's rules; failing rows, duplicate grain keys and unreadable lines
   go to ``utilization.quarantine``, one row per line with every reason;
4. record the file.
The data never passes through pandas, and the SHA-256 of the file is computed in a thread while
DuckDB parses it.

Failures: a content failure (bad header, no data year, a CSV DuckDB rejects, an OS error reading
that one file) rejects the file and keeps the rows it loaded earlier.  Anything else (memory, disk,
the warehouse, an interrupt, a bug) rolls the transaction back and raises ``InfrastructureFailure``:
nothing loaded earlier is deleted.
"""

from __future__ import annotations

import errno
import gzip
import time
import zipfile
import zlib
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipeline.contracts.utilization_tables import QUARANTINE_CONTRACT, SOURCE_FILES_CONTRACT
from pipeline.core.domains import LOADED, REJECTED, SKIPPED
from pipeline.failures import InfrastructureFailure, free_space_hint, is_content_error, is_disk_full
from pipeline.inputs.source_folder import FolderScan, SourceFolderEmpty, no_follow_opener, scan_folder, sha256_file
from pipeline.settings import ALLOW_SHRINK_HINT, DEFAULTS
from pipeline.utilization.cms_layouts import (
    LAYOUTS,
    DataYearError,
    UnknownLayoutError,
    cms_release_from_name,
    data_year_from_name,
    recognize_layout,
    release_label,
)
from pipeline.utilization.completeness import (
    ContentVerdict,
    FileIdentity,
    StillBeingWritten,
    before_read,
    check_still,
    cut_off_reason,
    ends_with_line_break,
    quarantine_verdict,
    shrink_verdict,
)
from pipeline.utilization.file_access import (
    ACCEPTED_SUFFIXES,
    DEFAULT_ZIP_CAPS,
    ArchiveContentError,
    FileContentError,
    ZipCaps,
    compression_of,
    open_stored,
    read_header_line,
    readable_path,
    wide_encoding_of,
)
from pipeline.utilization.file_load import create_staging, insert_from_file, publish_staging, quarantine_failing_rows
from pipeline.utilization.in_thread import InThread
from pipeline.utilization.year_claims import Candidate, conflict_reason, rank_candidates, why_holder_wins
from pipeline.validation import verified_partitions
from pipeline.warehouse.change_log import record_change
from pipeline.warehouse.tables import transaction

SOURCE_FILES = SOURCE_FILES_CONTRACT.table
QUARANTINE = QUARANTINE_CONTRACT.table
ENV_VAR = "CPT_UTILIZATION_DIR"
# Errors of the file's own bytes or of reading that one file; the OS errors of a full or read-only disk are not.
_CONTENT_EXCEPTIONS = (UnknownLayoutError, DataYearError, ArchiveContentError, zipfile.BadZipFile, zlib.error, EOFError)
_CONTENT_EXCEPTIONS += (FileContentError, UnicodeError, gzip.BadGzipFile)  # a file's own bytes, never the machine
_MACHINE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.ENOMEM}


@dataclass
class FileOutcome:
    file_name: str
    layout: str | None
    data_year: int | None
    status: str
    rows_loaded: int = 0
    rows_quarantined: int = 0
    error: str | None = None
    skipped_unchanged: bool = False
    timings: dict[str, float] | None = None


@dataclass
class Rejection:
    path: Path
    error: str
    layout: str | None = None
    year: int | None = None
    identity: FileIdentity | None = None  # size, times and inode when it was listed (compared when recorded)


@dataclass
class LoadSettings:
    scratch_dir: Path
    synthetic_digests: frozenset[str] = frozenset()  # SHA-256 of the bundled synthetic samples
    allow_shrink: bool = False
    max_file_shrink: float = DEFAULTS["utilization_max_file_shrink"]
    max_quarantine_fraction: float = DEFAULTS["utilization_max_quarantine_fraction"]
    zip_caps: ZipCaps = DEFAULT_ZIP_CAPS


@dataclass
class FolderPlan:
    candidates: list[Candidate] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    not_cms: list[Path] = field(default_factory=list)


def load_folder(con, directory: Path, settings: LoadSettings) -> tuple[list[FileOutcome], list[str]]:
    """Load the folder; returns the outcome of every entry and the names of files removed from the warehouse."""
    scan = scan_folder(directory, recursive=False, env_var=ENV_VAR)
    plan = plan_folder(con, scan, settings.zip_caps)
    refuse_empty_folder(con, directory, plan, settings.allow_shrink)
    outcomes: list[FileOutcome] = []
    for group in _groups(plan.candidates):
        outcomes += load_year(con, group, settings)
    outcomes += [record_content_rejection(con, r, None, settings) for r in plan.rejections]
    outcomes += [record_skipped(con, path, _not_cms_reason(path), settings) for path in plan.not_cms]
    outcomes += [record_skipped(con, entry.path, entry.reason, settings) for entry in scan.skipped]
    present = {path.name for path in scan.files} | {entry.path.name for entry in scan.skipped}
    removed = forget_removed_files(con, present)
    return sorted(outcomes, key=lambda o: o.file_name), removed


def plan_folder(con, scan: FolderScan, zip_caps: ZipCaps = DEFAULT_ZIP_CAPS) -> FolderPlan:
    """Read each file's header (only): candidates for loading, content rejections, and files that are not CMS."""
    loaded = _loaded_layout_years(con)
    plan = FolderPlan()
    for path in scan.files:
        compression = compression_of(path)
        if compression is None:
            plan.not_cms.append(path)
            continue
        identity = None  # a file that vanished has none; its rejection says why
        try:
            identity = FileIdentity.of(path)
            plan.candidates.append(_inspect(path, compression, loaded, zip_caps))
        except Exception as exc:
            if not _is_content_failure(exc, path):
                raise InfrastructureFailure(f"reading the header of utilization file {path.name}", exc) from exc
            plan.rejections.append(Rejection(path, _content_reason(compression, exc), identity=identity))
    return plan


def _inspect(path: Path, compression: str, loaded: dict[str, tuple[str, int]], zip_caps: ZipCaps) -> Candidate:
    identity = FileIdentity.of(path)  # before any read: compared again after the load
    stored = open_stored(path, compression, zip_caps)
    header, delimiter = read_header_line(stored)
    recognized = recognize_layout(header)
    year = _data_year(path.name, stored.inner_name)
    # The tail of a plain byte-text file is judged here; zip members and UTF-16/32 files once they are
    # extracted or decoded (_check_member_cut_off), since their raw bytes are not lines.
    byte_text = compression == "none" and not _is_wide_text(path)
    return Candidate(
        path=path,
        stored=stored,
        header=recognized,
        delimiter=delimiter,
        year=year,
        release=cms_release_from_name(path.name) or cms_release_from_name(stored.inner_name),
        size=identity.size,
        mtime_ns=identity.mtime_ns,
        loaded_before=loaded.get(path.name) == (recognized.layout.name, year),
        identity=identity,
        cut_off=cut_off_reason(path, delimiter, len(header)) if byte_text else None,
        unterminated=byte_text and not ends_with_line_break(path),
    )


def _is_wide_text(path: Path) -> bool:
    with open(path, "rb", opener=no_follow_opener) as handle:
        return wide_encoding_of(handle.read(4096)) is not None


def _data_year(name: str, inner_name: str) -> int:
    try:
        return data_year_from_name(name)
    except DataYearError:
        if inner_name == name:
            raise
        return data_year_from_name(inner_name)


def _loaded_layout_years(con) -> dict[str, tuple[str, int]]:
    rows = con.execute(f"SELECT file_name, layout, data_year FROM {SOURCE_FILES} WHERE status = ?", [LOADED])
    return {name: (layout, year) for name, layout, year in rows.fetchall()}


def refuse_empty_folder(con, directory: Path, plan: FolderPlan, allow_shrink: bool) -> None:
    """No CMS file at all while the warehouse holds rows: more likely a missing mount than a deliberate removal.
    Placeholders (a README, a 0-byte or cut-off file) are not CMS files: a folder of only those is refused too,
    unless every file whose rows the warehouse holds is among them: each rejection keeps its rows, nothing is
    lost, and the run goes on (a cut download of the one file of a folder is a content problem of that file).
    A held file missing beside a cut one looks like a missing mount with a stray copy: refused."""
    if allow_shrink or any(candidate.cut_off is None for candidate in plan.candidates):
        return
    holding = dict(con.execute(f"SELECT file_name, rows_loaded FROM {SOURCE_FILES} WHERE rows_loaded > 0").fetchall())
    listed = {c.name for c in plan.candidates} | {r.path.name for r in plan.rejections}
    if set(holding) <= listed:  # every held file is there (cut): each rejection keeps its rows, nothing leaves
        return
    rows, files = sum(holding.values()), len(holding)
    if rows:
        raise SourceFolderEmpty(
            f"utilization folder {directory} has no CMS files but the warehouse holds {rows:,} rows from "
            f"{files} files; is a mount missing? Set {ALLOW_SHRINK_HINT} to remove them on purpose"
            + _placeholder_note(plan)
        )


def _placeholder_note(plan: FolderPlan) -> str:
    """What the folder does hold, so the refusal names the placeholders (a README of a mount that did not mount)."""
    found = [f"{c.name} ({c.cut_off})" for c in plan.candidates]
    found += [f"{r.path.name} ({r.error})" for r in plan.rejections]
    found += [f"{path.name} (not a CMS file)" for path in plan.not_cms]
    if not found:
        return ""
    shown = "; ".join(found[:5]) + (f"; and {len(found) - 5} more" if len(found) > 5 else "")
    return f". The folder holds only files that are not complete CMS files: {shown}. Yesterday's data is still served"


def _groups(candidates: list[Candidate]) -> list[list[Candidate]]:
    groups: dict[tuple[str, int], list[Candidate]] = {}
    for candidate in candidates:
        groups.setdefault((candidate.layout, candidate.year), []).append(candidate)
    return [groups[key] for key in sorted(groups)]


def load_year(con, candidates: list[Candidate], settings: LoadSettings) -> list[FileOutcome]:
    """Load the best file of one layout and year; the others are rejected naming it."""
    digests = _DigestCache(con)
    holder: Candidate | None = None
    holder_outcome: FileOutcome | None = None
    outcomes = []
    for candidate in rank_candidates(candidates, digests.of):
        if holder is None:
            outcome = load_candidate(con, candidate, settings)
            if outcome.status == LOADED or outcome.rows_loaded:
                holder, holder_outcome = candidate, outcome
        else:
            if holder_outcome.status == LOADED:
                reason = conflict_reason(holder, candidate, why_holder_wins(holder, candidate, digests.of))
            else:  # the holder only keeps rows it loaded in an earlier run: it is no better than this file
                reason = _behind_a_rejected_holder(holder, holder_outcome, candidate)
            outcome = record_loser(con, candidate, reason, digests.of(candidate), settings)
        outcomes.append(outcome)
    return outcomes


def _behind_a_rejected_holder(holder: Candidate, outcome: FileOutcome, candidate: Candidate) -> str:
    own = candidate.cut_off or "not loaded"
    held = (outcome.error or "rejected").split(";")[0]
    return (
        f"{own}; {holder.name} keeps the {candidate.layout} rows for {candidate.year} it loaded in an earlier run, "
        f"but is itself rejected ({held}); put one complete file for this year in the folder"
    )


def load_candidate(con, candidate: Candidate, settings: LoadSettings) -> FileOutcome:
    """Load one file unless unchanged since its last load; content failures reject it, others raise."""
    unchanged = _unchanged_outcome(con, candidate)
    if unchanged is not None:
        return unchanged
    before_read(candidate.path)
    if candidate.cut_off is not None:
        return _reject_unless_moving(con, candidate, candidate.cut_off, None, settings)
    hasher = InThread(sha256_file, candidate.path)  # the SHA-256 of the bytes DuckDB parses, while it parses
    try:
        with readable_path(candidate.stored, settings.scratch_dir) as (path, compression):
            _check_member_cut_off(candidate, path, compression)
            return _load_transaction(con, candidate, path, compression, hasher, settings)
    except StillBeingWritten as exc:
        return record_still_being_written(con, candidate, str(exc), settings)
    except ContentVerdict as exc:
        return _reject_unless_moving(con, candidate, str(exc), hasher, settings)
    except Exception as exc:
        if not _is_content_failure(exc, candidate.path):
            hint = free_space_hint(settings.scratch_dir.parent, candidate.size) if is_disk_full(exc) else ""
            raise InfrastructureFailure(f"loading utilization file {candidate.name}", exc, hint) from exc
        reason = "load failed: " + _content_reason(candidate.stored.compression, exc)
        return _reject_unless_moving(con, candidate, reason, hasher, settings)


def _content_reason(compression: str, exc: BaseException) -> str:
    if compression == "gzip" and isinstance(exc, EOFError | zlib.error | gzip.BadGzipFile):
        return f"not a complete GZIP file (a download cut short?): {_first_line(exc)}"
    return _first_line(exc)


def _unchanged_outcome(con, candidate: Candidate) -> FileOutcome | None:
    previous = con.execute(
        f"SELECT file_size_bytes, file_modified_at, rows_loaded, rows_quarantined, loaded_at, sha256 "
        f"FROM {SOURCE_FILES} WHERE file_name = ? AND status = ? AND layout = ? AND data_year = ?",
        [candidate.name, LOADED, candidate.layout, candidate.year],
    ).fetchone()
    if not previous or previous[0] != candidate.size or previous[1] != _timestamp_ns(candidate.mtime_ns):
        return None
    if _changed_since_read(candidate, previous[4]):
        if sha256_file(candidate.path) != previous[5]:
            return None  # edited in place keeping its size and modification time: the sensor saw it, reload it
        _mark_checked(con, candidate.name)  # same bytes (a chmod, a copy with -a): not hashed again next run
    return FileOutcome(
        candidate.name, candidate.layout, candidate.year, LOADED, previous[2], previous[3], skipped_unchanged=True
    )


def _mark_checked(con, file_name: str) -> None:
    with transaction(con):
        con.execute(
            f"UPDATE {SOURCE_FILES} SET loaded_at = ? WHERE file_name = ?",
            [datetime.now(UTC).replace(tzinfo=None), file_name],
        )
        _log_changes(con, {}, [], (SOURCE_FILES,))


def _changed_since_read(candidate: Candidate, loaded_at: datetime | None) -> bool:
    """The sensor's rule: a change time at or after the recorded read means the bytes may differ, whatever the
    size and modification time say (no tool can set a change time back)."""
    if candidate.identity is None or loaded_at is None:
        return False
    return candidate.identity.ctime_ns >= loaded_at.replace(tzinfo=UTC).timestamp() * 1e9


def _load_transaction(con, candidate, path: Path, compression: str, hasher, settings) -> FileOutcome:
    try:
        return _load_attempt(con, candidate, path, compression, hasher, settings, staged=False)
    except duckdb.ConstraintException:
        # A line lacks a required value and NOT NULL refused the whole insert (rolled back): load again
        # through a staging table, so that line is quarantined like any other failure.
        return _load_attempt(con, candidate, path, compression, hasher, settings, staged=True)


def _load_attempt(con, candidate, path: Path, compression: str, hasher, settings, *, staged: bool) -> FileOutcome:
    layout, year = candidate.header.layout, candidate.year
    clock = _Clock()
    with transaction(con):
        previous_rows = _year_rows(con, layout, year)
        replaced = _delete_year(con, layout, year, candidate.name)
        withdrawn = _withdraw_other_layouts(con, layout, year, candidate.name)
        relation = create_staging(con, layout) if staged else layout.table
        encoding, unreadable = insert_from_file(con, candidate, path, compression, relation, settings.scratch_dir)
        clock.lap("read_csv")
        moved = quarantine_failing_rows(con, layout, candidate.name, year, relation)
        if staged:
            publish_staging(con, layout)
        clock.lap("validate")
        loaded = con.execute(f"SELECT count(*) FROM {layout.table} WHERE data_year = ?", [year]).fetchone()[0]
        if not moved and not staged:
            # The contract scan just passed on exactly these rows: the blocking check need not scan them again.
            verified_partitions.record(con, layout.contract, [(candidate.name, year, loaded)], "load")
        quarantined = unreadable + moved
        digest = hasher.result()
        clock.lap("sha256_wait")
        _judge_content(candidate, previous_rows, loaded, quarantined, settings)
        note = _load_note(candidate, encoding)
        _record(
            con,
            candidate.path,
            settings,
            status=LOADED,
            candidate=candidate,
            sha256=digest,
            encoding=encoding,
            rows=(loaded, quarantined),
            note=note,
        )
        removed = {layout.table: sum(replaced.values()), **withdrawn}
        sources = sorted(set(replaced) | ({candidate.name} if withdrawn else set()))
        _log_changes(con, removed, sources, (QUARANTINE, SOURCE_FILES))
    clock.lap("commit")
    return FileOutcome(candidate.name, layout.name, year, LOADED, loaded, quarantined, timings=clock.laps)


# --- completeness and layout decisions (see completeness.py) ---------------------------------------------


def _check_member_cut_off(candidate: Candidate, path: Path, compression: str) -> None:
    """A zip member once extracted, or a UTF-16/32 file once decoded, is checked for a cut last line like a plain
    file."""
    if compression == "none" and path != candidate.path:
        reason = cut_off_reason(path, candidate.delimiter, len(candidate.header.columns))
        if reason is not None:
            raise ContentVerdict(reason)


def _reject_unless_moving(con, candidate: Candidate, reason: str, hasher, settings: LoadSettings) -> FileOutcome:
    """A content rejection, unless the file changed since it was listed: then it is still being written (a
    download in progress looks cut off), and the next run reads it again."""
    if hasher is not None:
        with suppress(OSError):  # an unreadable file is reported by the rejection's record
            hasher.result()  # done reading the bytes the recorded SHA-256 is of
    try:
        if candidate.identity is not None:
            check_still(candidate.path, candidate.identity)
    except StillBeingWritten as exc:
        return record_still_being_written(con, candidate, str(exc), settings)
    rejection = Rejection(candidate.path, reason, candidate.layout, candidate.year)
    return record_content_rejection(con, rejection, hasher, settings, candidate)


def _year_rows(con, layout, year: int) -> int:
    return con.execute(f"SELECT count(*) FROM {layout.table} WHERE data_year = ?", [year]).fetchone()[0]


def _judge_content(candidate: Candidate, previous_rows: int, loaded: int, quarantined: int, settings) -> None:
    """Inside the load's transaction, before it commits: the file must be still, and its content a credible
    replacement; otherwise the load rolls back and the rows of the previous version stay."""
    if candidate.identity is not None:
        check_still(candidate.path, candidate.identity)
    verdict = quarantine_verdict(quarantined, loaded + quarantined, settings.max_quarantine_fraction)
    verdict = verdict or shrink_verdict(previous_rows, loaded, settings.max_file_shrink, settings.allow_shrink)
    if verdict is not None:
        raise ContentVerdict(verdict)


def _withdraw_other_layouts(con, layout, year: int, file_name: str) -> dict[str, int]:
    """The file's rows of another layout or year (it was overwritten with another layout under the same name)."""
    removed = {}
    for other in LAYOUTS:
        same = other.table == layout.table
        condition = "source_file = ? AND data_year <> ?" if same else "source_file = ?"
        params = [file_name, year] if same else [file_name]
        count = con.execute(f"SELECT count(*) FROM {other.table} WHERE {condition}", params).fetchone()[0]
        if count:
            verified_partitions.forget(con, other.table, source_file=file_name)
            con.execute(f"DELETE FROM {other.table} WHERE {condition}", params)
            removed[other.table] = count
    con.execute(
        f"DELETE FROM {QUARANTINE} WHERE source_file = ? AND NOT (layout = ? AND data_year = ?)",
        [file_name, layout.name, year],
    )
    return removed


def record_still_being_written(con, candidate: Candidate, reason: str, settings: LoadSettings) -> FileOutcome:
    return _record_moving_file(con, candidate.path, (candidate.layout, candidate.year), reason, settings)


def _record_moving_file(
    con, path: Path, layout_year: tuple[str | None, int | None], reason: str, settings: LoadSettings
) -> FileOutcome:
    """Skipped for this run; the rows of its previous version stay; no size, time or SHA-256 is recorded (none
    was read completely), so the next run and the sensor see the file as changed and load it."""
    kept, quarantined = _rows_of_file(con, path.name)
    if kept:
        layout_year = (
            con.execute(f"SELECT layout, data_year FROM {SOURCE_FILES} WHERE file_name = ?", [path.name]).fetchone()
            or layout_year
        )
    with transaction(con):
        _record(
            con, path, settings, status=SKIPPED, sha256=None, error=reason, rows=(kept, quarantined),
            layout_year=tuple(layout_year),
        )  # fmt: skip
        con.execute(
            f"UPDATE {SOURCE_FILES} SET file_size_bytes = NULL, file_modified_at = NULL WHERE file_name = ?",
            [path.name],
        )
        _log_changes(con, {}, [], (SOURCE_FILES,))
    return FileOutcome(path.name, layout_year[0], layout_year[1], SKIPPED, kept, quarantined, error=reason)


def _log_changes(con, removed: dict[str, int], sources: list[str], also: tuple[str, ...] = ()) -> None:
    """Record in the change log, inside the writer's transaction, which tables changed and which rows left them
    because their file was removed or superseded (the publish guard accepts such a shrink as explained)."""
    for table, count in removed.items():
        record_change(con, table, removed_rows=count, removed_sources=sources if count else ())
    for table in also:
        if table not in removed:
            record_change(con, table)


def _delete_year(con, layout, year: int, file_name: str) -> dict[str, int]:
    """Delete the layout's year; returns the rows that belonged to other files (a superseded holder), per file."""
    others = con.execute(
        f"SELECT source_file, count(*) FROM {layout.table} WHERE data_year = ? AND source_file <> ? GROUP BY 1",
        [year, file_name],
    ).fetchall()
    con.execute(f"DELETE FROM {layout.table} WHERE data_year = ?", [year])
    verified_partitions.forget(con, layout.table, data_year=year)
    con.execute(f"DELETE FROM {QUARANTINE} WHERE layout = ? AND data_year = ?", [layout.name, year])
    return dict(others)


def _load_note(candidate: Candidate, encoding: str) -> str:
    parts = [candidate.header.describe()]
    if candidate.delimiter == "\t":
        parts.append("tab-delimited")
    if candidate.stored.member:
        parts.append(f"read from zip member {candidate.stored.member}")
    if encoding != "utf-8":
        parts.append(f"not valid UTF-8: read as {encoding}")
    return "; ".join(parts)


def _is_content_failure(exc: BaseException, source: Path) -> bool:
    """A fact about this one source file (its bytes, or an OS error reading it), not about the machine."""
    if isinstance(exc, InfrastructureFailure):
        return False
    if isinstance(exc, _CONTENT_EXCEPTIONS) or is_content_error(exc):
        return True
    if isinstance(exc, OSError):
        return exc.errno not in _MACHINE_ERRNOS and not is_disk_full(exc)
    if isinstance(exc, duckdb.IOException):  # DuckDB could not read the source file itself (EIO, vanished)
        return str(source) in str(exc) and not is_disk_full(exc)
    return False


def record_content_rejection(
    con, rejection: Rejection, hasher, settings: LoadSettings, candidate: Candidate | None = None
) -> FileOutcome:
    """A rejected file keeps the rows it loaded earlier (if any): a bad new version must not erase good data."""
    if candidate is None and rejection.identity is not None:
        try:
            check_still(rejection.path, rejection.identity)
        except StillBeingWritten as exc:  # e.g. a download listed at 0 bytes, complete by now
            return _record_moving_file(con, rejection.path, (rejection.layout, rejection.year), str(exc), settings)
    name = rejection.path.name
    kept, quarantined = _rows_of_file(con, name)
    error = rejection.error
    if kept:
        error += (
            f"; the {kept:,} rows loaded earlier from this file are kept until it is fixed or removed "
            "(delete the file to remove them)"
        )
    layout_year = (rejection.layout, rejection.year)
    if kept and rejection.layout is None:  # the kept rows still belong to the layout and year recorded before
        layout_year = (
            con.execute(f"SELECT layout, data_year FROM {SOURCE_FILES} WHERE file_name = ?", [name]).fetchone()
            or layout_year
        )
    if _already_recorded(con, rejection.path, REJECTED, error):
        return FileOutcome(name, layout_year[0], layout_year[1], REJECTED, kept, quarantined, error=error)
    digest = _digest_or_none(hasher, rejection.path)
    with transaction(con):
        _record(
            con,
            rejection.path,
            settings,
            status=REJECTED,
            candidate=candidate,
            identity=rejection.identity,
            sha256=digest,
            error=error,
            rows=(kept, quarantined),
            layout_year=tuple(layout_year),
        )
        _log_changes(con, {}, [], (SOURCE_FILES,))
    return FileOutcome(name, layout_year[0], layout_year[1], REJECTED, kept, quarantined, error=error)


def record_loser(con, candidate: Candidate, reason: str, digest: str, settings: LoadSettings) -> FileOutcome:
    """Another file holds this layout and year: only this file's own rows go (never the holder's)."""
    outcome = FileOutcome(candidate.name, candidate.layout, candidate.year, REJECTED, error=reason)
    if _already_recorded(con, candidate.path, REJECTED, reason) and not _rows_of_file(con, candidate.name)[0]:
        return outcome
    with transaction(con):
        removed = _delete_file_rows(con, candidate.name)
        _record(
            con, candidate.path, settings, status=REJECTED, candidate=candidate, sha256=digest, error=reason,
            rows=(0, 0),
        )  # fmt: skip
        _log_changes(con, removed, [candidate.name], (SOURCE_FILES,))
    return outcome


def record_skipped(con, path: Path, reason: str, settings: LoadSettings) -> FileOutcome:
    """Recorded, never read as data: only regular files are hashed (a FIFO is never opened)."""
    if _already_recorded(con, path, SKIPPED, reason):
        return FileOutcome(path.name, None, None, SKIPPED, error=reason)
    digest = _digest_or_none(None, path) if _is_regular(path) else None
    with transaction(con):
        removed = _delete_file_rows(con, path.name)
        _record(con, path, settings, status=SKIPPED, sha256=digest, error=reason, rows=(0, 0))
        _log_changes(con, removed, [path.name], (SOURCE_FILES,))
    return FileOutcome(path.name, None, None, SKIPPED, error=reason)


def _already_recorded(con, path: Path, status: str, error: str) -> bool:
    """The same verdict on the same file (size and time) is already recorded: rewriting it would only mark
    source_files as changed, and make the marts and the snapshot redo work for nothing."""
    stat = _lstat_or_none(path)
    if stat is None:
        return False
    row = con.execute(
        f"SELECT 1 FROM {SOURCE_FILES} WHERE file_name = ? AND status = ? AND error = ? AND file_size_bytes = ? "
        "AND file_modified_at = ?",
        [path.name, status, error, stat.st_size, _timestamp_ns(stat.st_mtime_ns)],
    ).fetchone()
    return row is not None


def _not_cms_reason(path: Path) -> str:
    return f"not a CMS utilization file: {path.name} (read are {', '.join(ACCEPTED_SUFFIXES)})"


def forget_removed_files(con, present: set[str]) -> list[str]:
    """Files no longer in the folder: remove their rows everywhere, like removed documents."""
    gone = [row[0] for row in con.execute(f"SELECT file_name FROM {SOURCE_FILES}").fetchall() if row[0] not in present]
    for name in gone:
        with transaction(con):
            removed = _delete_file_rows(con, name)
            con.execute(f"DELETE FROM {SOURCE_FILES} WHERE file_name = ?", [name])
            removed[SOURCE_FILES] = 1  # its own source_files row leaves with it: explained too
            _log_changes(con, removed, [name])
    return gone


def _delete_file_rows(con, file_name: str) -> dict[str, int]:
    """Delete a file's rows everywhere; returns the rows deleted per table."""
    removed = {}
    for layout in LAYOUTS:
        verified_partitions.forget(con, layout.table, source_file=file_name)
    for table in [layout.table for layout in LAYOUTS] + [QUARANTINE]:
        removed[table] = con.execute(f"DELETE FROM {table} WHERE source_file = ?", [file_name]).fetchone()[0]
    return {table: count for table, count in removed.items() if count}


def _rows_of_file(con, file_name: str) -> tuple[int, int]:
    loaded = sum(
        con.execute(f"SELECT count(*) FROM {layout.table} WHERE source_file = ?", [file_name]).fetchone()[0]
        for layout in LAYOUTS
    )
    quarantined = con.execute(f"SELECT count(*) FROM {QUARANTINE} WHERE source_file = ?", [file_name]).fetchone()[0]
    return loaded, quarantined


def _record(
    con,
    path: Path,
    settings: LoadSettings,
    *,
    status: str,
    rows: tuple[int, int],
    sha256: str | None,
    candidate: Candidate | None = None,
    encoding: str | None = None,
    error: str | None = None,
    note: str | None = None,
    layout_year: tuple[str | None, int | None] = (None, None),
    identity: FileIdentity | None = None,
) -> None:
    stat = _lstat_or_none(path)
    size, mtime_ns = (stat.st_size, stat.st_mtime_ns) if stat else (None, None)
    identity = identity or (candidate.identity if candidate is not None else None)
    if identity is not None:  # what was read (a load or a rejection compares it before recording)
        size, mtime_ns = identity.size, identity.mtime_ns
    values = {
        "file_name": path.name,
        "layout": candidate.layout if candidate else layout_year[0],
        "data_year": candidate.year if candidate else layout_year[1],
        "cms_release": release_label(candidate.release)
        if candidate
        else release_label(cms_release_from_name(path.name)),
        "file_form": candidate.header.describe() if candidate else None,
        "compression": candidate.stored.compression if candidate else compression_of(path),
        "encoding": encoding,
        "sha256": sha256,
        "file_size_bytes": size,
        "rows_loaded": rows[0],
        "rows_quarantined": rows[1],
        "status": status,
        "error": error,
        "note": note,
        "loaded_at": datetime.now(UTC).replace(tzinfo=None),
        "file_modified_at": _timestamp_ns(mtime_ns) if mtime_ns is not None else None,
        "is_synthetic": _rows_are_synthetic(con, path.name, status, sha256, settings),
    }
    con.execute(f"DELETE FROM {SOURCE_FILES} WHERE file_name = ?", [path.name])
    con.execute(
        f"INSERT INTO {SOURCE_FILES} ({', '.join(values)}) VALUES ({', '.join('?' for _ in values)})",
        list(values.values()),
    )


def _rows_are_synthetic(con, file_name: str, status: str, sha256: str | None, settings: LoadSettings) -> bool:
    """The label of the rows the warehouse holds from this file: a loaded file's own content decides; a file
    that did not replace its rows (rejected, still being written) keeps the label of the version they came from,
    so a cut copy of the synthetic sample does not turn the sample's kept rows into "CMS" data."""
    if status != LOADED:
        previous = con.execute(f"SELECT is_synthetic FROM {SOURCE_FILES} WHERE file_name = ?", [file_name]).fetchone()
        if previous is not None:
            return bool(previous[0])
    return sha256 is not None and sha256 in settings.synthetic_digests


def _lstat_or_none(path: Path):
    try:
        return path.lstat()
    except OSError:
        return None


def _is_regular(path: Path) -> bool:
    stat = _lstat_or_none(path)
    return stat is not None and (stat.st_mode & 0o170000) == 0o100000


def _timestamp_ns(mtime_ns: int) -> datetime:
    return datetime.fromtimestamp(mtime_ns / 1e9, UTC).replace(tzinfo=None)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _digest_or_none(hasher, path: Path) -> str | None:
    try:
        return hasher.result() if hasher else sha256_file(path)
    except OSError:
        return None


class _DigestCache:
    """SHA-256 per candidate, from the last record when size and time are unchanged (no re-read of 3 GB)."""

    def __init__(self, con):
        self._con = con
        self._digests: dict[str, str] = {}

    def of(self, candidate: Candidate) -> str:
        if candidate.name not in self._digests:
            self._digests[candidate.name] = self._recorded(candidate) or sha256_file(candidate.path)
        return self._digests[candidate.name]

    def _recorded(self, candidate: Candidate) -> str | None:
        row = self._con.execute(
            f"SELECT sha256 FROM {SOURCE_FILES} WHERE file_name = ? AND file_size_bytes = ? AND file_modified_at = ?",
            [candidate.name, candidate.size, _timestamp_ns(candidate.mtime_ns)],
        ).fetchone()
        return row[0] if row else None


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now
