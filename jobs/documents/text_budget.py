"""The text a document yields, checked against the length cap as it is read: a document far over
the cap stops at the first page (or paragraph) that passes it, not after all of it was read."""

from __future__ import annotations

import re

from jobs.core.errors import WorkFailed

# Bullets as PDF text extraction delivers them: Word's Symbol-font bullets land in the private use
# area, and a glyph missing from a font's encoding comes out as DEL.
_ODD_BULLETS = re.compile("[\uf0b7\uf0a7\uf076\uf0d8\uf0fc\uf06e\u25aa\u25cf\u25e6\x7f]")
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x80-\x9f]")


def clean(text: str) -> str:
    return _CONTROLS.sub("", _ODD_BULLETS.sub("•", text))


class TextBudget:
    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.used = 0

    def take(self, text: str) -> str:
        """`text` cleaned and counted; raises TEXT_TOO_LONG once the document passes the cap."""
        cleaned = clean(text)
        self.used += len(cleaned) + 1  # and the separator that will join it to the rest
        if self.used - 1 > self.max_chars:
            raise WorkFailed(
                f"the document has more than {self.max_chars} characters of text; "
                f"the limit is {self.max_chars}",
                code="TEXT_TOO_LONG",
            )
        return cleaned
