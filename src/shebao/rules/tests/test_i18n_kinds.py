"""Every rule kind's wording (marked with N_, extracted by shebao's makemessages) has an English
translation: a catalogue regenerated with Django's own makemessages would drop them silently."""

from __future__ import annotations

from django.utils import translation

from shebao.rules.kinds import KINDS


def test_every_kinds_label_and_wording_templates_are_translated():
    untranslated = []
    with translation.override("en"):
        for code, kind in KINDS.items():
            texts = [kind.label, kind.summary, kind.default_name, kind.resolved_reason]
            for table in (kind.titles, kind.explanations, kind.next_steps):
                texts += list(table.values())
            for text in texts:
                if text and translation.gettext(text) == text:
                    untranslated.append(f"{code}: {text[:40]}")
    assert untranslated == []
