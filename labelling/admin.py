"""Django admin for studies and labels: for looking things up and fixing odd rows.

Day-to-day changes go through the study pages and the API, which apply the rules (services).
Labels (annotations, final labels) are read-only here so blind labelling and agreement figures
cannot be changed behind the annotators' backs.
"""

from django.contrib import admin

from config.admin import StaffModelAdmin, StaffTabularInline
from labelling.models import (
    Annotation,
    Assignment,
    Category,
    Codebook,
    Dimension,
    FinalLabel,
    Membership,
    SampleDraw,
    Study,
    StudyInvitation,
    StudyItem,
)


class MembershipInline(StaffTabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Study)
class StudyAdmin(StaffModelAdmin):
    list_display = ["slug", "name", "overlap_k", "blind", "template_slug", "created_by", "created_at"]
    search_fields = ["slug", "name"]
    readonly_fields = ["created_at", "template_slug"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(StaffModelAdmin):
    list_display = ["study", "user", "role"]
    list_filter = ["role"]
    search_fields = ["study__slug", "user__username"]
    list_select_related = ["study", "user"]


class DimensionInline(StaffTabularInline):
    model = Dimension
    extra = 0
    fields = ["order", "code", "name", "kind", "required", "max_choices"]
    show_change_link = True


@admin.register(Codebook)
class CodebookAdmin(StaffModelAdmin):
    list_display = ["name", "study"]
    search_fields = ["name", "study__slug"]
    inlines = [DimensionInline]


class CategoryInline(StaffTabularInline):
    model = Category
    fk_name = "dimension"
    extra = 0
    fields = ["order", "code", "name", "parent", "shortcut", "definition", "example"]


@admin.register(Dimension)
class DimensionAdmin(StaffModelAdmin):
    list_display = ["code", "name", "kind", "codebook", "order"]
    list_filter = ["kind"]
    search_fields = ["code", "name", "codebook__study__slug"]
    inlines = [CategoryInline]


@admin.register(StudyItem)
class StudyItemAdmin(StaffModelAdmin):
    list_display = ["id", "study", "report", "screening", "exclusion_reason", "screened_by", "screened_at"]
    list_filter = ["screening", "study"]
    search_fields = ["report__source_id", "report__title"]
    raw_id_fields = ["report"]
    list_select_related = ["study", "report", "screened_by"]


@admin.register(SampleDraw)
class SampleDrawAdmin(StaffModelAdmin):
    list_display = ["id", "study", "sample_size", "seed", "matched", "added", "created_by", "created_at"]
    readonly_fields = [f.name for f in SampleDraw._meta.fields]
    list_select_related = ["study", "created_by"]


@admin.register(Assignment)
class AssignmentAdmin(StaffModelAdmin):
    list_display = ["id", "study", "item", "annotator", "created_at", "completed_at"]
    list_filter = ["study"]
    raw_id_fields = ["item"]
    list_select_related = ["study", "item__report", "annotator"]


class _ReadOnlyAdmin(StaffModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Annotation)
class AnnotationAdmin(_ReadOnlyAdmin):
    list_display = ["id", "item", "annotator", "dimension", "value", "updated_at"]
    search_fields = ["value", "item__report__source_id"]
    list_select_related = ["item__report", "annotator", "dimension"]


@admin.register(FinalLabel)
class FinalLabelAdmin(_ReadOnlyAdmin):
    list_display = ["id", "item", "dimension", "value", "method", "decided_by", "decided_at"]
    list_filter = ["method"]
    list_select_related = ["item__report", "dimension", "decided_by"]


@admin.register(StudyInvitation)
class StudyInvitationAdmin(StaffModelAdmin):
    """Looking up and withdrawing invitations (set "revoked at"); links are made on the study's
    settings page or with `manage.py invite`, since only a hash of each is stored."""

    list_display = ["id", "study", "role", "created_by", "created_at", "expires_at", "used_by", "used_at", "revoked_at"]
    list_filter = ["role", "study"]
    readonly_fields = ["study", "role", "token_hash", "created_by", "created_at", "used_by", "used_at"]
    list_select_related = ["study", "created_by", "used_by"]

    def has_add_permission(self, request):
        return False
