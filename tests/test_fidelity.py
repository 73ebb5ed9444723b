"""The fidelity report: the corpus in tests/fidelity must read at 100%, and a wrong gold answer must show."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.settings import REPO_ROOT

# Slow: each test runs the fidelity command in a child process (Python start, imports, the whole corpus).
pytestmark = pytest.mark.slow

CORPUS = REPO_ROOT / "tests" / "fidelity" / "corpus"
GOLD = REPO_ROOT / "tests" / "fidelity" / "gold"


def run_fidelity(documents: Path, gold: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.defs.cli", "fidelity", str(documents), str(gold)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
    )


def test_fidelity_corpus_reads_at_100_percent():
    result = run_fidelity(CORPUS, GOLD)
    assert result.returncode == 0, result.stdout + result.stderr
    documents = len([p for p in CORPUS.iterdir() if p.is_file()])
    assert f"fidelity: {documents} documents" in result.stdout
    assert "all fields correct" in result.stdout


def test_a_wrong_gold_answer_is_reported_and_fails(tmp_path):
    document = sorted(p for p in CORPUS.iterdir() if p.is_file())[0]
    (tmp_path / "docs").mkdir()
    shutil.copy(document, tmp_path / "docs" / document.name)
    gold = json.loads((GOLD / f"{document.name}.json").read_text(encoding="utf-8"))
    wrong_title = f"{gold['title']} (wrong on purpose)"
    gold["title"] = wrong_title
    (tmp_path / "gold").mkdir()
    (tmp_path / "gold" / f"{document.name}.json").write_text(json.dumps(gold), encoding="utf-8")

    result = run_fidelity(tmp_path / "docs", tmp_path / "gold")

    assert result.returncode == 1, result.stdout
    assert "1 miss(es)" in result.stdout
    assert f"{document.name}  title:" in result.stdout
    assert wrong_title in result.stdout
    assert re.search(r"^title\s+0/1\s", result.stdout, re.MULTILINE)


def test_a_document_without_gold_is_a_clear_error(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "gold").mkdir()
    (tmp_path / "docs" / "lonely.txt").write_text("CPT 32994: Lonely\n")
    result = run_fidelity(tmp_path / "docs", tmp_path / "gold")
    assert result.returncode == 2
    assert "documents without a gold file" in result.stdout and "lonely.txt" in result.stdout


def test_missing_folders_are_a_clear_error(tmp_path):
    result = run_fidelity(tmp_path / "nowhere", GOLD)
    assert result.returncode == 2
    assert "does not exist" in result.stdout
