"""Rules the schema keeps as it grows (README, "Errors")."""

from __future__ import annotations

from graphql import GraphQLNonNull

from graph.schema import schema
from graph.strawberry_private import graphql_schema


def test_every_mutation_field_is_nullable_so_a_refusal_never_hides_its_siblings():
    mutation = graphql_schema(schema).mutation_type
    assert mutation is not None
    non_null = [name for name, field in mutation.fields.items() if isinstance(field.type, GraphQLNonNull)]
    assert non_null == []
