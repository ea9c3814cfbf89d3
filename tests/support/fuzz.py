"""Fuzzing the live API from outside with hypothesis-graphql.

Operations are made from the schema the running API introspects, and sent as any client could send
them: with a valid token, without one or with a bad one; with arguments inline or lifted into
variables whose values are sometimes of the wrong shape. Every answer must keep one rule: a JSON
body, no 5xx, and only typed errors (`extensions.code`), none of them INTERNAL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import graphql
import httpx
import jwt
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, queries

from tests.samples import CV
from tests.support import auth

INTROSPECTION = graphql.get_introspection_query(descriptions=False)
OperationKind = Callable[..., st.SearchStrategy[graphql.DocumentNode]]


def live_schema(http_url: str, bearer: str) -> graphql.GraphQLSchema:
    """The schema as the running API describes itself, not as the checkout's schema.graphql says."""
    answer = httpx.post(http_url, json={"query": INTROSPECTION}, headers=auth.authorization(bearer))
    answer.raise_for_status()
    return graphql.build_client_schema(answer.json()["data"])


def json_values() -> st.SearchStrategy[Any]:
    """Any JSON value a client could put where a variable goes."""
    leaves = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=40)
    )
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
        max_leaves=12,
    )


def texts() -> st.SearchStrategy[str]:
    """Random text, and text that passes the input checks (so that jobs get made), at the lengths
    where the limits are."""
    cv_like = st.sampled_from([CV, "Backend Engineer", "Rewrite my CV for a fintech **_role_**, please."])
    at_limits = st.sampled_from([10, 255, 256, 5_000, 5_001]).map(lambda length: "x" * length)
    return st.one_of(st.text(max_size=40), cv_like, st.text(min_size=10, max_size=400), at_limits)


def scalar_literals(known_ids: Sequence[str]) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    """IDs that reach real records (the fuzzer's own) as well as random ones, so that mutations get
    past the id check; literals for the scalars hypothesis-graphql cannot make by itself."""

    def string(values: st.SearchStrategy[str]) -> st.SearchStrategy[graphql.ValueNode]:
        return values.map(lambda value: graphql.StringValueNode(value=value))

    ids = st.uuids().map(str) | st.text(max_size=40)
    if known_ids:  # three times in five
        known = st.sampled_from(list(known_ids))
        ids = st.one_of(known, known, known, ids)
    return {
        "ID": string(ids),
        "String": string(texts()),
        "Upload": st.just(graphql.NullValueNode()) | string(st.text(max_size=20)),
        "DateTime": string(st.text(max_size=30)),
    }


def documents(
    schema: graphql.GraphQLSchema,
    known_ids: Sequence[str],
    spare_ids: Sequence[str] = (),
    kinds: Sequence[OperationKind] = (queries, mutations),
) -> st.SearchStrategy[graphql.DocumentNode]:
    """Valid operations (three in four) and operations with one violation of the schema
    (hypothesis-graphql's negative mode), as syntax trees so that their arguments can be lifted into
    variables. Mutations that delete get ids of records kept for them (`spare_ids`): the known ids
    must live through the run, or every later operation would only meet NOT_FOUND."""
    literals = scalar_literals(known_ids)
    modes = (Mode.POSITIVE, Mode.POSITIVE, Mode.POSITIVE, Mode.NEGATIVE)
    strategies = []
    for kind in kinds:
        fields = None
        if kind is mutations and schema.mutation_type is not None:
            deleting = [name for name in schema.mutation_type.fields if name.startswith("delete")]
            fields = [name for name in schema.mutation_type.fields if name not in deleting]
            deletions = scalar_literals(spare_ids)
            strategies.append(kind(schema, fields=deleting, custom_scalars=deletions, print_ast=_tree))
        strategies += [
            kind(schema, fields=fields, custom_scalars=literals, print_ast=_tree, mode=mode) for mode in modes
        ]
    return st.one_of(strategies)


def _tree(document: graphql.DocumentNode) -> graphql.DocumentNode:
    return document


def subscription_schema(schema: graphql.GraphQLSchema) -> graphql.GraphQLSchema:
    """hypothesis-graphql makes queries and mutations only: a schema whose query root is the
    Subscription type gives it subscription selections (see `as_subscription`)."""
    assert schema.subscription_type is not None
    return graphql.GraphQLSchema(query=schema.subscription_type)


def as_subscription(document: graphql.DocumentNode) -> graphql.DocumentNode:
    operation = document.definitions[0]
    assert isinstance(operation, graphql.OperationDefinitionNode)
    return graphql.DocumentNode(
        definitions=(
            graphql.OperationDefinitionNode(
                operation=graphql.OperationType.SUBSCRIPTION,
                name=operation.name,
                variable_definitions=operation.variable_definitions,
                directives=operation.directives,
                selection_set=operation.selection_set,
            ),
        )
    )


def root_type(schema: graphql.GraphQLSchema, document: graphql.DocumentNode) -> graphql.GraphQLObjectType:
    operation = document.definitions[0]
    assert isinstance(operation, graphql.OperationDefinitionNode)
    root = {
        graphql.OperationType.QUERY: schema.query_type,
        graphql.OperationType.MUTATION: schema.mutation_type,
        graphql.OperationType.SUBSCRIPTION: schema.subscription_type,
    }[operation.operation]
    assert root is not None
    return root


MISSING = object()


@st.composite
def lifted(
    draw: st.DrawFn, document: graphql.DocumentNode, root: graphql.GraphQLObjectType, wild: bool
) -> tuple[graphql.DocumentNode, dict[str, Any]]:
    """The document with each root field's arguments turned into variables of the argument's type.
    A variable's value is the literal it replaces (as JSON); if `wild`, it may also be any JSON value
    at all, or left out."""
    operation = document.definitions[0]
    assert isinstance(operation, graphql.OperationDefinitionNode)
    definitions: list[graphql.VariableDefinitionNode] = []
    variables: dict[str, Any] = {}
    selections: list[graphql.SelectionNode] = []
    for selection in operation.selection_set.selections:
        if not isinstance(selection, graphql.FieldNode) or selection.name.value not in root.fields:
            selections.append(selection)
            continue
        declared = root.fields[selection.name.value].args
        arguments = []
        for argument in selection.arguments or ():
            if argument.name.value not in declared:  # the negative mode's unknown argument stays inline
                arguments.append(argument)
                continue
            name = graphql.NameNode(value=f"v{len(definitions)}")
            type_ = graphql.parse_type(str(declared[argument.name.value].type))
            definitions.append(
                graphql.VariableDefinitionNode(variable=graphql.VariableNode(name=name), type=type_)
            )
            literal = st.just(graphql.value_from_ast_untyped(argument.value))
            value = draw((literal | json_values() | st.just(MISSING)) if wild else literal)
            if value is not MISSING:
                variables[name.value] = value
            arguments.append(graphql.ArgumentNode(name=argument.name, value=graphql.VariableNode(name=name)))
        selections.append(
            graphql.FieldNode(
                alias=selection.alias,
                name=selection.name,
                arguments=tuple(arguments),
                directives=selection.directives,
                selection_set=selection.selection_set,
            )
        )
    return (
        graphql.DocumentNode(
            definitions=(
                graphql.OperationDefinitionNode(
                    operation=operation.operation,
                    variable_definitions=tuple(definitions),
                    selection_set=graphql.SelectionSetNode(selections=tuple(selections)),
                ),
            )
        ),
        variables,
    )


@dataclass(frozen=True)
class Operation:
    """One generated operation as it goes on the wire; Hypothesis prints it as the reproduction."""

    query: str
    variables: Any = None
    authorization: str | None = None
    operation_name: Any = None
    # GraphQL over HTTP allows GET for queries (and must refuse mutations): the same fields, in the URL.
    get: bool = False

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"query": self.query}
        if self.variables is not None:
            body["variables"] = self.variables
        if self.operation_name is not None:
            body["operationName"] = self.operation_name
        return body

    def headers(self) -> dict[str, str]:
        return {"Authorization": self.authorization} if self.authorization is not None else {}

    def send(self, client: httpx.Client, url: str) -> httpx.Response:
        if not self.get:
            return client.post(url, json=self.body(), headers=self.headers())
        params = {key: value if key == "query" else json.dumps(value) for key, value in self.body().items()}
        return client.get(url, params=params, headers=self.headers())


def signed(claims: dict[str, Any]) -> str:
    """A token with the suite's key over any claims: PyJWT's encode checks the claims' types, its
    signing layer does not."""
    return jwt.PyJWS().encode(json.dumps(claims).encode(), auth.SECRET, "HS256")


CLAIMS = ["sub", "plan", "exp", "iat", "nbf", "name", "email", "aud", "iss"]


def authorizations(valid: str) -> st.SearchStrategy[str | None]:
    """Mostly the fuzzer's own token (so resolvers run), sometimes none or one the API must refuse,
    or one correctly signed whose claims are of any shape (a sub that is a list, a name that is an
    object, an exp that is text)."""
    expired = auth.token("fuzzer-expired", ttl=-3600)
    foreign = auth.token("fuzzer-foreign", secret="not-the-suite-secret-0123456789-abcdef")
    refused = [None, "Bearer", "Bearer not-a-jwt", "Basic Zm9vOmJhcg=="]
    refused += [f"Bearer {expired}", f"Bearer {foreign}"]
    claims = st.dictionaries(st.sampled_from(CLAIMS), json_values(), min_size=1, max_size=3)
    odd = claims.map(lambda extra: f"Bearer {signed({'sub': 'fuzzer-claims', 'exp': 2**40, **extra})}")
    mine = st.just(f"Bearer {valid}")
    return st.one_of(mine, mine, mine, st.sampled_from(refused), odd)


# How a generated document goes on the wire. The test picks the way, so that each is tried
# whatever Hypothesis prefers to draw, and a failure is reported under its name.
SHAPES = ["inline", "variables", "wild variables", "operation name"]
HTTP_SHAPES = [*SHAPES, "body fields of any shape", "get"]


@st.composite
def operations(
    draw: st.DrawFn,
    schema: graphql.GraphQLSchema,
    docs: st.SearchStrategy[graphql.DocumentNode],
    bearer: str,
    shape: str,
) -> Operation:
    """A generated document sent in one of the `HTTP_SHAPES` (a socket takes `SHAPES` only: its
    protocol requires `variables` to be an object, and other shapes are the protocol fuzz's), by
    a caller with any of `authorizations`.

    - inline: arguments written in the document;
    - variables: arguments lifted into variables of their types, with their values;
    - wild variables: lifted, with values of any JSON shape or none;
    - operation name: an operationName, mostly one the document does not define;
    - body fields of any shape: `variables` of any JSON shape, `operationName` too;
    - get: a GET with the fields in the URL (queries run, mutations are refused)."""
    document = draw(docs)
    variables: Any = None
    name: Any = None
    if shape in {"variables", "wild variables"} or (shape == "get" and draw(st.booleans())):
        document, variables = draw(lifted(document, root_type(schema, document), shape == "wild variables"))
    if shape == "operation name":
        name = draw(st.text(max_size=10))
    if shape == "body fields of any shape":
        variables, name = draw(json_values()), draw(json_values())
    authorization = draw(authorizations(bearer))
    return Operation(graphql.print_ast(document), variables, authorization, name, shape == "get")


IMPROVE = "mutation($input: ImproveCvInput!) { improveCv(input: $input) { id kind state } }"


def improvements(questionnaire_id: str, bearer: str) -> st.SearchStrategy[Operation]:
    """improveCv with inputs that often pass its checks, so that jobs run on what the fuzzer wrote
    (hypothesis-graphql rarely fills an input object's optional fields the way the checks want)."""
    fields = {
        "questionnaireId": st.just(questionnaire_id),
        "cvText": texts(),
        "position": texts(),
        "jobDescription": texts(),
        "prompt": texts(),
    }
    improve_input = st.fixed_dictionaries({}, optional=fields)
    return improve_input.map(lambda value: Operation(IMPROVE, {"input": value}, f"Bearer {bearer}"))


def assert_typed_http_answer(answer: httpx.Response) -> None:
    """The rule every answer keeps. One assertion per kind of fault, so that Hypothesis reports
    (and shrinks) each kind separately."""
    assert answer.status_code < 500, f"status {answer.status_code}: {answer.text[:500]}"
    try:
        body = answer.json()
    except ValueError:
        body = None
    assert body is not None, (
        f"not JSON (status {answer.status_code}, {answer.headers.get('content-type')}): {answer.text[:300]}"
    )
    assert isinstance(body, dict) and {"data", "errors"} & body.keys(), f"not a GraphQL answer: {body!r:.300}"
    assert_typed_errors(body.get("errors") or [])


def assert_typed_errors(errors: Any) -> None:
    assert isinstance(errors, list) and all(isinstance(error, dict) for error in errors), errors
    for error in errors:
        code = (error.get("extensions") or {}).get("code")
        text = json.dumps(error, ensure_ascii=False)[:300]
        assert isinstance(code, str), f"error without extensions.code: {text}"
        assert code != "INTERNAL", f"INTERNAL: {text}"


class LogWatch:
    """The part of each process's log written since the watch began, searched for tracebacks."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self._offsets = {path: path.stat().st_size if path.exists() else 0 for path in paths}

    def tracebacks(self) -> list[str]:
        found = []
        for path, offset in self._offsets.items():
            with path.open("rb") as log:
                log.seek(offset)
                text = log.read().decode(errors="replace")
            found += [f"{path.name}: Traceback{part[:1500]}" for part in text.split("Traceback")[1:]]
        return found
