"""Desired state of an entity's mocks: what Microcks should hold, with content fingerprints.

This module holds the domain values and `load_entity_desired`, which reads the entity's
microcks.yaml and artifacts through an ArtifactReader, stamps them in memory and fingerprints
them; it never touches Microcks, Dagster or the database.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

from microcks_pipeline.core.config import MockSpec, parse_config
from microcks_pipeline.core.errors import ConfigError, PermanentError, PipelineError
from microcks_pipeline.core.identity import service_version
from microcks_pipeline.core.model import Entity
from microcks_pipeline.core.stamp import (
    ParsedDoc,
    parse_document,
    parse_main,
    render_main,
    render_secondary,
    secondary_kind,
)
from microcks_pipeline.sources.artifacts import ArtifactReader, Source, sha256_hex, url_folder
from microcks_pipeline.sources.locate import locate_config

STAMP_FORMAT_VERSION = 1  # bump when stamping output changes, so every mock is re-uploaded


@dataclass(frozen=True)
class Artifact:
    """One file to upload, read entirely into memory."""

    role: Literal["main", "secondary"]
    kind: str  # "openapi" for the main artifact; the microcks.yaml `kind` label for secondaries
    location: str  # resolved location: repo-relative path (file) or absolute URL
    upload_name: str  # stable per artifact: Microcks keys examples by uploaded file name
    content: bytes
    sha256: str


@dataclass(frozen=True)
class DesiredMock:
    """A mock that must exist in Microcks as service `service_name` / `version`."""

    entity_ref: str
    mock_id: str
    service_name: str
    version: str
    include_in_swagger: bool
    main: Artifact
    secondaries: tuple[Artifact, ...]
    fingerprint: str
    warnings: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class MockFailure:
    """A mock (or, with mock_id ENTITY_MOCK_ID, the whole entity) that could not be loaded.

    permanent: config invalid, path/URL refused, main artifact unstampable. The worker deletes the
    mock's services and marks the row `error`. transient: a read error; nothing changes until a
    later tick reads it.
    """

    entity_ref: str
    mock_id: str
    reason: str
    permanent: bool
    fingerprint: str  # hash of the failure, so a new reason or a fix requeues it


# Row key for an entity-level failure when no mockId is known (microcks.yaml missing/invalid).
# Its leading underscore can never match a valid mockId.
ENTITY_MOCK_ID = "_entity"


@dataclass(frozen=True)
class EntityDesired:
    """Everything the catalog says about one entity's mocks at one moment."""

    entity_ref: str
    entity_name: str
    mocks: tuple[DesiredMock, ...]
    failures: tuple[MockFailure, ...] = field(default=())
    warnings: tuple[str, ...] = field(default=())  # file-level, e.g. unknown keys in microcks.yaml

    @property
    def transient_failure(self) -> bool:
        return any(not f.permanent for f in self.failures)


# ---- fingerprints ---------------------------------------------------------------------------

MAX_REASON_CHARS = 1000  # reasons go into rows and events: short, never a stack trace


def _canonical_sha(value: Mapping[str, Any]) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def mock_fingerprint(
    entity_ref: str,
    entry: Mapping[str, Any],
    artifacts: Sequence[tuple[str, str, str]],
    *,
    service_name: str | None = None,
) -> str:
    """sha256 of the canonical JSON of what decides a mock's uploads: the entity ref, the mock's
    own microcks.yaml entry, the stamp format version, and (role/kind, location, content
    sha256) per artifact in upload order. `service_name` (metadata.name, whose case the ref
    loses) is stamped into every artifact, so it counts too when given."""
    value: dict[str, Any] = {
        "entity_ref": entity_ref,
        "entry": entry,
        "stamp_format_version": STAMP_FORMAT_VERSION,
        "artifacts": [list(a) for a in artifacts],
    }
    if service_name is not None:
        value["service_name"] = service_name
    return _canonical_sha(value)


def failure_fingerprint(entity_ref: str, mock_id: str, reason: str) -> str:
    """A failure's fingerprint: a new reason (or a fix, which yields a mock) requeues the row."""
    return _canonical_sha(
        {
            "entity_ref": entity_ref,
            "mock_id": mock_id,
            "failure": reason,
            "stamp_format_version": STAMP_FORMAT_VERSION,
        }
    )


# ---- loading --------------------------------------------------------------------------------

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def upload_name(location: str, suffix: str | None = None) -> str:
    """A file name stable per artifact location: `<stem>-<8 hex of sha256(location)><suffix>`.
    Microcks keys examples by uploaded file name, so it must neither change nor collide."""
    last = PurePosixPath(location.split("?", 1)[0].rstrip("/") or "artifact").name
    path = PurePosixPath(last)
    stem = _UNSAFE_NAME.sub("_", path.stem).strip("._")[:60] or "artifact"
    ext = suffix if suffix is not None else _UNSAFE_NAME.sub("_", path.suffix)[:10]
    digest = hashlib.sha256(location.encode("utf-8")).hexdigest()[:8]
    return f"{stem}-{digest}{ext or '.yaml'}"


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
        self._parsed: dict[tuple[str, str], ParsedDoc | None | Exception] = {}

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
        key = ("inline", "spec.definition")
        if key not in self._raw:
            content = text.encode("utf-8")
            self._raw[key] = _Raw("spec.definition", content, sha256_hex(content))
        return _unwrap(self._raw[key])

    def main_doc(self, raw: _Raw) -> ParsedDoc:
        key = ("main", raw.location)
        if key not in self._parsed:
            try:
                self._parsed[key] = parse_main(raw.content)
            except ConfigError as exc:
                self._parsed[key] = ConfigError(f"main artifact {raw.location}: {exc}")
        doc = _unwrap(self._parsed[key])
        assert doc is not None
        return doc

    def secondary_doc(self, raw: _Raw) -> ParsedDoc | None:
        key = ("secondary", raw.location)
        if key not in self._parsed:
            try:
                doc = parse_document(raw.content)
            except ConfigError:
                doc = None
            self._parsed[key] = doc if secondary_kind(doc) else None
        return _unwrap(self._parsed[key])


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


def _main_raw(files: _EntityFiles, entity: Entity, openapi_path: str | None, folder: str) -> _Raw:
    if openapi_path is not None:
        return files.raw(files.resolve(openapi_path, folder))
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
        "no OpenAPI definition: neither openapi.path in microcks.yaml nor spec.definition"
    )


def _load_mock(entity: Entity, mock: MockSpec, files: _EntityFiles, folder: str) -> DesiredMock:
    version = service_version(entity.ref, mock.mock_id)
    raw_main = _main_raw(files, entity, mock.openapi_path, folder)
    doc = files.main_doc(raw_main)
    main_suffix = ".json" if doc.fmt == "json" else ".yaml"
    main = Artifact(
        role="main",
        kind="openapi",
        location=raw_main.location,
        upload_name=upload_name(
            "definition" if raw_main.location == "spec.definition" else raw_main.location,
            main_suffix if raw_main.location == "spec.definition" else None,
        ),
        content=render_main(doc, entity.name, version),
        sha256=raw_main.sha256,
    )
    secondaries: list[Artifact] = []
    warnings: list[str] = []
    for ref in mock.artifacts:
        raw = files.raw(files.resolve(ref.path, folder))
        parsed = files.secondary_doc(raw)
        if parsed is None:
            content, name = raw.content, upload_name(raw.location)
            warnings.append(
                f"artifact {raw.location} ({ref.kind}) is not an APIExamples or APIMetadata "
                "document: uploaded unchanged"
            )
        else:
            content = render_secondary(parsed, entity.name, version)
            name = upload_name(raw.location, ".yaml")  # stamped output is always YAML
        secondaries.append(Artifact("secondary", ref.kind, raw.location, name, content, raw.sha256))
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
        service_name=entity.name,
        version=version,
        include_in_swagger=mock.include_in_swagger,
        main=main,
        secondaries=tuple(secondaries),
        fingerprint=fingerprint,
        warnings=tuple(warnings),
    )


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
    return EntityDesired(
        entity.ref, entity.name, tuple(mocks), tuple(failures), warnings=config.warnings
    )
