"""Specification of the local server's store at scale: one call touches one service, whatever else it holds.

Microcks looks services up through Mongo indexes; the local store must not copy or rescan the
other services on an import, a lookup or a delete. Shown without timing: the store reports each
stored object it deep-copies (`Store(copy_observer=...)`), and 2,000 other services are present.
The seeded store is shared by the module (seeding costs a second); each test works on its own
services, so the tests do not depend on each other's order.
"""

from __future__ import annotations

import pytest

from microcks_pipeline.localserver.importers import ImportCrashed
from microcks_pipeline.localserver.model import Service
from microcks_pipeline.localserver.store import Store

SEEDED = 2000
VERSION = "1.0"


def _name(index: int) -> str:
    return f"svc-{index:04d}"


def _openapi(name: str, *, answer: str = "UP", label: str = "seeded") -> bytes:
    return f"""openapi: 3.0.2
info:
  title: {name}
  version: "{VERSION}"
  x-microcks:
    labels: {{state: {label}}}
paths:
  /ping:
    get:
      responses:
        '200':
          description: ok
          content:
            text/plain:
              examples:
                up: {{value: {answer}}}
""".encode()


def _examples(name: str, example: str) -> bytes:
    return f"""apiVersion: mocks.microcks.io/v1alpha1
kind: APIExamples
metadata: {{name: {name}, version: "{VERSION}"}}
operations:
  'GET /ping':
    {example}:
      request: {{}}
      response: {{mediaType: text/plain, body: {example}}}
""".encode()


def _crashing_openapi(name: str) -> bytes:
    # A response header example without a value makes Microcks' importer throw (answered 500);
    # it fails while reading examples, after the service itself has been rebuilt.
    return f"""openapi: 3.0.2
info:
  title: {name}
  version: "{VERSION}"
  x-microcks:
    labels: {{state: crashed}}
paths:
  /ping:
    get:
      responses:
        '200':
          description: ok
          headers:
            x-trace:
              examples:
                up: {{summary: no value}}
          content:
            text/plain:
              examples:
                up: {{value: CRASHED}}
""".encode()


class Observed:
    """The store plus what it deep-copied since the last `reset`."""

    def __init__(self) -> None:
        self.copied: list[object] = []
        self.store = Store(copy_observer=self.copied.append)

    def reset(self) -> None:
        self.copied.clear()

    def copied_services(self) -> list[tuple[str, str]]:
        return [(o.name, o.version) for o in self.copied if isinstance(o, Service)]


@pytest.fixture(scope="module")
def seeded() -> Observed:
    observed = Observed()
    for index in range(SEEDED):
        observed.store.import_artifact(_openapi(_name(index)), f"{_name(index)}.yaml", True)
    return observed


def _answers(observed: Observed, name: str) -> list[str]:
    snapshot = observed.store.snapshot_by_name(name, VERSION)
    assert snapshot is not None
    return sorted(p.response.content or "" for p in snapshot.pairs_of("GET /ping"))


def test_main_reupload_among_2000_services_copies_only_the_service_it_updates(seeded):
    target, neighbour = _name(10), _name(11)
    before = seeded.store.snapshot_by_name(target, VERSION)
    neighbour_before = seeded.store.snapshot_by_name(neighbour, VERSION)
    count = seeded.store.count()
    seeded.reset()

    seeded.store.import_artifact(_openapi(target, answer="DOWN"), f"{target}.yaml", True)

    assert seeded.copied_services() == [(target, VERSION)]  # the service being updated ...
    assert len(seeded.copied) == 1  # ... and nothing else
    after = seeded.store.snapshot_by_name(target, VERSION)
    assert after.service.id == before.service.id
    assert _answers(seeded, target) == ["DOWN"]
    assert seeded.store.snapshot_by_name(neighbour, VERSION) == neighbour_before
    assert seeded.store.count() == count


def test_secondary_among_2000_services_copies_only_the_service_it_completes(seeded):
    target, neighbour = _name(20), _name(21)
    neighbour_before = seeded.store.snapshot_by_name(neighbour, VERSION)
    seeded.reset()

    seeded.store.import_artifact(_examples(target, "extra"), f"{target}-examples.yaml", False)

    assert seeded.copied_services() == [(target, VERSION)]
    assert len(seeded.copied) == 1
    assert _answers(seeded, target) == ["UP", "extra"]
    assert seeded.store.snapshot_by_name(neighbour, VERSION) == neighbour_before


def test_new_service_among_2000_services_copies_nothing_already_stored(seeded):
    count = seeded.store.count()
    seeded.reset()

    answer = seeded.store.import_artifact(_openapi("brand-new"), "brand-new.yaml", True)

    assert answer == [f"brand-new:{VERSION}"]
    assert seeded.copied == []
    assert seeded.store.count() == count + 1
    assert _answers(seeded, "brand-new") == ["UP"]


def test_failing_import_among_2000_services_copies_only_its_target_and_leaves_it_untouched(seeded):
    target = _name(30)
    before = seeded.store.snapshot_by_name(target, VERSION)
    count = seeded.store.count()
    seeded.reset()

    with pytest.raises(ImportCrashed):
        seeded.store.import_artifact(_crashing_openapi(target), f"{target}.yaml", True)

    assert seeded.copied_services() == [(target, VERSION)]
    assert seeded.store.snapshot_by_name(target, VERSION) == before
    assert before.service.metadata.labels == {"state": "seeded"}
    assert seeded.store.count() == count


def test_lookup_among_2000_services_copies_only_that_service_and_its_examples(seeded):
    target = _name(40)
    stored_id = seeded.store.snapshot_by_name(target, VERSION).service.id
    seeded.reset()

    by_id = seeded.store.snapshot(stored_id)
    by_key = seeded.store.snapshot(f"{target}:{VERSION}")

    assert by_id == by_key
    assert by_id.service.name == target
    assert seeded.copied_services() == [(target, VERSION), (target, VERSION)]
    assert len(seeded.copied) == 4  # per lookup: the service and its tuple of examples
    assert all(isinstance(o, tuple) for o in seeded.copied if not isinstance(o, Service))


def test_delete_among_2000_services_removes_only_that_service(seeded):
    target, neighbour = _name(50), _name(51)
    stored_id = seeded.store.snapshot_by_name(target, VERSION).service.id
    neighbour_before = seeded.store.snapshot_by_name(neighbour, VERSION)
    count = seeded.store.count()
    seeded.reset()

    assert seeded.store.delete(stored_id) is True

    assert seeded.copied == []
    assert seeded.store.snapshot(stored_id) is None
    assert seeded.store.snapshot_by_name(target, VERSION) is None
    assert seeded.store.snapshot_by_name(neighbour, VERSION) == neighbour_before
    assert seeded.store.count() == count - 1
    assert [s.name for s in seeded.store.search(f"^{target}$", {})] == []


def test_reimport_after_delete_among_2000_services_is_found_under_its_new_id(seeded):
    target = _name(60)
    old_id = seeded.store.snapshot_by_name(target, VERSION).service.id
    seeded.store.delete(old_id)

    seeded.store.import_artifact(_openapi(target, answer="BACK"), f"{target}.yaml", True)

    again = seeded.store.snapshot_by_name(target, VERSION)
    assert again.service.id != old_id
    assert seeded.store.snapshot(old_id) is None
    assert seeded.store.snapshot(again.service.id) == again
    assert _answers(seeded, target) == ["BACK"]
