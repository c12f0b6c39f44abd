"""Pages of triage (under /reports/, namespace ``triage``): each feature's routes, in one list."""

from triage.crashes import urls as crashes
from triage.github import urls as github
from triage.reports import urls as reports
from triage.reproduction import urls as reproduction

urlpatterns = [*reports.urlpatterns, *github.urlpatterns, *crashes.urlpatterns, *reproduction.urlpatterns]
