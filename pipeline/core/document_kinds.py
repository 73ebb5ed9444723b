"""Which names in the documents folder are not documents at all.

A documents folder collects more than documents: a saved web page brings its
``<page>_files/`` folder of scripts, styles, images and frames (only beside its ``<page>.html``: a
folder of the user's named ``payer_files/`` is read like any other); a mount shows a ``README`` as its
placeholder; operating systems leave ``Thumbs.db`` and ``desktop.ini`` (dot files
such as ``.DS_Store`` are never listed at all: ``source_folder`` leaves them out).  None of them describes a billing code, so none of them is a bad
document: they are ``skipped`` with the reason (``not_a_document``), never
``rejected``, and never count as the folder's content (a folder of only these is
refused like an empty folder).  Anything else is read and parsed, so a real
document with an unusual name is never lost.  Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

SCRIPT_AND_STYLE = frozenset({".js", ".mjs", ".css", ".map"})
IMAGES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".webp", ".bmp", ".tif", ".tiff", ".avif"})
FONTS = frozenset({".woff", ".woff2", ".ttf", ".otf", ".eot"})
# What browsers and download tools name a file while they still write it (Chrome, Firefox, Safari, Opera): its
# bytes are a cut copy; the file takes its real name when the download ends, and is read then.
DOWNLOADS_IN_PROGRESS = frozenset({".crdownload", ".part", ".download", ".opdownload"})
NOT_DOCUMENT_SUFFIXES = SCRIPT_AND_STYLE | IMAGES | FONTS | DOWNLOADS_IN_PROGRESS
OS_FILES = frozenset({".ds_store", "thumbs.db", "desktop.ini", "ehthumbs.db", ".directory", ".localized"})
SAVED_PAGE_FOLDER_SUFFIX = "_files"  # what browsers name the folder of a saved page's assets
PAGE_SUFFIXES = frozenset({".htm", ".html"})


def saved_pages(document_ids: Iterable[str]) -> frozenset[str]:
    """The saved web pages of a listing, without their suffix (``a/Overview`` for ``a/Overview.html``): their
    ``<name>_files/`` folders hold the page's assets."""
    pages = set()
    for document_id in document_ids:  # string work, as in not_a_document: once per file of a big folder
        suffix = _suffix(document_id[document_id.rfind("/") + 1 :])
        if suffix.lower() in PAGE_SUFFIXES:
            pages.add(document_id[: len(document_id) - len(suffix)])
    return frozenset(pages)


def not_a_document(document_id: str, pages: frozenset[str] = frozenset()) -> str | None:
    """Why the entry at ``document_id`` (a path relative to the documents folder, '/'-separated) is not a
    document, or None when it should be read as one. ``pages``: the listing's ``saved_pages``."""
    # Plain string work, not PurePosixPath: this runs once per file, 100,000 times for a big folder.
    parts = document_id.split("/")
    lowered = parts[-1].lower()
    for depth, folder in enumerate(parts[:-1]):
        page = folder[: -len(SAVED_PAGE_FOLDER_SUFFIX)]
        # Only beside its page: a folder of the user's that happens to end in _files ("payer_files/") is read.
        if folder.lower().endswith(SAVED_PAGE_FOLDER_SUFFIX) and page and "/".join([*parts[:depth], page]) in pages:
            return f"not a document: part of the saved web page {page}'s assets (inside {folder}/)"
    if lowered in OS_FILES or lowered.startswith("._"):
        return "not a document: a file the operating system keeps (folder view settings, thumbnails)"
    if lowered.startswith("readme"):
        return "not a document: a README (for example a mount's placeholder), not a code description"
    suffix = _suffix(lowered)
    if suffix in SCRIPT_AND_STYLE:
        return f"not a document: a script or style sheet ({suffix})"
    if suffix in IMAGES:
        return f"not a document: an image ({suffix})"
    if suffix in FONTS:
        return f"not a document: a font ({suffix})"
    if suffix in DOWNLOADS_IN_PROGRESS:
        return f"not a document yet: a download still in progress ({suffix}); it is read once it has its final name"
    return None


def _suffix(name: str) -> str:
    """PurePosixPath(name).suffix: from the last dot, unless the name starts or ends with it."""
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def is_not_a_document_reason(reason: str | None) -> bool:
    return reason is not None and reason.startswith("not a document")  # "not a document yet" included
