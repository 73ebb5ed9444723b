"""Turn a folder's worth of parsed documents into the rows of the core tables.

This is where corpus-level rules live, in the order the README describes them:
1. one document per code: the newest wins (``pick_code_winners``), code by code:
   a document describing several codes (a primary code and its add-on) competes
   for each of them on its own;
2. each code won gives its code row and its bridges to modifiers, payers and care
   sites, from that code's block of the document, names resolved through the
   reference directories and de-duplicated so every bridge key is unique, and its
   ``core.document_codes`` row;
3. every document, loaded or not, gives its ``core.documents`` row and sections: a
   document that won some of its codes and lost others is partial, one that lost
   every code is rejected;
4. rows the table contracts reject later make their document partial
   (``absorb_rejections``).
Output is plain dicts keyed by the warehouse column names, so the asset layer only
converts and writes.

Duplicate rule: when several documents declare the same code, the one with the
latest file modification time (to the second) wins; equal times are broken by the
greater document_id (the path relative to the documents folder).  Losers are
marked rejected with a problem naming the winner.  A modification time more than
``CLOCK_SKEW`` in the future (a clock set wrong, a copy from another time zone) is
not believed: it ranks below every believable time, so such a document cannot win
over fresh edits forever, and it is told on the document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pipeline.core.care_sites import CareSiteDirectory, CareSiteMatch
from pipeline.core.document_parser import CodeFacts, ParsedDocument
from pipeline.core.domains import CARE_SITE_SOURCES, PARSED, PARTIAL, REJECTED
from pipeline.core.payer_aliases import PayerDirectory, PayerMatch
from pipeline.core.reference_data import ReferenceData, pos_code_list

SOURCE_TYPICAL_SITE, SOURCE_SUMMARY = CARE_SITE_SOURCES
CLOCK_SKEW = timedelta(minutes=5)  # a modification time further in the future than this is not believed


@dataclass(slots=True)
class DocumentFile:
    document_id: str
    source_path: str
    sha256: str | None
    size_bytes: int
    modified_at: datetime
    parsed: ParsedDocument


@dataclass(frozen=True, slots=True)
class CodeWin:
    """A code a document won: the code's block of facts and its position among the document's codes."""

    file: DocumentFile
    ordinal: int
    facts: CodeFacts


@dataclass
class CoreRows:
    tables: dict[str, list[dict]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> list[dict]:
        return self.tables[name]


@dataclass
class _Corpus:
    """Rows accumulated while the winners are walked; dimensions start from the reference data."""

    payers: PayerDirectory
    sites: CareSiteDirectory
    modifier_dim: dict[str, dict]
    payer_dim: dict[str, dict]
    site_dim: dict[str, dict]
    extra_problems: dict[str, list[str]]
    # Names recur across documents (the same payers and settings in every one): each is resolved once a batch.
    payer_matches: dict[str, PayerMatch] = field(default_factory=dict)
    site_matches: dict[str, CareSiteMatch] = field(default_factory=dict)
    codes: list[dict] = field(default_factory=list)
    code_modifiers: list[dict] = field(default_factory=list)
    code_payers: list[dict] = field(default_factory=list)
    code_care_sites: list[dict] = field(default_factory=list)
    document_codes: list[dict] = field(default_factory=list)


def build_core_rows(files: list[DocumentFile], reference: ReferenceData, parsed_at: datetime) -> CoreRows:
    corpus = _start_corpus(files, reference)
    wins = pick_code_winners(files, corpus.extra_problems, now=parsed_at)
    for win in wins:
        document_id, facts = win.file.document_id, win.facts
        corpus.codes.append(_code_row(document_id, facts))
        _add_modifiers(corpus, document_id, facts)
        _add_payers(corpus, document_id, facts)
        _add_care_sites(corpus, document_id, facts)
        corpus.document_codes.append({"document_id": document_id, "code": facts.code, "ordinal": win.ordinal})
    won: dict[str, list[CodeWin]] = {}
    for win in wins:
        won.setdefault(win.file.document_id, []).append(win)
    documents, sections = _document_rows(files, won, corpus.extra_problems, parsed_at)
    status_by_doc = {row["document_id"]: row["status"] for row in documents}
    for row in corpus.codes:
        row["document_status"] = status_by_doc[row["document_id"]]
    return CoreRows(
        {
            "documents": documents,
            "document_sections": sections,
            "codes": corpus.codes,
            "modifiers": list(corpus.modifier_dim.values()),
            "code_modifiers": corpus.code_modifiers,
            "payers": list(corpus.payer_dim.values()),
            "payer_aliases": [dict(row) for row in reference.payer_aliases],
            "code_payers": corpus.code_payers,
            "care_sites": list(corpus.site_dim.values()),
            "care_site_aliases": [
                {"alias": row["alias"], "care_site_id": row["care_site_id"], "why": row["why"] or None}
                for row in reference.care_site_aliases
            ],
            "code_care_sites": corpus.code_care_sites,
            "document_codes": sorted(corpus.document_codes, key=lambda row: (row["document_id"], row["ordinal"])),
            "place_of_service": [dict(row) for row in reference.place_of_service],
        }
    )


def _start_corpus(files: list[DocumentFile], reference: ReferenceData) -> _Corpus:
    return _Corpus(
        payers=PayerDirectory(reference.payers, reference.payer_aliases),
        sites=CareSiteDirectory(reference.care_sites, reference.care_site_aliases),
        modifier_dim={
            row["modifier_code"]: {
                "modifier_code": row["modifier_code"],
                "description": row["description"],
                "is_real_modifier": row["is_real_modifier"].lower() == "true",
                "in_reference": True,
            }
            for row in reference.modifiers
        },
        payer_dim={
            row["payer_id"]: {
                "payer_id": row["payer_id"],
                "payer_name": row["payer_name"],
                "payer_type": row["payer_type"],
                "parent_organization": row["parent_organization"] or None,
                "sop_typology_code": row["sop_typology_code"] or None,
                "is_resolved": True,
            }
            for row in reference.payers
        },
        site_dim={
            row["care_site_id"]: {
                "care_site_id": row["care_site_id"],
                "care_site_name": row["care_site_name"],
                "pos_codes": pos_code_list(row["pos_codes"]),
                "cms_facility_setting": row["cms_facility_setting"],
                "is_resolved": True,
            }
            for row in reference.care_sites
        },
        extra_problems={f.document_id: [] for f in files},
    )


def _code_row(document_id: str, doc: CodeFacts) -> dict:
    return {
        "code": doc.code,
        "code_system": doc.code_system,
        "title": doc.title,
        "description": doc.description,
        "service_type": doc.service_type,
        "laterality": doc.laterality,
        "approach": doc.approach,
        "imaging_guidance_included": doc.imaging_guidance_included,
        "document_id": document_id,
    }


def _add_modifiers(corpus: _Corpus, document_id: str, facts: CodeFacts) -> None:
    seen: set[str] = set()
    code, dimension, bridges = facts.code, corpus.modifier_dim, corpus.code_modifiers
    for row in facts.modifiers:
        modifier_code = row.modifier_code
        if modifier_code in seen:
            corpus.extra_problems[document_id].append(
                f"line {row.line_number}: modifier {modifier_code} listed twice; first row kept"
            )
            continue
        seen.add(modifier_code)
        if modifier_code not in dimension:
            dimension[modifier_code] = {
                "modifier_code": modifier_code,
                "description": row.description,
                "is_real_modifier": modifier_code != "00",
                "in_reference": False,
            }
        bridges.append(
            {
                "code": code,
                "modifier_code": modifier_code,
                "when_to_use": row.when_to_use,
                "description_in_document": row.description,
                "document_id": document_id,
                "line_number": row.line_number,
            }
        )


def _add_payers(corpus: _Corpus, document_id: str, facts: CodeFacts) -> None:
    seen: set[str] = set()
    matches = corpus.payer_matches
    for name in facts.payers:
        match = matches.get(name)
        if match is None:
            match = matches[name] = corpus.payers.resolve(name)
        # Payers and care sites look alike here but are different dimensions with their own columns;
        # an unresolved name becomes a row of its own dimension, flagged for a data steward.
        if not match.is_resolved and match.payer_id not in corpus.payer_dim:
            corpus.payer_dim[match.payer_id] = {
                "payer_id": match.payer_id,
                "payer_name": match.payer_name,
                "payer_type": None,
                "parent_organization": None,
                "sop_typology_code": None,
                "is_resolved": False,
            }
        if match.payer_id not in seen:
            seen.add(match.payer_id)
            corpus.code_payers.append(
                {
                    "code": facts.code,
                    "payer_id": match.payer_id,
                    "name_in_document": name,
                    "document_id": document_id,
                }
            )


def _add_care_sites(corpus: _Corpus, document_id: str, facts: CodeFacts) -> None:
    seen: set[str] = set()
    matches = corpus.site_matches
    for source, names in ((SOURCE_TYPICAL_SITE, facts.typical_sites), (SOURCE_SUMMARY, facts.summary_sites)):
        for name in names:
            match = matches.get(name)
            if match is None:
                match = matches[name] = corpus.sites.resolve(name)
            if not match.is_resolved and match.care_site_id not in corpus.site_dim:
                corpus.site_dim[match.care_site_id] = {
                    "care_site_id": match.care_site_id,
                    "care_site_name": match.care_site_name,
                    "pos_codes": [],
                    "cms_facility_setting": None,
                    "is_resolved": False,
                }
            if match.care_site_id not in seen:
                seen.add(match.care_site_id)
                corpus.code_care_sites.append(
                    {
                        "code": facts.code,
                        "care_site_id": match.care_site_id,
                        "name_in_document": name,
                        "source": source,
                        "document_id": document_id,
                    }
                )


def _document_rows(
    files: list[DocumentFile], won: dict[str, list[CodeWin]], extra_problems: dict[str, list[str]], parsed_at: datetime
) -> tuple[list[dict], list[dict]]:
    documents, sections = [], []
    for f in files:
        doc = f.parsed
        problems = doc.problems + extra_problems[f.document_id]
        status = doc.status
        wins = won.get(f.document_id, [])
        if doc.contributes and not wins:
            status = REJECTED  # every code it describes is described by a newer document
        elif problems and status == PARSED:
            status = PARTIAL  # (a code lost to a newer document is one of the problems)
        documents.append(
            {
                "document_id": f.document_id,
                "source_path": f.source_path,
                "sha256": f.sha256,
                # The first code the document loads: its first code unless a newer document won that one.
                "code": min(wins, key=lambda w: w.ordinal).facts.code if wins and status in (PARSED, PARTIAL) else None,
                "declared_code": doc.code,
                "status": status,
                "problems": "; ".join(problems),
                "problems_list": problems,
                "problem_count": len(problems),
                "parsed_at": parsed_at,
                "file_size_bytes": f.size_bytes,
                "file_modified_at": f.modified_at,
                "encoding": doc.encoding,
                "title": doc.title,
            }
        )
        sections += [
            {"document_id": f.document_id, "ordinal": s.ordinal, "heading": s.heading, "body": s.body}
            for s in doc.sections
        ]
    return documents, sections


def absorb_rejections(documents: list[dict], problems_by_document: dict[str, list[str]]) -> list[dict]:
    """A row the contracts kept out of a table makes its document partial, with the reason in its problems."""
    absorbed = []
    for row in documents:
        extra = problems_by_document.get(row["document_id"])
        if extra:
            problems = [*row["problems_list"], *extra]
            status = PARTIAL if row["status"] == PARSED else row["status"]
            row = {**row, "problems_list": problems, "problems": "; ".join(problems), "problem_count": len(problems)}
            row["status"] = status
        absorbed.append(row)
    return absorbed


def pick_winners(
    files: list[DocumentFile], extra_problems: dict[str, list[str]], now: datetime | None = None
) -> list[DocumentFile]:
    """The documents that won at least one code (``pick_code_winners``), each once, by the first code it won."""
    winners: dict[str, DocumentFile] = {}
    for win in pick_code_winners(files, extra_problems, now):
        winners.setdefault(win.file.document_id, win.file)
    return list(winners.values())


def pick_code_winners(
    files: list[DocumentFile], extra_problems: dict[str, list[str]], now: datetime | None = None
) -> list[CodeWin]:
    """The newest document per code, over every code of every document, sorted by code. ``now`` (naive UTC, the
    run's time) bounds what a modification time may claim: one more than ``CLOCK_SKEW`` ahead of it is not
    believed and ranks below every believable one (counting it as ``now`` would still let it beat every edit
    made before each run, forever)."""
    by_code: dict[str, list[CodeWin]] = {}
    for f in files:
        if f.parsed.contributes:
            for ordinal, facts in enumerate(f.parsed.code_blocks()):
                by_code.setdefault(facts.code, []).append(CodeWin(f, ordinal, facts))
    winners = []
    latest_believable = now + CLOCK_SKEW if now is not None else None
    for code, candidates in sorted(by_code.items()):
        if len(candidates) == 1:  # most codes: nothing to rank, nothing to tell
            winners.append(candidates[0])
            continue
        untrusted = {
            c.file.document_id
            for c in candidates
            if latest_believable is not None and c.file.modified_at > latest_believable
        }
        for document_id in sorted(untrusted):
            extra_problems[document_id].append(
                f"modification time is in the future (more than {CLOCK_SKEW.seconds // 60} minutes ahead of "
                f"this run): not believed, so any document for code {code} with a believable time wins over it"
            )
        candidates.sort(
            key=lambda c: (
                c.file.document_id not in untrusted,
                c.file.modified_at.replace(microsecond=0),
                c.file.document_id,
            ),
            reverse=True,
        )
        winner = candidates[0]
        winners.append(winner)
        for loser in candidates[1:]:
            extra_problems[loser.file.document_id].append(
                f"superseded: code {code} is also described by "
                f"{'document' if loser.file.document_id in untrusted else 'newer document'} "
                f"{winner.file.document_id!r}; only the newest document per code is loaded (latest modification "
                "time, then document_id)"
            )
    return winners
