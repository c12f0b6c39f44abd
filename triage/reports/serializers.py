"""Input and output shapes for the reports API (and the report filter shared with the web list)."""

from __future__ import annotations

import django_filters
from django import forms
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from triage.models import ImportJob, Report
from triage.reports.files import FORMATS, parse_when
from triage.reports.selectors import ReportFilter, reports_listed


class WhenField(forms.CharField):
    """An ISO 8601 date or date-time (UTC when no offset); with ``end_of_day`` a date alone
    means the end of that day, so "created to 2024-03-01" includes the 1st."""

    def __init__(self, *, end_of_day: bool = False, **kwargs):
        self.end_of_day = end_of_day
        super().__init__(**kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        try:
            return parse_when(value, end_of_day=self.end_of_day)
        except ValueError:
            raise forms.ValidationError(
                "Enter an ISO 8601 date or date-time, e.g. 2024-03-01 or 2024-03-01T12:00:00Z."
            ) from None


@extend_schema_field(OpenApiTypes.STR)
class WhenFilter(django_filters.Filter):
    field_class = WhenField


class ReportFilterSet(django_filters.FilterSet):
    """The report filters of the list page and ``GET /api/reports/``, applied by the
    ``reports_matching`` selector (the same one studies use to add reports by filter)."""

    framework = django_filters.CharFilter(label="Framework", help_text="e.g. pytorch (case does not matter)")
    label = django_filters.CharFilter(label="Source label", help_text="exact label name, e.g. type:bug")
    kind = django_filters.ChoiceFilter(label="Kind", choices=Report.Kind.choices)
    state = django_filters.CharFilter(label="State", help_text="e.g. open or closed")
    q = django_filters.CharFilter(label="Text", help_text="words in the title, body or source id")
    created_from = WhenFilter(label="Created from", help_text="ISO 8601 date or date-time")
    created_to = WhenFilter(label="Created to", end_of_day=True, help_text="ISO 8601 date (inclusive) or date-time")

    class Meta:
        model = Report
        fields: list[str] = []

    def report_filter(self) -> ReportFilter:
        data = getattr(self.form, "cleaned_data", {}) or {}
        return ReportFilter(**{k: v for k, v in data.items() if v not in (None, "")})

    def filter_queryset(self, queryset):
        return reports_listed(self.report_filter())


class ReportSerializer(serializers.ModelSerializer):
    labels = serializers.SlugRelatedField(source="source_labels", slug_field="name", many=True, read_only=True)

    class Meta:
        model = Report
        fields = [
            "id",
            "source_id",
            "kind",
            "framework",
            "title",
            "url",
            "state",
            "created_at",
            "closed_at",
            "labels",
            "imported_at",
            "updated_at",
        ]
        read_only_fields = fields


class ReportDetailSerializer(ReportSerializer):
    class Meta(ReportSerializer.Meta):
        fields = ReportSerializer.Meta.fields + ["body", "raw", "content_hash"]
        read_only_fields = fields


class ReportImportInputSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A JSON Lines (.jsonl) or CSV (.csv, with a header row) file of reports.")
    format = serializers.ChoiceField(
        choices=FORMATS, required=False, allow_blank=True, help_text="Default: from the file name's extension."
    )


class ImportJobSerializer(serializers.ModelSerializer):
    percent = serializers.IntegerField(read_only=True)
    url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "url",
            "page_url",
            "filename",
            "status",
            "total",
            "processed",
            "percent",
            "created_count",
            "updated_count",
            "unchanged_count",
            "message",
            "errors",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_url(self, job) -> str:
        return self._absolute(reverse("triage-api:import-job-detail", args=[job.pk]))

    def get_page_url(self, job) -> str:
        return self._absolute(reverse("triage:import-job", args=[job.pk]))
