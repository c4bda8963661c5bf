"""Repository paths in microcks.yaml follow the `$text` rule: `..` is resolved, then the result
must lie inside the entity's repository; absolute paths, escapes and symlinks out are refused."""

from __future__ import annotations

from pathlib import Path

from artifacts_fixtures import OPENAPI_YAML
from dagster_fixtures import make_world
from desired_fixtures import MICROCKS_YAML, load, pet, pet_repo

from microcks_pipeline.core.config import parse_config
from microcks_pipeline.core.desired import EntityDesired
from microcks_pipeline.core.identity import service_version

ALT_MAIN = "        path: ./mocks/alt/openapi.json"


def with_alt_main(path: str) -> str:
    assert ALT_MAIN in MICROCKS_YAML
    return MICROCKS_YAML.replace(ALT_MAIN, f"        path: {path}")


def alt_failure(desired: EntityDesired) -> str:
    assert [m.mock_id for m in desired.mocks] == ["default"]
    (failure,) = desired.failures
    assert failure.mock_id == "alt" and failure.permanent
    return failure.reason


def test_microcks_yaml_accepts_a_dotdot_path_and_still_refuses_an_absolute_one() -> None:
    config = parse_config(with_alt_main("../openapi-sandbox.yaml"), "apis/pet/microcks.yaml")
    assert config.invalid == ()
    assert config.mocks[1].main_path == "../openapi-sandbox.yaml"

    absolute = parse_config(with_alt_main("/etc/openapi.yaml"), "apis/pet/microcks.yaml")
    (invalid,) = absolute.invalid
    assert invalid.mock_id == "alt" and "absolute paths are not allowed" in invalid.reason


def test_a_dotdot_openapi_path_inside_the_repository_is_resolved_and_loaded(
    tmp_path: Path,
) -> None:
    repo = pet_repo(
        tmp_path,
        **{
            "apis/pet/microcks.yaml": with_alt_main("../openapi-sandbox.yaml"),
            "apis/openapi-sandbox.yaml": OPENAPI_YAML,
        },
    )

    desired = load(pet(repo))

    assert desired.failures == ()
    assert desired.mocks[1].main.location == "apis/openapi-sandbox.yaml"


def test_a_dotdot_path_leaving_the_repository_fails_that_mock_as_text_would(
    tmp_path: Path,
) -> None:
    escape = "../../../openapi.yaml"
    (tmp_path / "openapi.yaml").write_text(OPENAPI_YAML)
    repo = pet_repo(tmp_path / "repo", **{"apis/pet/microcks.yaml": with_alt_main(escape)})

    by_path = alt_failure(load(pet(repo)))
    by_text = load(pet(repo, definition={"$text": escape})).failures[0].reason

    assert "leaves the repository" in by_path and "leaves the repository" in by_text
    assert by_path.split(": ", 1)[-1] == by_text.split(": ", 1)[-1]  # one rule, one reason


def test_a_dotdot_path_through_a_symlink_out_of_the_repository_is_refused(
    tmp_path: Path,
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "openapi.yaml").write_text(OPENAPI_YAML)
    repo = pet_repo(
        tmp_path / "repo", **{"apis/pet/microcks.yaml": with_alt_main("../link/openapi.yaml")}
    )
    (repo / "apis/link").symlink_to(outside)

    assert "symlink" in alt_failure(load(pet(repo)))


def test_a_backslash_dotdot_path_is_refused(tmp_path: Path) -> None:
    repo = pet_repo(
        tmp_path, **{"apis/pet/microcks.yaml": with_alt_main("'mocks\\..\\..\\openapi.yaml'")}
    )

    assert "use plain '/' paths" in alt_failure(load(pet(repo)))


def test_a_dotdot_openapi_path_inside_the_repository_syncs_and_its_mock_answers(
    tmp_path: Path,
) -> None:
    with make_world(tmp_path) as world:
        orders = world.catalog_dir / "orders"
        sandbox = (orders / "openapi.yaml").read_text().replace("total: 25.5", "total: 77.7")
        (orders / "openapi-sandbox.yaml").write_text(sandbox)
        with (orders / "mocks" / "microcks.yaml").open("a") as config:
            config.write("    - mockId: sandbox\n      openapi:\n")
            config.write("        path: ../openapi-sandbox.yaml\n")

        assert all(r.success for r in world.sync())

        version = service_version("api:default/orders-api", "sandbox")
        url = f"{world.server.base_url}/rest/orders-api/{version}/orders?status=pending"
        answer = world.get(url)
        assert answer.status_code == 200 and answer.json()[0]["total"] == 77.7
        rows = {r.mock_id: r.status for r in world.store.rows("api:default/orders-api")}
        assert rows == {"default": "completed", "backorder": "completed", "sandbox": "completed"}
