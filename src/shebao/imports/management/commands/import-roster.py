"""`shebao import-roster`: the hyphenated name of `shebao import_roster` (Django finds commands by module name)."""

from shebao.imports.management.commands.import_roster import Command

__all__ = ["Command"]
