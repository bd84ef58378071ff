from huey.contrib.djhuey.management.commands.run_huey import Command as RunHuey


class Command(RunHuey):
    help = "运行后台任务进程（Huey consumer：导入、同步、通知与定时任务）"
