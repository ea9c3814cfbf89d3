"""The work itself, on a worker: one module per job kind, the run that fences its writes, the
Celery tasks that are their thin shells, the lease and the sweeper."""
