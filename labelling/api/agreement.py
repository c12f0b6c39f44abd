"""API: a study's inter-annotator agreement and the confusion matrix of two annotators.

Owners and viewers only (``can_view_agreement``); an annotator gets 403, blind study or not, a
non-member 404. The JSON is the one ``python manage.py agreement SLUG --format json`` prints.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApplicationError
from labelling.agreement.selectors import codebook_version_parse, pair_confusion, study_agreement
from labelling.permissions import can_view_agreement, study_for
from labelling.selectors.rounds import round_and_pass_param

SLUG = OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="The study's slug.")
_ERROR = inline_serializer(
    "AgreementError", fields={"message": serializers.CharField(), "details": serializers.JSONField()}
)


class CoefficientSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True, help_text="null when undefined (e.g. one value only).")
    band = serializers.CharField(allow_null=True, help_text="Landis & Koch (1977) band.")


class IntervalCoefficientSerializer(CoefficientSerializer):
    ci95 = serializers.ListField(
        child=serializers.FloatField(), allow_null=True, help_text="95% percentile bootstrap interval over items."
    )
    items = serializers.IntegerField(help_text="Items the coefficient used.")
    resamples = serializers.IntegerField(help_text="Bootstrap resamples.")


class FleissSerializer(IntervalCoefficientSerializer):
    labels_per_item = serializers.IntegerField(
        allow_null=True, help_text="Fleiss' kappa uses the items with the most common number of labels (>= 2)."
    )


class AlphaSerializer(IntervalCoefficientSerializer):
    distance = serializers.CharField(help_text="nominal, ordinal, masi (multiple choice) or hierarchical.")


class AC1Serializer(CoefficientSerializer):
    categories = serializers.IntegerField(help_text="q, the number of categories in chance agreement.")


class CohenPairSerializer(serializers.Serializer):
    raters = serializers.ListField(child=serializers.CharField())
    items = serializers.IntegerField(help_text="Items both annotators labelled.")
    value = serializers.FloatField(allow_null=True)
    band = serializers.CharField(allow_null=True)
    ci95 = serializers.ListField(
        child=serializers.FloatField(), allow_null=True, help_text="Analytic 95% interval (asymptotic SE)."
    )
    percent_agreement = serializers.FloatField(allow_null=True)
    linear_weighted = serializers.FloatField(allow_null=True, help_text="Ordinal dimensions only.")
    quadratic_weighted = serializers.FloatField(allow_null=True, help_text="Ordinal dimensions only.")


class CategoryAgreementSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    kappa = serializers.FloatField(allow_null=True, help_text="Fleiss' kappa of this category against the rest.")
    band = serializers.CharField(allow_null=True)
    labels = serializers.IntegerField()


class FiguresSerializer(serializers.Serializer):
    items = serializers.IntegerField(help_text="Items with >= 2 labels.")
    raters = serializers.IntegerField()
    labels = serializers.IntegerField()
    items_with_one_label = serializers.IntegerField()
    percent_agreement = serializers.FloatField(allow_null=True)
    fleiss_kappa = FleissSerializer()
    krippendorff_alpha = AlphaSerializer()
    gwet_ac1 = AC1Serializer()
    cohen_kappa = CohenPairSerializer(many=True)
    categories = CategoryAgreementSerializer(many=True)


class ParentLevelSerializer(FiguresSerializer):
    level = serializers.CharField()


class DimensionAgreementSerializer(FiguresSerializer):
    code = serializers.CharField()
    name = serializers.CharField()
    level = serializers.ChoiceField(choices=["nominal", "ordinal", "multi", "text"])
    skipped = serializers.CharField(required=False, help_text="Free-text dimensions: why no figure (only key set).")
    unknown_categories = serializers.ListField(child=serializers.CharField())
    parent_level = ParentLevelSerializer(allow_null=True, help_text="Hierarchical codebooks only.")
    notes = serializers.ListField(child=serializers.CharField())


class AgreementRoundSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    pass_ = serializers.IntegerField(help_text="The pass the figures are of.")
    passes = serializers.IntegerField(help_text="How many passes the round has had (the last is current).")
    status = serializers.CharField()

    def get_fields(self):
        fields = super().get_fields()
        fields["pass"] = fields.pop("pass_")
        return fields


class AgreementSerializer(serializers.Serializer):
    study = serializers.CharField()
    round = AgreementRoundSerializer(
        allow_null=True, help_text="The calibration round (and pass) the figures are of; null for the whole study."
    )
    bootstrap = inline_serializer(
        "AgreementBootstrap",
        fields={
            "resamples": serializers.IntegerField(),
            "seed": serializers.IntegerField(),
            "method": serializers.CharField(),
        },
    )
    bands = serializers.JSONField(help_text="citation (Landis & Koch 1977), legend, alpha_advice.")
    codebook = inline_serializer(
        "AgreementCodebookVersion",
        fields={
            "current_version": serializers.IntegerField(),
            "labels_up_to_version": serializers.IntegerField(
                allow_null=True, help_text="The codebook_version asked for; null: every label."
            ),
            "note": serializers.CharField(help_text="What the restriction means (empty without one)."),
        },
    )
    dimensions = DimensionAgreementSerializer(many=True)


class ConfusionSerializer(serializers.Serializer):
    dimension = serializers.CharField()
    raters = serializers.ListField(child=serializers.CharField())
    items = serializers.IntegerField()
    values = serializers.ListField(child=serializers.CharField(), help_text="Row and column values, in order.")
    names = serializers.ListField(child=serializers.CharField())
    matrix = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="matrix[i][j]: items the first annotator gave values[i] and the second values[j].",
    )


class StudyAgreementApi(APIView):
    """Inter-annotator agreement of every dimension (owners and viewers)."""

    @extend_schema(
        operation_id="study_agreement",
        parameters=[
            SLUG,
            OpenApiParameter(
                "dimension",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                many=True,
                description="Only these dimension codes (repeat the parameter); an unknown code is a 400 naming "
                "the valid ones.",
            ),
            OpenApiParameter(
                "codebook_version",
                OpenApiTypes.INT,
                OpenApiParameter.QUERY,
                description="Only the labels last saved under this codebook version or an earlier one (agreement "
                "before a codebook change; compare with the figure without it). Values are read as stored now, "
                "i.e. in the current codebook's codes. Screening votes are left out. 0 to the current version, "
                "else 400.",
            ),
            OpenApiParameter(
                "round",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                description="A calibration round's id (or name): the figures over its items only.",
            ),
            OpenApiParameter(
                "pass",
                OpenApiTypes.INT,
                OpenApiParameter.QUERY,
                description="With round: the labels of this pass (1 = before the first re-opening; default the "
                "current one).",
            ),
        ],
        responses={200: AgreementSerializer, 400: _ERROR, 403: _ERROR, 404: _ERROR},
        description="Per dimension: items with >= 2 labels, raters, labels, percent agreement, Fleiss' kappa (on "
        "the items with the most common number of labels), Krippendorff's alpha (nominal; ordinal for ordinal "
        "scales; MASI distance for multiple choice), Gwet's AC1, 95% bootstrap intervals (seeded, resamples "
        "given), Cohen's kappa for every pair of annotators (linear and quadratic weighted for ordinal scales), "
        "per-category kappa (this category vs. the rest), parent-level figures for hierarchical codebooks, and "
        "the Landis & Koch (1977) band of each figure. Only labels given count: an annotator who was not asked "
        "or left a dimension empty is neither a disagreement nor a missing value. Free-text dimensions are "
        "listed with `skipped`. The same JSON is written beside every `export_study --output` file.",
    )
    def get(self, request, slug: str):
        study = study_for(request.user, slug, check=can_view_agreement)
        codes = [c.strip() for c in request.query_params.getlist("dimension") if c.strip()]
        version = codebook_version_parse(study, request.query_params.get("codebook_version"))
        round_, pass_number = round_and_pass_param(
            study=study, round_raw=request.query_params.get("round"), pass_raw=request.query_params.get("pass")
        )
        return Response(
            study_agreement(
                study=study,
                dimension_codes=codes or None,
                codebook_version=version,
                round=round_,
                pass_number=pass_number,
            )
        )


class PairConfusionApi(APIView):
    """Confusion matrix of two annotators on one dimension (owners and viewers)."""

    @extend_schema(
        operation_id="study_agreement_confusion",
        parameters=[
            SLUG,
            OpenApiParameter("dimension", OpenApiTypes.STR, OpenApiParameter.QUERY, required=True),
            OpenApiParameter(
                "rater_a",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                required=True,
                description="Username of the first annotator (rows).",
            ),
            OpenApiParameter(
                "rater_b",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                required=True,
                description="Username of the second annotator (columns).",
            ),
        ],  # fmt: skip
        responses={200: ConfusionSerializer, 400: _ERROR, 403: _ERROR, 404: _ERROR},
    )
    def get(self, request, slug: str):
        study = study_for(request.user, slug, check=can_view_agreement)
        params = {k: request.query_params.get(k, "").strip() for k in ("dimension", "rater_a", "rater_b")}
        missing = [k for k, v in params.items() if not v]
        if missing:
            raise ApplicationError(
                f"Give {', '.join(missing)}: ?dimension=CODE&rater_a=USERNAME&rater_b=USERNAME.",
                details=[{"field": k, "message": "This parameter is required."} for k in missing],
            )
        return Response(
            pair_confusion(
                study=study, dimension_code=params["dimension"], rater_a=params["rater_a"], rater_b=params["rater_b"]
            )
        )
