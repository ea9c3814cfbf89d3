"""GraphQL documents built to cost as much as the bounds allow, for the tests of the document
bounds and for bench/document_cost.py: the worst that are refused, and the worst that the cost
rule lets through to graphql-core's validation. Each fits in the default byte limit (100,000)
unless its point is not to."""

from __future__ import annotations

from collections.abc import Callable

from graphql import parse
from graphql.language import Lexer, Source, TokenKind

from graph.schema import BOUNDS, INTROSPECTION

MAX_BYTES = 100_000


def diamond(levels: int) -> str:
    """Fragments that double at every level: 2^levels fields in a few hundred bytes."""
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    return "query { ...F0 }\n" + "\n".join(fragments) + f"\nfragment F{levels} on Query {{ __typename }}"


def _most(build: Callable[[int], str], fits: Callable[[str], bool]) -> str:
    """The largest build(n) that fits, by doubling then bisecting n."""
    low, high = 1, 2
    while fits(build(high)):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(build(middle)) else (low, middle)
    return build(low)


def _tokens(document: str) -> int:
    lexer, count = Lexer(Source(document)), 0
    while lexer.advance().kind != TokenKind.EOF:
        count += 1
    return count


def _fits(document: str) -> bool:
    return len(document.encode()) <= MAX_BYTES and _tokens(document) <= BOUNDS.max_tokens


def _accepted(document: str) -> bool:
    """Within every bound, the cost rule's included."""
    return _fits(document) and BOUNDS.cost_refusal(parse(document)) is None


def _repeated(times: int, selection: str) -> str:
    return " ".join([selection] * times)


def _repeated_field(times: int) -> str:
    return "{ " + _repeated(times, "me { id plan }") + " }"


def _spreads(count: int, fragment: Callable[[int], str]) -> str:
    spreads = " ".join(f"...F{i}" for i in range(count))
    definitions = "\n".join(f"fragment F{i} on Query {{ {fragment(i)} }}" for i in range(count))
    return "{ " + spreads + " }\n" + definitions


def _chain(links: int) -> str:
    fragments = "\n".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(links))
    return "{ ...F0 }\n" + fragments + f"\nfragment F{links} on Query {{ __typename }}"


def _operations(count: int) -> str:
    return "\n".join(f"query Q{i} {{ __typename }}" for i in range(count))


def aliased_introspection(aliases: int) -> str:
    """Every type's fields, with their types' fields three ofTypes deep, `aliases` times: what
    held an API process for 0.6 s at 30 aliases (graph/bounds/introspection_cost.py)."""
    inner = "name type { name }"
    chain = f"fields {{ {inner} }} ofType {{ fields {{ {inner} }} ofType {{ fields {{ {inner} }} }} }}"
    one = f"__schema {{ types {{ fields {{ type {{ {chain} }} }} }} }}"
    return "{ " + " ".join(f"a{i}: {one}" for i in range(aliases)) + " }"


def _introspection_fits(document: str) -> bool:
    return _accepted(document) and INTROSPECTION.refusal(parse(document)) is None


def refused_documents() -> dict[str, str]:
    """The worst documents of each kind that the bounds refuse, named."""
    fits = _fits
    return {
        "diamond, 30 levels": diamond(30),
        "diamond, as many levels as fit": _most(diamond, fits),
        "wide aliases": _most(lambda n: "{ " + " ".join(f"a{i}: __typename" for i in range(n)) + " }", fits),
        "one field repeated": _most(lambda n: "{ " + _repeated(n, "__typename") + " }", fits),
        "a field with selections repeated": _most(_repeated_field, fits),
        "deep nesting": _most(lambda n: "{ " + "me { " * n + "id" + " }" * n + " }", fits),
        "nested list literal": _most(lambda n: "{ job(id: " + "[ " * n + "] " * n + ") { id } }", fits),
        "a chain of fragments, as long as fits": _most(_chain, fits),
        "many operations": _most(_operations, fits),
        "tokens past the limit": "{ " + "__typename " * (BOUNDS.max_tokens + 1) + "}",
        "comments past the limit": "#\n" * (MAX_BYTES // 2 - 20) + "{ __typename }",
        "one byte over the byte limit": "{ __typename }" + "#" + "x" * (MAX_BYTES - 14),
        "introspection of every type's fields, 30 aliases": aliased_introspection(30),
    }


def accepted_documents() -> dict[str, str]:
    """The worst documents of each kind that the cost rule lets through to graphql-core."""
    ok = _accepted
    nested = "__schema { " + _repeated(8, "types { " + _repeated(8, "name") + " }") + " }"
    distinct = "__schema {{ description types {{ name }} }}"
    return {
        "one field repeated": _most(lambda n: "{ " + _repeated(n, "__typename") + " }", ok),
        "a field with selections repeated": _most(_repeated_field, ok),
        "repeated fields in repeated fields": _most(lambda n: "{ " + _repeated(n, nested) + " }", ok),
        "the most fields, aliased": _most(
            lambda n: "{ " + " ".join(f"a{i}: " + distinct.format() for i in range(n)) + " }", ok
        ),
        "many fragments spread once each": _most(lambda n: _spreads(n, lambda i: "__typename"), ok),
        "many fragments, aliased": _most(lambda n: _spreads(n, lambda i: f"a{i % 30}: __typename"), ok),
        "a chain of fragments": _most(_chain, ok),
        "many operations": _most(_operations, ok),
        "many variables": _most(
            lambda n: "query(" + " ".join(f"$v{i}: Int" for i in range(n)) + ") { __typename }", ok
        ),
        "a long string argument": '{ job(id: "' + "x" * (MAX_BYTES - 40) + '") { id } }',
        "the most introspection allowed": _most(aliased_introspection, _introspection_fits),
    }
