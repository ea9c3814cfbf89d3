"""Plain text out of markup: for user input (HTML is stripped from text fields) and for model
output on its way into a PDF (where markup must never become a fetch)."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser


class _TextOnly(HTMLParser):
    _SKIPPED = frozenset({"script", "style"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skipping += tag in self._SKIPPED

    def handle_endtag(self, tag: str) -> None:
        self._skipping -= tag in self._SKIPPED and self._skipping > 0

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def strip_html(value: str) -> str:
    """Text without tags (script and style content dropped), entities decoded, whitespace of
    each line collapsed; plain text passes unchanged apart from that."""
    if "<" not in value:
        return _collapse(unescape(value))
    parser = _TextOnly()
    parser.feed(value)
    parser.close()
    return _collapse("".join(parser.parts))


def _collapse(value: str) -> str:
    lines = (re.sub(r"[ \t\f\v]+", " ", line).strip() for line in value.replace("\r\n", "\n").split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
