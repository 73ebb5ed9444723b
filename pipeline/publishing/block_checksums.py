"""DuckDB's own block checksums, verified over a whole file by reading its bytes.

A query reads only the blocks it needs: scanning every column of every table still skips index blocks (a
corrupt primary-key index only fails a point lookup later, in a BI tool). Checking every block's stored
checksum covers table data, indexes and metadata alike, at the cost of one sequential read of the file.

Layout of a DuckDB 1.x database file: three 4 KiB headers (the first carries the magic bytes ``DUCK`` at
offset 8), then blocks of 256 KiB, each starting with an 8-byte checksum of the rest of the block:
DuckDB's ``Checksum``, the XOR of every little-endian 8-byte word multiplied by 0xbf58476d1ce4e5b9 (mod 2^64),
seeded with 5381. When a file does not fit this layout, ``LayoutUnknown`` says so and the caller falls back
to reading every table through DuckDB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HEADER_BYTES = 3 * 4096
BLOCK_BYTES = 256 * 1024
MAGIC = b"DUCK"
_WORDS = BLOCK_BYTES // 8
_MULTIPLIER = np.uint64(0xBF58476D1CE4E5B9)
_SEED = np.uint64(5381)
_CHUNK_BLOCKS = 64  # 16 MiB read at a time: memory stays flat however big the file is


class LayoutUnknown(ValueError):
    """The file does not look like a DuckDB 1.x file of 256 KiB blocks."""


def mismatched_blocks(path: Path) -> list[int]:
    """Ids of the blocks whose stored checksum does not match their bytes. A block of zeros counts: DuckDB never
    writes one (its checksum would be 5381), and zeros are what a hole or a lost write leaves."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(HEADER_BYTES)
        if len(head) < HEADER_BYTES or head[8:12] != MAGIC or (size - HEADER_BYTES) % BLOCK_BYTES:
            raise LayoutUnknown(f"{path.name} is not a DuckDB file of {BLOCK_BYTES // 1024} KiB blocks")
        total = (size - HEADER_BYTES) // BLOCK_BYTES
        bad: list[int] = []
        for start in range(0, total, _CHUNK_BLOCKS):
            count = min(_CHUNK_BLOCKS, total - start)
            words = np.fromfile(handle, dtype="<u8", count=count * _WORDS)
            if words.size != count * _WORDS:
                raise OSError(f"{path}: short read at block {start} (the file changed while it was checked?)")
            blocks = words.reshape(count, _WORDS)
            computed = np.bitwise_xor.reduce(blocks[:, 1:] * _MULTIPLIER, axis=1) ^ _SEED
            bad += [start + int(i) for i in np.flatnonzero(blocks[:, 0] != computed)]
    if total and len(bad) == total:
        raise LayoutUnknown(f"no block of {path.name} matches its checksum: not the layout this check knows")
    return bad
