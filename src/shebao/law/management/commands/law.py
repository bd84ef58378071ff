"""``shebao law show SIL-86 [--json]``, ``law search 滞纳金 [--json]``, ``law list [SIL] [--json]``,
``law doc [--output docs/citations.md]``, ``law load``."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from shebao.law import selectors
from shebao.law.docs import citations_markdown
from shebao.law.loader import LawFileError
from shebao.law.services import law_library_load

CONFIDENCE_LABELS = {
    "official_text": "官方原文",
    "official_text_transcribed": "官方原文（二手转录，官方页面未核实）",
}


def _confidence(data: dict) -> str:
    label = CONFIDENCE_LABELS[data["confidence"]]
    return label if data["confidence_stated"] else f"{label}（原文件未标注，按来源推定）"


class Command(BaseCommand):
    help = "法规库：law show / search / list / doc / load"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        show = sub.add_parser("show", help="显示一条条文，如 law show SIL-86")
        show.add_argument("citation_id", help="引用编号，如 SIL-86（也接受 sil86、社会保险法第86条）")
        show.add_argument("--json", action="store_true", help="以 JSON 输出")
        search = sub.add_parser("search", help="全文检索，如 law search 滞纳金")
        search.add_argument("terms", nargs="+", help="关键词（须全部包含）或引用编号")
        search.add_argument("--statute", help="只在该法规中查找，如 SIL")
        search.add_argument("--json", action="store_true", help="以 JSON 输出")
        lst = sub.add_parser("list", help="列出法规；指定前缀（如 SIL）时列出该法规收录的条文")
        lst.add_argument("statute", nargs="?", help="法规的引用编号前缀，如 SIL")
        lst.add_argument("--json", action="store_true", help="以 JSON 输出")
        doc = sub.add_parser("doc", help="生成引用编号一览（docs/citations.md）")
        doc.add_argument("--output", help="写入该文件（默认输出到屏幕）")
        sub.add_parser("load", help="按随包附带的 law_articles.md 更新法规库（幂等）")

    def handle(self, *args, **opts):
        getattr(self, "handle_" + opts["action"])(opts)

    def _json(self, data) -> None:
        self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2))

    def handle_show(self, opts) -> None:
        ref = opts["citation_id"].strip()
        article = selectors.article_get(ref)
        if article is None:
            suggestions = selectors.article_suggestions(ref)
            hint = f"；您要找的是否为：{'、'.join(suggestions)}" if suggestions else ""
            raise CommandError(f"未找到条文“{ref}”{hint}")
        data = selectors.article_data(article)
        if opts["json"]:
            self._json(data)
            return
        self.stdout.write(f"{data['citation']}  [{data['citation_id']}]")
        self.stdout.write("")
        self.stdout.write(data["text"])
        self.stdout.write("")
        self.stdout.write(f"版本：{data['version']}")
        self.stdout.write(f"来源：{data['source']}")
        self.stdout.write(f"可信度：{_confidence(data)}")

    def handle_search(self, opts) -> None:
        q = " ".join(opts["terms"])
        hits = selectors.article_search(q, statute=opts["statute"])
        if opts["json"]:
            self._json(
                [{**selectors.article_data(h.article), "score": h.score, "exact": h.exact} for h in hits]
            )
            return
        if not hits:
            self.stdout.write(f"没有找到包含“{q}”的条文")
            return
        for h in hits:
            first = h.article.text.split("\n\n")[0]
            self.stdout.write(f"{h.article.citation_id:<14} {h.article.short_citation}  {first[:40]}…")
        self.stdout.write(f"共 {len(hits)} 条")

    def handle_list(self, opts) -> None:
        if opts["statute"]:
            statute = selectors.statute_get(opts["statute"])
            if statute is None:
                codes = "、".join(s.code for s in selectors.statute_list())
                raise CommandError(f"未找到法规“{opts['statute']}”：可用的前缀有 {codes}")
            rows = [selectors.article_data(a) for a in selectors.article_list(statute=statute.code)]
            if opts["json"]:
                self._json(rows)
                return
            for r in rows:
                self.stdout.write(
                    f"{r['citation_id']:<14} {r['label']:<10} {r['text'].split(chr(10))[0][:40]}…"
                )
            return
        rows = [selectors.statute_data(s) for s in selectors.statute_list()]
        if opts["json"]:
            self._json(rows)
            return
        for r in rows:
            self.stdout.write(
                f"{r['code']:<10} 《{r['title']}》  {r['article_count']} 条  版本日期 {r['version_date']}"
            )

    def handle_doc(self, opts) -> None:
        text = citations_markdown()
        if opts["output"]:
            Path(opts["output"]).write_text(text, encoding="utf-8")
            self.stdout.write(f"已写入 {opts['output']}")
        else:
            self.stdout.write(text, ending="")

    def handle_load(self, opts) -> None:
        try:
            result = law_library_load()
        except LawFileError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"法规库已更新：新增 {result.created}，修改 {result.updated}，删除 {result.deleted}"
        )
