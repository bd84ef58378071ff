"""A finding routed to a webhook channel on a local fake provider (the CLI and API tests)."""

from __future__ import annotations

import datetime as dt
import io
import json

from django.core.management import call_command

from shebao.notify.models import Channel


def webhook_finding(org, make_employee, fakes, *, recipients: list[str]) -> Channel:
    """Entity BJ01 with ledger data, a `钩子` webhook channel added with `shebao channel add`,
    the registration rule routed to ``recipients`` (+ that channel) and one overdue new hire,
    evaluated as of 2025-06-20. Returns the channel."""
    from shebao.rules.tests.factories import Book, evaluate, months, only_rule

    book = Book(org["bj"])
    book.pay(
        book.person(make_employee(hire_date=dt.date(2020, 1, 1))), "pension", months("2024-07", "2025-06")
    )
    config = json.dumps(fakes.config("webhook"))
    call_command(
        "channel", "add", "--kind", "webhook", "--name", "钩子", "--config", config, stdout=io.StringIO()
    )
    channel = Channel.objects.get(name="钩子")
    only_rule("registration_overdue", routing={"recipients": recipients, "channels": [channel.pk]})
    make_employee(hire_date=dt.date(2025, 4, 1))
    evaluate(dt.date(2025, 6, 20), "registration_overdue")
    return channel
