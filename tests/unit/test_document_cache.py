"""DocumentCache: an accepted text is parsed and validated once per options and rules; a refused one
leaves nothing behind; what it holds is bounded in bytes whatever the texts."""

from __future__ import annotations

import pytest
from graphql import GraphQLSyntaxError, print_ast

from graph.bounds.document_cache import LARGEST_SHARE, WORST_BYTES_PER_CHAR, DocumentCache

RULES = (object,)


def accept(cache: DocumentCache, query: str, options: dict[str, int] | None = None) -> object:
    options = options or {}
    document = cache.parse(query, options)
    cache.passed(query, RULES, document, options)
    return document


def test_an_accepted_text_is_parsed_once_per_options():
    cache = DocumentCache()
    first = accept(cache, "{ a }", {"max_tokens": 10})
    assert cache.parse("{ a }", {"max_tokens": 10}) is first
    assert cache.parse("{ a }", {"max_tokens": 11}) is not first
    assert print_ast(first) == "{\n  a\n}"
    assert cache.known_valid("{ a }", RULES)


def test_a_refused_text_is_not_kept():
    # Parsed, then refused (its cost, introspection, validation): `passed` is never called.
    cache = DocumentCache()
    first = cache.parse("{ a }", {})
    assert cache.parse("{ a }", {}) is not first
    assert cache.charged == 0 and not cache.known_valid("{ a }", RULES)


def test_the_token_limit_still_applies_and_a_failure_is_not_remembered():
    cache = DocumentCache()
    for _ in range(2):
        with pytest.raises(GraphQLSyntaxError):
            cache.parse("{ a b c d }", {"max_tokens": 3})
    assert cache.charged == 0


def test_what_it_holds_is_bounded_in_bytes_least_recently_used_first_out():
    texts = [f"{{ f{i:02d} }}" for i in range(LARGEST_SHARE + 1)]  # of one length each
    budget = LARGEST_SHARE * len(texts[0]) * WORST_BYTES_PER_CHAR  # room for LARGEST_SHARE of them
    cache = DocumentCache(budget=budget)
    kept = [accept(cache, t) for t in texts[:-1]]
    assert cache.parse(texts[0], {}) is kept[0]  # used: now the most recent
    accept(cache, texts[-1])  # over the budget: the least recently used (texts[1]) goes
    assert cache.charged <= budget
    assert not cache.known_valid(texts[1], RULES)
    assert all(cache.known_valid(t, RULES) for t in [texts[0], *texts[2:]])


def test_a_text_too_large_for_its_share_is_parsed_each_time():
    cache = DocumentCache(budget=LARGEST_SHARE * 100 * WORST_BYTES_PER_CHAR)
    large = "{ " + "a " * 60 + "}"  # over 100 characters
    accept(cache, large)
    assert cache.charged == 0 and not cache.known_valid(large, RULES)


def test_validity_is_per_set_of_rules():
    cache = DocumentCache()
    document = cache.parse("{ a }", {})
    cache.passed("{ a }", (int,), document, {})
    assert cache.known_valid("{ a }", (int,))
    assert not cache.known_valid("{ a }", (int, str))
    assert not cache.known_valid("{ b }", (int,))
