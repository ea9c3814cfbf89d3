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
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import (
    GRAPHQL_SSE_PROTOCOL,
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)
from strawberry.types import ExecutionResult
from strawberry.types.execution import SubscriptionExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UnsetType

from graph.bounds.persisted_documents import REQUESTED_DOCUMENT_ID
from graph.context import Context, Services
from graph.edges.graphiql import graphiql_html
from graph.edges.response_media import (
    CONTENT_TYPES,
    GRAPHQL_RESPONSE_JSON,
    is_request_error,
    negotiate,
    status_of,
)
from graph.live.compiled_subscription import SubscriptionCompiler
from graph.live.http_streams import HOW_TO_SUBSCRIBE, MultipartStream, SseStream, guarded
from graph.live.transport import TransportHandler
from graph.schema import schema
from graph.strawberry_private import BaseRequestProtocol
from jobs.core.errors import Unauthenticated


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = TransportHandler
    # Subscriptions over HTTP, with our heartbeat interval and Accept negotiation.
    stream_transport_classes_by_protocol = {
        MULTIPART_SUBSCRIPTION_PROTOCOL: MultipartStream,
        GRAPHQL_SSE_PROTOCOL: SseStream,
    }

    def __init__(self, allowed_origins: list[str], graphiql: bool, compiler: SubscriptionCompiler) -> None:
        # graphql-transport-ws for WebSockets: the legacy graphql-ws protocol has no error-free
        # way to end a stream and is unmaintained upstream. Over HTTP, subscriptions stream as
        # multipart (Apollo Client) or SSE (graphql-sse, urql), by the request's Accept
        # (graph/live/http_streams.py). Multipart uploads are on for uploadResume; their
        # CSRF defence and size limit sit in front of this view (graph/edges/uploads.py). WebSocket
        # handshakes from other origins than the API's own and `allowed_origins` are refused
        # (cross-site WebSocket hijacking).
        super().__init__(
            schema,
            subscription_protocols=[
                GRAPHQL_TRANSPORT_WS_PROTOCOL,
                MULTIPART_SUBSCRIPTION_PROTOCOL,
                GRAPHQL_SSE_PROTOCOL,
            ],
            multipart_uploads_enabled=True,
            allowed_origins=allowed_origins,
            graphql_ide="graphiql" if graphiql else None,
        )
        self._graphiql = graphiql_html()
        # The compiled subscription plans of this process (graph/live/transport.py runs them).
        self.compiler = compiler

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
        the reason. A payload that is null or missing is no token (graph/live/transport.py)."""
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
            data = await super().parse_http_body(request)
        except (AttributeError, TypeError, ValueError, IndexError, RecursionError) as e:
            # Strawberry assumes the request's JSON, and a multipart request's `operations` and
            # `map`, have the right shape; any other shape is the client's mistake, not ours.
            raise HTTPException(
                400, "a GraphQL request must be a JSON object, and so must a multipart request's `map`"
            ) from e
        single = isinstance(data, GraphQLRequestData)
        REQUESTED_DOCUMENT_ID.set(await self._document_id(request) if single else None)
        return data

    async def _document_id(self, request: AsyncHTTPRequestAdapter) -> str | None:
        """The request's `documentId` (GraphQL over HTTP's persisted documents appendix), which
        Strawberry does not read: from a GET's query string, or from a JSON body that names it
        (parsed again only then; multipart requests name documents by
        `extensions.persistedQuery`)."""
        if request.method == "GET":
            value: object = request.query_params.get("documentId")
        else:
            body = await request.get_body() if "application/json" in (request.content_type or "") else b""
            value = self.parse_json(body).get("documentId") if b'"documentId"' in body else None
        if value is not None and not isinstance(value, str):
            raise HTTPException(400, "The GraphQL request's `documentId` must be a string, if provided.")
        return value

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        # A GET naming a persisted document has no `query` either, yet it is an operation
        # (a browser's fetch accepts */*, which would otherwise ask for GraphiQL).
        params = request.query_params
        named = "documentId" in params or "extensions" in params
        return not named and super().should_render_graphql_ide(request)

    async def execute_operation(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: None,
        sub_response: Response,
    ) -> ExecutionResult | list[ExecutionResult] | SubscriptionExecutionResult:
        result = await super().execute_operation(
            request=request,
            request_adapter=request_adapter,
            request_data=request_data,
            context=context,
            root_value=root_value,
            sub_response=sub_response,
        )
        if isinstance(result, SubscriptionExecutionResult):
            return guarded(context, result)  # an HTTP stream (multipart, SSE)
        return result

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        try:
            return await super().execute_single(
                request=request,
                request_adapter=request_adapter,
                sub_response=sub_response,
                context=context,
                root_value=root_value,
                request_data=request_data,
            )
        except HTTPException as e:
            # A subscription sent without a streaming Accept (graph/schema.py refuses it): say how.
            refused = e.__cause__
            if (
                isinstance(refused, InvalidOperationTypeError)
                and refused.operation_type is OperationType.SUBSCRIPTION
            ):
                raise HTTPException(400, HOW_TO_SUBSCRIBE) from refused
            raise

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(self._graphiql)

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        return NegotiatedSubResponse(negotiate(request.headers.get("accept")))

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        processed = await super().process_result(request, result)
        # A request error under graphql-response+json has no `data` entry (execution never
        # started); application/json clients keep the `"data": null` they have always had.
        media = negotiate(request.headers.get("accept"))
        if media == GRAPHQL_RESPONSE_JSON and is_request_error(result.data, result.errors):
            del processed["data"]
        return processed

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        media = sub_response.media if isinstance(sub_response, NegotiatedSubResponse) else None
        if media == GRAPHQL_RESPONSE_JSON:
            response.headers["content-type"] = CONTENT_TYPES[media]
        if not sub_response.status_code:  # a status a resolver set stands
            response.status_code = status_of(media, response_data)
        if response.status_code == 401:
            response.headers["www-authenticate"] = "Bearer"
        return response


class NegotiatedSubResponse(Response):
    """Strawberry's sub-response (the headers and status resolvers may set: none yet), carrying
    the media type negotiated for the answer (graph/edges/response_media.py) to `create_response`."""

    def __init__(self, media: str | None) -> None:
        super().__init__()
        self.media = media
        self.status_code = None  # type: ignore[assignment]
        del self.headers["content-length"]
