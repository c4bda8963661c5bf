"""Postman collections v2/v2.1 (and the workspace export wrapping one in `collection`).

Microcks detects them only when `"_postman_id":` (or `"collection":`) begins a line, so a
minified collection is misdetected (as HAR) and refused here with that reason. The identity
is `info.name` and `info.version` (else `version=` in the description); the stamp sets both and
writes indented JSON with the deciding line near the top. As a main artifact the service is
REST; as a secondary it carries examples for OpenAPI, Swagger, GraphQL, gRPC and SOAP services.
"""

from __future__ import annotations

import json
from typing import Any

from microcks_pipeline.core.desired import ArtifactFacts
from microcks_pipeline.core.errors import ConfigError
from microcks_pipeline.kinds.base import Kind, Parsed, mapping, text


def looks_like_collection(data: Any) -> bool:
    node = data.get("collection") if isinstance(data, dict) and "collection" in data else data
    return isinstance(node, dict) and isinstance(node.get("info"), dict) and "item" in node


class Postman(Kind):
    name = "postman"
    title = "Postman collection"
    service_type = "REST"
    purpose = "examples"

    def matches(self, line: str) -> bool:
        return (
            line.startswith('"_postman_id":')
            or line.startswith('"collection":')
            or line.startswith('{"collection":')
        )

    def parse(self, content: bytes) -> Parsed:
        try:
            data = json.loads(text(content))
        except (ValueError, RecursionError):
            raise ConfigError("a Postman collection must be JSON") from None
        if not looks_like_collection(data):
            raise ConfigError(
                "only Postman v2 collections are supported (an `info` and an `item` list)"
            )
        return Parsed(self, data, "json", ".json")

    def stamp(self, parsed: Parsed, name: str, version: str) -> bytes:
        data: dict[str, Any] = parsed.value
        wrapped = "collection" in data
        collection = dict(data["collection"] if wrapped else data)
        info = dict(mapping(collection.get("info")))
        info["name"] = name
        info["version"] = version
        postman_id = info.pop("_postman_id", None)
        info = ({"_postman_id": postman_id} if postman_id is not None else {}) | info
        out = {"info": info} | {k: v for k, v in collection.items() if k != "info"}
        if wrapped:
            out = {"collection": out} | {k: v for k, v in data.items() if k != "collection"}
        try:
            return (json.dumps(out, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        except RecursionError:
            raise ConfigError("collection nests too deeply to stamp") from None

    def stamp_secondary(self, parsed: Parsed, name: str, version: str) -> bytes:
        return self.stamp(parsed, name, version)

    def facts(self, parsed: Parsed) -> ArtifactFacts:
        # The operations a collection yields depend on its URLs and the service it joins;
        # their dispatchers are not predicted here (not verified for a Postman main).
        return ArtifactFacts(kind=self.name, purpose=self.purpose, service_type=self.service_type)


POSTMAN = Postman()
