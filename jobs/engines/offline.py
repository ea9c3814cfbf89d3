"""The offline engine: a deterministic rewrite of the CV, no model and no network.

What it does: recognises common section headings and emits them as Markdown `##` sections in a
conventional order; turns any bullet style into `- ` bullets; tightens wording (weak openers such
as "responsible for" become action verbs, filler words go); writes or prefixes a summary aimed at
the target position using only terms that already appear in the CV; moves skills that the job
description asks for to the front of the skills list. Apart from the CV, as advice for the
candidate (stored with the response, never in its text or PDF), it lists the job description's
key terms the CV lacks. What it does not do: invent facts, follow free-form instructions,
or rephrase sentences beyond those rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from jobs.core.outputs import Usage
from jobs.cv.keywords import contains_word, find_word, top_keywords
from jobs.engines.base import Advice, Finish, ImproveRequest

SECTION_ALIASES = {
    "Summary": ("summary", "profile", "professional summary", "about", "about me", "objective"),
    "Experience": (
        "experience",
        "work experience",
        "professional experience",
        "employment",
        "employment history",
        "work history",
        "career history",
    ),
    "Projects": ("projects", "personal projects", "selected projects"),
    "Skills": ("skills", "technical skills", "core competencies", "competencies", "key skills"),
    "Education": ("education", "academic background", "qualifications"),
    "Certifications": ("certifications", "certificates", "licenses"),
    "Languages": ("languages",),
    "Achievements": ("achievements", "awards", "honours", "honors"),
}
SECTION_ORDER = list(SECTION_ALIASES)
_HEADING_TO_SECTION = {alias: name for name, aliases in SECTION_ALIASES.items() for alias in aliases}

WEAK_OPENERS = (
    (r"responsible for (leading|managing)", r"Led"),
    (r"(was )?responsible for", "Owned"),
    (r"(was )?in charge of", "Led"),
    (r"worked on", "Delivered"),
    (r"helped (with|to)", "Contributed to"),
    (r"(was )?involved in", "Contributed to"),
    (r"participated in", "Contributed to"),
    (r"tasked with", "Handled"),
)
REPHRASINGS = (
    (r"\bin order to\b", "to"),
    (r"\butiliz(e|ed|ing)\b", lambda m: {"e": "use", "ed": "used", "ing": "using"}[m.group(1)]),
    (r"\ba number of\b", "several"),
    (r"\bdue to the fact that\b", "because"),
    (r"\b(very|really|basically|actually|quite) ", ""),
)
BULLET = re.compile(r"^\s*(?:[-*•·▪‣◦○\u2013]|\d+[.)])\s+")  # \u2013: en dash


@dataclass
class Section:
    title: str
    lines: list[str] = field(default_factory=list)


class OfflineEngine:
    model = "offline-rewriter-1"

    def stream(self, request: ImproveRequest) -> Iterator[str | Advice | Usage | Finish]:
        yield from rewrite(request).splitlines(keepends=True)
        yield from (Advice(text) for text in advice(request))
        yield Finish("stop")


@dataclass(frozen=True, slots=True)
class Terms:
    """The job's key terms: those the CV shows (in its own spelling) and those it lacks."""

    present: list[str]
    missing: list[str]

    @classmethod
    def of(cls, request: ImproveRequest) -> Terms:
        keywords = top_keywords(f"{request.position}\n{request.job_description or ''}")
        spelled = {k: find_word(request.cv_text, k) for k in keywords}
        missing = [k for k, word in spelled.items() if not word]
        return cls([word for word in spelled.values() if word], missing)


def advice(request: ImproveRequest) -> list[str]:
    """What the candidate may add, for them to judge: never part of the CV they send."""
    missing = Terms.of(request).missing
    if not missing:
        return []
    return [
        "Terms from the job description that the CV does not show yet; add them only where they "
        "are true: " + ", ".join(missing) + "."
    ]


def rewrite(request: ImproveRequest) -> str:
    """The CV as the candidate may send it."""
    header, sections = parse_sections(request.cv_text)
    present = Terms.of(request).present
    out: list[str] = render_header(header)
    by_title = {s.title: s for s in sections}
    summary = by_title.pop("Summary", None)
    out += ["## Summary", "", summary_text(summary, request.position, present), ""]
    ordered = [by_title.pop(t) for t in SECTION_ORDER if t in by_title]
    for section in ordered + list(by_title.values()):
        body = reorder_skills(section.lines, present) if section.title == "Skills" else section.lines
        out += [f"## {section.title}", "", *render_lines(body), ""]
    return "\n".join(out).rstrip() + "\n"


def parse_sections(text: str) -> tuple[list[str], list[Section]]:
    header: list[str] = []
    sections: list[Section] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.strip()
        title = heading_title(line)
        if title is not None:
            sections.append(Section(title))
        elif sections:
            sections[-1].lines.append(line)
        elif line:
            header.append(line)
    return header, sections


def heading_title(line: str) -> str | None:
    bare = line.lstrip("#").strip().rstrip(":").strip()
    if not bare or len(bare) > 40:
        return None
    known = _HEADING_TO_SECTION.get(bare.lower())
    if known:
        return known
    # An unknown all-caps line ("VOLUNTEERING") is a heading too; keep its name, title-cased.
    if line.startswith("#") or (bare.isupper() and bare.replace(" ", "").isalpha() and len(bare) > 3):
        return bare.title()
    return None


def render_header(header: list[str]) -> list[str]:
    if not header:
        return []
    lines = [f"# {header[0]}", ""]
    if len(header) > 1:
        lines += [" | ".join(header[1:]), ""]
    return lines


def summary_text(summary: Section | None, position: str, present: list[str]) -> str:
    existing = " ".join(tighten(line) for line in (summary.lines if summary else []) if line)
    if existing:
        if contains_word(existing, position):
            return existing
        return f"Targeting the {position} role. {existing}"
    if present:
        return f"{position} candidate with hands-on experience in {', '.join(present[:6])}."
    return f"Candidate for the {position} role."


def render_lines(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if not line:
            if out and out[-1]:
                out.append("")
            continue
        bullet = BULLET.match(line)
        out.append(f"- {tighten(line[bullet.end() :])}" if bullet else tighten(line))
    while out and not out[-1]:
        out.pop()
    return out


def tighten(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    for pattern, verb in WEAK_OPENERS:
        text, count = re.subn(rf"^{pattern}\b", verb, text, flags=re.IGNORECASE)
        if count:
            break
    for pattern, replacement in REPHRASINGS:
        text = re.sub(pattern, replacement, text, flags=re.IGNORECASE)
    text = text.rstrip(".").strip()
    return text[:1].upper() + text[1:]


def reorder_skills(lines: list[str], present: list[str]) -> list[str]:
    """Put the skills that the job description asks for first, keeping the rest in order."""
    out = []
    for line in lines:
        items = [i.strip() for i in re.split(r"[,;|]", BULLET.sub("", line)) if i.strip()]
        if len(items) < 3:
            out.append(line)
            continue
        wanted = [i for i in items if any(contains_word(i, k) for k in present)]
        out.append(", ".join(wanted + [i for i in items if i not in wanted]))
    return out
