"""Parse one billing-code overview document into structured facts.

The format is loose prose with a few anchors (see docs/inputs.md, "Documents"): a title line
``CPT 32994: <title>``, section headings on lines of their own, ``Key: value`` lines, two list
sentences and a table of modifiers.  The steps, each in its own module:

1. ``text_decoding`` (and ``html_text`` for saved web pages): bytes → text;
2. ``logical_lines``: physical lines → logical lines (hard-wrapped sentences joined, every line kept);
3. this module: read each logical line (title, headings, keys, list sentences, the table through
   ``modifier_table``; lists through ``list_items`` with the reference's ``KnownNames``);
4. ``prose_facts``: laterality, approach, imaging guidance.

The parser never raises on content: everything it cannot read, or reads only in part, becomes a
readable entry in ``problems`` and the document is ``partial`` or ``rejected``.  Every non-blank line
is kept in exactly one section.  Several codes per document: each title line for another code opens a new
code block (``ParsedDocument.codes``; the top-level facts are the first code's).  Key lines, tables and
sentences go to the block they are in; a payer or "used across" sentence of the first block is shared with a
later code that states none of its own, unless it names codes and not that one; a table right under a line
naming one code ("Modifiers for CPT 22552") goes to that code's block.
"""

from __future__ import annotations

import hashlib
import operator
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core.domains import CODE_FORMAT_HINTS, CODE_FORMATS, DOCUMENT_STATUSES, PARSED, PARTIAL, REJECTED
from pipeline.core.known_names import NO_KNOWN_NAMES, KnownNames
from pipeline.core.list_items import LONGEST_LIST, ListRead, list_runs_past_limit, read_list, split_list
from pipeline.core.logical_lines import (
    BLANK,
    FACT_KEY_PREFIXES,
    HEADING,
    KEY_ALIASES,
    KNOWN_HEADINGS,
    PIPE,
    TEXT,
    TITLE,
    TITLE_LINE,
    Line,
    is_bullet,
    is_heading,
    key_split,
    logical_lines,
)
from pipeline.core.modifier_table import ModifierRow, split_table_row
from pipeline.core.prose_facts import approach, imaging_guidance_included, laterality
from pipeline.core.table_reader import TableReader
from pipeline.core.text_decoding import DEFAULT_MAX_DOCUMENT_BYTES, decode_document, oversize_problem
from pipeline.core.text_tables import normalize_text_tables

__all__ = [
    "DOCUMENT_STATUSES",
    "KNOWN_HEADINGS",
    "PARSED",
    "PARTIAL",
    "REJECTED",
    "KnownNames",
    "CodeFacts",
    "ModifierRow",
    "ParsedDocument",
    "Section",
    "from_json_dict",
    "imaging_guidance_included",
    "is_heading",
    "normalize_value",
    "parse_document",
    "parse_text",
    "parser_fingerprint",
    "reject_oversize",
    "split_list",
    "split_table_row",
    "to_json_dict",
]

CODE_PATTERNS = {system: re.compile(pattern) for system, pattern in CODE_FORMATS.items()}
_PAYER_SENTENCE = re.compile(
    r"\bkey\s+payers\s+covered\s+in\s+this\s+overview\s+includes?\b(?:\s+the\s+following)?\s*:?", re.IGNORECASE
)
# '[Aetna](https://www.aetna.com "Aetna")' reads 'Aetna': the link target is markup, not a fact.
_MARKDOWN_LINK = re.compile(r"\[([^\[\]\n]*)\]\((?:<[^<>\n]*>|[^()\s]*)(?:\s+\"[^\"\n]*\")?\)")
# A heading over a bulleted list of payers ("Key Payers", "Payers Covered in This Overview"); a heading that
# only mentions payers ("Payer Coverage Considerations") lists other things.
_PAYER_HEADING = re.compile(
    r"(?:key|major|main|covered|top|participating)?\s*payers?(?:\s+(?:list|covered(?:\s+in\s+this\s+overview)?))?",
    re.IGNORECASE,
)
# 'Aetna (https://www.aetna.com)', 'Aetna <https://www.aetna.com>': the address after a name is not part of it.
# One leading space at most: a run of spaces before no link must not be scanned again from each of its spaces.
_BARE_LINK = re.compile(r" ?(?:\( ?<?|<)(?:https?|ftp)://[^\s()<>]*>? ?[)>]")
_USED_ACROSS = re.compile(r"\bthe\s+code\s+is\s+used\s+across\b\s*:?", re.IGNORECASE)
_NOT_AVAILABLE = re.compile(r"^\W*not\s+available\W*$", re.IGNORECASE)
_LIST_SENTENCES = (("payers", _PAYER_SENTENCE, "payers"), ("summary_sites", _USED_ACROSS, "across"))
_SENTENCE_END = ".!?:)]\"'”’|*"
_LABELS = {"payers": "payer", "summary_sites": "'used across'", "typical_sites": "'Typical site of service'"}
_KEY_LABELS = {"service_type": "Service type", "typical_sites": "Typical site of service", "payers": "Key payers"}
_LONGEST_ITEM = 120
# A code named on a short line over a table ("Modifiers for CPT 22552", a caption): the table is that code's.
_CODE_MENTION = re.compile(r"\b(?:\d{4}[0-9A-Z]|[A-Z]\d{4})\b")
_LONGEST_TABLE_LABEL = 100
_LONGEST_SERVICE_TYPE = 150


@dataclass(frozen=True, slots=True)
class Section:
    ordinal: int
    heading: str | None
    body: str


@dataclass(slots=True)
class CodeFacts:
    """What a document says about one of its codes."""

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


CODE_FACT_FIELDS = tuple(CodeFacts.__dataclass_fields__)
_CODE_FACTS_OF = operator.attrgetter(*CODE_FACT_FIELDS)  # the fields' values, in order, read in C


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
    codes: list[CodeFacts] = field(default_factory=list)  # every code in document order; the first is the above

    @property
    def contributes(self) -> bool:
        """True when the document's facts may be loaded (parsed or partial)."""
        return self.status != REJECTED and self.code is not None

    def code_blocks(self) -> list[CodeFacts]:
        """The document's codes; a document built without ``codes`` (by hand, in tests) has its top-level one."""
        if self.codes or self.code is None:
            return self.codes
        return [CodeFacts(**{name: getattr(self, name) for name in CODE_FACT_FIELDS})]


def parse_document(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES, known_names: KnownNames | None = None
) -> ParsedDocument:
    """Parse raw file bytes (text or a saved web page). Never raises for bad content."""
    decoded = decode_document(data, max_bytes=max_bytes)
    if decoded.fatal or decoded.text is None:
        return ParsedDocument(status=REJECTED, problems=decoded.problems)
    parsed = parse_text(decoded.text, known_names=known_names, from_html=decoded.is_html)
    parsed.encoding = decoded.encoding
    if decoded.problems:
        parsed.problems[:0] = decoded.problems
        if parsed.status == PARSED:
            parsed.status = PARTIAL
    return parsed


def parse_text(text: str, *, known_names: KnownNames | None = None, from_html: bool = False) -> ParsedDocument:
    """Parse decoded text (LF line endings).

    ``from_html``: the text was converted from a web page: its headings are the page's ``h1``–``h6`` (a
    short Title Case line such as a button label is not one), and its last line is often a site's sign-off
    rather than prose, so "ends mid-sentence" is not taken as a sign of truncation.
    """
    reader = _DocumentReader(known_names or NO_KNOWN_NAMES, from_html)
    read = reader.read
    for line in logical_lines(normalize_text_tables(text), generic_headings=not from_html):
        read(line)
    return reader.finish()


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


def parser_modules() -> tuple:
    """Every module whose source decides what a document parses to."""
    import sys

    from pipeline.core import (
        domains,
        html_text,
        known_names,
        list_items,
        logical_lines,
        modifier_table,
        prose_facts,
        table_reader,
        text_decoding,
        text_tables,
    )

    return (sys.modules[__name__], domains, html_text, known_names, list_items, logical_lines, modifier_table) + (
        prose_facts,
        table_reader,
        text_decoding,
        text_tables,
    )


def parser_fingerprint() -> str:
    """Hash of the source of every parser module (part of the parse-cache key, with the known-names digest)."""
    digest = hashlib.sha256()
    for module in parser_modules():
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:16]


@dataclass(slots=True)
class _ClosedBlock:
    """A code block whose reading ended (a later title line opened the next one)."""

    facts: CodeFacts
    found: dict[str, str]
    table: TableReader
    scopes: dict[str, set[str] | None]


class _DocumentReader:
    """Reads logical lines in order; holds what has been read so far.

    The current code block's facts live on ``self.doc`` (and ``found``, ``table``, ``section_lines``,
    ``guidance_prose``) while it is read; a title line for another code closes it into ``closed``.
    """

    def __init__(self, known: KnownNames, from_html: bool = False):
        self.doc = ParsedDocument()
        self.from_html = from_html
        self.known = known
        self.sections: list[Section] = []
        self.heading: str | None = None
        self.heading_lines: list[str] | None = None  # logical lines of the current section (by heading)
        self.body: list[str] = []
        self.have_heading = False
        self.section_lines: dict[str, list[str]] = {}
        self.table = TableReader(self.doc.problems, self.doc.modifiers)
        self.found: dict[str, str] = {}  # fact -> the text it was read from (first one wins)
        self.pending_key: tuple[str, int] | None = None  # 'Service type:' with its value on the next line
        self.awaiting_bullets: tuple[str, int] | None = None  # '… include:' followed by a bulleted list
        self.title_problem: str | None = None
        self.title_candidate: str | None = None
        self.guidance_prose: list[str] = []  # prose lines that mention guidance: only these can decide imaging
        self.payer_heading: int | None = None  # line of a 'Key Payers' heading whose bullets list the payers
        self.listed_payers: list[str] = []  # payers from bullets under a payers heading or from a payer table
        self.table.payers = self.listed_payers  # one list, so the names stay in document order
        self.block_table = self.table  # the current block's table reader (``table`` may be a labelled one's)
        self.closed: list[_ClosedBlock] = []
        self.block_lines: list[str] = []  # text lines of the current block after its title
        self.scopes: dict[str, set[str] | None] = {}  # list sentence -> the codes it names (None: names none)
        # The code a short line right above names: worked out only when a table follows (most lines are no
        # caption), so it is kept as the lines to ask, nearest first: (text, rest), rest being the same or the
        # code already found.
        self.table_label: tuple | str | None = None
        self.last_line = ""
        self.last_number = 0

    def read(self, line: Line) -> None:
        kind, table = line.kind, self.table
        self.last_number = line.number
        active = table.pending is not None or table.header is not None  # ``table.active``, without the call
        if kind == BLANK:
            if active:
                table.end()
            return
        self.last_line = line.raw[-1]
        table.last_row_ragged = False
        text = line.text
        if "](" in text:
            text = line.text = _MARKDOWN_LINK.sub(r"\1", text)
        if "://" in text:
            line.text = _BARE_LINK.sub("", text)
        if kind == PIPE:
            self.body.extend(line.raw)
            if not active:
                table = self.table = self._labelled_table()
            table.read(line.text, line.number)
            return
        label, self.table_label = self.table_label, None
        if active:
            if kind == TEXT and line.text[:1].islower():
                # A row hard-wrapped without its closing pipe: the rest of its last cell would be lost quietly.
                self.doc.problems.append(
                    f"line {line.number}: text right after a table row looks like the row's continuation; "
                    f"not read into the table: {line.text[:60]!r}"
                )
            table.end()
        self.table = self.block_table
        if kind == HEADING:
            self._start_section(line.heading)
            self.table_label = (line.heading, label)  # the heading's code, else the label above it
            return
        self.body.extend(line.raw)
        if kind == TITLE and self._read_title(line):
            return
        if self.heading_lines is not None:
            self.heading_lines.append(line.text)
        self.block_lines.append(line.text)
        self._read_text(line)
        if len(line.text) <= _LONGEST_TABLE_LABEL:
            self.table_label = (line.text, None)

    def _labelled_table(self) -> TableReader:
        """The reader of the block whose code the line above the table names, else the current block's."""
        label = self._table_label()
        if label is not None and label != self.doc.code:
            for block in self.closed:
                if block.facts.code == label:
                    return block.table
        return self.block_table

    def _table_label(self) -> str | None:
        """The code the lines right above name (the nearest line naming one); kept once worked out."""
        node = self.table_label
        while isinstance(node, tuple):
            text, node = node
            code = _named_code(text)
            if code is not None:
                node = code
                break
        self.table_label = node
        return node

    def _start_section(self, heading: str) -> None:
        if self.pending_key is not None or self.awaiting_bullets is not None:
            self._end_block_facts()
        self._close_section()
        self.heading, self.body, self.have_heading = heading, [], True
        payers = "payer" in heading.lower() and _PAYER_HEADING.fullmatch(heading.strip(" :*"))
        self.payer_heading = self.last_number if payers else None
        self.heading_lines = self.section_lines.setdefault(heading.casefold(), [])

    def _close_section(self) -> None:
        if self.have_heading or self.body:
            self.sections.append(Section(len(self.sections), self.heading, "\n".join(self.body)))

    def _read_title(self, line: Line) -> bool:
        """True when the line was a title line (read or reported), False to read it as text."""
        doc, match = self.doc, TITLE_LINE.match(line.text)
        if doc.code is None and self.title_problem is None:
            if match:
                self.title_problem = _take_title(doc, match)
                if doc.code is not None and not match.group("title").strip(" *"):
                    doc.problems.append(f"line {line.number}: title line has no title after the code")
            elif self.title_candidate is None:
                self.title_candidate = f"line {line.number} {line.text[:80]!r}"
            return True
        if match is None or doc.code is None:
            return False
        code, system = match.group("code").upper(), match.group("system").upper()
        if code == doc.code or any(block.facts.code == code for block in self.closed):
            return True  # the same code's title repeated (a page heading over the title line)
        if not CODE_PATTERNS[system].fullmatch(code):
            doc.problems.append(
                f"line {line.number}: title line code {code[:40]!r} is not a valid {system} code "
                f"({CODE_FORMAT_HINTS[system]}); no new code block opened"
            )
            return True
        self._close_block()
        _take_title(doc, match)
        return True

    def _close_block(self, *, last: bool = False) -> None:
        """The current code's facts are complete: keep them, and start reading the next code's (unless
        ``last``: at the end of the document, whose facts are then taken from the first block)."""
        self.table.end()
        self.block_table.end()
        self._end_block_facts()
        if self.listed_payers:
            self._add_payers(self.listed_payers)
        self._read_prose_facts(first=not self.closed)
        doc = self.doc
        facts = CodeFacts(*_CODE_FACTS_OF(doc))
        self.closed.append(_ClosedBlock(facts, self.found, self.block_table, self.scopes))
        if last:
            return
        blank = CodeFacts()
        for name in CODE_FACT_FIELDS:
            setattr(doc, name, getattr(blank, name))
        doc.modifiers = []
        self.found, self.scopes, self.guidance_prose, self.block_lines = {}, {}, [], []
        self.listed_payers = []
        self.table = self.block_table = TableReader(doc.problems, doc.modifiers)
        self.table.payers = self.listed_payers
        self.section_lines = {}
        self.heading_lines = self.section_lines.setdefault(self.heading.casefold(), []) if self.heading else None

    def _read_text(self, line: Line) -> None:
        text = line.text
        if self.payer_heading is not None:
            if is_bullet(text):
                self._read_payer_bullet(text, line.number)
                return
            self.payer_heading = None
        waiting = self.pending_key is not None or self.awaiting_bullets is not None
        if waiting and self._read_pending(line):
            return
        split = key_split(text) if ":" in text else None
        if split is not None and split[0] in KEY_ALIASES:
            self._read_key_line(split[0], split[1], line.number)
            return
        if split is not None and split[0].startswith(FACT_KEY_PREFIXES):
            self.doc.problems.append(f"line {line.number}: unrecognised key {split[0]!r}; line not read: {text[:80]!r}")
        lowered = text.lower()  # cheap tests first: most lines hold no list sentence and no guidance
        if "guidance" in lowered:  # imaging_guidance_included skips every other line
            self.guidance_prose.append(text)
        self._read_list_sentences(text, lowered, line.number)

    def _read_pending(self, line: Line) -> bool:
        """A value on the line after its key, or the bullets after '… include:'; True when consumed."""
        text = line.text
        if self.pending_key is not None and self.pending_key[0] != "service_type" and is_bullet(text):
            self.awaiting_bullets, self.pending_key = self.pending_key, None  # 'Key payers:' over a bulleted list
        if self.pending_key is not None and not is_bullet(text) and not _is_known_key_line(text):
            fact, _ = self.pending_key
            self.pending_key = None
            self._set_key(fact, text, line.number)
            return True
        if self.awaiting_bullets is not None and is_bullet(text):
            fact = self.awaiting_bullets[0]
            getattr(self.doc, fact).extend(read_list(text.lstrip("-*•+– ").strip(), self.known).items)
            return True
        self._end_block_facts()
        return False

    def _read_payer_bullet(self, text: str, number: int) -> None:
        listed = read_list(text.lstrip("-*•+–0123456789.) ").strip(), self.known)
        self.listed_payers.extend(listed.items)
        if not listed.items:
            self.doc.problems.append(f"line {number}: item under a payers heading names no payer: {text[:80]!r}")

    def _add_payers(self, names: list[str]) -> None:
        """Payers listed in a table or under a payers heading join those of the payer sentence."""
        doc, seen = self.doc, {name.casefold() for name in self.doc.payers}
        for name in names:
            if name.casefold() not in seen:
                seen.add(name.casefold())
                doc.payers.append(name)
        self.found.setdefault("payers", ", ".join(names))

    def _end_block_facts(self) -> None:
        """A key still waiting for its value, or '… include:' still waiting for its bullets, is reported."""
        if self.pending_key is not None:
            fact, number = self.pending_key
            self.doc.problems.append(f"line {number}: '{_KEY_LABELS[fact]}:' has no value")
            self.pending_key = None
        if self.awaiting_bullets is not None:
            fact, number = self.awaiting_bullets
            if not getattr(self.doc, fact):
                self.doc.problems.append(f"line {number}: {_LABELS[fact]} sentence lists no names")
            self.awaiting_bullets = None

    def _read_key_line(self, key: str, value: str, number: int) -> None:
        fact = KEY_ALIASES[key]
        value, embedded = _split_embedded_keys(value)
        if fact in self.found:
            if normalize_value(value) != normalize_value(self.found[fact]):
                self.doc.problems.append(f"line {number}: second '{_KEY_LABELS[fact]}' line ignored: {value[:60]!r}")
        elif not value:
            self.found[fact] = value
            self.pending_key = (fact, number)
        else:
            self._set_key(fact, value, number)
        for other_key, other_value in embedded:
            self._read_key_line(other_key, other_value, number)

    def _set_key(self, fact: str, value: str, number: int) -> None:
        self.found[fact] = value
        if fact != "service_type":
            self._set_list(fact, value, number, label=f"'{_KEY_LABELS[fact]}'", whole_value=True)
            return
        service_type = normalize_value(value)
        if service_type is not None:
            end = _first_sentence_end(service_type)
            if end is not None or len(service_type) > _LONGEST_SERVICE_TYPE:
                self.doc.problems.append(
                    f"line {number}: 'Service type' value runs on with no recognizable end; "
                    f"read {service_type[: end or _LONGEST_SERVICE_TYPE]!r}"
                )
                service_type = service_type[: end or _LONGEST_SERVICE_TYPE].rstrip(" .")
        self.doc.service_type = service_type

    def _read_list_sentences(self, text: str, lowered: str, number: int) -> None:
        for fact, pattern, word in _LIST_SENTENCES:
            if word not in lowered or (match := pattern.search(text)) is None:
                if fact == "payers" and "key payer" in lowered and " includ" in lowered:
                    self.doc.problems.append(
                        f"line {number}: looks like a payer sentence but does not read 'Key payers covered in this "
                        f"overview include …'; not read: {text[:80]!r}"
                    )
                continue
            rest = text[match.end() :]
            if fact not in self.found:
                # Codes named in the sentence itself ("For 22551 and 22552, key payers …"), not in the one before.
                before = text[: match.start()]
                sentence = before[before.rfind(". ") + 1 :]
                self.scopes[fact] = {code.upper() for code in _CODE_MENTION.findall(sentence)} or None
            if fact in self.found:
                again = read_list(rest[:LONGEST_LIST], self.known).items
                if again != getattr(self.doc, fact):
                    self.doc.problems.append(f"line {number}: second {_LABELS[fact]} sentence ignored: {rest[:60]!r}")
                continue
            self.found[fact] = rest
            self._set_list(fact, rest, number, label=f"{_LABELS[fact]} sentence")

    def _set_list(self, fact: str, text: str, number: int, *, label: str, whole_value: bool = False) -> None:
        """``whole_value``: the text is a key's value, so anything after the list is reported as not read."""
        listed = read_list(text[:LONGEST_LIST], self.known)
        if len(text) > LONGEST_LIST and not listed.terminated:
            self.doc.problems.append(f"line {number}: {list_runs_past_limit(label, len(text))}")
            return
        setattr(self.doc, fact, listed.items)
        if not listed.items:
            said = text[: listed.end].strip(" .:*")
            if not said:
                self.awaiting_bullets = (fact, number)
            elif not _NOT_AVAILABLE.match(said):
                self.doc.problems.append(f"line {number}: {label} lists no names: {said[:80]!r}")
            return
        self._check_list(listed, text, number, label, whole_value)

    def _check_list(self, listed: ListRead, text: str, number: int, label: str, whole_value: bool) -> None:
        problems = self.doc.problems
        if listed.hanging:
            problems.append(f"line {number}: {label} ends mid-list: {text[-60:]!r}; the rest was not read")
        for item in listed.items:
            if len(item) > _LONGEST_ITEM:
                problems.append(f"line {number}: {label} item runs on with no recognizable end: {item[:80]!r}…")
        rest = text[listed.end :].strip()
        if whole_value and rest and not _NOT_AVAILABLE.match(rest):
            problems.append(f"line {number}: text after the {label} list not read: {rest[:60]!r}")

    def finish(self) -> ParsedDocument:
        self.table.end()
        ragged = self.table.last_row_ragged
        doc = self.doc
        if doc.code is None:
            self._end_block_facts()
        else:
            self._close_block(last=True)
        self._close_section()
        doc.sections = self.sections
        if self.title_problem is not None:
            doc.problems.append(self.title_problem)
        if not self.closed:
            return self._reject()
        self._drop_bare_title_lines()
        self._share_first_block_sentences()
        for block in self.closed:
            self._report_missing_parts(block)
        doc.codes = [block.facts for block in self.closed]
        for name in CODE_FACT_FIELDS:
            setattr(doc, name, getattr(doc.codes[0], name))
        _check_truncation(doc, self.sections, "" if self.from_html else self.last_line, ragged)
        if doc.problems:
            doc.status = PARTIAL
        return doc

    def _drop_bare_title_lines(self) -> None:
        """A later title line followed by nothing of its own (no key line, sentence or table, as in a "Related
        codes" list) describes no code here: it is reported, and its code is not loaded with borrowed facts."""
        kept = [self.closed[0]]
        for block in self.closed[1:]:
            if block.found or block.table.saw_modifier_table or block.facts.modifiers:
                kept.append(block)
            else:
                facts = block.facts
                self.doc.problems.append(
                    f"title line for {facts.code_system} {facts.code} is followed by none of its facts (no key "
                    "line, payer sentence or modifier table); not loaded as a code"
                )
        self.closed = kept

    def _share_first_block_sentences(self) -> None:
        """The summary's payer and "used across" sentences, in the first block, speak for a later code that has
        none of its own, unless they name codes and not that one."""
        first = self.closed[0]
        for block in self.closed[1:]:
            for fact, key in (("payers", "payers"), ("summary_sites", "summary_sites")):
                if key in block.found or key not in first.found:
                    continue
                scope = first.scopes.get(fact)
                if scope is None or block.facts.code in scope:
                    setattr(block.facts, fact, list(getattr(first.facts, fact)))
                    block.found[key] = first.found[key]

    def _reject(self) -> ParsedDocument:
        doc = self.doc
        if self.title_problem is None and self.title_candidate is not None:
            doc.problems.append(f"no valid title line: {self.title_candidate} does not read 'CPT 12345: Title'")
        elif self.title_problem is None:
            doc.problems.append("no title line of the form 'CPT 12345: Title' or 'HCPCS A1234: Title'")
        doc.status = REJECTED
        _clear_facts(doc)
        return doc

    def _read_prose_facts(self, first: bool = True) -> None:
        doc, lines = self.doc, self.section_lines
        overview = next((line for line in lines.get("billing code overview", ()) if not _is_key_line(line)), None)
        summary = lines.get("summary & overview", [])
        if overview is None and not summary and not first:
            # A later code often sits under its own heading ("Add-on Code"): its first prose line describes it.
            overview = next((line for line in self.block_lines if not _is_key_line(line)), None)
        doc.description = (
            normalize_value(overview) if overview is not None else (normalize_value(summary[0]) if summary else None)
        )
        prose = " ".join(filter(None, [doc.title, doc.description, *summary[:1]]))
        doc.laterality = laterality(prose)
        doc.approach = approach(doc.title, prose)
        doc.imaging_guidance_included = imaging_guidance_included([doc.title or "", *self.guidance_prose])

    def _report_missing_parts(self, block: _ClosedBlock) -> None:
        found, missing = block.found, []
        if "service_type" not in found:
            missing.append("no 'Service type:' line")
        if "typical_sites" not in found:
            missing.append("no 'Typical site of service:' line")
        if "payers" not in found:
            missing.append("no 'Key payers covered in this overview include …' sentence")
        missing.extend(block.table.missing_table_problems())
        several = len(self.closed) > 1
        facts = block.facts
        self.doc.problems.extend(f"{facts.code_system} {facts.code}: {m}" if several else m for m in missing)


def _take_title(doc: ParsedDocument, match: re.Match[str]) -> str | None:
    system, code, title = match.group("system").upper(), match.group("code").upper(), match.group("title").strip()
    if not CODE_PATTERNS[system].fullmatch(code):
        return f"title line code {code[:40]!r} is not a valid {system} code ({CODE_FORMAT_HINTS[system]})"
    doc.code_system, doc.code, doc.title = system, code, normalize_value(title)
    return None


def _named_code(text: str) -> str | None:
    """The one billing code a short line names ("Modifiers for CPT 22552"), if it names exactly one."""
    codes = {code.upper() for code in _CODE_MENTION.findall(text)}
    return codes.pop() if len(codes) == 1 else None


def _split_embedded_keys(value: str) -> tuple[str, list[tuple[str, str]]]:
    """'Percutaneous ablation Typical site of service: office' → the value, and the key found inside it."""
    if ":" not in value:
        return value, []
    lowered = value.casefold()
    if len(lowered) != len(value):
        return value, []
    cut = min(
        (pos for key in KEY_ALIASES if (pos := lowered.find(key + ":")) > 0 and not lowered[pos - 1].isalnum()),
        default=None,
    )
    if cut is None:
        return value, []
    split = key_split(value[cut:])
    return value[:cut].rstrip(" ;,"), [split] if split else []


def _first_sentence_end(value: str) -> int | None:
    """Offset of a period that ends a sentence and is followed by another one ('ablation. The …')."""
    position = value.find(". ")
    while position != -1:
        following = value[position + 2 : position + 3]
        if following.isupper():
            return position
        position = value.find(". ", position + 2)
    return None


def _is_known_key_line(line: str) -> bool:
    split = key_split(line) if ":" in line else None
    return split is not None and split[0] in KEY_ALIASES


def _is_key_line(line: str) -> bool:
    split = key_split(line)
    return split is not None and all(part.isalpha() for part in split[0].split())


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
    """Plain-JSON form, used to cache parse results by content hash.  The first code block is the top-level facts
    (``parse_document`` copies it there): written once, with ``codes_from`` 1 saying the list starts at the second
    (a third of every payload, which the spool, the cache and each load would otherwise carry twice)."""
    first_is_top = bool(doc.codes) and _CODE_FACTS_OF(doc.codes[0]) == _CODE_FACTS_OF(doc)
    data = dict(zip(_SCALAR_FIELDS, _SCALARS_OF(doc), strict=True))
    data["typical_sites"] = doc.typical_sites
    data["summary_sites"] = doc.summary_sites
    data["payers"] = doc.payers
    data["problems"] = doc.problems
    data["modifiers"] = _modifier_rows(doc.modifiers)
    data["sections"] = [[s.ordinal, s.heading, s.body] for s in doc.sections]
    data["codes_from"] = 1 if first_is_top else 0
    data["codes"] = [_code_block(c) for c in doc.codes[1 if first_is_top else 0 :]]
    return data


def _code_block(facts: CodeFacts) -> dict:
    block = dict(zip(CODE_FACT_FIELDS, _CODE_FACTS_OF(facts), strict=True))
    block["modifiers"] = _modifier_rows(facts.modifiers)
    return block


def _modifier_rows(modifiers: list[ModifierRow]) -> list[list]:
    return [[m.modifier_code, m.description, m.when_to_use, m.line_number] for m in modifiers]


def from_json_dict(data: dict) -> ParsedDocument:
    # Keywords spelt out rather than a dict unpacked: this runs once per document per load.
    doc = ParsedDocument(
        status=data["status"],
        problems=list(data["problems"]),
        encoding=data["encoding"],
        code_system=data["code_system"],
        code=data["code"],
        title=data["title"],
        description=data["description"],
        service_type=data["service_type"],
        laterality=data["laterality"],
        approach=data["approach"],
        imaging_guidance_included=data["imaging_guidance_included"],
        typical_sites=list(data["typical_sites"]),
        summary_sites=list(data["summary_sites"]),
        payers=list(data["payers"]),
        modifiers=[ModifierRow(*row) for row in data["modifiers"]],
        sections=[Section(*row) for row in data["sections"]],
        codes=[
            CodeFacts(**{**block, "modifiers": [ModifierRow(*row) for row in block["modifiers"]]})
            for block in data.get("codes", ())
        ],
    )
    if data.get("codes_from") == 1:
        doc.codes.insert(0, CodeFacts(*_CODE_FACTS_OF(doc)))
    return doc


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
_SCALARS_OF = operator.attrgetter(*_SCALAR_FIELDS)
