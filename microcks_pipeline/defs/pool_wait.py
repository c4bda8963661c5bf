"""A step waiting for a `microcks_api` pool slot sleeps between its claims instead of spinning.

Dagster 1.13's `InstanceConcurrencyContext.interval_to_next_pending_claim_check`
(dagster/_core/execution/plan/instance_concurrency_context.py) returns
`min([0, *(ready_at - now)])`, which is never above 0, so `ActiveExecution.sleep_til_ready`
(dagster/_core/execution/plan/active.py) never sleeps: a run launched ahead of a free slot
(dagster.yaml admits 4 runs for a pool of 2, so that the next runs boot while two sync) checks
its claim in a tight loop and burns a whole CPU core until it gets the slot (py-spy on
bench/scale_10k.py: most of a waiting run's CPU; on Kubernetes, each waiting run pod's CPU).
The upstream fix (dagster-io/dagster#20367) was closed without being merged. The interval meant
is the time until the claim check Dagster itself scheduled (1 s, growing 1.1x per refused claim,
at most 15 s: `_calculate_timeout_interval`). Installed only while the Dagster in use still
has the defect.
"""

from __future__ import annotations

import time

from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext


def _until_next_claim_check(self: InstanceConcurrencyContext) -> float:
    if not self._pending_claims or not self._pending_timeouts:
        return 0.0
    now = time.time()
    return max(0.0, min(ready_at - now for ready_at in self._pending_timeouts.values()))


def has_the_defect() -> bool:
    """Whether Dagster's own interval is 0 for a claim check scheduled a minute ahead."""
    probe = InstanceConcurrencyContext.__new__(InstanceConcurrencyContext)
    probe._pending_claims = {"probe"}
    probe._pending_timeouts = {"probe": time.time() + 60}
    try:
        return InstanceConcurrencyContext.interval_to_next_pending_claim_check(probe) <= 0
    except Exception:  # another Dagster: leave it alone
        return False


def sleep_while_waiting_for_a_slot() -> bool:
    """Install the interval meant, where needed; whether it is in use."""
    method = InstanceConcurrencyContext.interval_to_next_pending_claim_check
    if method is _until_next_claim_check:
        return True
    if not has_the_defect():
        return False
    InstanceConcurrencyContext.interval_to_next_pending_claim_check = _until_next_claim_check  # type: ignore[method-assign]
    return True
