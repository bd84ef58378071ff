"""shebao evidence verify | checkpoint | bundle | verify-bundle | entries: the evidence ledger from
the command line. ``verify-bundle`` only reads the ZIP (no database: it runs anywhere)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from shebao.evidence import verifier


def _time(at: str) -> str:
    from shebao.evidence.bundle import local_time

    return local_time(at)


class Command(BaseCommand):
    help = (
        "verify：校验整条证据链（每条记录的内容摘要、哈希和衔接，以及每个校验点），发现问题时指出第一处断开的位置；"
        "checkpoint：记录当前链头并发送给审计员；"
        "bundle (--case 案件编号或ID | --employee 工号) -o 文件.zip：导出证据包；"
        "verify-bundle 文件.zip：校验证据包（不需要数据库），指出被改动、增加或缺失的文件和断开的记录；"
        "entries：列出证据链记录。--json 输出一个 JSON 对象。退出码：0 正常，1 校验发现问题或参数错误"
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser("verify", help="校验整条证据链")
        verify.add_argument("--json", action="store_true", help="输出一个 JSON 对象")
        cp = sub.add_parser("checkpoint", help="记录链头（校验点）并发送给审计员")
        cp.add_argument("--json", action="store_true", help="输出一个 JSON 对象")
        bundle = sub.add_parser("bundle", help="导出证据包")
        who = bundle.add_mutually_exclusive_group(required=True)
        who.add_argument("--case", metavar="NUMBER_OR_ID", help="案件编号（如 AJ202611-0001）或 ID")
        who.add_argument("--employee", metavar="EMPLOYEE_NO", help="员工工号（导出该员工的全部记录）")
        bundle.add_argument("-o", "--output", required=True, metavar="FILE.zip", help="保存到的文件")
        bundle.add_argument("--json", action="store_true", help="输出一个 JSON 对象")
        vb = sub.add_parser("verify-bundle", help="校验证据包（不需要数据库）")
        vb.add_argument("file", metavar="FILE.zip", help="证据包，或解压后的文件夹")
        vb.add_argument("--json", action="store_true", help="输出一个 JSON 对象")
        entries = sub.add_parser("entries", help="列出证据链记录")
        which = entries.add_mutually_exclusive_group()
        which.add_argument("--case", metavar="NUMBER_OR_ID", help="只列出该案件的记录")
        which.add_argument("--employee", metavar="EMPLOYEE_NO", help="只列出该员工的记录")
        entries.add_argument("--after", type=int, default=0, metavar="SEQ", help="从该序号之后开始")
        entries.add_argument("--limit", type=int, default=50, metavar="N", help="最多列出几条（默认 50）")
        entries.add_argument("--json", action="store_true", help="输出一个 JSON 对象")

    def handle(self, *args, **opts):
        action = opts["action"]
        if action == "verify-bundle":
            return self._verify_bundle(opts["file"], opts["json"])
        return {
            "verify": self._verify,
            "checkpoint": self._checkpoint,
            "bundle": self._bundle,
            "entries": self._entries,
        }[action](opts)

    def _json(self, value: Any) -> None:
        self.stdout.write(json.dumps(value, ensure_ascii=False))

    # verify -------------------------------------------------------------------------------------

    def _verify(self, opts: dict[str, Any]) -> None:
        from shebao.evidence.services import chain_verify

        run = chain_verify(via="cli")
        ok = run.result == run.Result.OK
        if opts["json"]:
            self._json(
                {
                    "ok": ok,
                    "run": run.pk,
                    "entries": run.entries,
                    "head_seq": run.head_seq,
                    "checkpoints": run.checkpoints,
                    "first_bad_seq": run.first_bad_seq,
                    "problems": run.problems,
                    "duration_ms": run.duration_ms,
                }
            )
        elif ok:
            self.stdout.write(
                f"证据链完整：共 {run.entries} 条记录，链头第 {run.head_seq or 0} 条，"
                f"核对校验点 {run.checkpoints} 个（用时 {run.duration_ms} 毫秒）"
            )
        else:
            where = f"第 {run.first_bad_seq} 条" if run.first_bad_seq else "链头"
            self.stdout.write(f"证据链校验失败：共 {run.entries} 条记录，首个问题在{where}")
            for problem in run.problems:
                self.stdout.write(f"  - {problem['message']}")
        if not ok:
            raise CommandError(f"证据链发现 {len(run.problems)} 处问题", returncode=1)

    # checkpoint ---------------------------------------------------------------------------------

    def _checkpoint(self, opts: dict[str, Any]) -> None:
        from shebao.core.context import Actor
        from shebao.evidence.services import checkpoint_create

        cp = checkpoint_create(actor=Actor.system(via="cli"))
        cp.refresh_from_db()
        if opts["json"]:
            self._json(
                {
                    "seq": cp.seq,
                    "head_hash": cp.head_hash,
                    "key_fingerprint": cp.key_fingerprint,
                    "sent_to": cp.sent_to,
                    "tsa_time": cp.tsa_time.isoformat() if cp.tsa_time else None,
                    "tsa_error": cp.tsa_error,
                }
            )
            return
        self.stdout.write(f"已记录校验点：第 {cp.seq} 条，链头哈希 {cp.head_hash}")
        self.stdout.write(f"  签名公钥指纹：{cp.key_fingerprint}")
        if cp.sent_to:
            self.stdout.write(f"  已发送到：{'、'.join(str(x) for x in cp.sent_to)}")
        if cp.tsa_error:
            self.stdout.write(f"  可信时间戳失败：{cp.tsa_error}")

    # bundle -------------------------------------------------------------------------------------

    def _bundle(self, opts: dict[str, Any]) -> None:
        from shebao.core.context import Actor
        from shebao.core.exceptions import ApplicationError
        from shebao.evidence.bundle import bundle_build

        case, employee = _target(opts)
        output = Path(opts["output"])
        if output.is_dir():
            raise CommandError(f"{output} 是一个文件夹，请给出要保存的 .zip 文件名")
        if not output.parent.exists():
            raise CommandError(f"文件夹 {output.parent} 不存在")
        try:
            bundle = bundle_build(actor=Actor.system(via="cli"), case=case, employee=employee)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        output.write_bytes(bundle.data)
        if opts["json"]:
            self._json(
                {
                    "file": str(output),
                    "subject": bundle.subject,
                    "ref": bundle.ref,
                    "files": bundle.file_count,
                    "entries": bundle.entry_count,
                    "manifest_sha256": bundle.manifest_sha256,
                    "size": len(bundle.data),
                }
            )
            return
        self.stdout.write(f"已导出证据包 {output}：{bundle.subject}")
        self.stdout.write(
            f"  文件 {bundle.file_count} 个，证据链记录 {bundle.entry_count} 条，清单 SHA-256 {bundle.manifest_sha256}"
        )
        self.stdout.write(
            f"  校验：shebao evidence verify-bundle {output}（或解压后 python3 verify.py {output.name}）"
        )

    # verify-bundle: the bundle only, never the database ------------------------------------------

    def _verify_bundle(self, file: str, as_json: bool) -> None:
        path = Path(file)
        if not path.exists():
            raise CommandError(f"文件 {path} 不存在")
        report = verifier.verify_bundle(path)
        if as_json:
            self._json(report.as_dict())
        else:
            buf = io.StringIO()
            verifier._print(report, buf)  # the same words as the bundle's own verify.py
            self.stdout.write(buf.getvalue(), ending="")
        if not report.ok:
            raise CommandError(f"证据包校验失败：{len(report.problems)} 处问题", returncode=1)

    # entries ------------------------------------------------------------------------------------

    def _entries(self, opts: dict[str, Any]) -> None:
        from shebao.evidence import labels
        from shebao.evidence.models import Entry

        if opts["limit"] < 1:
            raise CommandError("--limit 应为正整数")
        case, employee = _target(opts, required=False)
        qs = Entry.objects.filter(seq__gt=max(opts["after"], 0)).order_by("seq")
        if case is not None:
            qs = qs.filter(case_id=case.pk)
        elif employee is not None:
            qs = qs.filter(stream=f"e{employee.pk}")
        rows = list(qs[: opts["limit"] + 1])
        more = len(rows) > opts["limit"]
        rows = rows[: opts["limit"]]
        next_after = rows[-1].seq if more else None
        if opts["json"]:
            self._json(
                {
                    "entries": [
                        {
                            **e.header(),
                            "payload": e.payload,
                            "kind_label": labels.kind_label(e.kind),
                            "summary": labels.entry_summary(e),
                        }
                        for e in rows
                    ],
                    "next_after": next_after,
                }
            )
            return
        if not rows:
            self.stdout.write("没有证据链记录")
            return
        for e in rows:
            case_text = f" [{e.case}]" if e.case else ""
            summary = labels.entry_summary(e)
            self.stdout.write(
                f"#{e.seq}  {_time(e.at)}  {labels.kind_label(e.kind)}{case_text}  {e.actor}"
                + (f"：{summary}" if summary else "")
                + f"  {e.hash[:12]}"
            )
        if next_after:
            self.stdout.write(f"……还有更多，继续：--after {next_after}")


def _target(opts: dict[str, Any], *, required: bool = True):
    """The case (by number, or id) or the employee (by employee number) the options name."""
    from shebao.cases.models import Case
    from shebao.roster.models import Employee

    if opts.get("case"):
        ref = opts["case"].strip()
        case = Case.objects.select_related("employee").filter(number=ref).first()
        if case is None and ref.isdigit():
            case = Case.objects.select_related("employee").filter(pk=int(ref)).first()
        if case is None:
            raise CommandError(f"案件“{ref}”不存在（请给出案件编号，如 AJ202611-0001，或案件 ID）")
        return case, None
    if opts.get("employee"):
        ref = opts["employee"].strip()
        employee = Employee.objects.filter(employee_no=ref).first()
        if employee is None:
            raise CommandError(f"工号为“{ref}”的员工不存在")
        return None, employee
    if required:
        raise CommandError("请用 --case 或 --employee 指定案件或员工")
    return None, None
