"""Documents in motion: a file that changes while it is read is never loaded half, never recorded with a size,
time or hash that was not read, and is picked up once it is still.

"Still being written" is simulated deterministically: ``document_folder.before_read`` runs between a file's
"before" stat and its read (a writer appending at that moment), or ``read_bytes`` appends right after reading.
"""

from __future__ import annotations

import hashlib
import os

import pytest

import pipeline.documents.folder as document_folder
from pipeline.documents.folder import STILL_BEING_WRITTEN, read_document
from pipeline.inputs.change_detection import ObservedFile, RecordedFile, same_stat
from tests.bad_documents import good
from tests.conftest import run_pipeline
from tests.faults.test_fault_injection import serving_state, working_counts

# Slow: fault-injection and inputs-in-motion scenarios, each building and publishing the whole sample
# warehouse and running the pipeline again one to three times; the full suite runs them.
pytestmark = pytest.mark.slow

CHANGED = "50592_kidney_rfa.txt"
TAIL = b"\nKey payers covered in this overview include Humana.\n"


@pytest.fixture
def published(pipeline_env):
    assert run_pipeline(pipeline_env).success
    return pipeline_env


def _append_once(target: str):
    done = []

    def hook(path):
        if path.name == target and not done:
            done.append(1)
            with open(path, "ab") as handle:
                handle.write(TAIL)

    return hook


def _append_after_reading(target: str, real):
    def read_then_grow(path):
        data = real(path)
        if path.name == target:
            with open(path, "ab") as handle:
                handle.write(TAIL)
        return data

    return read_then_grow


def _document(env, document_id: str) -> tuple:
    [row] = env.query(
        "SELECT status, problems, sha256, file_size_bytes, file_modified_at FROM core.documents WHERE document_id = ?",
        [document_id],
        serving=True,
    )
    return row


def _payers(env, code: str) -> list[tuple]:
    return env.query(f"SELECT payer_id FROM core.code_payers WHERE code = '{code}' ORDER BY 1", serving=True)


@pytest.mark.parametrize("when", ["before-read", "after-read"])
def test_a_changed_document_still_being_written_keeps_its_previous_version(published, monkeypatch, when):
    before_hash, before_counts = serving_state(published.serving_path)
    working_before = working_counts(published)
    old_status, _, old_sha, old_size, old_mtime = _document(published, CHANGED)
    old_payers = _payers(published, "50592")
    path = published.documents_dir / CHANGED
    path.write_text(path.read_text().replace("Medicare, Aetna, and Cigna Health", "Medicare and Humana"))
    if when == "before-read":
        monkeypatch.setattr(document_folder, "before_read", _append_once(CHANGED))
    else:
        monkeypatch.setattr(document_folder, "read_bytes", _append_after_reading(CHANGED, document_folder.read_bytes))

    assert run_pipeline(published).success
    status, problems, sha, size, mtime = _document(published, CHANGED)
    assert old_status == "parsed" and status == "partial"
    assert STILL_BEING_WRITTEN in problems and "previous version" in problems
    assert (sha, size, mtime) == (old_sha, old_size, old_mtime)  # the facts kept are those of that version
    assert _payers(published, "50592") == old_payers  # the half-read edit never reached the tables
    after_hash, after_counts = serving_state(published.serving_path)
    assert after_counts == before_counts and working_counts(published) == working_before
    assert after_hash != before_hash  # published: the status says what happened
    stat = path.stat()
    assert not same_stat(RecordedFile(sha, size, mtime), ObservedFile(CHANGED, stat.st_size, stat.st_mtime_ns))

    monkeypatch.undo()  # the writer is done: the next run loads exactly the bytes now on disk
    assert run_pipeline(published).success
    status, problems, sha, size, _ = _document(published, CHANGED)
    assert status in ("parsed", "partial") and STILL_BEING_WRITTEN not in problems
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest() and size == path.stat().st_size
    assert ("humana",) in _payers(published, "50592")


def test_a_new_document_still_being_written_is_skipped_and_read_next_run(published, monkeypatch):
    before_hash, before_counts = serving_state(published.serving_path)
    path = published.documents_dir / "47382_new.txt"
    path.write_text(good("47382"))
    monkeypatch.setattr(document_folder, "before_read", _append_once(path.name))

    assert run_pipeline(published).success
    status, problems, sha, size, _ = _document(published, path.name)
    assert status == "skipped" and problems.startswith(STILL_BEING_WRITTEN) and sha is None
    assert size == len(good("47382").encode())  # the size seen before the read, not the final one
    assert published.query("SELECT count(*) FROM core.codes WHERE code = '47382'", serving=True) == [(0,)]
    after_hash, after_counts = serving_state(published.serving_path)
    assert after_counts == before_counts | {"core.documents": before_counts["core.documents"] + 1}
    assert published.query("SELECT count(*) FROM core.documents WHERE status = 'parsed'", serving=True) == [(8,)]

    monkeypatch.undo()
    assert run_pipeline(published).success
    status, _, sha, _, _ = _document(published, path.name)
    assert status in ("parsed", "partial") and sha == hashlib.sha256(path.read_bytes()).hexdigest()
    assert published.query("SELECT count(*) FROM core.codes WHERE code = '47382'", serving=True) == [(1,)]


def test_read_document_hashes_exactly_the_bytes_it_returns(tmp_path, monkeypatch):
    path = tmp_path / "a.txt"
    path.write_bytes(good().encode())
    source = read_document(path, tmp_path, max_bytes=1 << 20)
    assert source.in_motion is None and source.sha256 == hashlib.sha256(source.data).hexdigest()
    assert source.size_bytes == len(source.data)

    monkeypatch.setattr(document_folder, "before_read", _append_once("a.txt"))
    moved = read_document(path, tmp_path, max_bytes=1 << 20)
    assert moved.in_motion is not None and "bytes read" in moved.in_motion
    assert (moved.data, moved.sha256, moved.size_bytes) == (None, None, len(good().encode()))


def test_a_file_replaced_by_another_while_read_is_in_motion(tmp_path, monkeypatch):
    path = tmp_path / "a.txt"
    path.write_bytes(good().encode())

    def swap(p):  # an editor saving by rename: same size, another inode
        replacement = tmp_path / "a.tmp"
        replacement.write_bytes(good().encode())
        os.replace(replacement, p)

    monkeypatch.setattr(document_folder, "before_read", swap)
    moved = read_document(path, tmp_path, max_bytes=1 << 20)
    assert moved.in_motion is not None and "inode" in moved.in_motion


def test_an_oversize_document_that_grows_while_hashed_is_in_motion(tmp_path, monkeypatch):
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * 5000)
    monkeypatch.setattr(document_folder, "before_read", _append_once("big.txt"))
    moved = read_document(path, tmp_path, max_bytes=1000)
    assert moved.in_motion is not None and moved.sha256 is None


# --- Placeholders are not a folder's content -------------------------------------------------------------


def _failure_text(result) -> str:
    return "\n".join(e.step_failure_data.error.to_string() for e in result.all_events if e.is_step_failure)


@pytest.mark.parametrize(
    "placeholders",
    [
        {"README.txt": b"documents mount point: if you can read this, the share did not mount\n"},
        {"README.txt": b"placeholder\n", "desktop.ini": bytes(32), "empty.txt": b""},
        {"page_files/app.js": b"void 0;\n", "logo.png": b"\x89PNG\r\n\x1a\n" + bytes(64)},
    ],
    ids=["readme-only", "readme-os-file-and-a-rejected-file", "assets-only"],
)
def test_a_folder_of_only_placeholders_is_refused_like_an_empty_folder(published, placeholders):
    before, working = serving_state(published.serving_path), working_counts(published)
    for path in published.documents_dir.iterdir():
        path.unlink()
    for name, data in placeholders.items():
        (published.documents_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (published.documents_dir / name).write_bytes(data)
    result = run_pipeline(published, raise_on_error=False)
    assert not result.success
    text = _failure_text(result)
    assert str(published.documents_dir) in text and "no document that loads" in text
    assert "is a mount missing?" in text and "CPT_ALLOW_SHRINK" in text
    assert serving_state(published.serving_path) == before
    assert working_counts(published) == working


def test_placeholders_with_the_shrink_override_remove_on_purpose(published, monkeypatch):
    for path in published.documents_dir.iterdir():
        path.unlink()
    (published.documents_dir / "README.txt").write_text("placeholder\n")
    monkeypatch.setenv("CPT_ALLOW_SHRINK", "1")
    assert run_pipeline(published).success
    assert published.query("SELECT document_id, status FROM core.documents", serving=True) == [
        ("README.txt", "skipped")
    ]
    assert published.query("SELECT count(*) FROM core.codes", serving=True) == [(0,)]


def test_placeholders_beside_real_documents_are_skipped_and_the_run_goes_on(published):
    (published.documents_dir / "README.md").write_text("What this folder is for.\n")
    (published.documents_dir / "saved_files").mkdir()
    (published.documents_dir / "saved_files" / "style.css").write_text("body{}\n")
    assert run_pipeline(published).success
    rows = dict(
        published.query("SELECT document_id, status FROM core.documents WHERE status <> 'parsed'", serving=True)
    )
    assert rows == {"README.md": "skipped", "saved_files/style.css": "skipped"}
    assert published.query("SELECT count(*) FROM core.codes", serving=True) == [(8,)]


def test_the_previous_version_is_kept_even_after_the_parser_changed(published, monkeypatch):
    """The parse cache holds the previous version under the old parser's key; it is still the warehouse's facts."""
    import pipeline.documents.load as documents_load

    old_sha = _document(published, CHANGED)[2]
    old_payers = _payers(published, "50592")
    monkeypatch.setattr(documents_load, "parser_fingerprint", lambda: "a-new-parser")
    monkeypatch.setattr(document_folder, "before_read", _append_once(CHANGED))
    assert run_pipeline(published).success
    status, problems, sha, _, _ = _document(published, CHANGED)
    assert status == "partial" and STILL_BEING_WRITTEN in problems and sha == old_sha
    assert _payers(published, "50592") == old_payers
