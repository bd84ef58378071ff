"""docs/citations.md: every citation id in the library, generated (``shebao law doc``) and
checked by a test against the database so it cannot drift."""

from __future__ import annotations

from shebao.law.models import Article, Statute

EXCERPT_CHARS = 30

CONFIDENCE = {
    "official_text": "官方原文",
    "official_text_transcribed": "官方原文（二手转录，官方页面未核实）",
}
KIND = {
    "law": "法律",
    "regulation": "行政法规",
    "rule": "部门规章",
    "judicial_interpretation": "司法解释",
    "local_regulation": "地方性法规",
}

HEADER = """\
# 法规库引用编号一览 / Citation ids

<!-- 由 `shebao law doc --output docs/citations.md` 生成，请勿手工编辑；测试会检查它与法规库一致。 -->

产品中的每个计算结果、规则、告知书和报告都以**引用编号**指向它所依据的条文，并链接到法规库（`/law/`）。

- 格式：`法规前缀-条号`，条号为阿拉伯数字，如 `SIL-86` = 《中华人民共和国社会保险法》第八十六条；
  “第X条之一”写作 `前缀-XA`（之二为 `B`）。编号稳定：条文更新不改变编号。
- 查询时不区分大小写，也接受 `sil86`、`社会保险法第86条`、`《中华人民共和国社会保险法》第八十六条` 等写法。
- 模板：`{% load law_tags %}{% cite "SIL-86" %}` 或 `{{ "SIL-86"|cite_link }}`，渲染为指向条文的链接；
  未知编号显示为醒目的“[未知条文 XXX]”，不会被静默丢弃。Python：`shebao.law.selectors.citation_refs([...])`。
- 网页 `/law/SIL-86/`；API `GET /api/v1/law/articles/SIL-86`；命令行 `shebao law show SIL-86 [--json]`。
- 条文逐字取自 `src/shebao/law/data/law_articles.md`（与 `shared/reference/law_articles.md` 逐字节相同），
  该文件给出每部法规的版本、来源和可信度。本库只收录产品引用的条文，不是法规全文。

Every citation id (statute prefix + article number) with the first characters of its verbatim text.
"""


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _excerpt(text: str) -> str:
    flat = " ".join(text.split("\n\n"))
    return flat if len(flat) <= EXCERPT_CHARS else flat[:EXCERPT_CHARS] + "…"


def citations_markdown() -> str:
    statutes = list(Statute.objects.order_by("order").prefetch_related("articles"))
    lines = [HEADER, "## 法规与前缀", ""]
    lines.append("| 前缀 | 法规 | 类别 | 版本日期 | 可信度 | 收录条文 |")
    lines.append("|---|---|---|---|---|---|")
    for s in statutes:
        confidence = CONFIDENCE[s.confidence] + ("" if s.confidence_stated else "（未标注，按来源推定）")
        title = f"《{s.title}》" + (s.qualifier or "")
        lines.append(
            f"| `{s.code}` | {_cell(title)} | {KIND[s.kind]} | {s.version_date.isoformat()} "
            f"| {confidence} | {s.articles.count()} |"
        )
    lines += ["", "## 条文", ""]
    lines.append("| 引用编号 | 法规 | 条 | 条号 | 条文开头 |")
    lines.append("|---|---|---|---|---|")
    for a in Article.objects.select_related("statute").order_by("position"):
        number = f"{a.number}" + (f"之{a.suffix}" if a.suffix else "")
        lines.append(
            f"| `{a.citation_id}` | {_cell(a.statute.short_title)} | {a.label} | {number} | {_cell(_excerpt(a.text))} |"
        )
    return "\n".join(lines) + "\n"
