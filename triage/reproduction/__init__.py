"""Replaying a report's script: reproducers, runs and the runners that execute them.

The pipeline modules (environments, sandbox, oracles, bisect, execute, capture/) are plain
Python with no database access, shared by the runner task and ``manage.py reproduce``;
services, selectors, views, api and tasks hold the database side, as in every feature package.
"""
