from django.urls import path

from surveys.api import views

urlpatterns = [
    path("surveys/", views.SurveyListCreateView.as_view(), name="survey-list"),
    path("surveys/respond/<str:survey_token>/", views.RespondView.as_view(), name="survey-respond"),
]
