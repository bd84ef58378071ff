"""Django's makemessages, also extracting ``N_(...)``: the modules that import ``gettext_noop as N_``
(the rule kinds' labels, wording templates and parameter descriptions, the finding page's labels)
mark their strings with it, and xgettext knows only the full ``gettext_noop`` name."""

from __future__ import annotations

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    xgettext_options = [*makemessages.Command.xgettext_options, "--keyword=N_"]
