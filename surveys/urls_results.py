"""URLs of the survey results pages (included from surveys/urls.py)."""

from django.urls import path

from surveys import views_results

urlpatterns = [
    path("surveys/<slug:slug>/results/", views_results.survey_results_page, name="results"),
    path("surveys/<slug:slug>/results/export/<str:fmt>/", views_results.survey_results_export, name="results-export"),
    path("surveys/<slug:slug>/responses/import/", views_results.survey_responses_import_page, name="responses-import"),
]
