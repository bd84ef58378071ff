"""Background jobs of the notifications room.

* ``notifications_flush_periodic_task`` — every minute: send what is due (retries, digests, the
  end of quiet hours, a channel's pause running out).
* ``notifications_flush_task`` — queued after a transaction that wrote notifications commits,
  so an immediate message does not wait for the minute.

The web and the CLI only queue; the consumer (``shebao worker``) runs them.
"""

from __future__ import annotations

import logging
from typing import Any

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

logger = logging.getLogger(__name__)


def _flush() -> dict[str, Any]:
    from shebao.notify.services import notifications_flush

    total: dict[str, Any] = {}
    for _ in range(20):  # up to 20 × 500 a run; the next minute takes the rest
        result = notifications_flush().to_dict()
        for k, v in result.items():
            total[k] = total.get(k, 0) + v if k != "errors" else (total.get(k, []) + v)[:20]
        if not (result["sent"] or result["retried"] or result["failed"] or result["merged"]):
            break
    if total.get("sent") or total.get("failed"):
        logger.info("notify: flush %s", total)
    return total


@db_periodic_task(crontab(minute="*"))
def notifications_flush_periodic_task() -> dict[str, Any]:
    return _flush()


@db_task()
def notifications_flush_task() -> dict[str, Any]:
    # Two flushes at once are safe (each notification is claimed by one), so no lock here.
    return _flush()
