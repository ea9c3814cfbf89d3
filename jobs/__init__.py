"""Workers and the contract they share with the API. `celery -A jobs worker` finds the Celery app in
jobs/celery.py (Celery's own layout); importing this package loads nothing."""
