"""HAR (HTTP Archive 1.1/1.2): Microcks' fallback importer, used when no other rule matches a
line. The identity is the `microcksId: <name>:<version>` line of `log.comment`; the stamp sets
it. Since anything unrecognised lands here, parsing first names what the file more likely is
(a minified Postman collection, a proto2 file, JSON without a marker line) so the error says
why Microcks would not import it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from microcks_pipeline.core.desired import ArtifactFacts
from microcks_pipeline.core.errors import ConfigError
from microcks_pipeline.kinds.base import Kind, Parsed, mapping, text
from microcks_pipeline.kinds.postman import looks_like_collection

_SYNTAX = re.compile(r"""^\s*(syntax|edition)\s*=\s*["']([^"']*)["']\s*;""", re.MULTILINE)
_ID_LINE = re.compile(r"^\s*microcksId:.*$", re.MULTILINE)


def _misdetected(source: str, data: Any) -> str | None:
    """Why Microcks would fall back to HAR for a file that is not one, or None."""
    syntax = _SYNTAX.search(source)
    if syntax is not None:
        return (
            f'a proto file with {syntax.group(1)} = "{syntax.group(2)}": Microcks imports only '
            'proto3 written exactly `syntax = "proto3";` on its own line'
        )
    if looks_like_collection(data):
        return (
            "a Postman collection Microcks cannot detect: it looks for a line beginning with "
            '`"_postman_id":` (a minified or re-ordered collection has none); '
            "pretty-print it with one key per line"
        )
    if "type Query" in source or "type Mutation" in source:
        return (
            "a GraphQL schema Microcks cannot detect: write `type Query {` or `type Mutation {` "
            "with one space before the brace, or a leading `# microcksId:` comment"
        )
    if (
        isinstance(data, dict)
        and "kind" in data
        and data.get("kind") in ("APIExamples", "APIMetadata")
    ):
        return f"a JSON {data['kind']} document: Microcks detects it only as YAML `kind: {data['kind']}`"
    return None


class Har(Kind):
    name = "har"
    title = "HAR archive"
    service_type = "REST"
    purpose = "examples"

    def matches(self, line: str) -> bool:
        return False  # the default when nothing else matched

    def parse(self, content: bytes) -> Parsed:
        source = text(content)
        try:
            data: Any = json.loads(source)
        except (ValueError, RecursionError):
            data = None
        why = _misdetected(source, data)
        if why is not None:
            raise ConfigError(why)
        log = mapping(data.get("log")) if isinstance(data, dict) else {}
        if not log:
            raise ConfigError(
                "not a kind Microcks recognises (OpenAPI, Swagger, AsyncAPI, GraphQL, gRPC "
                "proto3, Postman, SoapUI, APIExamples, APIMetadata): it would be read as a HAR "
                "archive and refused"
            )
        if str(log.get("version")) not in ("1.1", "1.2"):
            raise ConfigError("HAR version is not supported (Microcks takes 1.1 and 1.2)")
        return Parsed(self, data, "json", ".har")

    def stamp(self, parsed: Parsed, name: str, version: str) -> bytes:
        if ":" in name:
            raise ConfigError(f"a HAR service name cannot contain ':' ({name!r})")
        data = dict(parsed.value)
        log = dict(data["log"])
        comment = _ID_LINE.sub("", str(log.get("comment") or "")).strip("\n")
        log["comment"] = f"microcksId: {name}:{version}" + (f"\n{comment}" if comment else "")
        data["log"] = log
        try:
            return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        except RecursionError:
            raise ConfigError("archive nests too deeply to stamp") from None

    def stamp_secondary(self, parsed: Parsed, name: str, version: str) -> bytes:
        return self.stamp(parsed, name, version)

    def facts(self, parsed: Parsed) -> ArtifactFacts:
        return ArtifactFacts(kind=self.name, purpose=self.purpose, service_type=self.service_type)


HAR = Har()
