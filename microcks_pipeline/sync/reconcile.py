"""Make Microcks hold exactly one entity's desired mocks (DESIGN §6 steps 2–5); no Dagster, no DB.

Find the entity's services with one search call, then per mock act on the artifact-level plan
of converge.py: upload main (Microcks updates in place, keeping the service id: never delete
before an update), APIMetadata, then APIExamples (mainArtifact=false), tombstones for stale
upload names; then read the service once with its messages and verify it holds exactly what
the mock declares. A difference (changed in Microcks) is repaired once and read again; what
still differs fails the mock. Deletes come last.
Every step is idempotent, so a crashed or repeated reconcile does no harm.

Failure semantics: a permanent or transient error fails that mock only (its live service is
left as it is); AuthError and MicrocksUnreachable are Microcks-wide and raised at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from microcks_pipeline.core.converge import Action as PlanAction
from microcks_pipeline.core.converge import (
    AppliedRecord,
    MockState,
    PutMetadata,
    PutOperation,
    differences,
    first_pass,
    mock_state,
    repair_pass,
)
from microcks_pipeline.core.desired import DesiredMock
from microcks_pipeline.core.errors import AuthError, PermanentError, PipelineError, TransientError
from microcks_pipeline.core.identity import (
    ENTITY_LABEL,
    OWNER_LABEL,
    entity_hash,
    labels_of,
    mock_id_of_version,
    owned_by_entity,
    owner_of_service,
    service_version,
)
from microcks_pipeline.core.observed import ObservedService, parse_service_view
from microcks_pipeline.kinds import serving
from microcks_pipeline.microcks.client import MicrocksClient
from microcks_pipeline.microcks.errors import MicrocksUnreachable
from microcks_pipeline.sync.probe import view_example_url

Action = Literal["created", "updated", "deleted", "absent", "failed"]


@dataclass(frozen=True)
class MockOutcome:
    """What happened to one mock of the entity."""

    mock_id: str
    action: Action
    service_id: str | None
    mock_url: str | None
    error: PipelineError | None = None  # TransientError / PermanentError (AuthError is raised)
    warnings: tuple[str, ...] = ()
    applied: AppliedRecord | None = None  # what the service verifiably holds, for the store
    # A clickable mock URL (probe.example_url) from the run's own read-back: no second read.
    example_url: str | None = None


@dataclass(frozen=True)
class ReconcileResult:
    entity_ref: str
    outcomes: tuple[MockOutcome, ...]
    calls: int  # Microcks calls made by this reconcile (token requests not included)

    @property
    def failed(self) -> tuple[MockOutcome, ...]:
        return tuple(o for o in self.outcomes if o.action == "failed")


def reconcile_entity(
    client: MicrocksClient,
    entity_ref: str,
    entity_name: str,
    *,
    upsert: Sequence[DesiredMock] = (),
    delete: Iterable[str] = (),
    keep: Iterable[str] = (),
    prune: bool = True,
    applied: Mapping[str, AppliedRecord | None] | None = None,
    service_ids: Mapping[str, str] | None = None,
) -> ReconcileResult:
    """Upload `upsert`, delete the services of `delete`, and (prune) any other owned service.

    `keep`: mock ids that are desired but not part of this call (unchanged); prune spares them.
    `applied`: per mock id, the record of its last verified apply (its stale upload names get
    tombstones); each successful outcome carries the new record. `service_ids`: per mock id,
    the service it created as the status store records it (a gRPC service that lost its owner
    label is still recognised by it).
    Raises AuthError or TransientError when Microcks as a whole is unusable (the lookup failed,
    no connection, credentials refused); nothing is deleted in that case.
    """
    delete_ids = list(dict.fromkeys(delete))
    keep_ids = set(keep)
    _check_arguments(entity_ref, upsert, delete_ids)
    calls_before = client.calls
    ref_hash = entity_hash(entity_ref)

    records = applied or {}
    involved = [m.mock_id for m in upsert] + delete_ids
    by_label_only = (
        bool(involved)
        and all(m.labelled_owner for m in upsert)
        and all(records.get(i) is not None and records[i].labelled for i in involved)
    )
    # Services named by their content (gRPC) are ours by label, the others by name and
    # version; when every mock at hand was applied by label, the label search alone finds
    # their services (stale services of other mocks are left to the audit then).
    existing = [] if by_label_only else client.services_of_entity(entity_name, ref_hash)
    if any(m.labelled_owner for m in upsert) or any(
        r is not None and r.labelled for r in records.values()
    ):
        # Services named by their content (gRPC) are ours by label: one more search finds them.
        known = {_service_id(s) for s in existing}
        existing += [
            s
            for s in client.search_labelled(ENTITY_LABEL, entity_ref)
            if _service_id(s) not in known and _mock_of(s, ref_hash) is not None
        ]
    outcomes: list[MockOutcome] = []
    desired_ids = {m.mock_id for m in upsert} | keep_ids
    for mock in upsert:
        outcomes.append(
            _upsert(
                client,
                mock,
                existing,
                (applied or {}).get(mock.mock_id),
                ref_hash,
                desired_ids,
                (service_ids or {}).get(mock.mock_id),
            )
        )

    for mock_id in delete_ids:
        victims = [s for s in existing if _mock_of(s, ref_hash) == mock_id]
        outcomes.append(_delete(client, mock_id, victims))

    if prune:
        handled = {m.mock_id for m in upsert} | set(delete_ids) | keep_ids
        stale: dict[str, list[dict[str, Any]]] = {}
        for service in existing:
            mock_id = _mock_of(service, ref_hash)
            if mock_id is not None and mock_id not in handled:
                stale.setdefault(mock_id, []).append(service)
        for mock_id, victims in stale.items():
            outcomes.append(_delete(client, mock_id, victims))

    return ReconcileResult(entity_ref, tuple(outcomes), client.calls - calls_before)


def _check_arguments(entity_ref: str, upsert: Sequence[DesiredMock], delete_ids: list[str]) -> None:
    """Programming errors are refused before any Microcks call."""
    seen: set[str] = set()
    for mock in upsert:
        if mock.entity_ref != entity_ref:
            raise ValueError(
                f"mock {mock.mock_id!r} belongs to {mock.entity_ref}, not {entity_ref}"
            )
        if mock.owner_version != service_version(entity_ref, mock.mock_id):
            raise ValueError(f"mock {mock.mock_id!r} has version {mock.version!r}, not ours")
        if mock.mock_id in seen:
            raise ValueError(f"mock {mock.mock_id!r} is listed twice in upsert")
        seen.add(mock.mock_id)
    both = seen.intersection(delete_ids)
    if both:
        raise ValueError(f"mocks {sorted(both)} are both upserted and deleted")


def _mock_of(service: dict[str, Any], ref_hash: str) -> str | None:
    """The mockId of the entity owning `service` (by version, else by owner label), or None."""
    owner = owner_of_service(service)
    if owner is None or not owned_by_entity(owner, ref_hash):
        return None
    return mock_id_of_version(owner)


def _claim(client: MicrocksClient, mock: DesiredMock, recorded_id: str | None) -> None:
    """A service named by its content (gRPC) may exist already: take it only when its owner
    label is this mock's, or it is the very service this mock created (its labels were taken
    away: the verify puts them back); anyone else's, or no label, is a conflict that touches
    nothing."""
    current = client.get_service(mock.service_name, mock.version)
    if current is None:
        return
    owner = labels_of(current).get(OWNER_LABEL)
    if owner == mock.owner_version or (recorded_id and current.get("id") == recorded_id):
        return
    holder = labels_of(current).get(ENTITY_LABEL)
    if owner is None:
        who = "a service not managed by microcks-pipeline (no owner label)"
    else:
        mock_id = mock_id_of_version(owner)
        who = f"mock {mock_id!r} of {holder}" if holder and mock_id else f"owner {owner}"
    raise PermanentError(
        f"conflict: Microcks service {mock.service_name}:{mock.version} already belongs to "
        f"{who}; the name and version come from the proto, so only one mock can declare it"
    )


def _upsert(
    client: MicrocksClient,
    mock: DesiredMock,
    existing: list[dict[str, Any]],
    applied: AppliedRecord | None,
    ref_hash: str,
    desired_ids: set[str],
    recorded_id: str | None = None,
) -> MockOutcome:
    same = [
        s
        for s in existing
        if s.get("name") == mock.service_name and s.get("version") == mock.version
    ]
    existed = bool(same)
    warnings: list[str] = []
    state = mock_state(mock)
    try:
        if mock.labelled_owner and same:
            holder = _mock_of(same[0], ref_hash)
            if holder != mock.mock_id and holder in desired_ids:
                raise PermanentError(
                    f"conflict: Microcks service {mock.service_name}:{mock.version} already "
                    f"belongs to mock {holder!r} of this entity"
                )
            # A mock of this entity no longer desired (a renamed mockId) hands it over: the
            # service keeps its id, and the delete of the old mock no longer sees it.
            same[0].setdefault("metadata", {})["labels"] = {
                **labels_of(same[0]),
                OWNER_LABEL: mock.owner_version,
            }
        elif mock.labelled_owner:
            _claim(client, mock, recorded_id)
        _act(client, state, first_pass(state, applied), warnings)
        observed, view = _observe(client, mock)
        if differences(state.record.expected, observed):
            # Changed in Microcks (override, foreign examples, labels): repair, then look again.
            _act(client, state, repair_pass(state, observed), warnings, observed.service_id)
            observed, view = _observe(client, mock)
            left = differences(state.record.expected, observed)
            if left:
                # The same uploads would leave the same difference: an operator must look.
                raise PermanentError(
                    f"Microcks does not hold what {mock.mock_id!r} declares: " + "; ".join(left)
                )
        # A rename (of the entity's case, or of a proto's package or service) leaves the old
        # service of this mock behind: drop it.
        for other in existing:
            same = (other.get("name"), other.get("version")) == (mock.service_name, mock.version)
            if not same and _mock_of(other, ref_hash) == mock.mock_id:
                client.delete_service(_service_id(other))
    except (AuthError, MicrocksUnreachable):
        raise
    except (PermanentError, TransientError) as exc:
        return MockOutcome(mock.mock_id, "failed", None, None, exc, tuple(warnings))
    return MockOutcome(
        mock.mock_id,
        "updated" if existed else "created",
        observed.service_id,
        serving(mock.main.facts.service_type or "REST").root(
            client.endpoints(), mock.service_name, mock.version
        ),
        warnings=tuple(warnings),
        applied=state.record,
        example_url=view_example_url(client, view),
    )


def _act(
    client: MicrocksClient,
    state: MockState,
    actions: Sequence[PlanAction],
    warnings: list[str],
    service_id: str | None = None,
) -> None:
    """Carry out the plan's actions in order; a main upload must import the stamped service."""
    mock = state.mock
    expected = f"{mock.service_name}:{mock.version}"
    target = service_id or expected  # Microcks accepts `name:version` wherever it takes an id
    for action in actions:
        if isinstance(action, PutOperation):
            client.override_operation(target, action.operation, dict(action.values))
        elif isinstance(action, PutMetadata):
            client.update_metadata(target, dict(action.labels), dict(action.annotations))
        else:
            imported = client.upload(action.name, action.content, main=action.main)
            if action.main and imported != expected:
                raise PermanentError(
                    f"Microcks imported {imported!r} from {action.name}, expected "
                    f"{expected!r}: the main artifact's title/version were not taken"
                )
            if imported != expected:
                # Microcks answers 201 even when it skipped the file for lack of that service.
                warnings.append(
                    f"{action.name} names service {imported!r}, not {expected!r}; "
                    "Microcks may have skipped it"
                )


def _observe(
    client: MicrocksClient, mock: DesiredMock
) -> tuple[ObservedService, Mapping[str, Any]]:
    """The one read-back: the service with its messages, parsed and as read."""
    expected = f"{mock.service_name}:{mock.version}"
    view = client.read_service(mock.service_name, mock.version)
    if view is None:
        raise TransientError(f"service {expected} not found right after its upload")
    try:
        observed = parse_service_view(view)
    except ValueError:
        raise TransientError(f"Microcks answered no service in the view of {expected}") from None
    if observed.name != mock.service_name or observed.version != mock.version:
        raise PermanentError(f"Microcks read back {observed.name!r} for {expected}")
    return observed, view


def _delete(client: MicrocksClient, mock_id: str, victims: list[dict[str, Any]]) -> MockOutcome:
    if not victims:
        return MockOutcome(mock_id, "absent", None, None)
    service_id: str | None = None
    try:
        for service in victims:
            service_id = _service_id(service)
            client.delete_service(service_id)
    except (AuthError, MicrocksUnreachable):
        raise
    except (PermanentError, TransientError) as exc:
        return MockOutcome(mock_id, "failed", service_id, None, exc)
    return MockOutcome(mock_id, "deleted", service_id, None)


def _service_id(service: dict[str, Any]) -> str:
    # Microcks accepts `name:version` wherever it takes an id.
    sid = service.get("id")
    return str(sid) if sid else f"{service.get('name')}:{service.get('version')}"
