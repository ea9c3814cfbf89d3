"""C10: what one operation may load is bounded, whatever the data multiplies it by.

`AIResponse.questionnaire` and `Questionnaire.responses` refer to each other: nested within the
depth limit, a short query multiplies its loads by the number of responses at each level. An API
with a small budget (GRAPHQL_MAX_LOADED_OBJECTS) answers such a query with QUERY_TOO_COMPLEX
after loading at most its budget, while a query within it is answered whole.
"""

from __future__ import annotations

import pytest

from tests.samples import CV
from tests.support.gql import (
    GraphQLErrors,
    create_questionnaire,
    execute,
    improve_from_questionnaire,
    stream_of,
)

BUDGET = 30
NESTED = """query($q: ID!) { questionnaire(id: $q) { responses { questionnaire { responses {
  questionnaire { responses { questionnaire { responses { id } } } } } } } } }"""
FLAT = "query($q: ID!) { questionnaire(id: $q) { resume { id } responses { id questionnaire { id } } } }"


async def test_nested_back_references_stop_at_the_budget(offline_stack, own_caller):
    small = await offline_stack.add_api("small-budget", GRAPHQL_MAX_LOADED_OBJECTS=str(BUDGET))
    questionnaire = await create_questionnaire(offline_stack.http)
    for _ in range(4):
        job = await improve_from_questionnaire(offline_stack.http, questionnaire["id"], cvText=CV)
        assert (await stream_of(offline_stack.ws, job["id"]))[-1]["state"] == "SUCCEEDED"
    variables = {"q": questionnaire["id"]}

    # 4 responses, each with its questionnaire: 8 loads, well within the budget.
    flat = (await execute(small.http_url, FLAT, variables))["questionnaire"]
    assert len(flat["responses"]) == 4
    assert {r["questionnaire"]["id"] for r in flat["responses"]} == {questionnaire["id"]}

    # 4 + 4x4 + 4x4x4 + ... loads: refused once past 30, with a code and nothing else.
    with pytest.raises(GraphQLErrors) as refused:
        await execute(small.http_url, NESTED, variables)
    assert set(refused.value.codes) == {"QUERY_TOO_COMPLEX"}
    assert refused.value.errors[0]["extensions"]["limit"] == BUDGET

    # The default budget answers the same query whole (340 loads).
    nested = await execute(offline_stack.http, NESTED, variables)
    assert len(nested["questionnaire"]["responses"]) == 4
