"""Specification: the status service answers what the status store says, as contract v1.

A Backstage module (or any consumer) reads which mocks are served and where, with an ETag so an
unchanged store costs a 304; a token guards it when set; nothing secret ever leaves it.
Real store on SQLite and PostgreSQL, the app called in process (Starlette's TestClient).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient
from status_fixtures import MICROCKS, SECRET, synced, url_of, world_of_states
from store_fixtures import BACKENDS, T0, backend_url, desired_row

from microcks_pipeline.status import create_app
from microcks_pipeline.status.metrics import StatusCollector
from microcks_pipeline.store import StatusStore
from microcks_pipeline.store.migrate import MIGRATIONS_DIR
from microcks_pipeline.store.schema import status_table

TOKEN = "status-token-not-to-be-echoed"


@pytest.fixture
def client(store: StatusStore) -> Iterator[TestClient]:
    world_of_states(store)
    with TestClient(create_app(store), raise_server_exceptions=False) as c:
        yield c


def _entity(body: dict, ref: str) -> dict:
    (found,) = [e for e in body["entities"] if e["entityRef"] == ref]
    return found


def _mocks(entity: dict) -> dict[str, dict]:
    return {m["mockId"]: m for m in entity["mocks"]}


def _version(store: StatusStore, ref: str, mock_id: str) -> str:
    return next(r.microcks_version_id for r in store.rows(ref) if r.mock_id == mock_id)


# -- the listing and its served rules ---------------------------------------------------------


def test_the_listing_has_every_entity_with_its_mocks(client: TestClient, store: StatusStore):
    answer = client.get("/api/v1/entities")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body["apiVersion"] == "v1"
    assert [e["entityRef"] for e in body["entities"]] == [
        "api:default/broken",
        "api:default/orders",
        "api:default/petstore",
        "api:default/users",
    ]
    petstore = _entity(body, "api:default/petstore")
    version = _version(store, "api:default/petstore", "default")
    assert _mocks(petstore)["default"] == {
        "mockId": "default",
        "kind": "openapi",
        "status": "completed",
        "served": True,
        "mockUrl": url_of("petstore", version),
        "includeInSwagger": True,
        "lastError": None,
        "lastSuccessAt": "2030-01-01T12:00:10.000Z",
        "serviceId": "svc-default",
        "serviceName": "petstore",
        "serviceVersion": version,
    }
    # generatedAt is the newest row update: a stable body for an unchanged store
    assert body["generatedAt"].endswith("Z")
    assert datetime.fromisoformat(body["generatedAt"]) >= T0


def test_served_means_microcks_holds_the_last_good_content(client: TestClient):
    body = client.get("/api/v1/entities").json()
    petstore = _mocks(_entity(body, "api:default/petstore"))
    orders = _mocks(_entity(body, "api:default/orders"))
    users = _mocks(_entity(body, "api:default/users"))
    # never synced: pending, nothing to advertise
    assert petstore["beta"]["served"] is False
    assert petstore["beta"]["mockUrl"] is None
    assert petstore["beta"]["kind"] is None
    # edited after a sync: pending again, the last good content is still served
    assert (petstore["v2"]["status"], petstore["v2"]["served"]) == ("pending", True)
    assert petstore["v2"]["mockUrl"] is not None
    # a transient failure after a sync: still served, its error shown
    assert (orders["flaky"]["status"], orders["flaky"]["served"]) == ("pending", True)
    assert orders["flaky"]["lastError"] == "Microcks answered 503"
    # a permanent error: not served, no URL, no service id
    assert (orders["default"]["status"], orders["default"]["served"]) == ("error", False)
    assert orders["default"]["mockUrl"] is None
    assert orders["default"]["serviceId"] is None
    assert orders["default"]["lastSuccessAt"] == "2030-01-01T12:00:00.000Z"  # when it last worked
    # a finished delete is gone; a delete under way is not served
    assert set(users) == {"going"}
    assert users["going"]["served"] is False
    assert users["going"]["mockUrl"] is None


def test_a_mock_fixed_after_an_error_is_served_again_only_once_synced(
    client: TestClient, store: StatusStore
):
    store.upsert_desired([desired_row("api:default/orders", "default", "fp-fixed")], now=T0)
    fixed = _mocks(client.get("/api/v1/entities/api:default/orders").json())["default"]
    assert (fixed["status"], fixed["served"], fixed["mockUrl"]) == ("pending", False, None)

    synced(store, "api:default/orders", "default", fp="fp-fixed", at=90)
    again = _mocks(client.get("/api/v1/entities/api:default/orders").json())["default"]
    assert (again["status"], again["served"]) == ("completed", True)


def test_entity_counts_and_the_swagger_facts(client: TestClient):
    body = client.get("/api/v1/entities").json()
    petstore = _entity(body, "api:default/petstore")
    assert (petstore["servedCount"], petstore["errorCount"], petstore["lastError"]) == (3, 0, None)
    swagger2 = _mocks(petstore)["swagger2"]
    assert (swagger2["kind"], swagger2["includeInSwagger"], swagger2["served"]) == (
        "swagger",
        False,
        True,
    )
    orders = _entity(body, "api:default/orders")
    assert (orders["servedCount"], orders["errorCount"]) == (1, 1)
    assert orders["lastError"].startswith("Microcks refused the upload")


def test_an_invalid_microcks_yaml_is_an_entity_error_not_a_mock(client: TestClient):
    broken = client.get("/api/v1/entities/api:default/broken").json()
    assert broken["mocks"] == []
    assert broken["errorCount"] == 1
    assert broken["servedCount"] == 0
    assert "mocks must be a list" in broken["lastError"]


# -- one entity -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/entities/api%3Adefault%2Fpetstore",
        "/api/v1/entities/api:default/petstore",
        "/api/v1/entities/API:Default/Petstore",
    ],
)
def test_one_entity_by_ref_encoded_or_raw(client: TestClient, path: str):
    answer = client.get(path)
    assert answer.status_code == 200
    listed = _entity(client.get("/api/v1/entities").json(), "api:default/petstore")
    assert answer.json() == listed


def test_an_unknown_entity_is_a_json_404(client: TestClient):
    answer = client.get("/api/v1/entities/api%3Adefault%2Fnope")
    assert answer.status_code == 404
    assert answer.json() == {"error": "no entity 'api:default/nope' in the status store"}


# -- ETag -----------------------------------------------------------------------------------


def test_an_unchanged_store_answers_304_to_its_etag(client: TestClient, store: StatusStore):
    first = client.get("/api/v1/entities")
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    again = client.get("/api/v1/entities", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert (
        client.get("/api/v1/entities", headers={"If-None-Match": f'"x", W/{etag}'}).status_code
        == 304
    )
    assert client.get("/api/v1/entities", headers={"If-None-Match": '"other"'}).status_code == 200
    # an unchanged store gives the same body, byte for byte
    assert client.get("/api/v1/entities").content == first.content


def test_a_change_in_the_store_changes_the_etag(client: TestClient, store: StatusStore):
    etag = client.get("/api/v1/entities").headers["etag"]
    synced(store, "api:default/petstore", "beta", at=60)
    changed = client.get("/api/v1/entities", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    beta = _mocks(_entity(changed.json(), "api:default/petstore"))["beta"]
    assert beta["served"] is True


def test_an_empty_store_lists_no_entity(store: StatusStore):
    with TestClient(create_app(store)) as c:
        answer = c.get("/api/v1/entities")
    assert answer.status_code == 200
    assert answer.json()["entities"] == []
    assert answer.headers["etag"]


# -- auth -----------------------------------------------------------------------------------


def test_with_a_token_the_api_and_metrics_need_it(store: StatusStore):
    world_of_states(store)
    with TestClient(create_app(store, token=TOKEN)) as c:
        for path in ("/api/v1/entities", "/api/v1/entities/api:default/petstore", "/metrics"):
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                refused = c.get(path, headers=headers)
                assert refused.status_code == 401, (path, headers)
                assert refused.json() == {"error": "a valid bearer token is required"}
                assert refused.headers["www-authenticate"].startswith("Bearer")
                assert TOKEN not in refused.text
            ok = c.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
            assert ok.status_code == 200, path
            assert TOKEN not in ok.text
        # health stays open: probes carry no token
        assert c.get("/healthz").status_code == 200


def test_without_a_token_everything_is_open(client: TestClient):
    for path in ("/api/v1/entities", "/metrics", "/healthz"):
        assert client.get(path).status_code == 200


# -- health and failures --------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_health_is_503_when_the_database_is_down(backend: str, tmp_path: Path):
    if backend == "sqlite":
        down = StatusStore(f"sqlite:///{tmp_path / 'no-such-folder' / 'status.db'}")
    else:
        down = StatusStore("postgresql://postgres:pw-not-shown@127.0.0.1:1/test")
    with TestClient(create_app(down), raise_server_exceptions=False) as c:
        health = c.get("/healthz")
        listing = c.get("/api/v1/entities")
        metrics = c.get("/metrics")
    assert health.status_code == 503
    assert health.json() == {"error": "status store unavailable"}
    assert listing.status_code == 503
    assert metrics.status_code == 503
    for answer in (health, listing, metrics):
        assert "pw-not-shown" not in answer.text
        assert "Traceback" not in answer.text


def test_health_follows_the_database(store: StatusStore, tmp_path: Path):
    with TestClient(create_app(store), raise_server_exceptions=False) as c:
        assert c.get("/healthz").json() == {"status": "ok"}


def test_an_unmigrated_database_is_unavailable_not_an_error(tmp_path: Path):
    with backend_url("sqlite", tmp_path) as url:
        with TestClient(create_app(StatusStore(url)), raise_server_exceptions=False) as c:
            assert c.get("/healthz").status_code == 503
            assert c.get("/api/v1/entities").status_code == 503


def test_no_secret_or_stack_trace_in_any_answer(client: TestClient, store: StatusStore):
    for path in ("/api/v1/entities", "/api/v1/entities/api:default/orders", "/metrics"):
        answer = client.get(path)
        assert answer.status_code == 200
        assert SECRET not in answer.text, path
    orders = client.get("/api/v1/entities/api:default/orders").json()
    assert "***" in _mocks(orders)["default"]["lastError"]


def test_an_internal_error_is_a_generic_500(store: StatusStore, monkeypatch: pytest.MonkeyPatch):
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"Traceback (most recent call last): password={SECRET}")

    monkeypatch.setattr(store, "view_rows", explode)
    with TestClient(create_app(store), raise_server_exceptions=False) as c:
        answer = c.get("/api/v1/entities/api:default/petstore")
    assert answer.status_code == 500
    assert answer.json() == {"error": "internal error"}


# -- metrics --------------------------------------------------------------------------------


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_mocks_by_status_and_entities_in_error(client: TestClient):
    answer = client.get("/metrics")
    assert answer.headers["content-type"].startswith("text/plain")
    samples = _samples(answer.text)

    def mocks(status: str) -> float:
        return samples[("microcks_pipeline_mocks", (("status", status),))]

    # petstore: default, swagger2 completed; beta, v2 pending. orders: default error, flaky
    # pending. users: going pending (its finished delete is not a mock any more).
    assert (mocks("completed"), mocks("pending"), mocks("leased"), mocks("error")) == (2, 4, 0, 1)
    assert samples[("microcks_pipeline_mocks_served", ())] == 4
    assert samples[("microcks_pipeline_entities", ())] == 4
    assert samples[("microcks_pipeline_entities_in_error", ())] == 2  # orders, broken
    newest = T0 + timedelta(seconds=30)
    assert samples[("microcks_pipeline_last_successful_sync_timestamp_seconds", ())] == (
        newest.timestamp()
    )
    # T0 lies in the future: a clock behind the store never makes a negative age
    assert samples[("microcks_pipeline_last_successful_sync_age_seconds", ())] == 0


def test_the_sync_age_is_measured_from_the_last_success():
    class Snap:
        entities: list = []
        last_success = T0

    later = StatusCollector(lambda: Snap(), clock=lambda: T0 + timedelta(seconds=90))
    ages = {f.name: f.samples[0].value for f in later.collect() if f.samples and "age" in f.name}
    assert ages == {"microcks_pipeline_last_successful_sync_age_seconds": 90.0}
    never = StatusCollector(lambda: type("S", (), {"entities": [], "last_success": None})())
    assert not [f for f in never.collect() if "last_successful" in f.name]


# -- scale ----------------------------------------------------------------------------------


def test_10000_entities_are_listed_with_one_row_query_then_from_the_cache(tmp_path: Path):
    store = StatusStore(f"sqlite:///{tmp_path / 'status.db'}")
    store.migrate()
    now = datetime.now(UTC)
    rows = [
        {
            "entity_ref": f"api:default/e{i:05d}",
            "mock_id": mock_id,
            "entity_hash": "h",
            "desired_action": "reconcile",
            "microcks_version_id": f"bk-{i}-{mock_id}",
            "fingerprint_hash": "fp",
            "status": "completed",
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
            "mock_url": f"{MICROCKS}/rest/e{i:05d}/bk-{i}-{mock_id}",
        }
        for i in range(10_000)
        for mock_id in ("default", "v2")
    ]
    with store._engine.begin() as conn:
        conn.execute(sa.insert(status_table), rows)
    statements: list[str] = []
    sa.event.listen(store._engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with TestClient(create_app(store)) as c:
        started = time.perf_counter()
        first = c.get("/api/v1/entities")
        cold = time.perf_counter() - started
        again = c.get("/api/v1/entities", headers={"If-None-Match": first.headers["etag"]})

    assert len(first.json()["entities"]) == 10_000
    assert cold < 10  # about 0.7 s on a laptop core
    selects = [q.split()[1] for q in statements if q.startswith("SELECT")]
    # the store's version, every row in one query; then only the version per request
    assert selects == ["count(*)", "csit_microcks_sync_status.entity_ref,", "count(*)"]
    assert again.status_code == 304
    store.dispose()


def test_a_store_at_an_older_schema_is_not_healthy(store_url: str):
    cfg = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", store_url.replace("%", "%%"))
    command.upgrade(cfg, "0003")
    with TestClient(create_app(StatusStore(store_url)), raise_server_exceptions=False) as c:
        health = c.get("/healthz")
    assert health.status_code == 503
    assert health.json() == {"error": "status store not migrated to this version"}
