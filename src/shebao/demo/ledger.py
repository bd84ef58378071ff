"""The demo organisation's contribution history, loaded the way a customer's would be.

Nothing is written straight into the ledger tables: the simulator (``shebao simulate-platform``,
labelled as a simulator everywhere) serves government-style data generated from the demo roster,
with realistic interruptions, previous employers that keep paying, late payments and leavers
not stopped; each entity gets a "模拟平台" HTTP connector and is synced through the connector
path (signed requests, cursor pagination, idempotent apply). A full reconciliation follows, then
a full evaluation of the alert rules, so the findings inbox is filled as a customer's would be.
The simulator plans a few anomalies of every kind the rules look for (see
``shebao.ledger.simulator._plan``): most people have none.

The connectors keep pointing at ``http://127.0.0.1:<SIMULATOR_PORT>``, where ``shebao up``
starts the simulator again (same roster, same seed → same data), so scheduled syncs work in
the demo.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Count

from shebao.core.context import Actor

SIMULATOR_PORT = 8765
CLIENT_ID = "shebao-demo"


@dataclass
class LedgerLoadResult:
    connectors: int = 0
    runs: list[dict] = field(default_factory=list)
    records: int = 0
    discrepancies: dict[str, int] = field(default_factory=dict)
    findings: dict[str, int] = field(default_factory=dict)  # rule kind → open findings
    planned: dict[str, int] = field(default_factory=dict)  # the simulator's planned anomalies
    seconds: float = 0.0


def demo_ledger_load(
    *,
    months: int = 36,
    seed: int = 2026,
    port: int = SIMULATOR_PORT,
    actor: Actor | None = None,
    progress: Callable[[str], None] | None = None,
    as_of: dt.date | None = None,
) -> LedgerLoadResult:
    """Serve the roster's simulated history up to ``as_of`` (default today), sync it through one
    connector per entity, reconcile, and evaluate the alert rules as of that day."""
    from shebao.ledger.connectors.manage import simulator_connectors_register
    from shebao.ledger.models import ContributionRecord, Discrepancy
    from shebao.ledger.reconcile import discrepancies_recompute
    from shebao.ledger.simulator import Simulator, build_dataset
    from shebao.ledger.sync import connector_sync
    from shebao.rules.kinds import KINDS
    from shebao.rules.models import Finding
    from shebao.rules.services import findings_evaluate

    started = time.monotonic()
    actor = actor or Actor.system(via="cli")
    say = progress or (lambda _msg: None)
    dataset = build_dataset(months=months, seed=seed, today=as_of)
    secret = secrets.token_urlsafe(24)
    sim = Simulator(dataset, secret=secret, client_id=CLIENT_ID, seed=seed, port=port, max_limit=1000)
    try:
        url = sim.serve_in_thread()
    except OSError:  # the port is taken (a running demo): use any free one for the load
        sim = Simulator(dataset, secret=secret, client_id=CLIENT_ID, seed=seed, port=0, max_limit=1000)
        url = sim.serve_in_thread()
    result = LedgerLoadResult(planned=dict(sorted(dataset.planned.items())))
    try:
        registered = simulator_connectors_register(
            url=url, client_id=CLIENT_ID, secret=secret, units=dataset.units
        )
        result.connectors = len(registered)
        for connector, _created in registered:
            run = connector_sync(connector=connector, actor=actor, full=True)
            if run is not None:
                result.runs.append({"entity": connector.entity.code, "status": run.status, **run.counts})
                say(
                    f"  {connector.entity.code}：{run.get_status_display()}，"
                    f"新增缴费月份 {run.counts.get('records_created', 0)}，"
                    f"参保状态 {run.counts.get('enrollments_created', 0)}"
                )
    finally:
        sim.close()
    fixed = f"http://127.0.0.1:{SIMULATOR_PORT}"
    for connector, _created in registered:
        if connector.base_url != fixed:
            connector.base_url = fixed
            connector.save(update_fields=["base_url"])
    discrepancies_recompute()
    result.records = ContributionRecord.objects.count()
    result.discrepancies = {
        k: n
        for k, n in Discrepancy.objects.filter(status=Discrepancy.Status.OPEN)
        .order_by()
        .values_list("kind")
        .annotate(n=Count("id"))
    }
    findings_evaluate(actor=actor, as_of=as_of)
    found = dict(
        Finding.objects.filter(status=Finding.Status.OPEN)
        .order_by()
        .values_list("kind")
        .annotate(n=Count("id"))
    )
    result.findings = {kind: found.get(kind, 0) for kind in KINDS}
    result.seconds = time.monotonic() - started
    return result
