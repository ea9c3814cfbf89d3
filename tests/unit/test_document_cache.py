"""DocumentCache: one parse per text and options, bounded, and validity remembered per text and rules."""

from __future__ import annotations

import pytest
from graphql import GraphQLSyntaxError, print_ast

from graph.bounds.document_cache import DocumentCache


def test_a_text_is_parsed_once_per_options():
    cache = DocumentCache(size=4)
    first = cache.parse("{ a }", {"max_tokens": 10})
    assert cache.parse("{ a }", {"max_tokens": 10}) is first
    assert cache.parse("{ a }", {"max_tokens": 11}) is not first
    assert print_ast(first) == "{\n  a\n}"


def test_the_token_limit_still_applies_and_a_failure_is_not_remembered():
    cache = DocumentCache(size=4)
    for _ in range(2):
        with pytest.raises(GraphQLSyntaxError):
            cache.parse("{ a b c d }", {"max_tokens": 3})


def test_the_least_recently_used_text_goes_first():
    cache = DocumentCache(size=2)
    a = cache.parse("{ a }", {})
    cache.parse("{ b }", {})
    assert cache.parse("{ a }", {}) is a  # used: now the most recent
    cache.parse("{ c }", {})  # evicts { b }
    assert cache.parse("{ a }", {}) is a
    rules = (object,)
    cache.passed("{ a }", rules)
    cache.passed("{ b }", rules)
    cache.passed("{ c }", rules)
    assert not cache.known_valid("{ a }", rules)
    assert cache.known_valid("{ c }", rules)


def test_validity_is_per_set_of_rules():
    cache = DocumentCache()
    cache.passed("{ a }", (int,))
    assert cache.known_valid("{ a }", (int,))
    assert not cache.known_valid("{ a }", (int, str))
    assert not cache.known_valid("{ b }", (int,))
