"""Strawberry's ASGI view, wired to our context and our locally served GraphiQL."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from graph.context import Context, Services, caller_id
from graph.graphiql import graphiql_html
from graph.schema import schema
from graph.transport import TransportHandler


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = TransportHandler

    def __init__(self) -> None:
        # graphql-transport-ws only: the legacy graphql-ws protocol has no error-free way to end
        # a stream and is unmaintained upstream. Multipart uploads are on for uploadResume; their
        # CSRF defence and size limit sit in front of this view (graph/uploads.py).
        super().__init__(
            schema, subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL], multipart_uploads_enabled=True
        )
        self._graphiql = graphiql_html()

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None
    ) -> Context:
        services: Services = request.state.services
        return Context(services=services, request=request, response=response, user_id=caller_id(request))

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(self._graphiql)
