"""GraphQL SDL importer as Microcks' GraphQLImporter: identity from the `microcksId` comment,
QUERY/MUTATION operations per field, QUERY_ARGS dispatcher when every argument is a built-in scalar."""

from __future__ import annotations

from graphql import GraphQLError, parse
from graphql.language import (
    DocumentNode,
    InputValueDefinitionNode,
    ListTypeNode,
    NonNullTypeNode,
    ObjectTypeDefinitionNode,
    TypeNode,
)

from . import dispatch as d
from .importers import Exchange, ImportRejected, ParsedService, java_trim
from .jsonnode import split_lines
from .model import Operation, Service

MICROCKS_ID_STARTER = "microcksId:"
GRAPHQL_SCHEMA = "GRAPHQL_SCHEMA"
VALID_OPERATION_TYPES = ("query", "mutation")
SPECIFIED_SCALARS = ("Int", "Float", "String", "Boolean", "ID")


def leading_comments(text: str) -> list[str]:
    """graphql-java's Document.getComments(): the comments before the document's first token."""
    comments = []
    for line in split_lines(text):
        stripped = line.strip()
        if not stripped or stripped == ",":
            continue
        if not stripped.startswith("#"):
            break
        comments.append(stripped[1:])
    return comments


def _type_name(node: TypeNode) -> str:
    """getTypeName; a non-null type falls to graphql-java's toString(), as in Microcks."""
    if isinstance(node, ListTypeNode):
        return "[" + _type_name(node.type) + "]"
    if isinstance(node, NonNullTypeNode):
        return "NonNullType{type=" + _to_string(node.type) + "}"
    return node.name.value  # type: ignore[attr-defined]


def _to_string(node: TypeNode) -> str:
    if isinstance(node, ListTypeNode):
        return "ListType{type=" + _to_string(node.type) + "}"
    if isinstance(node, NonNullTypeNode):
        return "NonNullType{type=" + _to_string(node.type) + "}"
    return "TypeName{name='" + node.name.value + "'}"  # type: ignore[attr-defined]


def _only_primitive_args(arguments: tuple[InputValueDefinitionNode, ...]) -> bool:
    for argument in arguments:
        node = argument.type
        if isinstance(node, NonNullTypeNode):
            node = node.type
        if isinstance(node, ListTypeNode):
            return False
        while isinstance(node, (ListTypeNode, NonNullTypeNode)):
            node = node.type
        if node.name.value not in SPECIFIED_SCALARS:  # type: ignore[attr-defined]
            return False
    return True


class GraphQLImporter:
    def __init__(self, text: str) -> None:
        try:
            self.document: DocumentNode = parse(text)
        except GraphQLError as exc:
            raise ImportRejected("GraphQL schema file parsing error") from exc
        self.text = text

    def _identity(self) -> tuple[str, str]:
        for comment in leading_comments(self.text):
            content = java_trim(comment)
            if content.startswith(MICROCKS_ID_STARTER):
                identifiers = content[len(MICROCKS_ID_STARTER) :]
                if ":" in identifiers:
                    pieces = identifiers.split(":")
                    return java_trim(pieces[0]), java_trim(pieces[1])
                raise ImportRejected(
                    "microcksId comment is malformed. Expecting 'microcksId: <API_name>:<API_version>'"
                )
        raise ImportRejected(
            "No microcksId: comment found into GraphQL schema to get API name and version"
        )

    def services(self) -> list[ParsedService]:
        name, version = self._identity()
        operations = []
        for definition in self.document.definitions:
            if not isinstance(definition, ObjectTypeDefinitionNode):
                continue
            if definition.name.value.lower() not in VALID_OPERATION_TYPES:
                continue
            for field in definition.fields or ():
                operation = Operation(name=field.name.value, method=definition.name.value.upper())
                if field.arguments:
                    operation.input_name = ", ".join(_type_name(a.type) for a in field.arguments)
                    if _only_primitive_args(field.arguments):
                        operation.dispatcher = d.QUERY_ARGS
                        operation.dispatcher_rules = " && ".join(
                            a.name.value for a in field.arguments
                        )
                operation.output_name = _type_name(field.type)
                operations.append(operation)
        return [
            ParsedService(
                name, version, "GRAPHQL", None, operations, resources={GRAPHQL_SCHEMA: self.text}
            )
        ]

    def messages(self, service: Service, operation: Operation) -> list[Exchange]:
        return []  # a schema carries no examples
