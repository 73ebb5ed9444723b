"""The data dictionary (docs/warehouse.md) and the reason list (docs/inputs.md) are generated from the contracts and
the reason vocabulary, and must not drift from them."""

from __future__ import annotations

import re

import pytest

from pipeline.contracts import ALL_CONTRACTS
from pipeline.contracts.data_dictionary import (
    BEGIN,
    END,
    LIST_COLUMNS_BEGIN,
    LIST_COLUMNS_END,
    list_columns,
    list_columns_markdown,
    markdown,
)
from pipeline.settings import REPO_ROOT
from pipeline.validation import reasons

DICTIONARY_DOC = REPO_ROOT / "docs" / "warehouse.md"
REASONS_DOC = REPO_ROOT / "docs" / "inputs.md"
BI_TOOLS_DOC = REPO_ROOT / "docs" / "bi_tools.md"


def test_the_docs_embed_the_current_data_dictionary():
    readme = DICTIONARY_DOC.read_text(encoding="utf-8")
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    assert readme[start:end] == markdown(), "run: uv run python -m tests.test_docs to refresh docs/warehouse.md"


def test_dictionary_names_every_contract_column():
    text = markdown()
    for table in ("core.codes", "core.code_payers", "utilization.physician_geo_service", "marts.code_utilization"):
        assert f"`{table}`" in text
    assert "| `pos_codes` | VARCHAR[] | no |" in text


def test_the_bi_tools_page_embeds_the_current_list_columns():
    text = BI_TOOLS_DOC.read_text(encoding="utf-8")
    start, end = text.index(LIST_COLUMNS_BEGIN), text.index(LIST_COLUMNS_END) + len(LIST_COLUMNS_END)
    assert text[start:end] == list_columns_markdown(), "run: uv run python -m tests.test_docs to refresh"


def test_every_list_column_is_documented_as_not_filterable_with_a_working_twin():
    """Superset cannot filter a DuckDB list: every list-typed column of the warehouse is on the bi_tools list and
    in its dictionary entry, and each names a twin that exists and is not a list itself."""
    declared = {
        (contract.table, column.name): column.sql_type for contract in ALL_CONTRACTS for column in contract.columns
    }
    list_typed = {key for key, sql_type in declared.items() if sql_type.endswith("[]")}
    assert {"core.care_sites.pos_codes", "core.documents.problems_list"} <= {".".join(key) for key in list_typed}
    documented = BI_TOOLS_DOC.read_text(encoding="utf-8")
    dictionary = markdown()
    assert {(table, column) for table, column, _ in list_columns()} == list_typed
    for table, column, twins in list_columns():
        assert twins, f"{table}.{column}: declare its Superset twin with list_of_text(...)"
        assert f"| `{table}.{column}` | " in documented, f"{table}.{column} missing from docs/bi_tools.md"
        for twin in twins:
            twin_table, twin_column = twin.rsplit(".", 1)
            assert (twin_table, twin_column) in declared, f"{table}.{column}: twin {twin} is no column"
            assert not declared[twin_table, twin_column].endswith("[]"), f"{table}.{column}: twin {twin} is a list"
        row = next(
            line for line in dictionary.split(f"\n#### `{table}`")[1].splitlines() if line.startswith(f"| `{column}` |")
        )
        assert "Not filterable in Superset" in row and all(f"`{twin}`" in row for twin in twins)


def test_the_docs_embed_the_current_reason_list():
    text = REASONS_DOC.read_text(encoding="utf-8")
    start, end = text.index(reasons.BEGIN), text.index(reasons.END) + len(reasons.END)
    assert text[start:end] == reasons.markdown(), "run: uv run python -m tests.test_docs to refresh docs/inputs.md"


def test_the_reason_list_shows_every_wording_and_only_those():
    """Each wording's pattern and example are in the list, and every row of the list is a wording."""
    text = reasons.markdown()
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| Reason ")]
    assert len(rows) == len(reasons.WORDINGS)
    for wording, row in zip(reasons.WORDINGS, rows, strict=True):
        assert row.startswith(f"| {wording.kind} | `{reasons.pattern(wording.template)}` | ")
        assert f"`{wording.text(**wording.example)}`" in row


def _refresh(path, begin: str, end_marker: str, generated: str) -> None:
    text = path.read_text(encoding="utf-8")
    start, end = text.index(begin), text.index(end_marker) + len(end_marker)
    path.write_text(text[:start] + generated + text[end:], encoding="utf-8")


if __name__ == "__main__":
    _refresh(DICTIONARY_DOC, BEGIN, END, markdown())
    _refresh(REASONS_DOC, reasons.BEGIN, reasons.END, reasons.markdown())
    _refresh(BI_TOOLS_DOC, LIST_COLUMNS_BEGIN, LIST_COLUMNS_END, list_columns_markdown())


def _slug(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.lstrip("#").strip().lower())
    return text.replace(" ", "-")


DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_every_link_between_the_docs_resolves(page):
    """The README and docs/ link to each other by file and heading: a moved or renamed section breaks a link."""
    text = page.read_text(encoding="utf-8")
    links = re.findall(r"\]\(((?!https?:)[^)\s]*?)(?:#([\w\-]+))?\)", text)
    assert links or page.name == "benchmarks.md"
    for target, anchor in links:
        file = (page.parent / target).resolve() if target else page
        assert file.exists(), f"{page.name}: link to missing {target}"
        if anchor and file.suffix == ".md":
            headings = {_slug(line) for line in file.read_text(encoding="utf-8").splitlines() if line.startswith("#")}
            assert anchor in headings, f"{page.name}: no heading #{anchor} in {file.name}"


def test_the_readme_stays_short():
    assert len((REPO_ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 220


def _key_table_rows() -> dict[str, str]:
    """The hand-written overview table of docs/warehouse.md: table -> the key it states ('—' for none)."""
    rows: dict[str, str] = {}
    text = (REPO_ROOT / "docs" / "warehouse.md").read_text(encoding="utf-8")
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        tables = re.findall(r"`([a-z_0-9]+\.[a-z_0-9]+)`", cells[0])
        keys = [k.strip().strip("`") for k in cells[1].split(";")] if cells[1] != "—" else ["—"] * len(tables)
        if len(tables) == len(keys):
            rows.update(zip(tables, keys, strict=True))
    return rows


def test_the_overview_table_of_the_warehouse_names_every_table_with_its_contract_key():
    """The one hand-written summary of the contracts is held to them: every published table, its key as the
    contract declares it (a renamed key column or a new table fails here until the page says so)."""
    stated = _key_table_rows()
    assert set(stated) == {c.table for c in ALL_CONTRACTS}
    for contract in ALL_CONTRACTS:
        expected = ", ".join(contract.primary_key) if contract.primary_key else "—"
        assert stated[contract.table] == expected, contract.table
