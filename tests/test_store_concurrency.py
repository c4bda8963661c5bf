"""Specification: concurrent claimers and writers, each on its own connection, never share a row.

Threads start together behind a barrier and hammer the same rows; the assertions are about
outcomes (who holds what), never about timing.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from store_fixtures import T0, desired_row

from microcks_pipeline.store import StatusStore

ENTITIES = [f"api:default/svc-{i:02d}" for i in range(20)]
MOCKS = ("default", "v2", "v3")


def _run_together(workers: list[Callable[[], None]]) -> None:
    """Start every worker at the same moment; re-raise the first failure."""
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def wrap(work: Callable[[], None]) -> None:
        try:
            barrier.wait()
            work()
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_concurrent_claimers_never_receive_the_same_row(store: StatusStore) -> None:
    store.upsert_desired([desired_row(ref, m) for ref in ENTITIES for m in MOCKS], now=T0)
    claims: dict[str, list[int]] = {}

    def claimer(owner: str) -> Callable[[], None]:
        def work() -> None:
            got: list[int] = []
            for ref in ENTITIES:
                got.extend(r.id for r in store.claim(ref, owner, now=T0))
            claims[owner] = got

        return work

    _run_together([claimer(f"run-{i}") for i in range(6)])

    handed_out = Counter(row_id for ids in claims.values() for row_id in ids)
    assert all(n == 1 for n in handed_out.values())
    assert set(handed_out) == {r.id for r in store.rows()}
    holder = {row_id: owner for owner, ids in claims.items() for row_id in ids}
    assert all(r.lease_owner == holder[r.id] for r in store.rows())


def test_concurrent_reclaim_of_an_expired_lease_has_one_winner(store: StatusStore) -> None:
    ref = ENTITIES[0]
    store.upsert_desired([desired_row(ref, m) for m in MOCKS], now=T0)
    store.claim(ref, "crashed-run", lease_seconds=10, now=T0)
    later = T0 + timedelta(seconds=11)
    winners: dict[str, int] = {}

    def claimer(owner: str) -> Callable[[], None]:
        def work() -> None:
            winners[owner] = len(store.claim(ref, owner, now=later))

        return work

    _run_together([claimer(f"run-{i}") for i in range(4)])

    assert sorted(winners.values()) == [0, 0, 0, len(MOCKS)]
    (winner,) = [owner for owner, n in winners.items() if n]
    assert {r.lease_owner for r in store.rows(ref)} == {winner}


def test_completion_never_records_a_fingerprint_that_is_no_longer_desired(
    store: StatusStore,
) -> None:
    """The catalog keeps changing fingerprints while runs claim and complete: the CAS holds."""
    refs = ENTITIES[:5]
    store.upsert_desired([desired_row(ref, m) for ref in refs for m in MOCKS], now=T0)
    rounds = 15

    def catalog() -> None:
        for n in range(rounds):
            fp = f"fp-{n}"
            store.upsert_desired([desired_row(ref, m, fp) for ref in refs for m in MOCKS], now=T0)

    def worker(owner: str) -> Callable[[], None]:
        def work() -> None:
            for _ in range(rounds):
                for ref in refs:
                    for row in store.claim(ref, owner, now=T0):
                        store.complete(row.id, owner, row.fingerprint_hash, now=T0)

        return work

    _run_together([catalog, worker("run-a"), worker("run-b")])

    for row in store.rows():
        assert row.status in ("pending", "completed")
        if row.status == "completed":
            assert row.applied_fingerprint == row.fingerprint_hash
        assert row.lease_owner is None
