from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from shebao.core import crypto


class Command(BaseCommand):
    help = "数据加密密钥：keys status / keys rotate / keys reencrypt"

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["status", "rotate", "reencrypt"])

    def handle(self, *args, action: str, **opts):
        from shebao.roster.services import employees_reencrypt

        ring = crypto.keyring()
        if action == "status":
            self.stdout.write(
                f"密钥来源：{ring.source}\n主密钥：{ring.primary}\n全部密钥：{', '.join(ring.keys)}"
            )
        elif action == "rotate":
            if ring.source == "env":
                raise CommandError(
                    "密钥来自环境变量 SHEBAO_DATA_KEYS：请在其最前面加入新密钥（kid:base64），重启后运行 shebao keys reencrypt"
                )
            kid = crypto.rotate_file_keys(settings.INSTANCE_DIR)
            crypto.keyring.cache_clear()
            self.stdout.write(
                f"已生成新的主密钥 {kid}；旧密钥保留用于解密。请运行 shebao keys reencrypt 重新加密存量数据。"
            )
        else:
            n = employees_reencrypt()
            self.stdout.write(f"已用主密钥 {ring.primary} 重新加密 {n} 名员工的个人信息")
