"""The bad-input corpus: every bad document is partial or rejected with a clear reason,
and the good documents in the same run lose nothing."""

from __future__ import annotations

import shutil

import pytest

from tests.bad_documents import write_bad_corpus
from tests.conftest import run_pipeline

FACT_QUERIES = {
    "codes": "SELECT * EXCLUDE (document_status) FROM core.codes WHERE code IN ({codes}) ORDER BY ALL",
    "payers": "SELECT code, payer_id, name_in_document FROM core.code_payers WHERE code IN ({codes}) ORDER BY ALL",
    "sites": "SELECT code, care_site_id, source FROM core.code_care_sites WHERE code IN ({codes}) ORDER BY ALL",
    "modifiers": "SELECT code, modifier_code, when_to_use FROM core.code_modifiers WHERE code IN ({codes}) ORDER BY ALL",
    "sections": "SELECT * FROM core.document_sections WHERE document_id IN ({documents}) ORDER BY ALL",
}


# One worker runs this module (pytest-xdist loadgroup): its module-scoped pipeline run is made once.
pytestmark = pytest.mark.xdist_group("bad_input_corpus")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One run over the good sample alone, one over the sample plus the bad corpus."""
    from tests.conftest import SAMPLE_DOCUMENTS, PipelineEnv

    def make(name):
        root = tmp_path_factory.mktemp(name)
        shutil.copytree(SAMPLE_DOCUMENTS, root / "documents")
        (root / "utilization").mkdir()
        return PipelineEnv(root, root / "documents", root / "utilization", root / "cpt.duckdb", root / "serving.duckdb")

    clean, mixed = make("clean"), make("mixed")
    expected = write_bad_corpus(mixed.documents_dir)
    clean_result = run_pipeline(clean, "group:core")
    mixed_result = run_pipeline(mixed, "group:core")
    return clean, clean_result, mixed, mixed_result, expected


def test_run_with_bad_documents_succeeds(runs):
    _, _, _, mixed_result, _ = runs
    assert mixed_result.success
    assert all(e.passed for e in mixed_result.get_asset_check_evaluations())


def test_each_bad_document_is_partial_or_rejected_with_its_reason(runs):
    _, _, mixed, _, expected = runs
    rows = {
        document_id: (status, problems, code)
        for document_id, status, problems, code in mixed.query(
            "SELECT document_id, status, problems, code FROM core.documents"
        )
    }
    for name, (status, reason) in expected.items():
        assert name in rows, f"{name} missing from core.documents"
        actual_status, problems, code = rows[name]
        assert actual_status == status, f"{name}: {actual_status} ({problems})"
        assert reason in problems, f"{name}: {problems!r} lacks {reason!r}"
        if status == "rejected":
            assert code is None


def test_rejected_documents_contribute_only_their_documents_row(runs):
    _, _, mixed, _, expected = runs
    rejected = [name for name, (status, _) in expected.items() if status == "rejected"]
    placeholders = ", ".join(f"'{name}'" for name in rejected)
    for table in ("core.codes", "core.code_payers", "core.code_care_sites", "core.code_modifiers"):
        assert mixed.query(f"SELECT count(*) FROM {table} WHERE document_id IN ({placeholders})") == [(0,)]


def test_partial_documents_contribute_what_they_say(runs):
    _, _, mixed, _, _ = runs
    assert mixed.query("SELECT code, document_status FROM core.codes WHERE document_id = 'latin1.txt'") == [
        ("47382", "partial")
    ]
    assert mixed.query("SELECT count(*) FROM core.code_payers WHERE document_id = 'latin1.txt'") == [(3,)]
    assert mixed.query(
        "SELECT body LIKE '%Montréal%' FROM core.document_sections WHERE document_id = 'latin1.txt' AND heading = 'Clinical Context'"
    ) == [(True,)]
    assert mixed.query("SELECT modifier_code FROM core.code_modifiers WHERE document_id = 'ragged_table.txt'") == [
        ("00",)
    ]


def test_good_documents_lose_nothing(runs):
    clean, _, mixed, _, expected = runs
    codes = ", ".join(f"'{c}'" for (c,) in clean.query("SELECT code FROM core.codes"))
    documents = ", ".join(f"'{d}'" for (d,) in clean.query("SELECT document_id FROM core.documents"))
    for name, sql in FACT_QUERIES.items():
        query = sql.format(codes=codes, documents=documents)
        assert clean.query(query) == mixed.query(query), name
    [(clean_documents,)] = clean.query("SELECT count(*) FROM core.documents")
    parsed_bad = sum(1 for status, _ in expected.values() if status == "parsed")
    assert mixed.query("SELECT count(*) FROM core.documents WHERE status = 'parsed'") == [
        (clean_documents + parsed_bad,)
    ]


def test_sql_like_text_is_data_not_sql(runs):
    clean, _, mixed, _, _ = runs
    [(title,)] = mixed.query("SELECT title FROM core.codes WHERE document_id = 'sql_injection.txt'")
    assert "'; DROP TABLE core.codes; --" in title
    payers = mixed.query(
        "SELECT p.payer_name, cp.name_in_document FROM core.code_payers cp JOIN core.payers p USING (payer_id) "
        "WHERE cp.document_id = 'sql_injection.txt' ORDER BY 1"
    )
    assert ("Robert'') -- DELETE FROM core.payers", "Robert'') -- DELETE FROM core.payers") in payers
    # Every payer of the clean run is still there: nothing was deleted by the text.
    assert set(clean.query("SELECT payer_id FROM core.payers")) <= set(mixed.query("SELECT payer_id FROM core.payers"))
