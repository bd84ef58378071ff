"""What other rooms show of cases: ``{% load case_tags %}`` then

* ``{% finding_case finding as fc %}``: the finding's case (an open one first, else the latest)
  as ``fc.case``, and the workflow a one-click 立案 would use as ``fc.template`` (None when no
  template lists the finding's kind: the page then links to the form that picks one);
* ``{% case_templates as templates %}``: the enabled workflow templates (for the inbox's
  batch 立案).
"""

from __future__ import annotations

from django import template
from django.db.models import Case as When_
from django.db.models import IntegerField, Value, When

from shebao.cases.models import Case, WorkflowTemplate

register = template.Library()


@register.simple_tag
def finding_case(finding) -> dict:
    from shebao.cases.services import template_for_finding

    case = (
        Case.objects.filter(finding=finding)
        .annotate(
            _open=When_(
                When(status=Case.Status.OPEN, then=Value(0)), default=Value(1), output_field=IntegerField()
            )
        )
        .order_by("_open", "-id")
        .first()
    )
    open_case = case if case is not None and case.is_open else None
    return {
        "case": case,
        "open": open_case,
        "template": None if open_case else template_for_finding(finding),
    }


@register.simple_tag
def case_templates():
    return WorkflowTemplate.objects.filter(enabled=True).exclude(current=None).order_by("id")
