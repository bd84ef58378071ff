"""Parser for ``data/law_articles.md``: the statute articles the product cites, verbatim.

The file (a byte-identical copy of ``shared/reference/law_articles.md``) is a preamble followed
by one section per statute::

    ### 《中华人民共和国社会保险法》
    - 版本：2010-10-28 通过，2018-12-29 …修正
    - 来源：GitHub `LawRefBook/Laws` 文件 `社会法/社会保险法(2018-12-29).md`（提交 2f4c5c2）
    - 可信度：[官方原文]

    > 第八十六条 用人单位未按时足额缴纳社会保险费的，…
    >
    > 第二段…

Each blockquote is one article. Its text is kept exactly as written: only the ``> `` markers
and the article heading (``第八十六条``, possibly in ``**bold**``, followed by one space or
ideographic space) are taken off; paragraphs are joined with a blank line ("\\n\\n").

Nothing is guessed silently: a line the parser does not understand, an unknown statute, a
malformed article number or a ``引用编号`` line that disagrees with the articles raises
``LawFileError`` naming the file and line. The one inference, documented on
``ParsedStatute.confidence_stated``: a section without a ``可信度`` line whose source is
``LawRefBook/Laws`` is official text, as the file's preamble says of that repository.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

DATA_FILE = Path(__file__).resolve().parent / "data" / "law_articles.md"

OFFICIAL = "official_text"
TRANSCRIBED = "official_text_transcribed"
CONFIDENCE_MARKS = {"官方原文": OFFICIAL, "官方原文-二手转录": TRANSCRIBED}
# The preamble: "条文来源：GitHub 仓库 `LawRefBook/Laws` … 可信度标记：[官方原文] = 法律/法规原文（逐字摘自法规库）".
OFFICIAL_REPOSITORY = "LawRefBook/Laws"


@dataclass(frozen=True)
class StatuteMeta:
    code: str  # citation-id prefix
    short_title: str
    kind: str  # law / regulation / rule / judicial_interpretation / local_regulation


# Every statute the file may contain, by its title exactly as written between 《 and 》.
# A new statute in the file needs a line here (its citation prefix is part of the public ids).
STATUTES: dict[str, StatuteMeta] = {
    "中华人民共和国社会保险法": StatuteMeta("SIL", "社会保险法", "law"),
    "中华人民共和国劳动合同法": StatuteMeta("LCL", "劳动合同法", "law"),
    "社会保险费征缴暂行条例": StatuteMeta("SIFR", "社会保险费征缴暂行条例", "regulation"),
    "劳动争议调解仲裁法": StatuteMeta("LDMAL", "劳动争议调解仲裁法", "law"),
    "中华人民共和国个人信息保护法": StatuteMeta("PIPL", "个人信息保护法", "law"),
    "社会保险经办条例": StatuteMeta("SIAR", "社会保险经办条例", "regulation"),
    "住房公积金管理条例": StatuteMeta("HFR", "住房公积金管理条例", "regulation"),
    "工伤保险条例": StatuteMeta("WIIR", "工伤保险条例", "regulation"),
    "失业保险条例": StatuteMeta("UIR", "失业保险条例", "regulation"),
    "中华人民共和国居民身份证法": StatuteMeta("RICL", "居民身份证法", "law"),
    "最高人民法院关于审理劳动争议案件适用法律问题的解释（一）": StatuteMeta(
        "SPC-LD1", "劳动争议司法解释（一）", "judicial_interpretation"
    ),
    "最高人民法院关于审理劳动争议案件适用法律问题的解释（二）": StatuteMeta(
        "SPC-LD2", "劳动争议司法解释（二）", "judicial_interpretation"
    ),
    "上海市医疗保障条例": StatuteMeta("SH-MSR", "上海市医疗保障条例", "local_regulation"),
    "实施〈中华人民共和国社会保险法〉若干规定": StatuteMeta("SIL-IMPL", "实施〈社会保险法〉若干规定", "rule"),
    "最高人民法院关于民事诉讼证据的若干规定": StatuteMeta(
        "SPC-EVID", "民事诉讼证据规定", "judicial_interpretation"
    ),
    "中华人民共和国电子签名法": StatuteMeta("ESL", "电子签名法", "law"),
}


class LawFileError(ValueError):
    """The law file has something the parser does not understand (or that contradicts itself)."""

    def __init__(self, message: str, *, line: int, path: str = "law_articles.md", text: str = ""):
        self.message = message
        self.line = line
        self.path = path
        where = f"{path} 第{line}行"
        super().__init__(f"{where}：{message}" + (f"：{text!r}" if text else ""))


# --- Chinese numerals ----------------------------------------------------------------------

_DIGITS = {"零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_DIGIT_CHARS = "零一二三四五六七八九"
_UNITS = {"十": 10, "百": 100, "千": 1000}
NUMERAL_CHARS = "".join(_DIGITS) + "".join(_UNITS)


def int_to_cn(n: int) -> str:
    """86 → 八十六, 101 → 一百零一, 110 → 一百一十, 15 → 十五 (the style statutes are numbered in)."""
    if not 0 < n < 10000:
        raise ValueError(f"条号超出范围：{n}")
    parts: list[str] = []
    pending_zero = started = False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = n // value % 10
        if digit:
            if pending_zero:
                parts.append("零")
                pending_zero = False
            parts.append(_DIGIT_CHARS[digit] + unit)
            started = True
        elif started:
            pending_zero = True
    text = "".join(parts)
    return text[1:] if text.startswith("一十") else text


def cn_to_int(text: str) -> int:
    """八十六 → 86, 一百零一 → 101, 十 → 10. Only the canonical spelling is accepted
    (一百十, 八六 or 零五 raise ``ValueError``), so a typo in the file cannot become a wrong number."""
    if not text:
        raise ValueError("空的中文数字")
    total = digit = 0
    for ch in text:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
        elif ch in _UNITS:
            total += (digit or 1) * _UNITS[ch]
            digit = 0
        else:
            raise ValueError(f"不是中文数字：“{text}”")
    total += digit
    if total == 0 or int_to_cn(total) != text:
        raise ValueError(f"不规范的中文数字：“{text}”")
    return total


def suffix_letter(suffix: int) -> str:
    """之一 → "A", 之二 → "B" (as in "Article 120A"); no suffix → ""."""
    return chr(ord("A") + suffix - 1) if suffix else ""


def article_label(number: int, suffix: int = 0) -> str:
    """(86, 0) → 第八十六条; (58, 1) → 第五十八条之一."""
    return f"第{int_to_cn(number)}条" + (f"之{int_to_cn(suffix)}" if suffix else "")


def citation_id(code: str, number: int, suffix: int = 0) -> str:
    """("SIL", 86) → SIL-86; ("SIL", 58, 1) → SIL-58A."""
    return f"{code}-{number}{suffix_letter(suffix)}"


# --- parsed data ----------------------------------------------------------------------------


@dataclass
class ParsedArticle:
    code: str
    number: int
    suffix: int
    label: str  # the heading as written, without markup: 第八十六条
    text: str  # paragraphs joined by "\n\n", verbatim
    line: int

    @property
    def citation_id(self) -> str:
        return citation_id(self.code, self.number, self.suffix)

    @property
    def paragraphs(self) -> list[str]:
        return self.text.split("\n\n")


@dataclass
class ParsedStatute:
    title: str  # between 《 and 》
    qualifier: str  # what follows 》 on the heading line, e.g. （地方性法规）
    code: str
    short_title: str
    kind: str
    order: int  # position in the file, from 1
    line: int
    version_note: str = ""
    version_date: dt.date | None = None  # the latest YYYY-MM-DD date on the 版本 line
    source: str = ""
    confidence: str = ""
    confidence_note: str = ""  # what follows the [mark], e.g. （第三方法规库转录…）
    # False when the section has no 可信度 line and the confidence follows from its source
    # (LawRefBook/Laws, which the preamble declares official text). Shown as such in the UI.
    confidence_stated: bool = True
    cited_ids: list[str] | None = None  # from an optional 引用编号 line, checked against the articles
    articles: list[ParsedArticle] = field(default_factory=list)


# --- the parser -----------------------------------------------------------------------------

_HEADING_RE = re.compile(r"^### 《(?P<title>[^》]+)》(?P<qualifier>.*)$")
_BULLET_RE = re.compile(r"^- (?P<key>[^：:]+)：(?P<value>.*)$")
_LABEL = rf"第[{NUMERAL_CHARS}]+条(?:之[{NUMERAL_CHARS}]+)?"
_LABEL_RE = re.compile(rf"^第(?P<num>[{NUMERAL_CHARS}]+)条(?:之(?P<suf>[{NUMERAL_CHARS}]+))?$")
# The heading, plain or in **bold**, then one space or ideographic space, then the text.
_ARTICLE_RE = re.compile(rf"^(?:\*\*(?P<bold>{_LABEL})\*\*|(?P<plain>{_LABEL}))[ \u3000](?P<body>\S.*)$")
_DATE_RE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_CONFIDENCE_RE = re.compile(r"^\[(?P<mark>[^\]]+)\](?P<note>.*)$")
_CITED_ID_RE = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z][A-Z0-9]*)*-\d+[A-Z]?$")
_BULLETS = {"版本": "version", "来源": "source", "可信度": "confidence", "引用编号": "cited"}


class _Parser:
    def __init__(self, text: str, path: str):
        self.lines = text.split("\n")
        self.path = path
        self.statutes: list[ParsedStatute] = []
        self.current: ParsedStatute | None = None
        self.seen_bullets: set[str] = set()

    def error(self, message: str, line: int, text: str = "") -> LawFileError:
        return LawFileError(message, line=line, path=self.path, text=text)

    def run(self) -> list[ParsedStatute]:
        i = 0
        n = len(self.lines)
        while i < n:
            raw = self.lines[i]
            lineno = i + 1
            if raw.startswith(">"):
                start = i
                while i < n and self.lines[i].startswith(">"):
                    i += 1
                self.article(start)
                continue
            i += 1
            if raw.startswith("###"):
                self.heading(raw, lineno)
            elif self.current is None:
                continue  # the preamble before the first statute
            elif not raw.strip():
                if raw:
                    raise self.error("空行中有多余的空白字符", lineno, raw)
            elif raw.startswith("- "):
                self.bullet(raw, lineno)
            else:
                raise self.error("无法解析的行", lineno, raw)
        self.finish()
        if not self.statutes:
            raise self.error("文件中没有任何法规（### 《…》）", 1)
        return self.statutes

    def heading(self, raw: str, lineno: int) -> None:
        m = _HEADING_RE.match(raw)
        if not m:
            raise self.error("法规标题应为“### 《法规名称》”", lineno, raw)
        self.finish()
        title = m["title"]
        meta = STATUTES.get(title)
        if meta is None:
            raise self.error(
                f"未登记的法规《{title}》：请在 shebao/law/loader.py 的 STATUTES 中为它指定引用编号前缀",
                lineno,
            )
        if any(s.title == title for s in self.statutes):
            raise self.error(f"法规《{title}》重复出现", lineno)
        self.current = ParsedStatute(
            title=title,
            qualifier=m["qualifier"].strip(),
            code=meta.code,
            short_title=meta.short_title,
            kind=meta.kind,
            order=len(self.statutes) + 1,
            line=lineno,
        )
        self.seen_bullets = set()

    def bullet(self, raw: str, lineno: int) -> None:
        statute = self.current
        assert statute is not None
        m = _BULLET_RE.match(raw)
        key = _BULLETS.get(m["key"].strip()) if m else None
        if key is None:
            raise self.error(
                "无法解析的说明行：应为“- 版本：”“- 来源：”“- 可信度：”或“- 引用编号：”", lineno, raw
            )
        if statute.articles:
            raise self.error(f"“{m['key']}”行应写在条文之前", lineno, raw)
        if key in self.seen_bullets:
            raise self.error(f"“{m['key']}”行重复", lineno, raw)
        self.seen_bullets.add(key)
        value = m["value"].strip()
        if not value:
            raise self.error(f"“{m['key']}”行没有内容", lineno, raw)
        if key == "version":
            dates = []
            for y, mo, d in _DATE_RE.findall(value):
                try:
                    dates.append(dt.date(int(y), int(mo), int(d)))
                except ValueError:
                    raise self.error(f"无效日期 {y}-{mo}-{d}", lineno, raw) from None
            if not dates:
                raise self.error("版本行中没有日期（YYYY-MM-DD）", lineno, raw)
            statute.version_note = value
            statute.version_date = max(dates)
        elif key == "source":
            statute.source = value
        elif key == "confidence":
            cm = _CONFIDENCE_RE.match(value)
            if not cm or cm["mark"] not in CONFIDENCE_MARKS:
                raise self.error("可信度应为 [官方原文] 或 [官方原文-二手转录]", lineno, raw)
            statute.confidence = CONFIDENCE_MARKS[cm["mark"]]
            statute.confidence_note = cm["note"].strip()
        else:
            statute.cited_ids = self.cited_ids(value, lineno, raw)

    def cited_ids(self, value: str, lineno: int, raw: str) -> list[str]:
        """ "SPC-EVID-14、SPC-EVID-15" or "ESL-4 至 ESL-8"."""
        statute = self.current
        assert statute is not None
        if "至" in value:
            parts = [p.strip() for p in value.split("至")]
            if len(parts) != 2:
                raise self.error("引用编号范围应为“X-1 至 X-9”", lineno, raw)
            ends = []
            for part in parts:
                m = re.fullmatch(rf"{re.escape(statute.code)}-(\d+)", part)
                if not m:
                    raise self.error(f"引用编号“{part}”与法规前缀 {statute.code} 不符", lineno, raw)
                ends.append(int(m[1]))
            if ends[0] > ends[1]:
                raise self.error("引用编号范围的起点大于终点", lineno, raw)
            return [citation_id(statute.code, k) for k in range(ends[0], ends[1] + 1)]
        ids = [p.strip() for p in re.split(r"[、，,]", value)]
        for cid in ids:
            if not _CITED_ID_RE.match(cid) or not cid.startswith(statute.code + "-"):
                raise self.error(f"引用编号“{cid}”与法规前缀 {statute.code} 不符", lineno, raw)
        return ids

    def article(self, start: int) -> None:
        """The blockquote on lines[start:…] (0-based), all lines starting with ">"."""
        first = start + 1
        if self.current is None:
            raise self.error("条文出现在第一部法规标题之前", first, self.lines[start])
        statute = self.current
        paragraphs: list[list[str]] = [[]]
        i = start
        while i < len(self.lines) and self.lines[i].startswith(">"):
            raw = self.lines[i]
            lineno = i + 1
            if raw == ">":
                if not paragraphs[-1]:
                    raise self.error("条文中有空段落（连续的“>”空行或以空行开头）", lineno, raw)
                paragraphs.append([])
            elif raw.startswith("> ") and raw[2:].strip():
                content = raw[2:]
                if content != content.rstrip():
                    raise self.error("条文行末有多余的空白字符", lineno, raw)
                paragraphs[-1].append(content)
            else:
                raise self.error("引用块的行应为“> 文字”或单独的“>”", lineno, raw)
            i += 1
        if not paragraphs[-1]:
            raise self.error("条文以空的“>”行结束", i, self.lines[i - 1])
        m = _ARTICLE_RE.match(paragraphs[0][0])
        if not m:
            raise self.error("条文应以“第X条”加一个空格开头", first, self.lines[start])
        label = m["plain"] or m["bold"]
        parts = _LABEL_RE.match(label)
        number_text, suffix_text = parts["num"], parts["suf"]
        try:
            number = cn_to_int(number_text)
            suffix = cn_to_int(suffix_text) if suffix_text else 0
        except ValueError as exc:
            raise self.error(f"条号无法解析（{exc}）", first, self.lines[start]) from None
        paragraphs[0][0] = m["body"]
        article = ParsedArticle(
            code=statute.code,
            number=number,
            suffix=suffix,
            label=label,
            text="\n\n".join("\n".join(p) for p in paragraphs),
            line=first,
        )
        if statute.articles:
            previous = statute.articles[-1]
            if (number, suffix) == (previous.number, previous.suffix):
                raise self.error(f"《{statute.title}》{article.label}重复", first)
            if (number, suffix) < (previous.number, previous.suffix):
                raise self.error(
                    f"《{statute.title}》{article.label}排在{previous.label}之后：条文应按条号顺序排列", first
                )
        statute.articles.append(article)

    def finish(self) -> None:
        statute = self.current
        if statute is None:
            return
        self.current = None
        where = statute.line
        if not statute.version_note:
            raise self.error(f"《{statute.title}》缺少“- 版本：”行", where)
        if not statute.source:
            raise self.error(f"《{statute.title}》缺少“- 来源：”行", where)
        if not statute.confidence:
            if OFFICIAL_REPOSITORY not in statute.source:
                raise self.error(
                    f"《{statute.title}》缺少“- 可信度：”行，且来源不是 {OFFICIAL_REPOSITORY}，无法确定可信度",
                    where,
                )
            statute.confidence = OFFICIAL
            statute.confidence_stated = False
        if not statute.articles:
            raise self.error(f"《{statute.title}》下没有条文", where)
        if statute.cited_ids is not None:
            parsed = [a.citation_id for a in statute.articles]
            if sorted(statute.cited_ids) != sorted(parsed):
                raise self.error(
                    f"《{statute.title}》的引用编号行（{'、'.join(statute.cited_ids)}）"
                    f"与条文（{'、'.join(parsed)}）不一致",
                    where,
                )
        self.statutes.append(statute)


def parse_law_text(text: str, *, path: str = "law_articles.md") -> list[ParsedStatute]:
    """Parse the law file's text; raises ``LawFileError`` (with the line) on anything unexpected."""
    if "\r" in text:
        raise LawFileError(
            "文件含有 CR 换行符（应为 LF）", line=text[: text.index("\r")].count("\n") + 1, path=path
        )
    return _Parser(text, path).run()


def parse_law_file(path: Path | str = DATA_FILE) -> list[ParsedStatute]:
    path = Path(path)
    return parse_law_text(path.read_text(encoding="utf-8"), path=path.name)
