from django.urls import path  # noqa: F401

from labelling.api import adjudication as adjudication_api
from labelling.api import agreement as agreement_api
from labelling.api import analytics as analytics_api
from labelling.api import annotations as annotation_api
from labelling.api import codebook as codebook_api
from labelling.api import codebook_evolution as evolution_api
from labelling.api import dataset as dataset_api
from labelling.api import decision_rules as decision_rules_api
from labelling.api import items as items_api
from labelling.api import rounds as rounds_api
from labelling.api import screening as screening_api
from labelling.api import studies as studies_api
from labelling.releases import api as releases_api

urlpatterns = [
    # studies, members, assignments, codebook, items, screening (studies helper)
    path("studies/", studies_api.StudyListCreateView.as_view(), name="study-list"),
    path("studies/<slug:slug>/", studies_api.StudyDetailView.as_view(), name="study-detail"),
    path("studies/<slug:slug>/members/", studies_api.MemberListView.as_view(), name="member-list"),
    path("studies/<slug:slug>/members/<int:user_id>/", studies_api.MemberDetailView.as_view(), name="member-detail"),
    path("studies/<slug:slug>/invitations/", studies_api.InvitationListView.as_view(), name="invitation-list"),
    path(
        "studies/<slug:slug>/invitations/<int:pk>/",
        studies_api.InvitationDetailView.as_view(),
        name="invitation-detail",
    ),
    path("studies/<slug:slug>/assignments/", studies_api.AssignmentListView.as_view(), name="assignment-list"),
    path("studies/<slug:slug>/codebook/", codebook_api.CodebookView.as_view(), name="codebook"),
    path("studies/<slug:slug>/codebook/dimensions/", codebook_api.DimensionListView.as_view(), name="dimension-list"),
    path(
        "studies/<slug:slug>/codebook/dimensions/<int:pk>/",
        codebook_api.DimensionDetailView.as_view(),
        name="dimension-detail",
    ),
    path(
        "studies/<slug:slug>/codebook/dimensions/<int:pk>/categories/",
        codebook_api.CategoryListView.as_view(),
        name="category-list",
    ),
    path(
        "studies/<slug:slug>/codebook/categories/<int:pk>/",
        codebook_api.CategoryDetailView.as_view(),
        name="category-detail",
    ),
    # codebook evolution (issue 13): history, export, operations on a live codebook
    path("studies/<slug:slug>/codebook/history/", evolution_api.CodebookHistoryView.as_view(), name="codebook-history"),
    path("studies/<slug:slug>/codebook/export/", evolution_api.CodebookExportView.as_view(), name="codebook-export"),
    *[
        path(f"studies/<slug:slug>/codebook/categories/<int:pk>/{op}/", view.as_view(), name=f"category-{op}")
        for op, view in [
            ("rename", evolution_api.CategoryRenameView),
            ("merge", evolution_api.CategoryMergeView),
            ("split", evolution_api.CategorySplitView),
            ("move", evolution_api.CategoryMoveView),
            ("retire", evolution_api.CategoryRetireView),
            ("restore", evolution_api.CategoryRestoreView),
        ]
    ],
    path(
        "studies/<slug:slug>/codebook/dimensions/<int:pk>/rename/",
        evolution_api.DimensionRenameView.as_view(),
        name="dimension-rename",
    ),
    path(
        "studies/<slug:slug>/decision-rules/",
        decision_rules_api.DecisionRulesView.as_view(),
        name="decision-rules",
    ),
    path("studies/<slug:slug>/items/", items_api.ItemListView.as_view(), name="item-list"),
    path(
        "studies/<slug:slug>/items/add-by-filter/",
        items_api.ItemsAddByFilterView.as_view(),
        name="items-add-by-filter",
    ),
    path("studies/<slug:slug>/items/sample/", items_api.ItemsSampleView.as_view(), name="items-sample"),
    path("studies/<slug:slug>/items/<int:item_id>/screen/", items_api.ItemScreenView.as_view(), name="item-screen"),
    path(
        "studies/<slug:slug>/items/<int:item_id>/screening-decision/",
        screening_api.ItemScreeningDecisionView.as_view(),
        name="item-screening-decision",
    ),
    path("studies/<slug:slug>/screening-votes/", screening_api.ScreeningVoteListView.as_view(), name="screening-votes"),
    path(
        "studies/<slug:slug>/items/<int:item_id>/reviewed/", items_api.ItemReviewedView.as_view(), name="item-reviewed"
    ),
    path("studies/<slug:slug>/draws/", items_api.DrawListView.as_view(), name="draw-list"),
    path("studies/<slug:slug>/export/", dataset_api.StudyExportApi.as_view(), name="study-export"),
    path("studies/<slug:slug>/labels/import/", dataset_api.LabelImportApi.as_view(), name="labels-import"),
    path("studies/<slug:slug>/next-item/", annotation_api.NextItemView.as_view(), name="next-item"),
    path(
        "studies/<slug:slug>/items/<int:item_id>/annotations/",
        annotation_api.ItemAnnotationsView.as_view(),
        name="item-annotations",
    ),
    path("studies/<slug:slug>/annotations/", annotation_api.AnnotationListView.as_view(), name="annotation-list"),
    path("annotations/<int:pk>/", annotation_api.AnnotationDetailView.as_view(), name="annotation-detail"),
    path("studies/<slug:slug>/final-labels/", annotation_api.FinalLabelListView.as_view(), name="final-label-list"),
    path("studies/<slug:slug>/disagreements/", annotation_api.DisagreementListView.as_view(), name="disagreement-list"),
    path(
        "studies/<slug:slug>/adjudication/next/",
        adjudication_api.AdjudicationNextView.as_view(),
        name="adjudication-next",
    ),
    path(
        "studies/<slug:slug>/items/<int:item_id>/adjudication/",
        adjudication_api.ItemAdjudicationView.as_view(),
        name="item-adjudication",
    ),
    path("studies/<slug:slug>/adjudications/", adjudication_api.DecisionListView.as_view(), name="adjudication-list"),
    path("studies/<slug:slug>/rounds/", rounds_api.RoundListView.as_view(), name="round-list"),
    path("studies/<slug:slug>/rounds/<int:pk>/", rounds_api.RoundDetailView.as_view(), name="round-detail"),
    path("studies/<slug:slug>/rounds/<int:pk>/close/", rounds_api.RoundCloseView.as_view(), name="round-close"),
    path("studies/<slug:slug>/rounds/<int:pk>/reopen/", rounds_api.RoundReopenView.as_view(), name="round-reopen"),
    path("studies/<slug:slug>/agreement/", agreement_api.StudyAgreementApi.as_view(), name="agreement"),
    path(
        "studies/<slug:slug>/agreement/confusion/",
        agreement_api.PairConfusionApi.as_view(),
        name="agreement-confusion",
    ),
    path("studies/<slug:slug>/charts/", analytics_api.ChartListApi.as_view(), name="chart-list"),
    path(
        "studies/<slug:slug>/charts/distribution/",
        analytics_api.DistributionApi.as_view(),
        name="chart-distribution",
    ),
    path("studies/<slug:slug>/charts/crosstab/", analytics_api.CrosstabApi.as_view(), name="chart-crosstab"),
    path("studies/<slug:slug>/charts/<str:chart_id>/", analytics_api.ChartDataApi.as_view(), name="chart-data"),
    path("studies/<slug:slug>/releases/", releases_api.ReleaseListApi.as_view(), name="release-list"),
    path(
        "studies/<slug:slug>/releases/<str:version>/",
        releases_api.ReleaseDetailApi.as_view(),
        name="release-detail",
    ),
    path(
        "studies/<slug:slug>/releases/<str:version>/download/",
        releases_api.ReleaseDownloadApi.as_view(),
        name="release-download",
    ),
    path("releases/load/", releases_api.ReleaseLoadApi.as_view(), name="release-load"),
]
