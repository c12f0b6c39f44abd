"""Which of a study's charts a user may read (the page, the API and the chart pages ask here)."""

from __future__ import annotations

from config.errors import ApplicationError
from labelling.analytics.charts import ABOUT_ANNOTATORS
from labelling.permissions import can_view_agreement


def sees_annotator_charts(user, study) -> bool:
    """The agreement and progress charts are about the annotators: owners and viewers only
    (``can_view_agreement``); an adjudicator sees the other charts."""
    return can_view_agreement(user, study)


def check_chart_access(user, study, chart_id: str) -> None:
    if chart_id in ABOUT_ANNOTATORS and not sees_annotator_charts(user, study):
        raise ApplicationError(f"The '{chart_id}' chart is about the annotators: owners and viewers only.", status=403)
