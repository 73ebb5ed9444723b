"""Parse one billing-code overview document into structured facts.

The format is loose prose with a few anchors (see README, "Document format"):
a title line ``CPT 32994: <title>``, section headings on lines of their own,
``Key: value`` lines, two list sentences and a pipe table of modifiers.  The
parser never raises on content: everything it cannot understand becomes a
readable entry in ``problems`` and the document is marked ``partial`` or
``rejected``.  Every non-blank line is kept in exactly one section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipeline.core.text_decoding import DEFAULT_MAX_DOCUMENT_BYTES, decode_document, oversize_problem

PARSED, PARTIAL, REJECTED = "parsed", "partial", "rejected"
DOCUMENT_STATUSES = (PARSED, PARTIAL, REJECTED)

CODE_PATTERNS = {
    "CPT": re.compile(r"[0-9]{4}[0-9A-Z]"),
    "HCPCS": re.compile(r"[A-Z][0-9]{4}"),
}
CODE_FORMAT_HINTS = {"CPT": "four digits then a digit or letter", "HCPCS": "a letter then four digits"}
MODIFIER_PATTERN = re.compile(r"[0-9A-Z]{2}")

KNOWN_HEADINGS = frozenset(
    h.casefold()
    for h in (
        "Summary & Overview",
        "Billing Code Overview",
        "Clinical & Coding Specifications",
        "Clinical Context",
        "Coding Specifications",
    )
)
APPROACHES = (
    "percutaneous",
    "laparoscopic",
    "thoracoscopic",
    "endoscopic",
    "transcatheter",
    "robotic",
    "open",
)

_TITLE = re.compile(
    r"^(?:#{1,6}\s*)?(?:\*\*)?(?P<system>CPT|HCPCS)(?:®)?\s+(?:code\s+)?(?P<code>[^\s:]+)\s*:\s*(?P<title>.*?)(?:\*\*)?$"
)
_TITLE_LIKE = re.compile(r"^(?:#{1,6}\s*)?(?:\*\*)?(?:CPT|HCPCS)(?:®)?\s+(?!code\b)\S[^:]{0,60}:")
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s*(?P<text>.*?)\s*#*$")
_KEY_VALUE = re.compile(
    r"^(?:[-*]\s+)?(?:\*\*)?(?P<key>[A-Za-z][A-Za-z ]{2,40}?)(?:\*\*)?\s*:\s*(?:\*\*)?\s*(?P<value>.*)$"
)
# Matched against the lower-cased text (a literal prefix makes the search fast), sliced from the original.
_PAYER_SENTENCE = re.compile(r"key payers covered in this overview include\s+(?P<items>[^.\n]+)")
_USED_ACROSS = re.compile(r"the code is used across\s+(?P<items>[^.\n]+)")
_PAYER_SENTENCE_ANY_CASE = re.compile(_PAYER_SENTENCE.pattern, re.IGNORECASE)
_USED_ACROSS_ANY_CASE = re.compile(_USED_ACROSS.pattern, re.IGNORECASE)
_TABLE_SEPARATOR = re.compile(r"^\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?$")
_ITEM_SEPARATOR = re.compile(r"\s*[,;]\s*(?:(?:and|or|&)\s+)?|\s+(?:and|or|&)\s+", re.IGNORECASE)
_LEADING_CONJUNCTION = re.compile(r"^(?:and|or|&)\s+", re.IGNORECASE)
_NOT_AVAILABLE = re.compile(r"^\W*not\s+available\W*$", re.IGNORECASE)
_LATERALITY = re.compile(r"\b(unilateral|bilateral)\b", re.IGNORECASE)
_APPROACH_STRICT = re.compile(
    r"\b(percutaneous|laparoscopic|thoracoscopic|endoscopic|transcatheter|robotic)\b|\bopen\s+(?:approach|procedure|surgical|technique)\b",
    re.IGNORECASE,
)
_APPROACH_IN_TITLE = re.compile(
    r"\b(percutaneous|laparoscopic|thoracoscopic|endoscopic|transcatheter|robotic|open)\b", re.I
)
_IMAGING_NOT_INCLUDED = re.compile(
    r"\bnot (?:be )?(?:included|bundled)\b|(?<!not )\b(?:reported|billed|coded) separately\b|(?<!not )\bseparately (?:reportable|billable)\b",
    re.IGNORECASE,
)
_IMAGING_INCLUDED_WORD = re.compile(r"\b(?:included|includes|including|bundled|inherent)\b", re.IGNORECASE)
_SENTENCE_END = ".!?:)]\"'”’|*"

_KEY_PREFIXES = ("service", "type of service", "typical")
_KEY_ALIASES = {
    "service type": "service_type",
    "type of service": "service_type",
    "typical site of service": "typical_sites",
    "typical sites of service": "typical_sites",
    "typical site(s) of service": "typical_sites",
}


@dataclass(frozen=True, slots=True)
class Section:
    ordinal: int
    heading: str | None
    body: str


@dataclass(frozen=True, slots=True)
class ModifierRow:
    modifier_code: str
    description: str | None
    when_to_use: str | None
    line_number: int


@dataclass(slots=True)
class ParsedDocument:
    """Everything one document says, plus what was wrong with it."""

    status: str = PARSED
    problems: list[str] = field(default_factory=list)
    encoding: str | None = None
    code_system: str | None = None
    code: str | None = None
    title: str | None = None
    description: str | None = None
    service_type: str | None = None
    laterality: str | None = None
    approach: str | None = None
    imaging_guidance_included: bool | None = None
    typical_sites: list[str] = field(default_factory=list)
    summary_sites: list[str] = field(default_factory=list)
    payers: list[str] = field(default_factory=list)
    modifiers: list[ModifierRow] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)

    @property
    def contributes(self) -> bool:
        """True when the document's facts may be loaded (parsed or partial)."""
        return self.status != REJECTED and self.code is not None


def parse_document(data: bytes, *, max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES) -> ParsedDocument:
    """Parse raw file bytes. Never raises for bad content."""
    decoded = decode_document(data, max_bytes=max_bytes)
    if decoded.fatal or decoded.text is None:
        return ParsedDocument(status=REJECTED, problems=decoded.problems)
    parsed = parse_text(decoded.text)
    parsed.encoding = decoded.encoding
    if decoded.problems:
        parsed.problems[:0] = decoded.problems
        if parsed.status == PARSED:
            parsed.status = PARTIAL
    return parsed


def reject_oversize(size_bytes: int, max_bytes: int) -> ParsedDocument:
    """For files too large to read into memory at all."""
    return ParsedDocument(status=REJECTED, problems=[oversize_problem(size_bytes, max_bytes)])


def normalize_value(value: str | None) -> str | None:
    """Strip a scalar; the literal 'Not available' (any case) means NULL."""
    if value is None:
        return None
    value = value.strip().strip("*").strip()
    if not value or (len(value) < 24 and _NOT_AVAILABLE.match(value)):
        return None
    return value


def split_list(text: str | None) -> list[str]:
    """Split 'A, B, and C' / 'A and B' / 'A; B or C' into items, keeping order."""
    value = normalize_value(text)
    if value is None:
        return []
    items = []
    for item in _ITEM_SEPARATOR.split(_LEADING_CONJUNCTION.sub("", value)):
        item = item.strip(" .")
        if item and not (len(item) < 24 and _NOT_AVAILABLE.match(item)):
            items.append(item)
    return items


def split_table_row(line: str) -> list[str]:
    """Cells of a pipe-table row, with or without outer pipes."""
    stripped = line.strip()
    if stripped.startswith("|"):
        stripped = stripped[1:]
    if stripped.endswith("|"):
        stripped = stripped[:-1]
    return [cell.strip() for cell in stripped.split("|")]


def is_heading(line: str) -> str | None:
    """Return the heading text if this stripped line is a section heading."""
    if line.startswith("#"):
        match = _MARKDOWN_HEADING.match(line)
        text = match.group("text").strip("* ") if match else ""
        return text or None
    bare = line.strip("* ")
    if bare.casefold() in KNOWN_HEADINGS:
        return bare
    if len(bare) > 60 or bare[-1:] in ".,;:!?|" or ":" in bare or "|" in bare:
        return None
    words = bare.split()
    if not words or len(words) > 6 or not bare[0].isupper():
        return None
    if _NOT_AVAILABLE.match(bare):
        return None
    for word in words:
        if len(word) > 3 and word[0].isalpha() and not word[0].isupper():
            return None
    return bare


def parse_text(text: str) -> ParsedDocument:
    """Parse decoded text (LF line endings)."""
    doc = ParsedDocument()
    problems = doc.problems
    sections: list[Section] = []
    heading: str | None = None
    body: list[str] = []
    section_lines: dict[str, list[str]] = {}
    have_heading = False
    kv_seen: set[str] = set()
    table_header: list[str] | None = None
    pending_header: tuple[list[str], int] | None = None
    modifier_columns: tuple[int, int | None, int | None] | None = None
    saw_modifier_table = False
    modifier_table_rows = 0
    last_line = ""
    last_is_ragged_row = False
    title_problem: str | None = None
    title_candidate: str | None = None

    def close_section() -> None:
        if have_heading or body:
            sections.append(Section(len(sections), heading, "\n".join(body)))

    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line:
            if pending_header is not None:
                _flag_orphan_row(doc, pending_header)
            pending_header = None
            table_header = None
            continue
        last_line = line
        last_is_ragged_row = False

        if "|" in line:
            if table_header is not None:
                cells = split_table_row(line)
                if modifier_columns is not None:
                    modifier_table_rows += 1
                    if len(cells) != len(table_header):
                        last_is_ragged_row = True
                        problems.append(
                            f"line {number}: modifier table row has {len(cells)} cells, expected "
                            f"{len(table_header)}; row not loaded: {line[:120]!r}"
                        )
                    else:
                        _add_modifier_row(doc, cells, modifier_columns, number)
                body.append(raw.rstrip())
                continue
            if pending_header is not None and _TABLE_SEPARATOR.match(line):
                table_header = pending_header[0]
                modifier_columns = _modifier_columns(table_header)
                if modifier_columns is not None:
                    saw_modifier_table = True
                pending_header = None
                body.append(raw.rstrip())
                continue
            if pending_header is not None:
                _flag_orphan_row(doc, pending_header)
            pending_header = (split_table_row(line), number)
            body.append(raw.rstrip())
            continue
        if pending_header is not None:
            _flag_orphan_row(doc, pending_header)
        table_header = None
        pending_header = None
        modifier_columns = None

        if doc.code is None and title_problem is None and ("CPT" in line or "HCPCS" in line):
            match = _TITLE.match(line)
            if match:
                title_problem = _take_title(doc, match)
                body.append(raw.rstrip())
                continue
            if title_candidate is None and _TITLE_LIKE.match(line):
                title_candidate = f"line {number} {line[:80]!r}"

        new_heading = is_heading(line) if len(line) <= 80 else None
        if new_heading is not None:
            close_section()
            heading, body, have_heading = new_heading, [], True
            section_lines.setdefault(new_heading.casefold(), [])
            continue

        body.append(raw.rstrip())
        if heading is not None:
            section_lines[heading.casefold()].append(line)
        if ":" in line and line[:48].lower().lstrip("-* ").startswith(_KEY_PREFIXES):
            match = _KEY_VALUE.match(line)
            if match:
                key = _KEY_ALIASES.get(match.group("key").strip().casefold())
                if key is not None and key not in kv_seen:
                    kv_seen.add(key)
                    value = match.group("value")
                    if key == "service_type":
                        doc.service_type = normalize_value(value)
                    else:
                        doc.typical_sites = split_list(value)
    if pending_header is not None:
        _flag_orphan_row(doc, pending_header)
    close_section()
    doc.sections = sections

    if title_problem is not None:
        problems.append(title_problem)
    if doc.code is None:
        if title_problem is None and title_candidate is not None:
            problems.append(f"no valid title line: {title_candidate} does not read 'CPT 12345: Title'")
        elif title_problem is None:
            problems.append("no title line of the form 'CPT 12345: Title' or 'HCPCS A1234: Title'")
        doc.status = REJECTED
        _clear_facts(doc)
        return doc

    payer_sentence_found = _extract_prose_facts(doc, text, section_lines)
    if "service_type" not in kv_seen:
        problems.append("no 'Service type:' line")
    if "typical_sites" not in kv_seen:
        problems.append("no 'Typical site of service:' line")
    if not payer_sentence_found:
        problems.append("no 'Key payers covered in this overview include …' sentence")
    if not saw_modifier_table:
        problems.append("no modifier table (a pipe table with a 'Modifier' column)")
    elif modifier_table_rows == 0:
        problems.append("modifier table has a header but no rows (document may be truncated)")
    _check_truncation(doc, sections, last_line, last_is_ragged_row)
    if problems:
        doc.status = PARTIAL
    return doc


def _take_title(doc: ParsedDocument, match: re.Match[str]) -> str | None:
    system, code, title = match.group("system"), match.group("code").upper(), match.group("title").strip()
    if not CODE_PATTERNS[system].fullmatch(code):
        return f"title line code {code[:40]!r} is not a valid {system} code ({CODE_FORMAT_HINTS[system]})"
    doc.code_system, doc.code, doc.title = system, code, normalize_value(title)
    return None


def _flag_orphan_row(doc: ParsedDocument, row: tuple[list[str], int]) -> None:
    """A pipe row with no table header above it (e.g. a table broken by a blank line) is not loaded;
    say so when it looks like a modifier row, rather than dropping it silently."""
    cells, number = row
    if cells and MODIFIER_PATTERN.fullmatch(cells[0].strip("* `").upper()):
        doc.problems.append(f"line {number}: modifier row outside a table (no header and |---| line above); not loaded")


def _modifier_columns(header: list[str]) -> tuple[int, int | None, int | None] | None:
    lowered = [cell.casefold() for cell in header]
    code_col = next((i for i, cell in enumerate(lowered) if "modifier" in cell), None)
    if code_col is None:
        return None
    desc_col = next((i for i, cell in enumerate(lowered) if "description" in cell), None)
    when_col = next((i for i, cell in enumerate(lowered) if "when" in cell or "usage" in cell), None)
    return code_col, desc_col, when_col


def _add_modifier_row(
    doc: ParsedDocument, cells: list[str], columns: tuple[int, int | None, int | None], number: int
) -> None:
    code_col, desc_col, when_col = columns
    code = cells[code_col].strip("* `").upper()
    if not MODIFIER_PATTERN.fullmatch(code):
        doc.problems.append(f"line {number}: modifier {cells[code_col][:40]!r} is not two letters/digits")
        return
    doc.modifiers.append(
        ModifierRow(
            modifier_code=code,
            description=normalize_value(cells[desc_col]) if desc_col is not None else None,
            when_to_use=normalize_value(cells[when_col]) if when_col is not None else None,
            line_number=number,
        )
    )


def _extract_prose_facts(doc: ParsedDocument, text: str, section_lines: dict[str, list[str]]) -> bool:
    """Fill the facts stated in prose; returns whether the payer sentence was found."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters change length when lower-cased; offsets would drift
        lowered = None
    payer_match = _search(_PAYER_SENTENCE, _PAYER_SENTENCE_ANY_CASE, text, lowered)
    if payer_match:
        doc.payers = split_list(text[payer_match.start("items") : payer_match.end("items")])
    match = _search(_USED_ACROSS, _USED_ACROSS_ANY_CASE, text, lowered)
    if match:
        doc.summary_sites = split_list(text[match.start("items") : match.end("items")])

    overview = [line for line in section_lines.get("billing code overview", ()) if not _KEY_VALUE.match(line)]
    summary = section_lines.get("summary & overview", [])
    doc.description = normalize_value(overview[0]) if overview else (normalize_value(summary[0]) if summary else None)

    prose = " ".join(filter(None, [doc.title, doc.description, *summary[:1]]))
    match = _LATERALITY.search(prose)
    doc.laterality = match.group(1).lower() if match else None
    match = _APPROACH_IN_TITLE.search(doc.title or "") or _APPROACH_STRICT.search(prose)
    if match:
        doc.approach = next(a for a in APPROACHES if match.group(0).lower().startswith(a))
    doc.imaging_guidance_included = imaging_guidance_included(text, lowered)
    return payer_match is not None


def _search(lower_case: re.Pattern, any_case: re.Pattern, text: str, lowered: str | None) -> re.Match | None:
    return lower_case.search(lowered) if lowered is not None else any_case.search(text)


def imaging_guidance_included(text: str, lowered: str | None = None) -> bool | None:
    """First sentence mentioning imaging guidance decides: included (True), separate (False) or unknown."""
    if lowered is None:
        lowered = text.lower()
        if len(lowered) != len(text):
            lowered = "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in text)
    position = lowered.find("imaging guidance")
    while position != -1:
        start = max(lowered.rfind(".", 0, position), lowered.rfind("\n", 0, position)) + 1
        ends = [e for e in (lowered.find(".", position), lowered.find("\n", position)) if e != -1]
        end = min(ends) if ends else len(text)
        sentence = text[start:end]
        position = lowered.find("imaging guidance", end)
        if _IMAGING_NOT_INCLUDED.search(sentence):
            return False
        if _IMAGING_INCLUDED_WORD.search(sentence):
            return True
    return None


def _check_truncation(doc: ParsedDocument, sections: list[Section], last_line: str, ragged: bool) -> None:
    if sections and sections[-1].heading is not None and not sections[-1].body:
        doc.problems.append(f"section {sections[-1].heading!r} has no content (document may be truncated)")
    elif ragged:
        doc.problems.append("document ends inside a table row (truncated)")
    elif last_line and "|" not in last_line and last_line[-1] not in _SENTENCE_END:
        doc.problems.append(f"document ends mid-sentence (truncated): {last_line[-60:]!r}")


def _clear_facts(doc: ParsedDocument) -> None:
    """A rejected document contributes nothing but its documents row and sections."""
    doc.code_system = doc.code = doc.title = doc.description = doc.service_type = None
    doc.laterality = doc.approach = doc.imaging_guidance_included = None
    doc.typical_sites, doc.summary_sites, doc.payers, doc.modifiers = [], [], [], []


def to_json_dict(doc: ParsedDocument) -> dict:
    """Plain-JSON form, used to cache parse results by content hash."""
    return {
        **{name: getattr(doc, name) for name in _SCALAR_FIELDS},
        "typical_sites": doc.typical_sites,
        "summary_sites": doc.summary_sites,
        "payers": doc.payers,
        "problems": doc.problems,
        "modifiers": [[m.modifier_code, m.description, m.when_to_use, m.line_number] for m in doc.modifiers],
        "sections": [[s.ordinal, s.heading, s.body] for s in doc.sections],
    }


def from_json_dict(data: dict) -> ParsedDocument:
    return ParsedDocument(
        **{name: data[name] for name in _SCALAR_FIELDS},
        typical_sites=list(data["typical_sites"]),
        summary_sites=list(data["summary_sites"]),
        payers=list(data["payers"]),
        problems=list(data["problems"]),
        modifiers=[ModifierRow(*row) for row in data["modifiers"]],
        sections=[Section(*row) for row in data["sections"]],
    )


_SCALAR_FIELDS = (
    "status",
    "encoding",
    "code_system",
    "code",
    "title",
    "description",
    "service_type",
    "laterality",
    "approach",
    "imaging_guidance_included",
)
