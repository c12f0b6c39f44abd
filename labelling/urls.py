from django.urls import path

from labelling.views import studies

urlpatterns = [
    path("", studies.study_list, name="study-list"),
]
