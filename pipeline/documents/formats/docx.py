"""Word ``.docx`` → Markdown lines, from the archive's XML with lxml (BSD) and the standard ``zipfile``.

Only two parts decide what a document says: ``word/document.xml`` (the body) and ``word/styles.xml`` (which
style is a heading or a list).  They are read directly rather than through python-docx: python-docx loads
every part of the package and looks each paragraph's style up by a scan of all styles, about 17 documents
a second here against the 200 needed (``benchmarks/binary_documents_benchmark.py``; docs/documents.md).

The body is read in document order (content controls opened): a paragraph whose style is a Heading (any
language: by the style's name, ``heading 1`` …, or ``Title``) becomes a ``#`` heading; a paragraph in a list
(numbering properties on the paragraph or its style, or a ``List …`` style) a ``- item``; a table a pipe table
(a cell spanning columns written once, then empty cells); any other paragraph a line of text followed by a
blank line; a soft line break inside a paragraph starts a new line.  A paragraph's text is the text of all
its runs joined as Word shows it, so a word split over two runs (as spell-checking and editing leave it) is
one word; deleted text of tracked changes, field codes and hidden text are left out.  Page headers and
footers are not read: they repeat on every page and state no fact.  A table inside a table cell is
flattened into the cell's text, and reported.
"""

from __future__ import annotations

import io
import re
import zipfile

from lxml import etree

from pipeline.documents.formats.conversion import Conversion
from pipeline.documents.formats.markdown import heading, list_item, one_line, pipe_table

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_P, _TBL, _SDT, _SDT_CONTENT = f"{W}p", f"{W}tbl", f"{W}sdt", f"{W}sdtContent"
_TR, _TC, _R = f"{W}tr", f"{W}tc", f"{W}r"
_T, _TAB, _BR, _CR, _RPR, _VANISH = f"{W}t", f"{W}tab", f"{W}br", f"{W}cr", f"{W}rPr", f"{W}vanish"
_VAL, _STYLE_ID = f"{W}val", f"{W}styleId"
_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=False)
_W_DECLARATION = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
_LARGEST_PART = 50 * 1024 * 1024  # a zip bomb's part is refused before it is inflated


class _Styles:
    """The heading level and list membership of the styles a body uses (styles.xml holds hundreds more: only
    the used ones are looked up)."""

    def __init__(self, styles_xml: bytes | None, used: set[str]):
        self.levels: dict[str, int] = {}
        self.lists: set[str] = set()
        if styles_xml is None or not used:
            return
        for style_id, style in _used_styles(styles_xml, used):
            name = style.find(f"{W}name")
            label = ((name.get(_VAL) if name is not None else style_id) or "").strip()
            match = _HEADING_STYLE.match(label)
            if match:
                self.levels[style_id] = int(match.group(1))
            elif label.lower() == "title":
                self.levels[style_id] = 1
            if label.lower().startswith("list") or style.find(f"{W}pPr/{W}numPr") is not None:
                self.lists.add(style_id)


def _used_styles(styles_xml: bytes, used: set[str]):
    """(styleId, element) of each used style.  Word writes its styles part with the ``w`` prefix, and that
    part is large (hundreds of styles, 50-350 KB): each used style's element is cut out and parsed alone,
    which is many times faster than parsing the whole part; a part written otherwise is parsed whole."""
    fragments = []
    for style_id in used:
        at = styles_xml.find(b'w:styleId="' + style_id.encode("utf-8", "replace") + b'"')
        start = styles_xml.rfind(b"<w:style ", 0, at) if at >= 0 else -1
        end = styles_xml.find(b"</w:style>", at) if at >= 0 else -1
        if start < 0 or end < 0:
            continue
        fragment = styles_xml[start : end + len(b"</w:style>")].replace(b"<w:style ", b"<w:style " + _W_DECLARATION, 1)
        try:
            fragments.append((style_id, etree.fromstring(fragment, _PARSER)))
        except etree.XMLSyntaxError:
            break
    else:
        if fragments or b"<w:style " in styles_xml:
            return fragments
    root = etree.fromstring(styles_xml, _PARSER)
    return [(style.get(_STYLE_ID), style) for style in root.iterchildren(f"{W}style") if style.get(_STYLE_ID) in used]


def convert_docx(data: bytes) -> Conversion:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            root = etree.fromstring(_part(archive, "word/document.xml"), _PARSER)
            used = {element.get(_VAL) for element in root.iter(f"{W}pStyle")}
            has_styles = used and "word/styles.xml" in archive.namelist()
            styles = _Styles(_part(archive, "word/styles.xml") if has_styles else None, used)
    except (zipfile.BadZipFile, KeyError, etree.XMLSyntaxError, ValueError, OSError) as exc:
        return Conversion.rejected(f"Word file cannot be read ({exc}); it may be damaged or not a .docx")
    body = root.find(f"{W}body")
    if body is None:
        return Conversion.rejected("Word file has no document body")
    writer = _Writer(styles)
    writer.blocks(body)
    return Conversion("\n".join(writer.lines) + "\n", writer.problems)


def _part(archive: zipfile.ZipFile, name: str) -> bytes:
    if archive.getinfo(name).file_size > _LARGEST_PART:
        raise ValueError(f"{name} inflates to over {_LARGEST_PART // 1_048_576} MB")
    return archive.read(name)


class _Writer:
    def __init__(self, styles: _Styles):
        self.styles = styles
        self.lines: list[str] = []
        self.problems: list[str] = []

    def blocks(self, parent) -> None:
        for child in parent:
            if child.tag == _P:
                self.paragraph(child)
            elif child.tag == _TBL:
                self.table(child)
            elif child.tag == _SDT:
                content = child.find(_SDT_CONTENT)
                if content is not None:
                    self.blocks(content)

    def paragraph(self, p) -> None:
        text = paragraph_text(p)
        lines = self.lines
        if not text.strip():
            if lines and lines[-1] != "":
                lines.append("")
            return
        properties = p.find(f"{W}pPr")
        style_element = properties.find(f"{W}pStyle") if properties is not None else None
        style = style_element.get(_VAL) if style_element is not None else None
        level = self.styles.levels.get(style) if style else None
        if level is not None:
            lines += ["", heading(text, level), ""]
        elif (style in self.styles.lists) or (properties is not None and properties.find(f"{W}numPr") is not None):
            lines.append(list_item(text))
        else:
            if lines and lines[-1].startswith("- "):
                lines.append("")  # the list has ended: this paragraph does not continue its last item
            # A Word paragraph is a paragraph: the blank line keeps the parser from joining it to the next one
            # as if it were a hard-wrapped line of text.
            lines += [*(one_line(part) for part in text.split("\n") if part.strip()), ""]

    def table(self, tbl) -> None:
        rows: list[list[str]] = []
        nested = 0
        for tr in tbl.iter(_TR):
            if _owning_table(tr) is not tbl:
                continue  # a row of a table inside a cell: read as the cell's text
            cells: list[str] = []
            for tc in tr.iterchildren(_TC):
                nested += sum(1 for _ in tc.iter(_TBL))
                cells.append(one_line(" ".join(paragraph_text(p) for p in tc.iter(_P))))
                span = tc.find(f"{W}tcPr/{W}gridSpan")
                if span is not None and (span.get(_VAL) or "1").isdigit():
                    cells += [""] * (int(span.get(_VAL)) - 1)
            rows.append(cells)
        if nested:
            self.problems.append(
                f"Word: a table holds {nested} table(s) inside its cells; their text was read as part of the cell"
            )
        if rows:
            self.lines += ["", *pipe_table(rows), ""]


def _owning_table(tr):
    parent = tr.getparent()
    while parent is not None and parent.tag != _TBL:
        parent = parent.getparent()
    return parent


def paragraph_text(p) -> str:
    """The text Word shows for a paragraph: its runs' text, tabs and line breaks, in order."""
    parts: list[str] = []
    for element in p.iter(_T, _TAB, _BR, _CR):
        run = element.getparent()
        if run is None or run.tag != _R:
            continue  # a tab stop of the paragraph's properties, not a tab in its text
        properties = run.find(_RPR)
        if properties is not None and properties.find(_VANISH) is not None:
            continue  # hidden text
        if element.tag == _T:
            parts.append(element.text or "")
        elif element.tag == _TAB:
            parts.append("\t")
        else:
            parts.append("\n")
    return "".join(parts)
