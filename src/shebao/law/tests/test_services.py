"""Loading the library: migration 0002 loaded it; the loader is idempotent and follows the file."""

from __future__ import annotations

import copy

import pytest

from shebao.law.loader import parse_law_file
from shebao.law.models import Article, Statute
from shebao.law.services import LoadResult, law_library_load

pytestmark = pytest.mark.django_db


def test_migration_loaded_the_whole_file():
    parsed = parse_law_file()
    assert Statute.objects.count() == len(parsed) == 16
    assert Article.objects.count() == sum(len(s.articles) for s in parsed) == 107
    for ps in parsed:
        statute = Statute.objects.get(code=ps.code)
        assert (statute.title, statute.version_note, statute.source, statute.confidence) == (
            ps.title,
            ps.version_note,
            ps.source,
            ps.confidence,
        )
        stored = list(statute.articles.order_by("position").values_list("citation_id", "text"))
        assert stored == [(a.citation_id, a.text) for a in ps.articles]


def test_loader_is_idempotent(library):
    assert law_library_load() == LoadResult(0, 0, 0)
    assert not law_library_load().changed
    assert Article.objects.count() == 107


def test_loader_fills_an_empty_library():
    Statute.objects.all().delete()
    assert not Article.objects.exists()
    result = law_library_load()
    assert (result.created, result.updated, result.deleted) == (16 + 107, 0, 0)
    assert Article.objects.get(citation_id="SIL-86").statute.code == "SIL"


def test_loader_follows_changes_in_the_file(library):
    parsed = copy.deepcopy(parse_law_file())
    sil = parsed[0]
    sil.version_note = "2018-12-29 修正（新版本说明）"
    sil.articles[0].text = "改过的文字。"
    parsed.pop()  # ESL and its 5 articles
    removed = parsed[-1].articles.pop()  # SPC-EVID-94, now the last article: no positions shift
    result = law_library_load(statutes=parsed)
    assert removed.citation_id == "SPC-EVID-94"
    assert result == LoadResult(created=0, updated=2, deleted=1 + 5 + 1)
    assert Statute.objects.get(code="SIL").version_note == "2018-12-29 修正（新版本说明）"
    assert Article.objects.get(citation_id="SIL-4").text == "改过的文字。"
    assert not Article.objects.filter(citation_id__in=["SPC-EVID-94", "ESL-8"]).exists()
    assert not Statute.objects.filter(code="ESL").exists()
    # And back to the shipped file.
    result = law_library_load()
    assert result == LoadResult(created=1 + 1 + 5, updated=2, deleted=0)
    assert Article.objects.get(citation_id="SIL-4").text.startswith("中华人民共和国境内的用人单位和个人")
