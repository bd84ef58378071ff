"""Search-result snippets with the matched terms in <mark>, escaped safely."""

from __future__ import annotations

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def _pattern(terms: list[str]) -> re.Pattern[str] | None:
    terms = sorted({t for t in terms if t}, key=len, reverse=True)  # longest first: 滞纳金 before 滞纳
    if not terms:
        return None
    return re.compile("|".join(re.escape(t) for t in terms), re.IGNORECASE)


def highlight(text: str, terms: list[str]) -> SafeString:
    """Escape ``text`` and wrap every occurrence of a term in <mark>."""
    text = str(text)
    pattern = _pattern(terms)
    if pattern is None:
        return mark_safe(escape(text))
    out: list[str] = []
    pos = 0
    for m in pattern.finditer(text):
        out.append(escape(text[pos : m.start()]))
        out.append(f"<mark>{escape(m.group())}</mark>")
        pos = m.end()
    out.append(escape(text[pos:]))
    return mark_safe("".join(out))


def snippet(text: str, terms: list[str], width: int = 160) -> str:
    """At most ``width`` characters of ``text`` (paragraphs run together) around the first
    match, with "…" where it was cut. Plain text: escape it (``highlight`` does)."""
    flat = " ".join(str(text).split("\n\n"))
    if len(flat) <= width:
        return flat
    pattern = _pattern(terms)
    m = pattern.search(flat) if pattern else None
    start = 0 if m is None else max(0, m.start() - width // 4)
    start = min(start, len(flat) - width)
    end = start + width
    return ("…" if start > 0 else "") + flat[start:end] + ("…" if end < len(flat) else "")


_INLINE_RE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*")


def inline_markup(text: str) -> SafeString:
    """The law file's 版本/来源 lines use `code` and **bold**: escape, then render just those two."""
    text = str(text)
    out: list[str] = []
    pos = 0
    for m in _INLINE_RE.finditer(text):
        out.append(escape(text[pos : m.start()]))
        if m.group(1) is not None:
            out.append(f"<code>{escape(m.group(1))}</code>")
        else:
            out.append(f"<strong>{escape(m.group(2))}</strong>")
        pos = m.end()
    out.append(escape(text[pos:]))
    return mark_safe("".join(out))
