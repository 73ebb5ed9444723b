"""What a converter gives back: the document as Markdown text, or why it cannot be read."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Conversion:
    text: str | None
    problems: list[str] = field(default_factory=list)
    fatal: bool = False
    from_html: bool = False  # the text is a web page's, converted by core.html_text (an HTML e-mail body)

    @classmethod
    def rejected(cls, reason: str) -> Conversion:
        return cls(None, [reason], fatal=True)
