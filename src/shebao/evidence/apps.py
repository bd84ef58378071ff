from django.apps import AppConfig


class EvidenceConfig(AppConfig):
    name = "shebao.evidence"
    verbose_name = "证据链"
