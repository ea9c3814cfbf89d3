"""The truthfulness check: numbers, employers and job titles that a rewrite states and the source
CV does not contain, so the user sees what a model may have invented before sending it.

Numbers are compared by value ("2M" and "2 million", "1,200" and "1200" are the same). Employers
and titles are read from the rewrite's role lines ("Acme - Senior Engineer (2019-2024)",
"Senior Engineer at Acme", "**Engineer** | Acme"): each part that is a name is looked up in the
source, and a part naming a role (engineer, manager, ...) is a title, any other an employer.
"""

from __future__ import annotations

import re

from jobs.core.outputs import Claim

_NUMBER = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)*)\s*(%|k|m|bn|million|billion|thousand)?(?![\w])", re.I)
_SCALE = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9, "%": 1.0}
_ROLE_LINE_SPLIT = re.compile("\\s+(?:[-\u2013\u2014|@]|at)\\s+|\\s*[|,]\\s*")
_DATES = re.compile(r"\(?\b(?:\d{4}|present|now|current)\b.*$", re.I)
# fmt: off
ROLE_WORDS = frozenset({
    "engineer", "developer", "manager", "lead", "director", "analyst", "designer", "consultant",
    "architect", "scientist", "officer", "head", "intern", "specialist", "administrator",
    "programmer", "tester", "coordinator", "owner", "founder", "cto", "ceo", "cfo", "vp",
    "president", "associate", "principal", "staff", "researcher", "editor", "writer", "accountant",
    "nurse", "teacher",
})
# fmt: on


def unverified_claims(source: str, rewrite: str) -> list[Claim]:
    claims = [Claim("NUMBER", shown) for shown in _new_numbers(source, rewrite)]
    source_norm = _norm(source)
    seen: set[str] = set()
    for line in _role_lines(rewrite):
        for part in _ROLE_LINE_SPLIT.split(_DATES.sub("", line)):
            name = part.strip(" *_#:()[]").strip()
            if not _is_name(name) or name.lower() in seen or _norm(name) in source_norm:
                continue
            seen.add(name.lower())
            kind = "TITLE" if set(re.findall(r"[a-z]+", name.lower())) & ROLE_WORDS else "EMPLOYER"
            claims.append(Claim(kind, name))
    return claims


def _new_numbers(source: str, rewrite: str) -> list[str]:
    known = {value for value, _ in _numbers(source)}
    out: list[str] = []
    for value, shown in _numbers(rewrite):
        if value not in known and shown not in out:
            out.append(shown)
    return out


def _numbers(text: str) -> list[tuple[float, str]]:
    found = []
    for match in _NUMBER.finditer(text):
        digits, unit = match.group(1), (match.group(2) or "").lower()
        try:
            value = float(digits.replace(",", "")) * _SCALE.get(unit, 1.0)
        except ValueError:
            continue
        found.append((value, match.group(0).strip()))
    return found


def _role_lines(markdown: str) -> list[str]:
    """Lines that head a role: not bullets, not prose; in a section about experience if there is one."""
    lines, in_experience, has_sections = [], False, False
    for raw in markdown.splitlines():
        line = raw.strip()
        if line.startswith("## "):
            has_sections = True
            in_experience = any(w in line.lower() for w in ("experience", "employment", "work", "career"))
            continue
        if (in_experience or not has_sections) and _looks_like_role(line):
            lines.append(line.lstrip("#").strip())
    return lines


def _looks_like_role(line: str) -> bool:
    if not line or line.startswith(("-", "*", "•")) or line.endswith(".") or len(line) > 120:
        return False
    return bool(_ROLE_LINE_SPLIT.search(line)) or line.startswith("###")


def _is_name(part: str) -> bool:
    words = part.split()
    return 0 < len(words) <= 6 and part[:1].isupper() and not part.replace(" ", "").isdigit()


def _norm(text: str) -> str:
    return re.sub(r"[\s*_]+", " ", text).lower()
