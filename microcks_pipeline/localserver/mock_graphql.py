"""The `/graphql/{service}/{version}` mock endpoint, as Microcks' GraphQLController and
GraphQLInvocationProcessor: one operation per top-level field, QUERY_ARGS dispatch on string
arguments and variables, each field's example trimmed to the selected sub-fields."""

from __future__ import annotations

import json
from typing import Any

from graphql import GraphQLError, build_schema, graphql_sync, parse
from graphql.language import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
)
from starlette.requests import Request as HttpRequest
from starlette.responses import Response as HttpResponse

from . import dispatch as d
from .importer_graphql import GRAPHQL_SCHEMA
from .jsonbody import json_body_criteria
from .model import Operation, Response
from .store import ServiceSnapshot, Store

TYPENAME = "__typename"
SCHEMA = "__schema"


def _text(body: str, status: int) -> HttpResponse:
    return HttpResponse(body, status, media_type="text/plain;charset=UTF-8")


class _Refused(Exception):
    """GraphQLQueryProcessingException: answered with this text and status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def collect_fields(
    selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode]
) -> list[FieldNode]:
    """Fields of a selection set, fragment spreads and inline fragments expanded."""
    fields: list[FieldNode] = []
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            fields.append(selection)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                fields.extend(collect_fields(fragment.selection_set, fragments))
        elif isinstance(selection, InlineFragmentNode):
            fields.extend(collect_fields(selection.selection_set, fragments))
    return fields


def filter_field_selection(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    node: Any,
) -> None:
    """filterFieldSelection: keep only the selected properties, recursively (in place)."""
    if node is None or selection_set is None or not selection_set.selections:
        return
    if isinstance(node, dict):
        fields = collect_fields(selection_set, fragments)
        for field in fields:
            filter_field_selection(field.selection_set, fragments, node.get(field.name.value))
        kept = {field.name.value for field in fields}
        if kept:
            for key in [k for k in node if k not in kept]:
                del node[key]
    elif isinstance(node, list):
        for child in node:
            filter_field_selection(selection_set, fragments, child)


async def serve_graphql(request: HttpRequest) -> HttpResponse:
    store: Store = request.app.state.store
    # Path parameters come decoded (as Spring's); a `+` in the name stands for a space.
    service_name = request.path_params["service"].replace("+", " ")
    version = request.path_params["version"]
    snapshot = store.snapshot_by_name(service_name, version)
    if snapshot is None:
        return _text(f"The service {service_name} with version {version} does not exist!", 404)
    try:
        query, operation_name, variables = await _graphql_request(request)
        document = parse(query)
    except (ValueError, GraphQLError, TypeError) as exc:
        return _text(f"Error parsing GraphQL request: {exc}", 400)
    definitions = [x for x in document.definitions if isinstance(x, OperationDefinitionNode)]
    chosen = next(
        (
            x
            for x in definitions
            if not operation_name or (x.name is not None and x.name.value == operation_name)
        ),
        None,
    )
    if chosen is None:
        return _text("No matching operation definition found in GraphQL request", 400)
    fragments = {
        x.name.value: x for x in document.definitions if isinstance(x, FragmentDefinitionNode)
    }
    operation_type = chosen.operation.value.upper()
    first = chosen.selection_set.selections[0] if chosen.selection_set.selections else None
    if operation_type == "QUERY" and isinstance(first, FieldNode) and first.name.value == SCHEMA:
        return _introspection(snapshot, query)
    data: dict[str, Any] = {}
    errors: list[Any] = []
    for field in collect_fields(chosen.selection_set, fragments):
        key = field.alias.value if field.alias else field.name.value
        try:
            answer = _answer_field(snapshot, operation_type, field, fragments, variables)
        except _Refused as exc:
            return _text(str(exc), exc.status)
        data[key] = answer.get("data", {}).get(field.name.value) if answer else None
        if answer and isinstance(answer.get("errors"), list):
            errors.extend(answer["errors"])
    body: dict[str, Any] = {"data": data}
    if errors:
        body["errors"] = errors
    return HttpResponse(json.dumps(body, separators=(",", ":")), media_type="application/json")


async def _graphql_request(request: HttpRequest) -> tuple[str, str | None, Any]:
    """GraphQLHttpRequest.from: a POST carries everything in its JSON body, a GET in parameters."""
    if request.method == "POST":
        payload = json.loads(await request.body())
        if not isinstance(payload, dict):
            raise ValueError("the body is not a JSON object")
        query = payload.get("query")
        return str(query or ""), payload.get("operationName"), payload.get("variables")
    variables = request.query_params.get("variables")
    return (
        request.query_params.get("query") or "",
        request.query_params.get("operationName"),
        json.loads(variables) if variables else None,
    )


def _introspection(snapshot: ServiceSnapshot, query: str) -> HttpResponse:
    """An introspection query is executed on the stored schema (no resolvers are needed); the
    answer is graphql-java's ExecutionResult as Jackson writes it."""
    sdl = snapshot.service.resources.get(GRAPHQL_SCHEMA)
    if not isinstance(sdl, str):
        return _text("No GraphQL schema found for this service", 500)
    try:
        result = graphql_sync(build_schema(sdl), query)
    except (GraphQLError, TypeError) as exc:
        return _text(str(exc), 500)
    body = {
        "errors": [error.formatted for error in result.errors or []],
        "data": result.data,
        "extensions": result.extensions,
        "dataPresent": result.data is not None,
    }
    return HttpResponse(json.dumps(body, separators=(",", ":")), media_type="application/json")


def _answer_field(
    snapshot: ServiceSnapshot,
    operation_type: str,
    field: FieldNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: Any,
) -> dict[str, Any] | None:
    name = field.name.value
    if name == TYPENAME:
        return {"data": {TYPENAME: "Query" if operation_type == "QUERY" else "Mutation"}}
    operation = next(
        (
            op
            for op in snapshot.service.operations
            if op.method == operation_type and op.name == name
        ),
        None,
    )
    if operation is None:
        raise _Refused(f"No '{name}' operation found", 404)
    # Only string literals and $variables are captured, as Microcks does.
    params: dict[str, str] = {}
    for argument in field.arguments or ():
        value = argument.value
        if isinstance(value, StringValueNode):
            params[argument.name.value] = value.value
        elif isinstance(value, VariableNode) and isinstance(variables, dict):
            variable = variables.get(value.name.value)
            params[argument.name.value] = "" if variable is None else _as_text(variable)
    response = _find_response(snapshot, operation, params, variables)
    if response is None:
        raise _Refused("No matching response found", 400)
    if response.content is None:
        return None
    try:
        answer = json.loads(response.content)
    except ValueError as exc:
        raise _Refused("Exception while filtering response JSON", 500) from exc
    data = answer.get("data") if isinstance(answer, dict) else None
    if isinstance(data, dict):
        filter_field_selection(field.selection_set, fragments, data.get(name))
    return answer if isinstance(answer, dict) else None


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return ""
    return str(value)


def _find_response(
    snapshot: ServiceSnapshot, operation: Operation, params: dict[str, str], variables: Any
) -> Response | None:
    """GraphQLInvocationProcessor: criteria, name, fallback, and any response only without dispatcher."""
    responses = [p.response for p in snapshot.pairs_of(operation.name) if p.response is not None]
    dispatch = d.effective_dispatch(operation.dispatcher, operation.dispatcher_rules)
    criteria = None
    if dispatch.dispatcher == d.QUERY_ARGS and dispatch.rules is not None:
        criteria = d.extract_from_param_map(dispatch.rules, params)
    elif dispatch.dispatcher == d.JSON_BODY:
        # Evaluated on the request's variables, as Jackson writes them (null when absent).
        criteria = json_body_criteria(dispatch.rules, json.dumps(variables))
    # SCRIPT / JS are not evaluated here: they yield no criteria.
    return d.lookup_response(responses, criteria, dispatch, any_last=dispatch.dispatcher is None)
