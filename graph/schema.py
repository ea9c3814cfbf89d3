"""The schema, assembled from one query and one mutation type per concern."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from graph.analyses import AnalysisMutation, AnalysisQuery
from graph.errors import ErrorMapping, log_client_errors
from graph.mutations import Mutation as JobMutation
from graph.pdfs import PdfMutation
from graph.queries import Query as JobQuery
from graph.questionnaires import QuestionnaireMutation, QuestionnaireQuery
from graph.quotas import AccountQuery, ApiCallQuota
from graph.resumes import ResumeMutation
from graph.subscriptions import Subscription

Query = merge_types("Query", (JobQuery, QuestionnaireQuery, AnalysisQuery, AccountQuery))
Mutation = merge_types(
    "Mutation", (JobMutation, QuestionnaireMutation, ResumeMutation, AnalysisMutation, PdfMutation)
)


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_client_errors(errors)


# Bounds on what one document may ask, so that aliases and nesting cannot multiply the work
# (or the lookups) of a single request.
MAX_DEPTH = 10
MAX_ALIASES = 30

schema = Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[
        ErrorMapping,
        ApiCallQuota,
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
    ],
)
