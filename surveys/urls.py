from django.urls import path

from surveys.views import builder, respond, results

urlpatterns = [
    # the study owner's pages
    path("studies/<slug:slug>/surveys/", builder.survey_list, name="survey-list"),
    path("surveys/<slug:survey>/edit/", builder.survey_edit, name="survey-edit"),
    path("surveys/<slug:survey>/status/", builder.survey_status, name="survey-status"),
    path("surveys/<slug:survey>/invitations/", builder.survey_invitations, name="survey-invitations"),
    path("surveys/<slug:survey>/settings/", builder.survey_settings, name="survey-settings"),
    path("surveys/<slug:survey>/open-link/", builder.survey_open_link, name="survey-open-link"),
    # results (owners, viewers, adjudicators) and importing responses (owners)
    path("surveys/<slug:survey>/results/", results.survey_results_page, name="results"),
    path("surveys/<slug:survey>/results/export/<str:fmt>/", results.survey_results_export, name="results-export"),
    path("surveys/<slug:survey>/responses/import/", results.survey_responses_import_page, name="responses-import"),
    # the respondent's pages (public, no account)
    path("s/<str:survey_token>/", respond.respond, name="respond"),
    path("s/<str:survey_token>/<int:number>/", respond.respond_section, name="respond-section"),
]
