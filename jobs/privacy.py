"""Contact details never reach the model: emails, phone numbers, street addresses, birth dates
and URLs are replaced by placeholders (`[EMAIL_1]`) before any model call and put back into the
answer afterwards, also while it streams.

Detection is by pattern, tuned towards catching too much: a redacted phrase costs the rewrite a
little context, a leaked one cannot be taken back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial

_STREET = (
    r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way|Court|Ct|Place|Pl|Square|Sq|"
    r"Terrace|Close|Crescent|Parkway|Highway|Hwy|Row|Walk|Gardens|Mews|Strasse|Straße|Rue|Calle|Via)"
)
_DATE = (
    r"(?:\d{4}-\d{2}-\d{2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{1,2}(?:st|nd|rd|th)?\s+[A-Z][a-z]+\.?,?\s+\d{4}"
    r"|[A-Z][a-z]+\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4})"
)
# Order matters: URLs before emails (mailto:), addresses and birth dates before phones (their digits).
PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "URL",
        re.compile(
            r"\b(?:https?://|www\.)[^\s<>()\"']+|\b(?:linkedin|github|gitlab)\.com/[^\s<>()\"']+", re.I
        ),
    ),
    ("EMAIL", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    (
        "BIRTH_DATE",
        re.compile(rf"(?i:\b(?:date of birth|d\.?o\.?b\.?|born(?: on)?|birthday)\b)\s*:?\s*({_DATE})"),
    ),
    (
        "ADDRESS",
        re.compile(
            rf"\b\d{{1,5}}[A-Za-z]?,?\s+(?:[A-Z][\w'-]*\.?\s+){{0,4}}{_STREET}\b\.?"
            r"(?:,\s*[A-Z][a-z'-]+(?:\s[A-Z][a-z'-]+){0,2})*"
            r"(?:,?\s*(?:[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}|(?:[A-Z]{2}\s+)?\d{5}(?:-\d{4})?))?"
        ),
    ),
    ("PHONE", re.compile(r"(?<![\w+])\+?\(?\d[\d\s().-]{5,}\d(?![\w])")),
]
_YEAR_RANGE = re.compile("^\\(?\\d{4}\\s*[-\u2013]\\s*\\d{4}\\)?$")
_PLACEHOLDER = re.compile(r"\[(?:URL|EMAIL|BIRTH_DATE|ADDRESS|PHONE)_\d+\]")
_MAX_PLACEHOLDER = len("[BIRTH_DATE_999]")


@dataclass
class Redactor:
    """Placeholders for one job: the same detail always gets the same placeholder."""

    originals: dict[str, str] = field(default_factory=dict)  # placeholder -> original
    _by_value: dict[str, str] = field(default_factory=dict)

    def redact(self, text: str) -> str:
        for kind, pattern in PATTERNS:
            text = pattern.sub(partial(self._replace, kind), text)
        return text

    def restore(self, text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: self.originals.get(m.group(0), m.group(0)), text)

    def restore_stream(self, pieces: Iterable[str]) -> Iterator[str]:
        """The answer with placeholders put back, holding back a piece's tail only while it may
        be the start of a placeholder split across two pieces."""
        pending = ""
        for piece in pieces:
            pending += piece
            cut = _safe_end(pending)
            if cut:
                yield self.restore(pending[:cut])
                pending = pending[cut:]
        if pending:
            yield self.restore(pending)

    def _replace(self, kind: str, match: re.Match[str]) -> str:
        whole = match.group(0)
        value = match.group(match.lastindex or 0)
        if kind == "URL":
            value = value.rstrip(".,;:!?")  # the sentence's punctuation, not the URL's
        if kind == "PHONE" and (
            _YEAR_RANGE.match(value.strip()) or not 7 <= sum(c.isdigit() for c in value) <= 15
        ):
            return whole
        if _PLACEHOLDER.fullmatch(value):
            return whole
        placeholder = self._by_value.get(value)
        if placeholder is None:
            count = sum(1 for p in self.originals if p.startswith(f"[{kind}_"))
            placeholder = f"[{kind}_{count + 1}]"
            self._by_value[value] = placeholder
            self.originals[placeholder] = value
        return whole.replace(value, placeholder)


def _safe_end(text: str) -> int:
    """How much of `text` can be restored now: all of it, unless its tail is an unfinished '['."""
    start = text.rfind("[", max(0, len(text) - _MAX_PLACEHOLDER))
    if start == -1 or "]" in text[start:] or not re.fullmatch(r"\[[A-Z_]*\d*", text[start:]):
        return len(text)
    return start
