"""Strawberry's ASGI view, wired to our context, our authentication and our locally served
GraphiQL."""

from __future__ import annotations

from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from graph.context import Context, Services
from graph.graphiql import graphiql_html
from graph.schema import schema
from graph.transport import TransportHandler
from jobs.errors import Unauthenticated


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = TransportHandler

    def __init__(self, allowed_origins: list[str], graphiql: bool) -> None:
        # graphql-transport-ws only: the legacy graphql-ws protocol has no error-free way to end
        # a stream and is unmaintained upstream. Multipart uploads are on for uploadResume; their
        # CSRF defence and size limit sit in front of this view (graph/uploads.py). WebSocket
        # handshakes from other origins than the API's own and `allowed_origins` are refused
        # (cross-site WebSocket hijacking).
        super().__init__(
            schema,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
            multipart_uploads_enabled=True,
            allowed_origins=allowed_origins,
            graphql_ide="graphiql" if graphiql else None,
        )
        self._graphiql = graphiql_html()

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None
    ) -> Context:
        services: Services = request.state.services
        context = Context(services=services, request=request, response=response)
        if isinstance(request, Request):
            try:
                context.user = services.verifier.user(request.headers.get("authorization"))
            except Unauthenticated as e:
                context.auth_error = e
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """The token travels in connection_init's payload ("authorization", or "Authorization" as
        GraphiQL sends its Headers tab); without a valid one the socket closes with 4403 and
        the reason. A payload that is null or missing is no token (graph/transport.py)."""
        params: dict[str, Any] = context.connection_params
        value = params.get("authorization") or params.get("Authorization")
        try:
            context.user = context.services.verifier.user(value if isinstance(value, str) else None)
        except Unauthenticated as e:
            raise ConnectionRejectionError({"reason": e.message}) from e
        return await super().on_ws_connect(context)

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        try:
            return await super().parse_http_body(request)
        except (AttributeError, TypeError, ValueError, IndexError, RecursionError) as e:
            # Strawberry assumes the request's JSON, and a multipart request's `operations` and
            # `map`, have the right shape; any other shape is the client's mistake, not ours.
            raise HTTPException(
                400, "a GraphQL request must be a JSON object, and so must a multipart request's `map`"
            ) from e

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(self._graphiql)
