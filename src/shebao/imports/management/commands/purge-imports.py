"""`shebao purge-imports`: the hyphenated name of `shebao purge_imports` (Django finds commands by module name)."""

from shebao.imports.management.commands.purge_imports import Command

__all__ = ["Command"]
