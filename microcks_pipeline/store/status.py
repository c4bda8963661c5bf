"""The status store: desired rows, leases, compare-and-set completion, retries, backoff, events.

Every write is one short transaction. Guards live in the SQL `WHERE` clauses (lease owner,
fingerprint, status), so a repeated or late call changes nothing instead of corrupting a row.
Times come from the caller's clock (`now`, default: the current UTC time), never the database's.
"""

from microcks_pipeline.core.errors import StoreNotMigrated, StoreUnavailable
from microcks_pipeline.store.completion import Completion
from microcks_pipeline.store.desired_rows import DesiredRows
from microcks_pipeline.store.events import EventLog
from microcks_pipeline.store.liveness import RunLiveness
from microcks_pipeline.store.releases import Releases
from microcks_pipeline.store.view import StatusView

__all__ = ["StatusStore", "StoreNotMigrated", "StoreUnavailable"]


class StatusStore(DesiredRows, Completion, Releases, RunLiveness, EventLog, StatusView):
    """The `csit_microcks_sync_*` tables on SQLite (default) or PostgreSQL.

    One class to callers; its parts live by concern: `desired_rows` (catalog upserts, claims),
    `completion` (CAS completion, retries), `releases` (leases given back: batch stops, dead
    runs), `state` (global backoff, caches), `liveness` (heartbeats, signs of life),
    `events` (the events table), `view` (the status service's reads), all on `base.StoreBase`'s transactions.
    """
