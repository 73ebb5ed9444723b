"""Which folder entries are not documents: skipped with a reason, never rejected, never the folder's content."""

from __future__ import annotations

import pytest

from pipeline.core.document_kinds import is_not_a_document_reason, not_a_document, saved_pages


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
        ("32994_overview.pdf.crdownload", "download still in progress"),
        ("32994_overview.docx.part", "download still in progress"),
        ("32994.PDF.download", "download still in progress"),
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
        "payer_files/32994.txt",  # a folder of the user's that ends in _files, with no page beside it
        "payer_files/32994.html",
        "payer_files/32994",
        "Overview_files/notes.md",  # no Overview.html in this listing
        "binary.dat",  # read, and rejected as binary if it is: content, not a kind of name
    ],
)
def test_documents_and_unknown_names_are_read(document_id):
    assert not_a_document(document_id) is None
    assert not is_not_a_document_reason(None)


@pytest.mark.parametrize(
    "document_id",
    ["Overview_files/frame.htm", "Overview_files/app.js.download", "Overview_files/notes.txt", "a/b/page_files/deep/x"],
)
def test_a_saved_pages_assets_folder_is_skipped_beside_its_page(document_id):
    pages = saved_pages(["Overview.html", "a/b/page.htm", "32994.txt"])
    assert pages == {"Overview", "a/b/page"}
    reason = not_a_document(document_id, pages)
    assert reason is not None and "saved web page" in reason


def test_an_assets_folder_of_another_folders_page_is_read():
    assert not_a_document("other/Overview_files/notes.txt", saved_pages(["Overview.html"])) is None
