"""The rule-kind interface: typed parameters, a default severity, citations, wording templates and
one set-based ``evaluate`` that returns the matches (only the rows that match come back to Python).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from django.utils.translation import get_language, gettext
from pydantic import BaseModel, ConfigDict, ValidationError

from shebao.core.exceptions import ApplicationError
from shebao.rules.context import Context, Scope


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass
class Match:
    """One finding as a kind reports it; the engine turns it into a Finding row."""

    subject: str  # stable within the employee/person: e.g. "spell12", "medical", "unit7"
    entity_id: int | None
    employee_id: int | None = None
    person_id: int | None = None
    department_id: int | None = None
    variant: str = "default"  # which title/explanation template
    args: dict[str, Any] = field(default_factory=dict)  # the template arguments
    details: dict[str, Any] = field(default_factory=dict)  # the evidence
    deadline: dt.date | None = None
    amount: Decimal | None = None
    severity: str | None = None  # None: the rule's
    citations: tuple[str, ...] | None = None  # None: the kind's

    @property
    def key(self) -> str:
        who = f"e{self.employee_id}" if self.employee_id else f"p{self.person_id}"
        return f"{who}:{self.subject}"


class RuleKind:
    code: ClassVar[str]
    label: ClassVar[str]  # gettext_noop'd; shown through gettext
    summary: ClassVar[str]  # what it checks, one sentence (gettext_noop'd)
    params: ClassVar[type[Params]]
    severity: ClassVar[str]
    citations: ClassVar[tuple[str, ...]] = ()
    # variant → template, formatted with Match.args (str.format); gettext_noop'd Chinese
    titles: ClassVar[dict[str, str]]
    explanations: ClassVar[dict[str, str]]
    next_steps: ClassVar[dict[str, str]]
    resolved_reason: ClassVar[str]  # why a finding of this kind resolves itself
    default_name: ClassVar[str]
    # employee: findings name an employee; person: a ledger person nobody employs may be named
    subject_type: ClassVar[str] = "employee"

    # Day counts ("入职已 40 天", "中断 88 天") change every day while nothing else does: they are
    # not stored (a daily evaluation would rewrite every such finding) but recomputed from the
    # stored dates when shown. ``volatile`` names them in the template arguments and details.
    volatile: ClassVar[tuple[str, ...]] = ()

    def live(self, values: dict[str, Any], today: dt.date) -> dict[str, Any]:
        """Template arguments or details with the day counts filled in as of ``today``."""
        return values

    def parse_params(self, raw: dict[str, Any] | None) -> Params:
        try:
            return self.params.model_validate(raw or {})
        except ValidationError as exc:
            errors = {}
            for err in exc.errors():
                name = ".".join(str(p) for p in err["loc"]) or "params"
                errors[name] = _param_error(err)
            raise ApplicationError(
                "规则参数无效：" + "；".join(f"{k}：{v}" for k, v in errors.items()),
                field_errors=errors,
            ) from None

    def default_params(self) -> dict[str, Any]:
        return self.params().model_dump(mode="json")

    def evaluate(self, ctx: Context, params: Params, scope: Scope) -> list[Match]:
        raise NotImplementedError

    def prepare(self, ctx: Context, params: Params, scope: Scope) -> None:
        """Called for each rule of an evaluation before any is evaluated: a kind may note in
        ``ctx`` what its ``evaluate`` will read, so that rules reading alike share one query (see
        ``coverage._gaps_of``). It never changes what ``evaluate`` returns."""

    # wording ------------------------------------------------------------------------------------

    # ``language``: the active language when the caller already knows it (the engine renders
    # thousands of rows under one language); by default looked up.

    def render(
        self, table: dict[str, str], variant: str, args: dict[str, Any], language: str | None = None
    ) -> str:
        template = table.get(variant) or table["default"]
        try:
            return _translated(template, language or get_language()).format(**args)
        except (KeyError, IndexError, ValueError):  # a translation that lost a placeholder
            return template.format(**args)

    def title(self, variant: str, args: dict[str, Any], language: str | None = None) -> str:
        return self.render(self.titles, variant, args, language)

    def explanation(self, variant: str, args: dict[str, Any], language: str | None = None) -> str:
        return self.render(self.explanations, variant, args, language)

    def next_step(self, variant: str, args: dict[str, Any], language: str | None = None) -> str:
        return self.render(self.next_steps, variant, args, language)


@functools.lru_cache(maxsize=4096)
def _translated(template: str, language: str | None) -> str:
    """gettext of a wording template, once per language (evaluation renders thousands of rows)."""
    return gettext(template)


def _param_error(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        return "必须是整数"
    if kind in {"decimal_parsing", "decimal_type", "float_parsing"}:
        return "必须是数字"
    if kind in {"greater_than_equal", "greater_than"}:
        return f"不能小于 {ctx.get('ge', ctx.get('gt'))}"
    if kind in {"less_than_equal", "less_than"}:
        return f"不能大于 {ctx.get('le', ctx.get('lt'))}"
    if kind == "extra_forbidden":
        return "不是这个规则的参数"
    if kind in {"literal_error", "enum"}:
        return f"取值无效（可选：{ctx.get('expected', '')}）"
    if kind in {"too_short", "list_type"}:
        return "至少选择一项"
    if kind == "value_error":
        return str(ctx.get("error") or err.get("msg", "取值无效"))
    return err.get("msg", "取值无效")
