"""In-memory Microcks repository: services and their examples, and the import rules of ServiceService."""

from __future__ import annotations

import copy
import re
import threading
from dataclasses import dataclass

from .importers import ImportCrashed, Importer, make_importer
from .model import Metadata, Pair, Service, now_millis, object_id


@dataclass(frozen=True)
class ServiceSnapshot:
    """A consistent copy of one service and its stored examples, for readers outside the lock."""

    service: Service
    pairs: tuple[Pair, ...]

    def pairs_of(self, operation_name: str) -> list[Pair]:
        return [p for p in self.pairs if p.operation_name == operation_name]


class Store:
    """Thread-safe: the server thread and a test thread may both use it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._services: dict[str, Service] = {}
        self._pairs: list[Pair] = []

    # --- reads --------------------------------------------------------------------------------

    def _find(self, name: str, version: str) -> Service | None:
        return next(
            (s for s in self._services.values() if s.name == name and s.version == version), None
        )

    def _by_id(self, service_id: str) -> Service | None:
        """getServiceById: `name:version` split at the first colon, `+` in the name is a space."""
        if ":" in service_id:
            name, version = service_id.split(":", 1)
            return self._find(name.replace("+", " "), version)
        return self._services.get(service_id)

    def snapshot(self, service_id: str) -> ServiceSnapshot | None:
        with self._lock:
            service = self._by_id(service_id)
            return self._snapshot(service) if service else None

    def snapshot_by_name(self, name: str, version: str) -> ServiceSnapshot | None:
        with self._lock:
            service = self._find(name, version)
            return self._snapshot(service) if service else None

    def _snapshot(self, service: Service) -> ServiceSnapshot:
        pairs = tuple(copy.deepcopy([p for p in self._pairs if p.service_id == service.id]))
        return ServiceSnapshot(copy.deepcopy(service), pairs)

    def services(self) -> list[Service]:
        """All services sorted by name then version, as Microcks lists them."""
        with self._lock:
            ordered = sorted(self._services.values(), key=lambda s: (s.name, s.version))
            return copy.deepcopy(ordered)

    def count(self) -> int:
        with self._lock:
            return len(self._services)

    def search(self, name_regex: str | None, labels: dict[str, str]) -> list[Service]:
        """Mongo-style search: case-insensitive unanchored regex on name, exact label values."""
        pattern = re.compile(name_regex, re.IGNORECASE) if name_regex is not None else None
        with self._lock:
            found = [
                s
                for s in self._services.values()
                if (pattern is None or pattern.search(s.name))
                and all((s.metadata.labels or {}).get(k) == v for k, v in labels.items())
            ]
            return copy.deepcopy(found)

    # --- writes -------------------------------------------------------------------------------

    def delete(self, service_id: str) -> bool:
        """Delete a service and its examples; True whether or not it existed (Microcks answers 200)."""
        with self._lock:
            service = self._by_id(service_id)
            if service is not None:
                del self._services[service.id]
                self._pairs = [p for p in self._pairs if p.service_id != service.id]
            return True

    def clear(self) -> None:
        with self._lock:
            self._services.clear()
            self._pairs.clear()

    def import_artifact(self, data: bytes, artifact_name: str, main_artifact: bool) -> list[str]:
        """Import like ServiceService.importServiceDefinition; returns `name:version` of each service.

        Raises ImportRejected (answered 400) or ImportCrashed (answered 500). Unlike Microcks'
        non-transactional Mongo writes, a failing import leaves the store untouched.
        """
        importer = make_importer(data)
        parsed_services = importer.services()
        with self._lock:
            services = copy.deepcopy(self._services)
            pairs = list(self._pairs)
            answer = [f"{p.name}:{p.version}" for p in parsed_services]
            for parsed in parsed_services:
                existing = next(
                    (
                        s
                        for s in services.values()
                        if s.name == parsed.name and s.version == parsed.version
                    ),
                    None,
                )
                if main_artifact:
                    if existing is not None:
                        metadata = existing.metadata
                        # Labels/annotations carried by the new artifact overwrite the old ones.
                        if parsed.metadata is not None:
                            metadata.labels = parsed.metadata.labels
                            metadata.annotations = parsed.metadata.annotations
                    else:
                        metadata = parsed.metadata or Metadata()
                    metadata.last_update = now_millis()
                    reference = Service(
                        id=existing.id if existing is not None else object_id(),
                        name=parsed.name,
                        version=parsed.version,
                        type=parsed.type,
                        metadata=metadata,
                        source_artifact=artifact_name,
                        operations=parsed.operations,
                    )
                    services[reference.id] = reference
                else:
                    if existing is None:
                        # Microcks logs "Just skipping." and still answers 201 name:version.
                        break
                    reference = existing
                    _merge_secondary(reference, parsed.metadata, parsed.operations)
                pairs = _replace_messages(pairs, importer, reference, artifact_name)
            self._services = services
            self._pairs = pairs
            return answer


def _merge_secondary(reference: Service, metadata: Metadata | None, operations: list) -> None:
    if metadata is not None:
        reference.metadata.labels = metadata.labels
        reference.metadata.annotations = metadata.annotations
    for operation in operations:
        existing = reference.operation(operation.name)
        if existing is None:
            continue  # operations unknown to the service are ignored
        if operation.default_delay is not None:
            existing.default_delay = operation.default_delay
        if operation.default_delay_strategy is not None:
            existing.default_delay_strategy = operation.default_delay_strategy
        if operation.dispatcher is not None:
            existing.dispatcher = operation.dispatcher
        if operation.dispatcher_rules is not None:
            existing.dispatcher_rules = operation.dispatcher_rules
        for constraint in operation.parameter_constraints or []:
            existing.add_parameter_constraint(constraint)
        if operation.trigger_infos is not None:
            existing.trigger_infos = [*(existing.trigger_infos or []), *operation.trigger_infos]


def _replace_messages(
    pairs: list[Pair], importer: Importer, reference: Service, artifact_name: str
) -> list[Pair]:
    """Examples are replaced per (operation, source artifact) and accumulate across artifact names."""
    for operation in reference.operations:
        pairs = [
            p
            for p in pairs
            if not (
                p.service_id == reference.id
                and p.operation_name == operation.name
                and p.source_artifact == artifact_name
            )
        ]
        try:
            exchanges = importer.messages(reference, operation)
        except (ImportCrashed, ValueError) as exc:
            raise ImportCrashed(str(exc)) from exc
        operation_id = f"{reference.id}-{operation.name}"
        for request, response in exchanges:
            request = copy.deepcopy(request)
            response = copy.deepcopy(response)
            response.id = object_id()
            response.operation_id = operation_id
            response.source_artifact = artifact_name
            request.id = object_id()
            request.operation_id = operation_id
            request.source_artifact = artifact_name
            request.response_id = response.id
            pairs.append(Pair(reference.id, operation.name, artifact_name, request, response))
    return pairs
