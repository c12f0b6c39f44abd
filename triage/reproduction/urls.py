"""Routes of reproducers, reproductions and their runs, runners: pages (under /reports/) and API (under /api/).

Included by triage/urls.py and triage/api_urls.py, which keep the URL names of the app namespaces.
"""

from django.urls import path

from triage.reproduction import api, views

urlpatterns = [
    path("<int:pk>/reproduction/", views.report_reproduction_section, name="report-reproduction"),
    path("<int:pk>/reproducers/new/", views.reproducer_new, name="reproducer-new"),
    path("reproducers/<int:pk>/run/", views.reproducer_run, name="reproducer-run"),
    path("reproducers/<int:pk>/bisect/", views.reproducer_bisect, name="reproducer-bisect"),
    path("reproductions/<int:pk>/", views.reproduction_detail, name="reproduction-detail"),
    path("reproductions/<int:pk>/progress/", views.reproduction_progress, name="reproduction-progress"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/rejudge/", views.run_rejudge_view, name="run-rejudge"),
    path("runners/", views.runner_list, name="runner-list"),
]

api_urlpatterns = [
    path("reports/<int:pk>/reproducers/", api.ReportReproducerListAPI.as_view(), name="report-reproducers"),
    path("reproducers/<int:pk>/", api.ReproducerDetailAPI.as_view(), name="reproducer-detail"),
    path("reproducers/<int:pk>/reproductions/", api.ReproductionStartAPI.as_view(), name="reproduction-start"),
    path("reproducers/<int:pk>/bisections/", api.BisectionStartAPI.as_view(), name="bisection-start"),
    path("reproductions/<int:pk>/", api.ReproductionDetailAPI.as_view(), name="reproduction-detail"),
    path("reproduction-runs/<int:pk>/rejudge/", api.RunRejudgeAPI.as_view(), name="run-rejudge"),
    path("runners/", api.RunnerListAPI.as_view(), name="runner-list"),
]
