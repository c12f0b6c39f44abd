from django.urls import path

from triage import crash_views, github_views, views

urlpatterns = [
    path("", views.report_list, name="report-list"),
    path("<int:pk>/", views.report_detail, name="report-detail"),
    path("import/", views.report_import, name="import"),
    path("import/<int:pk>/", views.import_job_detail, name="import-job"),
    path("import/<int:pk>/progress/", views.import_job_progress, name="import-job-progress"),
    path("github/", github_views.github_source_list, name="github-sources"),
    path("github/<int:pk>/", github_views.github_source_detail, name="github-source"),
    path("github/<int:pk>/sync/", github_views.github_source_sync, name="github-source-sync"),
    path("github/runs/<int:pk>/", github_views.github_run_detail, name="github-run"),
    path("github/runs/<int:pk>/progress/", github_views.github_run_progress, name="github-run-progress"),
    path("github/runs/<int:pk>/resume/", github_views.github_run_resume, name="github-run-resume"),
    path("crashes/", crash_views.crash_list, name="crash-list"),
    path("crashes/<int:pk>/", crash_views.crash_detail, name="crash-detail"),
    path("crashes/<int:pk>/merge/", crash_views.crash_merge, name="crash-merge"),
    path("crashes/<int:pk>/split/", crash_views.crash_split, name="crash-split"),
    path("crashes/<int:pk>/known-issues/", crash_views.crash_link_known, name="crash-link-known"),
]
