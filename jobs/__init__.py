"""Workers: the Celery app, the tasks, the job store and the event publisher.

`celery -A jobs worker` finds the app as `jobs.celery`.
"""

from jobs.app import celery

__all__ = ["celery"]
