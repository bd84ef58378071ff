"""/api/v1/law — the law library (法规库): statutes and the articles the product cites, verbatim.

The law is public, so every token that may use the API may read it (read scope is enough).
"""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError
from pydantic import BaseModel

from shebao.api.auth import read_auth
from shebao.api.schemas import ErrorOut
from shebao.law import selectors

router = Router(tags=["法规库"])

ERRORS_READ = {401: ErrorOut, 403: ErrorOut, 422: ErrorOut}
Confidence = Literal["official_text", "official_text_transcribed"]
Kind = Literal["law", "regulation", "rule", "judicial_interpretation", "local_regulation"]


class LawStatuteOut(BaseModel):
    code: str = Field(description="引用编号前缀，如 SIL")
    title: str = Field(description="法规全称，如 中华人民共和国社会保险法")
    qualifier: str = Field(description="标题后的说明，如 （地方性法规）；可为空")
    short_title: str
    kind: Kind
    version: str = Field(description="版本说明（原文件“版本”行）")
    version_date: str = Field(description="版本行中最新的日期，YYYY-MM-DD")
    source: str = Field(description="条文来源（原文件“来源”行）")
    confidence: Confidence = Field(
        description="official_text = 官方原文；official_text_transcribed = 官方原文（二手转录，官方页面未核实）"
    )
    confidence_stated: bool = Field(description="false：原文件未标注可信度，按来源推定")
    article_count: int | None
    url: str = Field(description="网页地址")


class LawArticleOut(BaseModel):
    citation_id: str = Field(description="稳定的引用编号，如 SIL-86")
    statute: str = Field(description="法规全称")
    statute_code: str
    statute_short_title: str
    article_number: int
    article_suffix: int = Field(description="“之一”为 1，没有为 0")
    label: str = Field(description="如 第八十六条")
    citation: str = Field(description="引用写法，如 《中华人民共和国社会保险法》第八十六条")
    text: str = Field(description="逐字条文；段落之间以空行（\\n\\n）分隔")
    version: str
    version_date: str
    source: str
    confidence: Confidence
    confidence_stated: bool
    url: str


class LawArticleHitOut(LawArticleOut):
    score: int = Field(description="关键词命中次数")
    exact: bool = Field(description="查询本身就是该条文的引用编号")


class LawSearchOut(BaseModel):
    q: str
    terms: list[str]
    total: int
    items: list[LawArticleHitOut]


class LawArticleQuery(Schema):
    q: str = Field(
        "", max_length=200, description="关键词（空格分隔，须全部包含）或引用编号；为空时列出全部条文"
    )
    statute: str | None = Field(None, max_length=16, description="只在该法规中查找，如 SIL")


@router.get(
    "/law/statutes", response={200: list[LawStatuteOut], **ERRORS_READ}, auth=read_auth, summary="法规列表"
)
def list_statutes(request: HttpRequest):
    """法规库收录的全部法规（按目录顺序），含收录条文数。"""
    return [selectors.statute_data(s) for s in selectors.statute_list()]


@router.get("/law/articles", response={200: LawSearchOut, **ERRORS_READ}, auth=read_auth, summary="检索条文")
def search_articles(request: HttpRequest, filters: Query[LawArticleQuery]):
    """中文全文检索：按空格分词，条文（或其法规名称）须包含全部关键词，按命中次数排序；
    查询本身是引用编号（如 SIL-86、社会保险法第八十六条）时该条排在最前。`q` 为空时按目录顺序返回全部条文。"""
    q = filters.q.strip()
    if q:
        hits = selectors.article_search(q, statute=filters.statute)
        items = [{**selectors.article_data(h.article), "score": h.score, "exact": h.exact} for h in hits]
    else:
        articles = selectors.article_list(statute=filters.statute)
        items = [{**selectors.article_data(a), "score": 0, "exact": False} for a in articles]
    return {"q": q, "terms": selectors.search_terms(q), "total": len(items), "items": items}


@router.get(
    "/law/articles/{citation_id}",
    response={200: LawArticleOut, 404: ErrorOut, **ERRORS_READ},
    auth=read_auth,
    summary="条文详情",
)
def get_article(request: HttpRequest, citation_id: str):
    """按引用编号取一条条文（不区分大小写，也接受 SIL86、社会保险法第86条 等写法）。"""
    article = selectors.article_get(citation_id)
    if article is None:
        suggestions = selectors.article_suggestions(citation_id)
        hint = f"；您要找的是否为：{'、'.join(suggestions)}" if suggestions else ""
        raise HttpError(404, f"未找到条文“{citation_id.strip()}”{hint}")
    return selectors.article_data(article)
