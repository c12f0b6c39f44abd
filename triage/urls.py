from django.urls import path

from triage import views

urlpatterns = [
    path("", views.report_list, name="report-list"),
    path("<int:pk>/", views.report_detail, name="report-detail"),
    path("import/", views.report_import, name="import"),
    path("import/<int:pk>/", views.import_job_detail, name="import-job"),
    path("import/<int:pk>/progress/", views.import_job_progress, name="import-job-progress"),
]
