"""Specification of the filesystem catalog source (a folder of catalog-info.yaml files)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from microcks_pipeline.sources.catalog import FilesystemCatalog
from microcks_pipeline.sources.catalog.documents import managed_api


def api_doc(name: str, *, namespace: str | None = None) -> str:
    text = textwrap.dedent(
        """\
        apiVersion: backstage.io/v1alpha1
        kind: API
        metadata:
          name: NAME
          annotations:
            bcgov/microcks-config-ref: dir:.
        spec:
          type: openapi
          lifecycle: production
          owner: group:team-a
          definition:
            $text: ./openapi.yaml
        """
    ).replace("NAME", name)
    if namespace:
        text = text.replace(f"  name: {name}\n", f"  name: {name}\n  namespace: {namespace}\n")
    return text


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def location_doc(*targets: str, loc_type: str | None = None) -> str:
    type_line = f"  type: {loc_type}\n" if loc_type else ""
    lines = "".join(f"    - {t}\n" for t in targets)
    return (
        "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: seed\n"
        f"spec:\n{type_line}  targets:\n{lines}"
    )


def listed_names(root: Path) -> list[str]:
    return sorted(e.name for e in FilesystemCatalog(root).list_entities().entities)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "catalog").mkdir()
    return tmp_path / "catalog"


# --- what is listed ----------------------------------------------------------------------


def test_every_api_document_of_a_multi_document_file_is_listed(root):
    component = "kind: Component\nmetadata:\n  name: shop\nspec:\n  providesApis: [pets]\n"
    write(
        root / "shop/catalog-info.yaml",
        "\n---\n".join([component, api_doc("pets"), "", api_doc("orders")]),
    )

    snapshot = FilesystemCatalog(root).list_entities()

    assert sorted(e.name for e in snapshot.entities) == ["orders", "pets"]
    assert snapshot.complete and snapshot.problems == ()


def test_both_file_names_are_found_in_nested_folders(root):
    write(root / "a/catalog-info.yaml", api_doc("first"))
    write(root / "b/c/d/catalog-info.yml", api_doc("second"))
    write(root / "b/other.yaml", api_doc("not-a-catalog-file"))

    assert listed_names(root) == ["first", "second"]


def test_non_api_unannotated_and_orphaned_entities_are_ignored(root):
    unannotated = api_doc("plain").replace("    bcgov/microcks-config-ref: dir:.\n", "")
    orphan = api_doc("orphan").replace(
        "annotations:\n", "annotations:\n    backstage.io/orphan: 'true'\n"
    )
    component = api_doc("a-component").replace("kind: API", "kind: Component")
    docs = [api_doc("kept"), unannotated, orphan, component, api_doc("lower").replace("API", "api")]
    write(root / "catalog-info.yaml", "---\n".join(docs))

    snapshot = FilesystemCatalog(root).list_entities()

    assert sorted(e.name for e in snapshot.entities) == ["kept", "lower"]
    assert snapshot.complete


def test_refs_are_lower_cased_with_the_default_namespace(root):
    write(root / "a/catalog-info.yaml", api_doc("PetStore"))
    write(root / "b/catalog-info.yaml", api_doc("Orders", namespace="team-b"))

    refs = {e.name: e.ref for e in FilesystemCatalog(root).list_entities().entities}

    assert refs == {"PetStore": "api:default/petstore", "Orders": "api:team-b/orders"}


def test_location_is_the_file_and_the_resolved_root_and_text_refs_stay_unread(root):
    path = write(root / "pets/catalog-info.yaml", api_doc("pets"))

    (entity,) = FilesystemCatalog(root).list_entities().entities

    assert entity.location.kind == "file"
    assert entity.location.target == str(path.resolve())
    assert entity.location.repo_root == str(root.resolve())
    assert entity.location.base_dir == str(path.parent.resolve())
    assert entity.spec["definition"] == {"$text": "./openapi.yaml"}


def test_hidden_folders_are_skipped(root):
    write(root / ".git/catalog-info.yaml", api_doc("in-git"))
    write(root / "apis/.venv/catalog-info.yaml", api_doc("in-venv"))
    write(root / "apis/catalog-info.yaml", api_doc("visible"))

    assert listed_names(root) == ["visible"]


def test_an_empty_root_is_a_complete_empty_listing(root):
    snapshot = FilesystemCatalog(root).list_entities()

    assert snapshot.entities == () and snapshot.complete


def test_a_missing_root_is_an_incomplete_listing(tmp_path):
    snapshot = FilesystemCatalog(tmp_path / "nowhere").list_entities()

    assert snapshot.entities == () and not snapshot.complete
    assert "not a readable folder" in snapshot.problems[0]


# --- Location documents ------------------------------------------------------------------


def test_location_targets_inside_the_root_are_followed(root):
    write(root / "seed.yaml", api_doc("unreached"))  # not a catalog-info file: never walked
    write(root / "catalog-info.yaml", location_doc("./apis/pets.yaml", "./apis/more.yml"))
    write(root / "apis/pets.yaml", api_doc("pets"))
    write(root / "apis/more.yml", location_doc("../deep/orders.yaml", loc_type="file"))
    write(root / "deep/orders.yaml", api_doc("orders"))

    snapshot = FilesystemCatalog(root).list_entities()

    assert sorted(e.name for e in snapshot.entities) == ["orders", "pets"]
    assert snapshot.complete and snapshot.problems == ()


def test_a_single_target_and_glob_targets_are_followed(root):
    write(
        root / "catalog-info.yaml",
        "kind: Location\nmetadata: {name: s}\nspec:\n  target: ./apis/*/entity.yaml\n",
    )
    write(root / "apis/a/entity.yaml", api_doc("a"))
    write(root / "apis/b/entity.yaml", api_doc("b"))

    assert listed_names(root) == ["a", "b"]


def test_a_file_reached_twice_is_read_once(root):
    write(root / "catalog-info.yaml", location_doc("./apis/catalog-info.yaml"))
    write(root / "apis/catalog-info.yaml", api_doc("pets"))
    write(root / "again/catalog-info.yaml", location_doc("../apis/catalog-info.yaml"))

    snapshot = FilesystemCatalog(root).list_entities()

    assert [e.name for e in snapshot.entities] == ["pets"]
    assert snapshot.problems == ()  # no "defined again" from a second read


def test_a_target_outside_the_root_is_refused_without_making_the_listing_incomplete(root, tmp_path):
    write(tmp_path / "outside/secret.yaml", api_doc("outsider"))
    write(root / "catalog-info.yaml", location_doc("../outside/secret.yaml", "./pets.yaml"))
    write(root / "pets.yaml", api_doc("pets"))

    snapshot = FilesystemCatalog(root).list_entities()

    assert [e.name for e in snapshot.entities] == ["pets"]
    assert snapshot.complete
    assert len(snapshot.problems) == 1
    assert "outside the catalog root" in snapshot.problems[0]
    assert "catalog-info.yaml:1" in snapshot.problems[0]


def test_a_symlinked_target_leading_outside_the_root_is_refused(root, tmp_path):
    outside = write(tmp_path / "outside/real.yaml", api_doc("outsider"))
    os.symlink(outside, root / "link.yaml")
    write(root / "catalog-info.yaml", location_doc("./link.yaml"))

    snapshot = FilesystemCatalog(root).list_entities()

    assert snapshot.entities == ()
    assert snapshot.complete
    assert "outside the catalog root" in " ".join(snapshot.problems)


def test_a_symlinked_catalog_file_or_folder_outside_the_root_is_not_read(root, tmp_path):
    outside = write(tmp_path / "outside/catalog-info.yaml", api_doc("outsider"))
    (root / "linked-file").mkdir()
    os.symlink(outside, root / "linked-file/catalog-info.yaml")
    os.symlink(outside.parent, root / "linked-folder")

    snapshot = FilesystemCatalog(root).list_entities()

    assert snapshot.entities == ()
    assert snapshot.complete
    assert ["linked-file/catalog-info.yaml" in p for p in snapshot.problems] == [True]


@pytest.mark.parametrize(
    ("targets", "loc_type"),
    [(["https://github.com/org/repo/blob/main/catalog-info.yaml"], None), (["./x.yaml"], "url")],
)
def test_url_targets_are_refused(root, targets, loc_type):
    write(root / "x.yaml", api_doc("x"))
    write(root / "catalog-info.yaml", location_doc(*targets, loc_type=loc_type))

    snapshot = FilesystemCatalog(root).list_entities()

    assert snapshot.entities == ()
    assert snapshot.complete
    assert "of type 'url'" in snapshot.problems[0]


def test_a_missing_target_makes_the_listing_incomplete(root):
    write(root / "catalog-info.yaml", location_doc("./gone.yaml", "./pets.yaml"))
    write(root / "pets.yaml", api_doc("pets"))

    snapshot = FilesystemCatalog(root).list_entities()

    assert [e.name for e in snapshot.entities] == ["pets"]
    assert not snapshot.complete
    assert "gone.yaml" in snapshot.problems[0] and "not a readable file" in snapshot.problems[0]


def test_an_invalid_location_document_makes_the_listing_incomplete(root):
    write(root / "catalog-info.yaml", "kind: Location\nmetadata: {name: s}\nspec:\n  targets: 3\n")
    write(root / "a/catalog-info.yaml", api_doc("a"))

    snapshot = FilesystemCatalog(root).list_entities()

    assert [e.name for e in snapshot.entities] == ["a"]
    assert not snapshot.complete
    assert "catalog-info.yaml:4: field 'spec.targets'" in snapshot.problems[0]


# --- files that cannot be read -----------------------------------------------------------


def test_malformed_yaml_names_file_and_line_and_keeps_the_other_entities(root):
    good = write(root / "good/catalog-info.yaml", api_doc("good"))
    text = api_doc("broken").replace("  type: openapi", "  type: [openapi")
    write(root / "broken/catalog-info.yaml", text)
    bad_line = text.splitlines().index("  type: [openapi") + 1

    snapshot = FilesystemCatalog(root).list_entities()

    assert [e.name for e in snapshot.entities] == ["good"]
    assert good.read_text() == api_doc("good")  # untouched
    assert not snapshot.complete
    (problem,) = snapshot.problems
    assert problem.startswith("broken/catalog-info.yaml:")
    reported = int(problem.split(":")[1])
    assert bad_line <= reported <= bad_line + 1  # PyYAML marks where it noticed


def test_an_alias_bomb_is_refused_like_a_malformed_file(root):
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        bomb.append(
            f"{'abcdefgh'[i]}: &{'abcdefgh'[i]} [{', '.join(['*' + 'abcdefgh'[i - 1]] * 10)}]"
        )
    write(root / "bomb/catalog-info.yaml", "\n".join(bomb) + "\n")
    write(root / "good/catalog-info.yaml", api_doc("good"))

    snapshot = FilesystemCatalog(root).list_entities()

    assert [e.name for e in snapshot.entities] == ["good"]
    assert not snapshot.complete
    assert "bomb/catalog-info.yaml" in snapshot.problems[0]
    assert "alias bomb" in snapshot.problems[0]


def test_an_oversized_file_is_refused_like_a_malformed_file(root):
    big = api_doc("big") + "# " + "x" * 4096 + "\n"
    write(root / "big/catalog-info.yaml", big)
    write(root / "small/catalog-info.yaml", api_doc("small"))

    snapshot = FilesystemCatalog(root, max_file_bytes=2048).list_entities()

    assert [e.name for e in snapshot.entities] == ["small"]
    assert not snapshot.complete
    assert "big/catalog-info.yaml" in snapshot.problems[0]
    assert "2048 byte limit" in snapshot.problems[0]


def test_a_file_that_is_not_utf8_is_refused(root):
    (root / "bin").mkdir()
    (root / "bin/catalog-info.yaml").write_bytes(b"kind: API\nname: \xff\xfe\n")

    snapshot = FilesystemCatalog(root).list_entities()

    assert snapshot.entities == () and not snapshot.complete
    assert "bin/catalog-info.yaml" in snapshot.problems[0]


# --- invalid documents -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("  name: pets", "  name: -pets-", "metadata.name"),
        ("  name: pets", "  name: pets\n  namespace: Team_A", "metadata.namespace"),
        (
            "    bcgov/microcks-config-ref: dir:.",
            "    bcgov/microcks-config-ref: 3",
            "metadata.annotations",
        ),
        ("kind: API", "kinds: API", "kind"),
    ],
)
def test_an_invalid_document_that_may_be_ours_makes_the_listing_incomplete(root, old, new, field):
    text = api_doc("pets").replace(old, new)
    write(root / "bad/catalog-info.yaml", text)
    write(root / "good/catalog-info.yaml", api_doc("good"))

    snapshot = FilesystemCatalog(root).list_entities()

    assert [e.name for e in snapshot.entities] == ["good"]
    assert not snapshot.complete
    (problem,) = snapshot.problems
    assert problem.startswith("bad/catalog-info.yaml:") and f"field '{field}" in problem


def test_the_problem_line_points_at_the_offending_field(root):
    text = "---\n" + api_doc("ok") + "---\n" + api_doc("Bad Name")
    write(root / "catalog-info.yaml", text)
    name_line = text.splitlines().index("  name: Bad Name") + 1

    snapshot = FilesystemCatalog(root).list_entities()

    assert [e.name for e in snapshot.entities] == ["ok"]
    assert snapshot.problems[0].startswith(f"catalog-info.yaml:{name_line}: field 'metadata.name'")


def test_a_document_that_is_not_a_mapping_makes_the_listing_incomplete(root):
    write(root / "catalog-info.yaml", "- just\n- a list\n")

    snapshot = FilesystemCatalog(root).list_entities()

    assert not snapshot.complete and "must be a mapping" in snapshot.problems[0]


def test_a_duplicate_ref_keeps_the_first_and_reports_the_second(root):
    write(root / "a/catalog-info.yaml", api_doc("Pets"))
    write(root / "b/catalog-info.yaml", api_doc("pets"))

    snapshot = FilesystemCatalog(root).list_entities()

    (entity,) = snapshot.entities
    assert entity.name == "Pets" and entity.location.target.endswith("a/catalog-info.yaml")
    assert snapshot.complete
    (problem,) = snapshot.problems
    assert problem.startswith("b/catalog-info.yaml:1: api:default/pets is defined again")
    assert "a/catalog-info.yaml:1" in problem


def test_orphan_flag_must_be_the_string_true(root):
    flagged = api_doc("offline").replace(
        "annotations:\n", "annotations:\n    backstage.io/orphan: 'false'\n"
    )
    write(root / "catalog-info.yaml", flagged)

    assert listed_names(root) == ["offline"]


def test_a_name_that_yaml_reads_as_a_boolean_is_reported_with_its_type(root):
    write(root / "catalog-info.yaml", api_doc("off"))

    snapshot = FilesystemCatalog(root).list_entities()

    assert not snapshot.complete
    assert (
        "field 'metadata.name': an entity needs a string name, not a bool" in snapshot.problems[0]
    )


def test_managed_api_of_a_plain_mapping_matches_the_file_reader():
    doc = {
        "kind": "Api",
        "metadata": {"name": "Pets", "annotations": {"bcgov/microcks-config-ref": "dir:."}},
    }

    api = managed_api(doc)

    assert api is not None and api.ref == "api:default/pets" and api.spec == {}


# --- get_entity --------------------------------------------------------------------------


def test_get_entity_accepts_every_ref_form(root):
    write(root / "catalog-info.yaml", api_doc("PetStore", namespace="team-a"))
    catalog = FilesystemCatalog(root)

    found = [
        catalog.get_entity(r)
        for r in ("api:team-a/petstore", "Team-A/PetStore", "API:team-a/PETSTORE")
    ]

    assert [e.ref if e else None for e in found] == ["api:team-a/petstore"] * 3
    assert catalog.get_entity("petstore") is None  # default namespace: another entity


def test_get_entity_sees_changes_once_the_cache_is_off(root):
    catalog = FilesystemCatalog(root, cache_seconds=0)
    assert catalog.get_entity("pets") is None

    write(root / "catalog-info.yaml", api_doc("pets"))

    assert catalog.get_entity("pets") is not None


def test_get_entity_refuses_a_ref_of_another_kind(root):
    with pytest.raises(ValueError, match="not an API"):
        FilesystemCatalog(root).get_entity("component:default/pets")


def test_get_entity_reads_only_the_entitys_own_file_between_listings(root, monkeypatch):
    write(root / "a" / "catalog-info.yaml", api_doc("pets"))
    other = write(root / "b" / "catalog-info.yaml", api_doc("orders"))
    catalog = FilesystemCatalog(root, cache_seconds=0)
    catalog.list_entities()
    edited = api_doc("pets").replace("lifecycle: production", "lifecycle: experimental")
    write(root / "a" / "catalog-info.yaml", edited)
    other.write_text("not: [valid")  # a listing would now see a broken file
    opened: list[str] = []
    real_open = open

    def spy(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", spy)

    pets = catalog.get_entity("pets")

    assert pets is not None and pets.spec["lifecycle"] == "experimental"
    assert opened == [str((root / "a" / "catalog-info.yaml").resolve())]


def test_get_entity_lists_again_when_the_entity_left_its_file(root):
    write(root / "a" / "catalog-info.yaml", api_doc("pets"))
    catalog = FilesystemCatalog(root, cache_seconds=0)
    catalog.list_entities()
    write(root / "a" / "catalog-info.yaml", api_doc("dogs"))
    write(root / "b" / "catalog-info.yaml", api_doc("pets"))  # moved, not removed

    moved = catalog.get_entity("pets")

    assert moved is not None
    assert moved.location.target == str((root / "b" / "catalog-info.yaml").resolve())
    (root / "b" / "catalog-info.yaml").unlink()
    assert catalog.get_entity("pets") is None


@pytest.mark.parametrize(("relist_seconds", "found"), [(60, True), (0, False)])
def test_a_file_dropped_from_the_catalog_is_seen_at_the_next_listing(root, relist_seconds, found):
    write(root / "catalog-info.yaml", location_doc("./extra/apis.yaml"))
    write(root / "extra" / "apis.yaml", api_doc("pets"))
    catalog = FilesystemCatalog(root, cache_seconds=0, relist_seconds=relist_seconds)
    catalog.list_entities()
    write(root / "catalog-info.yaml", api_doc("orders"))  # the Location naming it is gone

    # Until the relist time the file alone is read again (bounded staleness); then the listing.
    assert (catalog.get_entity("pets") is not None) is found


# --- expect: a batch run's lookups ---------------------------------------------------------


@pytest.fixture
def parsed(monkeypatch) -> list[str]:
    """The files the catalog parses (shown relative to the root), in order."""
    from microcks_pipeline.sources.catalog import filesystem

    seen: list[str] = []
    real = filesystem._parse_file

    def spy(data, location, shown, max_bytes):  # type: ignore[no-untyped-def]
        seen.append(shown)
        return real(data, location, shown, max_bytes)

    monkeypatch.setattr(filesystem, "_parse_file", spy)
    return seen


def test_an_expected_entity_is_found_parsing_only_the_files_that_may_define_it(root, parsed):
    write(root / "a" / "catalog-info.yaml", api_doc("pets"))
    write(root / "b" / "catalog-info.yaml", api_doc("orders"))
    write(root / "c" / "catalog-info.yaml", "not: [valid")  # a full listing would parse it
    catalog = FilesystemCatalog(root)
    catalog.expect(["api:default/pets", "default/stock"])

    pets = catalog.get_entity("api:default/pets")

    assert parsed == ["a/catalog-info.yaml"]
    assert pets == FilesystemCatalog(root).get_entity("pets")  # what a full listing finds


def test_an_entity_not_expected_or_not_found_is_looked_for_in_a_full_listing(root, parsed):
    write(root / "a" / "catalog-info.yaml", api_doc("pets"))
    write(root / "b" / "catalog-info.yaml", api_doc("orders"))
    catalog = FilesystemCatalog(root)
    catalog.expect(["pets", "gone"])
    assert catalog.get_entity("pets") is not None
    parsed.clear()

    orders = catalog.get_entity("orders")  # within the cache time of the expected listing

    assert orders is not None and orders.ref == "api:default/orders"
    assert parsed == ["b/catalog-info.yaml"]  # a full listing: the file skipped before (a is
    # unchanged since it was parsed)
    assert catalog.get_entity("gone") is None


def test_expected_entities_behind_a_location_or_spelled_with_escapes_are_found(root):
    write(root / "catalog-info.yaml", location_doc("./extra/apis.yaml"))
    write(root / "extra" / "apis.yaml", api_doc("pets"))
    escaped = api_doc("orders").replace("name: orders", 'name: "ord\\x65rs"')
    write(root / "team" / "catalog-info.yaml", escaped)
    catalog = FilesystemCatalog(root)
    catalog.expect(["pets", "orders"])

    assert catalog.get_entity("pets") is not None
    orders = catalog.get_entity("orders")
    assert orders is not None and orders.name == "ord" + "ers"


def test_an_expected_entity_defined_twice_is_the_first_definition_as_in_a_full_listing(root):
    write(root / "a" / "catalog-info.yaml", api_doc("pets"))
    second = api_doc("pets").replace("lifecycle: production", "lifecycle: experimental")
    write(root / "b" / "catalog-info.yaml", second)
    catalog = FilesystemCatalog(root)
    catalog.expect(["pets"])

    pets = catalog.get_entity("pets")

    assert pets is not None and pets.spec["lifecycle"] == "production"
    assert pets == FilesystemCatalog(root).get_entity("pets")
