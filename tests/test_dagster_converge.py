"""End to end, through real sensor ticks and Dagster runs against the local Microcks over HTTP:
after each change in the repository (or in Microcks, then the drift audit) Microcks serves
exactly what the repository says, and the service view shows it (example sources, dispatcher,
labels). The cases are the rows of reference/microcks/CONVERGE.md §3."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from dagster_fixtures import World, make_world

from microcks_pipeline.core.identity import service_version
from microcks_pipeline.core.observed import ObservedService, parse_service_view
from microcks_pipeline.definitions import defs

PETSTORE = "api:default/petstore"
PAYMENTS = "api:default/payments-api"
GET_PET = "GET /pets/{petId}"


@pytest.fixture
def synced(tmp_path: Path) -> Iterator[World]:
    with make_world(tmp_path) as world:
        assert all(r.success for r in world.sync())
        yield world


# ---- helpers ---------------------------------------------------------------------------------


def resync(world: World) -> None:
    """A catalog tick, a sync tick, and every run they request, all of which must succeed."""
    requests = [*(world.tick_catalog().run_requests or []), *(world.tick_sync().run_requests or [])]
    assert requests, "the change requested no run"
    results = world.run_all(requests)
    assert all(r.success for r in results)


def audit_then_resync(world: World) -> dict[str, object]:
    result = defs.resolve_job_def("drift_audit_job").execute_in_process(
        instance=world.instance, resources=world.resources
    )
    (event,) = [e for e in result.all_node_events if e.is_successful_output]
    meta = {k: v.value for k, v in event.step_output_data.metadata.items()}
    world.run_all(world.tick_sync().run_requests or [])
    return meta


def view(world: World, ref: str = PETSTORE, mock_id: str = "default") -> ObservedService:
    name = ref.split("/", 1)[1]
    with world.microcks.client() as client:
        found = client.read_service(name, service_version(ref, mock_id))
    assert found is not None
    return parse_service_view(found)


def stems(sources: frozenset[str]) -> set[str]:
    """Upload names without their location hash: `pets-1a2b3c4d.yaml` → `pets.yaml`."""
    return {re.sub(r"-[0-9a-f]{8}(\.\w+)$", r"\1", s) for s in sources}


def mock_get(world: World, path: str, ref: str = PETSTORE, mock_id: str = "default"):
    name = ref.split("/", 1)[1]
    return world.get(f"{world.server.base_url}/rest/{name}/{service_version(ref, mock_id)}{path}")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def pet_file(world: World, relative: str = "mocks/default/petstore-examples.yaml") -> Path:
    return world.catalog_dir / "petstore" / relative


# ---- changes in the repository ---------------------------------------------------------------


def test_a_renamed_examples_file_serves_only_the_new_examples(synced: World) -> None:
    old = pet_file(synced)
    old.rename(pet_file(synced, "mocks/default/pets.yaml"))
    edit(pet_file(synced, "mocks/default/pets.yaml"), "name: Spike", "name: Sonic")
    edit(synced.catalog_dir / "petstore/microcks.yaml", "default/petstore-examples", "default/pets")

    resync(synced)

    assert mock_get(synced, "/pets/3").json()["name"] == "Sonic"
    assert stems(view(synced).sources) == {"definition.yaml", "pets.yaml"}


def test_an_examples_file_moved_to_another_folder_serves_only_from_the_new_place(
    synced: World,
) -> None:
    before = view(synced).sources
    target = pet_file(synced, "mocks/shared/petstore-examples.yaml")
    target.parent.mkdir()
    pet_file(synced).rename(target)
    edit(target, "name: Spike", "name: Sonic")
    edit(
        synced.catalog_dir / "petstore/microcks.yaml",
        "mocks/default/petstore",
        "mocks/shared/petstore",
    )

    resync(synced)

    after = view(synced).sources
    assert mock_get(synced, "/pets/3").json()["name"] == "Sonic"
    assert len(after) == 2 and len(after & before) == 1  # the main's name stays, the file's moved
    assert stems(after) == {"definition.yaml", "petstore-examples.yaml"}


def test_a_secondary_removed_from_microcks_yaml_stops_being_served(synced: World) -> None:
    config = synced.catalog_dir / "petstore/microcks.yaml"
    edit(
        config,
        "    - mockId: default\n      artifacts:\n        - kind: examples\n"
        "          path: ./mocks/default/petstore-examples.yaml\n",
        "    - mockId: default\n",
    )

    resync(synced)

    assert mock_get(synced, "/pets/3").status_code == 400  # no example for petId 3 any more
    assert mock_get(synced, "/pets/1").json()["name"] == "Rex"  # the main's own examples stay
    assert stems(view(synced).sources) == {"definition.yaml"}


def test_a_moved_openapi_path_serves_only_the_new_main_examples(synced: World) -> None:
    folder = synced.catalog_dir / "payments/v2"
    (folder / "next").mkdir()
    (folder / "openapi.yaml").rename(folder / "next/openapi.yaml")
    edit(
        folder / "next/openapi.yaml",
        "currency: CAD}, status: settled",
        "currency: CAD}, status: held",
    )
    edit(
        synced.catalog_dir / "payments/microcks.yaml", "./v2/openapi.yaml", "./v2/next/openapi.yaml"
    )
    before = view(synced, PAYMENTS, "v2-preview").sources

    resync(synced)

    answer = mock_get(synced, "/payments/pay_001", PAYMENTS, "v2-preview")
    assert answer.json()["status"] == "held"
    after = view(synced, PAYMENTS, "v2-preview").sources
    assert stems(after) == {"openapi.yaml", "payments-v2-examples.yaml"}
    assert len(after - before) == 1  # the new main's name replaced the old one


def test_an_inline_definition_switched_from_yaml_to_json_serves_only_the_json_examples(
    synced: World,
) -> None:
    path = synced.catalog_dir / "petstore/catalog-info.yaml"
    docs = list(yaml.safe_load_all(path.read_text()))
    api = next(d for d in docs if d["kind"] == "API")
    definition = yaml.safe_load(api["spec"]["definition"])
    definition["paths"]["/pets/{petId}"]["get"]["responses"]["200"]["content"]["application/json"][
        "examples"
    ]["rex"]["value"]["name"] = "Rexy"
    api["spec"]["definition"] = json.dumps(definition, indent=2)
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))

    resync(synced)

    assert mock_get(synced, "/pets/1").json()["name"] == "Rexy"
    sources = view(synced).sources
    assert stems(sources) == {"definition.json", "petstore-examples.yaml"}
    assert not any(s.endswith(".yaml") and s.startswith("definition") for s in sources)


def test_an_example_removed_from_a_file_stops_being_served_the_rest_stays(synced: World) -> None:
    examples = pet_file(synced)
    sonic = (
        '    sonic:\n      request:\n        parameters:\n          petId: "4"\n'
        "      response:\n        mediaType: application/json\n        body: {id: 4, name: Sonic}\n"
    )
    examples.write_text(examples.read_text() + sonic)
    resync(synced)
    assert mock_get(synced, "/pets/4").json()["name"] == "Sonic"

    examples.write_text(examples.read_text().replace(sonic, ""))
    resync(synced)

    assert mock_get(synced, "/pets/4").status_code == 400
    assert mock_get(synced, "/pets/3").json()["name"] == "Spike"
    assert stems(view(synced).sources) == {"definition.yaml", "petstore-examples.yaml"}


def test_a_removed_apimetadata_takes_its_labels_and_dispatcher_with_it(synced: World) -> None:
    before = view(synced, mock_id="fallback")
    assert before.labels == {"domain": "store"}
    assert before.operations[GET_PET].dispatcher == "FALLBACK"
    assert mock_get(synced, "/pets/42", mock_id="fallback").status_code == 404  # the fallback
    edit(
        synced.catalog_dir / "petstore/microcks.yaml",
        "        - kind: metadata\n          path: ./mocks/fallback/petstore-metadata.yaml\n",
        "",
    )

    resync(synced)

    after = view(synced, mock_id="fallback")
    assert after.labels == {}
    op = after.operations[GET_PET]
    assert (op.dispatcher, op.rules) == ("URI_PARTS", "petId")
    assert mock_get(synced, "/pets/42", mock_id="fallback").status_code == 400  # no fallback
    assert mock_get(synced, "/pets/0", mock_id="fallback").json()["message"] == "Pet not found"


def test_an_apimetadata_listed_after_the_apiexamples_it_dispatches_still_matches_them(
    synced: World,
) -> None:
    edit(
        pet_file(synced), '          petId: "3"\n', '          petId: "3"\n          tenant: acme\n'
    )
    pet_file(synced, "mocks/default/tenant-metadata.yaml").write_text(
        "apiVersion: mocks.microcks.io/v1alpha1\nkind: APIMetadata\n"
        "metadata: {name: petstore, version: 1.0.0}\n"
        "operations:\n  'GET /pets/{petId}': {dispatcher: URI_PARAMS, dispatcherRules: tenant}\n"
    )
    edit(
        synced.catalog_dir / "petstore/microcks.yaml",
        "          path: ./mocks/default/petstore-examples.yaml\n",
        "          path: ./mocks/default/petstore-examples.yaml\n"
        "        - kind: metadata\n          path: ./mocks/default/tenant-metadata.yaml\n",
    )

    resync(synced)

    answer = mock_get(synced, "/pets/3?tenant=acme")
    assert answer.status_code == 200, answer.text
    assert answer.json()["name"] == "Spike"
    op = view(synced).operations[GET_PET]
    assert (op.dispatcher, op.rules) == ("URI_PARAMS", "tenant")


# ---- changes made in Microcks, found by the drift audit ----------------------------------------


def test_examples_added_in_microcks_under_a_foreign_file_name_are_removed_after_the_audit(
    synced: World,
) -> None:
    foreign = (
        "apiVersion: mocks.microcks.io/v1alpha1\nkind: APIExamples\n"
        f"metadata: {{name: petstore, version: {service_version(PETSTORE, 'default')}}}\n"
        "operations:\n  'GET /pets/{petId}':\n    hacked:\n"
        "      request: {parameters: {petId: '7'}}\n"
        "      response: {mediaType: application/json, body: {id: 7, name: Hacked}}\n"
    )
    with synced.microcks.client() as client:
        client.upload("added-by-hand.yaml", foreign.encode(), main=False)
    assert mock_get(synced, "/pets/7").json()["name"] == "Hacked"

    meta = audit_then_resync(synced)

    assert meta["requeued"] == 1
    assert mock_get(synced, "/pets/7").status_code == 400
    assert mock_get(synced, "/pets/3").json()["name"] == "Spike"
    assert stems(view(synced).sources) == {"definition.yaml", "petstore-examples.yaml"}


def test_a_dispatcher_overridden_in_microcks_is_put_back_after_the_audit(synced: World) -> None:
    override = {
        "dispatcher": "FALLBACK",
        "dispatcherRules": json.dumps(
            {"dispatcher": "URI_PARTS", "dispatcherRules": "petId", "fallback": "spike"}
        ),
    }
    version = service_version(PETSTORE, "default")
    with synced.microcks.client() as client:
        client.override_operation(f"petstore:{version}", GET_PET, override)
    assert mock_get(synced, "/pets/42").json()["name"] == "Spike"  # the override's fallback

    meta = audit_then_resync(synced)

    assert meta["requeued"] == 1
    op = view(synced).operations[GET_PET]
    assert (op.dispatcher, op.rules) == ("URI_PARTS", "petId")
    assert mock_get(synced, "/pets/42").status_code == 400
    assert mock_get(synced, "/pets/3").json()["name"] == "Spike"
    assert mock_get(synced, "/pets/1").json()["name"] == "Rex"


def test_an_audit_of_an_untouched_microcks_requeues_nothing(synced: World) -> None:
    meta = audit_then_resync(synced)

    assert meta["requeued"] == 0
    assert not synced.tick_sync().run_requests
