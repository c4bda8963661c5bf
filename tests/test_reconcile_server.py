"""reconcile_entity against the local Microcks-compatible server (DESIGN §6 steps 2-5)."""

from __future__ import annotations

import threading

import httpx
import pytest
from microcks_fixtures import (
    ENTITY_NAME,
    ENTITY_REF,
    Microcks,
    desired_mock,
    in_process,
    over_http,
    upload_foreign,
    versions_in,
)

from microcks_pipeline.core.errors import AuthError, PermanentError, TransientError
from microcks_pipeline.core.identity import entity_hash, service_version
from microcks_pipeline.microcks import (
    MicrocksBusy,
    MicrocksClient,
    MicrocksRejected,
    MicrocksTimeout,
    MicrocksUnreachable,
)
from microcks_pipeline.sync.probe import example_url
from microcks_pipeline.sync.reconcile import reconcile_entity

HASH = entity_hash(ENTITY_REF)


def _pet(m: Microcks, mock_id: str, pet_id: str) -> tuple[int, str]:
    url = m.client.mock_url(ENTITY_NAME, service_version(ENTITY_REF, mock_id)) + f"/pets/{pet_id}"
    answer = m.get(url)
    return answer.status_code, answer.text


def _service_id(m: Microcks, mock_id: str) -> str | None:
    service = m.client.get_service(ENTITY_NAME, service_version(ENTITY_REF, mock_id))
    return service["id"] if service else None


# -- create and update ------------------------------------------------------------------------


def test_a_new_mock_is_created_and_its_example_served_over_http() -> None:
    with over_http() as m:
        result = reconcile_entity(m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock()])

        [outcome] = result.outcomes
        answer = m.get(outcome.mock_url + "/pets/1")

    assert (outcome.mock_id, outcome.action, outcome.error) == ("default", "created", None)
    assert outcome.service_id == m.app.state.store.services()[0].id
    assert answer.status_code == 200 and answer.json() == {"name": "Rex v1"}


def test_an_update_serves_the_new_example_keeps_the_id_and_never_answers_404() -> None:
    with over_http() as m:
        created = reconcile_entity(m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock()])
        url = created.outcomes[0].mock_url + "/pets/1"
        statuses: list[int] = []
        polling = threading.Event()
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                statuses.append(m.get(url).status_code)
                polling.set()

        poller = threading.Thread(target=poll)
        poller.start()
        polling.wait(10)
        try:
            for round_ in range(2, 12):
                updated = reconcile_entity(
                    m.client,
                    ENTITY_REF,
                    ENTITY_NAME,
                    upsert=[desired_mock(tag=f"v{round_}", examples=True, metadata="tom")],
                )
        finally:
            done.set()
            poller.join()
        answer = m.get(url).json()

    assert updated.outcomes[0].action == "updated"
    assert updated.outcomes[0].service_id == created.outcomes[0].service_id
    assert answer == {"name": "Rex v11"}
    assert statuses and set(statuses) == {200}


def test_api_metadata_is_applied_after_create_and_again_after_update() -> None:
    m = in_process()

    reconcile_entity(m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock(metadata="tom")])
    after_create = _pet(m, "default", "404")
    reconcile_entity(
        m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock(tag="v2", metadata="rex")]
    )
    after_update = _pet(m, "default", "404")

    # Without the metadata's FALLBACK dispatcher an unknown id has no example at all.
    assert after_create == (200, '{"name":"Tom v1"}')
    assert after_update == (200, '{"name":"Rex v2"}')


def test_secondaries_follow_the_main_artifact_with_main_artifact_false_in_order() -> None:
    m = in_process()

    reconcile_entity(
        m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock(examples=True, metadata="tom")]
    )

    assert m.uploads() == ["mainArtifact=true", "mainArtifact=false", "mainArtifact=false"]
    assert _pet(m, "default", "9") == (200, '{"name":"Max"}')  # the APIExamples were applied


def test_reconcile_costs_one_lookup_the_uploads_and_one_read_back() -> None:
    m = in_process()
    for i in range(20):
        upload_foreign(m, f"unrelated-{i}", "1.0.0")

    result = reconcile_entity(
        m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock(examples=True, metadata="tom")]
    )

    assert result.calls == 1 + 1 + 2 + 1


def test_the_clickable_mock_url_comes_from_the_read_back_and_answers() -> None:
    with over_http() as m:
        result = reconcile_entity(m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock()])
        [outcome] = result.outcomes
        version = service_version(ENTITY_REF, "default")
        reread = example_url(m.client, outcome.service_id or "", version)
        answer = m.get(outcome.example_url or "")

    assert outcome.example_url == reread  # what a separate read of the service gives
    assert outcome.example_url != outcome.mock_url  # the root plus a GET example's path
    assert answer.status_code == 200


def test_examples_naming_another_service_fail_the_mock_naming_the_file_microcks_skipped() -> None:
    m = in_process()
    mock = desired_mock(examples=True)
    stray = type(mock.secondaries[0])(
        **{
            **mock.secondaries[0].__dict__,
            "content": mock.secondaries[0].content.replace(b"name: petstore", b"name: other"),
        }
    )
    mock = type(mock)(**{**mock.__dict__, "secondaries": (stray,)})

    [outcome] = reconcile_entity(m.client, ENTITY_REF, ENTITY_NAME, upsert=[mock]).outcomes

    # Microcks answers 201 but keeps none of them: the read-back shows the examples missing.
    assert outcome.action == "failed"
    assert isinstance(outcome.error, PermanentError)
    assert f"no examples from desired files: {stray.upload_name}" in str(outcome.error)
    assert outcome.warnings and all("other" in w for w in outcome.warnings)


# -- deletes, prune and ownership -------------------------------------------------------------


def test_a_removed_mock_is_deleted_and_the_entity_s_other_mocks_are_untouched() -> None:
    m = in_process()
    reconcile_entity(
        m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock("alpha"), desired_mock("beta")]
    )
    alpha_id = _service_id(m, "alpha")

    result = reconcile_entity(m.client, ENTITY_REF, ENTITY_NAME, delete=["beta"], keep=["alpha"])

    assert [(o.mock_id, o.action) for o in result.outcomes] == [("beta", "deleted")]
    assert _service_id(m, "beta") is None
    assert _service_id(m, "alpha") == alpha_id
    assert _pet(m, "alpha", "1")[0] == 200


def test_prune_deletes_owned_mocks_that_are_neither_upserted_nor_kept() -> None:
    m = in_process()
    reconcile_entity(
        m.client,
        ENTITY_REF,
        ENTITY_NAME,
        upsert=[desired_mock("alpha"), desired_mock("beta"), desired_mock("gone")],
    )

    result = reconcile_entity(
        m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock("alpha", tag="v2")], keep=["beta"]
    )

    assert sorted((o.mock_id, o.action) for o in result.outcomes) == [
        ("alpha", "updated"),
        ("gone", "deleted"),
    ]
    assert {v for _, v in versions_in(m)} == {f"{HASH}-alpha", f"{HASH}-beta"}


def test_without_prune_unmentioned_mocks_stay() -> None:
    m = in_process()
    reconcile_entity(
        m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock("a"), desired_mock("b")]
    )

    result = reconcile_entity(
        m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock("a", tag="v2")], prune=False
    )

    assert [o.mock_id for o in result.outcomes] == ["a"]
    assert _service_id(m, "b") is not None


def test_deleting_default_spares_x_default_and_services_that_merely_look_like_ours() -> None:
    m = in_process()
    reconcile_entity(
        m.client,
        ENTITY_REF,
        ENTITY_NAME,
        upsert=[desired_mock("default"), desired_mock("x-default")],
    )
    other_hash = entity_hash("api:default/other")
    lookalikes = {
        (ENTITY_NAME, f"other-{HASH}-default"),  # suffix equals our version
        (ENTITY_NAME, f"{other_hash}-default"),  # another entity with the same name's mock
        ("other", f"{HASH}-default"),  # our exact version under another name
        (ENTITY_NAME, f"{HASH}-default.bak"),  # not this mock: a different mockId
    }
    for name, version in lookalikes:
        upload_foreign(m, name, version)

    result = reconcile_entity(
        m.client, ENTITY_REF, ENTITY_NAME, delete=["default"], keep=["x-default", "default.bak"]
    )

    assert [(o.mock_id, o.action) for o in result.outcomes] == [("default", "deleted")]
    assert versions_in(m) == lookalikes | {(ENTITY_NAME, f"{HASH}-x-default")}


def test_an_entity_that_left_the_catalog_loses_every_owned_service_and_nothing_else() -> None:
    m = in_process()
    reconcile_entity(
        m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock("a"), desired_mock("b")]
    )
    upload_foreign(m, ENTITY_NAME, "1.0.0")

    result = reconcile_entity(m.client, ENTITY_REF, ENTITY_NAME)

    assert sorted((o.mock_id, o.action) for o in result.outcomes) == [
        ("a", "deleted"),
        ("b", "deleted"),
    ]
    assert versions_in(m) == {(ENTITY_NAME, "1.0.0")}


def test_deleting_a_mock_that_is_already_gone_is_absent_and_costs_only_the_lookup() -> None:
    m = in_process()

    result = reconcile_entity(
        m.client, ENTITY_REF, ENTITY_NAME, delete=["never-created", "_entity"], prune=False
    )

    assert [(o.mock_id, o.action) for o in result.outcomes] == [
        ("never-created", "absent"),
        ("_entity", "absent"),
    ]
    assert result.calls == 1


def test_a_name_that_changed_case_replaces_the_old_service() -> None:
    m = in_process()
    old = desired_mock(name="PetStore")
    reconcile_entity(m.client, ENTITY_REF, "PetStore", upsert=[old])

    result = reconcile_entity(m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock()])

    assert result.outcomes[0].action == "created"
    assert versions_in(m) == {(ENTITY_NAME, f"{HASH}-default")}


# -- failures -------------------------------------------------------------------------------


def test_a_rejected_artifact_fails_that_mock_only() -> None:
    m = in_process()
    broken = desired_mock("broken", main_text="openapi: 3.0.2\ninfo: [unclosed\n")

    result = reconcile_entity(
        m.client, ENTITY_REF, ENTITY_NAME, upsert=[broken, desired_mock("good")]
    )

    [failed] = result.failed
    assert failed.mock_id == "broken"
    assert isinstance(failed.error, MicrocksRejected) and isinstance(failed.error, PermanentError)
    assert "broken--openapi.yaml" in str(failed.error)
    assert [o.action for o in result.outcomes if o.mock_id == "good"] == ["created"]
    assert _service_id(m, "broken") is None


def test_a_rejected_update_keeps_the_live_mock() -> None:
    m = in_process()
    reconcile_entity(m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock()])
    before = _service_id(m, "default")

    result = reconcile_entity(
        m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock(main_text="openapi: [\n")]
    )

    assert isinstance(result.failed[0].error, PermanentError)
    assert _service_id(m, "default") == before
    assert _pet(m, "default", "1") == (200, '{"name":"Rex v1"}')


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (lambda f: f.fail_next(1, 500, path_prefix="/api/artifact"), MicrocksBusy),
        (lambda f: f.fail_next(1, 503, path_prefix="/api/artifact"), MicrocksBusy),
        (lambda f: f.throttle_next(1, 5, path_prefix="/api/artifact"), MicrocksBusy),
    ],
    ids=["500", "503", "429"],
)
def test_a_transient_upload_failure_fails_the_mock_and_keeps_the_live_one(fault, expected) -> None:  # type: ignore[no-untyped-def]
    m = in_process()
    reconcile_entity(m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock()])
    before = _service_id(m, "default")
    fault(m.app.state.faults)

    result = reconcile_entity(m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock(tag="v2")])

    [failed] = result.failed
    assert isinstance(failed.error, expected) and isinstance(failed.error, TransientError)
    assert _service_id(m, "default") == before
    assert _pet(m, "default", "1") == (200, '{"name":"Rex v1"}')


def test_429_reports_retry_after_on_the_failed_mock() -> None:
    m = in_process()
    m.app.state.faults.throttle_next(1, 9, path_prefix="/api/artifact")

    result = reconcile_entity(m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock()])

    assert result.failed[0].error.retry_after == 9  # type: ignore[union-attr]


def test_an_upload_timeout_fails_the_mock_and_the_live_mock_keeps_answering() -> None:
    with over_http(timeout=0.5) as m:
        reconcile_entity(m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock()])
        before = _service_id(m, "default")
        m.app.state.faults.add_latency(2.0, path_prefix="/api/artifact", count=1)

        result = reconcile_entity(
            m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock(tag="v2")]
        )

        assert isinstance(result.failed[0].error, MicrocksTimeout)
        assert _service_id(m, "default") == before
        assert _pet(m, "default", "1")[0] == 200


def test_a_failing_lookup_raises_and_deletes_nothing() -> None:
    m = in_process()
    reconcile_entity(m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock("a")])
    m.app.state.faults.fail_next(1, 502, path_prefix="/api/services/search")

    with pytest.raises(MicrocksBusy):
        reconcile_entity(m.client, ENTITY_REF, ENTITY_NAME, delete=["a"])

    assert _service_id(m, "a") is not None


def test_a_failed_delete_is_reported_on_that_mock_and_the_others_proceed() -> None:
    m = in_process()
    reconcile_entity(
        m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock("a"), desired_mock("b")]
    )
    m.app.state.faults.fail_next(1, 500, method="DELETE", path_prefix="/api/services/")

    result = reconcile_entity(m.client, ENTITY_REF, ENTITY_NAME, delete=["a", "b"])

    assert [(o.mock_id, o.action) for o in result.outcomes] == [("a", "failed"), ("b", "deleted")]
    assert isinstance(result.outcomes[0].error, TransientError)
    assert _service_id(m, "a") is not None


def test_auth_refused_mid_reconcile_stops_and_raises() -> None:
    m = in_process()
    m.client.get_service(ENTITY_NAME, "warm-up")  # a token is cached
    m.app.state.faults.fail_next(1, 403, path_prefix="/api/artifact")
    calls_before = m.client.calls

    with pytest.raises(AuthError):
        reconcile_entity(
            m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock("a"), desired_mock("b")]
        )

    assert m.client.calls - calls_before == 2  # the lookup and the refused upload, nothing more
    assert versions_in(m) == set()


def test_an_expired_token_mid_run_costs_one_refresh_then_succeeds() -> None:
    with over_http() as m:
        reconcile_entity(m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock()])
        token_calls_before = m.client.token_calls
        m.app.state.faults.expire_tokens()

        result = reconcile_entity(
            m.client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock(tag="v2", metadata="tom")]
        )

        assert result.failed == ()
        assert m.client.token_calls - token_calls_before == 1
        assert _pet(m, "default", "1") == (200, '{"name":"Rex v2"}')


def test_microcks_unreachable_raises_after_the_first_failed_connection() -> None:
    client = MicrocksClient("http://127.0.0.1:1")

    with pytest.raises(MicrocksUnreachable):
        reconcile_entity(
            client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock("a"), desired_mock("b")]
        )

    assert client.calls == 1


class _DropsAfter(httpx.BaseTransport):
    """Delegates to the in-process server, then loses the connection for good after `n` calls."""

    def __init__(self, inner: httpx.BaseTransport, n: int) -> None:
        self.inner = inner
        self.left = n

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.left <= 0:
            raise httpx.ConnectError("connection refused", request=request)
        self.left -= 1
        return self.inner.handle_request(request)


def test_a_connection_lost_mid_run_raises_instead_of_trying_every_mock() -> None:
    m = in_process(auth=False)
    assert m.transport is not None
    client = MicrocksClient(m.client.base_url, transport=_DropsAfter(m.transport, 1))

    with pytest.raises(MicrocksUnreachable):
        reconcile_entity(
            client, ENTITY_REF, ENTITY_NAME, upsert=[desired_mock("a"), desired_mock("b")]
        )

    assert client.calls == 2  # the lookup, then the first upload that could not connect
