"""Questionnaires: create, read, page through, update and delete them."""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict, replace
from typing import Any

import strawberry
from strawberry.types import Info

from graph.context import Context
from graph.domain import validation
from graph.domain.cv_types import (
    PageInfo,
    Questionnaire,
    QuestionnaireConnection,
    QuestionnaireEdge,
    QuestionnaireInput,
    QuestionnaireUpdate,
)
from graph.domain.mirror import build
from graph.strawberry_private import to_camel_case
from jobs.core import deletes
from jobs.core.errors import InvalidInput
from jobs.core.questionnaires import QuestionnaireFields
from jobs.core.quotas import Scope
from settings import Settings

REQUIRED = ("position", "industry", "experience_level", "company_size", "application_timeline")


def clean_fields(settings: Settings, fields: QuestionnaireFields) -> QuestionnaireFields:
    """Strip HTML from the text fields and check their limits, reporting every violation."""
    short = settings.short_text_max_chars
    checked = validation.all_of(
        {
            "position": lambda: validation.text(
                "position", fields.position, settings.position_max_chars, required=True, html=True
            ),
            "industry": lambda: validation.text("industry", fields.industry, short, required=True, html=True),
            "location": lambda: validation.text(
                "location", fields.location, short, required=False, html=True
            ),
            "job_description": lambda: validation.text(
                "jobDescription",
                fields.job_description,
                settings.job_description_max_chars,
                required=False,
                html=True,
            ),
        }
    )
    return replace(fields, **checked)  # type: ignore[arg-type]


def _merged(current: QuestionnaireFields, update: QuestionnaireUpdate) -> QuestionnaireFields:
    changes: dict[str, Any] = {}
    for name in QuestionnaireFields.__dataclass_fields__:
        value = getattr(update, name)
        if value is strawberry.UNSET:
            continue
        if value is None and name in REQUIRED:
            raise InvalidInput(to_camel_case(name), f"{to_camel_case(name)} cannot be cleared")
        changes[name] = value
    return replace(current, **changes)


def encode_cursor(sort_key: str) -> str:
    return base64.urlsafe_b64encode(sort_key.encode()).decode()


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        key = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as e:
        raise InvalidInput("after", "after must be a cursor from a previous page") from e
    if ":" not in key or not key.split(":", 1)[0].isdigit():
        raise InvalidInput("after", "after must be a cursor from a previous page")
    return key


@strawberry.type
class QuestionnaireQuery:
    @strawberry.field(description="A questionnaire of yours.")
    async def questionnaire(self, info: Info[Context, None], id: strawberry.ID) -> Questionnaire:
        questionnaire_id = validation.object_id(id, "id", "questionnaire")
        return build(
            Questionnaire,
            await info.context.services.cv.questionnaire(info.context.user_id, questionnaire_id),
        )

    @strawberry.field(
        description="Your questionnaires, newest first; `after` is a previous page's endCursor."
    )
    async def questionnaires(
        self, info: Info[Context, None], first: int = 10, after: str | None = None
    ) -> QuestionnaireConnection:
        page = await info.context.services.cv.page(
            info.context.user_id, validation.page_size(first), decode_cursor(after)
        )
        edges = [
            QuestionnaireEdge(cursor=encode_cursor(q.sort_key), node=build(Questionnaire, q))
            for q in page.items
        ]
        end = encode_cursor(page.end_cursor) if page.end_cursor else None
        return QuestionnaireConnection(
            edges=edges, page_info=PageInfo(has_next_page=page.has_next, end_cursor=end)
        )


@strawberry.type
class QuestionnaireMutation:
    @strawberry.mutation(description="Describe the job you target. HTML is stripped from text fields.")
    async def create_questionnaire(
        self, info: Info[Context, None], input: QuestionnaireInput
    ) -> Questionnaire | None:
        services = info.context.services
        cleaned = clean_fields(services.settings, QuestionnaireFields(**asdict(input)))
        user = info.context.user_or_raise
        await services.quotas.charge(Scope.QUESTIONNAIRES, user.id, user.plan)
        return build(Questionnaire, await services.cv.create(user.id, cleaned))

    @strawberry.mutation(description="Change some fields of a questionnaire of yours.")
    async def update_questionnaire(
        self, info: Info[Context, None], id: strawberry.ID, input: QuestionnaireUpdate
    ) -> Questionnaire | None:
        services, owner = info.context.services, info.context.user_id
        questionnaire_id = validation.object_id(id, "id", "questionnaire")
        current = await services.cv.questionnaire(owner, questionnaire_id)
        fields = clean_fields(services.settings, _merged(current.fields, input))
        return build(Questionnaire, await services.cv.update(owner, questionnaire_id, fields))

    @strawberry.mutation(
        description="Delete a questionnaire of yours with its CV, responses, analyses and PDFs, and "
        "every job made for it (or that made a PDF of its responses). Returns the deleted id."
    )
    async def delete_questionnaire(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> strawberry.ID | None:
        services, owner = info.context.services, info.context.user_id
        questionnaire_id = validation.object_id(id, "id", "questionnaire")
        questionnaire = await services.cv.questionnaire(owner, questionnaire_id)
        await services.store.delete(owner, [deletes.questionnaire_root(questionnaire.id)])
        return strawberry.ID(questionnaire.id)
