"""The shipped default messages: every zh-hans file has an English twin, and each renders in both."""

from __future__ import annotations

import pytest

from shebao.notify import rendering

FORMATS = ("email", "markdown", "text", "sms")
LANGUAGES = ("zh-hans", "en")


def _files(language: str) -> set[str]:
    root = rendering.DEFAULTS / language
    return {p.relative_to(root).as_posix() for p in root.rglob("*.txt")}


def _context(event: str) -> dict:
    one = rendering.sample_context()
    if event == "digest":
        return {
            "count": 2,
            "items": [one, one],
            "more": 0,
            "reason": "Daily digest: ",
            "entity": "X",
            "inbox_link": "http://x",
        }
    if event == "test":
        return {"channel": "c", "actor": "a", "sent_at": "2026-11-27 10:00"}
    if event == "channel_failing":
        return {"channel": "c", "kind_label": "k", "error": "e"}
    if event in rendering.EMPLOYEE_EVENTS:
        return rendering.sample_employee_context(event)
    return one


def test_every_zh_default_has_an_en_twin():
    zh = _files("zh-hans")
    assert zh
    assert zh == _files("en")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("event", rendering.EVENTS_FIXED)
def test_default_renders(event, fmt, language):
    rendered = rendering.render_message(
        event=event,
        fmt=fmt,
        language=language,
        context=_context(event),
        sms_names=["name", "deadline"],
        parts=rendering.default_parts(event, fmt, language),
    )
    if fmt == "sms":
        assert [name for name, _ in rendered.sms_params] == ["name", "deadline"]
        assert all(value for _, value in rendered.sms_params)
    else:
        assert rendered.text.strip()
