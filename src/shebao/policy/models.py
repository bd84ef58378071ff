from __future__ import annotations

import re
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from shebao.policy.terms import Confidence, Insurance, Rounding


class City(models.Model):
    """A social-insurance pooling area, keyed by its GB/T 2260 administrative division code."""

    code = models.CharField(_("行政区划代码"), max_length=6, unique=True)
    name = models.CharField(_("名称"), max_length=40)  # 深圳市
    short_name = models.CharField(_("简称"), max_length=40, db_index=True)  # 深圳
    province = models.CharField(_("省级"), max_length=40)

    class Meta:
        ordering = ["code"]
        verbose_name = _("城市")
        verbose_name_plural = _("城市")

    def __str__(self) -> str:
        return self.name


# Choices built from the shared value types, so the database and the calculators agree.
INSURANCE_CHOICES = [
    (Insurance.PENSION.value, _("养老保险")),
    (Insurance.MEDICAL.value, _("医疗保险")),
    (Insurance.MATERNITY.value, _("生育保险")),
    (Insurance.UNEMPLOYMENT.value, _("失业保险")),
    (Insurance.WORK_INJURY.value, _("工伤保险")),
    (Insurance.HOUSING_FUND.value, _("住房公积金")),
    (Insurance.MEDICAL_SUPPLEMENT.value, _("医疗附加（固定金额）")),
]
CONFIDENCE_CHOICES = [
    (Confidence.OFFICIAL.value, _("官方原文")),
    (Confidence.SECONDARY_OFFICIAL_URL.value, _("有官方出处的二手数据")),
    (Confidence.SECONDARY_NO_URL.value, _("无出处")),
    (Confidence.DISPUTED.value, _("存在争议")),
    (Confidence.UNVERIFIED.value, _("未核实")),
]
ROUNDING_CHOICES = [
    (Rounding.FEN.value, _("四舍五入到分")),
    (Rounding.YUAN.value, _("四舍五入到元")),
    (Rounding.UP_YUAN.value, _("见角进元")),
    (Rounding.UP_JIAO.value, _("见分进角")),
]


class FigureField(models.TextChoices):
    BASE_MIN = "base_min", _("基数下限")
    BASE_MAX = "base_max", _("基数上限")
    EMPLOYER_RATE = "employer_rate", _("单位费率")
    EMPLOYEE_RATE = "employee_rate", _("个人费率")
    EMPLOYER_FIXED = "employer_fixed", _("单位固定金额")
    EMPLOYEE_FIXED = "employee_fixed", _("个人固定金额")
    ROUNDING = "rounding", _("舍入规则")
    MERGED_INTO = "merged_into", _("并入险种")
    # Period-level figures (insurance is null).
    AVERAGE_WAGE = "average_wage", _("上年度社平工资")
    AVERAGE_WAGE_PROVINCE = "average_wage_province", _("省级上年度社平工资")
    PAYMENT_DUE_DAY = "payment_due_day", _("缴费截止日")
    CUTOFF_DAY = "cutoff_day", _("增减员截止日")


INSURANCE_FIELDS = (
    FigureField.BASE_MIN,
    FigureField.BASE_MAX,
    FigureField.EMPLOYER_RATE,
    FigureField.EMPLOYEE_RATE,
    FigureField.EMPLOYER_FIXED,
    FigureField.EMPLOYEE_FIXED,
)
PERIOD_FIELDS = (
    FigureField.AVERAGE_WAGE,
    FigureField.AVERAGE_WAGE_PROVINCE,
    FigureField.PAYMENT_DUE_DAY,
    FigureField.CUTOFF_DAY,
)
RATE_FIELDS = (FigureField.EMPLOYER_RATE, FigureField.EMPLOYEE_RATE)
AMOUNT_FIELDS = (
    FigureField.BASE_MIN,
    FigureField.BASE_MAX,
    FigureField.AVERAGE_WAGE,
    FigureField.AVERAGE_WAGE_PROVINCE,
)
FIXED_FIELDS = (FigureField.EMPLOYER_FIXED, FigureField.EMPLOYEE_FIXED)
DAY_FIELDS = (FigureField.PAYMENT_DUE_DAY, FigureField.CUTOFF_DAY)
TEXT_FIELDS = (FigureField.ROUNDING, FigureField.MERGED_INTO)  # stored in text_value

_URL = re.compile(r"https?://[^\s<>\"'，。；、（）()《》【】]+")
_DOC_NO = re.compile(r"[\u4e00-\u9fff]{1,8}[〔\[【]\d{4}[〕\]】]\d+号")
_TITLE = re.compile(r"《([^《》]{2,80})》")
_PUBLISHER = re.compile(
    r"[\u4e00-\u9fff]{0,12}?(?:人力资源和社会保障(?:局|厅|部)|医疗保障局|住房公积金管理(?:中心|委员会)"
    r"|税务局|人民政府办公厅|人民政府|国务院办公厅|国务院)"
)


def source_parts(text: str) -> dict[str, str]:
    """The document number (京人社发〔2025〕11号), title, publisher and first URL quoted in a source text."""
    urls = [u.rstrip(".,:;") for u in _URL.findall(text or "")]
    doc = _DOC_NO.search(text or "")
    title = _TITLE.search(text or "")
    publisher = _PUBLISHER.search(text or "")
    return {
        "url": urls[0] if urls else "",
        "doc_no": doc.group(0) if doc else "",
        "title": title.group(1) if title else "",
        "publisher": publisher.group(0) if publisher else "",
    }


class PolicySource(models.Model):
    """A source as quoted (from the shipped file or by the HR admin who corrected a figure).

    ``doc_no``, ``publisher`` and ``url`` are extracted from the text where it contains them;
    the text itself is the record.
    """

    text = models.TextField(_("来源原文"))
    digest = models.CharField(max_length=64, unique=True, editable=False)  # sha256 of the text
    doc_no = models.CharField(_("文号"), max_length=80, blank=True)
    title = models.CharField(_("文件标题"), max_length=200, blank=True)
    publisher = models.CharField(_("发布机关"), max_length=100, blank=True)
    url = models.URLField(_("网址"), max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("来源")
        verbose_name_plural = _("来源")

    def __str__(self) -> str:
        return self.doc_no or self.title or self.text[:60]

    @property
    def urls(self) -> list[str]:
        return [u.rstrip(".,:;") for u in _URL.findall(self.text)]


class PolicyPeriod(models.Model):
    """An effective-dated set of a city's contribution figures (e.g. 北京 2024年度)."""

    city = models.ForeignKey(
        City, on_delete=models.PROTECT, related_name="policy_periods", verbose_name=_("城市")
    )
    label = models.CharField(_("期间"), max_length=60)
    effective_from = models.DateField(_("生效日期"))
    effective_to = models.DateField(_("失效日期"), null=True, blank=True)
    published = models.DateField(_("发布日期"), null=True, blank=True)
    notes = models.TextField(_("说明"), blank=True)  # caveats and notes, as quoted from the source data
    insurance_notes = models.JSONField(_("险种说明"), default=dict, blank=True)  # insurance → note
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["city__code", "effective_from"]
        verbose_name = _("政策期间")
        verbose_name_plural = _("政策期间")
        constraints = [
            models.UniqueConstraint(fields=["city", "label"], name="policy_period_unique_label"),
        ]

    def __str__(self) -> str:
        return f"{self.city.name} {self.label}"


class PolicyFigure(models.Model):
    """One figure of a period: a value (null = 未收录, never a guessed zero), its confidence and source."""

    period = models.ForeignKey(
        PolicyPeriod, on_delete=models.CASCADE, related_name="figures", verbose_name=_("期间")
    )
    # "" (not NULL, so the unique constraint holds on every database): a period-level figure
    # such as 社平工资 or 缴费截止日.
    insurance = models.CharField(_("险种"), max_length=24, choices=INSURANCE_CHOICES, blank=True)
    field = models.CharField(_("项目"), max_length=24, choices=FigureField.choices)
    value = models.DecimalField(_("数值"), max_digits=16, decimal_places=6, null=True, blank=True)
    text_value = models.CharField(_("取值"), max_length=24, blank=True)  # rounding / merged_into
    confidence = models.CharField(
        _("可信度"), max_length=32, choices=CONFIDENCE_CHOICES, default=Confidence.UNVERIFIED.value
    )
    source = models.ForeignKey(
        PolicySource,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="figures",
        verbose_name=_("来源"),
    )
    note = models.TextField(_("备注"), blank=True)
    assumed = models.BooleanField(_("默认值"), default=False)  # filled by a documented default, not a source
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("核验人"),
    )
    verified_at = models.DateTimeField(_("核验时间"), null=True, blank=True)
    verified_against = models.TextField(_("核验依据"), blank=True)  # 文号 / URL of the official notice
    verification_note = models.TextField(_("核验说明"), blank=True)
    corrected_at = models.DateTimeField(_("更正时间"), null=True, blank=True)

    class Meta:
        ordering = ["period", "insurance", "field"]
        verbose_name = _("政策数据项")
        verbose_name_plural = _("政策数据项")
        constraints = [
            models.UniqueConstraint(fields=["period", "insurance", "field"], name="policy_figure_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.period} {self.get_insurance_display() or ''}{self.get_field_display()}"

    @property
    def known(self) -> bool:
        return self.text_value != "" if self.field in TEXT_FIELDS else self.value is not None

    @property
    def protected(self) -> bool:
        """Verified or corrected by a person: the shipped data never overwrites it."""
        return self.verified_at is not None or self.corrected_at is not None

    @property
    def display(self) -> str:
        """The value as shown: 16%, 6821, 15日, 四舍五入到分 ("" when missing: the page says 未收录)."""
        if self.field in TEXT_FIELDS:
            choices = dict(ROUNDING_CHOICES if self.field == FigureField.ROUNDING else INSURANCE_CHOICES)
            return str(choices.get(self.text_value, self.text_value)) if self.text_value else ""
        if self.value is None:
            return ""
        if self.field in RATE_FIELDS:
            return f"{format((self.value * 100).normalize(), 'f')}%"
        if self.field in DAY_FIELDS:
            return _("%(day)s日") % {"day": int(self.value)}
        whole = self.value == self.value.to_integral_value()
        return format(self.value.quantize(Decimal(1)) if whole else self.value.normalize(), "f")


class PolicyFigureRevision(models.Model):
    """The history of a figure: each verification, correction or import."""

    class Kind(models.TextChoices):
        VERIFY = "verify", _("核验")
        CORRECT = "correct", _("更正")
        IMPORT = "import", _("导入")

    figure = models.ForeignKey(PolicyFigure, on_delete=models.CASCADE, related_name="revisions")
    kind = models.CharField(_("类型"), max_length=12, choices=Kind.choices)
    old_value = models.CharField(_("原数值"), max_length=40, blank=True)  # "" = 未收录
    new_value = models.CharField(_("新数值"), max_length=40, blank=True)
    old_confidence = models.CharField(_("原可信度"), max_length=32, choices=CONFIDENCE_CHOICES)
    new_confidence = models.CharField(_("新可信度"), max_length=32, choices=CONFIDENCE_CHOICES)
    old_source = models.ForeignKey(
        PolicySource, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    new_source = models.ForeignKey(
        PolicySource, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("操作人"),
    )
    changed_by_label = models.CharField(_("操作人"), max_length=150, blank=True)
    changed_at = models.DateTimeField(_("时间"), auto_now_add=True)
    reason = models.TextField(_("原因"), blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        verbose_name = _("政策数据修订")
        verbose_name_plural = _("政策数据修订")

    def __str__(self) -> str:
        return f"{self.figure} {self.get_kind_display()} {self.changed_at:%Y-%m-%d %H:%M}"


class NationalRule(models.Model):
    """A national reference figure (e.g. pension employee 8%): shown for reference, never copied
    into a city's periods."""

    insurance = models.CharField(_("险种"), max_length=24, choices=INSURANCE_CHOICES, blank=True)
    key = models.CharField(_("项目"), max_length=40)
    value = models.DecimalField(_("数值"), max_digits=16, decimal_places=6, null=True, blank=True)
    confidence = models.CharField(
        _("可信度"), max_length=32, choices=CONFIDENCE_CHOICES, default=Confidence.UNVERIFIED.value
    )
    source = models.ForeignKey(
        PolicySource, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(_("备注"), blank=True)

    class Meta:
        ordering = ["insurance", "key"]
        verbose_name = _("全国性规则")
        verbose_name_plural = _("全国性规则")
        constraints = [models.UniqueConstraint(fields=["insurance", "key"], name="national_rule_unique")]

    def __str__(self) -> str:
        return f"{self.insurance} {self.key}"

    @property
    def display(self) -> str:
        # Every national figure in the library is a rate (a fraction).
        return "" if self.value is None else f"{format((self.value * 100).normalize(), 'f')}%"


class CityRule(models.Model):
    """A city rule in words (waiting periods, flexible-employment rates …), from ``other_rules``."""

    city = models.ForeignKey(City, on_delete=models.PROTECT, related_name="policy_rules")
    text = models.TextField(_("规则"))
    document = models.CharField(_("文件"), max_length=200, blank=True)
    effective_from = models.DateField(_("生效日期"), null=True, blank=True)
    effective_to = models.DateField(_("失效日期"), null=True, blank=True)
    source = models.ForeignKey(
        PolicySource, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confidence = models.CharField(
        _("可信度"), max_length=32, choices=CONFIDENCE_CHOICES, default=Confidence.UNVERIFIED.value
    )

    class Meta:
        ordering = ["city__code", "effective_from", "id"]
        verbose_name = _("城市规则")
        verbose_name_plural = _("城市规则")

    def __str__(self) -> str:
        return f"{self.city.name}：{self.text[:40]}"


class UnverifiedCandidate(models.Model):
    """Values seen in some source but not adopted (未采用的候选数据). Shown with a warning for
    checking, NEVER used in a calculation."""

    city = models.ForeignKey(City, on_delete=models.PROTECT, related_name="policy_candidates")
    period = models.ForeignKey(
        PolicyPeriod, null=True, blank=True, on_delete=models.CASCADE, related_name="candidates"
    )
    values = models.TextField(_("候选数值"))
    source = models.ForeignKey(
        PolicySource, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(_("备注"), blank=True)

    class Meta:
        ordering = ["city__code", "id"]
        verbose_name = _("未采用的候选数据")
        verbose_name_plural = _("未采用的候选数据")

    def __str__(self) -> str:
        return f"{self.city.name}：{self.values[:40]}"


class EntityPolicySetting(models.Model):
    """An employer's own rates, overriding the city's: work injury by industry class (工伤保险条例
    第8条), housing fund chosen within the legal range (住房公积金管理条例第18条: at least 5 %)."""

    entity = models.OneToOneField(
        "org.Entity", on_delete=models.CASCADE, related_name="policy_setting", verbose_name=_("参保主体")
    )
    industry_class = models.CharField(_("行业类别"), max_length=40, blank=True)  # 一类 … 八类
    work_injury_rate = models.DecimalField(
        _("工伤保险单位费率"), max_digits=8, decimal_places=6, null=True, blank=True
    )
    housing_fund_employer_rate = models.DecimalField(
        _("公积金单位缴存比例"), max_digits=8, decimal_places=6, null=True, blank=True
    )
    housing_fund_employee_rate = models.DecimalField(
        _("公积金个人缴存比例"), max_digits=8, decimal_places=6, null=True, blank=True
    )
    # 增减员截止日: a change submitted on or before this day of a month takes effect that month.
    # No city's day is sourced in the policy library, so the employer records its own (and the
    # notice it rests on in ``basis``); reconciliation treats the boundary months as uncertain
    # without it.
    cutoff_day = models.PositiveSmallIntegerField(_("增减员截止日"), null=True, blank=True)
    effective_from = models.DateField(_("生效日期"), null=True, blank=True)
    basis = models.TextField(_("依据"), blank=True)  # e.g. 工伤保险费率核定通知书、公积金缴存登记
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("参保主体费率设置")
        verbose_name_plural = _("参保主体费率设置")

    def __str__(self) -> str:
        return str(self.entity)
