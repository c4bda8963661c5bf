"""APIMetadata and APIExamples: Microcks' protocol-neutral secondaries.

Detected only by the YAML form `kind: APIMetadata` / `kind: APIExamples` on a line (JSON
`"kind":` never matches), so the stamped output is YAML with `kind:` on its first line and
`metadata.name`/`metadata.version` set to the mock's identity. An APIMetadata replaces the
service's labels and annotations and sets the dispatchers of the operations it names; an
APIExamples adds examples, for every service type (REST, SOAP, GraphQL `variables`, gRPC
`body`, AsyncAPI `eventMessage`).
"""

from __future__ import annotations

from typing import Any

from microcks_pipeline.core.desired import ArtifactFacts
from microcks_pipeline.core.documents import render
from microcks_pipeline.core.errors import ConfigError
from microcks_pipeline.kinds.base import Kind, Parsed, as_text, json_or_yaml, mapping, texts


class _SecondaryDocument(Kind):
    marker: str

    def matches(self, line: str) -> bool:
        return f"kind: {self.marker}" in line

    def parse(self, content: bytes) -> Parsed:
        doc = json_or_yaml(content, self.title)
        if doc.data.get("kind") != self.marker:
            raise ConfigError(f"not an {self.marker} document")
        return Parsed(self, doc, "yaml", ".yaml")

    def stamp_secondary(self, parsed: Parsed, name: str, version: str) -> bytes:
        data: dict[str, Any] = parsed.value.data
        metadata = dict(mapping(data.get("metadata")))
        metadata["name"] = name
        metadata["version"] = version
        out: dict[str, Any] = {"kind": data["kind"]}
        out.update((k, v) for k, v in data.items() if k != "kind")
        out["metadata"] = metadata
        return render(out, "yaml")

    def stamp(self, parsed: Parsed, name: str, version: str) -> bytes:
        raise ConfigError(f"an {self.marker} document is a secondary artifact, not a main one")


class APIMetadata(_SecondaryDocument):
    name = "APIMetadata"
    title = "APIMetadata"
    marker = "APIMetadata"
    purpose = "metadata"

    def facts(self, parsed: Parsed) -> ArtifactFacts:
        data = parsed.value.data
        metadata = mapping(data.get("metadata"))
        overrides: dict[str, dict[str, str]] = {}
        for operation, props in mapping(data.get("operations")).items():
            if not isinstance(props, dict):
                continue
            values = {}
            if "dispatcher" in props:
                values["dispatcher"] = as_text(props["dispatcher"])
            if "dispatcherRules" in props:
                values["rules"] = as_text(props["dispatcherRules"])
            overrides[str(operation)] = values
        return ArtifactFacts(
            kind=self.name,
            purpose="metadata",
            operation_overrides=overrides,
            labels=texts(metadata.get("labels")),
            annotations=texts(metadata.get("annotations")),
        )


class APIExamples(_SecondaryDocument):
    name = "APIExamples"
    title = "APIExamples"
    marker = "APIExamples"
    purpose = "examples"

    def facts(self, parsed: Parsed) -> ArtifactFacts:
        operations = mapping(parsed.value.data.get("operations"))
        with_examples = frozenset(
            str(name)
            for name, examples in operations.items()
            if isinstance(examples, dict)
            and any(
                isinstance(e, dict)
                and (("request" in e and "response" in e) or "eventMessage" in e)
                for e in examples.values()
            )
        )
        return ArtifactFacts(kind=self.name, purpose="examples", example_operations=with_examples)


API_METADATA = APIMetadata()
API_EXAMPLES = APIExamples()
