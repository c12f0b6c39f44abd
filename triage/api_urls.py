"""API of triage (under /api/, namespace ``triage-api``): each feature's routes, in one list."""

from triage.crashes import urls as crashes
from triage.github import urls as github
from triage.reports import urls as reports
from triage.reproduction import urls as reproduction

urlpatterns = [
    *reports.api_urlpatterns,
    *github.api_urlpatterns,
    *crashes.api_urlpatterns,
    *reproduction.api_urlpatterns,
]
