"""Which folder entries are not documents: skipped with a reason, never rejected, never the folder's content."""

from __future__ import annotations

import pytest

from pipeline.core.document_kinds import is_not_a_document_reason, not_a_document


@pytest.mark.parametrize(
    ("document_id", "says"),
    [
        ("script.js", "script"),
        ("style.CSS", "style"),
        ("logo.png", "image"),
        ("photo.JPG", "image"),
        ("anim.gif", "image"),
        ("icon.svg", "image"),
        ("favicon.ico", "image"),
        ("pic.webp", "image"),
        ("font.woff2", "font"),
        ("font.ttf", "font"),
        ("README", "README"),
        ("README.txt", "README"),
        ("readme.md", "README"),
        ("sub/README.md", "README"),
        ("Thumbs.DB", "operating system"),
        ("Thumbs.db", "operating system"),
        ("desktop.ini", "operating system"),
        ("._32994.txt", "operating system"),
        ("Overview_files/frame.htm", "saved web page"),
        ("Overview_files/app.js.download", "saved web page"),
        ("a/b/page_files/deep/x.html", "saved web page"),
    ],
)
def test_not_documents_are_named_with_a_reason(document_id, says):
    reason = not_a_document(document_id)
    assert reason is not None and says in reason and is_not_a_document_reason(reason)


@pytest.mark.parametrize(
    "document_id",
    [
        "32994_lung_rfa.txt",
        "32998_lung_rfa.md",
        "overview.html",
        "overview.htm",
        "notes",  # no suffix: read and parsed, a real document with an odd name is never lost
        "readings/20982.txt",  # a folder that only starts like README
        "my_files.txt",  # a file, not a saved page's folder
        "_files/x.txt",  # no page name before _files
        "payer_files/32994.txt",  # a folder of the user's that ends in _files: text documents are read
        "Overview_files/notes.md",
        "binary.dat",  # read, and rejected as binary if it is: content, not a kind of name
    ],
)
def test_documents_and_unknown_names_are_read(document_id):
    assert not_a_document(document_id) is None
    assert not is_not_a_document_reason(None)
