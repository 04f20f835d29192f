"""Assembly only: the federated schema, the HTTP/websocket view and its routes."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import orjson
import strawberry
from cross_web import HTTPException
from graphql import (
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLObjectType,
    get_named_type,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry import UNSET
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from auth.audit_doors import tell
from auth.policy import Decision, authorize
from graph import ide
from graph.context import Context
from graph.errors import ErrorCodes, convert
from graph.execution import Executor, leaf_of
from graph.fanout import lane_handler
from graph.limits import extensions as limit_extensions
from graph.media import GRAPHQL_RESPONSE, JSON, content_type, negotiated
from graph.metrics import OperationMetrics
from graph.mutation import Mutation
from graph.query import Query
from graph.services import GraphSettings, services
from graph.subscription import Subscription, refusing_handler
from graph.subscription import on_ws_connect as subscription_on_ws_connect
from graph.subscription import view_options as subscription_view_options
from resolvers.access import Guarded
from store.types import PrincipalLike

READS = frozenset({"read", "search"})  # the interactions resolvers ask the policy for that only read

ENTITY_TYPES: tuple[str, ...] = ("Patient", "Practitioner", "Appointment", "Encounter", "Episode")


class Schema(strawberry.federation.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        # Client errors are the client's business, and a query's text may carry patient data: nothing is logged
        # here. Unexpected resolver errors are logged (type and traceback only) where they are masked.
        return None

    async def execute(self, query: str | None, variable_values: dict[str, Any] | None = None,  # noqa: PLR0913
                      context_value: Any | None = None, root_value: Any | None = None,
                      operation_name: str | None = None,
                      allowed_operation_types: Iterable[OperationType] | None = None,
                      operation_extensions: dict[str, Any] | None = None) -> ExecutionResult:
        # An executed (not streamed) operation is a query or a mutation: subscriptions are served over the
        # websocket (graphql-transport-ws), and over HTTP strawberry would run one as a plain field.
        allowed = set(allowed_operation_types or (OperationType.QUERY, OperationType.MUTATION))
        result = await super().execute(query, variable_values, context_value, root_value, operation_name,
                                       allowed - {OperationType.SUBSCRIPTION}, operation_extensions)
        if result.errors:
            # Strawberry returns an exception raised outside execution (in a validation rule, say) without
            # running the extensions' hooks on it, so ErrorCodes never saw it: converted (masked) here.
            result.errors = [e if e.extensions and "code" in e.extensions else convert(e) for e in result.errors]
        return result


def build_schema(settings: GraphSettings | None = None) -> Schema:
    exts: list[Callable[[], SchemaExtension]] = [partial(ParserCache, maxsize=256), ErrorCodes]
    if settings is not None:
        exts = [*limit_extensions(settings), partial(ValidationCache, maxsize=256), *exts]
        if settings.metrics:  # first: it sees the errors as ErrorCodes left them
            exts = [OperationMetrics, *exts]
        if settings.tracing:
            from graph.tracing import OperationSpans  # the otel extra: imported only when tracing is on

            exts = [OperationSpans, *exts]
    schema = Schema(query=Query, mutation=Mutation, subscription=Subscription, extensions=exts,
                    execution_context_class=Executor)
    _plain_fields_direct(schema)
    _relations_direct(schema)
    _federation_described(schema)
    return schema


# What strawberry's Apollo Federation support adds to the schema, described for the front-end developer who meets
# it in GraphiQL's docs: the gateway's, not theirs.
GATEWAY_ONLY = "For the Apollo Federation gateway (the federation spec defines it); front ends do not use it."
FEDERATION = {
    "_Any": "An entity representation: {__typename, ...its key fields}. " + GATEWAY_ONLY,
    "_Entity": "Any entity of this subgraph (Patient, Practitioner, Appointment, Encounter, Episode). " + GATEWAY_ONLY,
    "_Service": "This subgraph's description. " + GATEWAY_ONLY,
    "_Service.sdl": "This subgraph's schema in SDL, with its federation directives.",
    "_FieldSet": "A selection of fields naming an entity's key, e.g. \"id\". " + GATEWAY_ONLY,
    "link__Import": "A name imported by @link. " + GATEWAY_ONLY,
    "link__Purpose": "Why a schema @links a specification. " + GATEWAY_ONLY,
    "link__Purpose.SECURITY": "The linked specification's directives secure the schema.",
    "link__Purpose.EXECUTION": "The linked specification's directives change how operations execute.",
    "Query._entities": "The entities named by their representations, in order. " + GATEWAY_ONLY,
    "Query._entities.representations": "Each entity's __typename and key fields.",
    "Query._service": "This subgraph's SDL. " + GATEWAY_ONLY,
}


def _federation_described(schema: strawberry.federation.Schema) -> None:
    types = schema._schema.type_map
    for name, text in FEDERATION.items():
        type_name, _, member = name.partition(".")
        gtype = types.get(type_name)
        if gtype is None:
            continue
        field, _, arg = member.partition(".")
        if not field:
            gtype.description = gtype.description or text
        elif isinstance(gtype, GraphQLEnumType):
            gtype.values[field].description = text
        elif isinstance(gtype, GraphQLObjectType) and field in gtype.fields:
            target: Any = gtype.fields[field].args[arg] if arg else gtype.fields[field]
            target.description = target.description or text


def _plain_fields_direct(schema: strawberry.Schema) -> None:
    """Plain (resolver-less) fields read their attribute directly: the same result as strawberry's default
    path, without its two extra calls per field value (most of a large response's values are plain). Those
    holding a scalar or an enum are marked for the executor's short path (graph/execution.py)."""
    for gtype in schema._schema.type_map.values():
        if isinstance(gtype, GraphQLObjectType) and not gtype.name.startswith("__"):
            for gfield in gtype.fields.values():
                definition = (gfield.extensions or {}).get("strawberry-definition")
                if getattr(gfield.resolve, "_is_default", False) and definition is not None:
                    gfield.resolve = _attribute(definition.python_name)
                    gfield.resolve.leaf = leaf_of(gfield.type, definition.python_name)


def _relations_direct(schema: strawberry.federation.Schema) -> None:
    """Relation fields of the object types call their resolver directly, as graphql-core resolvers.

    Strawberry's generic wrapper (a strawberry ``Info`` per call, argument conversion, the extension chain, an
    extra coroutine) costs more than the relation itself once its DataLoader holds the data. Our relation
    resolvers only read ``info.context`` (the same object on graphql-core's info) and take scalar or enum
    arguments, which are converted here to the enum members strawberry would pass. Root fields, fields with
    input-object arguments, permissions or field extensions keep strawberry's path, and so do resolvers that do
    not take ``(root, info, ...)``.
    """
    roots = {"Query", "Mutation", "Subscription"}
    name_of = schema.config.name_converter.from_argument
    for gtype in schema._schema.type_map.values():
        if not isinstance(gtype, GraphQLObjectType) or gtype.name in roots or gtype.name.startswith("_"):
            continue
        for gfield in gtype.fields.values():
            definition = (gfield.extensions or {}).get("strawberry-definition")
            if definition is None or definition.base_resolver is None or definition.extensions:
                continue
            if getattr(definition, "permission_classes", None):
                continue
            by_graphql = {name_of(a): a for a in definition.arguments}
            plan: dict[str, tuple[str, Any]] = {}
            for arg_name, garg in gfield.args.items():
                named = get_named_type(garg.type)
                if isinstance(named, GraphQLInputObjectType) or arg_name not in by_graphql:
                    break
                enum = getattr(named, "wrapped_cls", None) if isinstance(named, GraphQLEnumType) else None
                plan[arg_name] = (by_graphql[arg_name].python_name, enum)
            else:
                params = list(inspect.signature(definition.base_resolver.wrapped_func).parameters)
                if params[:2] in (["root", "info"], ["self", "info"]):
                    gfield.resolve = _direct(definition.base_resolver.wrapped_func, plan)


def _direct(func: Callable[..., Any], plan: dict[str, tuple[str, Any]]) -> Callable[..., Any]:
    if not plan:
        def resolve(source: Any, info: Any) -> Any:
            return func(source, info)

        return resolve

    def resolve_with_args(source: Any, info: Any, **kwargs: Any) -> Any:
        args = {}
        for name, value in kwargs.items():
            py, enum = plan[name]
            if enum is not None and value is not None:
                value = [v if isinstance(v, enum) else enum(v) for v in value] if isinstance(value, list) \
                    else value if isinstance(value, enum) else enum(value)
            args[py] = value
        return func(source, info, **args)

    return resolve_with_args


def _attribute(name: str) -> Callable[..., Any]:
    def resolve(source: Any, info: Any) -> Any:
        return getattr(source, name)

    resolve._is_default = True  # type: ignore[attr-defined]
    return resolve


# The media type chosen for the response of the current request (GraphQL over HTTP, "Accept").
_accept: contextvars.ContextVar[str] = contextvars.ContextVar("graphql_accept", default=JSON)
_request_error: contextvars.ContextVar[bool] = contextvars.ContextVar("graphql_request_error", default=False)


# Where GraphQLView keeps a request's context until its response is built (then it drops the DataLoaders).
_CONTEXT_KEY = "fhirgraph.graphql_context"
# extensions.code of a request refused before it is read as GraphQL (any other status: BAD_REQUEST).
_HTTP_CODES = {404: "NOT_FOUND"}


class GraphQLView(GraphQL[Context, None]):
    # Subscription events leave as ready frames, rendered once per group (graph/fanout.py); a connection_init
    # over the rate limit is closed with 1013 Try Again Later (graph/subscription.py).
    graphql_transport_ws_handler_class = refusing_handler(
        lane_handler(GraphQL.graphql_transport_ws_handler_class))  # type: ignore[misc]

    def __init__(self, schema: strawberry.federation.Schema, settings: GraphSettings,
                 allows_origin: Callable[[str], bool] | None = None):
        # Protocols, the connection-init timeout and the per-connection cap: the live-events side owns them.
        options = subscription_view_options(settings)
        super().__init__(schema, graphql_ide="graphiql" if settings.graphiql else None, allow_queries_via_get=True,
                         **options)
        self.settings = settings
        self.allows_origin = allows_origin

    async def render_graphql_ide(self, request: Request) -> Response:
        # strawberry's page loads GraphiQL from a CDN: ours is served from this server (graph/ide.py)
        return ide.page(request, self.settings)

    def is_websocket_origin_allowed(self, request: Any, origin: str) -> bool:
        # Asked for a browser page of another origin only (same-origin pages and non-browser clients pass): the
        # composition root's CORS origins decide, as they do for HTTP (app/cors.py).
        return self.allows_origin is not None and self.allows_origin(origin)

    async def on_ws_connect(self, context: Context) -> Any:
        await subscription_on_ws_connect(context)
        return await super().on_ws_connect(context)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            _accept.set(negotiated(scope.get("headers") or ()))
            _request_error.set(False)
        await super().__call__(scope, receive, send)

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        try:
            return await self._run(request, context, root_value)
        finally:
            # graphql-core's executor is a reference cycle (it holds bound methods of itself) that holds the
            # context: left to the cyclic collector, every resource and record the operation's DataLoaders
            # loaded (tens of thousands of objects for a 50-patient chart) would wait for a collection, and
            # each young collection would walk them first. Dropping the loaders once the response is built
            # frees them now (right after it is sent).
            held = request.scope.pop(_CONTEXT_KEY, None) if hasattr(request, "scope") else None
            if held is not None:
                # once the response is on its way (the send that follows needs no loop turn): freeing what the
                # loaders hold (~7 ms for the chart) is no longer in the caller's wait
                asyncio.get_running_loop().call_soon(held.reset_loaders)

    async def _run(self, request: Any, context: Any, root_value: Any) -> Any:
        # strawberry answers a request it cannot read (not JSON, no query, variables not an object) with a
        # plain-text body: GraphQL over HTTP wants a JSON errors list there too, with the same status.
        try:
            return await super().run(request, context, root_value)
        except HTTPException as e:
            if isinstance(request, WebSocket):
                raise
            code = _HTTP_CODES.get(e.status_code, "BAD_REQUEST")
            return Response(orjson.dumps({"errors": [{"message": e.reason, "extensions": {"code": code}}]}),
                            status_code=e.status_code, media_type=_accept.get())

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        door = services(request.app)
        scope = request.scope

        def authorize_noted(principal: PrincipalLike, interaction: str, resource_type: str) -> Decision:
            decided = authorize(principal, interaction, resource_type)
            tell(scope, touched=resource_type, wrote=interaction not in READS)  # named by the AuditEvent
            return decided

        # The store as this caller may use it: every resolver's and loader's call asks the one policy first.
        context = Context(principal=request.scope.get("auth"), repo=Guarded(door.repo, authorize_noted),
                          settings=self.settings, relay=door.relay, request=request, response=response)
        scope[_CONTEXT_KEY] = context
        return context

    def encode_json(self, data: object) -> str:
        # Text, not bytes: strawberry sends websocket messages as what this returns, and graphql-transport-ws
        # clients (gql, graphql-ws) accept only text frames.
        return orjson.dumps(data).decode()

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        processed = await super().process_result(request, result)
        if isinstance(result, PreExecutionError) or (result.data is None and result.errors and
                                                      not any(e.path for e in result.errors)):
            # A request error (parse, validation, limits): execution never started, so no "data" entry.
            _request_error.set(True)
            processed.pop("data", None)
        return processed

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        response = super().create_response(response_data, sub_response)
        response.headers["content-type"] = content_type(_accept.get())
        if _accept.get() == GRAPHQL_RESPONSE and _request_error.get() and not sub_response.status_code:
            response.status_code = 400
        return response


def routes(settings: GraphSettings, *, allows_origin: Callable[[str], bool] | None = None) -> list[BaseRoute]:
    """``allows_origin``: whether a browser page of that origin may open the websocket (none when not given)."""
    view = GraphQLView(build_schema(settings), settings, allows_origin)
    return [*ide.routes(settings), Route("/graphql", endpoint=view, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", view)]
