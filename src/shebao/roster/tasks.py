from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from shebao.roster.services import employee_refresh_statuses


@db_periodic_task(crontab(minute="5", hour="0"))
def employee_refresh_statuses_task() -> int:
    """Daily after midnight (Asia/Shanghai is set by TIME_ZONE): hires start, leavers leave."""
    return employee_refresh_statuses()
