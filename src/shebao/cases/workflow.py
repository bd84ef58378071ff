"""The workflow definition: steps and the choices that lead from one to the next, as data.

A definition (stored as JSON in ``WorkflowVersion.definition``; the shipped ones come from
``data/workflows.yaml``) is::

    start: verify
    steps:
      - code: verify
        name: 核查参保状态
        role: hr_specialist          # who acts: hr_specialist | hr_admin | employee
        action: check                # what the step expects (ACTIONS)
        deadline: {from: hire, days: 30}   # optional: from hire | leave | opened | step | letter |
                                           #   finding | cutoff (first 增减员截止日 on or after leaving)
        warn_days: 5                 # optional: "due soon" this many days before (escalation)
        letter: notice_blocked       # letter steps: the letter template's code
        citations: [SIL-58]
        instructions: 登录社保平台核查……
        choices:
          - {code: ok, label: 可正常参保, to: register}
          - {code: blocked, label: 无法参保, to: notify, requires: note}
          - {code: acked, label: 员工已确认, to: proof, when: acknowledged}   # taken by the system

``requires`` names what taking a choice needs (a note, a letter issued in this step, a proof
attachment, the employee's answer, a payment record, back-pay figures). ``when`` lets the system
take the choice when the event happens (the employee acknowledged / disagreed, a letter was sent).
A step whose action is ``close`` ends the case. Every step must be reachable from ``start`` and
able to reach a ``close`` step.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.utils.translation import gettext_noop as N_
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shebao.core.exceptions import ApplicationError

ROLES = ("hr_specialist", "hr_admin", "employee")
ACTIONS = {
    "check": N_("核查"),
    "letter": N_("发出函件"),
    "acknowledge": N_("等待员工确认"),
    "proof": N_("收取证明材料"),
    "register": N_("办理登记"),
    "stop": N_("办理减员/停保"),
    "transfer": N_("办理转移手续"),
    "report": N_("报送名单"),
    "calculate": N_("核算金额"),
    "approve": N_("审批"),
    "payment": N_("记录缴纳"),
    "record": N_("记录结果"),
    "close": N_("结案"),
}
DEADLINE_FROM = {
    "hire": N_("入职日期"),
    "leave": N_("离职日期"),
    "opened": N_("立案日期"),
    "step": N_("步骤开始日期"),
    "letter": N_("函件送达日期"),
    "finding": N_("预警期限"),
    "cutoff": N_("离职后首个增减员截止日"),
}
REQUIRES = {
    "note": N_("填写说明"),
    "letter": N_("本步骤已生成函件"),
    "sent": N_("函件已发送给员工"),
    "answer": N_("员工已答复"),
    "proof": N_("已上传证明材料"),
    "backpay": N_("已核算补缴金额"),
    "payment": N_("已记录缴纳金额和日期"),
}
EVENTS = ("letter_sent", "acknowledged", "disagreed", "proof_uploaded")

Code = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Deadline(_Model):
    from_: Literal["hire", "leave", "opened", "step", "letter", "finding", "cutoff"] = Field(alias="from")
    days: int = Field(ge=0, le=3650)

    def describe(self) -> str:
        return f"{DEADLINE_FROM[self.from_]} + {self.days} 天"


class Choice(_Model):
    code: str = Code
    label: str = Field(min_length=1, max_length=100)
    to: str
    requires: list[Literal["note", "letter", "sent", "answer", "proof", "backpay", "payment"]] = []
    when: Literal["letter_sent", "acknowledged", "disagreed", "proof_uploaded"] | None = None
    escalate: bool = False  # taking it marks the case escalated

    @field_validator("requires", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class Step(_Model):
    code: str = Code
    name: str = Field(min_length=1, max_length=100)
    role: Literal["hr_specialist", "hr_admin", "employee"] = "hr_specialist"
    action: Literal[
        "check",
        "letter",
        "acknowledge",
        "proof",
        "register",
        "stop",
        "transfer",
        "report",
        "calculate",
        "approve",
        "payment",
        "record",
        "close",
    ]
    deadline: Deadline | None = None
    warn_days: int = Field(default=3, ge=0, le=365)
    letter: str | None = None
    citations: list[str] = []
    instructions: str = Field(default="", max_length=4000)
    choices: list[Choice] = []

    @property
    def is_final(self) -> bool:
        return self.action == "close"

    def choice(self, code: str) -> Choice | None:
        return next((c for c in self.choices if c.code == code), None)

    def choice_on(self, event: str) -> Choice | None:
        return next((c for c in self.choices if c.when == event), None)


class Definition(_Model):
    start: str
    steps: list[Step] = Field(min_length=2, max_length=40)

    @model_validator(mode="after")
    def _graph(self) -> Definition:
        codes = [s.code for s in self.steps]
        dup = {c for c in codes if codes.count(c) > 1}
        if dup:
            raise ValueError(f"步骤代码重复：{'、'.join(sorted(dup))}")
        known = set(codes)
        if self.start not in known:
            raise ValueError(f"起始步骤“{self.start}”不存在")
        for s in self.steps:
            if s.is_final and s.choices:
                raise ValueError(f"结案步骤“{s.name}”不能再有后续选择")
            if not s.is_final and not s.choices:
                raise ValueError(f"步骤“{s.name}”没有任何后续选择")
            if s.action == "letter" and not s.letter:
                raise ValueError(f"步骤“{s.name}”是发函步骤，需指定函件模板")
            seen: set[str] = set()
            for c in s.choices:
                if c.to not in known:
                    raise ValueError(f"步骤“{s.name}”的选择“{c.label}”指向不存在的步骤“{c.to}”")
                if c.code in seen:
                    raise ValueError(f"步骤“{s.name}”的选择代码“{c.code}”重复")
                seen.add(c.code)
            events = [c.when for c in s.choices if c.when]
            if len(events) != len(set(events)):
                raise ValueError(f"步骤“{s.name}”有两个选择由同一事件触发")
        if not any(s.is_final for s in self.steps):
            raise ValueError("至少需要一个结案步骤")
        by_code = {s.code: s for s in self.steps}
        reached = _reach(self.start, lambda c: [ch.to for ch in by_code[c].choices])
        unreachable = [s.name for s in self.steps if s.code not in reached]
        if unreachable:
            raise ValueError(f"从起始步骤无法到达：{'、'.join(unreachable)}")
        back: dict[str, list[str]] = {c: [] for c in codes}
        for s in self.steps:
            for ch in s.choices:
                back[ch.to].append(s.code)
        closing = set()
        for s in self.steps:
            if s.is_final:
                closing |= _reach(s.code, lambda c: back[c])
        stuck = [s.name for s in self.steps if s.code not in closing]
        if stuck:
            raise ValueError(f"这些步骤无法走到结案：{'、'.join(stuck)}")
        return self

    def step(self, code: str) -> Step:
        for s in self.steps:
            if s.code == code:
                return s
        raise KeyError(code)

    @property
    def letters(self) -> list[str]:
        return [s.letter for s in self.steps if s.letter]


def _reach(start: str, nexts) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for n in nexts(todo.pop()):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def definition_parse(raw: Any) -> Definition:
    """Validate a definition; errors come back as one Chinese message with the place."""
    try:
        return Definition.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = _where(raw, err["loc"])
            msg = err.get("msg", "")
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
            problems.append(f"{where}：{_message(err, msg)}" if where else msg)
        raise ApplicationError(
            "流程定义无效：" + "；".join(problems), field_errors={"definition": problems[0]}
        ) from None


def _where(raw: Any, loc: tuple) -> str:
    parts: list[str] = []
    node = raw
    for p in loc:
        if isinstance(p, int) and isinstance(node, list) and p < len(node):
            node = node[p]
            label = (
                node.get("name") or node.get("label") or node.get("code") if isinstance(node, dict) else None
            )
            parts.append(f"第{p + 1}项" + (f"（{label}）" if label else ""))
        elif isinstance(p, str):
            parts.append({"steps": "步骤", "choices": "选择", "deadline": "期限"}.get(p, p))
            node = node.get(p) if isinstance(node, dict) else None
    return " › ".join(parts)


def _message(err: dict, msg: str) -> str:
    kind = err.get("type", "")
    if kind == "missing":
        return "必填"
    if kind == "extra_forbidden":
        return "不是可用的字段"
    if kind == "literal_error":
        return f"取值无效（可选：{err.get('ctx', {}).get('expected', '')}）"
    if kind == "string_pattern_mismatch":
        return "代码只能用小写字母、数字和下划线，以字母开头"
    if kind in ("greater_than_equal", "less_than_equal"):
        return "超出范围"
    return msg


def due_date(deadline: Deadline | None, bases: dict[str, dt.date | None]) -> dt.date | None:
    """The step's last day (inclusive): the base date + days, the base day not counted (see
    ``policy.calculators.deadlines``). None when there is no deadline or its base date is unknown."""
    if deadline is None:
        return None
    base = bases.get(deadline.from_)
    if base is None:
        return None
    return base + dt.timedelta(days=deadline.days)
