"""The contract the API and the workers share (docs/architecture.md): key names, the event and its
atomic emit script, job records, errors, plans and quotas, dispatch, the stored outputs. Import-pure:
nothing here loads Celery."""
