from django.urls import path

from surveys.api import views

urlpatterns = [
    path("surveys/", views.SurveyListCreateView.as_view(), name="survey-list"),
    path("surveys/respond/<str:token>/", views.RespondView.as_view(), name="survey-respond"),
]
