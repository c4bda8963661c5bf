"""Load an entity's desired state: read its microcks.yaml and artifacts through an ArtifactReader,
stamp them in memory and fingerprint them; never touches Microcks, Dagster or the database.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from microcks_pipeline.core.config import MockSpec, parse_config
from microcks_pipeline.core.desired import (
    ENTITY_MOCK_ID,
    MAX_REASON_CHARS,
    Artifact,
    ArtifactFacts,
    DesiredMock,
    EntityDesired,
    MockFailure,
    failure_fingerprint,
    mock_fingerprint,
    upload_name,
)
from microcks_pipeline.core.documents import ParsedDoc
from microcks_pipeline.core.errors import ConfigError, PermanentError, PipelineError
from microcks_pipeline.core.identity import service_version
from microcks_pipeline.core.mock_servers import without_mock_servers
from microcks_pipeline.core.model import Entity
from microcks_pipeline.kinds import Parsed, facts, read_main, read_secondary, stamp_main
from microcks_pipeline.kinds import stamp_secondary as stamp_secondary_artifact
from microcks_pipeline.sources.artifacts import ArtifactReader, Source, sha256_hex
from microcks_pipeline.sources.locate import locate_config
from microcks_pipeline.sources.urls import url_folder


def _short(reason: str) -> str:
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 1] + "…"


@dataclass(frozen=True)
class _Raw:
    location: str
    content: bytes
    sha256: str


class _EntityFiles:
    """Reads, hashes and parses each artifact once per entity, however many mocks share it."""

    def __init__(self, reader: ArtifactReader, entity: Entity) -> None:
        self.reader = reader
        self.entity = entity
        self._raw: dict[tuple[str, str], _Raw | Exception] = {}
        self._parsed: dict[tuple[str, str], Parsed | None | Exception] = {}

    def resolve(self, ref: str, base_dir: str) -> Source:
        return self.reader.resolve(ref, base_dir=base_dir, location=self.entity.location)

    def raw(self, source: Source) -> _Raw:
        key = (source.kind, source.location)
        if key not in self._raw:
            try:
                content = self.reader.read(source)
                self._raw[key] = _Raw(source.location, content, sha256_hex(content))
            except PipelineError as exc:
                self._raw[key] = exc
        return _unwrap(self._raw[key])

    def inline(self, text: str) -> _Raw:
        """spec.definition, hashed by its content without injected servers: read back from
        Backstage after its module decorated it, it keeps the fingerprint it had before."""
        key = ("inline", "spec.definition")
        if key not in self._raw:
            content = text.encode("utf-8")
            raw = _Raw("spec.definition", content, sha256_hex(content))
            self._raw[key] = raw
            try:
                doc = self.main_doc(raw)
            except ConfigError:
                pass  # main_doc answers the same error when the mock loads it
            else:
                digest = document_sha256(doc)
                if digest is not None:
                    self._raw[key] = replace(raw, sha256=digest)
        return _unwrap(self._raw[key])

    def main_doc(self, raw: _Raw) -> Parsed:
        key = ("main", raw.location)
        if key not in self._parsed:
            try:
                self._parsed[key] = without_injected_servers(read_main(raw.content))
            except ConfigError as exc:
                self._parsed[key] = ConfigError(f"main artifact {raw.location}: {exc}")
        doc = _unwrap(self._parsed[key])
        assert doc is not None
        return doc

    def secondary_doc(self, raw: _Raw) -> Parsed | None:
        key = ("secondary", raw.location)
        if key not in self._parsed:
            self._parsed[key] = read_secondary(raw.content)
        return _unwrap(self._parsed[key])


def without_injected_servers(parsed: Parsed) -> Parsed:
    """The main artifact without the servers Backstage's module injected (documents only)."""
    doc = parsed.value
    if isinstance(doc, ParsedDoc) and isinstance(doc.data, dict):
        return replace(parsed, value=replace(doc, data=without_mock_servers(doc.data)))
    return parsed


def document_sha256(parsed: Parsed) -> str | None:
    """sha256 of a parsed document's data, in its order, and its format: what stamping reads
    of it (comments and layout do not count). None for a kind read as text (GraphQL, proto,
    XML): its bytes are what Microcks reads."""
    doc = parsed.value
    if not isinstance(doc, ParsedDoc):
        return None
    text = json.dumps([doc.fmt, doc.data], separators=(",", ":"), ensure_ascii=False, default=str)
    return sha256_hex(text.encode("utf-8"))


def _unwrap(value: Any) -> Any:
    if isinstance(value, Exception):
        raise value
    return value


def _config_folder(source: Source) -> str:
    if source.kind == "file":
        assert source.path is not None
        return str(source.path.parent)
    assert source.url is not None
    return url_folder(source.url)


# Backstage API types whose spec.definition Microcks can import as a main artifact.
DEFINITION_TYPES = ("openapi", "asyncapi", "graphql", "grpc")


def _main_raw(files: _EntityFiles, entity: Entity, main_path: str | None, folder: str) -> _Raw:
    if main_path is not None:
        return files.raw(files.resolve(main_path, folder))
    api_type = str(entity.spec.get("type") or "").lower()
    if entity.spec.get("definition") and api_type and api_type not in DEFINITION_TYPES:
        raise ConfigError(
            f"spec.type {api_type!r}: only {', '.join(DEFINITION_TYPES)} definitions "
            "are mocked from spec.definition; give main.path in microcks.yaml for other kinds"
        )
    definition = entity.spec.get("definition")
    if isinstance(definition, str) and definition.strip():
        return files.inline(definition)
    if isinstance(definition, Mapping) and isinstance(definition.get("$text"), str):
        # `$text` is relative to the ENTITY's file, and must stay inside its repository too
        source = files.resolve(definition["$text"], entity.location.base_dir)
        return files.raw(source)
    if isinstance(definition, Mapping) and definition:
        raise ConfigError("spec.definition: only text or a {$text: <path or URL>} is supported")
    raise ConfigError(
        "no main artifact (no OpenAPI definition or other API definition): neither main.path "
        "(or openapi.path) in microcks.yaml nor spec.definition"
    )


def _load_mock(entity: Entity, mock: MockSpec, files: _EntityFiles, folder: str) -> DesiredMock:
    owner = service_version(entity.ref, mock.mock_id)
    raw_main = _main_raw(files, entity, mock.main_path, folder)
    parsed = files.main_doc(raw_main)
    # The kind decides who names the service: us (stamped), or the content itself (gRPC).
    fixed = parsed.kind.fixed_identity(parsed)
    name, version = fixed if fixed is not None else (entity.name, owner)
    inline = raw_main.location == "spec.definition"
    main = Artifact(
        role="main",
        kind="main",
        location=raw_main.location,
        upload_name=upload_name(
            "definition" if inline else raw_main.location, parsed.suffix if inline else None
        ),
        content=stamp_main(parsed, name, version),
        sha256=raw_main.sha256,
        facts=facts(parsed),
    )
    secondaries: list[Artifact] = []
    warnings: list[str] = []
    for ref in mock.artifacts:
        raw = files.raw(files.resolve(ref.path, folder))
        doc = files.secondary_doc(raw)
        stamped = stamp_secondary_artifact(doc, name, version) if doc is not None else None
        if doc is None or stamped is None:
            content, artifact_name, artifact_facts = raw.content, upload_name(raw.location), None
            warnings.append(
                f"artifact {raw.location} ({ref.kind}) is not an APIExamples, APIMetadata, "
                "Postman or HAR document: uploaded unchanged"
            )
        else:
            content, artifact_name = stamped, upload_name(raw.location, doc.suffix)
            artifact_facts = facts(doc)
        secondaries.append(
            Artifact(
                "secondary",
                ref.kind,
                raw.location,
                artifact_name,
                content,
                raw.sha256,
                artifact_facts or ArtifactFacts(),
            )
        )
    fingerprint = mock_fingerprint(
        entity.ref,
        mock.entry,
        [("main", main.location, main.sha256)]
        + [(f"secondary:{a.kind}", a.location, a.sha256) for a in secondaries],
        service_name=entity.name,
    )
    return DesiredMock(
        entity_ref=entity.ref,
        mock_id=mock.mock_id,
        service_name=name,
        version=version,
        include_in_swagger=mock.include_in_swagger,
        main=main,
        secondaries=tuple(secondaries),
        fingerprint=fingerprint,
        warnings=tuple(warnings),
        owner=owner if fixed is not None else None,
    )


def _claim_identities(
    ref: str, mocks: list[DesiredMock], failures: list[MockFailure]
) -> list[DesiredMock]:
    """Two mocks of one entity cannot be the same Microcks service (gRPC names come from the
    proto): the later one fails with the conflict, naming the first."""
    seen: dict[tuple[str, str], str] = {}
    kept = []
    for mock in mocks:
        key = (mock.service_name, mock.version)
        if key in seen:
            failures.append(
                _failure(
                    ref,
                    mock.mock_id,
                    ConfigError(
                        f"conflict: service {mock.service_name}:{mock.version} is already "
                        f"declared by mock {seen[key]!r} of {ref}"
                    ),
                )
            )
            continue
        seen[key] = mock.mock_id
        kept.append(mock)
    return kept


def _failure(ref: str, mock_id: str, exc: Exception) -> MockFailure:

    reason = _short(str(exc))
    return MockFailure(
        entity_ref=ref,
        mock_id=mock_id,
        reason=reason,
        permanent=isinstance(exc, PermanentError),
        fingerprint=failure_fingerprint(ref, mock_id, reason),
    )


def load_entity_desired(entity: Entity, reader: ArtifactReader) -> EntityDesired:
    """Every mock the entity declares, stamped and fingerprinted, or the failure of each.

    Entity-level problems (annotation, microcks.yaml missing or unparseable, a whole-file
    field invalid) give one failure with mock_id ENTITY_MOCK_ID; a mock's own problems (in its
    entry or its files) fail that mock only."""
    files = _EntityFiles(reader, entity)
    try:
        source = locate_config(entity, reader)
        content = files.raw(source).content
        try:
            config = parse_config(content, source.location)
        except RecursionError:  # hostile nesting must fail this entity, not the whole pass
            raise ConfigError("nests too deeply", file=source.location) from None
    except PipelineError as exc:
        failure = _failure(entity.ref, ENTITY_MOCK_ID, exc)
        return EntityDesired(entity.ref, entity.name, (), (failure,))
    folder = _config_folder(source)
    mocks: list[DesiredMock] = []
    # A problem in one mock's entry fails that mock only (its reason names file:line:field).
    failures = [_failure(entity.ref, m.mock_id, ConfigError(m.reason)) for m in config.invalid]
    for spec in config.mocks:
        try:
            mocks.append(_load_mock(entity, spec, files, folder))
        except PipelineError as exc:
            failures.append(_failure(entity.ref, spec.mock_id, exc))
        except RecursionError:
            failures.append(_failure(entity.ref, spec.mock_id, ConfigError("nests too deeply")))
    mocks = _claim_identities(entity.ref, mocks, failures)
    return EntityDesired(
        entity.ref, entity.name, tuple(mocks), tuple(failures), warnings=config.warnings
    )
