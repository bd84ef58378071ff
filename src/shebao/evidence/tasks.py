"""Background jobs of the evidence ledger (times in Asia/Shanghai: HUEY ``utc`` is off).

* ``evidence_checkpoint_daily_task`` — 00:05: record the chain's head as a checkpoint and send
  it to the auditors (once a day: a checkpoint already made today, by hand or by a worker that
  ran twice, is enough). The signing key is announced in the chain first, if it is not yet.
* ``evidence_verify_daily_task`` — 03:30: verify the whole chain; when it finds problems, the
  auditors and HR admins are alerted in-app and through the auditors' channel.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from shebao.core.context import Actor

logger = logging.getLogger(__name__)


def checkpoint_daily(*, now: dt.datetime | None = None):
    """Today's checkpoint: the one already made today, else a new one. Returns it."""
    from shebao.evidence.models import Checkpoint
    from shebao.evidence.services import checkpoint_create, key_announce

    now = now or timezone.now()
    today = timezone.localdate(now)
    start = timezone.make_aware(dt.datetime.combine(today, dt.time.min))
    existing = Checkpoint.objects.filter(created_at__gte=start, created_at__lt=start + dt.timedelta(days=1))
    cp = existing.order_by("id").first()
    if cp is not None:
        return cp
    actor = Actor.system(via="worker")
    key_announce(actor=actor)  # the key that signs bundles is named in the chain before its first checkpoint
    return checkpoint_create(actor=actor, now=now)


def verify_daily(*, now: dt.datetime | None = None):
    """Verify the chain; alert when it is broken. Returns the run."""
    from shebao.evidence.services import chain_verify

    return chain_verify(via="worker", now=now)  # alerts the auditors itself when broken


@db_periodic_task(crontab(minute="5", hour="0"))
def evidence_checkpoint_daily_task() -> dict[str, Any]:
    cp = checkpoint_daily()
    logger.info("evidence: checkpoint #%s at entry %s", cp.pk, cp.seq)
    return {"checkpoint": cp.pk, "seq": cp.seq, "head_hash": cp.head_hash}


@db_periodic_task(crontab(minute="30", hour="3"))
def evidence_verify_daily_task() -> dict[str, Any]:
    run = verify_daily()
    return {"run": run.pk, "result": run.result, "entries": run.entries, "first_bad_seq": run.first_bad_seq}


@db_task()
def checkpoint_publish_task(checkpoint_id: int) -> list[str]:
    """Send a checkpoint to the auditors (and time-stamp it) outside the request that made it."""
    from shebao.evidence.models import Checkpoint
    from shebao.evidence.services import checkpoint_publish

    cp = Checkpoint.objects.filter(pk=checkpoint_id).first()
    return checkpoint_publish(checkpoint=cp).sent_to if cp is not None else []
