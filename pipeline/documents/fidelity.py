"""Fidelity report: parse a folder of documents and compare each fact with a hand-written gold file.

    cpt-warehouse fidelity DIR GOLD

``GOLD/<document file name>.json`` holds the expected facts of ``DIR/<document file name>`` (schema in
``tests/fidelity/README.md``).  Documents are parsed with the pipeline's parser and known names, and payers
and care sites are resolved with the pipeline's resolvers against the reference folder
(``CPT_REFERENCE_DIR``), so the report measures what the warehouse would hold.  Prints per-field
accuracy and every miss; the exit status is 0 only when every field of every document is right.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core.care_sites import CareSiteDirectory
from pipeline.core.document_parser import ParsedDocument
from pipeline.core.html_text import looks_like_html
from pipeline.core.known_names import KnownNames
from pipeline.core.payer_aliases import PayerDirectory
from pipeline.core.reference_data import ReferenceData, load_reference_data
from pipeline.core.text_decoding import DEFAULT_MAX_DOCUMENT_BYTES
from pipeline.documents.formats import parse_any_document, sniff

FIELDS = (
    "status",
    "code_system",
    "code",
    "title",
    "service_type",
    "laterality",
    "approach",
    "imaging_guidance_included",
    "modifiers",
    "payers",
    "care_sites",
    "pos_codes",
    "problems_contain",
)
EXIT_OK, EXIT_MISSES, EXIT_USAGE = 0, 1, 2


class FidelityInputError(ValueError):
    """DIR or GOLD is missing, or a document has no gold file (or a gold file no document)."""


@dataclass
class FidelityReport:
    correct: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIELDS, 0))
    total: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIELDS, 0))
    misses: list[tuple[str, str, object, object]] = field(default_factory=list)
    # form -> [documents, fields correct, fields compared, documents with every field right]
    forms: dict[str, list[int]] = field(default_factory=dict)

    @property
    def perfect(self) -> bool:
        return not self.misses and sum(self.total.values()) > 0


class FactExtractor:
    """The facts the warehouse would hold for one document, in the gold file's terms."""

    def __init__(self, reference: ReferenceData, max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES):
        self.known_names = KnownNames.from_reference(reference)
        self.payers = PayerDirectory(reference.payers, reference.payer_aliases)
        self.sites = CareSiteDirectory(reference.care_sites, reference.care_site_aliases)
        self.max_bytes = max_bytes

    def facts(self, data: bytes) -> dict[str, object]:
        return self.facts_of(parse_any_document(data, max_bytes=self.max_bytes, known_names=self.known_names))

    def facts_of(self, doc: ParsedDocument) -> dict[str, object]:
        facts: dict[str, object] = {name: getattr(doc, name) for name in FIELDS[:8]}
        facts["modifiers"] = _modifiers(doc)
        facts["payers"] = self._payers(doc)
        facts["care_sites"], facts["pos_codes"] = self._care_sites(doc)
        facts["problems"] = "; ".join(doc.problems)
        return facts

    def _payers(self, doc: ParsedDocument) -> list[str]:
        names: dict[str, str] = {}
        for written in doc.payers:
            match = self.payers.resolve(written)
            names.setdefault(match.payer_id, match.payer_name)
        return list(names.values())

    def _care_sites(self, doc: ParsedDocument) -> tuple[list[str], list[str]]:
        names: dict[str, str] = {}
        pos_codes: set[str] = set()
        for written in [*doc.typical_sites, *doc.summary_sites]:
            match = self.sites.resolve(written)
            names.setdefault(match.care_site_id, match.care_site_name)
            pos_codes.update(match.pos_codes)
        return list(names.values()), sorted(pos_codes)


def _modifiers(doc: ParsedDocument) -> list[dict[str, str | None]]:
    """Rows in document order; a code listed twice keeps its first row, as the warehouse does."""
    seen: set[str] = set()
    rows = []
    for row in doc.modifiers:
        if row.modifier_code not in seen:
            seen.add(row.modifier_code)
            rows.append({"modifier_code": row.modifier_code, "when_to_use": row.when_to_use})
    return rows


def run_fidelity(
    documents_dir: Path, gold_dir: Path, reference_dir: Path, max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
) -> FidelityReport:
    pairs = _document_gold_pairs(documents_dir, gold_dir)
    extractor = FactExtractor(load_reference_data(reference_dir), max_bytes)
    report = FidelityReport()
    for name, document, gold_file in pairs:
        gold = json.loads(gold_file.read_text(encoding="utf-8"))
        data = document.read_bytes()
        actual = extractor.facts(data)
        form = report.forms.setdefault(document_form(document.name, data), [0, 0, 0, 0])
        misses_before = len(report.misses)
        form[0] += 1
        for field_name in FIELDS:
            if field_name not in gold or (field_name == "problems_contain" and not gold[field_name]):
                continue
            expected = gold[field_name]
            ok, shown = compare(field_name, expected, actual)
            report.total[field_name] += 1
            form[2] += 1
            if ok:
                report.correct[field_name] += 1
                form[1] += 1
            else:
                report.misses.append((name, field_name, expected, shown))
        form[3] += len(report.misses) == misses_before
    return report


def document_form(name: str, data: bytes) -> str:
    """The form a document comes in, by content: pdf, docx, rtf, eml, html, markdown or text."""
    kind = sniff(data)
    if kind is not None:
        return kind
    if looks_like_html(data[:4096].decode("utf-8", errors="replace")):
        return "html"
    return "markdown" if name.lower().endswith((".md", ".markdown")) else "text"


def _document_gold_pairs(documents_dir: Path, gold_dir: Path) -> list[tuple[str, Path, Path]]:
    for label, path in (("documents folder", documents_dir), ("gold folder", gold_dir)):
        if not path.is_dir():
            raise FidelityInputError(f"{label} {path} does not exist or is not a folder")
    documents = sorted(p for p in documents_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    if not documents:
        raise FidelityInputError(f"documents folder {documents_dir} has no documents")
    golds = {p.name for p in gold_dir.iterdir() if p.is_file() and p.name.endswith(".json")}
    without_gold = [p.name for p in documents if f"{p.name}.json" not in golds]
    without_document = sorted(golds - {f"{p.name}.json" for p in documents})
    if without_gold or without_document:
        raise FidelityInputError(
            f"documents without a gold file in {gold_dir}: {without_gold or 'none'}; "
            f"gold files without a document in {documents_dir}: {without_document or 'none'}"
        )
    return [(p.name, p, gold_dir / f"{p.name}.json") for p in documents]


def compare(field_name: str, expected: object, actual: dict[str, object]) -> tuple[bool, object]:
    if field_name == "problems_contain":
        problems = _normalize(actual["problems"])
        missing = [text for text in expected if _normalize(text) not in problems]
        return not missing, actual["problems"] or "(no problems)"
    value = actual[field_name]
    return _normalize(expected) == _normalize(value), value


def _normalize(value: object) -> object:
    """Whitespace-insensitive strings; lists and dicts compared element by element, in order."""
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, list | tuple):
        return [_normalize(item) for item in value]
    if isinstance(value, dict):
        return {key: _normalize(item) for key, item in value.items()}
    return value


def print_report(report: FidelityReport, documents_dir: Path, gold_dir: Path) -> None:
    documents = report.total["status"]
    print(f"fidelity: {documents} documents in {documents_dir}, gold in {gold_dir}")
    print(f"{'field':28} {'correct/total':>14} {'accuracy':>9}")
    for name in FIELDS:
        total = report.total[name]
        if total:
            print(f"{name:28} {report.correct[name]:>6}/{total:<7} {100 * report.correct[name] / total:>8.1f}%")
    correct, total = sum(report.correct.values()), sum(report.total.values())
    print(f"{'all fields':28} {correct:>6}/{total:<7} {100 * correct / max(total, 1):>8.1f}%")
    print(f"\n{'form':10} {'documents':>9} {'all right':>9} {'fields correct/total':>21} {'accuracy':>9}")
    for form, (count, right, compared, perfect) in sorted(report.forms.items()):
        print(f"{form:10} {count:>9} {perfect:>9} {right:>11}/{compared:<9} {100 * right / max(compared, 1):>8.1f}%")
    if report.misses:
        print(f"\n{len(report.misses)} miss(es):")
        for name, field_name, expected, actual in report.misses:
            print(f"  {name}  {field_name}:\n    expected {_show(expected)}\n    actual   {_show(actual)}")
    else:
        print("\nall fields correct")


def _show(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def main(documents_dir: Path, gold_dir: Path, reference_dir: Path, max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES) -> int:
    try:
        report = run_fidelity(documents_dir, gold_dir, reference_dir, max_bytes)
    except FidelityInputError as exc:
        print(f"fidelity: {exc}")
        return EXIT_USAGE
    print_report(report, documents_dir, gold_dir)
    return EXIT_OK if report.perfect else EXIT_MISSES
