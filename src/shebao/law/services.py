"""Writes to the law library. Its only writer is the loader: the shipped law file is the truth."""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps as django_apps
from django.db import transaction

from shebao.law.loader import DATA_FILE, ParsedStatute, parse_law_file

STATUTE_FIELDS = [
    "title",
    "qualifier",
    "short_title",
    "kind",
    "version_note",
    "version_date",
    "source",
    "confidence",
    "confidence_note",
    "confidence_stated",
    "order",
]
ARTICLE_FIELDS = ["statute_id", "number", "suffix", "label", "text", "position"]


@dataclass(frozen=True)
class LoadResult:
    created: int = 0
    updated: int = 0
    deleted: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


def _sync(obj, values: dict) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


def law_library_load(
    *, statute_model=None, article_model=None, statutes: list[ParsedStatute] | None = None
) -> LoadResult:
    """Make the library equal to the shipped law file (idempotent): add what is new, update what
    changed, delete what the file no longer has. Used by migration 0002, by ``shebao law load``
    and after test flushes. Counts are of statutes and articles together."""
    Statute = statute_model or django_apps.get_model("law", "Statute")
    Article = article_model or django_apps.get_model("law", "Article")
    parsed = statutes if statutes is not None else parse_law_file(DATA_FILE)
    created = updated = deleted = 0
    with transaction.atomic():
        existing = {s.code: s for s in Statute.objects.all()}
        by_code = {}
        for ps in parsed:
            values = {name: getattr(ps, name) for name in STATUTE_FIELDS}
            statute = existing.get(ps.code)
            if statute is None:
                statute = Statute.objects.create(code=ps.code, **values)
                created += 1
            elif _sync(statute, values):
                statute.save()
                updated += 1
            by_code[ps.code] = statute

        articles = {a.citation_id: a for a in Article.objects.all()}
        wanted = set()
        new, changed = [], []
        position = 0
        for ps in parsed:
            for pa in ps.articles:
                position += 1
                cid = pa.citation_id
                wanted.add(cid)
                values = {
                    "statute_id": by_code[ps.code].pk,
                    "number": pa.number,
                    "suffix": pa.suffix,
                    "label": pa.label,
                    "text": pa.text,
                    "position": position,
                }
                article = articles.get(cid)
                if article is None:
                    new.append(Article(citation_id=cid, **values))
                elif _sync(article, values):
                    changed.append(article)
        # (statute, number, suffix) follows from the citation id, so updates cannot collide.
        stale = [a.pk for cid, a in articles.items() if cid not in wanted]
        if stale:
            deleted += Article.objects.filter(pk__in=stale).delete()[0]
        if changed:
            Article.objects.bulk_update(changed, ARTICLE_FIELDS)
            updated += len(changed)
        Article.objects.bulk_create(new)
        created += len(new)
        gone = Statute.objects.exclude(code__in=list(by_code))
        deleted += gone.count()
        gone.delete()  # their articles were stale above
    return LoadResult(created=created, updated=updated, deleted=deleted)
