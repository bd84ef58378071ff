from __future__ import annotations

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "启动 Web 服务（waitress，静态文件由 WhiteNoise 提供）"

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--threads", type=int, default=8)

    def handle(self, *args, host: str, port: int, threads: int, **opts):
        from waitress import serve

        from shebao.wsgi import application

        self.stdout.write(f"社保合规助手 Web 服务：http://{host}:{port}/")
        serve(application, host=host, port=port, threads=threads, ident="shebao")
