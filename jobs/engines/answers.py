"""A model's answer, checked before it is trusted.

An answer without a single letter or digit of its own (nothing, whitespace, Markdown marks such
as `#` or `---`, or only the contact details it was handed back as placeholders) is no rewrite:
the job fails with AI_EMPTY_RESPONSE instead of succeeding with nothing stored. An answer the
model did not say it finished ("length": its output-token limit; no finish reason at all: the
stream just ended) is stored, but marked truncated and said so in the job's final message.
"""

from __future__ import annotations

from collections.abc import Iterable

from jobs.core.errors import EmptyAnswer

FINISHED = "stop"


def require_words(text: str, contact_details: Iterable[str]) -> None:
    """Raise `EmptyAnswer` unless `text` has a letter or digit beyond the contact details that
    were restored into it."""
    rest = text
    for detail in contact_details:
        rest = rest.replace(detail, " ")
    if not any(c.isalnum() for c in rest):
        shown = f"{len(text)} characters, no words" if text.strip() else "nothing"
        raise EmptyAnswer(f"the model answered with {shown}")


def unfinished_because(finish_reason: str | None) -> str | None:
    """Why the answer may not be whole, in words for the user; None when the model finished it."""
    if finish_reason == FINISHED:
        return None
    if finish_reason == "length":
        return "the model's output limit cut the rewrite short"
    if finish_reason is None:
        return "the model's stream ended without saying the rewrite was complete"
    return f"the model stopped ({finish_reason[:40]}) without saying the rewrite was complete"
