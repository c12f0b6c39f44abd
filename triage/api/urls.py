from django.urls import path

from triage.api import views

urlpatterns = [
    path("reports/", views.ReportListAPI.as_view(), name="report-list"),
    path("reports/import/", views.ReportImportAPI.as_view(), name="report-import"),
    path("reports/<int:pk>/", views.ReportDetailAPI.as_view(), name="report-detail"),
    path("import-jobs/<int:pk>/", views.ImportJobDetailAPI.as_view(), name="import-job-detail"),
]
