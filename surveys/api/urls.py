from django.urls import path

from surveys.api import results, views

urlpatterns = [
    path("surveys/", views.SurveyListCreateView.as_view(), name="survey-list"),
    path("surveys/respond/<str:survey_token>/", views.RespondView.as_view(), name="survey-respond"),
    path("surveys/<slug:survey>/results/", results.SurveyResultsApi.as_view(), name="survey-results"),
    path("surveys/<slug:survey>/export/", results.SurveyExportApi.as_view(), name="survey-export"),
    path(
        "surveys/<slug:survey>/responses/import/",
        results.SurveyResponsesImportApi.as_view(),
        name="survey-responses-import",
    ),
]
