from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "shebao.notify"
    label = "notify"
    verbose_name = "通知"
