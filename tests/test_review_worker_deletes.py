"""Review findings on the worker's delete path: a delete that once failed transiently is still
an ordinary delete on its retry, and a permanent load failure keeps its own reason."""

# ruff: noqa: F811  (the rig fixture imported from worker_fixtures is a parameter of the tests)

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from worker_fixtures import ORDERS, Rig, rig  # noqa: F401  (pytest fixture)

from microcks_pipeline.identity import service_version
from microcks_pipeline.worker import removable_entities

LATER = timedelta(hours=1)  # well past any retry backoff


def test_a_delete_retried_after_a_transient_failure_completes_and_the_entity_is_removable(
    rig: Rig,
) -> None:
    rig.process()
    rig.sync(owner="run-1")
    rig.remove_from_catalog()
    rig.process()
    rig.app.state.faults.fail_next(1, 503, method="DELETE", path_prefix="/api/services/")
    first = rig.sync(owner="run-2")
    assert first.transient_failures  # one delete met the 503 and was scheduled again

    retry = rig.sync(owner="run-3", now=datetime.now(UTC) + LATER)

    rows = rig.rows()
    assert retry.ok and not retry.permanent_failures
    assert {r.status for r in rows.values()} == {"completed"}
    assert all(r.last_error is None for r in rows.values())
    assert not {service_version(ORDERS, m) for m in rows} & rig.versions()
    assert removable_entities(rig.store) == [ORDERS]


def test_a_broken_config_whose_delete_failed_transiently_still_shows_the_config_error(
    rig: Rig,
) -> None:
    rig.process()
    rig.sync(owner="run-1")
    (rig.catalog / "orders" / "mocks" / "microcks.yaml").write_text("spec:\n  mocks: []\n")
    rig.process()
    rig.app.state.faults.fail_next(1, 503, method="DELETE", path_prefix="/api/services/")
    rig.sync(owner="run-2")

    rig.sync(owner="run-3", now=datetime.now(UTC) + LATER)

    rows = rig.rows()
    assert {r.status for r in rows.values()} == {"error"}
    assert all("microcks.yaml" in (r.last_error or "") for r in rows.values())
    assert not {service_version(ORDERS, m) for m in rows} & rig.versions()
