"""Law library pages. The law is public: any signed-in user may read it, whatever the role."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from shebao.law import selectors
from shebao.web.decorators import login_required
from shebao.web.helpers import render_htmx

MAX_QUERY = 200
MAX_RESULTS = 100


@require_GET
@login_required
def law_index(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:MAX_QUERY]
    hits = selectors.article_search(q) if q else []
    context = {
        "q": q,
        "terms": selectors.search_terms(q),
        "hits": hits[:MAX_RESULTS],
        "total": len(hits),
        "statutes": selectors.statute_list(),
        "active": "law",
    }
    return render_htmx(request, "law/_results.html", "law/index.html", context)


@require_GET
@login_required
def article_detail(request: HttpRequest, citation_id: str) -> HttpResponse:
    article = selectors.article_get(citation_id)
    if article is None:
        raise Http404
    if article.citation_id != citation_id:  # sil86, 社会保险法第86条 … → the canonical address
        return redirect(article)
    previous, following = selectors.article_neighbours(article)
    return render(
        request,
        "law/article.html",
        {
            "article": article,
            "statute": article.statute,
            "previous": previous,
            "next": following,
            "active": "law",
        },
    )


@require_GET
@login_required
def statute_detail(request: HttpRequest, code: str) -> HttpResponse:
    statute = selectors.statute_get(code)
    if statute is None:
        raise Http404
    if statute.code != code:
        return redirect(statute)
    return render(
        request,
        "law/statute.html",
        {"statute": statute, "articles": statute.articles.all(), "active": "law"},
    )
