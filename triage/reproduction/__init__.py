"""Replaying a report's script: environments, the bubblewrap sandbox, oracles and bisection.

Plain Python with no database access, shared by the Celery runner task
(``triage.reproduction.services``) and ``manage.py reproduce``.
"""
