"""Where the fee schedules are read: list the medicare policy folder, recognise each file by its content, load
it, and record every entry in ``medicare.source_files``.

One run:
1. entries gone from the folder lose their rows (and their quarantine lines) everywhere;
2. every entry is read (a zip member by member) unless it is unchanged since it was loaded (same SHA-256);
   a file that changes while it is read is ``skipped`` for this run and keeps its earlier rows. The plain files
   of one NCCI PTP release are read together where the first of them comes (``_read_ptp_release``);
3. each sheet is recognised by the layout registry (``layouts.py``): unknown sheets are ``skipped`` with their
   header named; a recognised sheet with no release or a missing column is ``rejected``;
4. each recognised sheet is staged and typed in DuckDB (``load.py``); sheets of one *slot* (layout, release,
   conversion-factor variant) must agree. Conflict rule: files of one slot that disagree: if one was loaded in an
   earlier run, it stays and the other is rejected naming it; if both arrive in one run, neither loads and both
   are rejected naming each other. Files that agree: one holds the rows, the other is ``skipped`` naming it.
   Inside one zip the csv form is read before txt and xlsx (the same facts, CMS ships all three);
5. the winner replaces its slot (and its own earlier rows) in one transaction, with its quarantined lines.

Content failures (a damaged zip or workbook, a header without a needed column) reject that file and keep the rows
it loaded before. Anything else (the warehouse, the disk, a bug) raises ``InfrastructureFailure``: the
transaction rolls back and nothing loaded earlier is deleted.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from pipeline.contracts.medicare_tables import (
    QUARANTINE_CONTRACT,
    SCHEDULE_CONTRACTS,
    SOURCE_FILES_CONTRACT,
)
from pipeline.core.domains import LOADED, REJECTED, SKIPPED
from pipeline.failures import InfrastructureFailure
from pipeline.inputs.source_folder import no_follow_opener, scan_folder, sha256_file
from pipeline.medicare_policy.coding_edit_files import (
    CODING_EDIT_TABLES,
    HEAD_BYTES,
    TEXT_SUFFIXES,
    MemberLoad,
    NotTogether,
    load_coding_edit_entry,
    load_ptp_release_together,
    newer_ptp_release,
    recognized_member,
)
from pipeline.medicare_policy.layouts import LayoutError, Recognized, recognise
from pipeline.medicare_policy.load import STAGE, STAGED_QUARANTINE, Staged, digest, stage
from pipeline.medicare_policy.ncci import PTP_NAME
from pipeline.medicare_policy.sheets import ACCEPTED_SUFFIXES, SheetContentError, sheets_of
from pipeline.settings import DEFAULTS
from pipeline.utilization.completeness import FileIdentity, StillBeingWritten, before_read, check_still
from pipeline.utilization.in_thread import InThread
from pipeline.validation.reject_rows import RejectTarget, insert_rejects
from pipeline.warehouse.change_log import record_change
from pipeline.warehouse.tables import insert_rows, transaction

ENV_VAR = "CPT_MEDICARE_POLICY_DIR"
SOURCE_FILES = SOURCE_FILES_CONTRACT.table
QUARANTINE = QUARANTINE_CONTRACT.table
# The NCCI and HCPCS files load on their own fast path (coding_edit_files.py) into the last three.
DATA_TABLES = tuple(contract.table for contract in SCHEDULE_CONTRACTS.values()) + CODING_EDIT_TABLES
FORM_PREFERENCE = {"csv": 0, "txt": 1, "xlsx": 2}
_CONTENT_ERRORS = (SheetContentError, LayoutError, UnicodeError, OSError)


@dataclass
class Candidate:
    """One recognised sheet of a changed entry, staged into its own temp tables."""

    file_name: str
    found: Recognized
    staged: Staged
    tables: tuple[str, str]  # (staged rows, staged quarantine)

    @property
    def label(self) -> str:
        return self.found.sheet.label


@dataclass
class Entry:
    path: Path
    sha256: str | None = None
    identity: FileIdentity | None = None
    compression: str = "none"
    encoding: str | None = None
    forms: set[str] = field(default_factory=set)
    layouts: set[str] = field(default_factory=set)
    releases: set[str] = field(default_factory=set)
    years: set[int] = field(default_factory=set)
    loaded: list[str] = field(default_factory=list)  # slots loaded
    errors: list[str] = field(default_factory=list)
    skips: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unchanged: bool = False
    settled: bool = False  # read with its release (_read_ptp_release): not read again on its own

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class PolicySettings:
    synthetic_digests: frozenset[str] = frozenset()
    # More failing lines than this share is a file of another shape or a damaged one, not a few bad cells.
    max_quarantine_fraction: float = DEFAULTS["utilization_max_quarantine_fraction"]


@dataclass(frozen=True)
class Outcome:
    file_name: str
    status: str
    layout: str | None
    release: str | None
    rows_loaded: int
    rows_quarantined: int
    error: str | None
    note: str | None
    unchanged: bool


def load_folder(con, directory: Path, settings: PolicySettings = PolicySettings()) -> tuple[list[Outcome], list[str]]:
    """Load the folder; the outcome of every entry, and the names of entries removed from the warehouse."""
    scan = scan_folder(directory, recursive=False, env_var=ENV_VAR)
    present = {path.name for path in scan.files} | {entry.path.name for entry in scan.skipped}
    removed = forget_removed(con, present)
    entries = [Entry(path) for path in scan.files]
    releases = _ptp_releases(entries)
    candidates: list[Candidate] = []
    for entry in entries:
        if entry.name in releases:
            _read_ptp_release(con, releases[entry.name])
        if not entry.settled:
            candidates += _read_entry(con, entry, len(candidates), settings)
    by_name = {entry.name: entry for entry in entries}
    for slot, members in _by_slot(candidates).items():
        _settle_slot(con, slot, members, by_name)
    outcomes = [_record_entry(con, entry, settings) for entry in entries]
    outcomes += [_record_skipped(con, item.path, item.reason, settings) for item in scan.skipped]
    for index in range(len(candidates)):
        con.execute(f"DROP TABLE IF EXISTS {STAGE}_{index}")
        con.execute(f"DROP TABLE IF EXISTS {STAGED_QUARANTINE}_{index}")
    return sorted(outcomes, key=lambda o: o.file_name), removed


def _read_entry(con, entry: Entry, first_index: int, settings: PolicySettings) -> list[Candidate]:
    path = entry.path
    try:
        entry.identity = FileIdentity.of(path)
        before_read(path)
        with open(path, "rb", opener=no_follow_opener) as handle:
            data = handle.read()
        check_still(path, entry.identity)
    except StillBeingWritten as exc:
        entry.skips.append(str(exc))
        entry.identity = None  # no size or time recorded: the next run and the sensor see it as changed
        return []
    except OSError as exc:
        entry.errors.append(f"cannot be read: {exc.strerror or exc}")
        return []
    # Hashed whatever it is, so the sensor can tell an unchanged README from a changed one.
    entry.sha256 = hashlib.sha256(data).hexdigest()
    if path.suffix.lower() not in ACCEPTED_SUFFIXES:
        entry.skips.append(f"not a Medicare payment policy file: {path.name} (read are {', '.join(ACCEPTED_SUFFIXES)})")
        return []
    entry.compression = "zip" if path.suffix.lower() == ".zip" else "none"
    if _unchanged_since_loaded(con, entry):
        entry.unchanged = True
        return []
    if _read_coding_edits(con, entry, data):
        return []
    try:
        sheets, notes = sheets_of(path, data)
    except SheetContentError as exc:
        entry.errors.append(str(exc))
        return []
    entry.notes += notes
    found: list[Recognized] = []
    unknown = []
    for sheet in sheets:
        entry.encoding = entry.encoding or sheet.encoding
        try:
            recognized = recognise(sheet)
        except LayoutError as exc:
            entry.errors.append(f"{sheet.inner_name}: {exc}")
            continue
        if recognized is None:
            unknown.append(
                f"{sheet.inner_name} (header: {sheet.first_line()!r})" if sheet.member else repr(sheet.first_line())
            )
        else:
            found.append(recognized)
    if not found and not entry.errors:
        entry.skips.append(
            "not a recognized Medicare payment file (PPRRVU, OPPS Addendum B, ASC Addendum AA); "
            + ("its members: " if entry.compression == "zip" else "its first line: ")
            + ("; ".join(unknown) or "none readable")
        )
        return []
    if unknown:
        entry.notes.append("not recognized, not read: " + "; ".join(unknown))
    chosen = _one_form_per_slot(entry, found)
    candidates = []
    for index, recognized in enumerate(chosen, start=first_index):
        staged = stage(con, recognized, entry.name)
        tables = (f"{STAGE}_{index}", f"{STAGED_QUARANTINE}_{index}")
        con.execute(f"ALTER TABLE {STAGE} RENAME TO {tables[0]}")
        con.execute(f"ALTER TABLE {STAGED_QUARANTINE} RENAME TO {tables[1]}")
        if staged.stripped_codes:
            entry.notes.append(
                f"{recognized.sheet.inner_name}: a stray non-printing byte after the code stripped on "
                f"{staged.stripped_codes} line(s)"
            )
        lines = staged.rows + staged.quarantined
        if staged.quarantined > settings.max_quarantine_fraction * lines:
            first = con.execute(f"SELECT line_number, reasons FROM {tables[1]} ORDER BY line_number LIMIT 1").fetchone()
            entry.errors.append(
                f"{recognized.sheet.inner_name}: {staged.quarantined:,} of {lines:,} data lines fail the contract "
                f"(first: line {first[0]}: {first[1][:200]}); not loaded"
            )
            continue
        entry.forms.add(recognized.sheet.form)
        candidates.append(Candidate(entry.name, recognized, staged, tables))
    return candidates


def _read_coding_edits(con, entry: Entry, data: bytes) -> bool:
    """Load the entry on the coding-edit fast path if it is (or its zip holds) an NCCI or HCPCS file."""
    identity = entry.identity
    try:
        found = load_coding_edit_entry(con, entry.path, data, lambda: check_still(entry.path, identity))
    except StillBeingWritten as exc:
        entry.skips.append(str(exc))
        entry.identity = None
        return True
    if found is None:
        return False
    _take_members(entry, *found)
    return True


def _take_members(entry: Entry, members: list[MemberLoad], notes: list[str]) -> None:
    entry.notes += notes
    entry.encoding = entry.encoding or "latin-1"
    for member in members:
        if member.error:
            entry.errors.append(member.error)
        elif member.skip:
            entry.skips.append(member.skip)
        elif member.loaded:
            entry.loaded.append(member.describe())
            entry.layouts.add(member.layout)
            entry.releases.add(member.release if member.setting is None else f"{member.setting} {member.release}")
            entry.years.add(member.data_year)
            entry.forms.add(member.form)
            entry.notes += member.notes


def _ptp_releases(entries: list[Entry]) -> dict[str, list[Entry]]:
    """Plain PTP text files sharing a setting and version (CMS's f1-f4), by the name of the first: the release is
    read there, all its files at once."""
    by_release: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    for entry in entries:
        match = PTP_NAME.search(entry.name)
        if match is not None and entry.path.suffix.lower() in TEXT_SUFFIXES:
            by_release[(match["prefix"].lower(), match["version"].lower())].append(entry)
    return {members[0].name: members for members in by_release.values() if len(members) > 1}


def _read_ptp_release(con, entries: list[Entry]) -> None:
    """The files of one PTP release in one read (coding_edit_files.load_ptp_release_together), each settled as
    _read_entry would settle it alone. Any file that is not the plain case (unreadable, changing, not a PTP file
    after all, a newer release beside it) is left to _read_entry, and so are all of them when the release does
    not load together (_read_entry then says which file or line is at fault).

    A file of the size recorded when it was loaded is hashed first, and left as it is when its SHA-256 is the
    recorded one too (touched, copied). The others, new or changed for sure, are hashed while DuckDB reads them
    (hashlib releases the GIL: the hash costs little wall-clock time)."""
    ready: list[tuple[Entry, MemberLoad, object]] = []
    for entry in entries:
        glimpse = _glimpse(entry.path)
        if glimpse is None:
            continue
        entry.identity, head = glimpse
        entry.compression, entry.encoding, entry.sha256 = "none", None, None
        if _recorded_size(con, entry.name) == entry.identity.size:
            try:
                entry.sha256 = sha256_file(entry.path)
                check_still(entry.path, entry.identity)
            except (StillBeingWritten, OSError):
                continue  # _read_entry says what is wrong
            if _unchanged_since_loaded(con, entry):
                entry.unchanged = entry.settled = True
                continue
        member, found = recognized_member(head, entry.name)
        plain = member is not None and member.layout == "ncci_ptp" and member.error is None
        if plain and newer_ptp_release(entry.path.parent, member) is None:
            ready.append((entry, member, found))
    if len(ready) < 2:
        return
    by_path = {entry.path: entry for entry, _, _ in ready}
    # One thread, the files one after the other: a gentle neighbour for DuckDB's threads on a 2-core machine.
    hasher = InThread(
        lambda paths: {path: sha256_file(path) for path in paths}, [p for p, e in by_path.items() if e.sha256 is None]
    )

    def before_commit(path: Path) -> None:
        entry = by_path[path]
        if entry.sha256 is None:
            try:
                entry.sha256 = hasher.result()[path]
            except OSError as exc:
                raise NotTogether(str(exc)) from exc
        check_still(path, entry.identity)

    try:
        together = load_ptp_release_together(
            con, [(e.path, member, found) for e, member, found in ready], before_commit
        )
    finally:  # never leave a thread reading a file behind
        with suppress(OSError):
            hasher.result()
    if together:
        for entry, member, _ in ready:
            _take_members(entry, [member], [])
            entry.settled = True


def _glimpse(path: Path) -> tuple[FileIdentity, bytes] | None:
    """The file's identity and first bytes; None when it cannot be read or is being written."""
    try:
        identity = FileIdentity.of(path)
        before_read(path)
        with open(path, "rb", opener=no_follow_opener) as handle:
            head = handle.read(HEAD_BYTES)
        check_still(path, identity)
    except (StillBeingWritten, OSError):
        return None
    return identity, head


def _recorded_size(con, file_name: str) -> int | None:
    row = con.execute(
        f"SELECT file_size_bytes FROM {SOURCE_FILES} WHERE file_name = ? AND status = ?", [file_name, LOADED]
    ).fetchone()
    return row[0] if row else None


def _one_form_per_slot(entry: Entry, found: list[Recognized]) -> list[Recognized]:
    """CMS zips carry the csv, txt and xlsx forms of one release: the first by FORM_PREFERENCE is read."""
    by_slot: dict[tuple, list[Recognized]] = defaultdict(list)
    for recognized in found:
        by_slot[recognized.slot].append(recognized)
    chosen = []
    for slot in sorted(by_slot):
        ranked = sorted(by_slot[slot], key=lambda r: (FORM_PREFERENCE[r.sheet.form], r.sheet.inner_name))
        chosen.append(ranked[0])
        for other in ranked[1:]:
            entry.notes.append(
                f"{other.sheet.inner_name}: same release as {ranked[0].sheet.inner_name} in {other.sheet.form} form, "
                f"not read again"
            )
    return chosen


def _unchanged_since_loaded(con, entry: Entry) -> bool:
    row = con.execute(
        f"SELECT rows_loaded FROM {SOURCE_FILES} WHERE file_name = ? AND status = ? AND sha256 = ?",
        [entry.name, LOADED, entry.sha256],
    ).fetchone()
    return row is not None and row[0] == _rows_of(con, entry.name)[0]


def _by_slot(candidates: list[Candidate]) -> dict[tuple, list[Candidate]]:
    grouped: dict[tuple, list[Candidate]] = defaultdict(list)
    for candidate in candidates:
        grouped[candidate.found.slot].append(candidate)
    return dict(sorted(grouped.items()))


def _slot_where(slot: tuple) -> tuple[str, list]:
    layout, year, release, variant = slot
    where, params = "data_year = ? AND release = ?", [year, release]
    if layout == "pfs_rvu":
        where += " AND conversion_factor_variant = ?"
        params.append(variant)
    return where, params


def _settle_slot(con, slot: tuple, members: list[Candidate], entries: dict[str, Entry]) -> None:
    """The conflict rule (module docstring) for one slot's candidates of this run."""
    contract = SCHEDULE_CONTRACTS[slot[0]]
    where, params = _slot_where(slot)
    holders = [
        r[0] for r in con.execute(f"SELECT DISTINCT source_file FROM {contract.table} WHERE {where}", params).fetchall()
    ]
    held = digest(con, contract.table, contract, where, params)
    names = {c.file_name for c in members}
    describe = members[0].found.describe_slot()
    earlier = [h for h in holders if h not in names]
    if earlier:  # loaded in an earlier run and unchanged: it stays
        holder = ", ".join(earlier)
        for candidate in members:
            entry = entries[candidate.file_name]
            if candidate.staged.digest == held:
                entry.skips.append(
                    f"{candidate.label}: same rows as {holder} ({describe}), which holds them: not loaded twice"
                )
            else:
                entry.errors.append(
                    f"conflict: {candidate.label} and {holder} are both {describe} and disagree; {holder} was loaded "
                    f"in an earlier run and stays; remove the file that is wrong"
                )
        return
    if len({c.staged.digest for c in members}) > 1:  # both arrive in one run: neither loads
        for candidate in members:
            others = ", ".join(o.label for o in members if o is not candidate)
            entries[candidate.file_name].errors.append(
                f"conflict: {candidate.label} and {others} are both {describe} and disagree; neither is loaded; "
                "remove the file that is wrong"
            )
        return
    ranked = sorted(members, key=lambda c: (c.file_name not in holders, FORM_PREFERENCE[c.found.sheet.form], c.label))
    winner = ranked[0]
    _replace_slot(con, slot, winner, entries[winner.file_name])
    entries[winner.file_name].loaded.append(describe)
    for other in ranked[1:]:
        entries[other.file_name].skips.append(
            f"{other.label}: same rows as {winner.label} ({describe}): not loaded twice"
        )


def _replace_slot(con, slot: tuple, winner: Candidate, entry: Entry) -> None:
    contract = SCHEDULE_CONTRACTS[slot[0]]
    where, params = _slot_where(slot)
    rows_table, quarantine_table = winner.tables
    try:
        with transaction(con):
            before = {
                t: con.execute(f"SELECT count(*) FROM {t} WHERE source_file = ?", [winner.file_name]).fetchone()[0]
                for t in DATA_TABLES
            }
            con.execute(f"DELETE FROM {contract.table} WHERE {where}", params)
            for table in DATA_TABLES:  # its own earlier rows of another release (the file was replaced)
                con.execute(f"DELETE FROM {table} WHERE source_file = ?", [winner.file_name])
            con.execute(f"DELETE FROM {QUARANTINE} WHERE source_file = ?", [winner.file_name])
            con.execute(f"INSERT INTO {contract.table} BY NAME SELECT * FROM {rows_table}")
            kept = ("table_name", "source_file", "layout", "release", "data_year")
            insert_rejects(
                con,
                RejectTarget(QUARANTINE, {column: column for column in kept}),
                quarantine_table,
                {"line_number": "line_number", "reasons": "reasons", "row_data": "row_data"},
            )
            for table in DATA_TABLES:
                if table == contract.table or before[table]:
                    record_change(con, table)
            record_change(con, QUARANTINE)
    except Exception as exc:
        raise InfrastructureFailure(f"writing {contract.table} from {winner.label}", exc) from exc
    found = winner.found
    entry.layouts.add(found.layout.name)
    entry.releases.add(found.release.label + ("" if found.variant == "standard" else f" {found.variant}"))
    entry.years.add(found.release.data_year)


def _rows_of(con, file_name: str) -> tuple[int, int]:
    loaded = sum(
        con.execute(f"SELECT count(*) FROM {t} WHERE source_file = ?", [file_name]).fetchone()[0] for t in DATA_TABLES
    )
    quarantined = con.execute(f"SELECT count(*) FROM {QUARANTINE} WHERE source_file = ?", [file_name]).fetchone()[0]
    return loaded, quarantined


def _record_entry(con, entry: Entry, settings: PolicySettings) -> Outcome:
    if entry.unchanged:
        row = con.execute(
            f"SELECT layout, release, rows_loaded, rows_quarantined, note FROM {SOURCE_FILES} WHERE file_name = ?",
            [entry.name],
        ).fetchone()
        return Outcome(entry.name, LOADED, row[0], row[1], row[2], row[3], None, row[4], True)
    if entry.loaded:
        status, error = LOADED, "; ".join(entry.errors) or None
    elif entry.errors:
        status, error = REJECTED, "; ".join(entry.errors)
    else:
        status, error = SKIPPED, "; ".join(entry.skips) or "nothing to load"
    notes = entry.notes + (entry.skips if status != SKIPPED else [])
    if status == SKIPPED and entry.identity is not None:
        _delete_rows(con, entry.name)  # not (or no longer) a fee-schedule file: its rows go
    kept, quarantined = _rows_of(con, entry.name)
    if status == REJECTED and kept:
        error += f"; the {kept:,} rows loaded earlier from this file are kept until it is fixed or removed"
    previous = con.execute(
        f"SELECT layout, data_year, release, file_form FROM {SOURCE_FILES} WHERE file_name = ?", [entry.name]
    ).fetchone()
    described = (
        ", ".join(sorted(entry.layouts)) or None,
        min(entry.years) if entry.years else None,
        ", ".join(sorted(entry.releases)) or None,
        ", ".join(sorted(entry.forms)) or None,
    )
    if status != LOADED and kept and previous:
        described = previous  # the rows kept are still those of the version loaded before
    values = {
        "file_name": entry.name,
        "layout": described[0],
        "data_year": described[1],
        "release": described[2],
        "file_form": described[3],
        "compression": entry.compression,
        "encoding": entry.encoding,
        "sha256": entry.sha256,
        "file_size_bytes": entry.identity.size if entry.identity else None,
        "rows_loaded": kept,
        "rows_quarantined": quarantined,
        "status": status,
        "error": error,
        "note": "; ".join(notes) or None,
        "loaded_at": datetime.now(UTC).replace(tzinfo=None),
        "file_modified_at": _timestamp(entry.identity.mtime_ns) if entry.identity else None,
        "is_synthetic": entry.sha256 in settings.synthetic_digests if entry.sha256 else False,
    }
    _write_source_file(con, values)
    return Outcome(entry.name, status, described[0], described[2], kept, quarantined, error, values["note"], False)


def _record_skipped(con, path: Path, reason: str, settings: PolicySettings) -> Outcome:
    _delete_rows(con, path.name)
    values = {name: None for name in SOURCE_FILES_CONTRACT.column_names}
    values |= {
        "file_name": path.name, "rows_loaded": 0, "rows_quarantined": 0, "status": SKIPPED, "error": reason,
        "loaded_at": datetime.now(UTC).replace(tzinfo=None), "is_synthetic": False,
    }  # fmt: skip
    _write_source_file(con, values)
    return Outcome(path.name, SKIPPED, None, None, 0, 0, reason, None, False)


_COMPARED = (
    "layout",
    "data_year",
    "release",
    "file_form",
    "sha256",
    "rows_loaded",
    "rows_quarantined",
    "status",
    "error",
    "note",
)


def _write_source_file(con, values: dict) -> None:
    """Rewritten only when the verdict changed: an unchanged folder changes no table (and publishes nothing)."""
    previous = con.execute(
        f"SELECT {', '.join(_COMPARED)} FROM {SOURCE_FILES} WHERE file_name = ?", [values["file_name"]]
    ).fetchone()
    if previous is not None and tuple(previous) == tuple(values[c] for c in _COMPARED):
        return
    with transaction(con):
        con.execute(f"DELETE FROM {SOURCE_FILES} WHERE file_name = ?", [values["file_name"]])
        insert_rows(con, SOURCE_FILES_CONTRACT, [values])
        record_change(con, SOURCE_FILES)


def _delete_rows(con, file_name: str) -> dict[str, int]:
    removed = {}
    for table in (*DATA_TABLES, QUARANTINE):
        count = con.execute(f"SELECT count(*) FROM {table} WHERE source_file = ?", [file_name]).fetchone()[0]
        if count:
            with transaction(con):
                con.execute(f"DELETE FROM {table} WHERE source_file = ?", [file_name])
                record_change(con, table, removed_rows=count, removed_sources=[file_name])
            removed[table] = count
    return removed


def forget_removed(con, present: set[str]) -> list[str]:
    """Entries no longer in the folder: their rows leave every table (the change log explains the shrink)."""
    gone = [
        r[0] for r in con.execute(f"SELECT file_name FROM {SOURCE_FILES} ORDER BY 1").fetchall() if r[0] not in present
    ]
    for name in gone:
        _delete_rows(con, name)
        with transaction(con):
            con.execute(f"DELETE FROM {SOURCE_FILES} WHERE file_name = ?", [name])
            record_change(con, SOURCE_FILES, removed_rows=1, removed_sources=[name])
    return gone


def _timestamp(mtime_ns: int) -> datetime:
    return datetime.fromtimestamp(mtime_ns / 1e9, UTC).replace(tzinfo=None)


PAYMENT_SETTINGS_FILE = "payment_settings.csv"


def prepare_tables(con, reference_dir: Path, coding_edits_reference_date: date | None = None) -> list[str]:
    """Create the medicare tables (a table rebuilt for a new contract empties source_files: everything loads
    again), reload medicare.payment_settings and medicare.modifier_rules from the reference CSVs and record the
    date coding edits are judged active on (default today); returns the tables (re)created or changed."""
    from pipeline.contracts.coding_edit_tables import CODING_EDIT_PARAMETERS_CONTRACT, MODIFIER_RULES_CONTRACT
    from pipeline.contracts.medicare_tables import MEDICARE_CONTRACTS, PAYMENT_SETTINGS_CONTRACT
    from pipeline.core.reference_data import read_reference_csv
    from pipeline.medicare_policy.coding_edit_reference import record_reference_date, replace_modifier_rules
    from pipeline.warehouse.change_log import record_changes, record_unversioned
    from pipeline.warehouse.tables import ensure_schemas, ensure_table

    ensure_schemas(con, "medicare")
    coding_edit_inputs = {MODIFIER_RULES_CONTRACT.table, CODING_EDIT_PARAMETERS_CONTRACT.table}
    rows = read_reference_csv(reference_dir / PAYMENT_SETTINGS_FILE, ("place_of_service_code", "payment_setting"))
    with transaction(con):
        recreated = [c.table for c in MEDICARE_CONTRACTS if ensure_table(con, c)]
        if any(table != PAYMENT_SETTINGS_CONTRACT.table and table not in coding_edit_inputs for table in recreated):
            con.execute(f"DELETE FROM {SOURCE_FILES}")
            recreated.append(SOURCE_FILES)
        current = con.execute(f"SELECT * FROM {PAYMENT_SETTINGS_CONTRACT.table} ORDER BY ALL").fetchall()
        wanted = sorted((row["place_of_service_code"], row["payment_setting"]) for row in rows)
        if [tuple(r) for r in current] != wanted:
            con.execute(f"DELETE FROM {PAYMENT_SETTINGS_CONTRACT.table}")
            insert_rows(
                con,
                PAYMENT_SETTINGS_CONTRACT,
                [dict(zip(("place_of_service_code", "payment_setting"), r, strict=True)) for r in wanted],
            )
            recreated.append(PAYMENT_SETTINGS_CONTRACT.table)
        record_changes(con, sorted(set(recreated)))
        record_unversioned(con, [c.table for c in MEDICARE_CONTRACTS])
    if replace_modifier_rules(con, reference_dir):
        recreated.append(MODIFIER_RULES_CONTRACT.table)
    if record_reference_date(con, coding_edits_reference_date):
        recreated.append(CODING_EDIT_PARAMETERS_CONTRACT.table)
    return recreated
