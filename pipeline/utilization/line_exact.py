"""Every line of a CMS file accounted for: loaded, or quarantined under its own line number with its own text.

DuckDB's reader is fast but, when a quote is left open, reads on into the next line: that line is lost
and the quarantine row names one line while showing another.  So each load compares what DuckDB
accounted for (rows read + lines rejected) with the file's data lines, counted here while DuckDB reads
(non-blank physical lines after the header; ``readable_path`` has already made every line end LF or
CRLF).  When they differ, or when a line was refused only for a thousands separator, the file is
read again *line-exact*: a copy in which each physical line is parsed on its own.

- a line that parses to the header's number of fields is copied as it is (thousands separators in
  numeric columns removed, see ``THOUSANDS``);
- any other line is left blank in the copy (DuckDB skips blank lines but still counts them, so line
  numbers stay those of the original file) and is quarantined here with its number, its text and why.

Thousands separators (legacy files saved from Excel): in every CMS utilization file, a value of a
numeric contract column (BIGINT, INTEGER, DOUBLE: counts and amounts) that matches ``THOUSANDS`` —
an optional minus, 1-3 digits, then groups of ``,`` and exactly three digits, then optionally ``.``
and digits, e.g. ``1,204``, ``-12,000`` or ``1,250.00`` — loads with its value, the commas removed.
Such a value is always quoted in a comma-delimited file (unquoted, its comma would split the field).
Anything else with a comma (``1,2,3``, ``12,34``, ``,123``) is still quarantined as not a number;
the decimal mark is always ``.`` (US files).
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.validation.reasons import unreadable_line
from pipeline.validation.reject_rows import RejectTarget, insert_rejects

THOUSANDS = re.compile(r"-?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?")
# How DuckDB's CAST reject names such a value: the trigger for reading the file again line-exact.
THOUSANDS_REJECT_SQL = r"""Could not convert string "-?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?" to"""
NUMERIC_TYPES = frozenset({"BIGINT", "INTEGER", "DOUBLE", "HUGEINT", "SMALLINT", "DECIMAL", "FLOAT", "REAL"})
_CHUNK = 1 << 23
TAIL_BYTES = 64 * 1024  # as completeness.TAIL_BYTES: the bytes the cut-off check judges
_TEXT_LIMIT = 4000  # characters of a bad line kept in quarantine
_OPEN_QUOTE = unreadable_line("a quoted value runs past the end of the line (unterminated quote)")
_MAX_RECORD_LINES = 20  # most lines a quoted value with line breaks may span


class LineExactReadNeeded(Exception):
    """What DuckDB accounted for differs from the file's data lines (or a value was refused only for its
    thousands separators): the file must be read line-exact."""


@dataclass(frozen=True)
class BadLine:
    number: int  # physical line number in the file, the header being line 1
    reason: str
    text: str


def _open(path: Path, compression: str):
    return gzip.open(path, "rb") if compression == "gzip" else path.open("rb")


def count_physical_lines(path: Path, compression: str = "none", keep_tail: list[bytes] | None = None) -> int:
    """Physical lines after the header, blank ones included: the fast count taken while DuckDB reads. With
    ``keep_tail``, the last TAIL_BYTES of the (decompressed) text, whether more came before, and the offset of the
    first NUL byte (None if none) are appended."""
    return count_data_lines(path, compression, blanks=False, keep_tail=keep_tail)


def count_data_lines(
    path: Path, compression: str = "none", *, blanks: bool = True, keep_tail: list | None = None
) -> int:
    """Non-blank physical lines after the header (LF or CRLF ends; a last line without an end counts)."""
    ends = blank = total = 0
    tail, last, text_tail, first_nul = b"", b"\n", b"", None
    with _open(path, compression) as handle:
        while chunk := handle.read(_CHUNK):
            if keep_tail is not None:
                text_tail = chunk[-TAIL_BYTES:] if len(chunk) >= TAIL_BYTES else (text_tail + chunk)[-TAIL_BYTES:]
                if first_nul is None and b"\0" in chunk:  # a memchr: preallocated or damaged bytes are not text
                    first_nul = total + chunk.index(b"\0")
            total += len(chunk)
            if not blanks:
                ends += int(np.count_nonzero(np.frombuffer(chunk, np.uint8) == 10))
                last = chunk[-1:]
                continue
            chunk_ends, chunk_blanks = _ends_and_blanks(chunk)
            # A blank line that straddles two chunks lies within the last 2 bytes before and the first 2 after.
            straddling = _ends_and_blanks(tail + chunk[:2])[1] - _ends_and_blanks(tail)[1]
            ends += chunk_ends
            blank += chunk_blanks + straddling - _ends_and_blanks(chunk[:2])[1]
            tail, last = (tail + chunk)[-2:], chunk[-1:]
    if keep_tail is not None:
        keep_tail += [text_tail, total > len(text_tail), first_nul]
    if last == b"\n" and ends == 0:
        return 0  # an empty file
    lines = ends + (0 if last == b"\n" else 1)
    return max(lines - 1 - blank, 0)


def _ends_and_blanks(data: bytes) -> tuple[int, int]:
    """(LFs, blank lines: an LF followed directly by LF or CRLF), vectorized: a CMS file has millions of lines."""
    if len(data) < 8:
        after = [data[i + 1 : i + 3] for i, byte in enumerate(data) if byte == 10]
        return len(after), sum(1 for rest in after if rest.startswith(b"\n") or rest == b"\r\n")
    array = np.frombuffer(data, np.uint8)
    lf = array == 10
    blanks = int(np.count_nonzero(lf[:-1] & lf[1:]))
    if b"\r" in data and len(data) >= 3:
        blanks += int(np.count_nonzero(lf[:-2] & (array[1:-1] == 13) & lf[2:]))
    return int(np.count_nonzero(lf)), blanks


@contextmanager
def line_exact_copy(
    path: Path,
    compression: str,
    encoding: str,
    header: list[tuple[str, str]],
    delimiter: str,
    scratch_dir: Path,
) -> Iterator[tuple[Path, list[BadLine], int]]:
    """(UTF-8 copy DuckDB reads, the lines quarantined here, data lines); the copy is deleted afterwards.

    ``header`` is the file's (column, sql_type) in file order."""
    scratch_dir.mkdir(parents=True, exist_ok=True)
    target = scratch_dir / f"line-exact-{path.name}"
    numeric = [i for i, (_, sql_type) in enumerate(header) if sql_type.split("(")[0].upper() in NUMERIC_TYPES]
    bad: list[BadLine] = []
    data_lines = 0
    try:
        with _open(path, compression) as source, target.open("w", encoding="utf-8", newline="") as sink:
            writer = csv.writer(sink, delimiter=delimiter, lineterminator="\n")
            lines = _Lines(source, encoding)
            for number, text in lines:
                if number == 1:
                    sink.write(text + "\n")
                    continue
                if not text:
                    sink.write("\n")
                    continue
                data_lines += 1
                fields, reason = _parse_line(text, delimiter, len(header))
                if reason == _OPEN_QUOTE and (record := _quoted_line_breaks(lines, text, delimiter, len(header))):
                    fields, text, reason = *record, None
                if reason:
                    bad.append(BadLine(number, reason, text[:_TEXT_LIMIT]))
                    sink.write("\n")
                elif _remove_thousands(fields, numeric):
                    writer.writerow(fields)
                else:
                    sink.write(text + "\n")
        yield target, bad, data_lines
    finally:
        target.unlink(missing_ok=True)


class _Lines:
    """(number, text) of each physical line, with lines given back for a second look."""

    def __init__(self, source, encoding: str):
        self._numbered = enumerate(source, start=1)
        self._encoding = encoding
        self.given_back: list[tuple[int, str]] = []

    def __iter__(self):
        return self

    def __next__(self) -> tuple[int, str]:
        if self.given_back:
            return self.given_back.pop()
        number, raw = next(self._numbered)
        return number, raw.rstrip(b"\n").rstrip(b"\r").decode(self._encoding, errors="replace").lstrip("\ufeff")


def _quoted_line_breaks(lines: _Lines, text: str, delimiter: str, expected: int) -> tuple[list[str], str] | None:
    """A record whose quoted value holds line breaks: (fields, text) when ``text`` and up to the next
    ``_MAX_RECORD_LINES`` lines parse as exactly one record and none of those lines is a record on its own
    (a valid line is never swallowed); otherwise None, and the lines read are given back."""
    taken: list[tuple[int, str]] = []
    try:
        for _ in range(_MAX_RECORD_LINES):
            following = next(lines, None)
            if following is None:
                return None
            taken.append(following)
            if not following[1] or _parse_line(following[1], delimiter, expected)[1] is None:
                return None
            joined = "\n".join([text] + [t for _, t in taken])
            fields, reason = _parse_line(joined, delimiter, expected)
            if reason is None:
                taken.clear()  # consumed: part of this record
                return fields, joined
            if reason != _OPEN_QUOTE:
                return None
        return None
    finally:
        lines.given_back.extend(reversed(taken))


def _parse_line(text: str, delimiter: str, expected: int) -> tuple[list[str], str | None]:
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter, quotechar='"', doublequote=True, strict=True))
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            return [], _OPEN_QUOTE
        return [], unreadable_line(f"{exc} (a stray quote?)")
    if len(rows) != 1:
        return [], unreadable_line(f"{len(rows)} records on one line")
    if len(rows[0]) != expected:
        return [], unreadable_line(f"{len(rows[0])} fields where the header has {expected}")
    return rows[0], None


def _remove_thousands(fields: list[str], numeric: list[int]) -> bool:
    changed = False
    for i in numeric:
        value = fields[i].strip()
        if "," in value and THOUSANDS.fullmatch(value):
            fields[i] = value.replace(",", "")
            changed = True
    return changed


def quarantine_bad_lines(con, bad: list[BadLine], target: RejectTarget, scratch_dir: Path):
    """Insert one quarantine row per bad line, each with its own number, reason and text."""
    if not bad:
        return
    rows = scratch_dir / "line-exact-quarantine.csv"
    try:
        with rows.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\n")
            writer.writerows((line.number, line.reason, line.text) for line in bad)
        insert_rejects(
            con,
            target,
            "read_csv(?, header = false, auto_detect = false, delim = ',', quote = '\"', escape = '\"', "
            "strict_mode = false, columns = {'line_number': 'BIGINT', 'reasons': 'VARCHAR', 'row_data': 'VARCHAR'})",
            {"line_number": "line_number", "reasons": "reasons", "row_data": "row_data"},
            [str(rows)],
        )
    finally:
        rows.unlink(missing_ok=True)
