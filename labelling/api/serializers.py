"""Serializers for studies, members, codebooks, items, draws and assignments.

Input serializers only parse and shape input; the services check the rules and write.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from labelling.models import (
    Assignment,
    Category,
    Dimension,
    Membership,
    SampleDraw,
    Study,
    StudyInvitation,
    StudyItem,
)
from labelling.permissions import role_in
from triage.models import Report
from triage.reports.selectors import ReportFilter

# --------------------------------------------------------------------------- studies


class StudySerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    role = serializers.SerializerMethodField(help_text="Your role in the study.")

    class Meta:
        model = Study
        fields = [
            "slug",
            "name",
            "description",
            "overlap_k",
            "blind",
            "reproduction_suggestions",
            "adjudication_shows_names",
            "adjudication_outcomes_shown",
            "exclusion_reasons",
            "screening_overlap",
            "screening_rule",
            "template_slug",
            "created_by",
            "created_at",
            "role",
        ]
        read_only_fields = fields

    def get_role(self, obj) -> str | None:
        if hasattr(obj, "my_role"):  # annotated by studies_with_role (one query for a whole list)
            return obj.my_role
        request = self.context.get("request")
        return role_in(request.user, obj) if request else None


class AnnotatorProgressSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    done = serializers.IntegerField()
    total = serializers.IntegerField()


SCREENING_NULL = (
    " Null for an annotator of a blind study with several screeners per item: it comes from the other "
    "screeners' votes."
)


class ScreeningCountsSerializer(serializers.Serializer):
    pending = serializers.IntegerField(allow_null=True, help_text="Items not decided yet." + SCREENING_NULL)
    included = serializers.IntegerField(allow_null=True, help_text=SCREENING_NULL.strip())
    excluded = serializers.IntegerField(allow_null=True, help_text=SCREENING_NULL.strip())


class ExcludedReasonSerializer(serializers.Serializer):
    reason = serializers.CharField()
    count = serializers.IntegerField()


class ScreeningFunnelSerializer(serializers.Serializer):
    screened = serializers.IntegerField(help_text="Items included or excluded.")
    pending = serializers.IntegerField()
    conflicts = serializers.IntegerField(help_text="Pending items whose k votes decide nothing: the owner decides.")
    included = serializers.IntegerField()
    included_by = serializers.DictField(
        child=serializers.IntegerField(), help_text="Included items by what decided them (one screener, rule, owner)."
    )
    excluded = serializers.IntegerField()
    excluded_by_reason = ExcludedReasonSerializer(many=True)
    votes = serializers.IntegerField(help_text="Screening votes cast.")


BLIND_NULL = " Null for an annotator of a blind study: it is computed from the other annotators' labels."


class StudyProgressSerializer(serializers.Serializer):
    """The study's progress as the caller may see it (``labelling.permissions.sees_others_labels``)."""

    items_total = serializers.IntegerField()
    screening = ScreeningCountsSerializer()
    screening_funnel = ScreeningFunnelSerializer(
        allow_null=True, help_text="Null for an annotator of a blind study (computed from the others' decisions)."
    )
    own_screening_votes = serializers.IntegerField(
        allow_null=True, help_text="With several screeners per item: how many items you voted on; else null."
    )
    assignments_total = serializers.IntegerField(
        allow_null=True, help_text="Assignments of every annotator." + BLIND_NULL
    )
    assignments_done = serializers.IntegerField(
        allow_null=True, help_text="Completed assignments of every annotator." + BLIND_NULL
    )
    items_complete = serializers.IntegerField(
        allow_null=True, help_text="Included items with k completed assignments." + BLIND_NULL
    )
    final_labels = serializers.IntegerField(
        allow_null=True, help_text="Final labels of the study's items (one per item and dimension)." + BLIND_NULL
    )
    annotators = AnnotatorProgressSerializer(
        many=True,
        help_text="Each annotator's completed and total assignments. An annotator of a blind study "
        "gets their own entry only.",
    )


class StudyDetailSerializer(StudySerializer):
    progress = serializers.SerializerMethodField()

    class Meta(StudySerializer.Meta):
        fields = [*StudySerializer.Meta.fields, "progress"]
        read_only_fields = fields

    @extend_schema_field(StudyProgressSerializer)
    def get_progress(self, obj) -> dict:
        """The progress the view computed for the caller (``study_progress(study=..., user=...)``)."""
        progress = self.context.get("progress")
        return progress.as_dict() if progress is not None else None


class StudyCreateInputSerializer(serializers.Serializer):
    slug = serializers.SlugField(max_length=80)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    template = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        default=None,
        help_text="Codebook template slug (e.g. dl-framework-bugs, silent-bugs); empty for an empty codebook.",
    )
    codebook = serializers.JSONField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Instead of a template: a codebook in the template format, e.g. another study's "
        "GET /api/studies/SLUG/codebook/export/. A 400 names what is wrong with it.",
    )
    overlap_k = serializers.IntegerField(min_value=1, default=2)
    blind = serializers.BooleanField(default=True)
    reproduction_suggestions = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Label pages show what matched reproductions suggest. Default: off when blind, on otherwise.",
    )
    exclusion_reasons = serializers.ListField(child=serializers.CharField(max_length=200), required=False, default=list)


class StudyUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    overlap_k = serializers.IntegerField(min_value=1, required=False)
    blind = serializers.BooleanField(required=False)
    reproduction_suggestions = serializers.BooleanField(required=False)
    adjudication_shows_names = serializers.BooleanField(
        required=False, help_text="The adjudication page and API name the annotators instead of 'Annotator N'."
    )
    adjudication_outcomes_shown = serializers.BooleanField(
        required=False,
        help_text="Once the study is not blind, annotators see the adjudicated final labels of the items they "
        "finished.",
    )
    exclusion_reasons = serializers.ListField(child=serializers.CharField(max_length=200), required=False)
    screening_overlap = serializers.IntegerField(
        min_value=1, required=False, help_text="Independent screeners per item; 1 = one vote decides."
    )
    screening_rule = serializers.ChoiceField(
        choices=Study.ScreeningRule.choices,
        required=False,
        help_text="How several screeners' votes decide: unanimous, or majority (more than half of the votes).",
    )


class MembershipSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["user_id", "username", "role"]
        read_only_fields = fields


class MembershipInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class MembershipRoleInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class InvitationSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    used_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    state = serializers.SerializerMethodField(help_text="open, used, revoked or expired.")

    class Meta:
        model = StudyInvitation
        fields = ["id", "role", "state", "created_by", "created_at", "expires_at", "used_by", "used_at", "revoked_at"]
        read_only_fields = fields

    def get_state(self, obj) -> str:
        return getattr(obj, "current_state", None) or obj.state(timezone.now())


class NewInvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="invitation.pk")
    role = serializers.CharField(source="invitation.role")
    expires_at = serializers.DateTimeField(source="invitation.expires_at")
    url = serializers.SerializerMethodField(help_text="The link to send; shown this once (only its hash is kept).")

    def get_url(self, obj) -> str:
        from labelling.views.invitations import invitation_url

        return invitation_url(self.context["request"], obj.token)


class InvitationInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    count = serializers.IntegerField(min_value=1, max_value=100, default=1)
    days = serializers.IntegerField(min_value=1, max_value=90, default=14)


# --------------------------------------------------------------------------- codebook


class CategorySerializer(serializers.ModelSerializer):
    parent = serializers.SerializerMethodField(help_text="Code of the parent category, or null.")
    dimension = serializers.CharField(source="dimension.code", read_only=True)

    class Meta:
        model = Category
        fields = ["id", "dimension", "code", "name", "definition", "example", "parent", "order", "shortcut", "retired"]
        read_only_fields = fields

    retired = serializers.BooleanField(read_only=True, help_text="Retired: not offered for new labels.")

    def get_parent(self, obj) -> str | None:
        return obj.parent.code if obj.parent_id else None


class CategoryTreeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    definition = serializers.CharField()
    example = serializers.CharField()
    order = serializers.IntegerField()
    shortcut = serializers.CharField()
    retired = serializers.BooleanField(help_text="Retired: not offered for new labels, kept on the labels holding it.")
    children = serializers.ListField(child=serializers.DictField(), help_text="Sub-categories (same fields).")


def _category_dict(c: Category) -> dict:
    return {
        "id": c.pk,
        "code": c.code,
        "name": c.name,
        "definition": c.definition,
        "example": c.example,
        "order": c.order,
        "shortcut": c.shortcut,
        "retired": c.retired,
    }


class DimensionSerializer(serializers.ModelSerializer):
    categories = serializers.SerializerMethodField()

    class Meta:
        model = Dimension
        fields = [
            "id",
            "code",
            "name",
            "kind",
            "description",
            "required",
            "max_choices",
            "order",
            "decision_rule",
            "majority_threshold",
            "categories",
        ]
        read_only_fields = fields

    @extend_schema_field(CategoryTreeSerializer(many=True))
    def get_categories(self, obj) -> list:
        tree = getattr(obj, "tree", None)
        if tree is None:
            cats = list(obj.categories.all())
            children: dict[int, list] = {}
            for c in cats:
                if c.parent_id:
                    children.setdefault(c.parent_id, []).append(c)
            tree = [(c, children.get(c.pk, [])) for c in cats if not c.parent_id]
        return [{**_category_dict(top), "children": [_category_dict(k) for k in kids]} for top, kids in tree]


class CodebookSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    source = serializers.CharField()
    template_slug = serializers.CharField()
    version = serializers.IntegerField(help_text="The codebook version: bumped by every change (see history/).")
    dimensions = DimensionSerializer(many=True)


class DimensionInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=Dimension.Kind.choices, default=Dimension.Kind.SINGLE)
    description = serializers.CharField(required=False, allow_blank=True)
    required = serializers.BooleanField(required=False)
    max_choices = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    order = serializers.IntegerField(min_value=0, required=False)

    def validate(self, attrs):
        given = [f for f in ("decision_rule", "majority_threshold") if f in (self.initial_data or {})]
        if given:
            raise serializers.ValidationError(
                {
                    f: [
                        "The decision rule is set with POST /api/studies/<slug>/decision-rules/ "
                        '{"rule": ..., "threshold": ..., "dimensions": [code]}, which also recomputes the final labels.'
                    ]
                    for f in given
                }
            )
        return attrs


class CategoryInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    definition = serializers.CharField(required=False, allow_blank=True)
    example = serializers.CharField(required=False, allow_blank=True)
    parent = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="Code of a top-level category of the same dimension; null or empty for top level.",
    )
    order = serializers.IntegerField(min_value=0, required=False)
    shortcut = serializers.CharField(max_length=8, required=False, allow_blank=True, trim_whitespace=False)

    def validate_parent(self, value):
        if not value:
            return None
        dimension = self.context["dimension"]
        parent = Category.objects.filter(dimension=dimension, code=value).first()
        if parent is None:
            raise serializers.ValidationError(
                f"'{value}' is not a category of '{dimension.code}'. Give the code of a top-level category."
            )
        return parent


# --------------------------------------------------------------------------- items


class ReportBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Report
        fields = ["id", "source_id", "kind", "framework", "title", "url", "state", "created_at"]
        read_only_fields = fields


class StudyItemSerializer(serializers.ModelSerializer):
    report = ReportBriefSerializer(read_only=True)
    screened_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    assignments_total = serializers.IntegerField(read_only=True)
    assignments_done = serializers.IntegerField(read_only=True)
    final_label_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = StudyItem
        fields = [
            "id",
            "report",
            "screening",
            "exclusion_reason",
            "screened_by",
            "screened_at",
            "added_at",
            "needs_review",
            "review_reason",
            "assignments_total",
            "assignments_done",
            "final_label_count",
        ]
        read_only_fields = fields


class ScreenedItemSerializer(serializers.ModelSerializer):
    screened_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = StudyItem
        fields = [
            "id",
            "screening",
            "exclusion_reason",
            "screened_by",
            "screened_at",
            "screening_method",
            "screening_conflict",
        ]
        read_only_fields = fields


class ReportFilterInputSerializer(serializers.Serializer):
    framework = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    label = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    q = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=Report.Kind.choices, required=False, allow_blank=True, default="")
    state = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    created_from = serializers.DateTimeField(required=False, allow_null=True, default=None)
    created_to = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def validate(self, attrs):
        start, end = attrs.get("created_from"), attrs.get("created_to")
        if start and end and start > end:
            raise serializers.ValidationError({"created_from": ["created_from is after created_to; swap them."]})
        return attrs

    def to_filter(self) -> ReportFilter:
        d = self.validated_data
        return ReportFilter(
            framework=d.get("framework", "").strip().lower(),
            label=d.get("label", "").strip(),
            q=d.get("q", "").strip(),
            kind=d.get("kind", ""),
            state=d.get("state", "").strip(),
            created_from=d.get("created_from"),
            created_to=d.get("created_to"),
        )


class SampleInputSerializer(ReportFilterInputSerializer):
    size = serializers.IntegerField(min_value=1)
    seed = serializers.IntegerField(
        min_value=0,
        max_value=2**53 - 1,
        required=False,
        allow_null=True,
        default=None,
        help_text="Omit for a fresh random seed; it is recorded in the draw either way.",
    )


class ItemsAddInputSerializer(serializers.Serializer):
    report_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), allow_empty=False)


class ItemsAddedSerializer(serializers.Serializer):
    added = serializers.IntegerField()


class SampleDrawSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = SampleDraw
        fields = ["id", "filters", "sample_size", "seed", "matched", "added", "created_by", "created_at"]
        read_only_fields = fields


class ScreenInputSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=[("include", "include"), ("exclude", "exclude")])
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


# --------------------------------------------------------------------------- assignments


class AssignmentSerializer(serializers.ModelSerializer):
    annotator = serializers.SlugRelatedField(slug_field="username", read_only=True)
    item_id = serializers.IntegerField(read_only=True)
    report_id = serializers.IntegerField(source="item.report_id", read_only=True)
    title = serializers.CharField(source="item.report.title", read_only=True)

    class Meta:
        model = Assignment
        fields = ["id", "item_id", "report_id", "title", "annotator", "created_at", "completed_at"]
        read_only_fields = fields


class AssignmentsMadeSerializer(serializers.Serializer):
    created = serializers.IntegerField(help_text="How many assignments were created.")
