"""The schema, assembled from one query and one mutation type per concern."""

from __future__ import annotations

import strawberry
from strawberry.tools import merge_types

from graph.analyses import AnalysisMutation, AnalysisQuery
from graph.errors import ErrorMapping
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

schema = strawberry.Schema(
    query=Query, mutation=Mutation, subscription=Subscription, extensions=[ErrorMapping, ApiCallQuota]
)
