"""jobs/engines/advice.py: a model's answer split into CV text and advice, however it is cut."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jobs.core.outputs import Usage
from jobs.engines.advice import split_advice
from jobs.engines.base import ADVICE_MARKER, Advice, Finish

CV = "# Jane Doe\n\n## Experience\n\n- Led billing at **Acme**\n- @@ is not the marker\n@@ADV alone neither\n"
ADVICE = "- Check the 30% figure.\n\n1. Add *Kubernetes* only if true\n"


def _split(pieces: list[str | Usage | Finish]) -> tuple[str, list[Advice], list[Usage | Finish]]:
    out = list(split_advice(pieces))
    text = "".join(p for p in out if isinstance(p, str))
    return text, [p for p in out if isinstance(p, Advice)], [p for p in out if isinstance(p, Usage | Finish)]


def _cuts(text: str, size: int) -> list[str | Usage | Finish]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@pytest.mark.parametrize("marker_line", [ADVICE_MARKER, f"## {ADVICE_MARKER}", f"**{ADVICE_MARKER}**  "])
def test_the_marker_cut_anywhere_leaves_the_cv_exact_and_the_advice_apart(marker_line: str):
    answer = f"{CV}\n{marker_line}\n{ADVICE}"
    expected = [Advice("Check the 30% figure."), Advice("Add *Kubernetes* only if true")]
    for size in range(1, len(answer) + 1):
        assert _split(_cuts(answer, size)) == (CV + "\n", expected, []), size
    for cut in range(len(answer) + 1):
        assert _split([answer[:cut], answer[cut:]]) == (CV + "\n", expected, []), cut


def test_without_a_marker_the_answer_is_all_cv_even_ending_like_its_beginning():
    for tail in ("", "@", "@@ADVI", "## @@ADVICE@"):
        answer = CV + tail
        assert _split(_cuts(answer, 1)) == (answer, [], [])


def test_usage_and_finish_pass_through_on_either_side_of_the_marker():
    usage, finish = Usage(1, 2, 3), Finish("stop")
    text, advice, others = _split([CV, usage, ADVICE_MARKER, "\n- one", finish, "\n- two\n", usage])
    assert (text, advice, others) == (CV, [Advice("one"), Advice("two")], [usage, finish, usage])


def test_cv_text_streams_on_and_only_a_short_line_is_ever_held_back() -> None:
    consumed: list[str] = []

    def chunks() -> Iterator[str]:
        for piece in _cuts(CV * 50 + "x" * 500, 3):
            assert isinstance(piece, str)
            consumed.append(piece)
            yield piece

    released = 0
    for piece in split_advice(chunks()):
        assert isinstance(piece, str)
        released += len(piece)
        assert sum(map(len, consumed)) - released <= 80 + 3
    assert released == len(CV) * 50 + 500
