"""A working run's heartbeat: renew its leases and say it is alive, every few seconds.

The lease time (`MICROCKS_PIPELINE_LEASE_SECONDS`) is the promise to operators: a run whose
worker is lost (killed, its node gone) has its entities synced again within it. So a run holds
its rows for a third of it (`hold`), renewed every tenth (`every`) while it works: a live run
never loses a lease however slow its entity, a dead one frees everything after one hold, and the
rest of the lease time is for the sync sensor to notice, a new run to start and sync them.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from types import TracebackType

from microcks_pipeline.store import StatusStore, sanitize_error

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseTimes:
    """The lease time, and what a heartbeat makes of it."""

    lease_seconds: float

    @property
    def hold(self) -> float:
        """How long a claim or a beat holds a run's rows (and says it is alive)."""
        return self.lease_seconds / 3

    @property
    def every(self) -> float:
        """How often a working run beats: about three beats per hold."""
        return self.lease_seconds / 10


class Heartbeat:
    """`with Heartbeat(store, run_id, times):` keeps the run's leases live in a thread."""

    def __init__(self, store: StatusStore, owner: str, times: LeaseTimes) -> None:
        self._store, self._owner, self._times = store, owner, times
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._beat()
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        try:
            self._store.end_beats(self._owner)
        except Exception as error:  # noqa: BLE001 - the run's own outcome matters more
            log.warning("could not end the heartbeat: %s", sanitize_error(str(error)))

    def _loop(self) -> None:
        while not self._stop.wait(self._times.every):
            self._beat()

    def _beat(self) -> None:
        # A missed beat is not fatal: the hold spans about three. If the store stays down, the
        # leases lapse and the run's completions find their rows taken, as for a dead run.
        try:
            self._store.beat(self._owner, hold_seconds=self._times.hold)
        except Exception as error:  # noqa: BLE001
            log.warning("heartbeat failed: %s", sanitize_error(str(error)))
