"""Citation links for every room: ``{% load law_tags %}`` then

* ``{% cite "SIL-86" %}`` or ``{% cite "SIL-86" "LCL-38" %}`` (joined with 、)
* ``{{ "SIL-86"|cite_link }}``

render ``<a class="cite" href="/law/SIL-86/">《社会保险法》第八十六条</a>``. An unknown id is
never dropped: it renders as a visible ``[未知条文 XXX]`` marker.

``highlight`` and ``law_snippet`` are the search page's filters.
"""

from __future__ import annotations

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from shebao.law import highlight as hl
from shebao.law.selectors import article_get

register = template.Library()


def cite_html(citation_id) -> SafeString:
    cid = str(citation_id if citation_id is not None else "").strip()
    article = article_get(cid) if cid else None
    if article is None:
        return format_html(
            '<span class="cite cite-unknown" data-citation="{}">{}</span>',
            cid,
            _("[未知条文 %(id)s]") % {"id": cid or "—"},
        )
    return format_html(
        '<a class="cite" href="{}" title="{}" data-citation="{}">{}</a>',
        article.get_absolute_url(),
        article.citation,
        article.citation_id,
        article.short_citation,
    )


@register.simple_tag
def cite(*citation_ids) -> SafeString:
    return format_html_join("、", "{}", ((cite_html(cid),) for cid in citation_ids))


@register.filter
def cite_link(citation_id) -> SafeString:
    return cite_html(citation_id)


@register.filter
def highlight(text, terms) -> SafeString:
    return hl.highlight(text, list(terms or []))


@register.filter
def law_snippet(text, terms) -> str:
    return hl.snippet(text, list(terms or []))


@register.filter
def law_inline(text) -> SafeString:
    return hl.inline_markup(text)
