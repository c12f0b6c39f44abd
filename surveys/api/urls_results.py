"""API URLs of survey results, exports and response imports (included from surveys/api/urls.py)."""

from django.urls import path

from surveys.api import results

urlpatterns = [
    path("surveys/<slug:slug>/results/", results.SurveyResultsApi.as_view(), name="survey-results"),
    path("surveys/<slug:slug>/export/", results.SurveyExportApi.as_view(), name="survey-export"),
    path(
        "surveys/<slug:slug>/responses/import/",
        results.SurveyResponsesImportApi.as_view(),
        name="survey-responses-import",
    ),
]
