"""A run waiting for a `microcks_api` pool slot sleeps instead of spinning (defs/pool_wait.py):
a real run on a real instance, its slot held by another run for a few seconds."""

from __future__ import annotations

import threading
import time

import dagster as dg
import pytest

import microcks_pipeline.definitions  # noqa: F401 - installs the fix, as in every run process
from microcks_pipeline.defs.assets import MICROCKS_POOL
from microcks_pipeline.defs.pool_wait import has_the_defect, sleep_while_waiting_for_a_slot

HELD_SECONDS = 4.0


@dg.op(pool=MICROCKS_POOL)
def calls_microcks() -> None:
    """Stands for a sync step: all that matters here is its pool."""


@dg.job(executor_def=dg.in_process_executor)
def one_pool_step() -> None:
    calls_microcks()


def test_the_fix_is_in_use_while_dagster_has_the_defect() -> None:
    assert sleep_while_waiting_for_a_slot()
    assert not has_the_defect()  # Dagster's method now answers the interval it scheduled


def test_a_run_waiting_for_a_held_slot_sleeps_and_runs_once_the_slot_is_free() -> None:
    with dg.instance_for_test(overrides={"concurrency": {"pools": {"default_limit": 1}}}) as inst:
        storage = inst.event_log_storage
        if not storage.supports_global_concurrency_limits:
            pytest.skip("this storage has no pools")
        storage.initialize_concurrency_limit_to_default(MICROCKS_POOL)
        held = storage.claim_concurrency_slot(MICROCKS_POOL, "another-run", "sync_entities")
        assert held.is_claimed
        threading.Timer(
            HELD_SECONDS, storage.free_concurrency_slot_for_step, ("another-run", "sync_entities")
        ).start()
        cpu, wall = time.process_time(), time.monotonic()

        result = one_pool_step.execute_in_process(instance=inst)

        waited, used = time.monotonic() - wall, time.process_time() - cpu
    assert result.success
    assert waited >= HELD_SECONDS  # it did wait for the slot
    assert waited < HELD_SECONDS + 3  # and took it within a claim interval of its freeing
    assert used < 0.5 * waited  # spinning would use the whole wait (a CPU core)
