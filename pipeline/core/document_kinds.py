"""Which names in the documents folder are not documents at all.

A documents folder collects more than documents: a saved web page brings its
``*_files/`` folder of scripts, styles, images and frames (a text document there is still read); a mount shows a ``README`` as its
placeholder; operating systems leave ``Thumbs.db`` and ``desktop.ini`` (dot files
such as ``.DS_Store`` are never listed at all: ``source_folder`` leaves them out).  None of them describes a billing code, so none of them is a bad
document: they are ``skipped`` with the reason (``not_a_document``), never
``rejected``, and never count as the folder's content (a folder of only these is
refused like an empty folder).  Anything else is read and parsed, so a real
document with an unusual name is never lost.  Pure: no I/O.
"""

from __future__ import annotations

from pathlib import PurePosixPath

SCRIPT_AND_STYLE = frozenset({".js", ".mjs", ".css", ".map"})
IMAGES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".webp", ".bmp", ".tif", ".tiff", ".avif"})
FONTS = frozenset({".woff", ".woff2", ".ttf", ".otf", ".eot"})
NOT_DOCUMENT_SUFFIXES = SCRIPT_AND_STYLE | IMAGES | FONTS
OS_FILES = frozenset({".ds_store", "thumbs.db", "desktop.ini", "ehthumbs.db", ".directory", ".localized"})
SAVED_PAGE_FOLDER_SUFFIX = "_files"  # what browsers name the folder of a saved page's assets
TEXT_DOCUMENT_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown"})


def not_a_document(document_id: str) -> str | None:
    """Why the entry at ``document_id`` (a path relative to the documents folder, '/'-separated) is not a
    document, or None when it should be read as one."""
    path = PurePosixPath(document_id)
    name = path.name
    lowered = name.lower()
    in_assets_folder = next(
        (
            f
            for f in path.parts[:-1]
            if f.lower().endswith(SAVED_PAGE_FOLDER_SUFFIX) and len(f) > len(SAVED_PAGE_FOLDER_SUFFIX)
        ),
        None,
    )
    # Browsers put scripts, styles, images and frames there, never a text document: a user's own folder that
    # happens to end in _files ("payer_files/") keeps its .txt and .md documents.
    if in_assets_folder and PurePosixPath(lowered).suffix not in TEXT_DOCUMENT_SUFFIXES:
        return f"not a document: part of a saved web page's assets (inside {in_assets_folder}/)"
    if lowered in OS_FILES or lowered.startswith("._"):
        return "not a document: a file the operating system keeps (folder view settings, thumbnails)"
    if lowered.startswith("readme"):
        return "not a document: a README (for example a mount's placeholder), not a code description"
    suffix = PurePosixPath(lowered).suffix
    if suffix in SCRIPT_AND_STYLE:
        return f"not a document: a script or style sheet ({suffix})"
    if suffix in IMAGES:
        return f"not a document: an image ({suffix})"
    if suffix in FONTS:
        return f"not a document: a font ({suffix})"
    return None


def is_not_a_document_reason(reason: str | None) -> bool:
    return reason is not None and reason.startswith("not a document")
