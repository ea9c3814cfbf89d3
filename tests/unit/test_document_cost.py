"""What a document costs once its fragments are expanded (graph/bounds/document_cost.py), refused before
graphql-core's validation rules ever see it."""

from __future__ import annotations

from dataclasses import replace

from graphql import parse

from graph.bounds.document_cost import FRAGMENT_PAIR, VALIDATION_FAILED, CostLimits, cost_refusal

ROOMY = CostLimits(
    max_depth=100, max_aliases=100, max_fields=10**12, max_comparisons=10**12, max_operations=10
)


def _refusal(document: str, **limits: int) -> str | None:
    error = cost_refusal(parse(document), replace(ROOMY, **limits))
    if error is None:
        return None
    assert error.extensions == {"code": VALIDATION_FAILED}
    return error.message


def _diamond(levels: int) -> str:
    """F0 spreads F1 twice (under two fields), F1 spreads F2 twice, ...: 2^levels paths."""
    fragments = " ".join(
        f"fragment F{i} on T {{ a {{ ...F{i + 1} }} b {{ ...F{i + 1} }} }}" for i in range(levels)
    )
    return f"query {{ ...F0 }} {fragments} fragment F{levels} on T {{ x }}"


def test_a_plain_document_within_every_bound_passes():
    assert _refusal("query Q { job(id: 1) { state events { seq } } }", max_depth=2, max_fields=5) is None


def test_depth_counts_fields_with_selections_and_not_introspection():
    assert _refusal("{ a { b { c { d } } } }", max_depth=3) is None
    assert _refusal("{ a { b { c { d { e } } } } }", max_depth=3) == (
        "'anonymous' exceeds maximum operation depth of 3"
    )
    assert _refusal("query Deep { a { b { c { d { e } } } } }", max_depth=3) == (
        "'Deep' exceeds maximum operation depth of 3"
    )
    assert _refusal("{ a { b { __type { fields { name } } } } }", max_depth=2) is None


def test_aliases_are_counted_over_all_operations_and_in_each_fragment():
    assert _refusal("query A { x: a } query B { y: a }", max_aliases=2) is None
    assert _refusal("query A { x: a } query B { y: a z: a }", max_aliases=2) == "3 aliases found. Allowed: 2"
    assert _refusal("fragment F on T { x: a y: a z: a } { b }", max_aliases=2) == (
        "3 aliases found in fragment 'F'. Allowed: 2"
    )
    assert _refusal("fragment F on T { x: a } { ...F p { ...F } q { ...F } }", max_aliases=2) == (
        "3 aliases found. Allowed: 2"  # counted with fragments expanded
    )


def test_operations_are_counted():
    assert _refusal("{ a } { b }", max_operations=2) is None
    assert _refusal("{ a } { b } { c }", max_operations=2) == "3 operations found. Allowed: 2"


def test_a_diamond_of_fragments_is_measured_once_per_fragment():
    # 2^30 paths, counted exactly without walking them: F30 is one field, Fi is 2 (1 + F(i+1)).
    assert _refusal(_diamond(30), max_fields=10**6) == (
        "The document selects 3221225470 fields once its fragments are expanded; at most 1000000 are allowed."
    )
    assert _refusal(_diamond(3), max_fields=22) is None  # 2 * (1 + 2 * (1 + 2 * (1 + 1))) = 22
    assert _refusal(_diamond(3), max_fields=21) is not None


def test_fields_sharing_a_response_name_cost_the_product_of_their_sizes():
    twice = "{ a { b c d e f g h i j k } a { b c d e f g h i j k } }"  # two fields of 11: 121
    assert _refusal(twice, max_comparisons=121) is None
    assert _refusal(twice, max_comparisons=120) == (
        "Checking that the fields sharing a response name can merge would take more than 120 comparisons."
    )


def test_two_fragments_spread_side_by_side_are_a_pair_to_compare():
    document = "fragment A on T { x } fragment B on T { y } { ...A ...B }"
    cost = FRAGMENT_PAIR + 1 + 1  # and the response names of the two
    assert _refusal(document, max_comparisons=cost) is None
    assert _refusal(document, max_comparisons=cost - 1) is not None


def test_fragments_spread_in_a_cycle_are_refused_and_unknown_ones_left_to_graphql():
    assert _refusal("fragment F on T { ...G } fragment G on T { ...F } { ...F }") == (
        "Cannot spread fragment 'F' within itself."
    )
    assert _refusal("{ ...Missing a }") is None  # KnownFragmentNamesRule reports it


def test_a_chain_of_a_thousand_fragments_does_not_exhaust_the_stack():
    chain = " ".join(f"fragment F{i} on T {{ a{i}: x ...F{i + 1} }}" for i in range(1000))
    assert _refusal(f"{{ ...F0 }} {chain} fragment F1000 on T {{ y }}", max_aliases=999) == (
        "1000 aliases found in fragment 'F0'. Allowed: 999"
    )
