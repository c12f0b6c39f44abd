"""Logging filters (settings.LOGGING).

Django logs every PermissionDenied (and bad request) with its traceback on ``django.request``: a
walk through the pages as a viewer writes dozens of tracebacks for refusals that are the access
rules working. ``OneLineClientErrors`` keeps the one line ("Forbidden (Permission denied):
/studies/x/settings/") and drops the traceback of 4xx responses; 5xx keep theirs.
"""

from __future__ import annotations

import logging


class OneLineClientErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if status is not None and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
