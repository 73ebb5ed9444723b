"""E-mail (``.eml``, RFC 822/MIME) → the text of the message body, with the standard library's ``email``.

The message's own headers are not part of the document.  The body is the HTML part when there is one (it
keeps tables as tables; the text part of an HTML mail is often a flattened copy), else the text part;
quoted-printable and base64 are decoded and the declared charset applied, so a soft line break inside
"Humana Inc." (``In=`` at a line end) is never read as text.  An HTML part is converted to text by the
same converter that reads saved web pages (``pipeline/core/html_text.py``).  The header block a mail
program writes into the body of a forwarded or replied message ("---------- Forwarded message ---------",
"From: … Sent: … To: … Subject: …") is dropped: it describes the mail, not the code.  Attachments are not
read, and each one is reported, so a PDF sent as an attachment is never silently missing.
"""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from pipeline.core.html_text import convert_page
from pipeline.documents.formats.conversion import Conversion

_FORWARD_MARKER = re.compile(
    r"^\s*(?:-{2,}\s*(?:forwarded message|original message)\s*-{2,}|begin forwarded message:)\s*$", re.IGNORECASE
)
_MAIL_HEADER = re.compile(r"^\s*\**(?:from|sent|date|to|cc|bcc|subject|reply-to)\**\s*:", re.IGNORECASE)


def convert_eml(data: bytes) -> Conversion:
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    problems = [f"e-mail: {defect}" for defect in message.defects if _matters(defect)]
    body = message.get_body(preferencelist=("html", "plain"))
    if body is None:
        return Conversion.rejected("e-mail has no text or HTML part to read")
    try:
        content = body.get_content()
    except (LookupError, UnicodeError) as exc:
        return Conversion.rejected(f"e-mail body cannot be decoded ({exc})")
    from_html = body.get_content_subtype() == "html"
    if from_html:
        page = convert_page(content)
        text = page.text
        problems += page.problems
    else:
        text = content
    text = without_forwarded_headers(text.replace("\r\n", "\n").replace("\r", "\n"))
    for attachment in message.iter_attachments():
        name = attachment.get_filename() or "(no name)"
        problems.append(
            f"e-mail attachment {name} ({attachment.get_content_type()}) was not read; "
            "save it into the documents folder to read it"
        )
    return Conversion(text, problems, from_html=from_html)


def without_forwarded_headers(text: str) -> str:
    """The text without the header blocks of forwarded or replied messages inside it."""
    lines = text.split("\n")
    kept: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        starts_block = _FORWARD_MARKER.match(line) or (
            _MAIL_HEADER.match(line) and line.strip().lower().lstrip("*").startswith("from")
            and index + 1 < len(lines) and _MAIL_HEADER.match(lines[index + 1])
        )  # fmt: skip
        if not starts_block:
            kept.append(line)
            index += 1
            continue
        index += 1 if _FORWARD_MARKER.match(line) else 0
        while index < len(lines) and not lines[index].strip():
            index += 1
        while index < len(lines) and _MAIL_HEADER.match(lines[index]):
            index += 1
            while index < len(lines) and lines[index][:1] in (" ", "\t") and lines[index].strip():
                index += 1  # a folded header line
        kept.append("")
    return "\n".join(kept)


def _matters(defect: Exception) -> bool:
    """Defects that can lose content (a missing boundary, a broken encoding), not cosmetic ones."""
    return type(defect).__name__ in {
        "StartBoundaryNotFoundDefect",
        "CloseBoundaryNotFoundDefect",
        "MultipartInvariantViolationDefect",
        "InvalidBase64PaddingDefect",
        "InvalidBase64CharactersDefect",
        "InvalidBase64LengthDefect",
    }
