from django.urls import path  # noqa: F401

from surveys.api.urls_results import urlpatterns as results_urlpatterns

urlpatterns = []
urlpatterns += results_urlpatterns
