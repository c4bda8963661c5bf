"""In-memory Microcks repository: services and their examples, and the import rules of ServiceService."""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable, Iterator, MutableMapping, ValuesView
from dataclasses import dataclass
from typing import Any

from .importers import ImportCrashed, Importer, make_importer
from .model import (
    EventMessage,
    Metadata,
    Operation,
    Pair,
    ParameterConstraint,
    Service,
    now_millis,
    object_id,
)


@dataclass(frozen=True)
class ServiceSnapshot:
    """A consistent copy of one service and its stored examples, for readers outside the lock."""

    service: Service
    pairs: tuple[Pair, ...]

    def pairs_of(self, operation_name: str) -> list[Pair]:
        return [p for p in self.pairs if p.operation_name == operation_name]


class _ServiceTable(MutableMapping[str, Service]):
    """Services by id with a (name, version) index kept in step on every write, as Mongo indexes.

    A mapping (not two bare dicts) so that whoever writes `table[id] = service` keeps the index
    right. Stored services never change name or version in place; a write replaces the object.
    """

    def __init__(self) -> None:
        self._by_id: dict[str, Service] = {}
        # Ids per (name, version) in insertion order: the first one wins, as the former scan did.
        self._by_key: dict[tuple[str, str], dict[str, None]] = {}

    def __getitem__(self, service_id: str) -> Service:
        return self._by_id[service_id]

    def __setitem__(self, service_id: str, service: Service) -> None:
        old = self._by_id.get(service_id)
        key = (service.name, service.version)
        if old is not None and (old.name, old.version) != key:
            self._unindex(service_id, old)
        self._by_id[service_id] = service
        self._by_key.setdefault(key, {})[service_id] = None

    def __delitem__(self, service_id: str) -> None:
        self._unindex(service_id, self._by_id.pop(service_id))

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def values(self) -> ValuesView[Service]:
        return self._by_id.values()

    def clear(self) -> None:
        self._by_id.clear()
        self._by_key.clear()

    def find(self, name: str, version: str) -> Service | None:
        ids = self._by_key.get((name, version))
        return self._by_id[next(iter(ids))] if ids else None

    def _unindex(self, service_id: str, service: Service) -> None:
        key = (service.name, service.version)
        ids = self._by_key[key]
        del ids[service_id]
        if not ids:
            del self._by_key[key]


class Store:
    """Thread-safe: the server thread and a test thread may both use it.

    Lookups are indexed and an import copies only the service it updates, so the cost of one
    call does not grow with the number of other services (only list/search/count-all do).
    `copy_observer`, when given, is called with each stored object the store deep-copies
    (before copying), so tests can see what an operation copies.
    """

    def __init__(self, copy_observer: Callable[[object], None] | None = None) -> None:
        self._lock = threading.RLock()
        self._services = _ServiceTable()
        # Examples per service id, in storage order; tuples, replaced (never mutated) on write.
        self._pairs: dict[str, tuple[Pair, ...]] = {}
        self._copy_observer = copy_observer

    def _copy(self, value: Any) -> Any:
        if self._copy_observer is not None:
            self._copy_observer(value)
        return copy.deepcopy(value)

    # --- reads --------------------------------------------------------------------------------

    def _find(self, name: str, version: str) -> Service | None:
        return self._services.find(name, version)

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
        pairs = self._copy(self._pairs.get(service.id, ()))
        return ServiceSnapshot(self._copy(service), pairs)

    def services(self) -> list[Service]:
        """All services sorted by name then version, as Microcks lists them."""
        with self._lock:
            ordered = sorted(self._services.values(), key=lambda s: (s.name, s.version))
            return self._copy(ordered)

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
            return self._copy(found)

    # --- writes -------------------------------------------------------------------------------

    def delete(self, service_id: str) -> bool:
        """Delete a service and its examples; True whether or not it existed (Microcks answers 200)."""
        with self._lock:
            service = self._by_id(service_id)
            if service is not None:
                del self._services[service.id]
                self._pairs.pop(service.id, None)
            return True

    def clear(self) -> None:
        with self._lock:
            self._services.clear()
            self._pairs.clear()

    def import_artifact(self, data: bytes, artifact_name: str, main_artifact: bool) -> list[str]:
        """Import like ServiceService.importServiceDefinition; returns `name:version` of each service.

        Raises ImportRejected (answered 400) or ImportCrashed (answered 500). Unlike Microcks'
        non-transactional Mongo writes, a failing import leaves the store untouched: the import
        works on copies of the services it touches and publishes them only once all succeeded.
        """
        importer = make_importer(data)
        parsed_services = importer.services()
        with self._lock:
            staged: dict[str, Service] = {}  # by id: copies and new services, not yet stored
            staged_pairs: dict[str, list[Pair]] = {}
            answer = [f"{p.name}:{p.version}" for p in parsed_services]
            for parsed in parsed_services:
                existing = self._staged_or_copied(staged, parsed.name, parsed.version)
                if main_artifact:
                    if existing is not None:
                        metadata = existing.metadata
                        # Labels/annotations carried by the new artifact overwrite the old ones.
                        if parsed.metadata is not None:
                            metadata.labels = parsed.metadata.labels
                            metadata.annotations = parsed.metadata.annotations
                        _copy_overridden_operations(existing, parsed.operations)
                    else:
                        metadata = parsed.metadata or Metadata()
                    metadata.last_update = now_millis()
                    if parsed.type == "EVENT":
                        _manage_event_service_defaults(parsed.operations)
                    reference = Service(
                        id=existing.id if existing is not None else object_id(),
                        name=parsed.name,
                        version=parsed.version,
                        type=parsed.type,
                        metadata=metadata,
                        source_artifact=artifact_name,
                        operations=parsed.operations,
                        xml_ns=parsed.xml_ns,
                        resources=parsed.resources,
                    )
                    staged[reference.id] = reference
                else:
                    if existing is None:
                        # Microcks logs "Just skipping." and still answers 201 name:version.
                        break
                    reference = existing
                    _merge_secondary(reference, parsed.metadata, parsed.operations)
                pairs = staged_pairs.get(reference.id)
                if pairs is None:
                    # Stored pairs are never mutated, so the import needs only its own list.
                    pairs = list(self._pairs.get(reference.id, ()))
                staged_pairs[reference.id] = _replace_messages(
                    pairs, importer, reference, artifact_name
                )
            for service_id, service in staged.items():
                self._services[service_id] = service
            for service_id, pairs in staged_pairs.items():
                self._pairs[service_id] = tuple(pairs)
            return answer

    def update_operation(
        self, service_id: str, operation_name: str, values: OperationValues
    ) -> bool:
        """ServiceService.updateOperation: every value replaced (absent ones by null), override set.

        Stored examples keep the criteria they were imported with. False when the service or
        the operation is unknown (Microcks answers 403 then).
        """
        with self._lock:
            stored = self._by_id(service_id)
            service = self._copy(stored) if stored is not None else None
            operation = service.operation(operation_name) if service is not None else None
            if service is None or operation is None:
                return False
            operation.dispatcher = values.dispatcher
            operation.dispatcher_rules = values.dispatcher_rules
            operation.parameter_constraints = values.parameter_constraints
            operation.default_delay = values.default_delay
            operation.default_delay_strategy = values.default_delay_strategy
            operation.override = True
            self._services[service.id] = service
            return True

    def update_metadata(
        self, service_id: str, labels: dict[str, str] | None, annotations: dict[str, str] | None
    ) -> bool:
        """ServiceService.updateMetadata: labels and annotations replaced, lastUpdate refreshed."""
        with self._lock:
            stored = self._by_id(service_id)
            if stored is None:
                return False
            service = self._copy(stored)
            service.metadata.labels = labels
            service.metadata.annotations = annotations
            service.metadata.last_update = now_millis()
            self._services[service.id] = service
            return True

    def _staged_or_copied(
        self, staged: dict[str, Service], name: str, version: str
    ) -> Service | None:
        """The service this import works on: its own staged version, else a copy of the stored one."""
        stored = self._find(name, version)
        if stored is not None:
            if stored.id not in staged:
                staged[stored.id] = self._copy(stored)
            return staged[stored.id]
        # A service created earlier by this same import.
        return next((s for s in staged.values() if s.name == name and s.version == version), None)


@dataclass(frozen=True)
class OperationValues:
    """The body of PUT /api/services/{id}/operation (Microcks' OperationOverrideDTO)."""

    dispatcher: str | None
    dispatcher_rules: str | None
    default_delay: int | None
    default_delay_strategy: str | None
    parameter_constraints: list[ParameterConstraint] | None


def _copy_overridden_operations(existing: Service, operations: list[Operation]) -> None:
    """copyOverridenOperations: operations overridden by PUT keep their values on a main upload."""
    for old in existing.operations:
        if not old.override:
            continue
        for new in operations:
            if new.name == old.name:
                new.default_delay = old.default_delay
                new.default_delay_strategy = old.default_delay_strategy
                new.dispatcher = old.dispatcher
                new.dispatcher_rules = old.dispatcher_rules
                new.parameter_constraints = copy.deepcopy(old.parameter_constraints)
                new.trigger_infos = copy.deepcopy(old.trigger_infos)
                new.override = True


# application.properties: async-api.default-frequency=3, async-api.default-binding=KAFKA.
DEFAULT_ASYNC_FREQUENCY = 3
DEFAULT_ASYNC_BINDING = "KAFKA"


def _manage_event_service_defaults(operations: list[Operation]) -> None:
    """ServiceService.manageEventServiceDefaults: frequency and binding defaults of EVENT operations."""
    for operation in operations:
        if operation.default_delay is None:
            operation.default_delay = DEFAULT_ASYNC_FREQUENCY
        if not operation.bindings:
            # new Binding(BindingType.KAFKA): only `type`, and the primitive `persistent`.
            operation.bindings = {
                DEFAULT_ASYNC_BINDING: {"type": DEFAULT_ASYNC_BINDING, "persistent": False}
            }


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
    """Examples are replaced per (operation, source artifact) and accumulate across artifact names.

    `pairs` are the examples of `reference` only, so the work depends on this service alone.
    """
    for operation in reference.operations:
        pairs = [
            p
            for p in pairs
            if not (p.operation_name == operation.name and p.source_artifact == artifact_name)
        ]
        try:
            exchanges = importer.messages(reference, operation)
        except (ImportCrashed, ValueError) as exc:
            raise ImportCrashed(str(exc)) from exc
        operation_id = f"{reference.id}-{operation.name}"
        for exchange in exchanges:
            if isinstance(exchange, EventMessage):
                event = copy.deepcopy(exchange)
                event.id = object_id()
                event.operation_id = operation_id
                event.source_artifact = artifact_name
                pairs.append(Pair(reference.id, operation.name, artifact_name, None, None, event))
                continue
            request, response = exchange
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
