from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "shebao.cases"
    verbose_name = "合规案件"
