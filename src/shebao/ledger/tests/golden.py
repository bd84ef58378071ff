"""Synthetic golden files for every shipped import profile (export_formats.md layouts).

Everything here is made up: names from a list, identity numbers from ``make_resident_id`` (they
pass the check digit), unit names like 示例科技. The layouts — title blocks, two-row headers with
merged cells, section labels, 小计/合计 rows, footers, ``——`` fillers, full-width brackets and
thousand separators — follow the real exports the reference describes.

Each builder returns a :class:`Golden`: the file, the profile that must be detected, the exact
facts it must produce, and the rows that must be skipped (row number → part of the reason).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import xlsxwriter

from shebao.core.identity import make_resident_id

NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周杰", "吴婷", "徐航", "孙悦"]
_seq = itertools.count(11)


def new_id(area: str = "440106", year: int = 1988) -> str:
    n = next(_seq)
    return make_resident_id(area, dt.date(year, 1, 1) + dt.timedelta(days=37 * n % 3000), n % 1000)


def bad_id() -> str:
    good = new_id()
    return good[:17] + ("0" if good[17] != "0" else "1")  # wrong check digit


def D(value: object) -> Decimal | None:  # noqa: N802 - reads like a literal
    return None if value is None else Decimal(str(value))


def fact(
    who: str,
    insurance: str,
    period: str,
    *,
    name: str = "",
    base: object = None,
    er: object = None,
    ee: object = None,
    er_paid: object = None,
    ee_paid: object = None,
    late: object = None,
    posting: str | None = None,
    unit_no: str = "",
    unit_name: str = "",
    status: str | None = None,
    payment_type: str | None = None,
    evidence: str = "assessed",
) -> dict[str, object]:
    """The comparable form of a ContributionFact (see ``fact_dict``)."""
    return {
        "who": who,
        "name": name,
        "insurance": insurance,
        "period": period,
        "posting": posting,
        "unit_no": unit_no,
        "unit_name": unit_name,
        "base": D(base),
        "er": D(er),
        "ee": D(ee),
        "er_paid": D(er_paid),
        "ee_paid": D(ee_paid),
        "late": D(late),
        "status": status,
        "payment_type": payment_type,
        "evidence": evidence,
    }


def fact_dict(f) -> dict[str, object]:  # noqa: ANN001 - a facts.ContributionFact
    return {
        "who": f.person.id_number or f"acct:{f.person.account_no}",
        "name": f.person.name,
        "insurance": f.insurance.value,
        "period": str(f.period),
        "posting": str(f.posting_period) if f.posting_period else None,
        "unit_no": f.unit_no,
        "unit_name": f.unit_name,
        "base": f.base,
        "er": f.employer_due,
        "ee": f.employee_due,
        "er_paid": f.employer_paid,
        "ee_paid": f.employee_paid,
        "late": f.late_fee,
        "status": f.status.value if f.status else None,
        "payment_type": f.payment_type.value if f.payment_type else None,
        "evidence": f.evidence.value,
    }


def enrollment(
    who: str,
    insurance: str,
    state: str,
    *,
    name: str = "",
    since: dt.date | None = None,
    unit_no: str = "",
    unit_name: str = "",
) -> dict[str, object]:
    return {
        "who": who,
        "name": name,
        "insurance": insurance,
        "state": state,
        "since": since,
        "unit_no": unit_no,
        "unit_name": unit_name,
    }


def enrollment_dict(e) -> dict[str, object]:  # noqa: ANN001 - a facts.EnrollmentFact
    return {
        "who": e.person.id_number or f"acct:{e.person.account_no}",
        "name": e.person.name,
        "insurance": e.insurance.value,
        "state": e.state.value,
        "since": e.since,
        "unit_no": e.unit_no,
        "unit_name": e.unit_name,
    }


@dataclass
class Golden:
    profile: str
    filename: str
    data: bytes
    facts: list[dict[str, object]] = field(default_factory=list)
    enrollments: list[dict[str, object]] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)  # row → part of the reason
    ids: list[str] = field(default_factory=list)  # every identity number in the file
    warnings: list[str] = field(default_factory=list)  # parts of expected warnings
    context: dict[str, object] = field(default_factory=dict)  # ParseContext kwargs
    found: dict[str, str] = field(default_factory=dict)  # expected context_found items


# --- writing -------------------------------------------------------------------------------------


class Book:
    """An xlsx built sheet by sheet; rows are written top to bottom, numbers as numbers."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.wb = xlsxwriter.Workbook(self.buf, {"in_memory": True})
        self.merge_fmt = self.wb.add_format({"align": "center", "valign": "vcenter"})

    def sheet(self, name: str) -> Page:
        return Page(self, self.wb.add_worksheet(name))

    def bytes(self) -> bytes:
        self.wb.close()
        return self.buf.getvalue()


class Page:
    def __init__(self, book: Book, ws) -> None:  # noqa: ANN001 - an xlsxwriter worksheet
        self.book = book
        self.ws = ws
        self.r = 0  # next row, 0-based

    @property
    def excel_row(self) -> int:
        """The Excel row number the next ``row()`` call writes."""
        return self.r + 1

    def row(self, values: Sequence[object], *, at: int = 0) -> int:
        for c, value in enumerate(values, start=at):
            self.cell(self.r, c, value)
        self.r += 1
        return self.r  # the Excel row number just written

    def cell(self, r: int, c: int, value: object) -> None:
        if value is None or value == "":
            return
        if isinstance(value, bool):
            self.ws.write_string(r, c, str(value))
        elif isinstance(value, int | float):
            self.ws.write_number(r, c, value)
        elif isinstance(value, Decimal):
            self.ws.write_number(r, c, float(value))
        else:
            self.ws.write_string(r, c, str(value))

    def merge(self, r1: int, c1: int, r2: int, c2: int, value: object) -> None:
        """Merge 0-based cells (r1, c1)–(r2, c2); the value sits in the top-left cell."""
        if (r1, c1) == (r2, c2):
            self.cell(r1, c1, value)
        else:
            self.ws.merge_range(r1, c1, r2, c2, value, self.book.merge_fmt)

    def skip(self, n: int = 1) -> None:
        self.r += n

    def two_row_header(self, columns: Sequence[tuple[str, Sequence[str]]]) -> None:
        """(group, [leaves]) per block; a block without leaves is one header spanning both rows."""
        top, c = self.r, 0
        for group, leaves in columns:
            if not leaves:
                self.merge(top, c, top + 1, c, group)
                c += 1
                continue
            self.merge(top, c, top, c + len(leaves) - 1, group)
            for i, leaf in enumerate(leaves):
                self.cell(top + 1, c + i, leaf)
            c += len(leaves)
        self.r += 2


def csv_bytes(rows: Iterable[Sequence[object]], encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue().encode(encoding)


# --- generic ------------------------------------------------------------------------------------

GENERIC_LONG_HEADER = [
    "姓名",
    "证件号码",
    "险种",
    "费款所属期",
    "缴费基数",
    "单位缴费",
    "个人缴费",
    "缴费状态",
    "单位名称",
]


def generic_long(*, bad: bool = False, repeat_header: bool = False) -> Golden:
    a, b = new_id("110105", 1985), new_id("110108", 1992)
    wrong = bad_id() if bad else None
    book = Book()
    p = book.sheet("缴费明细")
    p.merge(0, 0, 0, 8, "2026年2月社保缴费明细")
    p.skip(2)
    p.row(GENERIC_LONG_HEADER)
    g = Golden("generic_long", "2026年2月社保缴费明细.xlsx", b"", ids=[a, b])
    unit = "北京示例科技有限公司"
    p.row(["张伟", a, "养老保险", "2026-02", 8000, 1280, 640, "已实缴", unit])
    g.facts.append(
        fact(
            a,
            "pension",
            "2026-02",
            name="张伟",
            base=8000,
            er=1280,
            ee=640,
            er_paid=1280,
            ee_paid=640,
            status="paid",
            evidence="paid",
            unit_name=unit,
        )  # fmt: skip
    )
    p.row(["张伟", a, "基本医疗保险（含生育）", "2026-02", "8,000.00", "784.00", "160.00", "未到账", unit])
    g.facts.append(
        fact(a, "medical", "2026-02", name="张伟", base=8000, er=784, ee=160, status="unpaid", unit_name=unit)
    )
    p.row(["张伟", a, "失业保险费", "2026-02", 8000, 40, 16, "", ""])
    g.facts.append(fact(a, "unemployment", "2026-02", name="张伟", base=8000, er=40, ee=16))
    p.row(["张伟", a, "工伤保险", "2026.02", 8000, 16, "——", None, None])
    g.facts.append(fact(a, "work_injury", "2026-02", name="张伟", base=8000, er=16))
    p.row(["张伟", a, "住房公积金", "2026年2月", 8000, 960, 960, "已入账", None])
    g.facts.append(
        fact(
            a,
            "housing_fund",
            "2026-02",
            name="张伟",
            base=8000,
            er=960,
            ee=960,
            er_paid=960,
            ee_paid=960,
            status="paid",
            evidence="paid",
        )  # fmt: skip
    )
    if repeat_header:
        g.skipped[p.row(GENERIC_LONG_HEADER)] = "重复的表头行"
    p.row(["王芳", b, "企业职工基本养老保险(费)", 202602, 6000, 960, 480, "正常", unit])
    g.facts.append(
        fact(
            b,
            "pension",
            "2026-02",
            name="王芳",
            base=6000,
            er=960,
            ee=480,
            er_paid=960,
            ee_paid=480,
            status="paid",
            evidence="paid",
            unit_name=unit,
        )  # fmt: skip
    )
    p.row(["王芳", b, "职工大额医疗互助保险", "2026-02-01", None, None, 5, None, unit])
    g.facts.append(fact(b, "medical_supplement", "2026-02", name="王芳", ee=5, unit_name=unit))
    g.skipped[p.row(["王芳", b, "职业年金", "2026-02", 6000, 480, 240, None, unit])] = "不核算的险种"
    if wrong:
        g.ids.append(wrong)
        g.skipped[p.row(["李娜", wrong, "养老保险", "2026-02", 5000, 800, 400, None, None])] = ""
    g.skipped[p.row(["合计", None, None, None, None, "4,080.00", "2,301.00"])] = "合计"
    g.skipped[p.row(["——", "——", "——"])] = "填充"
    g.skipped[p.row(["制表人：赵磊    打印日期：2026-03-05"])] = "表尾"
    g.warnings.append("不在本系统核算范围")
    g.data = book.bytes()
    return g


def generic_long_csv(encoding: str = "gb18030") -> Golden:
    a, b = new_id("310104", 1990), new_id("310115", 1979)
    rows = [
        GENERIC_LONG_HEADER,
        ["徐航", a, "养老保险", "2026-03", "9000", "1440", "720", "", ""],
        ["徐航", a, "医疗保险", "2026-03", "9000", "900", "180", "", ""],
        ["孙悦", b, "失业保险", "202603", "12,345.60", "61.73", "24.69", "欠缴", "上海示例物流有限公司"],
        ["", "", "", "", "", "", "", "", ""],
        ["合计", "", "", "", "", "2401.73", "924.69", "", ""],
    ]
    g = Golden("generic_long", "社保缴费明细.csv", csv_bytes(rows, encoding), ids=[a, b])
    g.facts = [
        fact(a, "pension", "2026-03", name="徐航", base=9000, er=1440, ee=720),
        fact(a, "medical", "2026-03", name="徐航", base=9000, er=900, ee=180),
        fact(
            b,
            "unemployment",
            "2026-03",
            name="孙悦",
            base="12345.60",
            er="61.73",
            ee="24.69",
            status="arrears",
            unit_name="上海示例物流有限公司",
        ),  # fmt: skip
    ]
    g.skipped = {6: "合计"}
    return g


WIDE_GROUPS = [
    ("养老保险", True),
    ("医疗保险", True),
    ("失业保险", True),
    ("工伤保险", False),
    ("生育保险", False),
]
WIDE_KEYS = {"养老保险": "pension", "医疗保险": "medical", "失业保险": "unemployment", "工伤保险": "work_injury",
             "生育保险": "maternity"}  # fmt: skip
WIDE_RATES = {"养老保险": ("0.16", "0.08"), "医疗保险": ("0.08", "0.02"), "失业保险": ("0.005", "0.005"),
              "工伤保险": ("0.004", None), "生育保险": ("0.008", None)}  # fmt: skip


def generic_wide_header() -> list[str]:
    header = ["姓名", "证件号码", "费款所属期"]
    for group, personal in WIDE_GROUPS:
        header += [f"{group}基数", f"{group}单位缴费"] + ([f"{group}个人缴费"] if personal else [])
    return header


def generic_wide_row(name: str, id_number: str, month: str, base: Decimal) -> list[str]:
    row = [name, id_number, month]
    for group, personal in WIDE_GROUPS:
        er_rate, ee_rate = WIDE_RATES[group]
        row += [f"{base:.2f}", f"{base * Decimal(er_rate):.2f}"]
        if personal:
            row.append(f"{base * Decimal(ee_rate):.2f}")
    return row


def generic_wide(fmt: str = "csv") -> Golden:
    a, b = new_id("440304", 1993), new_id("440305", 1987)
    header = generic_wide_header()
    rows = [header]
    g = Golden("generic_wide", f"2026年社保明细宽表.{fmt}", b"", ids=[a, b])
    for who, name, base in ((a, "吴婷", Decimal("7000")), (b, "周杰", Decimal("15000.50"))):
        for month in ("2026-01", "2026-02"):
            row = generic_wide_row(name, who, month, base)
            if who == b and month == "2026-02":
                row[9:12] = ["", "", ""]  # 失业保险 not paid this month
            rows.append(row)
            for group, personal in WIDE_GROUPS:
                if who == b and month == "2026-02" and group == "失业保险":
                    continue
                er_rate, ee_rate = WIDE_RATES[group]
                g.facts.append(
                    fact(
                        who,
                        WIDE_KEYS[group],
                        month,
                        name=name,
                        base=f"{base:.2f}",
                        er=f"{base * Decimal(er_rate):.2f}",
                        ee=f"{base * Decimal(ee_rate):.2f}" if personal else None,
                    )  # fmt: skip
                )
    if fmt == "csv":
        g.data = csv_bytes(rows)
        return g
    book = Book()
    p = book.sheet("Sheet1")
    for row in rows:
        p.row(row)
    g.data = book.bytes()
    return g


def write_wide_csv(path: Path, *, people: int, months: int, start: str = "2023-01") -> int:
    """A generic_wide CSV of people × months rows (the benchmark's shape); returns the row count."""
    year, month = int(start[:4]), int(start[5:7])
    labels = []
    for i in range(months):
        y, m = divmod(month - 1 + i, 12)
        labels.append(f"{year + y}-{m + 1:02d}")
    ids = [
        # (birth date, sequence) unique for up to 12 million people
        make_resident_id("110105", dt.date(1970, 1, 1) + dt.timedelta(days=n % 12000), (n // 12000) % 1000)
        for n in range(people)
    ]
    bases = [Decimal(5000 + (n * 37) % 20000) for n in range(people)]
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(generic_wide_header())
        for n in range(people):
            name = NAMES[n % len(NAMES)]
            for label in labels:
                writer.writerow(generic_wide_row(name, ids[n], label, bases[n]))
    return people * months


# --- tax side -----------------------------------------------------------------------------------

TAX_ITEM_HEADER = ["序号", "姓名", "证件类型", "证件号码", "缴费工资", "缴费基数", "费率", "应缴费额", "减免费额",
                   "应补(退)费额", "人员编号"]  # fmt: skip


def tax_client_item_detail() -> Golden:
    a, b, c = new_id("320102"), new_id("320104"), new_id("320105")
    book = Book()
    p = book.sheet("Sheet1")
    p.row(TAX_ITEM_HEADER)
    p.row(
        [
            1,
            "陈静",
            "居民身份证",
            a,
            "12,500.00",
            "12,000.00",
            "16%",
            "1,920.00",
            "0.00",
            "1,920.00",
            "32010000000000000001",
        ]
    )
    p.row([2, "杨帆", "居民身份证", b, 6800, 6800, "16%", 1088, 0, 1088, 3201000000000002])
    p.row(
        [
            3,
            "赵磊",
            "居民身份证",
            c,
            "4,000.00",
            "4,494.00",
            "16%",
            "719.04",
            "0.00",
            "719.04",
            "32010000000000000003",
        ]
    )
    g = Golden("tax_client_item_detail", "职工基本养老保险(单位缴纳)_2025-08至2025-08_未申报信息明细表.xlsx",
               book.bytes(), ids=[a, b, c])  # fmt: skip
    g.facts = [
        fact(a, "pension", "2025-08", name="陈静", base=12000, er=1920),
        fact(b, "pension", "2025-08", name="杨帆", base=6800, er=1088),
        fact(c, "pension", "2025-08", name="赵磊", base=4494, er="719.04"),
    ]
    g.found = {"period": "2025-08", "insurance": "pension", "side": "employer"}
    return g


def tax_item_single_kind() -> Golden:
    """The Jiangxi single-kind file: 险种 and side from the name, period from `2026-04——`."""
    a, b = new_id("360102"), new_id("361002")
    book = Book()
    p = book.sheet("职工明细")
    p.row(["姓名", "证件号码", "缴费基数", "费率", "应缴费额(元)"])
    p.row(["黄敏", a, 4500, "0.5%", 22.5])
    p.row(["周杰", b, "5,200.00", "0.5%", "26.00"])
    g = Golden(
        "tax_client_item_detail", "2026-04——工伤保险（单位缴纳部分）职工明细.xlsx", book.bytes(), ids=[a, b]
    )
    g.facts = [
        fact(a, "work_injury", "2026-04", name="黄敏", base=4500, er="22.5"),
        fact(b, "work_injury", "2026-04", name="周杰", base=5200, er=26),
    ]
    return g


def tax_item_without_period() -> Golden:
    a = new_id("320102")
    book = Book()
    p = book.sheet("Sheet1")
    p.row(TAX_ITEM_HEADER)
    p.row([1, "陈静", "居民身份证", a, 8000, 8000, "8%", 640, 0, 640, "32010000000000000009"])
    g = Golden("tax_client_item_detail", "职工基本养老保险(个人缴纳)明细.xlsx", book.bytes(), ids=[a])
    g.facts = [fact(a, "pension", "2026-03", name="陈静", base=8000, ee=640)]
    g.context = {"period": "2026-03"}
    return g


CS_HEADER = ["序号", "姓名", "证件类型", "证件号码", "分组", "缴费工资", "缴费基数", "费率", "应缴费额", "人员编号",
             "征收项目", "征收品目", "征收子目", "申报日期", "费款所属期起", "费款所属期止", "数据来源", "缴费类型",
             "主管税务机关", "社保经办机构", "单位编号", "社保流水号"]  # fmt: skip
CS_ITEMS = [
    (
        "企业职工基本养老保险费",
        "职工基本养老保险(单位缴纳)",
        "16%",
        "pension",
        "er",
        "城镇职工基本养老保险经办机构",
    ),
    (
        "企业职工基本养老保险费",
        "职工基本养老保险(个人缴纳)",
        "8%",
        "pension",
        "ee",
        "城镇职工基本养老保险经办机构",
    ),
    ("失业保险费", "失业保险(单位缴纳)", "0.7%", "unemployment", "er", "失业保险经办机构"),
    ("失业保险费", "失业保险(个人缴纳)", "0.3%", "unemployment", "ee", "失业保险经办机构"),
    ("基本医疗保险费", "职工基本医疗保险(单位缴纳)", "8.7%", "medical", "er", "城镇职工医疗生育保险经办机构"),
    ("基本医疗保险费", "职工基本医疗保险(个人缴纳)", "2%", "medical", "ee", "城镇职工医疗生育保险经办机构"),
    (
        "基本医疗保险费",
        "职工大额医疗互助保险(个人缴纳)",
        "100%",
        "medical_supplement",
        "ee",
        "城镇职工医疗生育保险经办机构",
    ),
    ("工伤保险费", "工伤保险", "0.9%", "work_injury", "er", "工伤保险经办机构"),
]


def tax_long_changsha() -> Golden:
    unit_no = "43010000000000000123"
    people = [("刘洋", new_id("430102"), Decimal("6000")), ("吴婷", new_id("430103"), Decimal("4586"))]
    book = Book()
    p = book.sheet("Sheet1")
    p.row(CS_HEADER)
    g = Golden(
        "tax_long_item_rows", "长沙示例公司2026年2月社保缴费明细.xlsx", b"", ids=[i for _, i, _ in people]
    )
    n = 0
    for name, who, base in people:
        for item, detail, rate, insurance, side, agency in CS_ITEMS:
            n += 1
            amount = (
                Decimal("15.00")
                if insurance == "medical_supplement"
                else (base * Decimal(rate[:-1]) / 100).quantize(Decimal("0.01"))
            )
            p.row([n, name, "居民身份证", who, None, float(base), float(base), rate, float(amount), f"4301{n:016d}", item,
                   detail, None, "2026-03-10", "2026-02", "2026-02", "税务生成", "正常应缴", "国家税务总局长沙市芙蓉区税务局",
                   f"长沙市市本级{agency}", unit_no, f"{n:032x}"])  # fmt: skip
            g.facts.append(
                fact(
                    who,
                    insurance,
                    "2026-02",
                    name=name,
                    base=base,
                    unit_no=unit_no,
                    payment_type="normal",
                    **{side: amount},
                )  # fmt: skip
            )
    pivot = book.sheet("Sheet2")
    pivot.row(["求和项:应缴费额", "列标签"])
    pivot.row(["行标签", "职工基本养老保险(单位缴纳)", "总计"])
    pivot.row(["刘洋", 960, 960])
    pivot.row(["总计", 960, 960])
    g.data = book.bytes()
    return g


def tax_long_jiangxi() -> Golden:
    a, b = new_id("361002"), new_id("361003")
    book = Book()
    p = book.sheet("缴费明细")
    p.row(
        [
            "姓名",
            "身份证件号码",
            "参保费种",
            "征收品目",
            "费款所属日期起",
            "缴费基数",
            "费率",
            "本期应缴费额",
            "业务类型",
        ]
    )
    p.row(
        [
            "李娜",
            a,
            "企业职工基本养老保险费",
            "职工基本养老保险（单位缴纳）",
            "2026-02",
            "4,500.00",
            "16%",
            "720.00",
            "正常缴费",
        ]
    )
    p.row(
        [
            "李娜",
            a,
            "企业职工基本养老保险费",
            "职工基本养老保险（个人缴纳）",
            "2026-02",
            "4,500.00",
            "8%",
            "360.00",
            "正常缴费",
        ]
    )
    p.row(["张伟", b, "失业保险费", "失业保险（单位缴纳）", "2026-01", 4200, "0.5%", 21, "补缴"])
    p.row(["张伟", b, "基本医疗保险费", "职工基本医疗保险（个人缴纳）", "2026-01", 300, "2%", 6, "补差"])
    g = Golden(
        "tax_long_item_rows", "示例公司抚州账户2026年2月社保单位缴费明细.xlsx", book.bytes(), ids=[a, b]
    )
    g.facts = [
        fact(a, "pension", "2026-02", name="李娜", base=4500, er=720, payment_type="normal"),
        fact(a, "pension", "2026-02", name="李娜", base=4500, ee=360, payment_type="normal"),
        fact(b, "unemployment", "2026-01", name="张伟", base=4200, er=21, payment_type="backpay"),
        fact(b, "medical", "2026-01", name="张伟", base=300, ee=6, payment_type="adjust"),
    ]
    return g


GZ_GROUPS = [
    ("基本养老保险(单位缴纳)", "pension", "er", "0.16"),
    ("基本养老保险(个人缴纳)", "pension", "ee", "0.08"),
    ("失业保险(单位缴纳)", "unemployment", "er", "0.0032"),
    ("失业保险(个人缴纳)", "unemployment", "ee", "0.002"),
    ("基本医疗保险（含生育）(单位缴纳)", "medical", "er", "0.055"),
    ("基本医疗保险（含生育）(个人缴纳)", "medical", "ee", "0.02"),
    ("工伤保险", "work_injury", "er", "0.002"),
]


def gz_tax_personal_detail() -> Golden:
    people = [
        ("陈静", new_id("440106", 1991), Decimal("9000")),
        ("杨帆", new_id("440103", 1983), Decimal("5284")),
    ]
    book = Book()
    p = book.sheet("sheet1")
    width = 7 + 2 * len(GZ_GROUPS) + 3
    p.merge(0, 0, 0, width - 1, "社会保险费申报个人明细表")
    p.skip(2)
    p.row(["统一社会信用代码(纳税人识别号)：91440101MA5CXXXX1X", None, None, None, None, None, None, None,
           "纳税人名称：广州示例贸易有限公司"])  # fmt: skip
    p.row(["社保管理机构：广州市社会保险基金管理中心", None, None, None, None, None, None, None,
           "税务管理机关：国家税务总局广州市天河区税务局某某税务所"])  # fmt: skip
    p.row(
        ["单位社保号：440100123456", None, None, None, None, None, None, None, "费款所属期：2026-02至2026-02"]
    )
    p.row(["单位：元"])
    assert p.excel_row == 7
    p.two_row_header(
        [
            (h, [])
            for h in ("序号", "姓名", "证件号码", "证件类型", "个人社保号", "费款所属期起", "费款所属期止")
        ]
        + [(grp, ["缴费基数", "应缴金额"]) for grp, *_ in GZ_GROUPS]
        + [(h, []) for h in ("单位部分合计", "个人部分合计", "应缴金额合计")]
    )
    g = Golden("gz_tax_personal_detail", "2026年2月社会保险费申报个人明细表--天河分公司.xlsx", b"",
               ids=[i for _, i, _ in people])  # fmt: skip
    unit = {"unit_no": "440100123456", "unit_name": "广州示例贸易有限公司"}
    for n, (name, who, base) in enumerate(people, start=1):
        row: list[object] = [n, name, who, "居民身份证", f"10{n:08d}", "2026-02", "2026-02"]
        per: dict[str, dict[str, Decimal]] = {}
        er_total = ee_total = Decimal(0)
        for _, insurance, side, rate in GZ_GROUPS:
            amount = (base * Decimal(rate)).quantize(Decimal("0.01"))
            row += [f"{base:,.2f}", f"{amount:,.2f}"]
            per.setdefault(insurance, {})[side] = amount
            er_total += amount if side == "er" else 0
            ee_total += amount if side == "ee" else 0
        row += [float(er_total), float(ee_total), float(er_total + ee_total)]
        p.row(row)
        for insurance, sides in per.items():
            g.facts.append(fact(who, insurance, "2026-02", name=name, base=base, **sides, **unit))
    g.skipped[p.row(["合计", None, None, None, None, None, None, "14,284.00"])] = "合计"
    g.found = {"unit_no": "440100123456", "unit_name": "广州示例贸易有限公司", "period": "2026-02"}
    g.data = book.bytes()
    return g


SZ_GROUPS = [
    ("基本养老保险（单位）", "pension", "er", "16%"),
    ("基本养老保险（个人）", "pension", "ee", "8%"),
    ("基本医疗保险（单位）", "medical", "er", "6%"),
    ("地方补充医疗（单位）", "medical_supplement", "er", "0.5%"),
    ("基本医疗保险（个人）", "medical", "ee", "2%"),
    ("生育保险", "maternity", "er", "0.5%"),
    ("职业年金（单位）", None, "er", "8%"),
    ("职业年金（个人）", None, "ee", "4%"),
    ("工伤保险（单位）", "work_injury", "er", "0.2%"),
    ("公务员医疗补助", None, "er", "1%"),
    ("家属统筹医疗（单位）", None, "er", "1%"),
    ("家属统筹医疗（个人）", None, "ee", "1%"),
    ("失业保险（单位）", "unemployment", "er", "0.8%"),
    ("失业保险（个人）", "unemployment", "ee", "0.2%"),
    ("地方补充养老（单位）", None, "er", "1%"),
]


def sz_declare_detail() -> Golden:
    book = Book()
    p = book.sheet("申报明细")
    # r1: the fixed leading columns have no group; 应收金额 … span both rows; groups cover 费率 | 应缴费额
    top = 0
    for c, h in enumerate(("应收金额", "个人社保合计", "单位社保合计"), start=5):
        p.merge(top, c, top + 1, c, h)
    for c, h in enumerate(("序号", "姓名", "证件号码", "费款所属期起", "费款所属期止")):
        p.cell(top + 1, c, h)
    p.cell(top + 1, 8, "缴费工资")
    for i, (group, *_rest) in enumerate(SZ_GROUPS):
        c = 9 + 2 * i
        p.merge(top, c, top, c + 1, group)
        p.cell(top + 1, c, "费率")
        p.cell(top + 1, c + 1, "应缴费额")
    p.skip(2)
    g = Golden("sz_declare_detail", "深圳示例科技202602社保明细.xlsx", b"")
    g.skipped[p.row(["在职人员"])] = "分组标题"

    def person(n: int, name: str, who: str, base: Decimal, *, retired: bool = False) -> None:
        row: list[object] = [n, name, who, "2026-02", "2026-02", None, None, None, float(base)]
        per: dict[str, dict[str, Decimal]] = {}
        for _group, insurance, side, rate in SZ_GROUPS:
            if retired and insurance in ("pension", "unemployment", "work_injury"):
                row += ["", ""]
                continue
            amount = (base * Decimal(rate[:-1]) / 100).quantize(Decimal("0.01"))
            row += [rate, float(amount)]
            if insurance:
                per.setdefault(insurance, {})[side] = amount
        p.row(row)
        for insurance, sides in per.items():
            shared = None if insurance == "medical_supplement" else base
            g.facts.append(fact(who, insurance, "2026-02", name=name, base=shared, **sides))
        g.ids.append(who)

    person(1, "黄敏", new_id("440304", 1990), Decimal("12000"))
    person(2, "周杰", new_id("440305", 1984), Decimal("2360"))
    g.skipped[p.row(["小计", None, None, None, None, 9000.5])] = "合计"
    g.skipped[p.row(["退休人员"])] = "分组标题"
    person(3, "吴婷", new_id("440306", 1962), Decimal("8000"), retired=True)
    g.skipped[p.row(["小计", None, None, None, None, 1200])] = "合计"
    g.skipped[p.row(["合计", None, None, None, None, 10200.5])] = "合计"
    g.warnings = ["职业年金", "公务员医疗补助", "家属统筹", "地方补充养老"]
    g.found = {"unit_name": "示例科技", "period": "2026-02"}
    g.data = book.bytes()
    return g


def zj_all_insurance_detail() -> Golden:
    book = Book()
    p = book.sheet("Sheet1")
    p.merge(0, 0, 0, 14, "单位社保费职工全险种申报明细")
    p.skip()
    p.row(["费款所属期：", "2026-02", "主管税务机关：", "国家税务总局杭州市西湖区税务局", None, None, None, None, None,
           None, None, None, None, "单位（金额）：元"])  # fmt: skip
    p.two_row_header(
        [(h, []) for h in ("序号", "姓名", "证件类型", "证件号码")]
        + [
            ("基本养老应缴费额", ["单位部分", "个人部分"]),
            ("机关养老应缴费额", ["单位部分", "个人部分"]),
            ("失业应缴费额", ["单位部分", "个人部分"]),
            ("工伤应缴费额", ["单位部分"]),
            ("基本医疗应缴费额", ["单位部分", "个人部分"]),
            ("公务员补助应缴费额", ["单位部分"]),
            ("合计", []),
        ]
    )
    g = Golden("zj_all_insurance_detail", "杭州示例网络202602社保账单.xlsx", b"")
    for n, (name, base) in enumerate((("徐航", Decimal("7800")), ("孙悦", Decimal("4462"))), start=1):
        who = new_id("330106", 1994)
        g.ids.append(who)
        amounts = {
            "pension": ((base * Decimal("0.14")).quantize(Decimal("0.01")), (base * Decimal("0.08")).quantize(Decimal("0.01"))),
            "unemployment": ((base * Decimal("0.005")).quantize(Decimal("0.01")), (base * Decimal("0.005")).quantize(Decimal("0.01"))),
            "work_injury": ((base * Decimal("0.002")).quantize(Decimal("0.01")), None),
            "medical": ((base * Decimal("0.095")).quantize(Decimal("0.01")), (base * Decimal("0.02")).quantize(Decimal("0.01"))),
        }  # fmt: skip
        pension, unemployment, injury, medical = (
            amounts[k] for k in ("pension", "unemployment", "work_injury", "medical")
        )
        total = sum(v for pair in amounts.values() for v in pair if v is not None)
        p.row([n, name, "居民身份证", who, f"{pension[0]:.2f}", f"{pension[1]:.2f}", "0.00", "0.00",
               f"{unemployment[0]:.2f}", f"{unemployment[1]:.2f}", f"{injury[0]:.2f}", f"{medical[0]:.2f}",
               f"{medical[1]:.2f}", "0.00", f"{total:,.2f}"])  # fmt: skip
        for insurance, (er, ee) in amounts.items():
            g.facts.append(fact(who, insurance, "2026-02", name=name, er=er, ee=ee))
    g.skipped[p.row(["合计", "——", "——", "——", "1,000.00"])] = "合计"
    g.warnings = ["公务员补助"]
    g.found = {"period": "2026-02"}
    g.data = book.bytes()
    return g


def hb_ledger() -> Golden:
    book = Book()
    p = book.sheet("Sheet1")
    fixed = ["姓名", "证件类型", "证件号码", "缴费工资", "缴费基数"]
    employer = [
        "费率",
        "养老保险应缴费额",
        "费率",
        "失业保险应缴费额",
        "费率",
        "企业职工基本医疗应缴费额",
        "费率",
        "工伤保险应缴费额",
    ]
    employee = ["费率", "养老保险应缴费额", "费率", "失业保险应缴费额", "费率", "企业职工基本医疗应缴费额", "费率",
                "职工大额医疗互助保险应缴费额"]  # fmt: skip
    p.two_row_header([("职工明细", fixed), ("单位缴纳", employer), ("个人缴纳", employee)])
    g = Golden("hb_ledger", "武汉202602社保台账.xlsx", b"")
    rates_er = [
        ("16.0000%", "pension"),
        ("0.7000%", "unemployment"),
        ("8.7000%", "medical"),
        ("0.2000%", "work_injury"),
    ]
    rates_ee = [
        ("8.0000%", "pension"),
        ("0.3000%", "unemployment"),
        ("2.0000%", "medical"),
        ("100.0000%", "medical_supplement"),
    ]
    for name, base in (("刘洋", Decimal("6500")), ("陈静", Decimal("4077"))):
        who = new_id("420106", 1989)
        g.ids.append(who)
        row: list[object] = [name, "居民身份证", who, float(base), float(base)]
        per: dict[str, dict[str, Decimal]] = {}
        for rate, insurance in rates_er:
            amount = (base * Decimal(rate[:-1]) / 100).quantize(Decimal("0.01"))
            row += [rate, float(amount)]
            per.setdefault(insurance, {})["er"] = amount
        for rate, insurance in rates_ee:
            amount = (
                Decimal("7")
                if insurance == "medical_supplement"
                else (base * Decimal(rate[:-1]) / 100).quantize(Decimal("0.01"))
            )
            row += [rate, float(amount)]
            per.setdefault(insurance, {})["ee"] = amount
        p.row(row)
        for insurance, sides in per.items():
            shared = None if insurance == "medical_supplement" else base
            g.facts.append(fact(who, insurance, "2026-02", name=name, base=shared, **sides))
    g.skipped[p.row(["合计", "——", "——", 10577, 10577])] = "合计"
    g.found = {"period": "2026-02"}
    g.data = book.bytes()
    return g


XM_GROUPS = [
    (
        "城镇企业职工基本养老保险费",
        ["缴费工资", "缴费基数", "单位应缴", "减免金额", "个人应缴", "本金合计", "滞纳金", "利息"],
    ),
    (
        "机关事业单位养老保险",
        ["缴费工资", "缴费基数", "单位应缴", "减免金额", "个人应缴", "本金合计", "滞纳金", "利息"],
    ),
    (
        "失业保险费",
        ["缴费工资", "缴费基数", "单位应缴", "减免金额", "个人应缴", "本金合计", "滞纳金", "利息"],
    ),
    ("工伤保险费", ["缴费工资", "缴费基数", "单位应缴", "减免金额", "本金合计", "滞纳金", "利息"]),
    (
        "职工基本医疗保险费",
        ["缴费工资", "缴费基数", "单位应缴", "减免金额", "个人应缴", "本金合计", "滞纳金", "利息"],
    ),
    (
        "职工基本医疗保险费（生育）",
        ["缴费工资", "缴费基数", "单位应缴", "减免金额", "本金合计", "滞纳金", "利息"],
    ),
    ("公务员医疗补助", ["缴费工资", "缴费基数", "单位应缴", "滞纳金", "利息"]),
    ("职业年金", ["缴费工资", "缴费基数", "单位应缴", "单位应缴", "个人应缴", "本金合计", "滞纳金", "利息"]),
    ("离休人员医疗保障", ["缴费工资", "缴费基数", "单位应缴", "滞纳金", "利息"]),
]
XM_KEYS = {
    "城镇企业职工基本养老保险费": ("pension", "0.16", "0.08"),
    "失业保险费": ("unemployment", "0.005", "0.005"),
    "工伤保险费": ("work_injury", "0.002", None),
    "职工基本医疗保险费": ("medical", "0.07", "0.02"),
    "职工基本医疗保险费（生育）": ("maternity", "0.007", None),
}


def xm_statement_detail() -> Golden:
    book = Book()
    p = book.sheet("职工社保对账单明细查询")
    fixed = [
        "证件号码",
        "姓名",
        "参保人员身份",
        "总金额",
        "单位缴费总金额",
        "个人缴费总金额",
        "建账年月",
        "费款所属期起",
        "费款所属期止",
    ]
    width = len(fixed) + sum(len(leaves) for _, leaves in XM_GROUPS)
    assert width == 73
    p.merge(0, 0, 0, 20, "职工社保对账单明细查询导出报表")
    p.skip()
    p.row(["导出人:厦门示例科技有限公司"])
    p.two_row_header([(h, []) for h in fixed] + XM_GROUPS)
    g = Golden("xm_statement_detail", "职工社保对账单明细查询导出报表.xlsx", b"")
    unit = {"unit_name": "厦门示例科技有限公司", "posting": "2026-02"}
    cases = [
        ("黄敏", Decimal("6000"), "2026-02-01", "2026-02-28", Decimal("0")),
        (
            "周杰",
            Decimal("2030"),
            "2026-01-01",
            "2026-01-31",
            Decimal("1.25"),
        ),  # 补缴 for January, posted in February
    ]
    for name, base, start, end, late in cases:
        who = new_id("350203", 1995)
        g.ids.append(who)
        row: list[object] = [who, name, "101-本市职工", None, None, None, "2026-02", start, end]
        for group, leaves in XM_GROUPS:
            key = XM_KEYS.get(group)
            er = ee = None
            if key:
                er = (base * Decimal(key[1])).quantize(Decimal("0.01"))
                ee = (base * Decimal(key[2])).quantize(Decimal("0.01")) if key[2] else None
            for leaf in leaves:
                if key is None or group.startswith("机关"):
                    row.append(0 if leaf != "缴费工资" else None)
                elif leaf in ("缴费工资", "缴费基数"):
                    row.append(float(base))
                elif leaf == "单位应缴":
                    row.append(float(er))  # type: ignore[arg-type]
                elif leaf == "个人应缴":
                    row.append(float(ee))  # type: ignore[arg-type]
                elif leaf == "滞纳金":
                    row.append(float(late))
                else:
                    row.append(0)
            if key:
                g.facts.append(
                    fact(who, key[0], start[:7], name=name, base=base, er=er, ee=ee, late=late, **unit)  # type: ignore[arg-type]
                )
        p.row(row)
    g.skipped[p.row(["合计", None, None, 2000.5])] = "合计"
    g.warnings = ["职业年金", "公务员医疗补助", "离休人员医疗保障"]
    g.found = {"unit_name": "厦门示例科技有限公司"}
    g.data = book.bytes()
    return g


# --- housing fund -------------------------------------------------------------------------------


def hf_gz_staff() -> Golden:
    book = Book()
    p = book.sheet("单位")
    p.row(["单位职工信息表"])
    p.row(["操作员:网上虚拟操作员", None, "单位账号：123456", None, None, "单位名称：广州示例贸易有限公司"])
    p.row(["姓名", "证件号码", "公积金账号", "缴存状态", "缴存基数", "个人缴存额", "单位缴存额", "个人缴存比例",
           "单位缴存比例", "用工单位编号", "用工单位名称"])  # fmt: skip
    g = Golden("hf_gz_staff", "单位职工信息表.xlsx", b"")
    unit = {"unit_no": "123456", "unit_name": "广州示例贸易有限公司"}
    for name, state, base, rate in (
        ("刘洋", "正常", 10000, 0.05),
        ("陈静", "正常", 6000, 0.12),
        ("杨帆", "封存", 5000, 0.05),
    ):
        who = new_id("440104", 1990)
        g.ids.append(who)
        amount = Decimal(base) * Decimal(str(rate))
        p.row(
            [
                name,
                who,
                f"88{len(g.ids):08d}",
                state,
                base,
                float(amount),
                float(amount),
                rate,
                rate,
                "001",
                "天河分部",
            ]
        )
        g.enrollments.append(
            enrollment(who, "housing_fund", "active" if state == "正常" else "suspended", name=name, **unit)
        )
        if state == "正常":
            g.facts.append(
                fact(who, "housing_fund", "2026-02", name=name, base=base, er=amount, ee=amount, **unit)
            )
    g.skipped[p.row(["经办网点（盖章）：广州住房公积金管理中心  制表人：某某  打印日期：2026-03-02"])] = (
        "表尾"
    )
    g.context = {"period": "2026-02"}
    return _done(g, book)


def hf_sz_single() -> Golden:
    book = Book()
    p = book.sheet("单笔缴存清单")
    p.row(["单笔缴存清单"])
    p.row(["单位名称：深圳示例科技有限公司"])
    p.row(["单位账号：1234567890"])
    p.row(
        [
            "姓名",
            "证件号码",
            "个人账号",
            "缴存时段",
            "缴存基数（元）",
            "单位缴存比例",
            "个人缴存比例",
            "金额合计（元）",
        ]
    )
    g = Golden("hf_sz_single", "深圳示例科技202602公积金账单.xlsx", b"")
    unit = {"unit_no": "1234567890", "unit_name": "深圳示例科技有限公司"}
    a, b, c = new_id("440304"), new_id("440305"), new_id("440306")
    g.ids += [a, b, c]
    p.row(["黄敏", a, "9001", "202602-202602", "10,000.00", "0.05", "0.05", "1,000.00"])
    g.facts.append(fact(a, "housing_fund", "2026-02", name="黄敏", base=10000, er=500, ee=500, **unit))
    p.row(["周杰", b, "9002", "202601-202602", 8000, "0.12", "0.12", 3840])
    for month in ("2026-01", "2026-02"):
        g.facts.append(fact(b, "housing_fund", month, name="周杰", base=8000, er=960, ee=960, **unit))
    p.row(["吴婷", c, "9003", "202602-202602", "2,360.00", "0.05", "0.05", "300.00"])
    g.facts.append(fact(c, "housing_fund", "2026-02", name="吴婷", base=2360, er=118, ee=118, **unit))
    g.warnings = ["与金额合计 300.00 不符"]
    return _done(g, book)


def hf_hz_monthly() -> Golden:
    book = Book()
    p = book.sheet("Sheet1")
    p.row(["杭州市住房公积金单位汇缴明细"])
    p.row(["单位名称：杭州示例网络有限公司"])
    p.row(["单位客户号：987654", None, "资金性质：住房公积金", None, "业务年月：202602"])
    p.row(["序号", "个人客户号", "姓名", "单位月缴存额(元)", "个人月缴存额(元)", "合计月缴存额(元)", "入账"])
    p.row([1, "100001", "徐航", "1,200.00", "1,200.00", "2,400.00", "未入账"])
    p.row([2, "100002", "孙悦", 600, 600, 1200, "已入账"])
    g = Golden("hf_hz_monthly", "杭州示例网络202602公积金汇缴明细.xlsx", b"")
    unit = {"unit_no": "987654", "unit_name": "杭州示例网络有限公司"}
    g.facts = [
        fact(
            "acct:100001", "housing_fund", "2026-02", name="徐航", er=1200, ee=1200, status="unpaid", **unit
        ),
        fact(
            "acct:100002",
            "housing_fund",
            "2026-02",
            name="孙悦",
            er=600,
            ee=600,
            er_paid=600,
            ee_paid=600,
            status="paid",
            evidence="paid",
            **unit,
        ),  # fmt: skip
    ]
    g.skipped[p.row(["合计", None, None, 1800, 1800, 3600])] = "合计"
    g.warnings = ["个人客户号", "人工核对"]
    g.found = {"period": "2026-02", "unit_no": "987654", "unit_name": "杭州示例网络有限公司"}
    return _done(g, book)


def hf_xm_personal() -> Golden:
    book = Book()
    p = book.sheet("汇缴明细查询个人")
    p.row(["操作日期", "业务流水号", "处理状态", "结算信息状态", "摘要", "个人账号", "账号类型", "姓名", "发生额", "汇补缴年月",
           "证件类型", "证件号码", "单位账号", "单位名称", "交易机构", "操作员", "单位及个人"])  # fmt: skip
    a, b = new_id("350203"), new_id("350206")
    g = Golden("hf_xm_personal", "汇缴明细查询个人.xlsx", b"", ids=[a, b])
    unit = {"unit_no": "350200001234", "unit_name": "厦门示例科技有限公司"}
    p.row(["20260305", "LS0001", "生成清册", "未确定专户", "汇缴", "7001", "个人住房公积金", "黄敏", 1440, "2026-02",
           "二代身份证", a, unit["unit_no"], unit["unit_name"], "某某银行", "网厅", "单位及个人"])  # fmt: skip
    p.row(["20260305", "LS0002", "生成清册", "未确定专户", "补缴", "7001", "个人住房公积金", "黄敏", 1440, "2026-01",
           "二代身份证", a, unit["unit_no"], unit["unit_name"], "某某银行", "网厅", "单位及个人"])  # fmt: skip
    p.row(["20260305", "LS0003", "生成清册", "未确定专户", "汇缴", "7002", "个人住房公积金", "周杰", "300.00", "2026-02",
           "二代身份证", b, unit["unit_no"], unit["unit_name"], "某某银行", "网厅", "个人"])  # fmt: skip
    g.facts = [
        fact(a, "housing_fund", "2026-02", name="黄敏", payment_type="normal", **unit),
        fact(a, "housing_fund", "2026-01", name="黄敏", payment_type="backpay", **unit),
        fact(b, "housing_fund", "2026-02", name="周杰", ee=300, payment_type="normal", **unit),
    ]
    g.warnings = ["无法拆分单位和个人部分"]
    return _done(g, book)


def hf_cs_monthly() -> Golden:
    book = Book()
    p = book.sheet("表1 ")
    p.skip(2)
    p.row(["住房公积金汇缴职工明细"])
    p.row(
        [
            "序号",
            "职工账号",
            "证件号码",
            "职工姓名",
            "汇缴年月",
            "职工月缴额",
            "单位月缴额",
            "缴存基数",
            "账户状态",
            "总金额",
        ]
    )
    g = Golden("hf_cs_monthly", "住房公积金汇缴职工明细.xlsx", b"")
    for n, (name, base) in enumerate((("刘洋", 5000), ("吴婷", 3200)), start=1):
        who = new_id("430102", 1996)
        g.ids.append(who)
        amount = Decimal(base) * Decimal("0.08")
        p.row(
            [
                n,
                f"6001{n:04d}",
                who,
                name,
                202602,
                float(amount),
                float(amount),
                base,
                "正常",
                float(2 * amount),
            ]
        )
        g.facts.append(fact(who, "housing_fund", "2026-02", name=name, base=base, er=amount, ee=amount))
    g.skipped[p.row(["合计", None, None, None, None, 656, 656, None, None, 1312])] = "合计"
    return _done(g, book)


def _done(g: Golden, book: Book) -> Golden:
    g.data = book.bytes()
    return g


# --- agency bill --------------------------------------------------------------------------------

WQH_FIXED = ["序号", "状态", "客户名称", "姓名", "身份证号", "参保地", "户籍性质", "社保起做时间", "公积金起做时间",
             "帐单年月", "社保费用所属月（缴纳月）", "公积金费用所属月（缴纳月）"]  # fmt: skip
WQH_FULL = ["企业基数", "企业比例", "企业汇缴", "个人基数", "个人比例", "个人汇缴", "合计"]
WQH_GROUPS = [
    ("养老", WQH_FULL, "pension", 0.16, 0.08),
    ("医疗", [*WQH_FULL, "医疗企业大病", "医疗个人大病"], "medical", 0.09, 0.02),
    ("失业", WQH_FULL, "unemployment", 0.005, 0.005),
    ("生育", ["企业基数", "企业比例", "企业汇缴"], "maternity", 0.01, None),
    ("工伤", ["企业基数", "企业比例", "企业汇缴"], "work_injury", 0.0026, None),
]
WQH_TAIL_1 = ["单位社保", "个人社保", "社保合计"]
WQH_HF = ("公积金", ["企业基数", "企业比例", "企业汇缴", "个人基数", "个人比例", "个人汇缴"])
WQH_TAIL_2 = [
    "公积金合计",
    "社保公积金小计",
    "残保金企业缴纳",
    "滞纳金",
    "档案费",
    "服务费",
    "合计",
    "备注",
    "社保编号",
    "公积金编号",
]


def agency_wqh_bill() -> Golden:
    book = Book()
    notice = book.sheet("付款通知书")
    notice.skip(2)
    notice.row(["付款单位:深圳示例科技有限公司"])
    notice.row(
        [
            "账单月",
            "缴纳地",
            "社保小计",
            "公积金小计",
            "残障金小计",
            "其他",
            "服务费",
            "合计",
            "备注",
            "合作产品",
        ]
    )
    notice.row([202603, "上海", 5000.5, 2000, 0, 0, 200, 7200.5])
    notice.row(["合计", None, 5000.5, 2000, 0, 0, 200, 7200.5])
    p = book.sheet("付款明细")
    p.two_row_header(
        [(h, []) for h in WQH_FIXED]
        + [(group, leaves) for group, leaves, *_ in WQH_GROUPS]
        + [(h, []) for h in WQH_TAIL_1]
        + [WQH_HF]
        + [(h, []) for h in WQH_TAIL_2]
    )
    client = "深圳示例科技有限公司"
    g = Golden("agency_wqh_bill", "深圳示例科技202603账单.xlsx", b"")
    people = [("黄敏", Decimal("10000"), 202602, 202603), ("周杰", Decimal("7310"), 202602, 202602)]
    for n, (name, base, si_month, hf_month) in enumerate(people, start=1):
        who = new_id("310104", 1991)
        g.ids.append(who)
        row: list[object] = [
            n,
            "正常",
            client,
            name,
            who,
            "上海",
            "外地城镇",
            20240101,
            20240101,
            202603,
            si_month,
            hf_month,
        ]
        for _group, leaves, insurance, er_rate, ee_rate in WQH_GROUPS:
            er = (base * Decimal(str(er_rate))).quantize(Decimal("0.01"))
            ee = (base * Decimal(str(ee_rate))).quantize(Decimal("0.01")) if ee_rate else None
            values = {"企业基数": base, "企业比例": er_rate, "企业汇缴": er, "个人基数": base, "个人比例": ee_rate,
                      "个人汇缴": ee, "合计": er + (ee or 0), "医疗企业大病": Decimal("0"), "医疗个人大病": Decimal("3")}  # fmt: skip
            row += [float(values[leaf]) if values[leaf] is not None else None for leaf in leaves]
            period = f"{str(si_month)[:4]}-{str(si_month)[4:]}"
            g.facts.append(
                fact(
                    who,
                    insurance,
                    period,
                    name=name,
                    base=base,
                    er=er,
                    ee=ee,
                    posting="2026-03",
                    unit_name=client,
                    evidence="agency_billed",
                )  # fmt: skip
            )
            if insurance == "medical":
                g.facts.append(
                    fact(
                        who,
                        "medical_supplement",
                        period,
                        name=name,
                        er=0,
                        ee=3,
                        posting="2026-03",
                        unit_name=client,
                        evidence="agency_billed",
                    )  # fmt: skip
                )
        row += [1000, 500, 1500]
        hf = (base * Decimal("0.07")).quantize(Decimal("0.01"))
        row += [float(base), 0.07, float(hf), float(base), 0.07, float(hf)]
        hf_period = f"{str(hf_month)[:4]}-{str(hf_month)[4:]}"
        g.facts.append(
            fact(
                who,
                "housing_fund",
                hf_period,
                name=name,
                base=base,
                er=hf,
                ee=hf,
                posting="2026-03",
                unit_name=client,
                evidence="agency_billed",
            )  # fmt: skip
        )
        row += [float(2 * hf), 3000, 0, 0, 0, 50, 3050, None, f"SB{n:06d}", f"GJJ{n:06d}"]
        p.row(row)
    g.skipped[p.row(["合计", None, None, None, None, None, None, None, None, None, None, None, 20000])] = (
        "合计"
    )
    p.skip()
    g.skipped[p.row(["增员"])] = "分组标题"
    g.skipped[
        p.row(
            [
                "序号",
                "公司全称",
                "姓名",
                "身份证号码",
                "缴纳地",
                "户籍性质",
                "社保起缴时间",
                "公积金起缴时间",
                "备注",
            ]
        )
    ] = "子表表头"
    newcomer = new_id("310105", 1999)
    g.ids.append(newcomer)
    g.skipped[p.row([1, client, "孙悦", newcomer, "上海", "本地城镇", 202603, 202603, None])] = "子表“增员”"
    g.skipped[p.row(["减员"])] = "分组标题"
    g.skipped[
        p.row(
            [
                "序号",
                "公司全称",
                "姓名",
                "身份证号码",
                "缴纳地",
                "户籍性质",
                "社保停缴时间",
                "公积金停缴时间",
                "离职原因",
            ]
        )
    ] = "子表表头"
    leaver = new_id("310106", 1980)
    g.ids.append(leaver)
    g.skipped[p.row([1, client, "徐航", leaver, "上海", "外地农村", 202603, 202603, "个人原因"])] = (
        "子表“减员”"
    )
    g.warnings = ["残保金"]
    g.data = book.bytes()
    return g


# --- status lists -------------------------------------------------------------------------------


def status_list_generic() -> Golden:
    book = Book()
    p = book.sheet("参保人员")
    p.row(["单位参保人员名单"])
    p.row(["单位编号", "单位名称", "个人编号", "证件号码", "姓名", "险种类型", "参保状态", "本次参保日期"])
    a, b = new_id("320583", 1986), new_id("320585", 1975)
    g = Golden("status_list_generic", "单位参保人员名单.xlsx", b"", ids=[a, b])
    unit = {"unit_no": "32050012", "unit_name": "苏州示例电子有限公司"}
    p.row(
        [
            unit["unit_no"],
            unit["unit_name"],
            "P001",
            a,
            "吴婷",
            "企业职工基本养老保险",
            "参保缴费",
            "2020-03-01",
        ]
    )
    p.row(
        [
            unit["unit_no"],
            unit["unit_name"],
            "P001",
            a,
            "吴婷",
            "失业保险",
            "暂停缴费（中断）",
            dt.date(2025, 11, 1),
        ]
    )
    p.row([unit["unit_no"], unit["unit_name"], "P002", b, "周杰", "职工基本医疗保险", "终止缴费", "20251231"])
    g.enrollments = [
        enrollment(a, "pension", "active", name="吴婷", since=dt.date(2020, 3, 1), **unit),
        enrollment(a, "unemployment", "suspended", name="吴婷", since=dt.date(2025, 11, 1), **unit),
        enrollment(b, "medical", "terminated", name="周杰", since=dt.date(2025, 12, 31), **unit),
    ]
    return _done(g, book)


MEDICAL_HEADER = ["参保地医保区划名称", "参保地医保区划编码", "统筹区编码", "人员编号", "证件类型", "证件号码", "姓名",
                  "个人缴费状态", "参保状态", "参保身份", "险种类型", "缴费起始年月", "缴费截止年月", "单位编号", "单位名称",
                  "参保状态变更原因"]  # fmt: skip


def medical_insured_list() -> Golden:
    rows: list[list[object]] = [MEDICAL_HEADER]
    a, b, c = new_id("510104", 1993), new_id("510105", 1988), new_id("510106", 1970)
    unit = {"unit_no": "51000000012345", "unit_name": "成都示例软件有限公司"}
    rows.append(
        [
            "成都市",
            "510100",
            "510199",
            "5101001",
            "居民身份证",
            a,
            "刘洋",
            "1",
            "1",
            "在职",
            "310",
            "202001",
            "",
            *unit.values(),
            "",
        ]
    )
    rows.append(["成都市", "510100", "510199", "5101002", "居民身份证", b, "陈静", "2", "2", "在职", "职工基本医疗保险", "201805",
                 "202512", *unit.values(), "中断缴费"])  # fmt: skip
    rows.append(
        [
            "成都市",
            "510100",
            "510199",
            "5101003",
            "居民身份证",
            c,
            "赵磊",
            "1",
            "1",
            "在职",
            "390",
            "201501",
            "",
            *unit.values(),
            "",
        ]
    )
    g = Golden("medical_insured_list", "参保信息.csv", csv_bytes(rows), ids=[a, b, c])
    g.enrollments = [
        enrollment(a, "medical", "active", name="刘洋", since=dt.date(2020, 1, 1), **unit),
        enrollment(b, "medical", "suspended", name="陈静", since=dt.date(2018, 5, 1), **unit),
    ]
    g.skipped = {4: "不核算的险种"}
    return g


ALL = [
    generic_long,
    generic_long_csv,
    generic_wide,
    tax_client_item_detail,
    tax_item_single_kind,
    tax_long_changsha,
    tax_long_jiangxi,
    gz_tax_personal_detail,
    sz_declare_detail,
    zj_all_insurance_detail,
    hb_ledger,
    xm_statement_detail,
    hf_gz_staff,
    hf_sz_single,
    hf_hz_monthly,
    hf_xm_personal,
    hf_cs_monthly,
    agency_wqh_bill,
    status_list_generic,
    medical_insured_list,
]
