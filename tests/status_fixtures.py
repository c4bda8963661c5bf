"""Status rows in the states the status service tells apart, written through the real store."""

from __future__ import annotations

from datetime import timedelta

from store_fixtures import T0, desired_row

from microcks_pipeline.core.desired import ENTITY_MOCK_ID
from microcks_pipeline.core.model import ServedMock
from microcks_pipeline.store import StatusStore

MICROCKS = "http://microcks.test"
SECRET = "hunter2-do-not-serve"


def url_of(name: str, version: str) -> str:
    return f"{MICROCKS}/rest/{name}/{version}"


def served_as(name: str, version: str, kind: str = "openapi", swagger: bool = True) -> ServedMock:
    return ServedMock(kind, swagger, name, url_of(name, version))


def synced(
    store: StatusStore,
    ref: str,
    mock_id: str,
    *,
    fp: str = "fp-1",
    kind: str = "openapi",
    include_in_swagger: bool = True,
    at: int = 0,
) -> None:
    """A mock whose sync completed at T0 + `at` seconds (the row exists or is created)."""
    now = T0 + timedelta(seconds=at)
    store.upsert_desired([desired_row(ref, mock_id, fp)], now=now)
    claimed = store.claim(ref, "run-sync", now=now)
    for other in claimed:  # the entity's other rows stay as they were
        if other.mock_id != mock_id:
            store.release(other.id, "run-sync", now=now)
    (row,) = [r for r in claimed if r.mock_id == mock_id]
    name = ref.split("/", 1)[1]
    served = served_as(name, row.microcks_version_id, kind, include_in_swagger)
    assert store.complete(
        row.id, "run-sync", fp, service_id=f"svc-{mock_id}", served=served, now=now
    )


def failed(store: StatusStore, ref: str, mock_id: str, reason: str, *, transient: bool) -> None:
    """The mock's next run failed (transient: back to pending; else error)."""
    store.requeue([r.id for r in store.rows(ref) if r.mock_id == mock_id], now=T0)
    claimed = store.claim(ref, "run-fail", now=T0)
    for other in claimed:
        if other.mock_id != mock_id:
            store.release(other.id, "run-fail", now=T0)
    (row,) = [r for r in claimed if r.mock_id == mock_id]
    if transient:
        assert store.fail_transient(row.id, "run-fail", reason, now=T0) is not None
    else:
        assert store.fail_permanent(row.id, "run-fail", reason, now=T0)


def deleted(store: StatusStore, ref: str, mock_id: str, *, finish: bool) -> None:
    """The mock left microcks.yaml: a delete requested, and completed when `finish`."""
    store.upsert_desired([desired_row(ref, mock_id, "del", action="delete")], now=T0)
    if finish:
        (row,) = [r for r in store.claim(ref, "run-del", now=T0) if r.mock_id == mock_id]
        assert store.complete(row.id, "run-del", "del", now=T0)


def world_of_states(store: StatusStore) -> None:
    """Every state of the served rules, over four entities:

    petstore: default synced (served), beta never synced (pending), v2 edited after its sync
    (pending, still served), swagger2 synced as Swagger 2 with includeInSwagger false;
    orders: default failed for good after a sync (error, secret-like reason), flaky failed
    transiently after a sync (pending, still served);
    users: old deleted (finished: left out), going being deleted (pending delete: not served);
    broken: its microcks.yaml is invalid (internal `_entity` row in error).
    """
    synced(store, "api:default/petstore", "default", at=10)
    store.upsert_desired([desired_row("api:default/petstore", "beta")], now=T0)
    synced(store, "api:default/petstore", "v2", at=20)
    store.upsert_desired([desired_row("api:default/petstore", "v2", "fp-edited")], now=T0)
    synced(store, "api:default/petstore", "swagger2", kind="swagger", include_in_swagger=False)
    synced(store, "api:default/orders", "default")
    failed(
        store,
        "api:default/orders",
        "default",
        f"Microcks refused the upload: password={SECRET} Authorization: Bearer {SECRET}",
        transient=False,
    )
    synced(store, "api:default/orders", "flaky", at=30)
    failed(store, "api:default/orders", "flaky", "Microcks answered 503", transient=True)
    synced(store, "api:default/users", "old")
    deleted(store, "api:default/users", "old", finish=True)
    synced(store, "api:default/users", "going")
    deleted(store, "api:default/users", "going", finish=False)
    store.upsert_desired(
        [desired_row("api:default/broken", ENTITY_MOCK_ID, "bad", error="microcks.yaml: bad")],
        now=T0,
    )
    (row,) = store.claim("api:default/broken", "run-bad", now=T0)
    store.fail_permanent(row.id, "run-bad", "microcks.yaml line 3: mocks must be a list", now=T0)
