"""GraphQL SDL: detection, the `# microcksId: <name>:<version>` comment Microcks reads the
identity from (it must sit in the leading comment block; the stamp writes it on line 1), the
QUERY/MUTATION operations and their QUERY_ARGS dispatchers. Served at
`POST /graphql/{name}/{version}`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from graphql import GraphQLError, parse
from graphql.language import ListTypeNode, NonNullTypeNode, ObjectTypeDefinitionNode, TypeNode

from microcks_pipeline.core.desired import ArtifactFacts, Dispatch
from microcks_pipeline.core.errors import ConfigError
from microcks_pipeline.kinds.base import (
    NO_EXAMPLE,
    Endpoints,
    HttpPostServing,
    Kind,
    Parsed,
    ProbeResult,
    first_exchange,
    text,
)

MICROCKS_ID = "# microcksId:"
_OPERATION_TYPES = ("query", "mutation")
_BUILT_IN_SCALARS = ("String", "Int", "Float", "Boolean", "ID")


def _leading_comment_lines(lines: list[str]) -> int:
    """How many lines the leading comment block (comments and blank lines) spans."""
    count = 0
    for line in lines:
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            break
        count += 1
    return count


def _scalar_argument(node: TypeNode) -> bool:
    """A built-in scalar, not a list (GraphQLImporter: QUERY_ARGS only then)."""
    if isinstance(node, NonNullTypeNode):
        node = node.type
    if isinstance(node, ListTypeNode):
        return False
    return getattr(getattr(node, "name", None), "value", None) in _BUILT_IN_SCALARS


class GraphQL(Kind):
    name = "graphql"
    title = "GraphQL schema"
    service_type = "GRAPHQL"

    def matches(self, line: str) -> bool:
        return "type Query {" in line or "type Mutation {" in line or line.startswith(MICROCKS_ID)

    def parse(self, content: bytes) -> Parsed:
        source = text(content)
        try:
            document = parse(source)
        except GraphQLError as exc:
            raise ConfigError(f"not a GraphQL schema: {exc.message}") from None
        except RecursionError:
            raise ConfigError("GraphQL schema nests too deeply") from None
        return Parsed(self, (source, document), "text", ".graphql")

    def stamp(self, parsed: Parsed, name: str, version: str) -> bytes:
        if ":" in name:
            raise ConfigError(f"a GraphQL service name cannot contain ':' ({name!r})")
        source: str = parsed.value[0]
        lines = source.splitlines()
        head = _leading_comment_lines(lines)
        kept = [ln for ln in lines[:head] if not ln.strip().startswith(MICROCKS_ID)] + lines[head:]
        return "\n".join([f"{MICROCKS_ID} {name}:{version}", *kept, ""]).encode("utf-8")

    def facts(self, parsed: Parsed) -> ArtifactFacts:
        dispatchers: dict[str, Dispatch] = {}
        for definition in parsed.value[1].definitions:
            if not isinstance(definition, ObjectTypeDefinitionNode):
                continue
            if definition.name.value.lower() not in _OPERATION_TYPES:
                continue
            for field in definition.fields or ():
                arguments = field.arguments or ()
                if arguments and all(_scalar_argument(a.type) for a in arguments):
                    rules = " && ".join(a.name.value for a in arguments)
                    dispatchers[field.name.value] = ("QUERY_ARGS", rules)
                else:
                    dispatchers[field.name.value] = (None, None)
        return ArtifactFacts(
            kind=self.name,
            purpose=self.purpose,
            service_type=self.service_type,
            dispatchers=dispatchers,
        )


GRAPHQL = GraphQL()


# ---- serving: POST /graphql/{name}/{version}, answers trimmed to the selected fields -----------


def selected_subset(actual: Any, expected: Any) -> bool:
    """Whether `actual` is `expected` trimmed to some selection of its fields (Microcks'
    filterFieldSelection keeps only the fields a query selects)."""
    if isinstance(actual, dict):
        return isinstance(expected, dict) and all(
            k in expected and selected_subset(v, expected[k]) for k, v in actual.items()
        )
    if isinstance(actual, list):
        return (
            isinstance(expected, list)
            and len(actual) == len(expected)
            and all(selected_subset(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return actual == expected


class GraphQLServing(HttpPostServing):
    service_type = "GRAPHQL"
    prefix = "graphql"

    def probe(
        self, endpoints: Endpoints, view: Mapping[str, Any], http: Any, **_: Any
    ) -> ProbeResult:
        example = first_exchange(view)
        if example is None:
            return NO_EXAMPLE
        url = self.address(endpoints, view)
        where = example.where
        answer = self.post(http, url, example, {"Content-Type": "application/json"})
        if isinstance(answer, ProbeResult):
            return answer
        if answer.status_code != 200:
            return ProbeResult(False, f"{where}: HTTP {answer.status_code}, expected 200", url)
        try:
            data = json.loads(answer.text).get("data")
            expected = json.loads(str(example.response.get("content") or "")).get("data")
        except (ValueError, AttributeError):
            return ProbeResult(False, f"{where}: the answer or the example is not JSON", url)
        if not data or not selected_subset(data, expected):
            return ProbeResult(False, f"{where}: data differs from the example", url)
        return ProbeResult(True, f"{where}: answered the selected fields of the example", url)


SERVING = GraphQLServing()
