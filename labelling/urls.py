from django.urls import path

from labelling.releases import views as release_views
from labelling.views import adjudication as adjudication_views
from labelling.views import agreement as agreement_views
from labelling.views import analytics as analytics_views
from labelling.views import codebook as codebook_views
from labelling.views import disagreements as disagreement_views
from labelling.views import export as export_views
from labelling.views import invitations as invitation_views
from labelling.views import item_detail as item_detail_views
from labelling.views import items as item_views
from labelling.views import label as label_views
from labelling.views import rounds as round_views
from labelling.views import screening as screening_views
from labelling.views import studies

urlpatterns = [
    path("", studies.study_list, name="study-list"),
    # studies, codebook, items, screening, assignments (studies helper)
    path("studies/new/", studies.study_create_view, name="study-create"),
    path("studies/<slug:slug>/", studies.study_detail, name="study-detail"),
    path("studies/<slug:slug>/settings/", studies.study_settings, name="study-settings"),
    path("studies/<slug:slug>/settings/decision-rules/", studies.study_decision_rule, name="study-decision-rule"),
    path("studies/<slug:slug>/settings/members/", studies.study_member_add, name="study-member-add"),
    path("studies/<slug:slug>/settings/members/<int:user_id>/", studies.study_member_change, name="study-member"),
    path(
        "studies/<slug:slug>/settings/invitations/",
        invitation_views.invitations_create_view,
        name="study-invitations",
    ),
    path(
        "studies/<slug:slug>/settings/invitations/<int:pk>/revoke/",
        invitation_views.invitation_revoke_view,
        name="study-invitation-revoke",
    ),
    path("invite/<str:token>/", invitation_views.invite, name="invite"),
    path("studies/<slug:slug>/assignments/", studies.assignments_make_view, name="assignments"),
    path("studies/<slug:slug>/codebook/", codebook_views.codebook, name="codebook"),
    path("studies/<slug:slug>/codebook/export/", codebook_views.codebook_export_view, name="codebook-export"),
    path(
        "studies/<slug:slug>/codebook/categories/<int:pk>/change/",
        codebook_views.category_change,
        name="category-change",
    ),
    path(
        "studies/<slug:slug>/codebook/dimensions/<int:pk>/rename/",
        codebook_views.dimension_rename_view,
        name="dimension-rename",
    ),
    path("studies/<slug:slug>/codebook/dimensions/", codebook_views.dimension_add, name="dimension-add"),
    path("studies/<slug:slug>/codebook/dimensions/<int:pk>/", codebook_views.dimension_edit, name="dimension-edit"),
    path(
        "studies/<slug:slug>/codebook/dimensions/<int:pk>/delete/",
        codebook_views.dimension_remove,
        name="dimension-delete",
    ),
    path(
        "studies/<slug:slug>/codebook/dimensions/<int:pk>/categories/",
        codebook_views.category_add,
        name="category-add",
    ),
    path("studies/<slug:slug>/codebook/categories/<int:pk>/", codebook_views.category_edit, name="category-edit"),
    path(
        "studies/<slug:slug>/codebook/categories/<int:pk>/delete/",
        codebook_views.category_remove,
        name="category-delete",
    ),
    path("studies/<slug:slug>/items/", item_views.items, name="items"),
    path("studies/<slug:slug>/items/add/", item_views.items_add_all, name="items-add-all"),
    path("studies/<slug:slug>/items/sample/", item_views.items_add_sample, name="items-sample"),
    path("studies/<slug:slug>/items/<int:item_id>/", item_detail_views.item_detail, name="item-detail"),
    path("studies/<slug:slug>/items/<int:item_id>/reviewed/", item_views.item_reviewed, name="item-reviewed"),
    path("studies/<slug:slug>/screening/", screening_views.screening, name="screening"),
    path("studies/<slug:slug>/screening/<int:item_id>/", screening_views.screening_decide, name="screening-decide"),
    path(
        "studies/<slug:slug>/screening/<int:item_id>/owner-decision/",
        screening_views.screening_resolve,
        name="screening-resolve",
    ),
    path("studies/<slug:slug>/export/<str:fmt>/", export_views.study_export, name="export"),
    path("studies/<slug:slug>/label/", label_views.label_next, name="label-next"),
    path("studies/<slug:slug>/label/<int:item_id>/", label_views.label_item, name="label-item"),
    path("studies/<slug:slug>/disagreements/", disagreement_views.disagreement_list, name="disagreements"),
    path("studies/<slug:slug>/adjudicate/", adjudication_views.adjudicate, name="adjudicate"),
    path("studies/<slug:slug>/adjudicate/<int:item_id>/", adjudication_views.adjudicate_save, name="adjudicate-save"),
    path("studies/<slug:slug>/agreement/", agreement_views.agreement, name="agreement"),
    path("studies/<slug:slug>/releases/", release_views.releases, name="releases"),
    path(
        "studies/<slug:slug>/releases/<str:version>/download/",
        release_views.release_download,
        name="release-download",
    ),
    path("releases/load/", release_views.release_upload, name="release-upload"),
    path("studies/<slug:slug>/analytics/", analytics_views.analytics, name="analytics"),
    path("studies/<slug:slug>/analytics/compare/", analytics_views.analytics_compare, name="analytics-compare"),
    path(
        "studies/<slug:slug>/analytics/charts/<str:chart_id>/",
        analytics_views.analytics_chart,
        name="analytics-chart",
    ),
    path("studies/<slug:slug>/rounds/", round_views.rounds, name="rounds"),
    path("studies/<slug:slug>/rounds/new/", round_views.round_create_view, name="round-create"),
    path("studies/<slug:slug>/rounds/<int:pk>/", round_views.round_detail, name="round-detail"),
    path("studies/<slug:slug>/rounds/<int:pk>/close/", round_views.round_close_view, name="round-close"),
    path("studies/<slug:slug>/rounds/<int:pk>/reopen/", round_views.round_reopen_view, name="round-reopen"),
]
