"""The law library: statutes and the articles the product cites, verbatim.

Rows come only from ``data/law_articles.md`` (see ``services.law_library_load``); nothing edits
them by hand. Other rooms refer to an article by its stable ``citation_id`` (SIL-86), a plain
string, never by primary key.
"""

from __future__ import annotations

from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class Statute(models.Model):
    class Kind(models.TextChoices):
        LAW = "law", _("法律")
        REGULATION = "regulation", _("行政法规")
        RULE = "rule", _("部门规章")
        JUDICIAL_INTERPRETATION = "judicial_interpretation", _("司法解释")
        LOCAL_REGULATION = "local_regulation", _("地方性法规")

    class Confidence(models.TextChoices):
        OFFICIAL_TEXT = "official_text", _("官方原文")
        OFFICIAL_TEXT_TRANSCRIBED = "official_text_transcribed", _("官方原文（二手转录，官方页面未核实）")

    code = models.CharField(_("引用编号前缀"), max_length=16, unique=True)  # SIL
    title = models.CharField(_("名称"), max_length=200)  # 中华人民共和国社会保险法
    qualifier = models.CharField(_("说明"), max_length=200, blank=True)  # （地方性法规）
    short_title = models.CharField(_("简称"), max_length=60)  # 社会保险法
    kind = models.CharField(_("类别"), max_length=32, choices=Kind.choices)
    version_note = models.TextField(_("版本"))
    version_date = models.DateField(_("版本日期"))  # the latest date on the 版本 line
    source = models.TextField(_("来源"))
    confidence = models.CharField(_("可信度"), max_length=32, choices=Confidence.choices)
    confidence_note = models.CharField(_("可信度说明"), max_length=200, blank=True)
    # False: the file has no 可信度 line for this statute; the value follows from its source.
    confidence_stated = models.BooleanField(_("可信度为原文件标注"), default=True)
    order = models.PositiveSmallIntegerField(_("顺序"))

    class Meta:
        ordering = ["order"]
        verbose_name = _("法规")
        verbose_name_plural = _("法规")

    def __str__(self) -> str:
        return f"《{self.title}》"

    def get_absolute_url(self) -> str:
        return reverse("law:statute", args=[self.code])


class Article(models.Model):
    statute = models.ForeignKey(
        Statute, on_delete=models.CASCADE, related_name="articles", verbose_name=_("法规")
    )
    number = models.PositiveIntegerField(_("条号"))  # 86
    suffix = models.PositiveSmallIntegerField(_("之几"), default=0)  # 第五十八条之一 → 1
    label = models.CharField(_("条"), max_length=32)  # 第八十六条, as written in the source
    citation_id = models.CharField(_("引用编号"), max_length=32, unique=True)  # SIL-86
    text = models.TextField(_("条文"))  # verbatim; paragraphs separated by a blank line
    position = models.PositiveIntegerField(_("顺序"))  # position in the source file

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["statute", "number", "suffix"], name="law_article_unique_number")
        ]
        verbose_name = _("条文")
        verbose_name_plural = _("条文")

    def __str__(self) -> str:
        return self.citation_id

    def get_absolute_url(self) -> str:
        return reverse("law:article", args=[self.citation_id])

    @property
    def paragraphs(self) -> list[str]:
        return self.text.split("\n\n")

    @property
    def citation(self) -> str:
        """How to cite it in writing: 《中华人民共和国社会保险法》第八十六条."""
        return f"《{self.statute.title}》{self.label}"

    @property
    def short_citation(self) -> str:
        """《社会保险法》第八十六条 — the label of citation links."""
        return f"《{self.statute.short_title}》{self.label}"
