"""Read the documents folder: which files are there, their bytes and content hashes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True, slots=True)
class DocumentSource:
    document_id: str
    path: Path
    size_bytes: int
    modified_at: datetime
    sha256: str
    data: bytes | None  # None when the file is too large to parse


def iter_document_paths(directory: Path) -> Iterator[Path]:
    """Regular files under ``directory``, sorted, skipping hidden files and folders (editor swap files, .git)."""
    if not directory.is_dir():
        raise FileNotFoundError(f"documents folder {directory} does not exist (set CPT_DOCUMENTS_DIR)")
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        yield path


def read_document(path: Path, directory: Path, max_bytes: int) -> DocumentSource:
    stat = path.stat()
    if stat.st_size > max_bytes:
        data, digest = None, sha256_file(path)
    else:
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
    return DocumentSource(
        document_id=path.relative_to(directory).as_posix(),
        path=path,
        size_bytes=stat.st_size,
        modified_at=datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None),
        sha256=digest,
        data=data,
    )


def sha256_file(path: Path) -> str:
    """Streaming SHA-256, for files too large to hold in memory (hashlib releases the GIL per block)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()
