"""A modification time in the future is not believed when documents compete for a code."""

from __future__ import annotations

from datetime import datetime, timedelta

from pipeline.core.corpus import CLOCK_SKEW, DocumentFile, pick_winners
from pipeline.core.document_parser import ParsedDocument

NOW = datetime(2026, 12, 7, 5, 0, 0)


def _file(document_id: str, modified_at: datetime) -> DocumentFile:
    return DocumentFile(document_id, f"/d/{document_id}", "0" * 64, 10, modified_at, ParsedDocument(code="32994"))


def _winner(files: list[DocumentFile]) -> tuple[str, dict[str, list[str]]]:
    problems = {f.document_id: [] for f in files}
    [winner] = pick_winners(files, problems, now=NOW)
    return winner.document_id, problems


def test_a_future_modification_time_does_not_win_over_a_fresh_edit():
    future = _file("a_future.txt", NOW + timedelta(days=365))
    fresh = _file("b_fresh.txt", NOW - timedelta(minutes=1))
    winner, problems = _winner([future, fresh])
    assert winner == "b_fresh.txt"
    assert any("in the future" in p for p in problems["a_future.txt"])
    assert any("superseded" in p for p in problems["a_future.txt"])


def test_a_future_time_is_not_believed_even_against_an_old_document():
    """Counted as "now" it would beat every edit made before each run, so forever: it ranks below instead."""
    future = _file("a_future.txt", NOW + timedelta(days=365))
    old = _file("b_old.txt", NOW - timedelta(days=30))
    winner, problems = _winner([future, old])
    assert winner == "b_old.txt" and any("in the future" in p for p in problems["a_future.txt"])


def test_among_future_times_only_the_newest_still_wins():
    near = _file("b_near.txt", NOW + timedelta(days=1))
    far = _file("a_far.txt", NOW + timedelta(days=365))
    winner, _ = _winner([near, far])
    assert winner == "a_far.txt"


def test_a_clock_a_little_ahead_is_believed():
    ahead = _file("a_ahead.txt", NOW + CLOCK_SKEW - timedelta(seconds=1))
    fresh = _file("b_fresh.txt", NOW - timedelta(minutes=1))
    winner, problems = _winner([ahead, fresh])
    assert winner == "a_ahead.txt" and problems["a_ahead.txt"] == []


def test_a_lone_document_with_a_future_time_has_no_problem():
    winner, problems = _winner([_file("a_future.txt", NOW + timedelta(days=1))])
    assert winner == "a_future.txt" and problems["a_future.txt"] == []
