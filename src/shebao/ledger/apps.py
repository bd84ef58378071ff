from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "shebao.ledger"
    label = "ledger"
    verbose_name = "缴费台账"
