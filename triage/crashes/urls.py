"""Routes of crash groups (fuzzer findings grouped by signature): pages (under /reports/) and API (under /api/).

Included by triage/urls.py and triage/api_urls.py, which keep the URL names of the app namespaces.
"""

from django.urls import path

from triage.crashes import api, views

urlpatterns = [
    path("crashes/", views.crash_list, name="crash-list"),
    path("crashes/<int:pk>/", views.crash_detail, name="crash-detail"),
    path("crashes/<int:pk>/merge/", views.crash_merge, name="crash-merge"),
    path("crashes/<int:pk>/split/", views.crash_split, name="crash-split"),
    path("crashes/<int:pk>/known-issues/", views.crash_link_known, name="crash-link-known"),
]

api_urlpatterns = [
    path("crashes/", api.CrashIngestAPI.as_view(), name="crash-ingest"),
    path("crash-groups/", api.CrashGroupListAPI.as_view(), name="crash-group-list"),
    path("crash-groups/<int:pk>/", api.CrashGroupDetailAPI.as_view(), name="crash-group-detail"),
]
