from django.apps import AppConfig


class OrgConfig(AppConfig):
    name = "shebao.org"
    label = "org"
    verbose_name = "组织"
