"""Django app: models, views, API, forms, admin, Celery task wrappers and commands."""
