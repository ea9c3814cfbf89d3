"""Contact details never reach the model: emails, phone numbers, street addresses, birth dates
and URLs are replaced by placeholders (`[EMAIL_1]`) before any model call and put back into the
answer afterwards, also while it streams.

Emails, URLs, addresses and birth dates are found by pattern, phone numbers by `phonenumbers`
(Google's libphonenumber metadata). Detection is tuned towards catching too much: a redacted
phrase costs the rewrite a little context, a leaked one cannot be taken back.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial

import phonenumbers
from phonenumbers import CountryCodeSource, Leniency, PhoneNumberMatch, PhoneNumberMatcher

from settings import get_settings

_STREET = (
    r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way|Court|Ct|Place|Pl|Square|Sq|"
    r"Terrace|Close|Crescent|Parkway|Highway|Hwy|Row|Walk|Gardens|Mews|Strasse|Straße|Rue|Calle|Via)"
)
_DATE = (
    r"(?:\d{4}-\d{2}-\d{2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{1,2}(?:st|nd|rd|th)?\s+[A-Z][a-z]+\.?,?\s+\d{4}"
    r"|[A-Z][a-z]+\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4})"
)
# Order matters: URLs before emails (mailto:); all of these before phone numbers, which are
# looked for last so that the digits of an address or a birth date are already placeholders.
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
]
_PLACEHOLDER = re.compile(r"\[(?:URL|EMAIL|BIRTH_DATE|ADDRESS|PHONE)_\d+\]")
_MAX_PLACEHOLDER = len("[BIRTH_DATE_999]")
# The matcher gives up silently after max_tries candidates that are not numbers (65,535 by
# default), which would leave every number after a long run of digits in the text. Its cost is
# linear in the text (bench/redactor.py), which CV_TEXT_MAX_CHARS bounds, so it never gives up.
_EVERY_CANDIDATE = sys.maxsize
# A national number's digits can spell other things, valid in some region all the same: a job's
# months ("03/2019 - 11/2023" is a valid US and German number) and a salary range next to its
# currency ("60000-71000" is an Indian mobile's shape). A country code never does.
_MONTH = r"(?:0?[1-9]|1[0-2])"
_MONTHS = re.compile(
    rf"(?<!\d){_MONTH}\s?[./]\s?(?:19|20)\d\d(?!\d)|^{_MONTH}/\d\d\s*[-\u2013\u2014]\s*{_MONTH}/\d\d$"
)
_CURRENCY_BEFORE = re.compile(r"(?:[$\u00a3\u20ac\u00a5\u20b9]|\b(?:GBP|USD|EUR|INR|CHF|Rs\.?))\s*$", re.I)
_CURRENCY_AFTER = re.compile(r"^\s*(?:[$\u00a3\u20ac\u00a5\u20b9]|(?:GBP|USD|EUR|INR|CHF|k)\b)", re.I)
_WRITTEN_INTERNATIONALLY = (
    CountryCodeSource.FROM_NUMBER_WITH_PLUS_SIGN,
    CountryCodeSource.FROM_NUMBER_WITH_IDD,
)


def configured_phone_regions() -> tuple[str, ...]:
    return tuple(get_settings().phone_regions.split(","))


def phone_spans(text: str, regions: Sequence[str]) -> list[tuple[int, int]]:
    """Where `text` holds phone numbers, as (start, end), in order, overlaps merged.

    A number written with its country code (`+44 ...`, or `0044 ...` after the first region's
    international prefix) only has to have a possible length for that country: the code says it
    is a phone number, and metadata lags new ranges (and Ofcom's drama numbers are not valid).
    A number without one must be valid in one of `regions`, the countries a CV's national numbers
    are expected from: that keeps years, date ranges, salaries and version numbers out, which a
    mere length check would not.
    """
    spans = [
        _stripped(match)
        for match in PhoneNumberMatcher(text, regions[0], Leniency.POSSIBLE, _EVERY_CANDIDATE)
        if _written_internationally(match, regions[0])
    ]
    for region in regions:
        spans += [
            _stripped(match)
            for match in PhoneNumberMatcher(text, region, Leniency.VALID, _EVERY_CANDIDATE)
            if not _dates_or_amount(text, match)
        ]
    return _merged(spans)


def _stripped(match: PhoneNumberMatch) -> tuple[int, int]:
    # A number after "/" (a second number) keeps the space before it; the sentence should too.
    raw = match.raw_string
    return match.start + len(raw) - len(raw.lstrip()), match.end - len(raw) + len(raw.rstrip())


def _written_internationally(match: PhoneNumberMatch, region: str) -> bool:
    # The matcher clears how the number named its country; parsing its text again tells.
    number = phonenumbers.parse(match.raw_string, region, keep_raw_input=True)
    return number.country_code_source in _WRITTEN_INTERNATIONALLY


def _dates_or_amount(text: str, match: PhoneNumberMatch) -> bool:
    return bool(
        _MONTHS.search(match.raw_string)
        or _CURRENCY_BEFORE.search(text[max(0, match.start - 4) : match.start])
        or _CURRENCY_AFTER.match(text[match.end : match.end + 5])
    )


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    # Regions may read different stretches of the same digits as a number: hide all of them.
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


@dataclass
class Redactor:
    """Placeholders for one job: the same detail always gets the same placeholder."""

    originals: dict[str, str] = field(default_factory=dict)  # placeholder -> original
    _by_value: dict[str, str] = field(default_factory=dict)
    phone_regions: tuple[str, ...] = field(default_factory=configured_phone_regions)

    def redact(self, text: str) -> str:
        for kind, pattern in PATTERNS:
            text = pattern.sub(partial(self._replace, kind), text)
        return self._redact_phones(text)

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
        if _PLACEHOLDER.fullmatch(value):
            return whole
        return whole.replace(value, self._placeholder(kind, value))

    def _redact_phones(self, text: str) -> str:
        pieces, done = [], 0
        for start, end in phone_spans(text, self.phone_regions):
            pieces += [text[done:start], self._placeholder("PHONE", text[start:end])]
            done = end
        return "".join([*pieces, text[done:]])

    def _placeholder(self, kind: str, value: str) -> str:
        placeholder = self._by_value.get(value)
        if placeholder is None:
            count = sum(1 for p in self.originals if p.startswith(f"[{kind}_"))
            placeholder = f"[{kind}_{count + 1}]"
            self._by_value[value] = placeholder
            self.originals[placeholder] = value
        return placeholder


def _safe_end(text: str) -> int:
    """How much of `text` can be restored now: all of it, unless its tail is an unfinished '['."""
    start = text.rfind("[", max(0, len(text) - _MAX_PLACEHOLDER))
    if start == -1 or "]" in text[start:] or not re.fullmatch(r"\[[A-Z_]*\d*", text[start:]):
        return len(text)
    return start
