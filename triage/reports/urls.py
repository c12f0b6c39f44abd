"""Routes of report lists and pages, report-file import jobs: pages (under /reports/) and API (under /api/).

Included by triage/urls.py and triage/api_urls.py, which keep the URL names of the app namespaces.
"""

from django.urls import path

from triage.reports import api, views

urlpatterns = [
    path("", views.report_list, name="report-list"),
    path("overview/", views.reports_overview, name="reports-overview"),
    path("<int:pk>/", views.report_detail, name="report-detail"),
    path("import/", views.report_import, name="import"),
    path("import/<int:pk>/", views.import_job_detail, name="import-job"),
    path("import/<int:pk>/progress/", views.import_job_progress, name="import-job-progress"),
]

api_urlpatterns = [
    path("reports/", api.ReportListAPI.as_view(), name="report-list"),
    path("reports/import/", api.ReportImportAPI.as_view(), name="report-import"),
    path("reports/overview/", api.ReportsOverviewAPI.as_view(), name="reports-overview"),
    path(
        "reports/overview/<slug:overview_chart>/", api.ReportsOverviewChartAPI.as_view(), name="reports-overview-chart"
    ),
    path("reports/<int:pk>/", api.ReportDetailAPI.as_view(), name="report-detail"),
    path("import-jobs/<int:pk>/", api.ImportJobDetailAPI.as_view(), name="import-job-detail"),
]
