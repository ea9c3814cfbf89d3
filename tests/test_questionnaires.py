"""Questionnaires over GraphQL: every mutation and query, the limits, HTML stripping, pagination."""

from __future__ import annotations

import pytest

from tests.support.gql import (
    QUESTIONNAIRE_FIELDS,
    QUESTIONNAIRE_INPUT,
    GraphQLErrors,
    create_questionnaire,
    execute,
)

UNKNOWN = "0d8a3a8e-7f43-4c59-9d4d-6c4b2f3c0a11"
GET = "query($id: ID!) { questionnaire(id: $id) { " + QUESTIONNAIRE_FIELDS + " } }"
UPDATE = (
    "mutation($id: ID!, $input: QuestionnaireUpdate!) { updateQuestionnaire(id: $id, input: $input) { "
    + QUESTIONNAIRE_FIELDS
    + " } }"
)
DELETE = "mutation($id: ID!) { deleteQuestionnaire(id: $id) }"
PAGE = (
    "query($first: Int!, $after: String) { questionnaires(first: $first, after: $after) { "
    "edges { cursor node { id position } } pageInfo { hasNextPage endCursor } } }"
)


async def test_create_and_read_a_questionnaire(offline_stack):
    created = await create_questionnaire(offline_stack.http)
    assert created["position"] == "Senior Python Engineer"
    assert created["experienceLevel"] == "YEARS_6_PLUS" and created["applicationTimeline"] == "MONTHS_1_3"
    assert created["submittedAt"] == created["updatedAt"]
    read = (await execute(offline_stack.http, GET, {"id": created["id"]}))["questionnaire"]
    assert read == created


async def test_html_is_stripped_from_text_fields(offline_stack):
    created = await create_questionnaire(
        offline_stack.http,
        position="<b>Senior</b> Engineer<script>alert(1)</script>",
        industry="Fin&amp;tech <img src=x onerror=alert(1)>",
        jobDescription="<p>Python</p>\n<ul><li>Django</li></ul>",
    )
    assert created["position"] == "Senior Engineer"
    assert created["industry"] == "Fin&tech"
    assert created["jobDescription"] == "Python\nDjango"


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"position": ""}, "BAD_USER_INPUT", "position"),
        ({"position": "<i></i>  "}, "BAD_USER_INPUT", "position"),
        ({"position": "p" * 256}, "INPUT_TOO_LONG", "position"),
        ({"industry": "i" * 256}, "INPUT_TOO_LONG", "industry"),
        ({"industry": " "}, "BAD_USER_INPUT", "industry"),
        ({"location": "l" * 256}, "INPUT_TOO_LONG", "location"),
        ({"jobDescription": "j" * 5001}, "INPUT_TOO_LONG", "jobDescription"),
    ],
)
async def test_each_limit_is_a_typed_field_named_error(
    offline_stack, redis, own_caller, overrides, code, field
):
    before = await redis.zcard(f"t-offline:user:{own_caller}:qs")
    with pytest.raises(GraphQLErrors) as error:
        await create_questionnaire(offline_stack.http, **overrides)
    assert error.value.codes == [code]
    assert error.value.errors[0]["extensions"]["field"] == field
    assert await redis.zcard(f"t-offline:user:{own_caller}:qs") == before


async def test_limits_count_after_html_is_stripped(offline_stack):
    created = await create_questionnaire(offline_stack.http, position=f"<b>{'p' * 255}</b>")
    assert created["position"] == "p" * 255


async def test_every_violation_is_listed_at_once(offline_stack):
    with pytest.raises(GraphQLErrors) as error:
        await create_questionnaire(offline_stack.http, position="p" * 300, industry="", location="l" * 300)
    extensions = error.value.errors[0]["extensions"]
    assert [(v["field"], v["code"]) for v in extensions["violations"]] == [
        ("position", "INPUT_TOO_LONG"),
        ("industry", "BAD_USER_INPUT"),
        ("location", "INPUT_TOO_LONG"),
    ]


async def test_an_unknown_enum_value_is_refused_by_the_schema(offline_stack):
    with pytest.raises(GraphQLErrors) as error:
        await create_questionnaire(offline_stack.http, companySize="HUGE")
    assert "CompanySize" in error.value.errors[0]["message"]


async def test_update_changes_only_the_given_fields_and_null_clears_optional_ones(offline_stack):
    created = await create_questionnaire(offline_stack.http)
    updated = (
        await execute(
            offline_stack.http,
            UPDATE,
            {"id": created["id"], "input": {"industry": "Banking", "location": None}},
        )
    )["updateQuestionnaire"]
    assert updated["industry"] == "Banking" and updated["location"] is None
    assert updated["position"] == created["position"]
    assert updated["jobDescription"] == QUESTIONNAIRE_INPUT["jobDescription"]
    assert updated["updatedAt"] > created["updatedAt"] and updated["submittedAt"] == created["submittedAt"]
    with pytest.raises(GraphQLErrors) as cleared:
        await execute(offline_stack.http, UPDATE, {"id": created["id"], "input": {"position": None}})
    assert cleared.value.codes == ["BAD_USER_INPUT"]
    with pytest.raises(GraphQLErrors) as too_long:
        await execute(offline_stack.http, UPDATE, {"id": created["id"], "input": {"industry": "x" * 256}})
    assert too_long.value.codes == ["INPUT_TOO_LONG"]
    assert (await execute(offline_stack.http, GET, {"id": created["id"]}))["questionnaire"] == updated


async def test_pages_are_newest_first_with_cursors(offline_stack):
    ids = [(await create_questionnaire(offline_stack.http, position=f"Role {i}"))["id"] for i in range(5)]
    first = (await execute(offline_stack.http, PAGE, {"first": 2}))["questionnaires"]
    assert [e["node"]["id"] for e in first["edges"]] == ids[::-1][:2]
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["endCursor"] == first["edges"][-1]["cursor"]
    second = (await execute(offline_stack.http, PAGE, {"first": 3, "after": first["pageInfo"]["endCursor"]}))[
        "questionnaires"
    ]
    assert [e["node"]["id"] for e in second["edges"]] == ids[::-1][2:5]
    for bad in ({"first": 0}, {"first": 101}, {"first": 2, "after": "not a cursor"}):
        with pytest.raises(GraphQLErrors) as error:
            await execute(offline_stack.http, PAGE, bad)
        assert error.value.codes == ["BAD_USER_INPUT"]


async def test_the_last_page_says_so(offline_stack):
    ids = [(await create_questionnaire(offline_stack.http))["id"] for _ in range(3)]
    everything = (await execute(offline_stack.http, PAGE, {"first": 100}))["questionnaires"]
    assert [e["node"]["id"] for e in everything["edges"]] == ids[::-1]
    assert everything["pageInfo"] == {"hasNextPage": False, "endCursor": everything["edges"][-1]["cursor"]}
    after_last = await execute(
        offline_stack.http, PAGE, {"first": 5, "after": everything["pageInfo"]["endCursor"]}
    )
    assert after_last["questionnaires"] == {
        "edges": [],
        "pageInfo": {"hasNextPage": False, "endCursor": None},
    }


async def test_a_user_with_no_questionnaires_gets_an_empty_page(offline_stack):
    empty = (await execute(offline_stack.http, PAGE, {"first": 10}))["questionnaires"]
    assert empty == {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}


async def test_delete_removes_it_everywhere(offline_stack):
    created = await create_questionnaire(offline_stack.http)
    assert (await execute(offline_stack.http, DELETE, {"id": created["id"]}))[
        "deleteQuestionnaire"
    ] == created["id"]
    for query in (GET, DELETE):
        with pytest.raises(GraphQLErrors) as gone:
            await execute(offline_stack.http, query, {"id": created["id"]})
        assert gone.value.codes == ["NOT_FOUND"]
    listed = (await execute(offline_stack.http, PAGE, {"first": 100}))["questionnaires"]["edges"]
    assert created["id"] not in [e["node"]["id"] for e in listed]


async def test_unknown_and_malformed_ids(offline_stack):
    for query in (GET, DELETE):
        with pytest.raises(GraphQLErrors) as unknown:
            await execute(offline_stack.http, query, {"id": UNKNOWN})
        assert unknown.value.codes == ["NOT_FOUND"]
        with pytest.raises(GraphQLErrors) as malformed:
            await execute(offline_stack.http, query, {"id": "nope"})
        assert malformed.value.codes == ["BAD_USER_INPUT"]
