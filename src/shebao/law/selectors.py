"""Reads of the law library: look-up by citation id (forgiving about how it is written),
Chinese full-text search, statute lists, and the plain dicts the API and CLI print."""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet

from shebao.law.loader import cn_to_int
from shebao.law.models import Article, Statute

MAX_TERMS = 10
MAX_TERM_LENGTH = 50

_NUM = r"[0-9]+|[零一二三四五六七八九十百千]+"
_CHINESE_REF_RE = re.compile(rf"^《?(?P<title>[^《》]+?)》?第(?P<num>{_NUM})条(?:之(?P<suf>{_NUM}))?$")
_ID_REST_RE = re.compile(r"^(?P<num>[0-9]+)(?P<suf>[A-Z]?)$")


def _nfkc(text: str) -> str:
    """Full-width letters, digits and hyphens (ＳＩＬ－８６) become ASCII; spaces go."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or ""))


def _compact_code(code: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", code.upper())


def _title_key(title: str) -> str:
    return re.sub(r"[《》〈〉<>]", "", _nfkc(title))


def _number(text: str) -> int | None:
    try:
        return int(text) if text.isdigit() else cn_to_int(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Reference:
    """A citation written some way, resolved to statute code + article number (not yet looked up)."""

    code: str
    number: int
    suffix: int = 0


def reference_parse(ref: str) -> Reference | None:
    """SIL-86, sil86, " SIL - 86 ", SPC-LD1-1, SIL-58A, 社会保险法第86条, 《中华人民共和国社会保险法》第八十六条
    → Reference; None when the text names no known statute."""
    text = _nfkc(ref)
    if not text:
        return None
    m = _CHINESE_REF_RE.match(text)
    if m:
        key = _title_key(m["title"])
        for statute in Statute.objects.only("code", "title", "short_title"):
            aliases = {
                _title_key(statute.title),
                _title_key(statute.short_title),
                _title_key(statute.title.removeprefix("中华人民共和国")),
            }
            if key in aliases:
                number = _number(m["num"])
                suffix = _number(m["suf"]) if m["suf"] else 0
                if number is None or suffix is None:
                    return None
                return Reference(statute.code, number, suffix)
        return None
    compact = _compact_code(text)
    codes = sorted(Statute.objects.values_list("code", flat=True), key=lambda c: -len(_compact_code(c)))
    for code in codes:
        prefix = _compact_code(code)
        if compact.startswith(prefix):
            rest = _ID_REST_RE.match(compact[len(prefix) :])
            if rest:
                suffix = ord(rest["suf"]) - ord("A") + 1 if rest["suf"] else 0
                return Reference(code, int(rest["num"]), suffix)
    return None


def article_get(ref: str) -> Article | None:
    """The article a citation refers to, or None. Case, spaces, hyphens and full-width
    characters do not matter; Chinese references (社会保险法第八十六条) work too."""
    text = (ref or "").strip()
    if not text:
        return None
    article = Article.objects.select_related("statute").filter(citation_id=text).first()
    if article is not None:
        return article
    parsed = reference_parse(text)
    if parsed is None:
        return None
    return (
        Article.objects.select_related("statute")
        .filter(statute__code=parsed.code, number=parsed.number, suffix=parsed.suffix)
        .first()
    )


def article_suggestions(ref: str, *, limit: int = 5) -> list[str]:
    """Citation ids close to an unknown ``ref``: the nearest articles of the statute it names,
    then ids that look alike."""
    suggestions: list[str] = []
    parsed = reference_parse(ref)
    if parsed is not None:
        nearby = Article.objects.filter(statute__code=parsed.code).values_list("citation_id", "number")
        nearby = sorted(nearby, key=lambda row: (abs(row[1] - parsed.number), row[1]))
        suggestions += [cid for cid, _ in nearby[:3]]
    ids = list(Article.objects.values_list("citation_id", flat=True))
    for cid in difflib.get_close_matches(_nfkc(ref).upper(), ids, n=limit, cutoff=0.6):
        if cid not in suggestions:
            suggestions.append(cid)
    return suggestions[:limit]


def article_neighbours(article: Article) -> tuple[Article | None, Article | None]:
    """The previous and next article of the same statute in the library (not necessarily
    adjacent numbers: the library holds only the articles the product cites)."""
    siblings = Article.objects.filter(statute_id=article.statute_id).select_related("statute")
    previous = siblings.filter(position__lt=article.position).order_by("-position").first()
    following = siblings.filter(position__gt=article.position).order_by("position").first()
    return previous, following


def statute_list() -> QuerySet[Statute]:
    return Statute.objects.annotate(article_count=Count("articles")).order_by("order")


def statute_get(code: str) -> Statute | None:
    key = _compact_code(_nfkc(code))
    if not key:
        return None
    for statute in Statute.objects.all():
        if _compact_code(statute.code) == key:
            return statute
    return None


def article_list(*, statute: str | None = None) -> QuerySet[Article]:
    qs = Article.objects.select_related("statute").order_by("position")
    if statute:
        qs = qs.filter(statute__code__iexact=statute.strip())
    return qs


def citation_ids() -> list[str]:
    return list(Article.objects.order_by("position").values_list("citation_id", flat=True))


# --- search -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    article: Article
    score: int  # occurrences of the terms in the text, heading and statute title
    exact: bool = False  # the whole query is a citation of this article


def search_terms(q: str) -> list[str]:
    """The query split on whitespace (including the ideographic space), duplicates dropped."""
    terms: list[str] = []
    for term in (q or "").split():
        term = term[:MAX_TERM_LENGTH]
        if term.lower() not in (t.lower() for t in terms):
            terms.append(term)
    return terms[:MAX_TERMS]


def _score(article: Article, terms: list[str]) -> int:
    haystacks = [article.text.lower(), article.label.lower()]
    titles = (article.statute.title + "\n" + article.statute.short_title).lower()
    score = 0
    for term in terms:
        t = term.lower()
        score += sum(h.count(t) for h in haystacks) + (1 if t in titles else 0)
    return score


def article_search(q: str, *, statute: str | None = None) -> list[SearchHit]:
    """Articles containing every term of ``q`` (in the text, heading or statute title), most
    hits first, ties in library order. A query that is itself a citation (SIL-86,
    社会保险法第八十六条) puts that article first."""
    q = (q or "").strip()
    terms = search_terms(q)
    if not terms:
        return []
    qs = Article.objects.select_related("statute")
    if statute:
        qs = qs.filter(statute__code__iexact=statute.strip())
    for term in terms:
        qs = qs.filter(
            Q(text__icontains=term)
            | Q(label__icontains=term)
            | Q(statute__title__icontains=term)
            | Q(statute__short_title__icontains=term)
        )
    hits = sorted((SearchHit(a, _score(a, terms)) for a in qs), key=lambda h: (-h.score, h.article.position))
    exact = article_get(q)
    if exact is not None and (not statute or exact.statute.code.lower() == statute.strip().lower()):
        hits = [SearchHit(exact, _score(exact, terms), exact=True)] + [
            h for h in hits if h.article.pk != exact.pk
        ]
    return hits


# --- plain data for the API and the CLI ---------------------------------------------------------


def statute_data(statute: Statute) -> dict[str, Any]:
    return {
        "code": statute.code,
        "title": statute.title,
        "qualifier": statute.qualifier,
        "short_title": statute.short_title,
        "kind": statute.kind,
        "version": statute.version_note,
        "version_date": statute.version_date.isoformat(),
        "source": statute.source,
        "confidence": statute.confidence,
        "confidence_stated": statute.confidence_stated,
        "article_count": getattr(statute, "article_count", None),
        "url": statute.get_absolute_url(),
    }


def article_data(article: Article) -> dict[str, Any]:
    statute = article.statute
    return {
        "citation_id": article.citation_id,
        "statute": statute.title,
        "statute_code": statute.code,
        "statute_short_title": statute.short_title,
        "article_number": article.number,
        "article_suffix": article.suffix,
        "label": article.label,
        "citation": article.citation,
        "text": article.text,
        "version": statute.version_note,
        "version_date": statute.version_date.isoformat(),
        "source": statute.source,
        "confidence": statute.confidence,
        "confidence_stated": statute.confidence_stated,
        "url": article.get_absolute_url(),
    }


@dataclass(frozen=True)
class CitationRef:
    """What a calculator, rule or report needs to cite an article: id, label and link."""

    citation_id: str
    found: bool
    label: str  # 《社会保险法》第八十六条, or [未知条文 X]
    citation: str  # 《中华人民共和国社会保险法》第八十六条
    url: str


def citation_refs(ids: list[str]) -> list[CitationRef]:
    """Resolve citation ids for display; unknown ids come back with ``found=False`` (never dropped)."""
    refs = []
    for cid in ids:
        article = article_get(cid)
        if article is None:
            refs.append(CitationRef(cid, False, f"[未知条文 {cid}]", "", ""))
        else:
            refs.append(
                CitationRef(
                    article.citation_id,
                    True,
                    article.short_citation,
                    article.citation,
                    article.get_absolute_url(),
                )
            )
    return refs
