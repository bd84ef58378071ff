"""Import profiles against synthetic golden files: detection, exact facts, skipped rows, masking."""

from __future__ import annotations

import datetime as dt
import inspect
import io
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from shebao.imports.readers import ImportFileError
from shebao.ledger.parsing import (
    ContextRequired,
    ParseContext,
    detect,
    open_source,
    parse,
    profile_get,
    shipped_profiles,
)
from shebao.ledger.tests import golden as G

SHIPPED = {
    "generic_long",
    "generic_wide",
    "tax_client_item_detail",
    "tax_long_item_rows",
    "gz_tax_personal_detail",
    "sz_declare_detail",
    "zj_all_insurance_detail",
    "hb_ledger",
    "xm_statement_detail",
    "hf_gz_staff",
    "hf_sz_single",
    "hf_hz_monthly",
    "hf_xm_personal",
    "hf_cs_monthly",
    "agency_wqh_bill",
    "status_list_generic",
    "medical_insured_list",
}


def _key(d: dict[str, object]) -> list[tuple[str, str]]:
    return sorted((k, str(v.normalize() if isinstance(v, Decimal) else v)) for k, v in d.items())


def _sorted(items: list[dict[str, object]]) -> list[dict[str, object]]:
    return sorted(items, key=_key)


def _open(g: G.Golden):
    return open_source(g.data, filename=g.filename, isolate=False)


def _parse_all(g: G.Golden):
    result = parse(_open(g), g.profile, context=ParseContext(**g.context))  # type: ignore[arg-type]
    return result, list(result.rows())


def test_every_profile_in_the_brief_is_shipped_and_has_a_golden_file() -> None:
    assert {p.code for p in shipped_profiles()} == SHIPPED
    assert {b().profile for b in G.ALL} == SHIPPED
    for profile in shipped_profiles():
        assert profile.title and profile.note, profile.code
        assert profile.definition.grade in {"A", "B", "C", "D"}, profile.code


@pytest.mark.parametrize("build", G.ALL, ids=lambda b: b.__name__)
def test_detection_picks_the_profile(build) -> None:
    g = build()
    found = detect(_open(g), profiles=shipped_profiles())
    assert found, "no profile matched"
    assert found[0].profile.code == g.profile, [(d.profile.code, d.score) for d in found]
    if len(found) > 1:
        assert found[0].score > found[1].score
    assert found[0].reasons and all(isinstance(r, str) for r in found[0].reasons)
    assert any("表头包含" in r for r in found[0].reasons)


@pytest.mark.parametrize("build", G.ALL, ids=lambda b: b.__name__)
def test_golden_file_gives_exactly_the_expected_facts(build) -> None:
    g = build()
    result, rows = _parse_all(g)
    facts = [G.fact_dict(f) for r in rows for f in r.contributions]
    enrollments = [G.enrollment_dict(e) for r in rows for e in r.enrollments]
    assert _sorted(facts) == _sorted(g.facts)
    assert _sorted(enrollments) == _sorted(g.enrollments)
    assert [r for r in rows if r.errors] == []
    # skipped rows carry a reason; nothing else is skipped
    skipped = {r.row: r.skipped for r in rows if r.skipped}
    assert set(skipped) == set(g.skipped), skipped
    for row, part in g.skipped.items():
        assert part in skipped[row], (row, skipped[row])
    # every fact points at its source row
    for r in rows:
        assert all(f.row == r.row for f in [*r.contributions, *r.enrollments])
    for part in g.warnings:
        assert any(part in w for w in result.warnings), (part, result.warnings)
    for key, value in g.found.items():
        assert result.context_found.get(key) == value, result.context_found


@pytest.mark.parametrize("build", G.ALL, ids=lambda b: b.__name__)
def test_identity_numbers_are_masked_in_cells(build) -> None:
    g = build()
    _, rows = _parse_all(g)
    assert g.ids or g.profile == "hf_hz_monthly"
    text = "\n".join(v for r in rows for v in r.cells.values())
    for number in g.ids:
        assert number not in text
        assert number[:6] in text or number[:2] in text  # the masked form is still there
    assert all(r.cells for r in rows)


# --- details of particular layouts --------------------------------------------------------------


def test_item_file_period_and_item_come_from_the_file_name() -> None:
    result, _ = _parse_all(G.tax_client_item_detail())
    assert result.context_found["item"] == "职工基本养老保险(单位缴纳)"
    assert result.column_fields["应缴费额"] == "amount"
    assert result.column_fields["人员编号"] == "account_no"


def test_item_file_account_number_is_kept() -> None:
    _, rows = _parse_all(G.tax_client_item_detail())
    people = [r.contributions[0].person for r in rows]
    assert [p.account_no for p in people] == [
        "32010000000000000001",
        "3201000000000002",
        "32010000000000000003",
    ]
    assert {p.id_kind for p in people} == {"resident_id"}


def test_item_file_without_a_period_asks_for_the_month() -> None:
    g = G.tax_item_without_period()
    source = _open(g)
    with pytest.raises(ContextRequired) as exc:
        parse(source, "tax_client_item_detail")
    assert exc.value.field == "period"
    assert "请选择这份文件对应的月份" in exc.value.message
    result = parse(source, "tax_client_item_detail", context=ParseContext(period="2026-03"))
    assert [G.fact_dict(f) for r in result.rows() for f in r.contributions] == g.facts


def test_item_file_with_an_unknown_item_asks_for_it_and_accepts_an_override() -> None:
    g = G.tax_item_without_period()
    source = open_source(g.data, filename="明细导出.xlsx", isolate=False)
    with pytest.raises(ContextRequired) as exc:
        parse(source, "tax_client_item_detail", context=ParseContext(period="2026-03"))
    assert exc.value.field == "insurance"
    result = parse(
        source,
        "tax_client_item_detail",
        context=ParseContext(period="2026-03", insurance="失业保险", side="个人", unit_no="U1"),
    )
    (f,) = [f for r in result.rows() for f in r.contributions]
    assert (f.insurance.value, f.employee_due, f.employer_due, f.unit_no) == ("unemployment", 640, None, "U1")
    item = ParseContext(period="2026-03", item="职工大额医疗互助保险(单位缴纳)")
    (f,) = [f for r in parse(source, "tax_client_item_detail", context=item).rows() for f in r.contributions]
    assert (f.insurance.value, f.employer_due, f.employee_due) == ("medical_supplement", 640, None)
    with pytest.raises(ImportFileError, match="不是本系统核算的险种"):
        parse(
            source,
            "tax_client_item_detail",
            context=ParseContext(period="2026-03", item="职业年金(单位缴纳)"),
        )


def test_context_period_overrides_the_file_name() -> None:
    g = G.tax_client_item_detail()
    result = parse(_open(g), "tax_client_item_detail", context=ParseContext(period="2025-09"))
    assert {str(f.period) for r in result.rows() for f in r.contributions} == {"2025-09"}


def test_bad_identity_number_is_a_row_error_and_other_rows_are_kept() -> None:
    g = G.generic_long(bad=True)
    result, rows = _parse_all(g)
    (bad,) = [r for r in rows if r.errors]
    (error,) = bad.errors
    assert error["column"] == "证件号码"
    assert error["code"] == "checksum"
    assert error["message"].startswith(f"第{bad.row}行“证件号码”：")
    assert "校验位错误" in error["message"]
    assert bad.contributions == [] and bad.skipped == ""
    assert bad.cells["姓名"] == "李娜" and "*" in bad.cells["证件号码"]
    facts = [G.fact_dict(f) for r in rows for f in r.contributions]
    assert _sorted(facts) == _sorted(g.facts)


def test_repeated_header_row_is_skipped_and_reading_goes_on() -> None:
    g = G.generic_long(repeat_header=True)
    _, rows = _parse_all(g)
    repeated = [r for r in rows if r.skipped == "重复的表头行"]
    assert len(repeated) == 1 and repeated[0].cells["证件号码"] == "证件号码"
    assert _sorted([G.fact_dict(f) for r in rows for f in r.contributions]) == _sorted(g.facts)


def test_agency_bill_stops_at_the_sub_tables() -> None:
    g = G.agency_wqh_bill()
    result, rows = _parse_all(g)
    assert result.sheet == "付款明细"
    tail = [r for r in rows if r.row >= 7]
    assert all(not r.contributions and r.skipped for r in tail)
    assert "位于子表“增员”中" in tail[2].skipped and "位于子表“减员”中" in tail[5].skipped
    fact = next(f for r in rows for f in r.contributions if f.insurance.value == "housing_fund")
    assert (str(fact.posting_period), str(fact.period)) == ("2026-03", "2026-03")
    pension = next(f for r in rows for f in r.contributions if f.insurance.value == "pension")
    assert (str(pension.posting_period), str(pension.period), pension.evidence.value) == (
        "2026-03",
        "2026-02",
        "agency_billed",
    )


def test_xiamen_posting_month_differs_from_the_contribution_month() -> None:
    _, rows = _parse_all(G.xm_statement_detail())
    backpay = [f for r in rows for f in r.contributions if str(f.period) == "2026-01"]
    assert backpay and all(str(f.posting_period) == "2026-02" for f in backpay)
    assert next(f.late_fee for f in backpay if f.insurance.value == "pension") == Decimal("1.25")


def test_wuhan_repeated_names_are_resolved_by_their_group() -> None:
    result, _ = _parse_all(G.hb_ledger())
    assert result.column_fields["单位缴纳/养老保险应缴费额"] == "pension.employer_due"
    assert result.column_fields["个人缴纳/养老保险应缴费额"] == "pension.employee_due"
    assert result.column_fields["个人缴纳/职工大额医疗互助保险应缴费额"] == "medical_supplement.employee_due"
    assert result.column_fields["职工明细/缴费基数"] == "base"


def test_account_and_name_matching_is_flagged() -> None:
    result, rows = _parse_all(G.hf_hz_monthly())
    assert any("人工核对" in w for w in result.warnings)
    people = [f.person for r in rows for f in r.contributions]
    assert {(p.id_number, p.account_no, p.name) for p in people} == {
        ("", "100001", "徐航"),
        ("", "100002", "孙悦"),
    }


def test_status_list_with_a_month_also_yields_contributions() -> None:
    g = G.hf_gz_staff()
    result = parse(_open(g), "hf_gz_staff")  # no month: enrolment only
    rows = list(result.rows())
    assert not [f for r in rows for f in r.contributions]
    assert len([e for r in rows for e in r.enrollments]) == 3


def test_sz_housing_fund_amounts_are_derived_and_checked() -> None:
    result, rows = _parse_all(G.hf_sz_single())
    assert any("吴婷" in r.cells.get("姓名", "") and r.contributions for r in rows)
    assert any("不符" in w for w in result.warnings)


def test_multi_month_row_is_recorded_at_its_first_month_with_a_warning() -> None:
    rows_ = [
        G.GENERIC_LONG_HEADER,
        ["张伟", G.new_id(), "养老保险", "2026-01至2026-03", "5000", "2400", "1200", "", ""],
    ]
    source = open_source(G.csv_bytes(rows_), filename="补缴.csv")
    result = parse(source, "generic_long")
    (row,) = list(result.rows())
    assert [str(f.period) for f in row.contributions] == ["2026-01"]
    assert any("跨多个月" in w for w in result.warnings)


def test_unknown_insurance_and_bad_amount_are_row_errors() -> None:
    who = G.new_id()
    rows_ = [
        G.GENERIC_LONG_HEADER,
        ["张伟", who, "意外保险", "2026-02", "5000", "10", "", "", ""],
        ["张伟", who, "养老保险", "2026-02", "五千", "800", "400", "", ""],
        ["张伟", who, "养老保险", "2026-13", "5000", "800", "400", "", ""],
        ["张伟", who, "失业保险", "2026-02", "5000", "25", "25", "", ""],
    ]
    result = parse(open_source(G.csv_bytes(rows_), filename="x.csv"), "generic_long")
    rows = list(result.rows())
    messages = [e["message"] for r in rows for e in r.errors]
    assert messages == [
        "第2行“险种”：无法识别的险种“意外保险”",
        "第3行“缴费基数”：无法识别的数字“五千”",
        "第4行“费款所属期”：月份“2026-13”无效：月必须在 1 到 12 之间",
    ]
    assert [f.insurance.value for r in rows for f in r.contributions] == ["unemployment"]


def test_wrong_profile_says_which_headers_are_missing() -> None:
    with pytest.raises(ImportFileError) as exc:
        parse(_open(G.generic_wide()), "hf_cs_monthly")
    assert exc.value.code == "no_header"
    assert "职工账号" in exc.value.message


def test_parse_accepts_a_profile_object_and_a_sheet() -> None:
    g = G.tax_long_changsha()
    source = _open(g)
    assert [s.name for s in source.sheets] == ["Sheet1", "Sheet2"]
    result = parse(source, profile_get("tax_long_item_rows"), context=ParseContext(sheet="Sheet1"))
    assert result.sheet == "Sheet1" and result.header_row == 1
    with pytest.raises(ImportFileError):
        parse(source, "tax_long_item_rows", context=ParseContext(sheet="Sheet2"))


# --- reading files -------------------------------------------------------------------------------


def test_gb18030_csv_is_streamed_from_a_path(tmp_path: Path) -> None:
    g = G.generic_long_csv("gb18030")
    path = tmp_path / g.filename
    path.write_bytes(g.data)
    source = open_source(path, max_bytes=None)
    assert (source.format, source.encoding, source.streamed) == ("csv", "gb18030", True)
    result = parse(source, "generic_long")
    rows = result.rows()
    assert inspect.isgenerator(rows)
    first = next(rows)
    assert first.contributions[0].person.name == "徐航"
    rest = list(rows)
    facts = [G.fact_dict(f) for r in [first, *rest] for f in r.contributions]
    assert _sorted(facts) == _sorted(g.facts)
    assert _sorted([G.fact_dict(f) for r in result.rows() for f in r.contributions]) == _sorted(g.facts)


def test_csv_from_a_path_is_not_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "wide.csv"
    G.write_wide_csv(path, people=50, months=3)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("the CSV was loaded into memory"))
    source = open_source(path, max_bytes=None)
    result = parse(source, detect(source, profiles=shipped_profiles())[0].profile)
    assert result.profile.code == "generic_wide"
    rows = list(result.rows())
    assert len(rows) == 150 and sum(len(r.contributions) for r in rows) == 750


def test_utf8_and_bom_csv_bytes(tmp_path: Path) -> None:
    for encoding in ("utf-8", "utf-8-sig"):
        g = G.generic_long_csv(encoding)
        source = open_source(g.data, filename=g.filename)
        assert source.encoding == encoding
        assert _sorted(
            [G.fact_dict(f) for r in parse(source, "generic_long").rows() for f in r.contributions]
        ) == (_sorted(g.facts))


def test_upload_size_limit_and_trusted_paths(tmp_path: Path) -> None:
    g = G.generic_wide("csv")
    with pytest.raises(ImportFileError) as exc:
        open_source(g.data, filename=g.filename, max_bytes=100)
    assert exc.value.code == "too_large" and "上限" in exc.value.message
    path = tmp_path / g.filename
    path.write_bytes(g.data)
    with pytest.raises(ImportFileError):
        open_source(path, max_bytes=100)
    assert open_source(path, max_bytes=None).streamed


def test_zip_bomb_xlsx_is_refused() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"\0" * (2 * 1024 * 1024))
    with pytest.raises(ImportFileError) as exc:
        open_source(buf.getvalue(), filename="社保明细.xlsx")
    assert exc.value.code == "zip_bomb"


@pytest.mark.parametrize(
    ("data", "filename", "code"),
    [
        (b"", "a.csv", "empty"),
        (b"PK\x03\x04 not really", "a.csv", "unsupported"),
        (b"hello", "a.xlsx", "unsupported"),
        (b"x", "a.pdf", "unsupported"),
        (b"\xff\xfe\x00\xd8\x00", "a.csv", "encoding"),
    ],
)
def test_unreadable_files_raise_import_file_error(data: bytes, filename: str, code: str) -> None:
    with pytest.raises(ImportFileError) as exc:
        open_source(data, filename=filename)
    assert exc.value.code == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in exc.value.message)


def test_workbooks_are_read_in_an_isolated_child_by_default() -> None:
    g = G.hb_ledger()
    source = open_source(g.data, filename=g.filename)  # isolate=True: calamine in a child process
    assert [s.name for s in source.sheets] == ["Sheet1"]
    assert source.sheets[0].head(2)[0][0] == 1


def test_hidden_sheets_are_not_read() -> None:
    book = G.Book()
    hidden = book.sheet("隐藏")
    hidden.row(["姓名", "证件号码"])
    visible = book.sheet("明细")
    visible.row(["姓名"])
    visible.ws.activate()
    hidden.ws.hide()
    source = open_source(book.bytes(), filename="x.xlsx", isolate=False)
    assert [s.name for s in source.sheets] == ["明细"]


def test_status_list_since_dates() -> None:
    _, rows = _parse_all(G.status_list_generic())
    assert [e.since for r in rows for e in r.enrollments] == [
        dt.date(2020, 3, 1),
        dt.date(2025, 11, 1),
        dt.date(2025, 12, 31),
    ]


def test_xls_workbook_is_read() -> None:
    from shebao.imports.tests import messy

    who = G.new_id("430102")
    rows = [
        [None],
        ["住房公积金汇缴职工明细"],
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
        ],
        [1, "60010001", who, "刘洋", 202602, 400, 400, 5000, "正常", 800],
    ]
    source = open_source(messy.xls([("表1 ", rows, False)]), filename="住房公积金汇缴职工明细.xls")
    assert source.format == "xls"
    assert detect(source, profiles=shipped_profiles())[0].profile.code == "hf_cs_monthly"
    (fact,) = [f for r in parse(source, "hf_cs_monthly").rows() for f in r.contributions]
    assert (fact.person.id_number, str(fact.period), fact.employer_due, fact.employee_due, fact.base) == (
        who,
        "2026-02",
        400,
        400,
        5000,
    )


def test_repeated_two_row_header_is_skipped() -> None:
    book = G.Book()
    p = book.sheet("Sheet1")
    header = [("职工明细", ["姓名", "证件号码", "缴费基数"]), ("单位缴纳", ["养老保险应缴费额", "失业保险应缴费额",
              "工伤保险应缴费额", "企业职工基本医疗应缴费额"]), ("个人缴纳", ["养老保险应缴费额"])]  # fmt: skip
    p.two_row_header(header)
    a, b = G.new_id(), G.new_id()
    p.row(["刘洋", a, 5000, 800, 35, 10, 435, 400])
    p.two_row_header(header)
    p.row(["陈静", b, 6000, 960, 42, 12, 522, 480])
    result = parse(open_source(book.bytes(), filename="武汉202603社保台账.xlsx", isolate=False), "hb_ledger")
    rows = list(result.rows())
    assert [r.skipped for r in rows] == ["", "重复的表头行", "重复的表头行", ""]
    assert len([f for r in rows for f in r.contributions]) == 8


def test_a_blank_period_cell_is_an_error_unless_the_user_chose_the_month() -> None:
    rows_ = [G.GENERIC_LONG_HEADER, ["张伟", G.new_id(), "养老保险", "", "5000", "800", "400", "", ""]]
    source = open_source(G.csv_bytes(rows_), filename="2026年2月明细.csv")
    (row,) = list(parse(source, "generic_long").rows())
    assert row.errors[0]["message"] == "第2行“费款所属期”：费款所属期为空"
    (row,) = list(parse(source, "generic_long", context=ParseContext(period="2026-01")).rows())
    assert [str(f.period) for f in row.contributions] == ["2026-01"]
    with pytest.raises(ImportFileError, match="无法识别的月份"):
        parse(source, "generic_long", context=ParseContext(period="上个月"))
