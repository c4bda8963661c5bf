"""MicrocksClient against the local Microcks-compatible server: requests, answers, errors."""

from __future__ import annotations

import pytest
from microcks_fixtures import (
    ENTITY_NAME,
    ENTITY_REF,
    api_examples,
    in_process,
    openapi_main,
    over_http,
    upload_foreign,
    versions_in,
)

from microcks_pipeline.core.errors import PermanentError, TransientError
from microcks_pipeline.core.identity import entity_hash, service_version
from microcks_pipeline.microcks import (
    MicrocksBusy,
    MicrocksNoService,
    MicrocksRejected,
    MicrocksTimeout,
)

VERSION = service_version(ENTITY_REF, "default")
HASH = entity_hash(ENTITY_REF)


def test_upload_of_a_main_artifact_answers_name_version_and_creates_the_service() -> None:
    m = in_process()

    imported = m.client.upload("a.yaml", openapi_main(ENTITY_NAME, VERSION).encode(), main=True)

    assert imported == f"{ENTITY_NAME}:{VERSION}"
    service = m.client.get_service(ENTITY_NAME, VERSION)
    assert service is not None
    assert (service["name"], service["version"]) == (ENTITY_NAME, VERSION)


def test_upload_always_sends_main_artifact_explicitly() -> None:
    m = in_process()
    m.client.upload("a.yaml", openapi_main(ENTITY_NAME, VERSION).encode(), main=True)

    m.client.upload("b.yaml", api_examples(ENTITY_NAME, VERSION).encode(), main=False)

    assert m.uploads() == ["mainArtifact=true", "mainArtifact=false"]


def test_a_secondary_for_a_missing_service_creates_nothing_though_microcks_answers_201() -> None:
    m = in_process()

    imported = m.client.upload("b.yaml", api_examples(ENTITY_NAME, VERSION).encode(), main=False)

    # Microcks' quirk: 201 name:version although it skipped the file. Had the client left
    # mainArtifact out, Microcks would have defaulted to true and created a broken service.
    assert imported == f"{ENTITY_NAME}:{VERSION}"
    assert m.client.get_service(ENTITY_NAME, VERSION) is None


def test_re_uploading_a_main_artifact_keeps_the_service_id() -> None:
    m = in_process()
    m.client.upload("a.yaml", openapi_main(ENTITY_NAME, VERSION, tag="v1").encode(), main=True)
    first = m.client.get_service(ENTITY_NAME, VERSION)

    m.client.upload("a.yaml", openapi_main(ENTITY_NAME, VERSION, tag="v2").encode(), main=True)

    second = m.client.get_service(ENTITY_NAME, VERSION)
    assert first is not None and second is not None
    assert second["id"] == first["id"]


def test_an_unparseable_artifact_is_rejected_permanently_with_microcks_text() -> None:
    m = in_process()
    before = versions_in(m)

    with pytest.raises(MicrocksRejected) as caught:
        m.client.upload("broken.yaml", b"openapi: 3.0.2\ninfo: [unclosed\n", main=True)

    assert isinstance(caught.value, PermanentError)
    assert caught.value.text and caught.value.text in str(caught.value)
    assert "broken.yaml" in str(caught.value)
    assert versions_in(m) == before


def test_an_empty_file_is_a_permanent_no_service_error_naming_the_file() -> None:
    m = in_process()

    with pytest.raises(MicrocksNoService, match="imported no service from empty.yaml"):
        m.client.upload("empty.yaml", b"", main=True)

    assert versions_in(m) == set()


def test_a_missing_service_reads_as_none() -> None:
    m = in_process()

    assert m.client.get_service(ENTITY_NAME, VERSION) is None
    assert m.client.get_service_view(f"{ENTITY_NAME}:{VERSION}") is None


def test_service_view_carries_the_examples_per_operation() -> None:
    m = in_process()
    m.client.upload("a.yaml", openapi_main(ENTITY_NAME, VERSION).encode(), main=True)

    view = m.client.get_service_view(f"{ENTITY_NAME}:{VERSION}")

    assert view is not None
    assert view["service"]["version"] == VERSION
    assert len(view["messagesMap"]["GET /pets/{id}"]) == 2


def test_delete_removes_the_service_and_succeeds_again_when_it_is_gone() -> None:
    m = in_process()
    m.client.upload("a.yaml", openapi_main(ENTITY_NAME, VERSION).encode(), main=True)
    service = m.client.get_service(ENTITY_NAME, VERSION)
    assert service is not None

    m.client.delete_service(service["id"])
    m.client.delete_service(service["id"])

    assert m.client.get_service(ENTITY_NAME, VERSION) is None


def test_services_of_entity_takes_one_call_and_keeps_only_owned_versions() -> None:
    m = in_process()
    other_hash = entity_hash("api:default/other")
    owned = [(ENTITY_NAME, f"{HASH}-default"), (ENTITY_NAME, f"{HASH}-x-default")]
    owned_other_case = [("PetStore", f"{HASH}-legacy")]  # Microcks' name search ignores case
    foreign = [
        (ENTITY_NAME, f"{other_hash}-default"),  # another entity's hash
        (ENTITY_NAME, f"other-{HASH}-default"),  # ends like ours: a suffix match would take it
        (ENTITY_NAME, f"{HASH}-_entity"),  # not a valid mockId
        (ENTITY_NAME, "1.0.0"),
        ("petstore-v2", f"{HASH}-default"),  # a longer name: the search is anchored
        ("my-petstore", f"{HASH}-default"),
    ]
    for name, version in owned + owned_other_case + foreign:
        upload_foreign(m, name, version)
    calls_before = m.client.calls

    found = m.client.services_of_entity(ENTITY_NAME, HASH)

    assert {(s["name"], s["version"]) for s in found} == set(owned + owned_other_case)
    assert m.client.calls - calls_before == 1


def test_services_of_entity_escapes_regex_characters_in_the_name() -> None:
    m = in_process()
    upload_foreign(m, "pet.store", f"{HASH}-default")
    upload_foreign(m, "petXstore", f"{HASH}-default")

    found = m.client.services_of_entity("pet.store", HASH)

    assert [s["name"] for s in found] == ["pet.store"]


def test_list_services_pages_through_every_service() -> None:
    m = in_process()
    for i in range(5):
        upload_foreign(m, f"svc{i}", "1.0.0")
    calls_before = m.client.calls

    listed = list(m.client.list_services(page_size=2))

    assert sorted(s["name"] for s in listed) == [f"svc{i}" for i in range(5)]
    assert m.client.calls - calls_before == 3  # pages of 2, 2 and 1


def test_the_mock_url_serves_the_uploaded_example() -> None:
    m = in_process()
    m.client.upload("a.yaml", openapi_main(ENTITY_NAME, VERSION, tag="v1").encode(), main=True)

    answer = m.get(m.client.mock_url(ENTITY_NAME, VERSION) + "/pets/1")

    assert answer.status_code == 200
    assert answer.json() == {"name": "Rex v1"}


def test_a_base_url_with_a_path_prefix_reaches_every_endpoint_and_the_token_server() -> None:
    m = in_process(mount="/microcks")

    m.client.upload("a.yaml", openapi_main(ENTITY_NAME, VERSION).encode(), main=True)

    assert m.client.get_service(ENTITY_NAME, VERSION) is not None
    api_paths = [c.path for c in m.app.state.calls.calls() if "/api/" in c.path]
    assert api_paths and all(p.startswith("/microcks/api/") for p in api_paths)
    assert m.client.mock_url(ENTITY_NAME, VERSION).startswith("http://testserver/microcks/rest/")


# -- transient failures ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_is_transient_and_changes_nothing(status: int) -> None:
    m = in_process()
    m.app.state.faults.fail_next(1, status, path_prefix="/api/artifact/upload")

    with pytest.raises(MicrocksBusy) as caught:
        m.client.upload("a.yaml", openapi_main(ENTITY_NAME, VERSION).encode(), main=True)

    assert isinstance(caught.value, TransientError)
    assert caught.value.status == status
    assert versions_in(m) == set()


def test_429_is_transient_and_carries_retry_after() -> None:
    m = in_process()
    m.app.state.faults.throttle_next(1, retry_after=7, path_prefix="/api/services")

    with pytest.raises(MicrocksBusy) as caught:
        m.client.get_service(ENTITY_NAME, VERSION)

    assert caught.value.status == 429
    assert caught.value.retry_after == 7


def test_an_answer_slower_than_the_timeout_is_a_transient_timeout() -> None:
    with over_http(timeout=0.3) as m:
        m.app.state.faults.add_latency(2.0, path_prefix="/api/services", count=1)

        with pytest.raises(MicrocksTimeout) as caught:
            m.client.get_service(ENTITY_NAME, VERSION)

        assert isinstance(caught.value, TransientError)
        # The next request is answered normally: nothing was left broken.
        assert m.client.get_service(ENTITY_NAME, VERSION) is None


def test_the_client_works_over_real_http_with_tokens() -> None:
    with over_http() as m:
        imported = m.client.upload("a.yaml", openapi_main(ENTITY_NAME, VERSION).encode(), main=True)

        answer = m.get(m.client.mock_url(ENTITY_NAME, VERSION) + "/pets/1")

    assert imported == f"{ENTITY_NAME}:{VERSION}"
    assert answer.json() == {"name": "Rex v1"}
    assert m.client.token_calls == 2  # Keycloak config once, one token
