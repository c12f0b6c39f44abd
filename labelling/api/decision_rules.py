"""Decision rules endpoint: the owner sets how a study's dimensions make automatic final labels."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from labelling import decision_rules
from labelling.permissions import is_owner, study_for
from labelling.services.decision_rules import decision_rule_set

SLUG = OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="The study's slug.")


class DecisionRuleInputSerializer(serializers.Serializer):
    rule = serializers.CharField(
        required=False,
        allow_null=True,
        help_text=f"One of {', '.join(decision_rules.RULES)}; leave out to apply the stored rules again.",
    )
    threshold = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="Majority rule: a value wins when MORE than threshold x the annotators who finished the item "
        "chose it. From 0.5 (strictly more than half) up to (not including) 1; at most 3 decimals. "
        "Leave out to keep each dimension's threshold.",
    )
    dimensions = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        default=list,
        help_text="Dimension codes; empty or left out for every dimension of the codebook.",
    )

    def to_internal_value(self, data):
        if isinstance(data, dict) and isinstance(data.get("threshold"), (int, float)) and not isinstance(
            data.get("threshold"), bool
        ):
            data = {**data, "threshold": str(data["threshold"])}
        return super().to_internal_value(data)


class RuleChangeSerializer(serializers.Serializer):
    dimension = serializers.CharField()
    rule = serializers.ChoiceField(choices=decision_rules.RULES)
    threshold = serializers.CharField()
    previous_rule = serializers.CharField()
    previous_threshold = serializers.CharField()
    created = serializers.IntegerField(help_text="Automatic final labels created.")
    changed = serializers.IntegerField(help_text="Automatic final labels whose value or rule changed.")
    removed = serializers.IntegerField(help_text="Automatic final labels removed (the rule no longer gives one).")
    protected = serializers.IntegerField(help_text="Adjudicated or imported final labels, never touched.")


class DecisionRulesOutputSerializer(serializers.Serializer):
    changes = RuleChangeSerializer(many=True)
    summary = serializers.ListField(child=serializers.CharField())


class DecisionRulesView(APIView):
    """POST (owner): set the decision rule of dimensions (all, or ``dimensions``) and recompute their
    automatic final labels for the whole study. Adjudicated and imported final labels are never touched;
    ``adjudication`` removes the automatic ones."""

    @extend_schema(parameters=[SLUG], request=DecisionRuleInputSerializer, responses=DecisionRulesOutputSerializer)
    def post(self, request, slug):
        study = study_for(request.user, slug, check=is_owner)
        data = DecisionRuleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        changes = decision_rule_set(
            study=study,
            rule=d.get("rule"),
            threshold=d.get("threshold"),
            dimension_codes=d.get("dimensions"),
            by=request.user,
        )
        return Response({"changes": [c.as_dict() for c in changes], "summary": [c.summary() for c in changes]})
