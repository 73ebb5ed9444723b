"""RTF → Markdown lines, with striprtf (BSD-3-Clause) for the text.

striprtf turns RTF into plain text (control words, groups, ``\\'xx`` and ``\\uN`` characters decoded) but
writes a table cell's end as a bare ``|``, which cannot be told from a ``|`` in the text.  So before it
runs, the row start (``\\trowd``), cell end (``\\cell``) and row end (``\\row``) control words are replaced
by private-use characters, and the rows between them become a pipe table here.  A paragraph is one line
(RTF exports do not hard-wrap), followed by a blank line.
"""

from __future__ import annotations

import re

from striprtf.striprtf import rtf_to_text

from pipeline.documents.formats.conversion import Conversion
from pipeline.documents.formats.markdown import one_line, pipe_table

_ROW_START, _CELL_END, _ROW_END = "\ue000", "\ue001", "\ue002"
_TABLE_WORDS = re.compile(r"\\(trowd|nestcell|cell|nestrow|row)(?![a-z])(-?\d+)? ?")
_MARKERS = {"trowd": _ROW_START, "cell": _CELL_END, "nestcell": _CELL_END, "row": _ROW_END, "nestrow": _ROW_END}


def convert_rtf(data: bytes) -> Conversion:
    # RTF is 7-bit by specification (other characters are escaped); latin-1 maps any stray byte one to one.
    source = data.decode("latin-1")
    marked = _TABLE_WORDS.sub(lambda m: f"\\u{ord(_MARKERS[m.group(1)])}?", source)
    try:
        text = rtf_to_text(marked, errors="replace")
    except (ValueError, IndexError) as exc:
        return Conversion.rejected(f"RTF file cannot be read ({exc})")
    lines: list[str] = []
    rows: list[list[str]] = []
    for chunk in re.split(f"({_ROW_START}|{_ROW_END})", text):
        if chunk in (_ROW_START, _ROW_END, ""):
            continue
        if _CELL_END in chunk:
            cells = chunk.split(_CELL_END)
            rows.append([one_line(cell) for cell in cells[:-1]])
            continue
        if rows:
            lines += ["", *pipe_table(rows), ""]
            rows = []
        for line in chunk.split("\n"):
            if line.strip():
                lines += [one_line(line), ""]
    if rows:
        lines += ["", *pipe_table(rows), ""]
    return Conversion("\n".join(lines) + "\n", [])
