"""The law file parser: Chinese numerals, sections, verbatim article text, loud failures."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from shebao.law.loader import (
    DATA_FILE,
    OFFICIAL,
    TRANSCRIBED,
    LawFileError,
    article_label,
    citation_id,
    cn_to_int,
    int_to_cn,
    parse_law_file,
    parse_law_text,
)

SHARED_COPY = Path(__file__).resolve().parents[5] / "shared" / "reference" / "law_articles.md"

# The ids the issue names, plus the ones other rooms are known to cite.
EXPECTED_IDS = [
    "SIL-58",
    "SIL-86",
    "LCL-38",
    "LCL-46",
    "LCL-47",
    "LCL-50",
    "LDMAL-27",
    "PIPL-28",
    "HFR-15",
    "SPC-LD1-1",
    "SPC-LD2-19",
    "SIL-84",
    "SIL-50",
    "SPC-EVID-93",
    "SPC-EVID-94",
    "ESL-5",
    "ESL-6",
    "ESL-8",
    "SIFR-13",
    "SIL-IMPL-20",
    "SIAR-6",
    "WIIR-62",
    "UIR-16",
    "RICL-13",
    "SH-MSR-15",
]


@pytest.fixture(scope="module")
def statutes():
    return parse_law_file()


@pytest.fixture(scope="module")
def articles(statutes):
    return {a.citation_id: a for s in statutes for a in s.articles}


# --- numerals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,value",
    [
        ("一", 1),
        ("十", 10),
        ("十五", 15),
        ("二十", 20),
        ("八十六", 86),
        ("九十九", 99),
        ("一百", 100),
        ("一百零一", 101),
        ("一百一十", 110),
        ("一百一十五", 115),
        ("二百零五", 205),
        ("一千零一", 1001),
        ("一千二百三十四", 1234),
    ],
)
def test_chinese_numerals_round_trip(text, value):
    assert cn_to_int(text) == value
    assert int_to_cn(value) == text


@pytest.mark.parametrize(
    "text", ["", "八六", "一百十", "零五", "一十五", "百", "十十", "八十六条", "86", "两百"]
)
def test_non_canonical_numerals_are_rejected(text):
    with pytest.raises(ValueError):
        cn_to_int(text)


def test_labels_and_ids():
    assert article_label(86) == "第八十六条"
    assert article_label(101) == "第一百零一条"
    assert article_label(58, 1) == "第五十八条之一"
    assert citation_id("SIL", 86) == "SIL-86"
    assert citation_id("SPC-LD1", 1) == "SPC-LD1-1"
    assert citation_id("SIL", 58, 1) == "SIL-58A"
    assert citation_id("SIL", 58, 2) == "SIL-58B"


# --- the shipped file ---------------------------------------------------------------------------


def test_shipped_copy_is_byte_identical_to_the_reference():
    assert DATA_FILE.is_file()
    if SHARED_COPY.is_file():  # in the monorepo checkout; an installed package has only its copy
        assert DATA_FILE.read_bytes() == SHARED_COPY.read_bytes(), "re-copy shared/reference/law_articles.md"


def test_expected_citation_ids_exist(articles):
    missing = [cid for cid in EXPECTED_IDS if cid not in articles]
    assert not missing


def test_statutes_prefixes_and_order(statutes):
    assert [s.code for s in statutes] == [
        "SIL",
        "LCL",
        "SIFR",
        "LDMAL",
        "PIPL",
        "SIAR",
        "HFR",
        "WIIR",
        "UIR",
        "RICL",
        "SPC-LD1",
        "SH-MSR",
        "SIL-IMPL",
        "SPC-LD2",
        "SPC-EVID",
        "ESL",
    ]
    assert [s.order for s in statutes] == list(range(1, 17))
    assert sum(len(s.articles) for s in statutes) == 107
    by_code = {s.code: s for s in statutes}
    assert by_code["SIL"].title == "中华人民共和国社会保险法"
    assert by_code["SIL"].kind == "law"
    assert by_code["SH-MSR"].qualifier == "（地方性法规）"
    assert by_code["SH-MSR"].kind == "local_regulation"
    assert by_code["SIL-IMPL"].title == "实施〈中华人民共和国社会保险法〉若干规定"
    assert by_code["SIL-IMPL"].kind == "rule"
    assert by_code["SPC-LD2"].kind == "judicial_interpretation"
    assert by_code["SIFR"].kind == "regulation"


def test_version_source_and_confidence(statutes):
    by_code = {s.code: s for s in statutes}
    sil = by_code["SIL"]
    assert sil.version_note.startswith("2010-10-28 通过，2018-12-29 第十三届全国人大常委会第七次会议修正")
    assert sil.version_date == dt.date(2018, 12, 29)
    assert sil.source == "GitHub `LawRefBook/Laws` 文件 `社会法/社会保险法(2018-12-29).md`（提交 2f4c5c2）"
    assert (sil.confidence, sil.confidence_stated, sil.confidence_note) == (OFFICIAL, True, "")
    assert by_code["SPC-LD2"].version_date == dt.date(2025, 9, 1)
    for code in ("SIL-IMPL", "SPC-LD2"):
        assert by_code[code].confidence == TRANSCRIBED
        assert by_code[code].confidence_note.startswith("（第三方法规库转录")
    # No 可信度 line; the source is LawRefBook/Laws, which the preamble declares official text.
    for code in ("SPC-EVID", "ESL"):
        assert (by_code[code].confidence, by_code[code].confidence_stated) == (OFFICIAL, False)
    assert by_code["ESL"].cited_ids == ["ESL-4", "ESL-5", "ESL-6", "ESL-7", "ESL-8"]


def test_article_text_is_verbatim(articles):
    assert articles["SIL-86"].label == "第八十六条"
    assert articles["SIL-86"].text == (
        "用人单位未按时足额缴纳社会保险费的，由社会保险费征收机构责令限期缴纳或者补足，并自欠缴之日起，"
        "按日加收万分之五的滞纳金；逾期仍不缴纳的，由有关行政部门处欠缴数额一倍以上三倍以下的罚款。"
    )
    assert articles["LCL-47"].paragraphs == [
        "经济补偿按劳动者在本单位工作的年限，每满一年支付一个月工资的标准向劳动者支付。"
        "六个月以上不满一年的，按一年计算；不满六个月的，向劳动者支付半个月工资的经济补偿。",
        "劳动者月工资高于用人单位所在直辖市、设区的市级人民政府公布的本地区上年度职工月平均工资三倍的，"
        "向其支付经济补偿的标准按职工月平均工资三倍的数额支付，向其支付经济补偿的年限最高不超过十二年。",
        "本条所称月工资是指劳动者在劳动合同解除或者终止前十二个月的平均工资。",
    ]
    # Half-width colon kept as in the source.
    assert articles["LCL-38"].text.startswith("用人单位有下列情形之一的，劳动者可以解除劳动合同:\n\n（一）")
    assert len(articles["LCL-38"].paragraphs) == 8
    # **bold** headings and the ideographic space after them are markup, not text.
    assert articles["SIL-IMPL-20"].label == "第二十条"
    assert articles["SIL-IMPL-20"].text.startswith("职工应当缴纳的社会保险费由用人单位代扣代缴。")
    assert articles["SPC-LD2-19"].text.startswith("用人单位与劳动者约定或者劳动者向用人单位承诺")
    # The source breaks 居民身份证法第十三条 mid-sentence; verbatim means we keep it.
    assert articles["RICL-13"].paragraphs[:2] == [
        "公民从事有关活动，需要证明身份的，有权使用",
        "居民身份证证明身份，有关单位及其工作人员不得拒绝。",
    ]


def test_every_article_equals_its_source_blockquote(articles):
    """Independent of the parser: each article, rebuilt as a blockquote under its heading, is in the file."""
    source = DATA_FILE.read_text(encoding="utf-8")
    for cid, article in articles.items():
        quoted = "\n>\n".join("> " + p for p in article.paragraphs)
        body = quoted[2:]
        heading = re.escape(article.label)
        pattern = rf"(?m)^> (?:\*\*{heading}\*\*|{heading})[ \u3000]{re.escape(body)}\n(?!>)"
        assert re.search(pattern, source), cid
        for paragraph in article.paragraphs:
            assert paragraph == paragraph.strip() and paragraph, cid
            assert not paragraph.startswith(">"), cid


def test_article_numbers_match_their_labels(articles):
    for cid, article in articles.items():
        assert article.label == article_label(article.number, article.suffix), cid
        assert cid == citation_id(article.code, article.number, article.suffix)


# --- loud failures --------------------------------------------------------------------------------

GOOD = """\
# 前言

- 条文来源：说明文字

### 《中华人民共和国社会保险法》

- 版本：2018-12-29 修正
- 来源：GitHub `LawRefBook/Laws` 文件 `社会法/社会保险法(2018-12-29).md`
- 可信度：[官方原文]

> 第五十八条 第一段。
>
> 第二段。

> 第五十八条之一 新增的一条。

> 第一百零一条 第一百零一条的文字。
"""


def test_minimal_file_parses():
    (statute,) = parse_law_text(GOOD)
    assert [a.citation_id for a in statute.articles] == ["SIL-58", "SIL-58A", "SIL-101"]
    assert statute.articles[0].text == "第一段。\n\n第二段。"
    assert statute.articles[1].label == "第五十八条之一"
    assert statute.articles[1].suffix == 1
    assert statute.articles[2].number == 101
    assert statute.articles[0].line == 11


@pytest.mark.parametrize(
    "old,new,line,message",
    [
        ("### 《中华人民共和国社会保险法》", "### 《火星社会保险法》", 5, "未登记的法规《火星社会保险法》"),
        ("### 《中华人民共和国社会保险法》", "### 社会保险法", 5, "法规标题应为"),
        ("> 第五十八条 第一段。", "> 第五八条 第一段。", 11, "条号无法解析"),
        ("> 第五十八条 第一段。", "> 第五十八条第一段。", 11, "应以“第X条”加一个空格开头"),
        ("> 第五十八条 第一段。", "> 第58条 第一段。", 11, "应以“第X条”加一个空格开头"),
        (">\n> 第二段。", ">\n>\n> 第二段。", 13, "空段落"),
        (">\n> 第二段。", ">\n>第二段。", 13, "引用块的行应为"),
        ("- 可信度：[官方原文]", "- 可信度：[大概是原文]", 9, "可信度应为"),
        ("- 可信度：[官方原文]", "- 备注：随便写写", 9, "无法解析的说明行"),
        ("- 版本：2018-12-29 修正", "- 版本：修正", 7, "版本行中没有日期"),
        ("> 第一百零一条", "随手写的一行字\n\n> 第一百零一条", 17, "无法解析的行"),
        ("> 第五十八条之一 新增的一条。", "> 第五十八条 又一条。", 15, "第五十八条重复"),
        ("> 第一百零一条 第一百零一条的文字。", "> 第十条 第十条的文字。", 17, "应按条号顺序排列"),
        ("- 版本：2018-12-29 修正\n", "", 5, "缺少“- 版本：”行"),
    ],
)
def test_unparseable_input_fails_loudly_naming_the_line(old, new, line, message):
    assert old in GOOD
    with pytest.raises(LawFileError, match=re.escape(message)) as exc:
        parse_law_text(GOOD.replace(old, new, 1))
    assert exc.value.line == line
    assert f"第{line}行" in str(exc.value)


def test_missing_confidence_is_inferred_only_for_the_official_repository():
    (statute,) = parse_law_text(GOOD.replace("- 可信度：[官方原文]\n", ""))
    assert (statute.confidence, statute.confidence_stated) == (OFFICIAL, False)
    other = GOOD.replace("- 可信度：[官方原文]\n", "").replace("LawRefBook/Laws", "someone/else")
    with pytest.raises(LawFileError, match="无法确定可信度"):
        parse_law_text(other)


def test_cited_ids_line_must_match_the_articles():
    ok = GOOD.replace("- 可信度：[官方原文]", "- 可信度：[官方原文]\n- 引用编号：SIL-58、SIL-58A、SIL-101")
    assert len(parse_law_text(ok)[0].articles) == 3
    bad = GOOD.replace("- 可信度：[官方原文]", "- 可信度：[官方原文]\n- 引用编号：SIL-58 至 SIL-60")
    with pytest.raises(LawFileError, match="不一致"):
        parse_law_text(bad)
    wrong_prefix = GOOD.replace("- 可信度：[官方原文]", "- 可信度：[官方原文]\n- 引用编号：LCL-58")
    with pytest.raises(LawFileError, match="与法规前缀 SIL 不符"):
        parse_law_text(wrong_prefix)


def test_article_before_any_statute_and_empty_files_fail():
    with pytest.raises(LawFileError, match="第一部法规标题之前") as exc:
        parse_law_text("# 标题\n\n> 第一条 文字。\n")
    assert exc.value.line == 3
    with pytest.raises(LawFileError, match="没有任何法规"):
        parse_law_text("# 只有前言\n")
    with pytest.raises(LawFileError, match="没有条文"):
        parse_law_text(GOOD.split("> 第五十八条")[0])
    with pytest.raises(LawFileError, match="CR"):
        parse_law_text(GOOD.replace("\n", "\r\n"))
