"""The demo's cases: two taken from finding to closed case with the employee's acknowledgement and
uploads (``shebao.demo.closed``: their evidence bundles are complete), a few more left at
different stages, so the cases list, the board and a timeline have something to show — while most
findings stay open for a new user to take from finding to closed case themselves. Seeding ends
with the day's evidence checkpoint."""

from __future__ import annotations

import logging

from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError
from shebao.demo.closed import demo_closed_cases

logger = logging.getLogger(__name__)

# kind → how far the demo takes one case of it
PLAN = (
    ("medical_interrupted", "letter_sent"),
    ("registration_overdue", "opened"),
    ("leaver_not_stopped", "stopped"),
    ("arrears", "calculated"),
    ("enrolled_elsewhere", "blocked"),
)


def demo_cases_setup(*, actor: Actor | None = None, seed: int | None = None) -> list:
    """Open the demo cases (idempotent: nothing when any case exists). Returns the cases opened
    (a stage that cannot be reached — no due day for the back-pay calculator, say — leaves its
    case at the step before). ``seed``: the demo's (default: the one ``shebao seed`` used)."""
    from shebao.accounts.models import User
    from shebao.cases.models import Case
    from shebao.cases.services import (
        case_advance,
        case_backpay,
        case_open,
        letter_issue,
        letter_send,
        workflows_install,
    )
    from shebao.rules.models import Finding

    workflows_install(actor=actor)
    if Case.objects.exists():
        return []
    user = User.objects.filter(username="hr_bj").first() or User.objects.filter(username="demo").first()
    if user is None:
        return []
    hr = Actor(user=user, via="cli")
    admin = Actor(user=User.objects.filter(username="demo").first() or user, via="cli")
    from shebao.accounts.permissions import employee_scope
    from shebao.roster.models import Employee

    visible = Employee.objects.filter(employee_scope(user)).values("id")
    out = demo_closed_cases(hr=hr, admin=admin, visible=visible, seed=_seed() if seed is None else seed)
    for kind, stage in PLAN:
        finding = (
            Finding.objects.filter(kind=kind, status=Finding.Status.OPEN, employee__in=visible)
            .order_by("deadline", "id")
            .first()
        )
        if finding is None:
            continue
        try:
            case = case_open(actor=hr, finding=finding)
            out.append(case)
            if stage == "letter_sent":
                letter = letter_issue(actor=hr, case=case)
                letter_send(actor=hr, letter=letter)
            elif stage == "stopped":
                case = case_advance(actor=hr, case=case, choice="done", note="演示：已在截止日前办理减员")
            elif stage == "calculated":
                spans = [d for d in (finding.details or {}).get("discrepancies", []) if d.get("from")]
                start = min((d["from"] for d in spans), default=None)
                end = max((d.get("to") or d["from"] for d in spans), default=None)
                base = case.employee.declared_wage  # the base the roster declares, nothing made up
                if start and end and base:
                    case = case_backpay(actor=hr, case=case, start=start, end=end, base=base)
                    case = case_advance(actor=hr, case=case, choice="done")
            elif stage == "blocked":
                case_advance(actor=admin, case=case, choice="blocked", note="演示：员工仍在原单位参保")
        except ApplicationError as exc:  # the demo goes on without that one
            logger.warning("demo case for %s: %s", kind, exc.message)
    _checkpoint()
    return out


def _seed() -> int:
    from shebao.audit.models import AuditEvent
    from shebao.demo.services import SEED_ACTION

    seeded = AuditEvent.objects.filter(action=SEED_ACTION).order_by("-id").first()
    return int((seeded.changes or {}).get("seed", 2026)) if seeded else 2026


def _checkpoint() -> None:
    """The chain names the signing key, and the day's checkpoint records its head (as the daily
    task would): the demo's evidence is anchored from the start."""
    from shebao.evidence.services import checkpoint_create, key_announce

    system = Actor.system(via="cli")
    key_announce(actor=system)
    checkpoint_create(actor=system)
