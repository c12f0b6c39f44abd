from django.urls import path

from triage.crashes import api as crashes
from triage.github import api as github
from triage.reports import api as views
from triage.reproduction import api as reproduction

urlpatterns = [
    path("reports/", views.ReportListAPI.as_view(), name="report-list"),
    path("reports/import/", views.ReportImportAPI.as_view(), name="report-import"),
    path("reports/<int:pk>/", views.ReportDetailAPI.as_view(), name="report-detail"),
    path("import-jobs/<int:pk>/", views.ImportJobDetailAPI.as_view(), name="import-job-detail"),
    path("github/sources/", github.GitHubSourceListAPI.as_view(), name="github-source-list"),
    path("github/sources/<int:pk>/", github.GitHubSourceDetailAPI.as_view(), name="github-source-detail"),
    path("github/sources/<int:pk>/sync/", github.GitHubSourceSyncAPI.as_view(), name="github-source-sync"),
    path("github/runs/", github.SyncRunListAPI.as_view(), name="github-run-list"),
    path("github/runs/<int:pk>/", github.SyncRunDetailAPI.as_view(), name="github-run-detail"),
    path("crashes/", crashes.CrashIngestAPI.as_view(), name="crash-ingest"),
    path("crash-groups/", crashes.CrashGroupListAPI.as_view(), name="crash-group-list"),
    path("crash-groups/<int:pk>/", crashes.CrashGroupDetailAPI.as_view(), name="crash-group-detail"),
    path("reports/<int:pk>/reproducers/", reproduction.ReportReproducerListAPI.as_view(), name="report-reproducers"),
    path("reproducers/<int:pk>/", reproduction.ReproducerDetailAPI.as_view(), name="reproducer-detail"),
    path("reproducers/<int:pk>/reproductions/", reproduction.ReproductionStartAPI.as_view(), name="reproduction-start"),
    path("reproducers/<int:pk>/bisections/", reproduction.BisectionStartAPI.as_view(), name="bisection-start"),
    path("reproductions/<int:pk>/", reproduction.ReproductionDetailAPI.as_view(), name="reproduction-detail"),
    path("runners/", reproduction.RunnerListAPI.as_view(), name="runner-list"),
]
