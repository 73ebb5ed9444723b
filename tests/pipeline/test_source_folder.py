"""scan_folder: only regular files inside the folder; everything else skipped with a reason, never opened."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from pipeline.inputs.source_folder import SourceFolderMissing, scan_folder


@pytest.fixture
def folder(tmp_path):
    inside = tmp_path / "folder"
    inside.mkdir()
    (inside / "b.csv").write_text("b")
    (inside / "a.csv").write_text("a")
    return inside


def reasons(scan, root):
    return {entry.path.relative_to(root).as_posix(): entry.reason for entry in scan.skipped}


def test_regular_files_sorted(folder):
    scan = scan_folder(folder, recursive=False)
    assert [p.name for p in scan.files] == ["a.csv", "b.csv"] and scan.skipped == []


def test_symlink_to_a_file_outside_is_skipped_not_read(folder, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    (folder / "link.csv").symlink_to(secret)
    scan = scan_folder(folder, recursive=False)
    assert folder / "link.csv" not in scan.files
    assert reasons(scan, folder) == {"link.csv": "symbolic link: not followed"}


def test_symlink_to_a_folder_loops_and_broken_links_are_not_followed(folder, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "private.csv").write_text("x")
    (folder / "to_outside").symlink_to(outside, target_is_directory=True)
    (folder / "loop").symlink_to(folder / "loop")
    (folder / "broken.csv").symlink_to(tmp_path / "missing.csv")
    scan = scan_folder(folder, recursive=True)
    assert all(folder in p.parents for p in scan.files) and [p.name for p in scan.files] == ["a.csv", "b.csv"]
    assert set(reasons(scan, folder).values()) == {"symbolic link: not followed"}
    assert set(reasons(scan, folder)) == {"to_outside", "loop", "broken.csv"}


def test_fifo_is_skipped_without_opening_it(folder):
    os.mkfifo(folder / "pipe.csv")
    result = {}
    worker = threading.Thread(target=lambda: result.update(scan=scan_folder(folder, recursive=False)), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "scanning a folder with a FIFO must not block"
    assert reasons(result["scan"], folder) == {"pipe.csv": "named pipe (FIFO): not read"}


def test_socket_is_skipped(folder):
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(folder / "s.sock"))
        scan = scan_folder(folder, recursive=False)
    finally:
        server.close()
    assert reasons(scan, folder) == {"s.sock": "socket: not read"}


def test_hidden_files_and_folders_are_ignored_entirely(folder):
    (folder / ".swp.csv").write_text("x")
    (folder / ".git").mkdir()
    (folder / ".git" / "config.csv").write_text("x")
    scan = scan_folder(folder, recursive=True)
    assert [p.name for p in scan.files] == ["a.csv", "b.csv"] and scan.skipped == []


def test_subfolders_searched_only_when_recursive(folder):
    (folder / "sub").mkdir()
    (folder / "sub" / "c.csv").write_text("c")
    assert [p.name for p in scan_folder(folder, recursive=True).files] == ["a.csv", "b.csv", "c.csv"]
    flat = scan_folder(folder, recursive=False)
    assert [p.name for p in flat.files] == ["a.csv", "b.csv"] and set(reasons(flat, folder)) == {"sub"}


def test_unreadable_subfolder_is_skipped_with_its_error(folder, monkeypatch):
    locked = folder / "locked"
    locked.mkdir()
    real_scandir = os.scandir

    def scandir(path):  # as for a folder without read permission (root would bypass chmod)
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    scan = scan_folder(folder, recursive=True)
    assert [p.name for p in scan.files] == ["a.csv", "b.csv"]
    assert reasons(scan, folder)["locked"] == "folder cannot be listed: Permission denied"


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_missing_folder_or_a_file_raises_naming_path_and_setting(tmp_path, kind):
    path = tmp_path / "nowhere"
    if kind == "file":
        path.write_text("not a folder")
    with pytest.raises(SourceFolderMissing) as error:
        scan_folder(path, recursive=False, env_var="CPT_UTILIZATION_DIR")
    assert str(path) in str(error.value) and "CPT_UTILIZATION_DIR" in str(error.value)
    assert isinstance(error.value, FileNotFoundError)


def test_a_file_name_that_is_not_utf8_is_skipped_under_an_escaped_name(tmp_path):
    import os

    from pipeline.inputs.source_folder import scan_folder

    (tmp_path / "good.txt").write_text("x")
    with open(os.path.join(os.fsencode(tmp_path), b"bad_\xff.txt"), "w") as handle:
        handle.write("x")
    scan = scan_folder(tmp_path, recursive=False)
    assert [p.name for p in scan.files] == ["good.txt"]
    [skipped] = scan.skipped
    assert skipped.path.name == "bad_\\xff.txt" and "not valid UTF-8" in skipped.reason
    skipped.path.name.encode("utf-8")  # storable as text
