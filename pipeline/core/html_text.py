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
  a table is dropped (a caption becomes a line of its own).
"""

from __future__ import annotations

import codecs

from selectolax.lexbor import LexborHTMLParser

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
    head = text[:2048].lstrip("\ufeff \t\r\n").lower()
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


def html_to_text(markup: str) -> str:
    """One logical line per block of the page (see module docstring)."""
    return html_to_text_and_problems(markup)[0]


def html_to_text_and_problems(markup: str) -> tuple[str, list[str]]:
    markup, dropped = cap_nesting(markup)
    problems = []
    if dropped:
        problems.append(
            f"page nests elements more than {MAX_NESTING} deep; {dropped:,} deeper start tag(s) ignored "
            "(their text is kept), as browsers cap nesting too"
        )
    return _convert(markup), problems


def _convert(markup: str) -> str:
    tree = LexborHTMLParser(markup)
    tree.strip_tags(DROPPED_TAGS)
    root = tree.body or tree.root
    if root is None:
        return ""
    for table in root.css("table"):
        if len(table.css("table")) == 1:  # innermost only (css() includes the node itself); outer ones are layout
            _replace_table(table)
    _prefix(root, ", ".join(_HEADINGS), "## ")
    _prefix(root, "li", "- ")
    # With inline markup unwrapped and neighbouring text merged, text nodes break only where blocks do.
    # One selector query for all inline tags (unwrap_tags runs one query per tag); unwrapping moves the
    # children in place, so the order the elements are unwrapped in does not change the result.
    for node in root.css(_INLINE_SELECTOR):
        node.unwrap()
    tree.merge_text_nodes()
    parts = root.text(deep=True, separator=_LINE).split(_LINE)
    return "\n".join([" ".join(words) for part in parts if (words := part.split())]) + "\n"


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
