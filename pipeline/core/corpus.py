"""Turn a folder's worth of parsed documents into the rows of the core tables.

This is where corpus-level rules live: one document per code (the newest wins),
payer and care-site resolution through the reference directories, and the
de-duplication that makes every bridge key unique.  Output is plain dicts keyed
by the warehouse column names, so the asset layer only converts and writes.

Duplicate rule: when several documents declare the same code, the one with the
latest file modification time (to the second) wins; equal times are broken by
the greater document_id (the path relative to the documents folder).  Losers
are marked rejected with a problem naming the winner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pipeline.core.care_sites import CareSiteDirectory
from pipeline.core.document_parser import PARSED, PARTIAL, REJECTED, ParsedDocument
from pipeline.core.payer_aliases import PayerDirectory
from pipeline.core.reference_data import ReferenceData, pos_code_list

SOURCE_TYPICAL_SITE = "typical_site_of_service"
SOURCE_SUMMARY = "summary"


@dataclass(slots=True)
class DocumentFile:
    document_id: str
    source_path: str
    sha256: str
    size_bytes: int
    modified_at: datetime
    parsed: ParsedDocument


@dataclass
class CoreRows:
    tables: dict[str, list[dict]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> list[dict]:
        return self.tables[name]


def build_core_rows(files: list[DocumentFile], reference: ReferenceData, parsed_at: datetime) -> CoreRows:
    payers = PayerDirectory(reference.payers, reference.payer_aliases)
    sites = CareSiteDirectory(reference.care_sites, reference.care_site_aliases)
    extra_problems: dict[str, list[str]] = {f.document_id: [] for f in files}
    winners = _pick_winners(files, extra_problems)
    winner_ids = {f.document_id for f in winners}

    codes, code_modifiers, code_payers, code_care_sites = [], [], [], []
    modifier_dim = {
        row["modifier_code"]: {
            "modifier_code": row["modifier_code"],
            "description": row["description"],
            "is_real_modifier": row["is_real_modifier"].lower() == "true",
            "in_reference": True,
        }
        for row in reference.modifiers
    }
    payer_dim = {
        row["payer_id"]: {
            "payer_id": row["payer_id"],
            "payer_name": row["payer_name"],
            "payer_type": row["payer_type"],
            "parent_organization": row["parent_organization"] or None,
            "is_resolved": True,
        }
        for row in reference.payers
    }
    site_dim = {
        row["care_site_id"]: {
            "care_site_id": row["care_site_id"],
            "care_site_name": row["care_site_name"],
            "pos_codes": pos_code_list(row["pos_codes"]),
            "cms_facility_setting": row["cms_facility_setting"],
            "is_resolved": True,
        }
        for row in reference.care_sites
    }

    for f in winners:
        doc, code = f.parsed, f.parsed.code
        codes.append(
            {
                "code": code,
                "code_system": doc.code_system,
                "title": doc.title,
                "description": doc.description,
                "service_type": doc.service_type,
                "laterality": doc.laterality,
                "approach": doc.approach,
                "imaging_guidance_included": doc.imaging_guidance_included,
                "document_id": f.document_id,
            }
        )
        seen_modifiers: set[str] = set()
        for row in doc.modifiers:
            if row.modifier_code in seen_modifiers:
                extra_problems[f.document_id].append(
                    f"line {row.line_number}: modifier {row.modifier_code} listed twice; first row kept"
                )
                continue
            seen_modifiers.add(row.modifier_code)
            modifier_dim.setdefault(
                row.modifier_code,
                {
                    "modifier_code": row.modifier_code,
                    "description": row.description,
                    "is_real_modifier": row.modifier_code != "00",
                    "in_reference": False,
                },
            )
            code_modifiers.append(
                {
                    "code": code,
                    "modifier_code": row.modifier_code,
                    "when_to_use": row.when_to_use,
                    "description_in_document": row.description,
                    "document_id": f.document_id,
                }
            )
        seen_payers: set[str] = set()
        for name in doc.payers:
            match = payers.resolve(name)
            if not match.is_resolved:
                payer_dim.setdefault(
                    match.payer_id,
                    {
                        "payer_id": match.payer_id,
                        "payer_name": match.payer_name,
                        "payer_type": None,
                        "parent_organization": None,
                        "is_resolved": False,
                    },
                )
            if match.payer_id not in seen_payers:
                seen_payers.add(match.payer_id)
                code_payers.append(
                    {"code": code, "payer_id": match.payer_id, "name_in_document": name, "document_id": f.document_id}
                )
        seen_sites: set[str] = set()
        for source, names in ((SOURCE_TYPICAL_SITE, doc.typical_sites), (SOURCE_SUMMARY, doc.summary_sites)):
            for name in names:
                match = sites.resolve(name)
                if not match.is_resolved:
                    site_dim.setdefault(
                        match.care_site_id,
                        {
                            "care_site_id": match.care_site_id,
                            "care_site_name": match.care_site_name,
                            "pos_codes": [],
                            "cms_facility_setting": None,
                            "is_resolved": False,
                        },
                    )
                if match.care_site_id not in seen_sites:
                    seen_sites.add(match.care_site_id)
                    code_care_sites.append(
                        {
                            "code": code,
                            "care_site_id": match.care_site_id,
                            "name_in_document": name,
                            "source": source,
                            "document_id": f.document_id,
                        }
                    )

    documents, sections = [], []
    for f in files:
        doc = f.parsed
        problems = doc.problems + extra_problems[f.document_id]
        status = doc.status
        superseded = doc.contributes and f.document_id not in winner_ids
        if superseded:
            status = REJECTED
        elif problems and status == PARSED:
            status = PARTIAL
        documents.append(
            {
                "document_id": f.document_id,
                "source_path": f.source_path,
                "sha256": f.sha256,
                "code": doc.code if status != REJECTED else None,
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
        for section in doc.sections:
            sections.append(
                {
                    "document_id": f.document_id,
                    "ordinal": section.ordinal,
                    "heading": section.heading,
                    "body": section.body,
                }
            )
    status_by_doc = {row["document_id"]: row["status"] for row in documents}
    for row in codes:
        row["document_status"] = status_by_doc[row["document_id"]]

    return CoreRows(
        {
            "documents": documents,
            "document_sections": sections,
            "codes": codes,
            "modifiers": list(modifier_dim.values()),
            "code_modifiers": code_modifiers,
            "payers": list(payer_dim.values()),
            "payer_aliases": [dict(row) for row in reference.payer_aliases],
            "code_payers": code_payers,
            "care_sites": list(site_dim.values()),
            "care_site_aliases": [
                {"alias": row["alias"], "care_site_id": row["care_site_id"], "why": row["why"] or None}
                for row in reference.care_site_aliases
            ],
            "code_care_sites": code_care_sites,
            "place_of_service": [dict(row) for row in reference.place_of_service],
        }
    )


def _pick_winners(files: list[DocumentFile], extra_problems: dict[str, list[str]]) -> list[DocumentFile]:
    by_code: dict[str, list[DocumentFile]] = {}
    for f in files:
        if f.parsed.contributes:
            by_code.setdefault(f.parsed.code, []).append(f)
    winners = []
    for code, candidates in by_code.items():
        candidates.sort(key=lambda f: (f.modified_at.replace(microsecond=0), f.document_id), reverse=True)
        winner = candidates[0]
        winners.append(winner)
        for loser in candidates[1:]:
            extra_problems[loser.document_id].append(
                f"superseded: code {code} is also described by newer document {winner.document_id!r}; "
                "only the newest document per code is loaded (latest modification time, then document_id)"
            )
    winners.sort(key=lambda f: f.parsed.code)
    return winners
