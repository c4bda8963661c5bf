"""Specification of the Microcks paths a converging client relies on (CONVERGE.md §4–§5): the
messages view with source artifacts, tombstone uploads, label replacement by a secondary
APIMetadata, operation overrides that survive main re-uploads, and metadata updates."""

from __future__ import annotations

from localserver_fixtures import (
    PASTRY_NAME,
    PASTRY_VERSION,
    InProcessClient,
    assert_schema,
    fetch_token,
    open_client,
    pastry_examples,
    pastry_metadata,
    pastry_openapi,
)

SERVICE = f"/api/services/{PASTRY_NAME}:{PASTRY_VERSION}"
PASTRY_MOCK = f"/rest/{PASTRY_NAME}/{PASTRY_VERSION}/pastry"


def tombstone(version: str = PASTRY_VERSION) -> str:
    return f"""apiVersion: mocks.microcks.io/v1alpha1
kind: APIExamples
metadata:
  name: {PASTRY_NAME}
  version: {version}
operations: {{}}
"""


def _pastry() -> InProcessClient:
    client = open_client()
    assert client.upload(pastry_openapi(), "pastry.yaml").status_code == 201
    return client


def _view(client: InProcessClient) -> dict:
    answer = client.get(SERVICE, params={"messages": "true"})
    assert answer.status_code == 200
    return answer.json()


def _sources(view: dict) -> set[str]:
    return {
        pair[part]["sourceArtifact"]
        for pairs in view["messagesMap"].values()
        for pair in pairs
        for part in ("request", "response")
    }


def _operation(view: dict, name: str) -> dict:
    return next(op for op in view["service"]["operations"] if op["name"] == name)


def test_the_messages_view_names_the_source_artifact_of_every_example() -> None:
    client = _pastry()
    client.upload(pastry_examples(), "croissant.yaml", main=False)

    view = _view(client)

    assert _sources(view) == {"pastry.yaml", "croissant.yaml"}
    assert_schema(view, "ServiceView")


def test_a_tombstone_removes_the_examples_of_its_file_name_only() -> None:
    client = _pastry()
    client.upload(pastry_examples(), "croissant.yaml", main=False)
    client.upload(pastry_examples(example="Brioche"), "brioche.yaml", main=False)

    answer = client.upload(tombstone(), "croissant.yaml", main=False)

    assert answer.status_code == 201
    assert _sources(_view(client)) == {"pastry.yaml", "brioche.yaml"}
    assert client.get(f"{PASTRY_MOCK}/Croissant").status_code == 400
    assert client.get(f"{PASTRY_MOCK}/Brioche").json()["name"] == "Brioche"


def test_a_secondary_apimetadata_replaces_the_labels_and_one_without_labels_clears_them() -> None:
    client = _pastry()
    client.upload(pastry_metadata(labels="team: crumbs"), "meta.yaml", main=False)
    assert _view(client)["service"]["metadata"]["labels"] == {"team": "crumbs"}

    bare = pastry_metadata().replace("  labels:\n    domain: bakery\n", "")
    client.upload(bare, "meta.yaml", main=False)

    assert _view(client)["service"]["metadata"]["labels"] == {}


def test_an_apiexamples_upload_leaves_the_labels_alone() -> None:
    client = _pastry()
    client.upload(pastry_examples(), "croissant.yaml", main=False)

    assert _view(client)["service"]["metadata"]["labels"] == {"domain": "pastry"}


def test_an_operation_override_survives_a_main_re_upload_and_sets_the_examples_criteria() -> None:
    client = _pastry()
    body = {"dispatcher": "URI_PARAMS", "dispatcherRules": "size"}

    answer = client.request(
        "PUT",
        f"{SERVICE}/operation",
        params={"operationName": "GET /pastry/{name}"},
        json=body,
    )
    client.upload(pastry_openapi(eclair_price=3.0), "pastry.yaml")

    assert answer.status_code == 200
    operation = _operation(_view(client), "GET /pastry/{name}")
    assert (operation["dispatcher"], operation["dispatcherRules"]) == ("URI_PARAMS", "size")
    assert "override" not in operation  # no Jackson getter in Microcks
    # The main's examples were imported under the overridden dispatcher, not by name.
    pairs = _view(client)["messagesMap"]["GET /pastry/{name}"]
    assert {p["response"]["dispatchCriteria"] for p in pairs} == {""}


def test_without_an_override_a_main_re_upload_drops_the_apimetadata_dispatcher() -> None:
    client = _pastry()
    client.upload(pastry_metadata(), "meta.yaml", main=False)

    client.upload(pastry_openapi(), "pastry.yaml")

    operation = _operation(_view(client), "GET /pastry/{name}")
    assert (operation["dispatcher"], operation["dispatcherRules"]) == ("URI_PARTS", "name")


def test_an_override_replaces_delay_and_constraints_by_what_the_body_gives() -> None:
    client = _pastry()
    client.upload(pastry_metadata(), "meta.yaml", main=False)

    client.request(
        "PUT",
        f"{SERVICE}/operation",
        params={"operationName": "GET /pastry/{name}"},
        json={"dispatcher": "URI_PARTS", "dispatcherRules": "name"},
    )

    operation = _operation(_view(client), "GET /pastry/{name}")
    assert "defaultDelay" not in operation  # the APIMetadata's delay 5 is gone
    assert operation["dispatcher"] == "URI_PARTS"


def test_an_override_of_an_unknown_operation_or_service_is_forbidden() -> None:
    client = _pastry()
    put = {"json": {"dispatcher": "FALLBACK"}, "params": {"operationName": "GET /nope"}}

    unknown_op = client.request("PUT", f"{SERVICE}/operation", **put)
    unknown_service = client.request("PUT", "/api/services/Nope:1/operation", **put)
    no_name = client.request("PUT", f"{SERVICE}/operation", json={"dispatcher": "FALLBACK"})

    assert (unknown_op.status_code, unknown_service.status_code) == (403, 403)
    assert no_name.status_code == 400


def test_metadata_update_sets_labels_and_annotations_exactly() -> None:
    client = _pastry()
    before = _view(client)["service"]["metadata"]["lastUpdate"]

    answer = client.request(
        "PUT", f"{SERVICE}/metadata", json={"labels": {"team": "ovens"}, "annotations": {}}
    )

    metadata = _view(client)["service"]["metadata"]
    assert answer.status_code == 200
    assert (metadata["labels"], metadata["annotations"]) == ({"team": "ovens"}, {})
    assert metadata["lastUpdate"] >= before
    assert_schema(metadata, "Metadata")


def test_operation_and_metadata_updates_need_the_manager_role() -> None:
    client = open_client(auth_enabled=True, default_client_secret="s3cret")
    client.token = fetch_token(client, secret="s3cret")
    client.upload(pastry_openapi(), "pastry.yaml")
    client.token = None

    anonymous = client.request("PUT", f"{SERVICE}/metadata", json={"labels": {}})

    assert anonymous.status_code == 401
