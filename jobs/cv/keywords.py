"""Keyword extraction and whole-word matching that keeps tokens such as `c++`, `c#`, `node.js`."""

from __future__ import annotations

import re
from collections import Counter

# A token starts with a letter or digit (or '.' for `.net`) and may contain + # . - / inside;
# trailing punctuation is trimmed so "Python," and "Python." match "python".
_TOKEN = re.compile(r"\.?[a-z0-9][a-z0-9+#./-]*", re.IGNORECASE)

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "etc",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "job",
        "join",
        "like",
        "me",
        "more",
        "most",
        "must",
        "my",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "out",
        "over",
        "own",
        "per",
        "plus",
        "role",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "via",
        "was",
        "we",
        "well",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "within",
        "without",
        "would",
        "you",
        "your",
        "yours",
        "team",
        "teams",
        "work",
        "working",
        "years",
        "year",
        "experience",
        "experienced",
        "strong",
        "good",
        "great",
        "excellent",
        "ability",
        "able",
        "looking",
        "seeking",
        "candidate",
        "candidates",
        "need",
        "needs",
        "want",
        "wants",
        "first",
        "responsibilities",
        "requirements",
        "required",
        "preferred",
        "including",
        "include",
        "includes",
        "new",
        "using",
        "use",
        "used",
        "across",
        "based",
        "skills",
        "knowledge",
        "understanding",
        "company",
        "help",
        "ensure",
        "hiring",
        "hire",
        "matter",
        "matters",
        "daily",
    ]
)


def tokens(text: str) -> list[str]:
    found = (m.group(0).lower().rstrip(".-/") for m in _TOKEN.finditer(text))
    return [t for t in found if t]


def top_keywords(text: str, limit: int = 15) -> list[str]:
    """The most frequent meaningful terms, ties broken by first appearance (deterministic)."""
    terms = [t for t in tokens(text) if t not in STOPWORDS and len(t) > 1 and not t.isdigit()]
    counts = Counter(terms)
    first_seen = {t: i for i, t in reversed(list(enumerate(terms)))}
    return sorted(counts, key=lambda t: (-counts[t], first_seen[t]))[:limit]


def find_word(text: str, term: str) -> str | None:
    """The term as spelled in `text` ("PostgreSQL" for "postgresql"), or None when absent."""
    pattern = rf"(?<![a-z0-9+#]){re.escape(term)}(?![a-z0-9+#])"
    found = re.search(pattern, text, re.IGNORECASE)
    return found.group(0) if found else None


def contains_word(text: str, term: str) -> bool:
    return find_word(text, term) is not None


def word_count(text: str) -> int:
    """Words as a reader counts them: separators such as "-" and "|" are not words."""
    return sum(1 for w in text.split() if any(c.isalnum() for c in w))
