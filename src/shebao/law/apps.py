from django.apps import AppConfig


class LawConfig(AppConfig):
    name = "shebao.law"
    label = "law"
    verbose_name = "法规库"
