"""Readability: the Flesch reading ease of the CV's prose, bullets counted as sentences."""

from __future__ import annotations

import re

_SENTENCES = re.compile(r"[.!?]+(?:\s|$)|\n+")
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_VOWEL_GROUPS = re.compile(r"[aeiouy]+")


def syllables(word: str) -> int:
    """Vowel groups, less a silent final 'e' ("make"), never fewer than one."""
    lower = word.lower()
    count = len(_VOWEL_GROUPS.findall(lower))
    if lower.endswith("e") and not lower.endswith(("le", "ee")) and count > 1:
        count -= 1
    return max(count, 1)


def flesch_reading_ease(text: str) -> float:
    """206.835 - 1.015 (words / sentences) - 84.6 (syllables / words), on 0..100; 0 without words."""
    sentences = [s for s in _SENTENCES.split(text) if _WORD.search(s)]
    words = _WORD.findall(text)
    if not words:
        return 0.0
    score = 206.835 - 1.015 * (len(words) / len(sentences)) - 84.6 * (sum(map(syllables, words)) / len(words))
    return round(min(max(score, 0.0), 100.0), 1)


def label(score: float) -> str:
    if score >= 60:
        return "easy"
    if score >= 30:
        return "standard"
    return "difficult"
