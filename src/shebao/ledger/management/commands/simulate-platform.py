"""`shebao simulate-platform`: the hyphenated name of `shebao simulate_platform` (Django finds commands by module name)."""

from shebao.ledger.management.commands.simulate_platform import Command

__all__ = ["Command"]
