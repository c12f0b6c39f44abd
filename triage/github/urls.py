"""Routes of GitHub sources and their sync runs: pages (under /reports/) and API (under /api/).

Included by triage/urls.py and triage/api_urls.py, which keep the URL names of the app namespaces.
"""

from django.urls import path

from triage.github import api, views

urlpatterns = [
    path("github/", views.github_source_list, name="github-sources"),
    path("github/<int:pk>/", views.github_source_detail, name="github-source"),
    path("github/<int:pk>/sync/", views.github_source_sync, name="github-source-sync"),
    path("github/runs/<int:pk>/", views.github_run_detail, name="github-run"),
    path("github/runs/<int:pk>/progress/", views.github_run_progress, name="github-run-progress"),
    path("github/runs/<int:pk>/resume/", views.github_run_resume, name="github-run-resume"),
]

api_urlpatterns = [
    path("github/sources/", api.GitHubSourceListAPI.as_view(), name="github-source-list"),
    path("github/sources/<int:pk>/", api.GitHubSourceDetailAPI.as_view(), name="github-source-detail"),
    path("github/sources/<int:pk>/sync/", api.GitHubSourceSyncAPI.as_view(), name="github-source-sync"),
    path("github/runs/", api.SyncRunListAPI.as_view(), name="github-run-list"),
    path("github/runs/<int:pk>/", api.SyncRunDetailAPI.as_view(), name="github-run-detail"),
]
