"""Specification of a working run's heartbeat (`sync.heartbeat`) on a real store: it renews the
run's leases while the run works and stops when the run ends; a store it cannot reach costs a
warning without a secret, never the run."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import pytest
from store_fixtures import desired_row

from microcks_pipeline.store import StatusStore
from microcks_pipeline.sync.heartbeat import Heartbeat, LeaseTimes

REF = "api:default/petstore"
TIMES = LeaseTimes(lease_seconds=1.5)  # hold 0.5 s, a beat every 0.15 s


def test_the_times_follow_the_lease() -> None:
    times = LeaseTimes(300)
    assert (times.hold, times.every) == (100, 30)


def test_a_heartbeat_keeps_the_runs_leases_live_until_the_run_ends(store: StatusStore) -> None:
    store.upsert_desired([desired_row(REF, "default")])
    store.claim(REF, "run-1", lease_seconds=TIMES.hold)

    with Heartbeat(store, "run-1", TIMES):
        time.sleep(TIMES.hold * 3)  # three holds: without beats the lease would have lapsed
        (row,) = store.rows(REF)
        now = datetime.now(UTC)
        assert row.status == "leased" and row.lease_expires_at > now
        assert store.runs_alive(["run-1"], since=now, now=now) == {"run-1"}

    ended = store.rows(REF)[0].lease_expires_at
    time.sleep(TIMES.every * 3)
    assert store.rows(REF)[0].lease_expires_at == ended  # no beat after the run ended
    later = datetime.now(UTC)
    assert store.runs_alive(["run-1"], since=later, now=later) == set()


def test_a_store_out_of_reach_costs_a_warning_without_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    unreachable = StatusStore("postgresql+psycopg2://pipeline:s3cret-pw@127.0.0.1:1/status")
    worked = False
    with caplog.at_level(logging.WARNING, logger="microcks_pipeline.sync.heartbeat"):
        with Heartbeat(unreachable, "run-1", TIMES):
            worked = True
    assert worked
    assert "heartbeat failed" in caplog.text
    assert "s3cret-pw" not in caplog.text
    unreachable.dispose()
