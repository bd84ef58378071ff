"""invalid_identity: identity data that cannot be matched to the government data or validated."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_noop as N_
from pydantic import Field

from shebao.ledger.models import LedgerPerson
from shebao.rules.context import Context, Scope
from shebao.rules.kinds.base import Match, Params, RuleKind
from shebao.rules.models import Severity

M = LedgerPerson.Match


class IdentityParams(Params):
    upgraded_15: bool = Field(True, description=N_("由15位旧号升位、尚未与政府数据核对的证件号码"))
    account_only: bool = Field(True, description=N_("台账中只按个人编号和姓名匹配（无证件号码）的人员"))
    name_only: bool = Field(True, description=N_("花名册证件号码在台账中找不到、但有同名未匹配人员"))


class InvalidIdentity(RuleKind):
    code = "invalid_identity"
    label = N_("身份信息无法匹配")
    summary = N_("花名册与政府数据的身份信息对不上：15位旧号未核对、只按个人编号匹配、证件号码可能录错")
    default_name = N_("身份信息无法匹配或未核对")
    severity = Severity.WARNING
    citations = ()
    params = IdentityParams
    titles = {
        "upgraded_15": N_("{name}的证件号码由15位旧号升位而来，尚未与政府数据核对"),
        "account_only": N_("{name}在台账中只按个人编号 {account} 和姓名匹配，没有证件号码"),
        "name_only": N_("{name}的证件号码在政府数据中找不到，但有同名人员（{masked}）：证件号码可能录错"),
        "default": N_("{name}的身份信息无法匹配"),
    }
    explanations = {
        "upgraded_15": N_(
            "花名册中{name}的18位证件号码是由15位旧号按国家标准升位得到的，政府数据中还没有以该号码出现的记录。"
            "升位只能补出校验位和世纪，无法发现旧号本身的错误。"
        ),
        "account_only": N_(
            "政府数据中此人的行没有证件号码，系统按个人编号 {account} 加姓名匹配到了{name}。"
            "同名同编号误配的可能性很小但存在，参保判断以此为准前请核对。"
        ),
        "name_only": N_(
            "花名册中{name}的证件号码在政府数据中没有出现，而政府数据里有一位同名、证件号码为 {masked} 的人员未能匹配到任何员工。"
            "很可能是花名册或申报时的证件号码录错，导致参保记录对不上。"
        ),
        "default": N_("{name}的身份信息无法匹配。"),
    }
    next_steps = {
        "upgraded_15": N_("请员工出示现行身份证核对号码；如不一致，更正花名册。"),
        "account_only": N_("在政府平台导出带证件号码的明细核对，或在花名册中核对个人编号。"),
        "name_only": N_("核对员工身份证原件：花名册录错的更正花名册；申报时录错的到经办机构更正参保信息。"),
        "default": N_("核对身份信息。"),
    }
    resolved_reason = N_("身份信息已核对一致")

    def evaluate(self, ctx: Context, params: IdentityParams, scope: Scope) -> list[Match]:
        people = ctx.ledger_people() if ctx.incremental else None
        if people is not None:
            by_id = {emp for emp, match in people if match == M.ID_NUMBER}
            by_account = {emp for emp, match in people if match == M.ACCOUNT}
            if all(emp in by_id and emp not in by_account for emp in ctx.employee_ids or ()):
                return []  # incremental: matched by ID number, and by nothing weaker
        spells = ctx.current_spells(scope)
        matched = LedgerPerson.objects.filter(employee_id=OuterRef("employee_id"), match=M.ID_NUMBER)
        out: list[Match] = []
        seen: set[int] = set()

        def spell_match(emp_id, ent_id, dept_id, variant, subject, args, details, person_id=None):
            out.append(
                Match(
                    subject=subject,
                    entity_id=ent_id,
                    employee_id=emp_id,
                    person_id=person_id,
                    department_id=dept_id,
                    variant=variant,
                    args=args,
                    details=details,
                )
            )

        if params.upgraded_15:
            for emp_id, ent_id, dept_id, name, emp_no in spells.filter(
                ~Exists(matched), employee__id_upgraded_from_15=True
            ).values_list(
                "employee_id", "entity_id", "department_id", "employee__name", "employee__employee_no"
            ):
                if emp_id in seen:
                    continue
                seen.add(emp_id)
                spell_match(
                    emp_id, ent_id, dept_id, "upgraded_15", "id15", {"name": name}, {"employee_no": emp_no}
                )

        if params.account_only:
            acct = LedgerPerson.objects.filter(employee_id=OuterRef("employee_id"), match=M.ACCOUNT)
            rows = spells.filter(Exists(acct)).values_list(
                "employee_id", "entity_id", "department_id", "employee__name", "employee__employee_no"
            )
            by_emp = {r[0]: r for r in rows}
            for pid, emp_id, account in LedgerPerson.objects.filter(
                employee_id__in=list(by_emp), match=M.ACCOUNT
            ).values_list("id", "employee_id", "account_no"):
                _e, ent_id, dept_id, name, emp_no = by_emp[emp_id]
                spell_match(
                    emp_id, ent_id, dept_id, "account_only", f"acct{pid}",
                    {"name": name, "account": account}, {"employee_no": emp_no, "account_no": account}, pid,
                )  # fmt: skip

        if params.name_only:
            # The people nobody employs are few: read their names first, then the current spells
            # of unmatched employees with one of those names (no correlated probe on names).
            unmatched = LedgerPerson.objects.filter(employee__isnull=True).exclude(id_number_enc="")
            names = set(unmatched.values_list("name", flat=True).distinct())
            rows = []
            if names:
                rows = list(
                    spells.filter(~Exists(matched), employee__name__in=names).values_list(
                        "employee_id", "entity_id", "department_id", "employee__name", "employee__employee_no"
                    )
                )
            wanted = defaultdict(list)
            for r in rows:
                wanted[(r[3], r[1])].append(r)
            people = (
                unmatched.filter(name__in={r[3] for r in rows}, first_entity_id__in={r[1] for r in rows})
                if rows
                else []
            )
            for person in people:
                for emp_id, ent_id, dept_id, name, emp_no in wanted.get(
                    (person.name, person.first_entity_id), []
                ):
                    masked = person.id_number_masked
                    spell_match(
                        emp_id, ent_id, dept_id, "name_only", f"name{person.pk}",
                        {"name": name, "masked": masked},
                        {"employee_no": emp_no, "ledger_person": person.pk, "ledger_id_masked": masked},
                        person.pk,
                    )  # fmt: skip
        return out
