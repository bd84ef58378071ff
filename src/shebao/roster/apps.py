from django.apps import AppConfig


class RosterConfig(AppConfig):
    name = "shebao.roster"
    label = "roster"
    verbose_name = "花名册"
