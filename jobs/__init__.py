"""Workers and the contract they share with the API: `core/` (the contract), `cv/` (the CV-text kit),
`work/` (the work itself). `celery -A jobs worker` finds the Celery app in jobs/celery.py (Celery's
own layout); importing this package loads nothing. C1-C11 in comments name the contracts of
docs/architecture.md."""
