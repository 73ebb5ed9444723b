"""Load CMS utilization CSVs with DuckDB's own reader and validate them in DuckDB.

Per file, in one transaction:
1. delete the rows of the same layout and data year (reloading a year replaces that year only);
2. ``INSERT … SELECT`` from ``read_csv`` with explicit column types; rows DuckDB cannot cast
   are captured by ``store_rejects`` instead of failing the load;
3. one scan evaluates the contract's rules and moves failing rows, with their reasons, to
   ``utilization.quarantine``; duplicate grain keys are quarantined the same way;
4. record the file in ``utilization.source_files``.
The data never passes through pandas, and the SHA-256 of the file is computed in a
thread while DuckDB parses it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline.contract_checks import key_shortfall_sql, reasons_sql
from pipeline.contracts.table_contract import sql_literal
from pipeline.contracts.utilization_tables import SourceFiles
from pipeline.document_folder import sha256_file
from pipeline.utilization.cms_layouts import (
    LAYOUTS,
    DataYearError,
    Layout,
    UnknownLayoutError,
    data_year_from_name,
    read_header,
    recognize_layout,
)

SOURCE_FILES = SourceFiles.Config.name
QUARANTINE = "utilization.quarantine"


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


def list_utilization_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise FileNotFoundError(f"utilization folder {directory} does not exist (set CPT_UTILIZATION_DIR)")
    return sorted(
        p for p in directory.iterdir() if p.is_file() and p.suffix.lower() == ".csv" and not p.name.startswith(".")
    )


def load_file(
    con, path: Path, *, claimed_years: dict[tuple[str, int], str], synthetic_names: frozenset[str] = frozenset()
) -> FileOutcome:
    """Load one file; never raises for bad content (the outcome says what happened)."""
    stat = path.stat()
    try:
        layout = recognize_layout(read_header(path))
        year = data_year_from_name(path.name)
    except (UnknownLayoutError, DataYearError, UnicodeDecodeError) as exc:
        return _record_rejected(con, path, stat, None, None, str(exc), synthetic=path.name in synthetic_names)
    owner = claimed_years.get((layout.name, year))
    if owner is not None:
        return _record_rejected(
            con,
            path,
            stat,
            layout.name,
            year,
            f"{owner} already provides {layout.name} data for {year}; one file per layout and year",
            synthetic=path.name in synthetic_names,
        )
    claimed_years[(layout.name, year)] = path.name

    previous = con.execute(
        f"SELECT file_size_bytes, file_modified_at, status, rows_loaded, rows_quarantined FROM {SOURCE_FILES} "
        "WHERE file_name = ?",
        [path.name],
    ).fetchone()
    modified_at = datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None)
    if previous and previous[0] == stat.st_size and previous[1] == modified_at and previous[2] == "loaded":
        return FileOutcome(path.name, layout.name, year, "loaded", previous[3], previous[4], skipped_unchanged=True)

    hasher = _BackgroundHash(path)
    con.execute("BEGIN TRANSACTION")
    try:
        table = layout.contract.table
        con.execute(f"DELETE FROM {table} WHERE data_year = ?", [year])
        con.execute(f"DELETE FROM {QUARANTINE} WHERE layout = ? AND data_year = ?", [layout.name, year])
        con.execute(f"DELETE FROM {SOURCE_FILES} WHERE layout = ? AND data_year = ?", [layout.name, year])
        clock = _Clock()
        rejects = _insert_from_csv(con, layout, path, year)
        clock.lap("read_csv")
        quarantined = rejects + _quarantine_failing_rows(con, layout, path.name, year)
        clock.lap("validate")
        loaded = con.execute(f"SELECT count(*) FROM {table} WHERE data_year = ?", [year]).fetchone()[0]
        digest = hasher.result()
        clock.lap("sha256_wait")
        _record(
            con,
            path,
            stat,
            layout.name,
            year,
            digest,
            loaded,
            quarantined,
            "loaded",
            None,
            synthetic=path.name in synthetic_names,
        )
        con.execute("COMMIT")
        clock.lap("commit")
    except Exception as exc:
        con.execute("ROLLBACK")
        error = f"load failed: {exc}".splitlines()[0]
        return _record_rejected(
            con, path, stat, layout.name, year, error, hasher, synthetic=path.name in synthetic_names
        )
    return FileOutcome(path.name, layout.name, year, "loaded", loaded, quarantined, timings=clock.laps)


def forget_removed_files(con, present: set[str]) -> list[str]:
    """Files no longer in the folder: remove their rows everywhere, like removed documents."""
    gone = [row[0] for row in con.execute(f"SELECT file_name FROM {SOURCE_FILES}").fetchall() if row[0] not in present]
    for name in gone:
        _delete_file_rows(con, name)
        con.execute(f"DELETE FROM {SOURCE_FILES} WHERE file_name = ?", [name])
    return gone


def _delete_file_rows(con, file_name: str) -> None:
    for layout in LAYOUTS:
        con.execute(f"DELETE FROM {layout.contract.table} WHERE source_file = ?", [file_name])
    con.execute(f"DELETE FROM {QUARANTINE} WHERE source_file = ?", [file_name])


def _insert_from_csv(con, layout: Layout, path: Path, year: int) -> int:
    table = layout.contract.table
    columns = ", ".join(f"{sql_literal(cms)}: {sql_literal(sql_type)}" for cms, _, sql_type in layout.cms_columns)
    select = ", ".join(f'"{cms}"' for cms, _, _ in layout.cms_columns)
    targets = ", ".join(name for _, name, _ in layout.cms_columns)
    con.execute(
        f"INSERT INTO {table} ({targets}, data_year, source_file) "
        f"SELECT {select}, {int(year)}, {sql_literal(path.name)} FROM read_csv({sql_literal(str(path))}, "
        f"header = true, auto_detect = false, delim = ',', quote = '\"', escape = '\"', "
        f"columns = {{{columns}}}, store_rejects = true, "
        f"rejects_table = '_csv_rejects', rejects_scan = '_csv_reject_scans')"
    )
    count = con.execute("SELECT count(*) FROM _csv_rejects").fetchone()[0]
    if count:
        con.execute(
            f"INSERT INTO {QUARANTINE} (source_file, layout, data_year, line_number, reasons, row_data) "
            f"SELECT {sql_literal(path.name)}, {sql_literal(layout.name)}, {int(year)}, line, "
            "'unreadable row: ' || error_type || ' in ' || coalesce(column_name, '?') || ': ' || error_message, csv_line "
            "FROM _csv_rejects"
        )
    con.execute("DROP TABLE IF EXISTS _csv_rejects")
    con.execute("DROP TABLE IF EXISTS _csv_reject_scans")
    return count


def _quarantine_failing_rows(con, layout: Layout, file_name: str, year: int) -> int:
    contract = layout.contract
    table = contract.table
    reasons, any_fail = reasons_sql(contract)
    key = ", ".join(contract.schema.unique or [])
    # One scan answers "is anything wrong?"; the clean case (almost always) stops here.
    failing, shortfall = con.execute(
        f"SELECT count_if({any_fail}), {key_shortfall_sql(contract.schema.unique) if key else '0'} "
        f"FROM {table} WHERE data_year = {int(year)}"
    ).fetchone()
    if not failing and not shortfall:
        return 0
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _failing AS SELECT rowid AS rid, {reasons} AS reasons "
        f"FROM {table} WHERE data_year = {int(year)} AND ({any_fail})"
    )
    if key:
        duplicate_keys = f"SELECT {key} FROM {table} WHERE data_year = {int(year)} GROUP BY ALL HAVING count(*) > 1"
        if shortfall and con.execute(f"SELECT count(*) FROM ({duplicate_keys})").fetchone()[0]:
            join = " AND ".join(f"t.{c} IS NOT DISTINCT FROM d.{c}" for c in contract.schema.unique)
            con.execute(
                f"INSERT INTO _failing SELECT t.rowid, 'duplicate grain key ({key})' FROM {table} t "
                f"JOIN ({duplicate_keys}) d ON {join} WHERE t.data_year = {int(year)}"
            )
    count = con.execute("SELECT count(DISTINCT rid) FROM _failing").fetchone()[0]
    if count:
        con.execute(
            f"INSERT INTO {QUARANTINE} (source_file, layout, data_year, line_number, reasons, row_data) "
            f"SELECT {sql_literal(file_name)}, {sql_literal(layout.name)}, {int(year)}, NULL, f.reasons, "
            f"to_json(t)::VARCHAR FROM {table} t "
            f"JOIN (SELECT rid, string_agg(reasons, '; ') AS reasons FROM _failing GROUP BY rid) f ON t.rowid = f.rid"
        )
        con.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT rid FROM _failing)")
    con.execute("DROP TABLE _failing")
    return count


def _record_rejected(con, path, stat, layout, year, error, hasher=None, *, synthetic=False) -> FileOutcome:
    """The file's earlier rows go too: source_files must describe what the tables hold."""
    digest = hasher.result() if hasher else _BackgroundHash(path).result()
    _delete_file_rows(con, path.name)
    _record(con, path, stat, layout, year, digest, 0, 0, "rejected", error, synthetic=synthetic)
    return FileOutcome(path.name, layout, year, "rejected", error=error)


def _record(con, path, stat, layout, year, digest, loaded, quarantined, status, error, *, synthetic) -> None:
    con.execute(f"DELETE FROM {SOURCE_FILES} WHERE file_name = ?", [path.name])
    con.execute(
        f"INSERT INTO {SOURCE_FILES} (file_name, layout, data_year, sha256, file_size_bytes, rows_loaded, "
        "rows_quarantined, status, error, loaded_at, is_synthetic, file_modified_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            path.name,
            layout,
            year,
            digest,
            stat.st_size,
            loaded,
            quarantined,
            status,
            error,
            datetime.now(UTC).replace(tzinfo=None),
            synthetic,
            datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None),
        ],
    )


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now


class _BackgroundHash:
    """SHA-256 of a file computed in a thread (hashlib releases the GIL on large blocks)."""

    def __init__(self, path: Path):
        self._digest: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(path,), daemon=True)
        self._thread.start()

    def _run(self, path: Path) -> None:
        try:
            self._digest = sha256_file(path)
        except BaseException as exc:  # reported by result()
            self._error = exc

    def result(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._digest
