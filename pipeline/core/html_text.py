"""Saved web pages → the same logical text the plain-text parser reads.

Parsing uses selectolax's Lexbor backend, a C implementation of the WHATWG HTML parsing algorithm:
broken pages (unclosed tags, stray table text) come out as the browser showed them, entities are
decoded, and it is fast enough for thousands of pages a second.  No regular expression ever looks at
markup.  The conversion:

- ``script``, ``style``, ``nav``, ``header``, ``footer``, ``noscript`` and ``template`` are dropped;
- ``h1``–``h6`` become markdown headings (``## Text``) on their own line;
- inline markup (``strong``, ``em``, ``a``, ``span``, ``code`` …) is flattened, so
  ``<strong>Service type:</strong> value`` is the key line ``Service type: value``; every other element
  (``p``, ``div``, ``li``, ``br``, ``dt``/``dd`` …) breaks the line; ``li`` lines start with ``- `` so a
  list under "… include:" reads as one;
- every innermost ``<table>`` becomes a pipe table (first row, or the ``thead`` row, is the header,
  followed by a ``|---|`` line), with inline markup in cells flattened and ``|`` escaped; nothing inside
  a table is dropped (a caption becomes a line of its own);
- an ARIA grid (``role="table"``/``"grid"`` with ``role="row"`` and ``role="cell"``/``"columnheader"`` …
  elements, the way div-based page builders draw tables) becomes a pipe table the same way;
- a ``<dl>`` whose terms are all modifier codes (``<dt>50 – Bilateral procedure</dt><dd>When …</dd>``)
  becomes a modifier table (term: code and description; definitions: when to use); a term naming a fact
  key (``<dt>Service type</dt><dd>…</dd>``) becomes the line ``Service type: …``;
- ``<pre>`` text keeps its lines and spacing (a text file a browser saved as a web page is one ``<pre>``:
  ``convert_page`` says so, and the text is then read like the plain text it is).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser

from pipeline.core.logical_lines import KEY_ALIASES

DROPPED_TAGS = ["script", "style", "nav", "header", "footer", "noscript", "template", "svg", "img", "wbr"]
# Flattened into the text around them; every other element starts a new line.
INLINE_TAGS = [
    "a",
    "abbr",
    "acronym",
    "b",
    "bdi",
    "bdo",
    "big",
    "cite",
    "code",
    "data",
    "del",
    "dfn",
    "em",
    "font",
    "i",
    "ins",
    "kbd",
    "mark",
    "nobr",
    "q",
    "s",
    "samp",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "sup",
    "time",
    "tt",
    "u",
    "var",
]
_INLINE_SELECTOR = ", ".join(INLINE_TAGS)
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_LINE = "\x1e"  # record separator: marks a line break while the page is still a tree
# Labels browsers treat as windows-1252 (WHATWG Encoding Standard).
_WINDOWS_1252_LABELS = frozenset({"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii"})
MAX_NESTING = 512
SCAN_ABOVE_TAGS = 3_000
_VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
        "keygen",
    ]
)
# Elements the parser closes by itself when a sibling starts: they do not pile up on the stack.
_SELF_CLOSING_SIBLINGS = frozenset(
    [
        "p",
        "li",
        "dt",
        "dd",
        "tr",
        "td",
        "th",
        "option",
        "optgroup",
        "rb",
        "rt",
        "rtc",
        "rp",
        "tbody",
        "thead",
        "tfoot",
        "colgroup",
    ]
)
_NEVER_NEST = sorted(_VOID | _SELF_CLOSING_SIBLINGS)
_RAW_TEXT = frozenset(("script", "style", "textarea", "title", "xmp", "noembed", "noframes", "plaintext"))
_HTML_STARTS = ("<!doctype html", "<html", "<head", "<body", "<meta", "<!--", "<?xml")


def looks_like_html(text: str) -> bool:
    """Content sniffing, whatever the file is called: a page starts with markup and closes a tag."""
    # Only the first characters are compared: lower-casing 32 of them, not 2 KB, gives the same ones.
    head = text[:2048].lstrip("\ufeff \t\r\n")[:32].lower()
    if head.startswith(_HTML_STARTS):
        return True
    return head[:1] == "<" and head[1:2].isalpha() and "</" in text[:16384]


def declared_charset(data: bytes) -> str | None:
    """The Python codec named by ``<meta charset>`` or ``http-equiv`` in the page's first 4 KB, if any."""
    tree = LexborHTMLParser(data[:4096].decode("latin-1"))
    for meta in tree.css("meta"):
        attributes = meta.attributes
        label = attributes.get("charset")
        if not label and (attributes.get("http-equiv") or "").strip().lower() == "content-type":
            content = attributes.get("content") or ""
            position = content.lower().find("charset=")
            label = content[position + 8 :].split(";")[0] if position != -1 else None
        if label:
            return _codec_name(label.strip(" \t\"'").lower())
    return None


def _codec_name(label: str) -> str | None:
    if label in _WINDOWS_1252_LABELS:
        return "windows-1252"
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    return "windows-1252" if name == "cp1252" else name


@dataclass(slots=True)
class PageText:
    text: str
    problems: list[str] = field(default_factory=list)
    preformatted: bool = False  # all the page's text is in <pre>: a plain-text file saved as a web page


def html_to_text(markup: str) -> str:
    """One logical line per block of the page (see module docstring)."""
    return convert_page(markup).text


def convert_page(markup: str) -> PageText:
    markup, dropped = cap_nesting(markup)
    problems = []
    if dropped:
        problems.append(
            f"page nests elements more than {MAX_NESTING} deep; {dropped:,} deeper start tag(s) ignored "
            "(their text is kept), as browsers cap nesting too"
        )
    text, preformatted = _convert(markup)
    return PageText(text, problems, preformatted)


_GRID = '[role="table"], [role="grid"], [role="treegrid"]'
_GRID_CELLS = '[role="cell"], [role="gridcell"], [role="columnheader"], [role="rowheader"]'
_PRE_MARK = "\ue000"  # private use: stands for a <pre> block until the page's lines are joined
# '50 – Bilateral procedure', 'Modifier RT: Right side', '`00` (No modifier)': a code as written, upper case.
_MODIFIER_TERM = re.compile(r"^(?:modifier\s+)?([0-9A-Z]{2})(?![\w-])\s*(?:[-–—:|]\s*)?(.*)$", re.IGNORECASE)


def _convert(markup: str) -> tuple[str, bool]:
    lowered = markup.lower()  # which of the rarer shapes to look for: each query walks the whole tree
    tree = LexborHTMLParser(markup)
    tree.strip_tags(DROPPED_TAGS)
    root = tree.body or tree.root
    if root is None:
        return "", False
    preformatted = _keep_preformatted(root) if "<pre" in lowered else ([], False)
    for grid in root.css(_GRID) if "role" in lowered else ():
        if len(grid.css(_GRID)) == 1:  # innermost only, as for tables
            _replace_grid(grid)
    for table in root.css("table"):
        if len(table.css("table")) == 1:  # innermost only (css() includes the node itself); outer ones are layout
            _replace_table(table)
    for definitions in root.css("dl") if "<dl" in lowered else ():
        if len(definitions.css("dl")) == 1:
            _replace_definitions(definitions)
    _prefix(root, ", ".join(_HEADINGS), "## ")
    _prefix(root, "li", "- ")
    # With inline markup unwrapped and neighbouring text merged, text nodes break only where blocks do.
    # One selector query for all inline tags (unwrap_tags runs one query per tag); unwrapping moves the
    # children in place, so the order the elements are unwrapped in does not change the result.
    for node in root.css(_INLINE_SELECTOR):
        node.unwrap()
    tree.merge_text_nodes()
    parts = root.text(deep=True, separator=_LINE).split(_LINE)
    text = "\n".join([" ".join(words) for part in parts if (words := part.split())]) + "\n"
    if preformatted[0]:
        blocks = preformatted[0]
        text = "\n".join(
            blocks[int(line[1:-1])] if line[:1] == _PRE_MARK and line[-1:] == _PRE_MARK else line
            for line in text.split("\n")
        )
    return text, preformatted[1]


def _keep_preformatted(root) -> tuple[list[str], bool]:
    """Each <pre> block's text, kept aside (its line breaks and spacing are content) and marked in the tree;
    and whether the page has no text outside them."""
    blocks = []
    for pre in root.css("pre"):
        if pre.parent is None or any(p.tag == "pre" for p in _ancestors(pre)):
            continue
        text = pre.text(deep=True).replace("\r\n", "\n").replace(_PRE_MARK, "")
        pre.replace_with(f"{_LINE}{_PRE_MARK}{len(blocks)}{_PRE_MARK}{_LINE}")
        blocks.append("\n" + text.strip("\n") + "\n")
    if not blocks:
        return [], False
    outside = root.text(deep=True)
    for index in range(len(blocks)):
        outside = outside.replace(f"{_PRE_MARK}{index}{_PRE_MARK}", "")
    return blocks, not outside.replace(_LINE, "").strip()


def _ancestors(node):
    node = node.parent
    while node is not None:
        yield node
        node = node.parent


def _replace_grid(grid) -> None:
    """An ARIA table drawn with divs: rows of cells, the first row the header."""
    for block in grid.css(
        ", ".join(f"{cell} {b}" for cell in _GRID_CELLS.split(", ") for b in ("p", "div", "br", "li"))
    ):
        block.insert_before(" ")
        block.insert_after(" ")
    lines = []
    for row in grid.css('[role="row"]'):
        cells = [_cell_text(cell).replace("|", "\\|") for cell in row.css(_GRID_CELLS)]
        if cells:
            lines.append("| " + " | ".join(cells) + " |")
            if len(lines) == 1:
                lines.append("|" + "---|" * len(cells))
    if lines:
        grid.replace_with(_LINE + _LINE.join(lines) + _LINE)


def _replace_definitions(definitions) -> None:
    """A <dl> of modifier codes → a modifier table; a term naming a fact key → 'Key: value'."""
    pairs: list[tuple[str, list[str]]] = []
    for node in definitions.css("dt, dd"):
        text = _cell_text(node)
        if node.tag == "dt":
            pairs.append((text, []))
        elif pairs:
            pairs[-1][1].append(text)
        else:
            pairs.append(("", [text]))
    if not pairs:
        return
    terms = [_MODIFIER_TERM.match(term.replace("`", "").replace("*", "")) for term, _ in pairs]
    if all(match is not None and (match.group(1).isdigit() or match.group(1).isupper()) for match in terms):
        lines = ["| Modifier | Description | When to Use |", "|---|---|---|"]
        for match, (_, described) in zip(terms, pairs, strict=True):
            description = match.group(2).strip().removeprefix("(").removesuffix(")").strip()
            cells = [match.group(1), description, " ".join(described)]
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    else:
        lines = []
        for term, described in pairs:
            key = " ".join(term.rstrip(": ").split()).casefold()
            if key in KEY_ALIASES:
                lines.append(f"{term.rstrip(': ')}: {' '.join(described)}")
            else:
                lines.extend(line for line in (term, *described) if line)
    definitions.replace_with(_LINE + _LINE.join(lines) + _LINE)


def _prefix(root, selector: str, prefix: str) -> None:
    for node in root.css(selector):
        first = node.child
        if first is None:
            continue
        first.insert_before(prefix)


def cap_nesting(markup: str) -> tuple[str, int]:
    """Drop start tags nested deeper than MAX_NESTING; returns the markup and how many were dropped.

    The HTML5 tree builder checks the stack of open elements at many start tags, so thousands of unclosed
    elements make parsing quadratic (a 1 MB page of unclosed ``<div>`` takes minutes).  Browsers cap the
    depth (Chromium at 512) for the same reason.  This scan only follows tag names to measure the depth;
    the page is still parsed by Lexbor.  A page with fewer than SCAN_ABOVE_TAGS tags is not scanned: even
    fully nested, it parses in milliseconds.
    """
    if markup.count("<") <= SCAN_ABOVE_TAGS or _nesting_start_tags(markup) <= SCAN_ABOVE_TAGS:
        return markup, 0
    scan = _NestingScan()
    chunks = markup.split("<")
    parts = [chunks[0]]
    for chunk in chunks[1:]:
        keep_from = scan.step(chunk)
        if keep_from:
            parts.append(chunk[keep_from:])
        else:
            parts += ("<", chunk)
    return ("".join(parts), scan.dropped) if scan.dropped else (markup, 0)


def _nesting_start_tags(markup: str) -> int:
    """An upper bound on the start tags that can nest: all tags but end tags, comments and the start tags of
    elements that never nest (``<p>``, ``<li>``, ``<td>``, ``<br>`` …).  End tags are not subtracted, so stray
    ones cannot hide deep nesting."""
    lowered = markup.lower()
    never_nest = sum(lowered.count(f"<{name}>") + lowered.count(f"<{name} ") for name in _NEVER_NEST)
    return lowered.count("<") - lowered.count("</") - lowered.count("<!") - never_nest


class _NestingScan:
    """Follows '<' chunks with a stack of open element names (see ``cap_nesting``)."""

    def __init__(self):
        self.stack: list[str] = []
        self.open_count: dict[str, int] = {}
        self.dropped_names: dict[str, int] = {}
        self.dropped = 0
        self.raw_text_until: str | None = None  # inside <script> etc.: only its end tag counts
        self.in_comment = False

    def step(self, chunk: str) -> int:
        """0 to keep '<' + chunk, or the offset after the tag when the tag is dropped."""
        if self.in_comment or chunk.startswith("!--"):
            self.in_comment = "-->" not in chunk[3 if not self.in_comment else 0 :]
            return 0
        head, closed, _ = chunk.partition(">")
        if not closed:
            return 0
        closing = head.startswith("/")
        name = (head[1:] if closing else head).split(None, 1)[0].rstrip("/").lower() if head.strip("/") else ""
        if self.raw_text_until is not None:
            if closing and name == self.raw_text_until:
                self.raw_text_until = None
            return 0
        if not name[:1].isalpha():
            return 0
        if closing:
            return self._end_tag(name, len(head) + 1)
        return self._start_tag(name, head, len(head) + 1)

    def _start_tag(self, name: str, head: str, tag_length: int) -> int:
        if name in _RAW_TEXT:
            self.raw_text_until = name
            return 0
        if name in _VOID or name in _SELF_CLOSING_SIBLINGS or head.endswith("/"):
            return 0
        if len(self.stack) >= MAX_NESTING:
            self.dropped += 1
            self.dropped_names[name] = self.dropped_names.get(name, 0) + 1
            return tag_length
        self.stack.append(name)
        self.open_count[name] = self.open_count.get(name, 0) + 1
        return 0

    def _end_tag(self, name: str, tag_length: int) -> int:
        if self.dropped_names.get(name):
            self.dropped_names[name] -= 1
            return tag_length
        if self.open_count.get(name):
            while self.stack:
                top = self.stack.pop()
                self.open_count[top] -= 1
                if top == name:
                    break
        return 0


_BLOCKS_IN_CELLS = ", ".join(f"{cell} {block}" for cell in ("td", "th") for block in ("p", "div", "br", "li"))


def _replace_table(table) -> None:
    for block in table.css(_BLOCKS_IN_CELLS):  # "<td>a<p>b</p></td>" reads "a b", on the row's line
        block.insert_before(" ")
        block.insert_after(" ")
    lines = []
    caption = table.css_first("caption")
    if caption is not None:
        lines.append(_cell_text(caption))
    for row in table.css("tr"):
        cells = []
        for cell in row.css("th, td"):
            cells.append(_cell_text(cell).replace("|", "\\|"))
            cells.extend([""] * (_colspan(cell) - 1))
        if cells:
            lines.append("| " + " | ".join(cells) + " |")
            if len(lines) == 1 + (caption is not None):
                lines.append("|" + "---|" * len(cells))
    table.replace_with(_LINE + _LINE.join(lines) + _LINE)


def _cell_text(node) -> str:
    return " ".join(node.text(deep=True).split())


def _colspan(cell) -> int:
    value = (cell.attributes.get("colspan") or "1").strip()
    return min(int(value), 50) if value.isdigit() and int(value) > 0 else 1
