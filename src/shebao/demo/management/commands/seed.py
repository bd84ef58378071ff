from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError
from shebao.demo.services import DEMO_PASSWORD, GenerationError, demo_users_ensure, seed_demo

MAX_EMPLOYEES = 1_000_000


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"日期格式应为 YYYY-MM-DD，而不是“{value}”") from exc


class Command(BaseCommand):
    help = "生成演示数据：示例集团（8个参保主体、部门与门店、员工花名册），可选创建演示账号"

    def add_arguments(self, parser):
        parser.add_argument("--employees", type=int, default=3000, help="员工人数（含已离职），默认 3000")
        parser.add_argument(
            "--seed", type=int, default=2026, help="随机种子：相同人数和种子生成相同数据，默认 2026"
        )
        parser.add_argument(
            "--as-of",
            type=_date,
            default=None,
            help="以该日期为“今天”生成入职/离职日期（YYYY-MM-DD，默认今天）",
        )
        parser.add_argument(
            "--demo-users", action="store_true", help=f"创建或重置演示账号（密码 {DEMO_PASSWORD}）"
        )
        parser.add_argument(
            "--ledger-months",
            type=int,
            default=0,
            help="通过模拟平台和数据连接器载入最近几个月的缴费数据（如 36；默认 0 不载入）",
        )

    def handle(
        self,
        *args,
        employees: int,
        seed: int,
        as_of: dt.date | None,
        demo_users: bool,
        ledger_months: int = 0,
        **opts,
    ):
        if not 0 <= employees <= MAX_EMPLOYEES:
            raise CommandError(f"--employees 应在 0 至 {MAX_EMPLOYEES} 之间")
        actor = Actor.system(via="cli")
        verbose = opts.get("verbosity", 1) >= 1

        def progress(done: int) -> None:
            if verbose and (done % 20000 == 0 or done == employees) and employees >= 20000:
                self.stdout.write(f"  已写入 {done}/{employees} 名员工…")

        try:
            result = seed_demo(employees=employees, seed=seed, as_of=as_of, actor=actor, progress=progress)
        except GenerationError as exc:
            raise CommandError(str(exc)) from exc
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if result.skipped:
            self.stdout.write("演示数据已存在，跳过")
        else:
            s = result.statuses
            self.stdout.write(
                self.style.SUCCESS(
                    f"已生成演示数据「示例集团」：{result.entities} 个参保主体，{result.departments} 个部门/门店，"
                    f"{result.employees} 名员工（在职 {s.get('active', 0)}，待入职 {s.get('pending', 0)}，"
                    f"离职 {s.get('left', 0)}；{result.spells} 段任职期间，15位旧号升位 {result.legacy15} 人），"
                    f"种子 {seed}，用时 {result.seconds:.1f} 秒"
                )
            )
        if ledger_months and not 1 <= ledger_months <= 120:
            raise CommandError("--ledger-months 应在 1 到 120 之间")
        logins = []
        if demo_users:  # before the ledger: its findings notify these users (in-app, demo mailbox)
            from shebao.demo.notify import demo_notify_setup

            try:
                logins = demo_users_ensure(actor=actor)
                demo_notify_setup(actor=actor)
            except ApplicationError as exc:
                raise CommandError(exc.message) from exc
        if ledger_months and not result.skipped:
            self._ledger(ledger_months, seed, actor, as_of)
            if demo_users:
                from shebao.demo.cases import demo_cases_setup

                opened = demo_cases_setup(actor=actor)
                self.stdout.write(f"演示案件：已从预警立案 {len(opened)} 件（其余预警可在界面中自行立案）")
        if demo_users:
            self.stdout.write("")
            self.stdout.write(
                "打开 http://127.0.0.1:8000/ ，用以下演示账号登录（密码均为 " + DEMO_PASSWORD + "）："
            )
            for login in logins:
                self.stdout.write(f"  {login.username}（{login.role_label}）：{login.scope}")

    def _ledger(self, months: int, seed: int, actor: Actor, as_of: dt.date | None) -> None:
        from shebao.demo.ledger import demo_ledger_load
        from shebao.rules.kinds import KINDS

        self.stdout.write(f"通过模拟平台（SIMULATOR）载入最近 {months} 个月的缴费数据…")
        result = demo_ledger_load(
            months=months, seed=seed, actor=actor, progress=self.stdout.write, as_of=as_of
        )
        kinds = "，".join(f"{k} {n}" for k, n in sorted(result.discrepancies.items())) or "无"
        self.stdout.write(
            self.style.SUCCESS(
                f"已通过 {result.connectors} 个“模拟平台”连接器同步缴费台账：{result.records} 条缴费记录；"
                f"核对差异：{kinds}；用时 {result.seconds:.1f} 秒"
            )
        )
        self.stdout.write(f"规则检查：待处理的提醒共 {sum(result.findings.values())} 条")
        for code, n in result.findings.items():
            self.stdout.write(f"  {KINDS[code].label}（{code}）：{n}")
