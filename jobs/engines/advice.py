"""A model's answer split into the CV and the advice written after it.

The model is asked (`SYSTEM_ROLE`) to write the CV, then a line holding only `ADVICE_MARKER`, then
its advice, a piece per line. `split_advice` passes the CV text on as it streams and turns all
that follows the marker into `Advice`: no part of the advice is ever streamed, stored or printed
as CV text. The marker may arrive cut across any number of pieces, and models decorate lines
(`## @@ADVICE@@`, `**@@ADVICE@@**`): while the current line could still become the marker's line
(decoration, then the marker's beginning) it is held back, and its decoration is dropped once the
marker completes it. Only a short line can be held, so holding back costs the stream nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from jobs.core.outputs import Usage
from jobs.engines.base import ADVICE_MARKER, Advice, Finish

_DECORATION = " \t#*_>-=`~"
_HELD_AT_MOST = 80  # characters of one line: longer, it is CV text whatever follows
_LIST_MARK = re.compile(r"^(?:[-*+\u2022]|\d{1,3}[.)])\s+")

Piece = str | Advice | Usage | Finish


def split_advice(pieces: Iterable[str | Usage | Finish]) -> Iterator[Piece]:
    """The CV text as it streams, the other pieces as they come, then the advice."""
    held = ""  # the CV's current line, while it may become the marker's line
    advice: list[str] | None = None  # what followed the marker, once it was seen
    for piece in pieces:
        if not isinstance(piece, str):
            yield piece
        elif advice is not None:
            advice.append(piece)
        else:
            held += piece
            at = held.find(ADVICE_MARKER)
            if at >= 0:
                line_start = held.rfind("\n", 0, at) + 1
                before = held[line_start:at]
                cv = held[:line_start] + (before if before.strip(_DECORATION) else "")
                if cv:
                    yield cv
                advice, held = [held[at + len(ADVICE_MARKER) :]], ""
                continue
            cut = _releasable(held)
            if cut:
                yield held[:cut]
                held = held[cut:]
    if advice is None:
        if held:
            yield held
        return
    for line in "".join(advice).split("\n"):
        text = _LIST_MARK.sub("", line.strip(_DECORATION)).strip()
        if any(c.isalnum() for c in text):
            yield Advice(text)


def _releasable(text: str) -> int:
    """How much of `text` is CV text for sure: all of it, unless its last line is short and is
    decoration followed by the marker's beginning."""
    line_start = text.rfind("\n") + 1
    line = text[line_start:]
    if len(line) > _HELD_AT_MOST:
        return len(text)
    rest = line.lstrip(_DECORATION)
    return line_start if ADVICE_MARKER.startswith(rest) else len(text)
