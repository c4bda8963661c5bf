"""Specification of the Backstage HTTP catalog source, against a real local fake of the API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from catalog_fixtures import TOKEN, FakeBackstage, api_entity, closed_port, serve

from microcks_pipeline.core.errors import CatalogUnavailable, ConfigError
from microcks_pipeline.sources.catalog import BackstageCatalog, catalog_source
from microcks_pipeline.sources.catalog.backstage import QUERY_FIELDS, QUERY_FILTER, location_of
from microcks_pipeline.sources.catalog.filesystem import FilesystemCatalog


@pytest.fixture
def fake() -> FakeBackstage:
    return FakeBackstage()


@pytest.fixture
def base_url(fake: FakeBackstage) -> Iterator[str]:
    with serve(fake.app()) as url:
        yield url


def client(base_url: str, **kw) -> BackstageCatalog:
    kw.setdefault("token", TOKEN)
    return BackstageCatalog(base_url, **kw)


def test_lists_every_managed_api_across_several_pages(fake, base_url):
    names = [f"api-{i:02d}" for i in range(7)]
    fake.entities = [api_entity(n) for n in names]

    with client(base_url, page_size=3) as catalog:
        snapshot = catalog.list_entities()

    assert sorted(e.name for e in snapshot.entities) == names
    assert snapshot.complete and snapshot.problems == ()
    assert len(fake.requests) == 3  # 3 + 3 + 1


def test_first_page_sends_the_filter_later_pages_only_cursor_limit_and_fields(fake, base_url):
    fake.entities = [api_entity(f"api-{i}") for i in range(5)]

    with client(base_url, page_size=2) as catalog:
        catalog.list_entities()

    first, *later = fake.requests
    assert first == {"filter": [QUERY_FILTER], "limit": ["2"], "fields": [QUERY_FIELDS]}
    assert later and all(set(r) == {"cursor", "limit", "fields"} for r in later)


def test_unmanaged_entities_are_left_out(fake, base_url):
    fake.entities = [
        api_entity("managed"),
        api_entity("no-annotation", config_ref=None),
        api_entity("a-component", kind="Component"),
        api_entity("orphaned", annotations={"backstage.io/orphan": "true"}),
    ]

    with client(base_url) as catalog:
        snapshot = catalog.list_entities()

    assert [e.ref for e in snapshot.entities] == ["api:default/managed"]
    assert snapshot.complete


def test_refs_are_lower_cased_and_definitions_are_already_text(fake, base_url):
    fake.entities = [api_entity("PetStore", namespace="team-a")]

    with client(base_url) as catalog:
        (entity,) = catalog.list_entities().entities

    assert entity.ref == "api:team-a/petstore"
    assert entity.name == "PetStore"
    assert isinstance(entity.spec["definition"], str)
    assert entity.config_ref == "dir:."


def test_a_failing_second_page_raises_and_returns_nothing(fake, base_url):
    fake.entities = [api_entity(f"api-{i}") for i in range(5)]
    fake.page_status[2] = 500

    with client(base_url, page_size=2) as catalog, pytest.raises(CatalogUnavailable) as err:
        catalog.list_entities()

    assert "page 2" in str(err.value) and "HTTP 500" in str(err.value)
    assert len(fake.requests) == 2  # stopped at the failure


@pytest.mark.parametrize(
    ("body", "reason"),
    [("<html>maintenance</html>", "not JSON"), ('{"entities": []}', "no 'items'")],
)
def test_a_malformed_page_raises(fake, base_url, body, reason):
    fake.entities = [api_entity(f"api-{i}") for i in range(3)]
    fake.page_body[2] = body

    with client(base_url, page_size=2) as catalog, pytest.raises(CatalogUnavailable) as err:
        catalog.list_entities()

    assert reason in str(err.value)


def test_a_slow_catalog_times_out_as_unavailable(fake, base_url):
    fake.entities = [api_entity("slow")]
    fake.sleep_seconds = 1.0

    with client(base_url, timeout=0.1) as catalog, pytest.raises(CatalogUnavailable) as err:
        catalog.list_entities()

    assert "timed out" in str(err.value)


def test_a_refused_token_is_reported_without_the_token(fake, base_url):
    wrong = "wrong-secret-token-9876"

    with client(base_url, token=wrong) as catalog, pytest.raises(CatalogUnavailable) as err:
        catalog.list_entities()

    text = f"{err.value} {err.value!r} {err.value.args}"
    assert "HTTP 401" in text and "token was refused" in text
    assert wrong not in text


def test_no_token_at_all_is_reported_as_missing(fake, base_url):
    with client(base_url, token=None) as catalog, pytest.raises(CatalogUnavailable) as err:
        catalog.list_entities()

    assert "no token configured" in str(err.value)


def test_nothing_listening_is_unavailable_without_the_token():
    url = f"http://127.0.0.1:{closed_port()}"

    with client(url) as catalog, pytest.raises(CatalogUnavailable) as err:
        catalog.list_entities()

    assert "request failed" in str(err.value)
    assert TOKEN not in str(err.value)


def test_a_cursor_that_repeats_is_refused_instead_of_looping(fake, base_url):
    fake.entities = [api_entity(f"api-{i}") for i in range(5)]
    fake.repeat_cursor = True

    with client(base_url, page_size=2) as catalog, pytest.raises(CatalogUnavailable) as err:
        catalog.list_entities()

    assert "repeats an earlier cursor" in str(err.value)


def test_a_listing_longer_than_max_pages_is_refused(fake, base_url):
    fake.entities = [api_entity(f"api-{i}") for i in range(5)]

    with client(base_url, page_size=1, max_pages=3) as catalog:
        with pytest.raises(CatalogUnavailable) as err:
            catalog.list_entities()

    assert "3 pages" in str(err.value)
    assert len(fake.requests) == 3


def test_an_invalid_item_makes_the_listing_incomplete_but_keeps_the_others(fake, base_url):
    broken = api_entity("ok-name")
    broken["metadata"]["name"] = "not valid!"
    fake.entities = [api_entity("good"), broken]

    with client(base_url) as catalog:
        snapshot = catalog.list_entities()

    assert [e.name for e in snapshot.entities] == ["good"]
    assert not snapshot.complete
    assert any("metadata.name" in p for p in snapshot.problems)


def test_get_entity_finds_one_by_ref_in_any_case(fake, base_url):
    fake.entities = [api_entity("PetStore", namespace="team-a"), api_entity("other")]

    with client(base_url) as catalog:
        entity = catalog.get_entity("API:Team-A/petstore")

    assert entity is not None and entity.ref == "api:team-a/petstore"
    assert entity.location.kind == "url"


def test_get_entity_answers_none_for_404_and_for_unmanaged_entities(fake, base_url):
    fake.entities = [
        api_entity("plain", config_ref=None),
        api_entity("orphan", annotations={"backstage.io/orphan": "true"}),
    ]

    with client(base_url) as catalog:
        found = [catalog.get_entity(ref) for ref in ("missing", "plain", "api:default/orphan")]

    assert found == [None, None, None]


def test_get_entity_with_a_refused_token_raises(fake, base_url):
    fake.entities = [api_entity("petstore")]

    with client(base_url, token="nope-nope-nope") as catalog:
        with pytest.raises(CatalogUnavailable):
            catalog.get_entity("petstore")


def test_a_non_api_ref_is_refused_before_any_request(fake, base_url):
    with client(base_url) as catalog, pytest.raises(ValueError):
        catalog.get_entity("component:default/petstore")

    assert fake.requests == []


def test_a_redirect_is_not_followed_so_the_token_stays_home(fake, base_url):
    elsewhere = FakeBackstage(entities=[api_entity("elsewhere")])
    with serve(elsewhere.app()) as other_url:
        fake.page_redirect[1] = other_url + "/api/catalog/entities/by-query"

        with client(base_url) as catalog, pytest.raises(CatalogUnavailable) as err:
            catalog.list_entities()

    assert "HTTP 307" in str(err.value)
    assert elsewhere.requests == []


# --- locations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "repo_root", "base_dir"),
    [
        (
            "url:https://github.com/org/repo/blob/main/apis/pets/catalog-info.yaml",
            "https://github.com/org/repo/blob/main/",
            "https://github.com/org/repo/blob/main/apis/pets/",
        ),
        (
            "url:https://gitlab.example/group/sub/repo/-/blob/v1.2/apis/catalog-info.yaml",
            "https://gitlab.example/group/sub/repo/-/blob/v1.2/",
            "https://gitlab.example/group/sub/repo/-/blob/v1.2/apis/",
        ),
        (
            "url:https://files.example/catalogs/pets/catalog-info.yaml",
            "https://files.example/catalogs/pets/",
            "https://files.example/catalogs/pets/",
        ),
        (
            "https://github.com/org/repo/blob/main/catalog-info.yaml",
            "https://github.com/org/repo/blob/main/",
            "https://github.com/org/repo/blob/main/",
        ),
    ],
)
def test_url_locations_give_the_repository_prefix_as_root(annotation, repo_root, base_dir):
    location = location_of({"backstage.io/managed-by-location": annotation})

    assert location.kind == "url"
    assert location.repo_root == repo_root
    assert location.base_dir == base_dir


def test_file_locations_use_the_files_folder_as_root():
    location = location_of(
        {"backstage.io/managed-by-location": "file:/srv/catalog/pets/catalog-info.yaml"}
    )

    assert (location.kind, location.repo_root) == ("file", "/srv/catalog/pets")
    assert location.base_dir == "/srv/catalog/pets"


def test_source_location_is_the_fallback_and_tree_folders_become_blob_urls():
    location = location_of(
        {
            "backstage.io/managed-by-location": "bootstrap:bootstrap",
            "backstage.io/source-location": "url:https://github.com/org/repo/tree/main/apis/x/",
        }
    )

    assert location.repo_root == "https://github.com/org/repo/blob/main/"
    assert location.base_dir == "https://github.com/org/repo/blob/main/apis/x/"


def test_without_a_usable_location_relative_references_fail_clearly(fake, base_url):
    fake.entities = [api_entity("nowhere", location=None)]

    with client(base_url) as catalog:
        (entity,) = catalog.list_entities().entities

    assert entity.location.kind == "none"
    with pytest.raises(ConfigError, match="no usable location"):
        _ = entity.location.base_dir


# --- choosing a source -------------------------------------------------------------------


def test_catalog_source_picks_the_folder_or_backstage(tmp_path):
    assert isinstance(catalog_source(root=str(tmp_path)), FilesystemCatalog)
    source = catalog_source(backstage_url="http://127.0.0.1:9", token=TOKEN, timeout=1.0)
    assert isinstance(source, BackstageCatalog)


@pytest.mark.parametrize("kw", [{}, {"root": "catalog", "backstage_url": "http://127.0.0.1:9"}])
def test_catalog_source_needs_exactly_one_source(kw):
    with pytest.raises(ValueError, match="exactly one"):
        catalog_source(**kw)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "127.0.0.1:7007", "http:///api"])
def test_a_backstage_url_that_is_not_http_is_refused_at_construction(url):
    with pytest.raises(ValueError, match="http"):
        BackstageCatalog(url, token=TOKEN)


@pytest.mark.parametrize("token", ["has space-in-it", "line\nbreak-token", "tab\tinside"])
def test_a_malformed_token_is_refused_at_construction_without_echoing_it(token):
    with pytest.raises(ValueError) as err:
        BackstageCatalog("http://127.0.0.1:9", token=token)

    assert token not in str(err.value)


@pytest.mark.parametrize(
    "url", ["http://user:pw@127.0.0.1:9", "http://127.0.0.1:9/?token=abc", "http://127.0.0.1:9/#x"]
)
def test_a_url_with_credentials_query_or_fragment_is_refused_without_echoing_it(url):
    with pytest.raises(ValueError, match="without credentials") as err:
        BackstageCatalog(url, token=TOKEN)

    assert url not in str(err.value) and TOKEN not in str(err.value)


def test_the_repr_shows_the_url_but_not_the_token():
    with BackstageCatalog("http://127.0.0.1:9/backstage/", token=TOKEN) as catalog:
        assert repr(catalog) == "BackstageCatalog('http://127.0.0.1:9/backstage')"
