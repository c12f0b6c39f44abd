from django.urls import path

from triage.crashes import views as crash_views
from triage.github import views as github_views
from triage.reports import views
from triage.reproduction import views as reproduction_views

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
    path("<int:pk>/reproduction/", reproduction_views.report_reproduction_section, name="report-reproduction"),
    path("<int:pk>/reproducers/new/", reproduction_views.reproducer_new, name="reproducer-new"),
    path("reproducers/<int:pk>/run/", reproduction_views.reproducer_run, name="reproducer-run"),
    path("reproducers/<int:pk>/bisect/", reproduction_views.reproducer_bisect, name="reproducer-bisect"),
    path("reproductions/<int:pk>/", reproduction_views.reproduction_detail, name="reproduction-detail"),
    path("reproductions/<int:pk>/progress/", reproduction_views.reproduction_progress, name="reproduction-progress"),
    path("runs/<int:pk>/", reproduction_views.run_detail, name="run-detail"),
    path("runners/", reproduction_views.runner_list, name="runner-list"),
]
