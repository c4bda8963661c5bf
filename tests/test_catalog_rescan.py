"""Repeated listings of the filesystem catalog see every content change, whatever was cached."""

from __future__ import annotations

from pathlib import Path

from microcks_pipeline.sources.catalog import FilesystemCatalog

API = """apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: {name}
  annotations:
    bcgov/microcks-config-ref: dir:.
spec:
  type: openapi
  definition: {definition}
"""


def _write(folder: Path, name: str, definition: str = "inline") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "catalog-info.yaml"
    path.write_text(API.format(name=name, definition=definition))
    return path


def test_edited_file_is_parsed_again_on_the_next_listing(tmp_path: Path) -> None:
    path = _write(tmp_path / "a", "alpha", "one")
    catalog = FilesystemCatalog(tmp_path)
    assert catalog.list_entities().entities[0].spec["definition"] == "one"

    path.write_text(API.format(name="alpha", definition="two"))

    assert catalog.list_entities().entities[0].spec["definition"] == "two"


def test_broken_then_fixed_file_moves_the_listing_from_incomplete_to_complete(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path / "a", "alpha")
    _write(tmp_path / "b", "beta")
    catalog = FilesystemCatalog(tmp_path)
    path.write_text("kind: [unclosed\n")

    broken = catalog.list_entities()
    assert not broken.complete
    assert [e.name for e in broken.entities] == ["beta"]

    _write(tmp_path / "a", "alpha")
    fixed = catalog.list_entities()
    assert fixed.complete and [e.name for e in fixed.entities] == ["alpha", "beta"]


def test_removed_file_disappears_and_a_new_one_appears(tmp_path: Path) -> None:
    gone = _write(tmp_path / "a", "alpha")
    catalog = FilesystemCatalog(tmp_path)
    catalog.list_entities()

    gone.unlink()
    _write(tmp_path / "c", "gamma")

    assert [e.name for e in catalog.list_entities().entities] == ["gamma"]


def test_symlinked_catalog_file_outside_the_root_is_still_refused_on_rescans(
    tmp_path: Path,
) -> None:
    outside = _write(tmp_path / "outside", "secret")
    root = tmp_path / "root"
    (root / "x").mkdir(parents=True)
    (root / "x" / "catalog-info.yaml").symlink_to(outside)
    catalog = FilesystemCatalog(root)

    for _ in range(2):
        snapshot = catalog.list_entities()
        assert snapshot.entities == ()
        assert any("outside the catalog root" in p for p in snapshot.problems)
