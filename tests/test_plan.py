"""The processor's diff, specified without any server or database."""

from __future__ import annotations

from datetime import UTC, datetime

from lifecycle_fixtures import status_row

from microcks_pipeline.core.changes import delete_fingerprint, plan_changes
from microcks_pipeline.core.desired import (
    ENTITY_MOCK_ID,
    Artifact,
    DesiredMock,
    EntityDesired,
    MockFailure,
)
from microcks_pipeline.core.identity import ANNOTATION, entity_hash, entity_ref, service_version
from microcks_pipeline.sources.catalog.entity import CatalogSnapshot, Entity, EntityLocation
from microcks_pipeline.store.rows import DesiredRow

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _entity(name: str) -> Entity:
    return Entity(
        ref=entity_ref(name),
        name=name,
        namespace="default",
        annotations={ANNOTATION: "dir:."},
        spec={},
        location=EntityLocation("file", f"{name}/catalog-info.yaml", "."),
    )


def _mock(ref: str, mock_id: str, fingerprint: str) -> DesiredMock:
    main = Artifact("main", "openapi", "openapi.yaml", "openapi.yaml", b"x", "h")
    return DesiredMock(
        ref, mock_id, ref.split("/")[1], service_version(ref, mock_id), True, main, (), fingerprint
    )


def _by_mock(rows: tuple[DesiredRow, ...]) -> dict[tuple[str, str], DesiredRow]:
    return {(r.entity_ref, r.mock_id): r for r in rows}


def test_new_mocks_are_planned_for_reconcile_with_their_identity() -> None:
    pets = _entity("Petstore")
    desired = {
        pets.ref: EntityDesired(
            pets.ref, pets.name, (_mock(pets.ref, "default", "f1"), _mock(pets.ref, "v2", "f2"))
        )
    }

    plan = plan_changes(CatalogSnapshot((pets,)), desired, [])

    rows = _by_mock(plan.rows)
    assert set(rows) == {(pets.ref, "default"), (pets.ref, "v2")}
    assert rows[(pets.ref, "default")].desired_action == "reconcile"
    assert rows[(pets.ref, "default")].microcks_version_id == f"{entity_hash(pets.ref)}-default"
    assert [e.event_type for e in plan.events] == ["reconcile_requested"] * 2


def test_unchanged_catalog_plans_no_row_and_no_event() -> None:
    pets = _entity("petstore")
    desired = {pets.ref: EntityDesired(pets.ref, pets.name, (_mock(pets.ref, "default", "f1"),))}

    plan = plan_changes(CatalogSnapshot((pets,)), desired, [status_row(pets.ref, "default", "f1")])

    assert plan.rows == () and plan.events == ()


def test_changed_fingerprint_requeues_only_that_mock() -> None:
    pets = _entity("petstore")
    desired = {
        pets.ref: EntityDesired(
            pets.ref, pets.name, (_mock(pets.ref, "a", "new"), _mock(pets.ref, "b", "fb"))
        )
    }
    rows = [status_row(pets.ref, "a", "old", rid=1), status_row(pets.ref, "b", "fb", rid=2)]

    plan = plan_changes(CatalogSnapshot((pets,)), desired, rows)

    assert [(r.mock_id, r.fingerprint_hash) for r in plan.rows] == [("a", "new")]


def test_removed_mock_is_planned_for_delete_once() -> None:
    pets = _entity("petstore")
    desired = {pets.ref: EntityDesired(pets.ref, pets.name, (_mock(pets.ref, "a", "fa"),))}
    rows = [status_row(pets.ref, "a", "fa", rid=1), status_row(pets.ref, "gone", "fg", rid=2)]

    plan = plan_changes(CatalogSnapshot((pets,)), desired, rows)
    (row,) = plan.rows
    assert (row.mock_id, row.desired_action) == ("gone", "delete")

    already = [
        rows[0],
        status_row(pets.ref, "gone", delete_fingerprint(pets.ref, "gone"), "delete", rid=2),
    ]
    assert plan_changes(CatalogSnapshot((pets,)), desired, already).rows == ()


def test_entity_gone_from_complete_listing_deletes_all_its_mocks() -> None:
    pets, users = _entity("petstore"), _entity("users")
    desired = {users.ref: EntityDesired(users.ref, users.name, (_mock(users.ref, "a", "fu"),))}
    rows = [
        status_row(pets.ref, "a", "f1", rid=1),
        status_row(pets.ref, "b", "f2", rid=2),
        status_row(users.ref, "a", "fu", rid=3),
    ]

    plan = plan_changes(CatalogSnapshot((users,)), desired, rows)

    assert {(r.entity_ref, r.mock_id, r.desired_action) for r in plan.rows} == {
        (pets.ref, "a", "delete"),
        (pets.ref, "b", "delete"),
    }


def test_incomplete_or_failed_listing_deletes_nothing() -> None:
    pets, users = _entity("petstore"), _entity("users")
    desired = {users.ref: EntityDesired(users.ref, users.name, (_mock(users.ref, "a", "fu"),))}
    rows = [status_row(pets.ref, "a", "f1", rid=1), status_row(users.ref, "a", "fu", rid=2)]

    incomplete = CatalogSnapshot((users,), complete=False, problems=("broken.yaml",))
    assert plan_changes(incomplete, desired, rows).rows == ()
    assert plan_changes(None, desired, rows).rows == ()


def test_permanent_mock_failure_marks_that_mock_for_delete_with_its_reason() -> None:
    pets = _entity("petstore")
    failure = MockFailure(
        pets.ref, "bad", "microcks.yaml:4: path escapes the repository", True, "ff"
    )
    desired = {
        pets.ref: EntityDesired(pets.ref, pets.name, (_mock(pets.ref, "good", "fg"),), (failure,))
    }
    rows = [status_row(pets.ref, "good", "fg", rid=1), status_row(pets.ref, "bad", "old", rid=2)]

    plan = plan_changes(CatalogSnapshot((pets,)), desired, rows)

    (row,) = plan.rows
    assert (row.mock_id, row.desired_action, row.error) == ("bad", "delete", failure.reason)
    assert plan.events[0].event_type == "load_failed" and plan.events[0].level == "error"


def test_transient_failure_leaves_the_entity_untouched() -> None:
    pets = _entity("petstore")
    entity_wide = MockFailure(pets.ref, ENTITY_MOCK_ID, "read timeout", False, "t")
    one_mock = MockFailure(pets.ref, "b", "read timeout", False, "t")
    rows = [status_row(pets.ref, "a", "fa", rid=1), status_row(pets.ref, "b", "fb", rid=2)]

    whole = {pets.ref: EntityDesired(pets.ref, pets.name, (), (entity_wide,))}
    partial = {
        pets.ref: EntityDesired(pets.ref, pets.name, (_mock(pets.ref, "a", "fa"),), (one_mock,))
    }

    assert plan_changes(CatalogSnapshot((pets,)), whole, rows).rows == ()
    assert plan_changes(CatalogSnapshot((pets,)), partial, rows).rows == ()


def test_invalid_config_fails_every_live_mock_or_the_entity_itself() -> None:
    pets, fresh = _entity("petstore"), _entity("fresh")
    broken = "microcks.yaml:3: field 'spec.mocks': must be a non-empty list"
    desired = {
        pets.ref: EntityDesired(
            pets.ref, pets.name, (), (MockFailure(pets.ref, ENTITY_MOCK_ID, broken, True, "e"),)
        ),
        fresh.ref: EntityDesired(
            fresh.ref, fresh.name, (), (MockFailure(fresh.ref, ENTITY_MOCK_ID, broken, True, "e"),)
        ),
    }
    rows = [status_row(pets.ref, "a", "fa", rid=1)]

    plan = plan_changes(CatalogSnapshot((pets, fresh)), desired, rows)

    assert {(r.entity_ref, r.mock_id, r.desired_action, r.error) for r in plan.rows} == {
        (pets.ref, "a", "delete", broken),
        (fresh.ref, ENTITY_MOCK_ID, "delete", broken),
    }
    again = [
        rows[0].__class__(
            **{
                **rows[0].__dict__,
                "desired_action": "delete",
                "fingerprint_hash": plan.rows[0].fingerprint_hash,
            }
        )
    ]
    assert (pets.ref, "a") not in _by_mock(
        plan_changes(CatalogSnapshot((pets,)), {pets.ref: desired[pets.ref]}, again).rows
    )
